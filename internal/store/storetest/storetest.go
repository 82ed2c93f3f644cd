// Package storetest is the conformance suite every store.Store implementation passes: bbolt and
// the in-memory store in `make test`, etcd under the `integration` build tag. It pins down what
// the rest of the bot relies on: revisions and compare-and-set, fenced transactions, paged
// listings, watches in revision order, and the transaction limits etcd imposes, so that code
// tested on bbolt behaves the same on etcd.
package storetest

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/smartcloudops/smartcloudops/internal/store"
)

// Open returns a fresh, empty store for one test; it is closed by the test's cleanup.
type Open func(t *testing.T) store.Store

// guard bounds every wait for a watch event, so a broken watch fails the test instead of hanging.
const guard = 20 * time.Second

// Run runs the whole suite against the stores open returns.
func Run(t *testing.T, open Open) {
	for _, tc := range []struct {
		name string
		fn   func(*testing.T, store.Store)
	}{
		{"Semantics", testSemantics},
		{"CASRace", testCASRace},
		{"ModifyUnderContention", testModify},
		{"RemoveKeepsWhatChanged", testRemove},
		{"Limits", testLimits},
		{"Fence", testFence},
		{"FencedView", testFencedView},
		{"ListPage", testListPage},
		{"Sequence", testSeq},
		{"Watch", testWatch},
		{"WatchFromRevision", testWatchFrom},
	} {
		t.Run(tc.name, func(t *testing.T) { tc.fn(t, open(t)) })
	}
}

func testSemantics(t *testing.T, s store.Store) {
	ctx := context.Background()
	if _, err := s.Get(ctx, "a/1"); !errors.Is(err, store.ErrNotFound) {
		t.Fatalf("Get missing: %v", err)
	}
	r1, err := s.Put(ctx, "a/1", []byte("one"))
	if err != nil || r1 == 0 {
		t.Fatalf("Put: %d %v", r1, err)
	}
	kv, err := s.Get(ctx, "a/1")
	if err != nil || string(kv.Value) != "one" || kv.Rev != r1 {
		t.Fatalf("Get: %+v %v", kv, err)
	}
	// Create-if-absent fails when present.
	if _, err := s.Txn(ctx, []store.Cmp{{Key: "a/1", Rev: 0}}, []store.Op{{Key: "a/1", Value: []byte("x")}}); !errors.Is(err, store.ErrConflict) {
		t.Fatalf("Txn on stale rev: %v", err)
	}
	// CAS at the read revision succeeds and bumps it.
	r2, err := s.Txn(ctx, []store.Cmp{{Key: "a/1", Rev: r1}}, []store.Op{{Key: "a/1", Value: []byte("two")}, {Key: "a/2", Value: []byte("b")}})
	if err != nil || r2 <= r1 {
		t.Fatalf("Txn: %d %v", r2, err)
	}
	// The old revision is now stale; nothing of a failed Txn is applied.
	if _, err := s.Txn(ctx, []store.Cmp{{Key: "a/1", Rev: r1}}, []store.Op{{Key: "a/3", Value: []byte("c")}}); !errors.Is(err, store.ErrConflict) {
		t.Fatalf("stale CAS: %v", err)
	}
	if _, err := s.Get(ctx, "a/3"); !errors.Is(err, store.ErrNotFound) {
		t.Fatal("failed Txn applied a write")
	}
	if _, err := s.Put(ctx, "b/1", []byte("other")); err != nil {
		t.Fatal(err)
	}
	list, err := s.List(ctx, "a/")
	if err != nil || len(list) != 2 || list[0].Key != "a/1" || list[1].Key != "a/2" || string(list[0].Value) != "two" || list[0].Rev != r2 {
		t.Fatalf("List: %+v %v", list, err)
	}
	if err := s.Delete(ctx, "a/2"); err != nil {
		t.Fatal(err)
	}
	if err := s.Delete(ctx, "a/nope"); err != nil {
		t.Fatalf("delete absent: %v", err)
	}
	if list, _ := s.List(ctx, "a/"); len(list) != 1 {
		t.Fatalf("after delete: %+v", list)
	}
	if _, err := s.Put(ctx, "", nil); err == nil {
		t.Fatal("empty key accepted")
	}
	// An empty value is a stored key, not an absent one.
	if _, err := s.Put(ctx, "a/empty", nil); err != nil {
		t.Fatal(err)
	}
	if kv, err := s.Get(ctx, "a/empty"); err != nil || len(kv.Value) != 0 || kv.Rev == 0 {
		t.Fatalf("empty value: %+v %v", kv, err)
	}
}

