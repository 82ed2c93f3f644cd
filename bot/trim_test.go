package bot

import (
	"context"
	"fmt"
	"reflect"
	"strings"
	"testing"
	"time"

	"github.com/smartcloudops/smartcloudops/detector"
	"github.com/smartcloudops/smartcloudops/incident"
	"github.com/smartcloudops/smartcloudops/internal/store"
)

// alertGroup is the notification of Alertmanager group key with the given alerts of
// DiskFull firing, one per instance.
func alertGroup(key string, instances ...string) incident.AlertGroup {
	g := incident.AlertGroup{GroupKey: key, Status: "firing", Receiver: "smartcloudops",
		GroupLabels:  map[string]string{"alertname": "DiskFull"},
		CommonLabels: map[string]string{"alertname": "DiskFull", "severity": "warning"},
		CommonAnnots: map[string]string{"summary": "disk almost full"}}
	for _, in := range instances {
		g.Alerts = append(g.Alerts, incident.Alert{Fingerprint: "fp-" + in, Status: "firing",
			Labels:      map[string]string{"alertname": "DiskFull", "instance": in},
			Annotations: map[string]string{"summary": "disk 95% full on " + in},
			StartsAt:    time.Date(2026, 12, 7, 10, 0, 0, 0, time.UTC)})
	}
	return g
}

// The notifier keeps an Alertmanager incident's alerts, annotations and group labels, and its
// proposals' parameters, out of memory, yet a card of that one incident still shows them, as they
// are now: a flood's open members cost memory for what a grouped card shows of them alone.
func TestAlertmanagerCardsFromTrimmedMembers(t *testing.T) {
	st := &countingStore{Store: store.NewMemory()}
	h := newHarnessOn(t, st, nil)
	ctx := context.Background()
	res, err := h.inc.ApplyAlertGroups(ctx, []incident.AlertGroup{alertGroup("{}:{db}", "db-1")})
	if err != nil {
		t.Fatal(err)
	}
	id := res[0].Incident.ID
	h.propose(t, id, "db")
	h.n.Flush(ctx)
	msg := fmt.Sprintf("%+v", h.rec.lastMessage())
	for _, want := range []string{"disk almost full", "1 firing, 0 resolved", "scale db out by one"} {
		if !strings.Contains(msg, want) {
			t.Fatalf("the card does not show %q: %s", want, msg)
		}
	}

	kept := h.n.cards.items[id]
	if len(kept.Incident.Alerts) != 0 || kept.Incident.Annotations != nil || kept.Incident.GroupLabels != nil || kept.alertCount() != 1 {
		t.Fatalf("the notifier keeps the incident whole: %+v", kept)
	}
	if len(kept.Proposals) != 1 || kept.Proposals[0].Plan.Params != nil {
		t.Fatalf("the notifier keeps the proposal's parameters: %+v", kept.Proposals)
	}

	// A second alert joins the group: the card, built from what memory keeps, shows both.
	if _, err := h.inc.ApplyAlertGroups(ctx, []incident.AlertGroup{alertGroup("{}:{db}", "db-1", "db-2")}); err != nil {
		t.Fatal(err)
	}
	h.n.Flush(ctx)
	if msg := fmt.Sprintf("%+v", h.rec.lastMessage()); !strings.Contains(msg, "2 firing, 0 resolved") || !strings.Contains(msg, "disk almost full") {
		t.Fatalf("the card does not show the second alert: %s", msg)
	}
	if kept := h.n.cards.items[id]; kept.alertCount() != 2 || len(kept.Incident.Alerts) != 0 {
		t.Fatalf("kept %d alerts, %d of them whole; want 2, none", kept.alertCount(), len(kept.Incident.Alerts))
	}

	// A second group of the same alert, with a proposal of the same rule, joins the card: a
	// grouped card, from memory alone.
	res, err = h.inc.ApplyAlertGroups(ctx, []incident.AlertGroup{alertGroup("{}:{web}", "web-1")})
	if err != nil {
		t.Fatal(err)
	}
	h.propose(t, res[0].Incident.ID, "web")
	st.incGets.Store(0)
	h.n.Flush(ctx)
	if g := st.incGets.Load(); g > 0 {
		t.Fatalf("the grouped card read %d incidents back", g)
	}
	msg = fmt.Sprintf("%+v", h.rec.lastMessage())
	if !strings.Contains(msg, "2 incidents, 2 open") || !strings.Contains(msg, res[0].Incident.ID) || !strings.Contains(msg, id) {
		t.Fatalf("the grouped card does not show both incidents: %s", msg)
	}
}

