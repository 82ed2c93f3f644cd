package loadtest

import (
	"encoding/json"
	"fmt"
	"maps"
	"math"
	"os"
	"slices"
	"strings"
	"time"
)

// Report is every figure of one run, as written to report.json.
type Report struct {
	At       time.Time         `json:"at"`
	Command  string            `json:"command"`
	Version  string            `json:"version"`
	Machine  Machine           `json:"machine"`
	Webhook  *ThroughputReport `json:"webhook,omitempty"`
	Loss     *LossReport       `json:"zero_loss,omitempty"`
	Storm    *StormReport      `json:"storm,omitempty"`
	Steady   *SteadyReport     `json:"steady,omitempty"`
	Errors   map[string]string `json:"errors,omitempty"` // scenario → why it did not finish
	Duration float64           `json:"seconds"`
}

// WriteJSON writes the report to path.
func (r *Report) WriteJSON(path string) error {
	b, err := json.MarshalIndent(r, "", "  ")
	if err != nil {
		return err
	}
	return os.WriteFile(path, append(b, '\n'), 0o600)
}

// Table renders the report as the table (Markdown), with the targets beside the
// figures, the machine's load while each scenario ran, and who used the CPU.
func (r *Report) Table() string {
	var b strings.Builder
	fmt.Fprintf(&b, "SmartCloudOps load harness, %s, %s\n", r.Version, r.At.UTC().Format(time.RFC3339))
	fmt.Fprintf(&b, "machine: %d cores, %s memory, load average %.2f %.2f %.2f at start\n\n", r.Machine.Cores,
		bytesText(r.Machine.MemTotal), r.Machine.LoadAvg[0], r.Machine.LoadAvg[1], r.Machine.LoadAvg[2])
	b.WriteString("| measure | live bot | issue's target |\n|---|---|---|\n")
	row := func(measure, live, target string) {
		fmt.Fprintf(&b, "| %s | %s | %s |\n", measure, live, target)
	}
	if w := r.Webhook; w != nil {
		live := fmt.Sprintf("%.0f alerts/s acknowledged, %.0f/s end to end with proposals (%d alerts, %d a notification, wrk with %d connections, %.0f s); p50 %.1f ms, p99 %.1f ms",
			w.AckRate, w.EndToEndRate, w.AckedAlerts, w.PerGroup, w.Connections, w.Seconds, w.P50ms, w.P99ms)
		if !w.AllProposed {
			live += fmt.Sprintf("; only %d proposals for them within 2 min", w.Proposals)
		}
		if w.Non2xx+w.Errors+w.Timeouts > 0 {
			live += fmt.Sprintf("; %d non-2xx, %d socket errors, %d timeouts", w.Non2xx, w.Errors, w.Timeouts)
		}
		row("Alertmanager webhook intake", live+load(w.Conditions), "≥ 2,000 alerts/s end to end with proposals, p99 < 100 ms")
	}
	if l := r.Loss; l != nil {
		var parts []string
		for _, p := range l.Phases {
			parts = append(parts, fmt.Sprintf("%s: %s", p.Name, lossText(p)))
		}
		row("zero loss (every acknowledged alert has its incident and proposal)", strings.Join(parts, "; ")+load(l.Conditions),
			"0 alerts or proposals lost under client timeouts, redelivery and kill -9")
	}
	if s := r.Storm; s != nil {
		recorded := fmt.Sprintf("all %d incidents recorded %.1f s after the storm began", s.Expected, s.TimeToAll)
		if !s.AllRecorded {
			recorded = fmt.Sprintf("only %d of %d incidents recorded in %.0f s", s.Recorded, s.Expected, s.TimeToAll)
		}
		if s.OpenBefore > 0 {
			recorded += fmt.Sprintf(" (%d series already had one open from the calm pattern)", s.OpenBefore)
		}
		ticks := fmt.Sprintf("every tick ran (%d of %d due, %d skipped)", s.TicksRan, s.TicksDue, s.TicksSkipped)
		if !s.EveryTickRan {
			ticks = fmt.Sprintf("ticks missed: %d ran of %d due, %d skipped", s.TicksRan, s.TicksDue, s.TicksSkipped)
		}
		live := fmt.Sprintf("%d series every %s: %s, %.0f incidents/s; %s, storm tick p99 %.2f s; %.0f card per group per channel (posts %d since the start, storm edits %d over %.0f s)",
			s.Series, s.Interval, recorded, s.PerSecond, ticks, s.TickP99, s.CardsPerGroupChan, s.CardPosts, s.CardEdits, s.StormSeconds)
		row("anomaly storm (every series anomalous at once)", live+load(s.Conditions),
			"10k series: every tick runs, all incidents within 30 s, ≤ 1 card per group per channel")
	}
	if s := r.Steady; s != nil {
		row("memory per series", fmt.Sprintf("at %d series, %s: RSS %s, %s a series all in (%s above the idle bot; %s anonymous, %s mapped files); Go heap in use %s a series",
			s.Series, historyText(s), bytesText(s.RSS), bytesText(int64(s.RSSPerSeries)), bytesText(int64(s.RSSAddedPerSerie)),
			bytesText(s.RSSAnon/int64(max(s.Series, 1))), bytesText(s.RSSFile/int64(max(s.Series, 1))), bytesText(int64(s.HeapPerSeries)))+load(s.Conditions),
			"100k series: RSS < 1.2 GB, ≤ 12 KB a series all in")
		row("state saving", fmt.Sprintf("%s written per save (%s a series; %d saves in %d ticks, %.1f s of writing each); state file %s (%s a series); shutdown %.1f s",
			bytesText(s.SaveBytes), bytesText(s.SaveBytes/int64(max(s.Series, 1))), s.Saves, s.Ticks, s.SaveSeconds, bytesText(s.StateFile),
			bytesText(int64(s.StatePerSeries)), s.Shutdown)+load(s.Conditions),
			"100k series: state file < 900 MB, ≤ 8 KB of model state a series")
		live := fmt.Sprintf("%d series every %s: p50 %s, p99 %s, mean %s over %d ticks (%d skipped; the fake Prometheus answers in %.2f s of it)",
			s.Series, s.Interval, tickQuantile(s, 0.5, s.TickP50), tickQuantile(s, 0.99, s.TickP99), secs(s.TickMean), s.Ticks,
			s.TicksSkipped, s.FakeServeMean)
		if s.FalseIncidents > 0 {
			live += fmt.Sprintf("; %d incidents opened on the calm pattern", s.FalseIncidents)
		}
		row("steady tick at N series", live+load(s.Conditions),
			"100k series every 15 s: p99 < 5 s")
	}
	if w := r.Webhook; w != nil && w.API != nil {
		a := w.API
		live := fmt.Sprintf("page of 50 at %d incidents: p50 %.1f ms, p99 %.1f ms; at %d proposals: p50 %.1f ms, p99 %.1f ms (%d pages each)",
			a.Incidents, a.IncidentsP50, a.IncidentsP99, a.Proposals, a.ProposalsP50, a.ProposalsP99, a.Requests)
		if a.TopUpRate > 0 {
			live += fmt.Sprintf("; the intake topped them up at %.0f alerts/s", a.TopUpRate)
		}
		if a.TopUpCut {
			live += " (cut at its deadline)"
		}
		if a.Drain > 0 {
			live += fmt.Sprintf(", and processed them %.0f s after the last acknowledgement", a.Drain)
		}
		if a.BusyIncidents[1] > 0 {
			live += fmt.Sprintf("; these pages were read at rest, %.0f s after that. Read while the bot still worked on what followed (cards, index): incidents p50 %.1f ms, p99 %.1f ms; proposals p50 %.1f ms, p99 %.1f ms",
				a.Settle, a.BusyIncidents[0], a.BusyIncidents[1], a.BusyProposals[0], a.BusyProposals[1])
		}
		row("API list at K items", live+load(w.Conditions),
			"100k stored items: p99 < 20 ms")
	}
	b.WriteString("\nWho used the CPU (seconds; bot against the harness' fake Prometheus, Go client and polling, and wrk):\n")
	for _, c := range []struct {
		name string
		c    *Conditions
	}{{"webhook", condOf(r.Webhook != nil, func() Conditions { return r.Webhook.Conditions })},
		{"zero loss", condOf(r.Loss != nil, func() Conditions { return r.Loss.Conditions })},
		{"storm", condOf(r.Storm != nil, func() Conditions { return r.Storm.Conditions })},
		{"steady", condOf(r.Steady != nil, func() Conditions { return r.Steady.Conditions })}} {
		if c.c == nil {
			continue
		}
		fmt.Fprintf(&b, "- %s: %.0f s long, bot %.1f, harness %.1f", c.name, c.c.Seconds, c.c.BotCPU, c.c.HarnessCPU)
		if c.c.WrkCPU > 0 {
			fmt.Fprintf(&b, ", wrk %.1f", c.c.WrkCPU)
		}
		fmt.Fprintf(&b, "; load average median %.2f, max %.2f\n", c.c.LoadMedian, c.c.LoadMax)
	}
	for _, name := range slices.Sorted(maps.Keys(r.Errors)) {
		fmt.Fprintf(&b, "\nscenario %s did not finish: %s\n", name, r.Errors[name])
	}
	return b.String()
}

