package audit

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/smartcloudops/smartcloudops/internal/store"
)

func filled(t *testing.T, n int) (*Log, *store.Memory) {
	t.Helper()
	st := store.NewMemory()
	l, err := New(Options{Store: st})
	if err != nil {
		t.Fatal(err)
	}
	for i := range n {
		if _, err := l.Append(context.Background(), Record{Kind: "proposal.created", Proposal: fmt.Sprintf("p-%d", i), User: "console:alice"}); err != nil {
			t.Fatal(err)
		}
	}
	return l, st
}

func TestVerifyIntact(t *testing.T) {
	l, _ := filled(t, 5)
	n, err := l.Verify(context.Background())
	if err != nil || n != 5 {
		t.Fatalf("Verify = %d, %v", n, err)
	}
	recs, _ := l.List(context.Background(), Filter{Proposal: "p-3"})
	if len(recs) != 1 || recs[0].Seq != 4 {
		t.Fatalf("List filter: %+v", recs)
	}
}

func TestVerifyDetectsTampering(t *testing.T) {
	ctx := context.Background()
	edit := func(st *store.Memory, seq uint64, fn func(*Record)) {
		kv, _ := st.Get(ctx, recordKey(seq))
		var r Record
		json.Unmarshal(kv.Value, &r)
		fn(&r)
		b, _ := json.Marshal(r)
		st.Put(ctx, recordKey(seq), b)
	}
	cases := map[string]struct {
		tamper func(st *store.Memory)
		want   string
	}{
		"edited field":    {func(st *store.Memory) { edit(st, 2, func(r *Record) { r.User = "console:mallory" }) }, "record 2 was altered"},
		"edited + rehash": {func(st *store.Memory) { edit(st, 2, func(r *Record) { r.Outcome = "ok"; r.Hash = hashOf(*r) }) }, "record 3 does not follow"},
		"removed middle":  {func(st *store.Memory) { st.Delete(ctx, recordKey(3)) }, "record 3 is missing"},
		"removed last":    {func(st *store.Memory) { st.Delete(ctx, recordKey(5)) }, "head names record 5"},
		"removed head":    {func(st *store.Memory) { st.Delete(ctx, headKey) }, "head is missing"},
		"garbage":         {func(st *store.Memory) { st.Put(ctx, recordKey(1), []byte("{")) }, "not valid JSON"},
		"moved":           {func(st *store.Memory) { kv, _ := st.Get(ctx, recordKey(5)); st.Put(ctx, recordKey(6), kv.Value) }, "claims seq 5"},
	}
	for name, c := range cases {
		t.Run(name, func(t *testing.T) {
			l, st := filled(t, 5)
			c.tamper(st)
			_, err := l.Verify(ctx)
			if err == nil || !strings.Contains(err.Error(), c.want) {
				t.Fatalf("Verify = %v, want %q", err, c.want)
			}
		})
	}
}

func TestConcurrentAppendsChain(t *testing.T) {
	l, _ := filled(t, 0)
	var wg sync.WaitGroup
	for i := range 20 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			if _, err := l.Append(context.Background(), Record{Kind: "x", Detail: fmt.Sprint(i)}); err != nil {
				t.Error(err)
			}
		}()
	}
	wg.Wait()
	if n, err := l.Verify(context.Background()); err != nil || n != 20 {
		t.Fatalf("Verify = %d, %v", n, err)
	}
}

// countingStore counts transactions.
type countingStore struct {
	store.Store
	txns atomic.Int64
	// first, when set, runs before the first transaction.
	first func()
}

func (c *countingStore) Txn(ctx context.Context, cmps []store.Cmp, ops []store.Op) (uint64, error) {
	if c.txns.Add(1) == 1 && c.first != nil {
		c.first()
	}
	return c.Store.Txn(ctx, cmps, ops)
}

// TestConcurrentAppendsShareCommits: appends that arrive together are written in shared
// transactions within etcd's limits, the chain stays whole, and each caller's own writes land
// with its record.
func TestConcurrentAppendsShareCommits(t *testing.T) {
	ctx := context.Background()
	st := &countingStore{Store: store.NewMemory().WithEtcdLimits()}
	l, err := New(Options{Store: st})
	if err != nil {
		t.Fatal(err)
	}
	const n = 400
	// The first commit is held until every other append is waiting behind it, as happens when a
	// burst arrives during a slow fsync; they must then share the next transactions.
	st.first = func() {
		deadline := time.Now().Add(30 * time.Second)
		for {
			l.qmu.Lock()
			queued := len(l.queue)
			l.qmu.Unlock()
			if queued == n-1 || time.Now().After(deadline) {
				return
			}
			time.Sleep(time.Millisecond)
		}
	}
	var wg sync.WaitGroup
	for i := range n {
		wg.Add(1)
		go func() {
			defer wg.Done()
			key := fmt.Sprintf("items/%03d", i)
			if _, _, err := l.AppendWith(ctx, Record{Kind: "item.created"}, []store.Cmp{{Key: key, Rev: 0}},
				[]store.Op{{Key: key, Value: []byte("x")}}); err != nil {
				t.Error(err)
			}
		}()
	}
	wg.Wait()
	got, err := l.Verify(ctx)
	if err != nil || got != n {
		t.Fatalf("Verify: %d records, %v; want %d", got, err, n)
	}
	items, _ := st.List(ctx, "items/")
	if len(items) != n {
		t.Fatalf("%d of the callers' keys written, want %d", len(items), n)
	}
	if txns := st.txns.Load(); txns > n/10 {
		t.Errorf("%d transactions for %d concurrent appends: too little was shared", txns, n)
	}
	// A caller whose condition no longer holds fails alone.
	if _, _, err := l.AppendWith(ctx, Record{Kind: "item.created"}, []store.Cmp{{Key: "items/000", Rev: 0}},
		[]store.Op{{Key: "items/000", Value: []byte("y")}}); !errors.Is(err, store.ErrConflict) {
		t.Fatalf("a stale condition: %v, want ErrConflict", err)
	}
}

