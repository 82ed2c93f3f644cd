package store_test

import (
	"context"
	"errors"
	"fmt"
	"path/filepath"
	"testing"

	"github.com/smartcloudops/smartcloudops/internal/store"
	"github.com/smartcloudops/smartcloudops/internal/store/storetest"
)

// openBolt opens a Bolt store in a temp dir and checks the file's consistency on cleanup.
func openBolt(t *testing.T) store.Store {
	t.Helper()
	s, err := store.OpenBolt(filepath.Join(t.TempDir(), "test.db"), store.BoltOptions{EtcdLimits: true})
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

func openMemory(t *testing.T) store.Store {
	s := store.NewMemory().WithEtcdLimits()
	t.Cleanup(func() { s.Close() })
	return s
}

func TestConformanceBolt(t *testing.T)   { storetest.Run(t, openBolt) }
func TestConformanceMemory(t *testing.T) { storetest.Run(t, openMemory) }

func TestBoltPersistsAndLocks(t *testing.T) {
	ctx := context.Background()
	path := filepath.Join(t.TempDir(), "p.db")
	s, err := store.OpenBolt(path, store.BoltOptions{})
	if err != nil {
		t.Fatal(err)
	}
	rev, _ := s.Put(ctx, "k", []byte("v"))
	if _, err := store.OpenBolt(path, store.BoltOptions{LockTimeout: 50e6}); !errors.Is(err, store.ErrLocked) {
		t.Fatalf("second open of a locked file: %v", err)
	}
	s.Close()
	if _, err := s.Get(ctx, "k"); !errors.Is(err, store.ErrClosed) {
		t.Fatalf("Get after close: %v", err)
	}
	s, err = store.OpenBolt(path, store.BoltOptions{})
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	kv, err := s.Get(ctx, "k")
	if err != nil || string(kv.Value) != "v" || kv.Rev != rev {
		t.Fatalf("after reopen: %+v %v", kv, err)
	}
	r2, _ := s.Put(ctx, "k2", nil)
	if r2 <= rev {
		t.Fatalf("revision went backwards after reopen: %d <= %d", r2, rev)
	}
	// Watches start at the file's revision: the past before this open is not replayed.
	resp := <-s.Watch(ctx, "", rev)
	if !errors.Is(resp.Err, store.ErrCompacted) {
		t.Fatalf("watch from before the open: %+v, want ErrCompacted", resp)
	}
	resp = <-s.Watch(ctx, "", r2)
	if resp.Err != nil || len(resp.Events) != 1 || resp.Events[0].KV.Key != "k2" {
		t.Fatalf("watch from this open's first write: %+v", resp)
	}
}

// TestWriteAllSplits: WriteAll writes any number of keys in transactions etcd accepts.
func TestWriteAllSplits(t *testing.T) {
	ctx := context.Background()
	m := store.NewMemory().WithEtcdLimits()
	ops := make([]store.Op, 1000)
	for i := range ops {
		ops[i] = store.Op{Key: fmt.Sprintf("k/%04d", i), Value: make([]byte, 4096)}
	}
	n, err := store.WriteAll(ctx, m, ops)
	if err != nil || n != len(ops) {
		t.Fatalf("WriteAll: %d written, %v", n, err)
	}
	kvs, err := m.List(ctx, "k/")
	if err != nil || len(kvs) != len(ops) {
		t.Fatalf("%d keys stored (%v), want %d", len(kvs), err, len(ops))
	}
	if _, err := m.Txn(ctx, nil, ops); !errors.Is(err, store.ErrTooManyOps) {
		t.Fatalf("one transaction of %d writes: %v, want store.ErrTooManyOps", len(ops), err)
	}
}

// TestBoltSpaceCountsFreePages: what was deleted stays in the file as free pages, which Space
// reports and CompactBolt gives back.
func TestBoltSpaceCountsFreePages(t *testing.T) {
	ctx := context.Background()
	path := filepath.Join(t.TempDir(), "space.db")
	s, err := store.OpenBolt(path, store.BoltOptions{})
	if err != nil {
		t.Fatal(err)
	}
	var ops []store.Op
	for i := range 2000 {
		ops = append(ops, store.Op{Key: fmt.Sprintf("k/%05d", i), Value: make([]byte, 2048)})
	}
	if _, err := store.WriteAll(ctx, s, ops); err != nil {
		t.Fatal(err)
	}
	for i := range ops {
		ops[i] = store.Op{Key: ops[i].Key, Delete: true}
	}
	if _, err := store.WriteAll(ctx, s, ops); err != nil {
		t.Fatal(err)
	}
	size, free, err := s.Space()
	if err != nil || size < 4<<20 || free < size/2 || free > size {
		t.Fatalf("after deleting 4 MB: size %d, free %d, %v; want most of the file free", size, free, err)
	}
	s.Close()
	if _, _, err := s.Space(); !errors.Is(err, store.ErrClosed) {
		t.Fatalf("Space after close: %v", err)
	}
	before, after, err := store.CompactBolt(path)
	if err != nil || after >= before/2 {
		t.Fatalf("compacted %d to %d bytes, %v", before, after, err)
	}
}
