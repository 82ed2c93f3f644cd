package store

import (
	"context"
	"errors"
	"fmt"
	"path/filepath"
	"slices"
	"strconv"
	"sync"
	"sync/atomic"
	"testing"
)

// openBolt opens a Bolt store in a temp dir and checks the file's consistency on cleanup.
func openBolt(t *testing.T) *Bolt {
	t.Helper()
	s, err := OpenBolt(filepath.Join(t.TempDir(), "test.db"), BoltOptions{})
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

func implementations(t *testing.T) map[string]Store {
	return map[string]Store{"bolt": openBolt(t), "memory": NewMemory()}
}

func TestStoreSemantics(t *testing.T) {
	ctx := context.Background()
	for name, s := range implementations(t) {
		t.Run(name, func(t *testing.T) {
			if _, err := s.Get(ctx, "a/1"); !errors.Is(err, ErrNotFound) {
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
			if _, err := s.Txn(ctx, []Cmp{{Key: "a/1", Rev: 0}}, []Op{{Key: "a/1", Value: []byte("x")}}); !errors.Is(err, ErrConflict) {
				t.Fatalf("Txn on stale rev: %v", err)
			}
			// CAS at the read revision succeeds and bumps it.
			r2, err := s.Txn(ctx, []Cmp{{Key: "a/1", Rev: r1}}, []Op{{Key: "a/1", Value: []byte("two")}, {Key: "a/2", Value: []byte("b")}})
			if err != nil || r2 <= r1 {
				t.Fatalf("Txn: %d %v", r2, err)
			}
			// The old revision is now stale; nothing of a failed Txn is applied.
			if _, err := s.Txn(ctx, []Cmp{{Key: "a/1", Rev: r1}}, []Op{{Key: "a/3", Value: []byte("c")}}); !errors.Is(err, ErrConflict) {
				t.Fatalf("stale CAS: %v", err)
			}
			if _, err := s.Get(ctx, "a/3"); !errors.Is(err, ErrNotFound) {
				t.Fatal("failed Txn applied a write")
			}
			s.Put(ctx, "b/1", []byte("other"))
			list, err := s.List(ctx, "a/")
			if err != nil || len(list) != 2 || list[0].Key != "a/1" || list[1].Key != "a/2" || string(list[0].Value) != "two" {
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
		})
	}
}

// TestCASRace has many writers race to move one key from the same revision: exactly one wins.
func TestCASRace(t *testing.T) {
	ctx := context.Background()
	for name, s := range implementations(t) {
		t.Run(name, func(t *testing.T) {
			rev, _ := s.Put(ctx, "p", []byte("pending"))
			var wins atomic.Int32
			var wg sync.WaitGroup
			for i := range 32 {
				wg.Add(1)
				go func() {
					defer wg.Done()
					_, err := s.Txn(ctx, []Cmp{{Key: "p", Rev: rev}}, []Op{{Key: "p", Value: fmt.Appendf(nil, "approved by %d", i)}})
					if err == nil {
						wins.Add(1)
					} else if !errors.Is(err, ErrConflict) {
						t.Error(err)
					}
				}()
			}
			wg.Wait()
			if wins.Load() != 1 {
				t.Fatalf("%d writers won, want 1", wins.Load())
			}
		})
	}
}

func TestBoltPersistsAndLocks(t *testing.T) {
	ctx := context.Background()
	path := filepath.Join(t.TempDir(), "p.db")
	s, err := OpenBolt(path, BoltOptions{})
	if err != nil {
		t.Fatal(err)
	}
	rev, _ := s.Put(ctx, "k", []byte("v"))
	if _, err := OpenBolt(path, BoltOptions{LockTimeout: 50e6}); err == nil {
		t.Fatal("second open of a locked file succeeded")
	}
	s.Close()
	if _, err := s.Get(ctx, "k"); !errors.Is(err, ErrClosed) {
		t.Fatalf("Get after close: %v", err)
	}
	s, err = OpenBolt(path, BoltOptions{})
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	kv, err := s.Get(ctx, "k")
	if err != nil || string(kv.Value) != "v" || kv.Rev != rev {
		t.Fatalf("after reopen: %+v %v", kv, err)
	}
	if r2, _ := s.Put(ctx, "k2", nil); r2 <= rev {
		t.Fatalf("revision went backwards after reopen: %d <= %d", r2, rev)
	}
}

// TestModifyCountsUnderContention increments one counter from many goroutines: no update is lost.
func TestModifyCountsUnderContention(t *testing.T) {
	ctx := context.Background()
	for name, s := range implementations(t) {
		t.Run(name, func(t *testing.T) {
			var wg sync.WaitGroup
			for range 20 {
				wg.Add(1)
				go func() {
					defer wg.Done()
					_, err := Modify(ctx, s, "n", func(old []byte) ([]byte, error) {
						n, _ := strconv.Atoi(string(old))
						return strconv.AppendInt(nil, int64(n+1), 10), nil
					})
					if err != nil {
						t.Error(err)
					}
				}()
			}
			wg.Wait()
			kv, _ := s.Get(ctx, "n")
			if string(kv.Value) != "20" {
				t.Fatalf("counter %q after 20 increments", kv.Value)
			}
			if rev, err := Modify(ctx, s, "n", func([]byte) ([]byte, error) { return nil, ErrNoChange }); rev != 0 || err != nil {
				t.Fatalf("ErrNoChange wrote: %d %v", rev, err)
			}
		})
	}
}

// TestRemoveKeepsWhatChanged checks that Remove deletes every item still at its revision, with
// its extra keys, across batches, and keeps an item written after it was chosen, on both stores.
func TestRemoveKeepsWhatChanged(t *testing.T) {
	ctx := context.Background()
	for name, s := range implementations(t) {
		t.Run(name, func(t *testing.T) {
			var rs []Removal
			n := removeBatch + 10
			for i := range n {
				key := fmt.Sprintf("item/%04d", i)
				rev, err := s.Put(ctx, key, []byte("v"))
				if err != nil {
					t.Fatal(err)
				}
				if _, err := s.Put(ctx, "index/"+key, []byte("i")); err != nil {
					t.Fatal(err)
				}
				rs = append(rs, Removal{Cmp: Cmp{Key: key, Rev: rev}, Ops: []Op{{Key: key, Delete: true}, {Key: "index/" + key, Delete: true}}})
			}
			// Written after it was chosen: the first batch conflicts and must keep only this one.
			if _, err := s.Put(ctx, "item/0003", []byte("newer")); err != nil {
				t.Fatal(err)
			}
			removed, err := Remove(ctx, s, rs)
			if err != nil || len(removed) != n-1 || slices.Contains(removed, 3) || removed[3] != 4 {
				t.Fatalf("removed %v, %v; want every index but 3", removed, err)
			}
			items, _ := s.List(ctx, "item/")
			index, _ := s.List(ctx, "index/")
			if len(items) != 1 || items[0].Key != "item/0003" || string(items[0].Value) != "newer" || len(index) != 1 {
				t.Fatalf("left %v and %d index keys, want only item/0003 and its index", items, len(index))
			}
		})
	}
}