// TestAppendAllSharesCommitsInOrder: a batch of records is appended in its order, in as few
// transactions as etcd's limits allow, and the chain stays whole.
func TestAppendAllSharesCommitsInOrder(t *testing.T) {
	ctx := context.Background()
	st := &countingStore{Store: store.NewMemory().WithEtcdLimits()}
	l, err := New(Options{Store: st})
	if err != nil {
		t.Fatal(err)
	}
	const n = 300
	rs := make([]Record, n)
	for i := range rs {
		rs[i] = Record{Kind: "incident.opened", Incident: fmt.Sprintf("inc-%03d", i)}
	}
	if err := l.AppendAll(ctx, rs); err != nil {
		t.Fatal(err)
	}
	if txns, most := st.txns.Load(), int64((n+store.MaxTxnOps-3)/(store.MaxTxnOps-2)); txns > most {
		t.Errorf("%d transactions for a batch of %d records, want at most %d", txns, n, most)
	}
	got, err := l.Verify(ctx)
	if err != nil || got != n {
		t.Fatalf("Verify: %d records, %v; want %d", got, err, n)
	}
	recs, err := l.List(ctx, Filter{})
	if err != nil || len(recs) != n {
		t.Fatalf("List: %d records, %v", len(recs), err)
	}
	for i, r := range recs {
		if want := fmt.Sprintf("inc-%03d", i); r.Incident != want || r.Seq != uint64(i+1) {
			t.Fatalf("record %d is %s (seq %d), want %s", i, r.Incident, r.Seq, want)
		}
	}
}

// TestSequenceConflictMidway: when one append's own condition fails in a transaction in the
// middle of a sequence, that append fails alone; the transactions before it stay written and
// those after it are written on the head it left, so the chain stays whole, in order.
func TestSequenceConflictMidway(t *testing.T) {
	ctx := context.Background()
	bolt, err := store.OpenBolt(t.TempDir()+"/a.db", store.BoltOptions{EtcdLimits: true})
	if err != nil {
		t.Fatal(err)
	}
	defer bolt.Close()
	for name, st := range map[string]store.Store{"memory": store.NewMemory().WithEtcdLimits(), "bolt": bolt} {
		t.Run(name, func(t *testing.T) {
			l, err := New(Options{Store: st})
			if err != nil {
				t.Fatal(err)
			}
			if _, err := st.Put(ctx, "items/taken", []byte("x")); err != nil {
				t.Fatal(err)
			}
			const n, stale = 300, 170 // about 40 appends a transaction: the fifth of eight
			reqs := make([]*appendReq, n)
			for i := range reqs {
				key := fmt.Sprintf("items/%03d", i)
				if i == stale {
					key = "items/taken"
				}
				reqs[i] = &appendReq{ctx: ctx, r: l.fill(ctx, Record{Kind: "item.created", Proposal: fmt.Sprint(i)}),
					cmps: []store.Cmp{{Key: key, Rev: 0}}, ops: []store.Op{{Key: key, Value: []byte("y")}}}
			}
			l.enqueue(reqs...)
			for i, req := range reqs {
				if i == stale {
					if !errors.Is(req.err, store.ErrConflict) {
						t.Fatalf("the stale append: %v, want ErrConflict", req.err)
					}
					continue
				}
				if req.err != nil || !req.done {
					t.Fatalf("append %d: done %v, %v", i, req.done, req.err)
				}
			}
			got, err := l.Verify(ctx)
			if err != nil || got != n-1 {
				t.Fatalf("Verify: %d records, %v; want %d", got, err, n-1)
			}
			recs, err := l.List(ctx, Filter{})
			if err != nil {
				t.Fatal(err)
			}
			prev := -1
			for _, r := range recs {
				var i int
				fmt.Sscan(r.Proposal, &i)
				if i <= prev {
					t.Fatalf("record of append %d after that of %d", i, prev)
				}
				prev = i
			}
		})
	}
}
