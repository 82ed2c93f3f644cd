package index

import (
	"context"
	"errors"
	"fmt"
	"maps"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/smartcloudops/smartcloudops/internal/store"
)

// listThings is the list function of Ensure for the things of the tests.
func listThings(x Index) func(context.Context, store.Store) ([]Item, error) {
	return func(ctx context.Context, st store.Store) ([]Item, error) {
		kvs, err := st.List(ctx, x.Items)
		if err != nil {
			return nil, err
		}
		var items []Item
		for _, kv := range kvs {
			id := strings.TrimPrefix(kv.Key, x.Items)
			if string(kv.Value) == "corrupt" {
				items = append(items, Item{Entry: Entry{ID: id}, Rev: kv.Rev, Opaque: true})
				continue
			}
			var n int
			fmt.Sscanf(id, "t%d", &n)
			items = append(items, Item{Entry: Entry{ID: id, At: t0.Add(time.Duration(n) * time.Minute), State: string(kv.Value)}, Rev: kv.Rev})
		}
		return items, nil
	}
}

// indexKeys returns every key under the index's prefixes, with its value.
func indexKeys(t *testing.T, st store.Store, x Index) map[string]string {
	t.Helper()
	out := map[string]string{}
	for _, p := range []string{x.Time, x.State} {
		if p == "" {
			continue
		}
		kvs, err := st.List(context.Background(), p)
		if err != nil {
			t.Fatal(err)
		}
		for _, kv := range kvs {
			out[kv.Key] = string(kv.Value)
		}
	}
	return out
}

// TestRebuild mends every way an index can differ from its items, and then finds nothing to do.
func TestRebuild(t *testing.T) {
	ctx := context.Background()
	x := withState
	st := store.NewMemory().WithEtcdLimits()
	var items []Item
	for i := range 300 {
		id := fmt.Sprintf("t%d", i)
		state := []string{"open", "closed"}[i%2]
		rev, err := st.Put(ctx, x.Items+id, []byte(state))
		if err != nil {
			t.Fatal(err)
		}
		items = append(items, Item{Entry: Entry{ID: id, At: t0.Add(time.Duration(i) * time.Minute), State: state}, Rev: rev})
	}
	want := map[string]string{}
	for _, it := range items {
		maps.Copy(want, x.entries(it.Entry))
	}
	// Drift: an entry of an item gone, an entry of a state its item left, an entry that records
	// the wrong state, garbage under the prefix, and the entries of a corrupt item.
	corruptPos := Pos(t0, "bad")
	for k, v := range map[string]string{
		x.Time + Pos(t0, "gone"):                           "open",
		x.State + "open/" + Pos(t0.Add(time.Minute), "t1"): "open",
		x.Time + Pos(t0.Add(3*time.Minute), "t3"):          "open",
		x.Time + "garbage":                                 "x",
		x.Time + corruptPos:                                "open",
		x.Items + "bad":                                    "corrupt",
	} {
		if _, err := st.Put(ctx, k, []byte(v)); err != nil {
			t.Fatal(err)
		}
	}
	kv, _ := st.Get(ctx, x.Items+"bad")
	items = append(items, Item{Entry: Entry{ID: "bad"}, Rev: kv.Rev, Opaque: true})
	want[x.Time+corruptPos] = "open"

	s, err := x.Rebuild(ctx, st, items)
	if err != nil {
		t.Fatal(err)
	}
	// 300 items × 2 entries, one of them (t3's time entry) rewritten; 3 entries deleted.
	if s.Items != 301 || s.Written != 600 || s.Removed != 3 || s.Skipped != 0 {
		t.Fatalf("stats %+v", s)
	}
	if got := indexKeys(t, st, x); !maps.Equal(got, want) {
		t.Fatalf("the index after Rebuild differs from its items:\ngot  %d keys\nwant %d keys", len(got), len(want))
	}
	if s, err := x.Rebuild(ctx, st, items); err != nil || s.Written+s.Removed+s.Skipped != 0 {
		t.Fatalf("a second Rebuild: %+v %v, want nothing to do", s, err)
	}
}

// TestRebuildLeavesItemsWrittenMeanwhile: an item changed after it was read keeps the entries its
// writer gave it, and is counted.
func TestRebuildLeavesItemsWrittenMeanwhile(t *testing.T) {
	ctx := context.Background()
	x := withState
	st := store.NewMemory()
	rev, _ := st.Put(ctx, x.Items+"t1", []byte("open"))
	items := []Item{{Entry: Entry{ID: "t1", At: t0, State: "open"}, Rev: rev}}
	put(t, st, x, "t1", "closed", t0, nil) // a writer closes it, with its entries
	s, err := x.Rebuild(ctx, st, items)
	if err != nil || s.Skipped != 1 || s.Written != 0 || s.Removed != 0 {
		t.Fatalf("stats %+v, %v", s, err)
	}
	if got := indexKeys(t, st, x); len(got) != 2 || got[x.State+"closed/"+Pos(t0, "t1")] != "closed" {
		t.Fatalf("index %v", got)
	}
}

