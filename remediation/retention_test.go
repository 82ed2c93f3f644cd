package remediation

import (
	"context"
	"testing"
	"time"

	"github.com/smartcloudops/smartcloudops/internal/store"
)

// TestPruneKeepsWhatMayStillChange checks that Prune deletes final proposals that ended before
// the cutoff, with their incident index, keeps pending and recent ones, and leaves the audit log
// whole.
func TestPruneKeepsWhatMayStillChange(t *testing.T) {
	ctx := context.Background()
	f := newFixture(t, store.NewMemory(), nil)
	propose := func() Proposal {
		t.Helper()
		p, err := f.mg.Propose(ctx, Request{Action: "test.scale", Params: map[string]any{"group": "web-asg", "to": 3},
			Incident: "inc-000001", Requester: rule, Policy: Policy{Roles: []string{"sre"}, Expires: time.Hour}})
		if err != nil {
			t.Fatal(err)
		}
		return p
	}
	old := propose()
	if _, err := f.mg.Approve(ctx, old.ID, alice); err != nil {
		t.Fatal(err)
	}
	rejected := propose()
	if _, err := f.mg.Reject(ctx, rejected.ID, alice, "not now"); err != nil {
		t.Fatal(err)
	}
	pending := propose()
	f.now = f.now.Add(30 * 24 * time.Hour)
	recent := propose()
	if _, err := f.mg.Approve(ctx, recent.ID, alice); err != nil {
		t.Fatal(err)
	}
	records, err := f.al.Verify(ctx)
	if err != nil {
		t.Fatal(err)
	}

	n, err := f.mg.Prune(ctx, f.now.Add(-24*time.Hour))
	if err != nil || n != 2 {
		t.Fatalf("pruned %d, %v; want the succeeded and the rejected proposal", n, err)
	}
	left, _ := f.mg.List(ctx)
	ids := map[string]bool{}
	for _, p := range left {
		ids[p.ID] = true
	}
	if len(left) != 2 || !ids[pending.ID] || !ids[recent.ID] {
		t.Fatalf("left %v, want the pending and the recent proposal", ids)
	}
	byInc, _ := f.mg.ForIncident(ctx, "inc-000001")
	if len(byInc) != 2 {
		t.Fatalf("incident index lists %d proposals, want 2", len(byInc))
	}
	if after, err := f.al.Verify(ctx); err != nil || after != records {
		t.Fatalf("audit log after pruning: %d records, %v; want the %d from before", after, err, records)
	}
	if _, err := f.mg.Get(ctx, old.ID); err == nil {
		t.Fatal("a pruned proposal is still readable")
	}
}
