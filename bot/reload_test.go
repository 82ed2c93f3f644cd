package bot

import (
	"context"
	"fmt"
	"strings"
	"sync/atomic"
	"testing"

	"github.com/smartcloudops/smartcloudops/internal/store"
	"github.com/smartcloudops/smartcloudops/remediation"
)

// countingStore counts the reads of proposals: by ID, and of an incident's proposal index.
type countingStore struct {
	store.Store
	gets, lists atomic.Int64
}

func (s *countingStore) Get(ctx context.Context, key string) (store.KV, error) {
	if strings.HasPrefix(key, remediation.StorePrefix) {
		s.gets.Add(1)
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
	approver := remediation.Actor{ID: "slack:U1", Name: "ann", Roles: []string{"operator"}}
	if _, err := h.mg.Approve(ctx, p.ID, approver); err != nil {
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
