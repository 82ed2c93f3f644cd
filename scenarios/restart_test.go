//go:build scenarios

package scenarios

import (
	"fmt"
	"strings"
	"testing"
)

// restartMidIncident restarts the bot while an incident is open, once with SIGTERM and once
// with SIGKILL, on the same data: the incident keeps its one card, resolves on it when the load
// ends, and the next incident gets a new card whose number follows the earlier ones.
func restartMidIncident(t *testing.T, e *env) {
	const story = "restart"
	e.exp.set(story, baseline)
	b := startBot(t, botSpec{Prometheus: e.prom, Checks: []map[string]any{detectorCheck(story, suite.baseline)}})
	b.waitScored(story, 10)

	e.exp.set(story, load)
	inc := b.waitCard("an incident card for the load", func(c card) bool { return isIncidentCard(c, story) })
	b.waitScored(story, 5)

	b.restart() // SIGTERM, then the same data dir and port
	b.waitScored(story, 15)
	b.kill() // SIGKILL: a crash
	b.start()
	b.waitScored(story, 15)

	res := endLoad(t, b, e, story, inc.Incident, "load ended → resolved, after two restarts")
	if res.Num != inc.Num || res.Run != 3 {
		t.Errorf("the resolution is on card #%d in run %d; want the incident's card #%d edited in place by the third run", res.Num, res.Run, inc.Num)
	}
	if n := postedCards(b.cards(), inc.Incident); n != 1 {
		t.Errorf("incident %s got %d cards across the restarts; want 1", inc.Incident, n)
	}
	b.waitScored(story, 60) // a minute of normal load, as in loadTwice

	// The next load is a new incident on a new card: card numbers and incident IDs continue.
	e.exp.set(story, load)
	next := b.waitCard("a new incident card for the next load", func(c card) bool {
		return isIncidentCard(c, story) && c.Incident != inc.Incident && !c.Updated
	})
	if next.Num <= inc.Num {
		t.Errorf("the card of the next incident is #%d after card #%d; card numbers must not start again after a restart:\n%s",
			next.Num, inc.Num, b.cardList())
	}
	endLoad(t, b, e, story, next.Incident, "next load ended → resolved")
	for _, c := range b.cards() {
		if c.Num == inc.Num && c.Incident != inc.Incident {
			t.Errorf("card #%d shows incident %s as well as %s", c.Num, c.Incident, inc.Incident)
			break
		}
	}
}

// postedCards counts the cards posted (not edits) for an incident.
func postedCards(cards []card, id string) int {
	n := 0
	for _, c := range cards {
		if c.Incident == id && !c.Updated {
			n++
		}
	}
	return n
}

// cardList is one line per card printed, for failure messages.
func (b *bot) cardList() string {
	var out []string
	for _, c := range b.cards() {
		kind := "posted"
		if c.Updated {
			kind = "updated"
		}
		out = append(out, fmt.Sprintf("run %d: #%d %s %s: %s", c.Run, c.Num, kind, c.Incident, c.Title))
	}
	return strings.Join(out, "\n")
}
