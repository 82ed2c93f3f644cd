package commands

import (
	"context"
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/smartcloudops/smartcloudops/bot"
	"github.com/smartcloudops/smartcloudops/detector"
	"github.com/smartcloudops/smartcloudops/remediation"
	"github.com/smartcloudops/smartcloudops/remediation/audit"
)

// TestApproveAllIdenticalPlans: the Approve-all button of a grouped card approves every pending
// proposal of its plan on that card, each audited on its own; a click from a card whose count
// is stale approves nothing; the same plan on another card and other plans are left alone.
func TestApproveAllIdenticalPlans(t *testing.T) {
	r, al := newRouter(t)
	ctx := context.Background()
	now := time.Now()
	propose := func(host, msg string) remediation.Proposal {
		inc, _, err := r.o.Incidents.FromAnomaly(ctx, detector.Anomaly{Check: "cpu", Labels: map[string]string{"host": host}, Opened: true,
			T: now, Since: now, Value: 99, PeakValue: 99, Score: 0.9, Peak: 0.9, Expected: 40, Lower: 30, Upper: 50})
		if err != nil {
			t.Fatal(err)
		}
		p, err := r.o.Proposals.Propose(ctx, remediation.Request{Action: "echo", Params: map[string]any{"msg": msg}, Incident: inc.ID,
			Requester: remediation.Actor{ID: "rule:r", Name: "rule r"}, Policy: remediation.Policy{Roles: []string{"operator"}, MinApprovers: 1}})
		if err != nil {
			t.Fatal(err)
		}
		return p
	}
	var same []remediation.Proposal
	for i := range 3 {
		same = append(same, propose(fmt.Sprintf("web-%d", i), "scale"))
	}
	other := propose("web-9", "other")
	elsewhere := propose("db-1", "scale") // the same plan on another group's card
	cards := map[string][]string{"g-1": {same[0].Incident, same[1].Incident, same[2].Incident, other.Incident}, "g-2": {elsewhere.Incident}}
	r.o.CardMembers = func(_ context.Context, g string) ([]string, bool, error) { m, ok := cards[g]; return m, ok, nil }
	plan := same[0].PlanHash
	click := func(n int, group string) bot.Message {
		return r.Handle(ctx, bot.Event{Kind: bot.EventButton, User: bot.User{Platform: "slack", ID: "alice", Name: "alice"},
			Button: bot.Button{Action: bot.ActionApproveAll, Value: bot.ApproveAllValue(n, plan, group)}})
	}
	if got := click(2, "g-1"); !strings.Contains(got.Text, "offered 2 proposals of plan "+plan+" but 3 are pending now, so none was approved") {
		t.Fatalf("stale click: %q", got.Text)
	}
	if got := click(3, "g-9"); !strings.Contains(got.Text, `no card of group "g-9"`) {
		t.Fatalf("click for an unknown card: %q", got.Text)
	}
	if got := say(r, "bob", "approve all 3 "+plan+" g-1"); !strings.Contains(got.Text, "refused: approving") || !strings.Contains(got.Text, "3 refused") {
		t.Fatalf("a viewer's approve all: %q", got.Text)
	}
	got := click(3, "g-1")
	if !strings.Contains(got.Text, "Approved 3 proposals of plan "+plan+" one by one (echo say scale): 3 succeeded") {
		t.Fatalf("approve all: %q", got.Text)
	}
	for _, p := range same {
		if !strings.Contains(got.Text, p.ID+" succeeded: said scale") {
			t.Errorf("reply does not name %s: %q", p.ID, got.Text)
		}
		recs, _ := al.List(ctx, audit.Filter{Match: p.ID})
		approved := 0
		for _, rec := range recs {
			if rec.Kind == "proposal.approved" && rec.User == "slack:alice" {
				approved++
			}
		}
		if approved != 1 {
			t.Errorf("%s has %d approval records by slack:alice, want 1", p.ID, approved)
		}
	}
	for _, p := range []remediation.Proposal{other, elsewhere} {
		if got, _ := r.o.Proposals.Get(ctx, p.ID); got.State != remediation.StatePending {
			t.Fatalf("%s (%s) is %s, want it left pending", p.ID, p.Plan.Summary(), got.State)
		}
	}
	if got := click(3, "g-1"); !strings.Contains(got.Text, "no pending proposal of group g-1 has plan "+plan) {
		t.Fatalf("second click: %q", got.Text)
	}
	for _, bad := range []string{"approve all", "approve all x " + plan + " g-1", "approve all 0 " + plan + " g-1"} {
		if got := say(r, "alice", bad); !strings.Contains(got.Text, "approve all") {
			t.Errorf("%q: %q", bad, got.Text)
		}
	}
}

// TestIncidentsMarkSilenced: `incidents` marks an open incident muted by an active silence —
// one recorded on it, or one made since that matches it — and not one whose silence ended.
func TestIncidentsMarkSilenced(t *testing.T) {
	r, _ := newRouter(t)
	ctx := context.Background()
	now := time.Now()
	open := func(host string) string {
		inc, _, err := r.o.Incidents.FromAnomaly(ctx, detector.Anomaly{Check: "cpu", Labels: map[string]string{"host": host}, Opened: true,
			T: now, Since: now, Value: 99, PeakValue: 99, Score: 0.9, Peak: 0.9, Expected: 40, Lower: 30, Upper: 50})
		if err != nil {
			t.Fatal(err)
		}
		return inc.ID
	}
	a, b, c := open("web-1"), open("web-2"), open("web-3")
	if _, err := r.o.Incidents.SilenceIncident(ctx, a, time.Hour, "alice"); err != nil {
		t.Fatal(err)
	}
	s, err := r.o.Incidents.AddSilence(ctx, map[string]string{"host": "web-2"}, time.Hour, "alice", "")
	if err != nil {
		t.Fatal(err)
	}
	ended, err := r.o.Incidents.SilenceIncident(ctx, c, time.Hour, "alice")
	if err != nil {
		t.Fatal(err)
	}
	if err := r.o.Incidents.Unsilence(ctx, ended.ID); err != nil {
		t.Fatal(err)
	}
	lines := strings.Split(say(r, "bob", "incidents").Text, "\n")
	for _, l := range lines {
		marked := strings.Contains(l, "[silenced by ")
		switch {
		case strings.HasPrefix(l, a) && !marked, strings.HasPrefix(l, b) && !strings.Contains(l, "[silenced by "+s.ID),
			strings.HasPrefix(l, c) && marked:
			t.Errorf("wrong silence mark: %q", l)
		}
	}
	if len(lines) != 3 {
		t.Fatalf("incidents: %q", lines)
	}
}