// testCASRace has many writers race to move one key from the same revision: exactly one wins.
func testCASRace(t *testing.T, s store.Store) {
	ctx := context.Background()
	rev, err := s.Put(ctx, "p", []byte("pending"))
	if err != nil {
		t.Fatal(err)
	}
	var wins atomic.Int32
	var wg sync.WaitGroup
	for i := range 32 {
		wg.Go(func() {
			_, err := s.Txn(ctx, []store.Cmp{{Key: "p", Rev: rev}}, []store.Op{{Key: "p", Value: fmt.Appendf(nil, "approved by %d", i)}})
			if err == nil {
				wins.Add(1)
			} else if !errors.Is(err, store.ErrConflict) {
				t.Error(err)
			}
		})
	}
	wg.Wait()
	if wins.Load() != 1 {
		t.Fatalf("%d writers won, want 1", wins.Load())
	}
}

// testModify increments one counter from many goroutines: no update is lost.
func testModify(t *testing.T, s store.Store) {
	ctx := context.Background()
	var wg sync.WaitGroup
	for range 20 {
		wg.Go(func() {
			_, err := store.Modify(ctx, s, "n", func(old []byte) ([]byte, error) {
				n, _ := strconv.Atoi(string(old))
				return strconv.AppendInt(nil, int64(n+1), 10), nil
			})
			if err != nil {
				t.Error(err)
			}
		})
	}
	wg.Wait()
	kv, _ := s.Get(ctx, "n")
	if string(kv.Value) != "20" {
		t.Fatalf("counter %q after 20 increments", kv.Value)
	}
	if rev, err := store.Modify(ctx, s, "n", func([]byte) ([]byte, error) { return nil, store.ErrNoChange }); rev != 0 || err != nil {
		t.Fatalf("ErrNoChange wrote: %d %v", rev, err)
	}
}

// testRemove checks that Remove deletes every item still at its revision, with its extra keys,
// across batches that stay within the transaction limits, and keeps an item written after it was
// chosen.
func testRemove(t *testing.T, s store.Store) {
	ctx := context.Background()
	var rs []store.Removal
	n := 2*store.MaxTxnOps + 10
	var ops []store.Op
	for i := range n {
		key := fmt.Sprintf("item/%04d", i)
		ops = append(ops, store.Op{Key: key, Value: []byte("v")}, store.Op{Key: "index/" + key, Value: []byte("i")})
		if len(ops) == store.MaxTxnOps || i == n-1 {
			if _, err := s.Txn(ctx, nil, ops); err != nil {
				t.Fatal(err)
			}
			ops = nil
		}
	}
	items, err := s.List(ctx, "item/")
	if err != nil || len(items) != n {
		t.Fatalf("listed %d items, %v", len(items), err)
	}
	for _, kv := range items {
		rs = append(rs, store.Removal{Cmp: store.Cmp{Key: kv.Key, Rev: kv.Rev},
			Ops: []store.Op{{Key: kv.Key, Delete: true}, {Key: "index/" + kv.Key, Delete: true}}})
	}
	// Written after it was chosen: its batch conflicts and must keep only this one.
	if _, err := s.Put(ctx, "item/0003", []byte("newer")); err != nil {
		t.Fatal(err)
	}
	removed, err := store.Remove(ctx, s, rs)
	if err != nil || len(removed) != n-1 || slices.Contains(removed, 3) || removed[3] != 4 {
		t.Fatalf("removed %d items (%v), %v; want every index but 3", len(removed), removed, err)
	}
	items, _ = s.List(ctx, "item/")
	index, _ := s.List(ctx, "index/")
	if len(items) != 1 || items[0].Key != "item/0003" || string(items[0].Value) != "newer" || len(index) != 1 {
		t.Fatalf("left %v and %d index keys, want only item/0003 and its index", items, len(index))
	}
}