// failingStore fails every transaction after the first n.
type failingStore struct {
	store.Store
	mu sync.Mutex
	n  int
}

var errDiskFull = errors.New("disk full")

func (f *failingStore) Txn(ctx context.Context, cmps []store.Cmp, ops []store.Op) (uint64, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	if len(ops) > store.MaxTxnOps {
		return 0, fmt.Errorf("%d ops in one transaction", len(ops))
	}
	if f.n == 0 {
		return 0, errDiskFull
	}
	f.n--
	return f.Store.Txn(ctx, cmps, ops)
}

func (f *failingStore) Put(ctx context.Context, key string, value []byte) (uint64, error) {
	return f.Txn(ctx, nil, []store.Op{{Key: key, Value: value}})
}

// TestEnsure builds the index of a store written without it, in transactions within the store's
// limits; interrupted, it is finished by the next run; once whole, it is recorded and not built
// again.
func TestEnsure(t *testing.T) {
	ctx := context.Background()
	x := withState
	mem := store.NewMemory().WithEtcdLimits()
	var ops []store.Op
	for i := range 1000 {
		ops = append(ops, store.Op{Key: fmt.Sprintf("%st%d", x.Items, i), Value: []byte([]string{"open", "closed"}[i%2])})
	}
	if _, err := store.WriteAll(ctx, mem, ops); err != nil {
		t.Fatal(err)
	}
	list := func(ctx context.Context) ([]Item, error) { return listThings(x)(ctx, mem) }

	// The first run stops after 5 transactions: no marker, part of the index.
	st := &failingStore{Store: mem, n: 5}
	built, s, err := x.Ensure(ctx, st, list)
	if !built || !errors.Is(err, errDiskFull) || s.Written == 0 || s.Written >= 2000 {
		t.Fatalf("interrupted run: %v %+v %v", built, s, err)
	}
	if _, err := mem.Get(ctx, x.Marker); !errors.Is(err, store.ErrNotFound) {
		t.Fatalf("the marker was written over a partial index: %v", err)
	}
	first := s.Written

	st.n = 1 << 30
	built, s, err = x.Ensure(ctx, st, list)
	if !built || err != nil || s.Written != 2000-first || s.Removed != 0 {
		t.Fatalf("second run: %v %+v %v, want the %d entries left", built, s, err, 2000-first)
	}
	if got := indexKeys(t, mem, x); len(got) != 2000 {
		t.Fatalf("%d index keys, want 2000", len(got))
	}
	if kv, err := mem.Get(ctx, x.Marker); err != nil || string(kv.Value) != Version {
		t.Fatalf("marker %q %v", kv.Value, err)
	}
	if built, s, err := x.Ensure(ctx, st, func(context.Context) ([]Item, error) {
		t.Fatal("items listed again with the marker in place")
		return nil, nil
	}); built || err != nil || s != (Stats{}) {
		t.Fatalf("third run: %v %+v %v", built, s, err)
	}

	// A marker of another version builds again (here: nothing to do but write the marker).
	if _, err := mem.Put(ctx, x.Marker, []byte("0")); err != nil {
		t.Fatal(err)
	}
	if built, s, err := x.Ensure(ctx, st, list); !built || err != nil || s.Written+s.Removed != 0 {
		t.Fatalf("after a version change: %v %+v %v", built, s, err)
	}
}

// TestEnsureWritesNoMarkerWhileItemsKeepChanging: when every pass meets an item changed meanwhile,
// the index is not recorded as whole.
func TestEnsureWritesNoMarkerWhileItemsKeepChanging(t *testing.T) {
	ctx := context.Background()
	x := timeOnly
	st := store.NewMemory()
	if _, err := st.Put(ctx, x.Items+"t1", []byte("open")); err != nil {
		t.Fatal(err)
	}
	passes := 0
	built, s, err := x.Ensure(ctx, st, func(ctx context.Context) ([]Item, error) {
		passes++
		items, err := listThings(x)(ctx, st)
		if _, err := st.Put(ctx, x.Items+"t1", []byte("open")); err != nil { // written again after the read
			t.Fatal(err)
		}
		return items, err
	})
	if !built || err != nil || s.Skipped != 1 || passes != ensureAttempts {
		t.Fatalf("%v %+v %v after %d passes", built, s, err, passes)
	}
	if _, err := st.Get(ctx, x.Marker); !errors.Is(err, store.ErrNotFound) {
		t.Fatalf("marker written: %v", err)
	}
}
