//go:build scenarios

package scenarios

import (
	"fmt"
	"strconv"
	"strings"
	"testing"
)

// detectorCheck is a check over the story's series with a trained model, scored every second.
func detectorCheck(story, model string) map[string]any {
	return map[string]any{
		"name": story, "source": "prometheus", "query": selector(story), "schedule": "@every 1s",
		"model": model, "severity": "critical", "unit": "%",
	}
}

// isIncidentCard reports whether c is a card of an open incident on the story's series.
func isIncidentCard(c card, story string) bool {
	return c.Incident != "" && !c.Resolved() && strings.Contains(c.Fields["where"], "story="+story)
}

// resolvedCard waits for the card of incident id to show it resolved.
func resolvedCard(b *bot, id string) card {
	b.t.Helper()
	return b.waitCard("the card of "+id+" to show it resolved", func(c card) bool { return c.Incident == id && c.Resolved() })
}

// endLoad ends the story's load and waits for the incident to resolve on its card. An incident
// stays open while its load runs, so a resolution shown before the bot could see the load end is
// an error; otherwise the time from the load's end to the resolution is measured.
func endLoad(t *testing.T, b *bot, e *env, story, id, what string) card {
	t.Helper()
	e.exp.set(story, baseline)
	ended := waitSeen(t, e, story)
	res := resolvedCard(b, id)
	if res.At.Before(ended) {
		t.Errorf("incident %s was shown resolved at %s (card #%d), %.0fs before its load ended; it must stay open while the load runs:\n%s",
			id, res.At.UTC().Format("15:04:05"), res.Num, ended.Sub(res.At).Seconds(), strings.Join(res.Lines, "\n"))
		return res
	}
	measure(t, what, ended, res.At)
	return res
}

// wantValueAbove checks the value a detector card shows ("95.2% (expected ...)").
func wantValueAbove(t *testing.T, c card, min float64) {
	t.Helper()
	v := c.Fields["value"]
	num, _, _ := strings.Cut(v, " ")
	f, err := strconv.ParseFloat(strings.TrimSuffix(num, "%"), 64)
	if err != nil || f <= min {
		t.Errorf("card #%d shows value %q; want above %v", c.Num, v, min)
	}
}

// anomalyTwin is the query rule's anomaly twin: a check rule with `for:` over the detector's
// anomalies. The load opens an incident card; the proposal follows after `for:`; the incident
// stays open while the load runs and resolves when it ends.
func anomalyTwin(t *testing.T, e *env) {
	const story = "anomaly-twin"
	e.exp.set(story, baseline)
	b := startBot(t, botSpec{Prometheus: e.prom, Checks: []map[string]any{detectorCheck(story, suite.baseline)},
		Rules: fmt.Sprintf(`groups:
  - name: anomaly-twin
    rules:
      - name: anomaly-twin-high
        description: Scale out when the load is anomalous and above 90%% for 30 seconds.
        check: %s
        when: anomaly.open && anomaly.peak >= 0.5 && value > 90
        for: 30s
        severity: critical
`, story) + recordAction("scale-out")})
	b.waitScored(story, 10)

	e.exp.set(story, load)
	inc := b.waitCard("an incident card for the load", func(c card) bool { return isIncidentCard(c, story) })
	crossed := waitSeen(t, e, story)
	measure(t, "load crossed 90 → incident card", crossed, inc.At)
	if inc.Severity != "CRITICAL" || !strings.Contains(inc.Title, story) {
		t.Errorf("the incident card reads %q (severity %q); want the check %s, critical", inc.Title, inc.Severity, story)
	}
	wantValueAbove(t, inc, 90)

	pc := b.waitCard("the proposal on the incident's card", func(c card) bool { return c.Incident == inc.Incident && len(c.Props) > 0 })
	measure(t, "load crossed 90 → proposal", crossed, pc.At)
	if pc.At.Sub(crossed) < holdFor-timeSlack {
		t.Errorf("the proposal came %s after the load crossed 90; the rule holds for %s first", pc.At.Sub(crossed), holdFor)
	}
	if p := pc.Props[0]; p.State != "pending" || p.What != "script record.sh anomaly-twin scale-out" {
		t.Errorf("the proposal reads %q, state %q; want script record.sh anomaly-twin scale-out, pending", p.What, p.State)
	}

	// The load goes on for a minute and a half more: the incident stays open all along.
	b.waitScored(story, 90)
	res := endLoad(t, b, e, story, inc.Incident, "load ended → resolved")
	if res.Num != inc.Num {
		t.Errorf("the resolution is on card #%d; want the incident's card #%d edited in place", res.Num, inc.Num)
	}
	if ids := proposalIDs(b.cards()); len(ids) != 1 {
		t.Errorf("the cards show proposals %v for one load; want exactly one", ids)
	}
}

// loadTwice is a load, its resolution, and the same load again a minute later: two incidents,
// two cards, each resolved after its load ended.
func loadTwice(t *testing.T, e *env) {
	const story = "load-twice"
	e.exp.set(story, baseline)
	b := startBot(t, botSpec{Prometheus: e.prom, Checks: []map[string]any{detectorCheck(story, suite.baseline)}})
	b.waitScored(story, 10)

	var incs []card
	for i := 1; i <= 2; i++ {
		e.exp.set(story, load)
		inc := b.waitCard(fmt.Sprintf("the card of load %d", i), func(c card) bool {
			return isIncidentCard(c, story) && !c.Updated && (len(incs) == 0 || c.Incident != incs[0].Incident)
		})
		measure(t, fmt.Sprintf("load %d crossed 90 → incident card", i), waitSeen(t, e, story), inc.At)
		wantValueAbove(t, inc, 90)
		incs = append(incs, inc)

		b.waitScored(story, 45) // the load lasts 45 points
		endLoad(t, b, e, story, inc.Incident, fmt.Sprintf("load %d ended → resolved", i))
		if i == 1 {
			b.waitScored(story, 60) // a minute of normal load before the same load again
		}
	}
	if incs[0].Num == incs[1].Num {
		t.Errorf("both loads are on card #%d; want a card each", incs[0].Num)
	}
	posted := map[string]int{}
	for _, c := range b.cards() {
		if !c.Updated {
			posted[c.Incident]++
		}
	}
	if len(posted) != 2 || posted[incs[0].Incident] != 1 || posted[incs[1].Incident] != 1 {
		t.Errorf("cards posted per incident: %v; want one for each of %s and %s", posted, incs[0].Incident, incs[1].Incident)
	}
}

// saturatedSeries is a series pinned at 100 % with dips of less than 1.2 points: nothing to
// raise, over minutes of it. The check sets the smallest change worth an incident.
func saturatedSeries(t *testing.T, e *env) {
	const story = "saturated"
	e.exp.set(story, saturated())
	check := detectorCheck(story, suite.saturated)
	check["min_change"] = map[string]any{"relative": 0.02, "absolute": 0.5}
	b := startBot(t, botSpec{Prometheus: e.prom, Checks: []map[string]any{check}})
	b.waitScored(story, 180) // three minutes of it

	if cards := b.cards(); len(cards) > 0 {
		var shown []string
		for _, c := range cards {
			shown = append(shown, fmt.Sprintf("#%d %s (%s)", c.Num, c.Title, c.Fields["value"]))
		}
		t.Errorf("a saturated series with dips under 1.2 points raised %d cards; want none:\n%s", len(cards), strings.Join(shown, "\n"))
	}
	if reply := b.ask("incidents all"); reply != "No open incidents." {
		t.Errorf("`incidents all` says:\n%s\nwant no incidents", reply)
	}
}
