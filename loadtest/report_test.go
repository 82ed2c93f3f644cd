package loadtest

import (
	"flag"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

var update = flag.Bool("update", false, "rewrite the golden files in testdata")

// sampleReport has every scenario, with figures of the kind a run on a loaded two-core machine
// gives, and one scenario that did not finish.
func sampleReport() *Report {
	cond := Conditions{LoadMedian: 4.2, LoadMax: 6.1, Seconds: 180, BotCPU: 150.5, HarnessCPU: 3.7}
	return &Report{
		At: time.Date(2024, 5, 1, 12, 0, 0, 0, time.UTC), Version: "smartcloudops 1.2.3",
		Machine: Machine{Cores: 2, LoadAvg: [3]float64{3.9, 4.5, 4.8}, MemTotal: 24 << 30},
		Webhook: &ThroughputReport{Connections: 32, PerGroup: 1, Seconds: 20, Requests: 1188, AckedAlerts: 1188, AckRate: 59.4,
			P50ms: 513.6, P90ms: 662.3, P99ms: 1095.5, Proposals: 1188, AllProposed: true, EndToEndRate: 59.1,
			Conditions: Conditions{LoadMedian: 4.7, LoadMax: 6.2, Seconds: 243, BotCPU: 154, HarnessCPU: 3.7, WrkCPU: 0.1},
			API: &APIReport{Incidents: 10001, Proposals: 9985, Requests: 200, IncidentsP50: 287.3, IncidentsP99: 763.7,
				ProposalsP50: 308.7, ProposalsP99: 816.6}},
		Loss: &LossReport{Conditions: cond, Phases: []PhaseReport{
			{Name: "client timeout 50ms", Alerts: 2000, Loss: Loss{Acked: 2000, NoProposal: 703, Unlinked: 226}},
			{Name: "each sent twice at once", Alerts: 2000, Loss: Loss{Acked: 2000}},
			{Name: "kill -9 mid-flood", Alerts: 2000, Killed: true, RestartSeconds: 0.2, Loss: Loss{Acked: 2000, NoProposal: 14}},
		}},
		Storm: &StormReport{Series: 2000, Interval: "5s", Expected: 1999, OpenBefore: 1, FalseIncidents: 1, Recorded: 1999, AllRecorded: true, TimeToAll: 6.1, PerSecond: 2000,
			TicksDue: 10, TicksRan: 10, EveryTickRan: true, TickP99: 0.49, CardPosts: 1, CardEdits: 1, Groups: 1, Channels: 1,
			CardsPerGroupChan: 1, StormSeconds: 51, Conditions: cond},
		Steady: &SteadyReport{Series: 10000, Interval: "15s", Ticks: 10, TickP50: 0.3, TickP99: 0.9, TickMean: 0.4, TickTop: 10, RSS: 300 << 20,
			RSSPerSeries: 31457.28, RSSAddedPerSerie: 26000, HeapPerSeries: 12000, RSSAnon: 250 << 20, RSSFile: 50 << 20, HistoryPoints: 12, Saves: 2, SaveBytes: 120 << 20, SaveSeconds: 1.2,
			StateFile: 80 << 20, StatePerSeries: 8388.6, Shutdown: 0.8, FakeServeMean: 0.01, Conditions: cond},
		Errors: map[string]string{"other": "waiting for the measured ticks: not within 2m0s"},
	}
}

func TestTableGolden(t *testing.T) {
	got := sampleReport().Table()
	path := filepath.Join("testdata", "table.golden")
	if *update {
		if err := os.WriteFile(path, []byte(got), 0o600); err != nil {
			t.Fatal(err)
		}
	}
	want, err := os.ReadFile(path)
	if err != nil {
		t.Fatalf("%v (run go test -update to write it)", err)
	}
	if got != string(want) {
		t.Errorf("table differs from %s (go test -update rewrites it):\n%s", path, got)
	}
}

func TestTableSaysWhatDidNotHappen(t *testing.T) {
	r := sampleReport()
	r.Storm.AllRecorded, r.Storm.Recorded, r.Storm.TimeToAll = false, 1234, 120
	r.Storm.EveryTickRan, r.Storm.TicksRan, r.Storm.TicksSkipped = false, 7, 3
	r.Webhook.AllProposed, r.Webhook.Proposals = false, 900
	r.Steady.TickTop, r.Steady.TicksAboveTop, r.Steady.TickMean = 10, 10, 29.4
	r.Steady.HistoryPoints, r.Steady.HistoryFull = 240, true
	got := r.Table()
	for _, want := range []string{"only 1234 of 1999 incidents recorded in 120 s (1 series already had one open from the calm pattern)", "ticks missed: 7 ran of 10 due, 3 skipped",
		"only 900 proposals for them within 2 min", "p50 > 10 s, p99 > 10 s, mean 29.40 s", "703 without proposal, 226 not linked to their incident", "none lost",
		"at 10000 series, history full (240 points a series)"} {
		if !strings.Contains(got, want) {
			t.Errorf("table lacks %q:\n%s", want, got)
		}
	}
}

func TestReportJSONRoundTrips(t *testing.T) {
	path := filepath.Join(t.TempDir(), "report.json")
	if err := sampleReport().WriteJSON(path); err != nil {
		t.Fatal(err)
	}
	data, err := os.ReadFile(path)
	if err != nil || len(data) == 0 || data[len(data)-1] != '\n' {
		t.Fatalf("report.json: %v, %d bytes", err, len(data))
	}
}

// TestFullHistoryTicks: FULL_HISTORY raises the ticks so that the warm and measured ticks fill
// every series' history, and never lowers them.
func TestFullHistoryTicks(t *testing.T) {
	for _, c := range []struct {
		o    SteadyOptions
		want int
	}{
		{SteadyOptions{WarmTicks: 2, Ticks: 10}, 10},
		{SteadyOptions{WarmTicks: 2, Ticks: 10, FullHistory: true}, HistoryTicks - 2},
		{SteadyOptions{WarmTicks: 2, Ticks: 500, FullHistory: true}, 500},
	} {
		if got := c.o.ticks(); got != c.want {
			t.Errorf("%+v: %d ticks, want %d", c.o, got, c.want)
		}
	}
}