func condOf(ok bool, f func() Conditions) *Conditions {
	if !ok {
		return nil
	}
	c := f()
	return &c
}

// tickQuantile is a tick quantile, or "> top" when it falls among the ticks above the
// histogram's largest bound.
func tickQuantile(s *SteadyReport, q, v float64) string {
	if s.Ticks > 0 && float64(s.Ticks-s.TicksAboveTop) < q*float64(s.Ticks) {
		return fmt.Sprintf("> %g s", s.TickTop)
	}
	return secs(v)
}

func load(c Conditions) string { return fmt.Sprintf(" · load %.1f", c.LoadMedian) }

func secs(s float64) string {
	if math.IsNaN(s) {
		return "n/a"
	}
	return fmt.Sprintf("%.2f s", s)
}

func lossText(p PhaseReport) string {
	l := p.Loss
	var bad []string
	for _, k := range []struct {
		n    int
		what string
	}{{l.NoIncident, "without incident"}, {l.NoProposal, "without proposal"}, {l.DuplicateProposals, "proposed twice"},
		{l.DuplicateIncidents, "in two incidents"}, {l.Unlinked, "not linked to their incident"}} {
		if k.n > 0 {
			bad = append(bad, fmt.Sprintf("%d %s", k.n, k.what))
		}
	}
	verdict := "none lost"
	if len(bad) > 0 {
		verdict = strings.Join(bad, ", ")
	}
	s := fmt.Sprintf("%d of %d alerts acknowledged, %s", l.Acked, p.Alerts, verdict)
	if p.Killed {
		s += fmt.Sprintf(" (back %.1f s after the kill)", p.RestartSeconds)
	}
	return s
}

// historyText says how full each series' history was when the memory was read.
func historyText(s *SteadyReport) string {
	if s.HistoryFull {
		return fmt.Sprintf("history full (%d points a series)", s.HistoryPoints)
	}
	return fmt.Sprintf("history %d of %d points a series (not full: FULL_HISTORY=1)", s.HistoryPoints, HistoryTicks)
}
