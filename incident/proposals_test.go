package incident

import (
	"context"
	"encoding/json"
	"slices"
	"testing"
	"time"

	"github.com/smartcloudops/smartcloudops/internal/store"
)

// An incident lists the proposals made for it from the proposals' index, after those it records
// itself (a store written by a release that rewrote the incident to link each proposal), each
// once, however it is read: by ID, in lists, in pages.
func TestIncidentListsProposalsFromTheirIndex(t *testing.T) {
	ctx := context.Background()
	st := store.NewMemory()
	index := map[string][]string{}
	m, err := New(Options{Store: st, ProposalsOf: func(_ context.Context, id string) ([]string, error) {
		return index[id], nil
	}})
	if err != nil {
		t.Fatal(err)
	}
	start := time.Date(2026, 11, 25, 10, 0, 0, 0, time.UTC)
	g := AlertGroup{GroupKey: `{}:{alertname="HostHighCpu"}`, Status: "firing", CommonLabels: map[string]string{"alertname": "HostHighCpu"},
		Alerts: []Alert{{Fingerprint: "a1", Status: "firing", Labels: map[string]string{"instance": "web-1"}, StartsAt: start}}}
	inc, _, err := m.FromAlertGroup(ctx, g)
	if err != nil {
		t.Fatal(err)
	}
	// What the previous release stored: the incident names its first proposal itself.
	if _, err := m.Update(ctx, inc.ID, func(i *Incident) { i.Proposals = []string{"p-old"} }); err != nil {
		t.Fatal(err)
	}
	index[inc.ID] = []string{"p-new", "p-old"}
	want := []string{"p-old", "p-new"}
	got, err := m.Get(ctx, inc.ID)
	if err != nil || !slices.Equal(got.Proposals, want) {
		t.Fatalf("Get: proposals %v (%v), want %v", got.Proposals, err, want)
	}
	for _, all := range []bool{false, true} {
		incs, err := m.List(ctx, all)
		if err != nil || len(incs) != 1 || !slices.Equal(incs[0].Proposals, want) {
			t.Fatalf("List(all=%v): %+v (%v), want proposals %v", all, incs, err, want)
		}
	}
	for _, state := range []string{"", StateOpen} {
		pg, err := m.ListPage(ctx, PageQuery{State: state, Limit: 10})
		if err != nil || len(pg.Incidents) != 1 || !slices.Equal(pg.Incidents[0].Proposals, want) {
			t.Fatalf("ListPage(%q): %+v (%v), want proposals %v", state, pg.Incidents, err, want)
		}
	}
	// The stored incident is not rewritten by being read.
	kv, err := st.Get(ctx, StorePrefix+inc.ID)
	if err != nil {
		t.Fatal(err)
	}
	var stored Incident
	if err := json.Unmarshal(kv.Value, &stored); err != nil || !slices.Equal(stored.Proposals, []string{"p-old"}) {
		t.Fatalf("stored proposals %v (%v), want only the one it recorded", stored.Proposals, err)
	}
}

// ClearRefusals removes the refusals of the rules that made their proposals, and writes only the
// incidents that show one.
func TestClearRefusalsWritesOnlyIncidentsThatShowOne(t *testing.T) {
	ctx := context.Background()
	st := store.NewMemory()
	m, err := New(Options{Store: st})
	if err != nil {
		t.Fatal(err)
	}
	start := time.Date(2026, 11, 25, 10, 0, 0, 0, time.UTC)
	open := func(key string) Incident {
		t.Helper()
		inc, _, err := m.FromAlertGroup(ctx, AlertGroup{GroupKey: key, Status: "firing", CommonLabels: map[string]string{"alertname": key},
			Alerts: []Alert{{Fingerprint: key, Status: "firing", StartsAt: start}}})
		if err != nil {
			t.Fatal(err)
		}
		return inc
	}
	refused, quiet := open("a"), open("b")
	if _, err := m.Update(ctx, refused.ID, func(i *Incident) {
		i.Refusals = []Refusal{{Rule: "scale", Reason: "no answer", Retry: true}, {Rule: "restart", Reason: "not found"}}
	}); err != nil {
		t.Fatal(err)
	}
	before, err := st.Get(ctx, StorePrefix+quiet.ID)
	if err != nil {
		t.Fatal(err)
	}
	failed, err := m.ClearRefusals(ctx, map[string][]string{refused.ID: {"scale"}, quiet.ID: {"scale"}, "inc-gone": {"scale"}})
	if len(failed) > 0 || err != nil {
		t.Fatalf("failed %v: %v", failed, err)
	}
	got, err := m.Get(ctx, refused.ID)
	if err != nil || len(got.Refusals) != 1 || got.Refusals[0].Rule != "restart" {
		t.Fatalf("refusals left %+v (%v), want only restart's", got.Refusals, err)
	}
	after, err := st.Get(ctx, StorePrefix+quiet.ID)
	if err != nil || after.Rev != before.Rev {
		t.Fatalf("an incident without refusals was written again: rev %d, was %d (%v)", after.Rev, before.Rev, err)
	}
}
