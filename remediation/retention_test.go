package remediation

import (
	"context"
	"strings"
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

// TestDedupKeysOfEarlierVersions: a Dedup key is recorded under itself, in the order the keys
// come; one recorded under its hash by an earlier version still finds its proposal, and
// retention deletes the key in both forms.
func TestDedupKeysOfEarlierVersions(t *testing.T) {
	ctx := context.Background()
	st := store.NewMemory().WithEtcdLimits()
	f := newFixture(t, st, nil)
	req := func(dedup string) Request {
		return Request{Action: "test.scale", Params: map[string]any{"group": "web-asg", "to": 3}, Incident: "inc-000001",
			Requester: rule, Policy: Policy{Roles: []string{"sre"}, Expires: time.Hour}, Dedup: dedup}
	}
	newer, err := f.mg.Propose(ctx, req("alertmanager/inbox/0002/web-cpu-high/abc"))
	if err != nil {
		t.Fatal(err)
	}
	if kv, err := st.Get(ctx, "proposal-index/dedup/k/alertmanager/inbox/0002/web-cpu-high/abc"); err != nil || string(kv.Value) != newer.ID {
		t.Fatalf("dedup key as written: %q, %v; want the key itself naming %s", kv.Value, err, newer.ID)
	}
	// An earlier version's proposal: its key under the hash only.
	const old = "alertmanager/inbox/0001/web-cpu-high/abc"
	earlier, err := f.mg.Propose(ctx, req(old))
	if err != nil {
		t.Fatal(err)
	}
	if _, err := st.Txn(ctx, nil, []store.Op{{Key: dedupKey(old), Delete: true},
		{Key: hashedDedupKey(old), Value: []byte(earlier.ID)}}); err != nil {
		t.Fatal(err)
	}
	if again, err := f.mg.Propose(ctx, req(old)); err != nil || again.ID != earlier.ID {
		t.Fatalf("the earlier version's key proposed again: %s, %v; want %s", again.ID, err, earlier.ID)
	}
	for _, p := range []Proposal{newer, earlier} {
		if _, err := f.mg.Reject(ctx, p.ID, alice, "not now"); err != nil {
			t.Fatal(err)
		}
	}
	f.now = f.now.Add(30 * 24 * time.Hour)
	if n, err := f.mg.Prune(ctx, f.now.Add(-24*time.Hour)); err != nil || n != 2 {
		t.Fatalf("pruned %d, %v; want 2", n, err)
	}
	if left, err := st.List(ctx, dedupPrefix); err != nil || len(left) != 0 {
		t.Fatalf("dedup keys left after retention: %v, %v", left, err)
	}
}

// TestDedupKeyForms: long keys and keys with control characters are hashed, as before.
func TestDedupKeyForms(t *testing.T) {
	for _, c := range []struct {
		k     string
		plain bool
	}{
		{"alertmanager/inbox/00000001765000000000-a-0000000001/rule/0123456789abcdef", true},
		{strings.Repeat("x", maxPlainDedup), true},
		{strings.Repeat("x", maxPlainDedup+1), false},
		{"line\nbreak", false},
	} {
		if got := dedupKey(c.k) == dedupPrefix+plainDedup+c.k; got != c.plain {
			t.Errorf("dedupKey(%.20q…) plain = %v, want %v", c.k, got, c.plain)
		}
		if !c.plain && dedupKey(c.k) != hashedDedupKey(c.k) {
			t.Errorf("dedupKey(%.20q…) = %s, want the hash", c.k, dedupKey(c.k))
		}
	}
}
