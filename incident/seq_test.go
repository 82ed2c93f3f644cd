package incident

import (
	"context"
	"fmt"
	"sync/atomic"
	"testing"
	"time"

	"github.com/smartcloudops/smartcloudops/internal/store"
)

// conflictOnce is a store whose nth transaction fails with ErrConflict, writing nothing, as
// when another writer changed one of its keys first.
type conflictOnce struct {
	store.Store
	n     int64
	calls atomic.Int64
}

func (s *conflictOnce) Txn(ctx context.Context, cmps []store.Cmp, ops []store.Op) (uint64, error) {
	if s.calls.Add(1) == s.n {
		return 0, store.ErrConflict
	}
	return s.Store.Txn(ctx, cmps, ops)
}

// TestAlertGroupsConflictMidSequence: a round's changes go to the store as one sequence of
// transactions; when one of them meets a conflict, it and those after it (which the sequence
// did not write) are written again one change at a time, and every change is recorded once.
func TestAlertGroupsConflictMidSequence(t *testing.T) {
	ctx := context.Background()
	st := &conflictOnce{Store: store.NewMemory().WithEtcdLimits(), n: 2}
	m, err := New(Options{Store: st})
	if err != nil {
		t.Fatal(err)
	}
	start := time.Date(2026, 11, 25, 10, 0, 0, 0, time.UTC)
	const n = 200 // four changes' writes each: several transactions of at most 128
	gs := make([]AlertGroup, n)
	for i := range gs {
		name := fmt.Sprintf("Alert%03d", i)
		gs[i] = AlertGroup{GroupKey: `{}:{alertname="` + name + `"}`, Status: "firing", Mark: "marks/" + name,
			GroupLabels: map[string]string{"alertname": name}, CommonLabels: map[string]string{"alertname": name},
			Alerts: []Alert{{Fingerprint: name, Status: "firing", Labels: map[string]string{"alertname": name}, StartsAt: start}}}
	}
	res, err := m.ApplyAlertGroups(ctx, gs)
	if err != nil {
		t.Fatal(err)
	}
	ids := map[string]bool{}
	for i, r := range res {
		if !r.Changed || r.Incident.ID == "" || ids[r.Incident.ID] {
			t.Fatalf("group %d: %+v, want a new incident of its own", i, r)
		}
		ids[r.Incident.ID] = true
		if kv, err := st.Get(ctx, gs[i].Mark); err != nil || string(kv.Value) != r.Incident.ID+"\nopened" {
			t.Fatalf("group %d: mark %q, %v", i, kv.Value, err)
		}
	}
	open, err := m.List(ctx, false)
	if err != nil || len(open) != n {
		t.Fatalf("%d open incidents stored (%v), want %d", len(open), err, n)
	}
	if calls := st.calls.Load(); calls <= 2 {
		t.Fatalf("%d transactions: the conflict was never met", calls)
	}
}