// A storm card's members are kept compact, yet every post and edit of the card shows what it
// would show of them kept whole: the worst members with their labels and plans, the offer to
// approve the identical plans, and in the thread the plan that ran.
func TestStormCardFromCompactMembers(t *testing.T) {
	h := newHarness(t, nil)
	ctx := context.Background()
	var ids []string
	for i := range 12 {
		in, _, err := h.inc.FromAnomaly(ctx, anomaly(fmt.Sprintf("web-%02d", i), "warning", map[string]string{"zone": "a"}))
		if err != nil {
			t.Fatal(err)
		}
		group := "web-asg"
		if i%4 == 0 {
			group = "web-asg-" + fmt.Sprint(i)
		}
		h.propose(t, in.ID, group)
		ids = append(ids, in.ID)
	}
	h.n.Flush(ctx)
	if got := h.rec.take(); len(got) != 1 || got[0] != "post C-ops cpu · scale-out: 12 incidents, 12 open" {
		t.Fatalf("calls: %q", got)
	}
	wantWhole(t, h, "the post")
	compacted := 0
	for _, id := range ids {
		if h.n.cards.items[id].kept == keptCompact {
			compacted++
		}
	}
	if compacted < len(ids)-groupShown {
		t.Fatalf("%d of %d members kept compact, want at least %d", compacted, len(ids), len(ids)-groupShown)
	}

	// An approval (the plan runs and its result goes to the thread), a resolution, a new value
	// and a new member, all in one edit.
	props, err := h.mg.ForIncident(ctx, ids[7])
	if err != nil || len(props) != 1 {
		t.Fatalf("proposals of %s: %v %v", ids[7], props, err)
	}
	approveAndSeeResult(t, h, props[0].ID, func() { h.n.Flush(ctx) })
	h.inc.FromRecovery(ctx, detector.Recovery{Check: "cpu", Labels: map[string]string{"host": "web-03", "zone": "a"}, T: time.Now()})
	worse := anomaly("web-05", "critical", map[string]string{"zone": "a"})
	worse.Opened, worse.Value, worse.Score, worse.Peak = false, 140, 0.99, 0.99
	h.inc.FromAnomaly(ctx, worse)
	in, _, _ := h.inc.FromAnomaly(ctx, anomaly("web-12", "warning", map[string]string{"zone": "a"}))
	h.propose(t, in.ID, "web-asg")
	h.n.Flush(ctx)
	calls := strings.Join(h.rec.take(), "\n")
	if !strings.Contains(calls, "thread 1 "+props[0].ID+" succeeded: scale web-asg out by one") {
		t.Fatalf("the thread does not say which plan ran:\n%s", calls)
	}
	wantWhole(t, h, "the edit")
	if got := fmt.Sprintf("%+v", h.rec.lastMessage()); !strings.Contains(got, "where Value:host=web-05, zone=a") {
		t.Fatalf("the edit does not show the worst member's labels: %s", got)
	}
}

// wantWhole checks that the last card the harness' notifier sent is the grouped card of its one
// open group as its members, read back whole, make it.
func wantWhole(t *testing.T, h *harness, what string) {
	t.Helper()
	ctx := context.Background()
	for _, c := range h.n.cards.byRecord {
		if !c.grouped() {
			continue
		}
		var items []CardItem
		for _, m := range c.rec.Members {
			it, err := h.n.load(ctx, m)
			if err != nil {
				t.Fatal(err)
			}
			items = append(items, it)
		}
		want := GroupCard(Group{ID: c.id, Key: c.rec.KeyFields, Items: items})
		if got := h.rec.lastMessage(); !reflect.DeepEqual(got, want) {
			t.Fatalf("%s shows\n%+v\nwhere its members kept whole show\n%+v", what, got, want)
		}
		return
	}
	t.Fatal("no grouped card")
}
