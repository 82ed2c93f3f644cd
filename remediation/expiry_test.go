package remediation

import (
	"context"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/smartcloudops/smartcloudops/internal/store"
)

// countingStore counts the proposals read one by one and the full listings of proposals.
type countingStore struct {
	store.Store
	gets, lists atomic.Int64
}

func (c *countingStore) Get(ctx context.Context, key string) (store.KV, error) {
	if strings.HasPrefix(key, proposalPrefix) {
		c.gets.Add(1)
	}
	return c.Store.Get(ctx, key)
}

func (c *countingStore) List(ctx context.Context, prefix string) ([]store.KV, error) {
	if prefix == proposalPrefix {
		c.lists.Add(1)
	}
	return c.Store.List(ctx, prefix)
}

func expiryEntries(t *testing.T, st store.Store) []string {
	t.Helper()
	kvs, err := st.List(context.Background(), expiryPrefix)
	if err != nil {
		t.Fatal(err)
	}
	var ids []string
	for _, kv := range kvs {
		_, id, ok := parseExpiryKey(kv.Key)
		if !ok {
			t.Fatalf("%q is not an expiry entry", kv.Key)
		}
		ids = append(ids, id)
	}
	return ids
}

// TestExpireDueReadsOnlyDue: once the first sweep is made, expiring reads the proposals that are
// due and no other; the entries follow the proposals out of pending, whatever took them out.
func TestExpireDueReadsOnlyDue(t *testing.T) {
	ctx := context.Background()
	st := &countingStore{Store: store.NewMemory()}
	f := newFixture(t, st, nil)
	soon := f.propose(t, Policy{Roles: []string{"sre"}, Expires: time.Minute})
	later := f.propose(t, Policy{Roles: []string{"sre"}, Expires: 2 * time.Minute})
	decided := f.propose(t, Policy{Roles: []string{"sre"}, Expires: time.Minute})
	var rest []Proposal
	for range 50 {
		rest = append(rest, f.propose(t, Policy{Roles: []string{"sre"}, Expires: time.Hour}))
	}
	if _, err := f.mg.Approve(ctx, decided.ID, alice); err != nil {
		t.Fatal(err)
	}
	if got := len(expiryEntries(t, st)); got != 52 {
		t.Fatalf("%d expiry entries for 52 pending proposals", got)
	}
	if err := f.mg.ExpireDue(ctx); err != nil { // nothing due
		t.Fatal(err)
	}

	f.now = f.now.Add(90 * time.Second)
	st.gets.Store(0)
	if err := f.mg.ExpireDue(ctx); err != nil {
		t.Fatal(err)
	}
	wantState(t, f, soon.ID, StateExpired)  // due proposal
	wantState(t, f, later.ID, StatePending) // proposal not yet due
	if st.lists.Load() != 0 {
		t.Fatal("expiring listed every proposal")
	}
	// A few reads of the due one (the update and its checks); not the 51 others.
	if n := st.gets.Load(); n > 5 {
		t.Fatalf("expiring one due proposal read %d proposals", n)
	}
	if got := len(expiryEntries(t, st)); got != 51 {
		t.Fatalf("%d expiry entries left, want 51", got)
	}

	f.now = f.now.Add(time.Hour)
	if err := f.mg.ExpireDue(ctx); err != nil {
		t.Fatal(err)
	}
	for _, p := range append(rest, later) {
		wantState(t, f, p.ID, StateExpired) // an hour after its expiry
	}
	if ids := expiryEntries(t, st); len(ids) != 0 {
		t.Fatalf("entries left with nothing pending: %v", ids)
	}
}

// TestExpiryEntriesForOlderStores: pending proposals stored without entries (by a version before
// the index) get them from RebuildIndex (retention's mending, at start) and expire on time after
// it; an entry left behind by a proposal decided without it is dropped when it comes due.
func TestExpiryEntriesForOlderStores(t *testing.T) {
	ctx := context.Background()
	st := store.NewMemory()
	f := newFixture(t, st, nil)
	old := f.propose(t, Policy{Roles: []string{"sre"}, Expires: 10 * time.Minute})
	done := f.propose(t, Policy{Roles: []string{"sre"}, Expires: 5 * time.Minute})
	if err := st.Delete(ctx, expiryKey(old)); err != nil { // as the earlier version stored it
		t.Fatal(err)
	}
	// decided by an earlier version: its entry stays behind
	if _, err := f.mg.Approve(ctx, done.ID, alice); err != nil {
		t.Fatal(err)
	}
	if _, err := st.Put(ctx, expiryKey(done), []byte(done.ID)); err != nil {
		t.Fatal(err)
	}
	if err := f.mg.ExpireDue(ctx); err != nil {
		t.Fatal(err)
	}
	if ids := expiryEntries(t, st); len(ids) != 1 {
		t.Fatalf("entries before the mending: %v, want the stale one", ids)
	}
	stats, err := f.mg.RebuildIndex(ctx)
	if err != nil || stats.Written != 1 {
		t.Fatalf("mending: %+v %v, want the one missing entry written", stats, err)
	}
	if ids := expiryEntries(t, st); len(ids) != 2 {
		t.Fatalf("entries after the mending: %v, want the old proposal's and the stale one", ids)
	}
	if stats, err := f.mg.RebuildIndex(ctx); err != nil || stats.Written != 0 {
		t.Fatalf("mending again: %+v %v, want nothing written", stats, err)
	}
	f.now = f.now.Add(11 * time.Minute)
	if err := f.mg.ExpireDue(ctx); err != nil {
		t.Fatal(err)
	}
	wantState(t, f, old.ID, StateExpired)    // the older store's proposal
	wantState(t, f, done.ID, StateSucceeded) // the decided proposal
	if ids := expiryEntries(t, st); len(ids) != 0 {
		t.Fatalf("entries left: %v", ids)
	}
}

// wantState fails the test unless proposal id is stored in state want.
func wantState(t *testing.T, f *fixture, id string, want State) {
	t.Helper()
	got, err := f.mg.Get(context.Background(), id)
	if err != nil || got.State != want {
		t.Fatalf("proposal %s is %s (%v), want %s", id, got.State, err, want)
	}
}
