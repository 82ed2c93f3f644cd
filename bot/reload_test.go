package bot

import (
	"context"
	"fmt"
	"strings"
	"sync/atomic"
	"testing"

	"github.com/smartcloudops/smartcloudops/incident"
	"github.com/smartcloudops/smartcloudops/internal/store"
	"github.com/smartcloudops/smartcloudops/remediation"
)

// countingStore counts the reads of proposals: by ID, and of an incident's proposal index.
type countingStore struct {
	store.Store
	gets, lists atomic.Int64
	incGets     atomic.Int64 // reads of incidents by ID
	all         atomic.Int64 // reads of any key
}

func (s *countingStore) Get(ctx context.Context, key string) (store.KV, error) {
	s.all.Add(1)
	if strings.HasPrefix(key, remediation.StorePrefix) {
		s.gets.Add(1)
	}
	if strings.HasPrefix(key, incident.StorePrefix) {
		s.incGets.Add(1)
	}
	return s.Store.Get(ctx, key)
}

func (s *countingStore) List(ctx context.Context, prefix string) ([]store.KV, error) {
	if strings.HasPrefix(prefix, "proposal-index/") {
		s.lists.Add(1)
	}
	return s.Store.List(ctx, prefix)
}

// A card takes a proposal's changes from the change itself: a proposal made for an incident that
// just opened, and its approval, reach the card without the incident's proposals being read
// back.
func TestCardTakesProposalsFromTheirChanges(t *testing.T) {
	st := &countingStore{Store: store.NewMemory()}
	h := newHarnessOn(t, st, nil)
	ctx := context.Background()
	h.inc.FromAnomaly(ctx, anomaly("web-1", "warning", nil))
	p := h.propose(t, incidentOf(t, h), "web")
	flush := func() {
		t.Helper()
		st.gets.Store(0)
		st.lists.Store(0)
		h.n.Flush(ctx)
		if g, l := st.gets.Load(), st.lists.Load(); g > 0 || l > 0 {
			t.Fatalf("the notifier read proposals back: %d gets, %d lists of the index", g, l)
		}
	}
	flush()
	if got := fmt.Sprintf("%+v", h.rec.lastMessage()); !strings.Contains(got, p.ID) {
		t.Fatalf("the card does not show proposal %s: %s", p.ID, got)
	}
	approveAndSeeResult(t, h, p.ID, flush)
}

// approveAndSeeResult approves proposal id as an operator, runs flush (the notifier's pass, with
// the caller's checks of what it read), and checks that the card shows the plan's result.
func approveAndSeeResult(t *testing.T, h *harness, id string, flush func()) {
	t.Helper()
	approver := remediation.Actor{ID: "slack:U1", Name: "ann", Roles: []string{"operator"}}
	if _, err := h.mg.Approve(context.Background(), id, approver); err != nil {
		t.Fatal(err)
	}
	flush()
	if got := fmt.Sprintf("%+v", h.rec.lastMessage()); !strings.Contains(got, "succeeded") {
		t.Fatalf("the card does not show the approved plan's result: %s", got)
	}
}

// incidentOf returns the ID of the harness' one incident.
func incidentOf(t *testing.T, h *harness) string {
	t.Helper()
	incs, err := h.inc.List(context.Background(), false)
	if err != nil || len(incs) != 1 {
		t.Fatalf("incidents: %v %v", incs, err)
	}
	return incs[0].ID
}

// A new card takes its incident from the opening that reported it, and a card in memory takes
// it from memory when only its proposals changed: a proposal made for an incident that just
// opened, and its approval, reach the card without the incident being read back.
func TestCardTakesItsIncidentFromTheChange(t *testing.T) {
	st := &countingStore{Store: store.NewMemory()}
	h := newHarnessOn(t, st, nil)
	ctx := context.Background()
	h.inc.FromAnomaly(ctx, anomaly("web-1", "warning", nil))
	id := incidentOf(t, h)
	p, err := h.mg.Propose(ctx, remediation.Request{Action: "scale", Params: map[string]any{"group": "web"},
		Rule: "scale-out", RuleVersion: "v1", Incident: id, Requester: remediation.Actor{ID: "rule:scale-out", Name: "rule scale-out"},
		Policy: remediation.Policy{Roles: []string{"operator"}, MinApprovers: 1}})
	if err != nil {
		t.Fatal(err)
	}
	flush := func() {
		t.Helper()
		st.incGets.Store(0)
		h.n.Flush(ctx)
		if g := st.incGets.Load(); g > 0 {
			t.Fatalf("the notifier read the incident back %d times", g)
		}
	}
	flush()
	got := fmt.Sprintf("%+v", h.rec.lastMessage())
	if !strings.Contains(got, p.ID) || !strings.Contains(got, "web-1") {
		t.Fatalf("the card does not show the incident and proposal %s: %s", p.ID, got)
	}
	approveAndSeeResult(t, h, p.ID, flush)
}

// A card that shows why a rule made no proposal drops the reason once the rule's proposal is
// made: the proposal's link clears the refusal without a report of its own, so the card reads
// the incident again rather than keeping the copy it holds.
func TestCardDropsARefusalClearedByAProposal(t *testing.T) {
	h := newHarness(t, nil)
	ctx := context.Background()
	h.inc.FromAnomaly(ctx, anomaly("web-1", "warning", nil))
	id := incidentOf(t, h)
	inc, err := h.inc.Update(ctx, id, func(i *incident.Incident) {
		i.Refusals = []incident.Refusal{{Rule: "scale-out", Reason: "the group did not answer", Retry: true}}
	})
	if err != nil {
		t.Fatal(err)
	}
	h.n.IncidentChanged(ctx, inc, incident.Updated)
	h.n.Flush(ctx)
	if got := fmt.Sprintf("%+v", h.rec.lastMessage()); !strings.Contains(got, "did not answer") {
		t.Fatalf("the card does not say why no proposal came: %s", got)
	}
	p := h.propose(t, id, "web")
	if _, err := h.inc.Update(ctx, id, func(i *incident.Incident) { i.Refusals = nil }); err != nil {
		t.Fatal(err)
	}
	h.n.Flush(ctx)
	got := fmt.Sprintf("%+v", h.rec.lastMessage())
	if !strings.Contains(got, p.ID) || strings.Contains(got, "did not answer") {
		t.Fatalf("the card should show proposal %s and no longer the refusal: %s", p.ID, got)
	}
}