func testLimits(t *testing.T, s store.Store) {
	ctx := context.Background()
	puts := func(n int, prefix string) []store.Op {
		var ops []store.Op
		for i := range n {
			ops = append(ops, store.Op{Key: fmt.Sprintf("%s/%03d", prefix, i), Value: []byte("v")})
		}
		return ops
	}
	if _, err := s.Txn(ctx, nil, puts(store.MaxTxnOps, "full")); err != nil {
		t.Fatalf("a transaction of %d puts: %v", store.MaxTxnOps, err)
	}
	_, err := s.Txn(ctx, nil, puts(store.MaxTxnOps+1, "over"))
	if !errors.Is(err, store.ErrTooManyOps) || !strings.Contains(err.Error(), "129 writes") {
		t.Fatalf("%d puts: %v, want ErrTooManyOps saying how many", store.MaxTxnOps+1, err)
	}
	var cmps []store.Cmp
	for i := range store.MaxTxnOps {
		cmps = append(cmps, store.Cmp{Key: fmt.Sprintf("full/%03d", i), Rev: 0})
	}
	if _, err := s.Txn(ctx, cmps, nil); !errors.Is(err, store.ErrConflict) {
		t.Fatalf("%d comparisons: %v, want them evaluated (ErrConflict)", len(cmps), err)
	}
	fenceRev, err := s.Put(ctx, "fence/limits", []byte("me"))
	if err != nil {
		t.Fatal(err)
	}
	// The fence is a comparison too: with it, 128 comparisons are one too many.
	if _, err := s.FencedTxn(ctx, store.Fence{Key: "fence/limits", Rev: fenceRev}, cmps, nil); !errors.Is(err, store.ErrTooManyOps) {
		t.Fatalf("fenced transaction with %d comparisons: %v, want ErrTooManyOps", len(cmps), err)
	}
	if _, err := s.Txn(ctx, nil, []store.Op{{Key: "dup", Value: []byte("1")}, {Key: "dup", Delete: true}}); err == nil || !strings.Contains(err.Error(), `"dup"`) {
		t.Fatalf("a key written twice: %v, want an error naming it", err)
	}
	big := make([]byte, store.MaxTxnBytes)
	_, err = s.Put(ctx, "big/one", big)
	if !errors.Is(err, store.ErrTooLarge) || !strings.Contains(err.Error(), `"big/one"`) || !strings.Contains(err.Error(), strconv.Itoa(len(big))) {
		t.Fatalf("oversized value: %v, want ErrTooLarge naming the key and its size", err)
	}
	half := make([]byte, store.MaxTxnBytes/2)
	_, err = s.Txn(ctx, nil, []store.Op{{Key: "big/a", Value: half}, {Key: "big/b", Value: half}})
	if !errors.Is(err, store.ErrTooLarge) {
		t.Fatalf("oversized transaction: %v, want ErrTooLarge", err)
	}
	if list, _ := s.List(ctx, "big/"); len(list) != 0 {
		t.Fatalf("a refused transaction wrote %d keys", len(list))
	}
	if list, _ := s.List(ctx, "over/"); len(list) != 0 {
		t.Fatalf("a refused transaction wrote %d keys", len(list))
	}
	// Just under the limit is stored whole, never truncated.
	fit := make([]byte, store.MaxTxnBytes/2-1024)
	for i := range fit {
		fit[i] = byte(i)
	}
	if _, err := s.Txn(ctx, nil, []store.Op{{Key: "big/a", Value: fit}, {Key: "big/b", Value: fit}}); err != nil {
		t.Fatalf("a transaction just under the limit: %v", err)
	}
	if kv, err := s.Get(ctx, "big/b"); err != nil || len(kv.Value) != len(fit) || kv.Value[len(fit)-1] != fit[len(fit)-1] {
		t.Fatalf("large value read back with %d bytes, %v", len(kv.Value), err)
	}
}

