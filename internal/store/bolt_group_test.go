package store

import (
	"context"
	"errors"
	"fmt"
	"path/filepath"
	"runtime"
	"strings"
	"sync"
	"testing"
)

// queueWhileBusy holds the turn to commit while txns are queued behind it, as they are while a
// commit is being written, then lets them go and returns each one's revision and error.
func queueWhileBusy(t *testing.T, s *Bolt, txns []func() (uint64, error)) ([]uint64, []error) {
	t.Helper()
	revs, errs := make([]uint64, len(txns)), make([]error, len(txns))
	s.wmu.Lock()
	var wg sync.WaitGroup
	for i, fn := range txns {
		wg.Go(func() { revs[i], errs[i] = fn() })
	}
	for {
		s.qmu.Lock()
		n := len(s.queue)
		s.qmu.Unlock()
		if n == len(txns) {
			break
		}
		runtime.Gosched()
	}
	s.wmu.Unlock()
	wg.Wait()
	return revs, errs
}

func openGroupBolt(t *testing.T, limits bool) *Bolt {
	t.Helper()
	s, err := OpenBolt(filepath.Join(t.TempDir(), "g.db"), BoltOptions{EtcdLimits: limits})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		if err := s.Check(); err != nil {
			t.Errorf("consistency: %v", err)
		}
		s.Close()
	})
	return s
}

// Transactions queued behind a commit are written together with one sync, each with a revision
// of its own, and a watcher sees them in that order.
func TestBoltGroupCommitSharesOneSync(t *testing.T) {
	ctx := context.Background()
	s := openGroupBolt(t, true)
	w := s.Watch(ctx, "k/", 1)
	before := s.syncs.Load()
	const n = 20
	txns := make([]func() (uint64, error), n)
	for i := range txns {
		txns[i] = func() (uint64, error) {
			return s.Txn(ctx, []Cmp{{Key: fmt.Sprintf("k/%02d", i), Rev: 0}}, []Op{{Key: fmt.Sprintf("k/%02d", i), Value: []byte("v")}})
		}
	}
	revs, errs := queueWhileBusy(t, s, txns)
	if got := s.syncs.Load() - before; got != 1 {
		t.Fatalf("%d queued transactions took %d syncs, want 1", n, got)
	}
	seen := map[uint64]bool{}
	for i := range n {
		if errs[i] != nil || revs[i] == 0 || seen[revs[i]] {
			t.Fatalf("txn %d: rev %d err %v (revisions %v)", i, revs[i], errs[i], revs)
		}
		seen[revs[i]] = true
		kv, err := s.Get(ctx, fmt.Sprintf("k/%02d", i))
		if err != nil || kv.Rev != revs[i] {
			t.Fatalf("k/%02d: %+v %v, want rev %d", i, kv, err, revs[i])
		}
	}
	var last uint64
	for got := 0; got < n; {
		resp := <-w
		for _, ev := range resp.Events {
			if ev.KV.Rev <= last {
				t.Fatalf("watch: rev %d after %d", ev.KV.Rev, last)
			}
			last = ev.KV.Rev
			got++
		}
	}
}

// In a group, a transaction whose comparison fails, or that bbolt refuses, fails alone; a later
// transaction of the group sees the writes of an earlier one.
func TestBoltGroupCommitFailsAlone(t *testing.T) {
	ctx := context.Background()
	s := openGroupBolt(t, false)
	if _, err := s.Put(ctx, "taken", []byte("x")); err != nil {
		t.Fatal(err)
	}
	huge := strings.Repeat("k", 40000) // over bbolt's key size limit
	txns := []func() (uint64, error){
		func() (uint64, error) { return s.Txn(ctx, nil, []Op{{Key: "a", Value: []byte("1")}}) },
		func() (uint64, error) {
			return s.Txn(ctx, []Cmp{{Key: "taken", Rev: 0}}, []Op{{Key: "taken", Value: []byte("y")}})
		},
		func() (uint64, error) { return s.Txn(ctx, nil, []Op{{Key: huge, Value: []byte("1")}}) },
		func() (uint64, error) { return s.Txn(ctx, nil, []Op{{Key: "b", Value: []byte("2")}}) },
	}
	_, errs := queueWhileBusy(t, s, txns)
	if errs[0] != nil || errs[3] != nil {
		t.Fatalf("good transactions failed: %v, %v", errs[0], errs[3])
	}
	if !errors.Is(errs[1], ErrConflict) {
		t.Fatalf("stale comparison: %v, want ErrConflict", errs[1])
	}
	if errs[2] == nil {
		t.Fatal("a key bbolt refuses was written")
	}
	for k, want := range map[string]string{"a": "1", "b": "2", "taken": "x"} {
		if kv, err := s.Get(ctx, k); err != nil || string(kv.Value) != want {
			t.Fatalf("%s: %q %v, want %q", k, kv.Value, err, want)
		}
	}
	// Within one group, the second of two creates of one key sees the first.
	revs, errs := queueWhileBusy(t, s, []func() (uint64, error){
		func() (uint64, error) {
			return s.Txn(ctx, []Cmp{{Key: "once", Rev: 0}}, []Op{{Key: "once", Value: []byte("1")}})
		},
		func() (uint64, error) {
			return s.Txn(ctx, []Cmp{{Key: "once", Rev: 0}}, []Op{{Key: "once", Value: []byte("2")}})
		},
	})
	ok := 0
	for i := range errs {
		if errs[i] == nil && revs[i] != 0 {
			ok++
		} else if !errors.Is(errs[i], ErrConflict) {
			t.Fatalf("create %d: %v", i, errs[i])
		}
	}
	if ok != 1 {
		t.Fatalf("%d of two creates of one key succeeded", ok)
	}
}

// A sequence of transactions, each within etcd's limits, is written with one sync, where one at
// a time would take one each.
func TestBoltSequenceSharesOneSync(t *testing.T) {
	ctx := context.Background()
	s := openGroupBolt(t, true)
	var txns []SeqTxn
	for i := range 10 {
		rev := uint64(PrevRev)
		if i == 0 {
			rev = 0
		}
		ops := []Op{{Key: "head", Value: []byte{byte(i)}}}
		for j := range MaxTxnOps - 1 {
			ops = append(ops, Op{Key: fmt.Sprintf("k/%02d/%03d", i, j), Value: []byte("v")})
		}
		txns = append(txns, SeqTxn{Cmps: []Cmp{{Key: "head", Rev: rev}}, Ops: ops})
	}
	before := s.syncs.Load()
	revs, err := TxnSeq(ctx, s, txns)
	if err != nil || len(revs) != len(txns) {
		t.Fatalf("revisions %v, %v", revs, err)
	}
	if got := s.syncs.Load() - before; got != 1 {
		t.Fatalf("a sequence of %d transactions took %d syncs, want 1", len(txns), got)
	}
}