func testFence(t *testing.T, s store.Store) {
	ctx := context.Background()
	rev, err := s.Put(ctx, "leader/a", []byte("replica-a"))
	if err != nil {
		t.Fatal(err)
	}
	fence := store.Fence{Key: "leader/a", Rev: rev}
	r, err := s.FencedTxn(ctx, fence, []store.Cmp{{Key: "x", Rev: 0}}, []store.Op{{Key: "x", Value: []byte("1")}})
	if err != nil || r <= rev {
		t.Fatalf("write under a held fence: %d %v", r, err)
	}
	if _, err := s.FencedTxn(ctx, fence, []store.Cmp{{Key: "x", Rev: 0}}, []store.Op{{Key: "x", Value: []byte("2")}}); !errors.Is(err, store.ErrConflict) {
		t.Fatalf("stale comparison under a held fence: %v, want ErrConflict", err)
	}
	if _, err := s.FencedTxn(ctx, store.Fence{Key: "leader/a", Rev: rev + 1000}, nil, []store.Op{{Key: "y", Value: []byte("1")}}); !errors.Is(err, store.ErrFenced) {
		t.Fatalf("wrong fence revision: %v, want ErrFenced", err)
	}
	if _, err := s.FencedTxn(ctx, store.Fence{}, nil, []store.Op{{Key: "y", Value: []byte("1")}}); err == nil || errors.Is(err, store.ErrConflict) {
		t.Fatalf("zero fence: %v, want a refusal", err)
	}
	if err := s.Delete(ctx, "leader/a"); err != nil {
		t.Fatal(err)
	}
	// Both the fence and the comparison fail: the writer learns it was deposed.
	if _, err := s.FencedTxn(ctx, fence, []store.Cmp{{Key: "x", Rev: 0}}, []store.Op{{Key: "x", Value: []byte("3")}}); !errors.Is(err, store.ErrFenced) || errors.Is(err, store.ErrConflict) {
		t.Fatalf("write after the election key was deleted: %v, want ErrFenced", err)
	}
	// A new term creates the key again at a new revision: the old fence stays invalid.
	if _, err := s.Put(ctx, "leader/a", []byte("replica-a")); err != nil {
		t.Fatal(err)
	}
	if _, err := s.FencedTxn(ctx, fence, nil, []store.Op{{Key: "y", Value: []byte("late")}}); !errors.Is(err, store.ErrFenced) {
		t.Fatalf("write with the previous term's fence: %v, want ErrFenced", err)
	}
	if _, err := s.Get(ctx, "y"); !errors.Is(err, store.ErrNotFound) {
		t.Fatalf("a fenced-out write landed: %v", err)
	}
	if kv, _ := s.Get(ctx, "x"); string(kv.Value) != "1" {
		t.Fatalf("x = %q, want only the first term's write", kv.Value)
	}
}

func testFencedView(t *testing.T, s store.Store) {
	ctx := context.Background()
	rev, err := s.Put(ctx, "leader/v", nil)
	if err != nil {
		t.Fatal(err)
	}
	notLeader := errors.New("not the leader")
	var fence atomic.Pointer[store.Fence]
	fence.Store(&store.Fence{Key: "leader/v", Rev: rev})
	v := store.Fenced(s, func() (store.Fence, error) {
		if f := fence.Load(); f != nil {
			return *f, nil
		}
		return store.Fence{}, notLeader
	})
	if _, err := v.Put(ctx, "w/1", []byte("a")); err != nil {
		t.Fatal(err)
	}
	if _, err := store.Modify(ctx, v, "w/1", func(old []byte) ([]byte, error) { return append(old, 'b'), nil }); err != nil {
		t.Fatal(err)
	}
	if kv, err := v.Get(ctx, "w/1"); err != nil || string(kv.Value) != "ab" {
		t.Fatalf("read through the view: %+v %v", kv, err)
	}
	if err := s.Delete(ctx, "leader/v"); err != nil {
		t.Fatal(err)
	}
	if _, err := v.Put(ctx, "w/2", nil); !errors.Is(err, store.ErrFenced) {
		t.Fatalf("Put after the term ended: %v", err)
	}
	if err := v.Delete(ctx, "w/1"); !errors.Is(err, store.ErrFenced) {
		t.Fatalf("Delete after the term ended: %v", err)
	}
	if _, err := store.Modify(ctx, v, "w/1", func(old []byte) ([]byte, error) { return nil, nil }); !errors.Is(err, store.ErrFenced) {
		t.Fatalf("Modify after the term ended: %v (it must not retry a fence as a conflict)", err)
	}
	fence.Store(nil)
	if _, err := v.Put(ctx, "w/3", nil); !errors.Is(err, notLeader) {
		t.Fatalf("Put while not leading: %v", err)
	}
}

// testSeq: a sequence's transactions are written in order, each compared against what the one
// before it left (PrevRev); one whose comparisons fail stops the sequence there, and a fenced
// view fences every one of them.
func testSeq(t *testing.T, s store.Store) {
	ctx := context.Background()
	link := func(i int) store.SeqTxn {
		rev := uint64(store.PrevRev)
		if i == 0 {
			rev = 0
		}
		return store.SeqTxn{Cmps: []store.Cmp{{Key: "seq/head", Rev: rev}},
			Ops: []store.Op{{Key: "seq/head", Value: []byte{byte('0' + i)}}, {Key: fmt.Sprintf("seq/%d", i), Value: nil}}}
	}
	revs, err := store.TxnSeq(ctx, s, []store.SeqTxn{link(0), link(1), link(2)})
	if err != nil || len(revs) != 3 || !(revs[0] < revs[1] && revs[1] < revs[2]) {
		t.Fatalf("chained sequence: revisions %v, %v", revs, err)
	}
	if kv, err := s.Get(ctx, "seq/head"); err != nil || kv.Rev != revs[2] || string(kv.Value) != "2" {
		t.Fatalf("head after the sequence: %+v %v, want the third's revision %d", kv, err, revs[2])
	}
	// The second's comparison fails: the first is written, the rest not.
	bad := link(4)
	bad.Cmps = append(bad.Cmps, store.Cmp{Key: "seq/absent", Rev: 12345})
	first := link(3)
	first.Cmps[0].Rev = revs[2]
	revs, err = store.TxnSeq(ctx, s, []store.SeqTxn{first, bad, link(5)})
	if !errors.Is(err, store.ErrConflict) || len(revs) != 1 {
		t.Fatalf("broken sequence: revisions %v, %v; want the first alone and a conflict", revs, err)
	}
	for key, want := range map[string]bool{"seq/3": true, "seq/4": false, "seq/5": false} {
		if _, err := s.Get(ctx, key); (err == nil) != want {
			t.Fatalf("%s written: %v, want %v", key, err == nil, want)
		}
	}
	// A stale first comparison writes nothing.
	if revs, err := store.TxnSeq(ctx, s, []store.SeqTxn{link(0), link(1)}); !errors.Is(err, store.ErrConflict) || len(revs) != 0 {
		t.Fatalf("stale sequence: %v %v", revs, err)
	}
	// Through a fenced view, after the term, nothing is written.
	rev, err := s.Put(ctx, "seq/leader", nil)
	if err != nil {
		t.Fatal(err)
	}
	v := store.ContextFenced(s)
	fctx := store.WithFence(ctx, store.Fence{Key: "seq/leader", Rev: rev})
	kv, _ := s.Get(ctx, "seq/head")
	first = link(6)
	first.Cmps[0].Rev = kv.Rev
	if revs, err := store.TxnSeq(fctx, v, []store.SeqTxn{first, link(7)}); err != nil || len(revs) != 2 {
		t.Fatalf("fenced sequence in its term: %v %v", revs, err)
	}
	if err := s.Delete(ctx, "seq/leader"); err != nil {
		t.Fatal(err)
	}
	kv, _ = s.Get(ctx, "seq/head")
	first = link(8)
	first.Cmps[0].Rev = kv.Rev
	if revs, err := store.TxnSeq(fctx, v, []store.SeqTxn{first, link(9)}); !errors.Is(err, store.ErrFenced) || len(revs) != 0 {
		t.Fatalf("fenced sequence after its term: %v %v", revs, err)
	}
}

func testListPage(t *testing.T, s store.Store) {
	ctx := context.Background()
	var ops []store.Op
	for i := range 25 {
		ops = append(ops, store.Op{Key: fmt.Sprintf("p/%02d", i), Value: []byte(strconv.Itoa(i))})
	}
	ops = append(ops, store.Op{Key: "o/1"}, store.Op{Key: "q/1"}, store.Op{Key: "p"})
	rev, err := s.Txn(ctx, nil, ops)
	if err != nil {
		t.Fatal(err)
	}
	var got []string
	after := ""
	for pages := 0; ; pages++ {
		if pages > 3 {
			t.Fatalf("more than 3 pages of 10 for 25 keys: %v", got)
		}
		p, err := s.ListPage(ctx, "p/", after, 10)
		if err != nil {
			t.Fatal(err)
		}
		if p.Rev < rev {
			t.Fatalf("page revision %d is before the write at %d", p.Rev, rev)
		}
		for _, kv := range p.KVs {
			got = append(got, kv.Key)
		}
		if p.Next == "" {
			break
		}
		if len(p.KVs) != 10 || p.Next != p.KVs[9].Key {
			t.Fatalf("a full page has %d keys and next %q", len(p.KVs), p.Next)
		}
		after = p.Next
	}
	if len(got) != 25 || got[0] != "p/00" || got[24] != "p/24" || !slices.IsSorted(got) {
		t.Fatalf("paged listing: %v", got)
	}
	p, err := s.ListPage(ctx, "p/", "p/19", 5)
	if err != nil || len(p.KVs) != 5 || p.KVs[0].Key != "p/20" || p.Next != "" || string(p.KVs[0].Value) != "20" {
		t.Fatalf("last page, exactly full: %+v %v", p, err)
	}
	if p, err := s.ListPage(ctx, "p/", "p/24", 5); err != nil || len(p.KVs) != 0 || p.Next != "" {
		t.Fatalf("past the end: %+v %v", p, err)
	}
	if p, err := s.ListPage(ctx, "none/", "", 5); err != nil || len(p.KVs) != 0 || p.Next != "" {
		t.Fatalf("empty prefix: %+v %v", p, err)
	}
}

// next returns the next watch response or fails the test after guard.
func next(t *testing.T, ch <-chan store.WatchResponse) store.WatchResponse {
	t.Helper()
	select {
	case r, ok := <-ch:
		if !ok {
			t.Fatal("watch channel closed")
		}
		return r
	case <-time.After(guard):
		t.Fatalf("no watch response within %s", guard)
	}
	return store.WatchResponse{}
}

// collect reads watch responses until it has n events.
func collect(t *testing.T, ch <-chan store.WatchResponse, n int) []store.Event {
	t.Helper()
	var evs []store.Event
	for len(evs) < n {
		r := next(t, ch)
		if r.Err != nil {
			t.Fatalf("watch ended after %d events: %v", len(evs), r.Err)
		}
		evs = append(evs, r.Events...)
	}
	if len(evs) != n {
		t.Fatalf("got %d events, want %d: %v", len(evs), n, evs)
	}
	return evs
}

func describe(evs []store.Event) string {
	var b strings.Builder
	for _, ev := range evs {
		fmt.Fprintf(&b, "%s %s=%s; ", ev.Type, ev.KV.Key, ev.KV.Value)
	}
	return b.String()
}

func testWatch(t *testing.T, s store.Store) {
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	if _, err := s.Put(ctx, "inbox/old", []byte("before")); err != nil {
		t.Fatal(err)
	}
	ch := s.Watch(ctx, "inbox/", 0)
	r1, err := s.Put(ctx, "inbox/1", []byte("click"))
	if err != nil {
		t.Fatal(err)
	}
	if _, err := s.Put(ctx, "elsewhere/1", []byte("x")); err != nil {
		t.Fatal(err)
	}
	r2, err := s.Txn(ctx, nil, []store.Op{{Key: "inbox/2", Value: []byte("cmd")}, {Key: "inbox/1", Delete: true}, {Key: "inbox/absent", Delete: true}})
	if err != nil {
		t.Fatal(err)
	}
	r3, err := s.Put(ctx, "inbox/2", []byte("cmd2"))
	if err != nil {
		t.Fatal(err)
	}
	evs := collect(t, ch, 4)
	want := "put inbox/1=click; put inbox/2=cmd; delete inbox/1=; put inbox/2=cmd2; "
	if got := describe(evs); got != want {
		t.Fatalf("events %q, want %q", got, want)
	}
	for i, wantRev := range []uint64{r1, r2, r2, r3} {
		if evs[i].KV.Rev != wantRev {
			t.Errorf("event %d at revision %d, want %d", i, evs[i].KV.Rev, wantRev)
		}
	}
	cancel()
	for {
		select {
		case _, ok := <-ch:
			if !ok {
				return
			}
		case <-time.After(guard):
			t.Fatal("the watch channel stayed open after its context ended")
		}
	}
}

// testWatchFrom lists, then watches from the listing's revision + 1: the pattern a leader uses
// to act on everything written while it was not watching, exactly once.
func testWatchFrom(t *testing.T, s store.Store) {
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	r1, err := s.Put(ctx, "q/a", []byte("1"))
	if err != nil {
		t.Fatal(err)
	}
	if _, err := s.Put(ctx, "q/b", []byte("2")); err != nil {
		t.Fatal(err)
	}
	// From a past revision: the changes since then are replayed, in order.
	evs := collect(t, s.Watch(ctx, "q/", r1), 2)
	if got := describe(evs); got != "put q/a=1; put q/b=2; " {
		t.Fatalf("replayed %q", got)
	}
	page, err := s.ListPage(ctx, "q/", "", 100)
	if err != nil {
		t.Fatal(err)
	}
	ch := s.Watch(ctx, "q/", page.Rev+1)
	if _, err := s.Put(ctx, "q/c", []byte("3")); err != nil {
		t.Fatal(err)
	}
	if got := describe(collect(t, ch, 1)); got != "put q/c=3; " {
		t.Fatalf("after the listing: %q", got)
	}
}
