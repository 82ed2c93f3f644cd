package store

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"path/filepath"
	"strings"
	"testing"
)

// populate writes n keys under a few prefixes, some of them large, and an election key.
func populate(t *testing.T, s Store, n int) {
	t.Helper()
	ctx := context.Background()
	for i := range n {
		v := fmt.Appendf(nil, "value %d", i)
		if i%97 == 0 {
			v = bytes.Repeat([]byte{byte(i)}, 300<<10)
		}
		if _, err := s.Put(ctx, fmt.Sprintf("%s/%05d", []string{"audit", "proposals", "detector/state"}[i%3], i), v); err != nil {
			t.Fatal(err)
		}
	}
	if _, err := s.Put(ctx, "leader/local", []byte("old process")); err != nil {
		t.Fatal(err)
	}
}

// TestCopyBoltToMemory copies a populated bbolt file into a store with etcd's limits: every key
// arrives, in transactions etcd would accept, the election key stays behind, and a second copy
// into the now non-empty target is refused.
func TestCopyBoltToMemory(t *testing.T) {
	ctx := context.Background()
	src, err := OpenBolt(filepath.Join(t.TempDir(), "src.db"), BoltOptions{})
	if err != nil {
		t.Fatal(err)
	}
	defer src.Close()
	populate(t, src, 1000)
	dst := NewMemory().WithEtcdLimits()
	rep, err := Copy(ctx, dst, src, CopyOptions{Skip: []string{"leader/"}})
	if err != nil {
		t.Fatal(err)
	}
	if rep.Keys != 1000 || rep.Txns < 1000/MaxTxnOps {
		t.Fatalf("report %+v", rep)
	}
	srcAll, _ := src.List(ctx, "")
	dstAll, _ := dst.List(ctx, "")
	if len(dstAll) != len(srcAll)-1 {
		t.Fatalf("%d keys copied of %d", len(dstAll), len(srcAll))
	}
	if _, err := dst.Get(ctx, "leader/local"); !errors.Is(err, ErrNotFound) {
		t.Fatalf("the election key was copied: %v", err)
	}
	if _, err := Copy(ctx, dst, src, CopyOptions{}); !errors.Is(err, ErrTargetNotEmpty) {
		t.Fatalf("copy into a non-empty target: %v", err)
	}
	if _, err := Copy(ctx, dst, src, CopyOptions{Overwrite: true, Skip: []string{"leader/"}}); err != nil {
		t.Fatalf("overwrite: %v", err)
	}
}

// TestCopyRefusesTooLargeBeforeWriting: a value etcd cannot take stops the copy before the
// first write, naming the key.
func TestCopyRefusesTooLargeBeforeWriting(t *testing.T) {
	ctx := context.Background()
	src := NewMemory()
	populate(t, src, 10)
	if _, err := src.Put(ctx, "zz/huge", make([]byte, 2<<20)); err != nil {
		t.Fatal(err)
	}
	dst := NewMemory().WithEtcdLimits()
	_, err := Copy(ctx, dst, src, CopyOptions{})
	if !errors.Is(err, ErrTooLarge) || !strings.Contains(err.Error(), `"zz/huge"`) || !strings.Contains(err.Error(), "nothing copied") {
		t.Fatalf("copy of a too-large value: %v", err)
	}
	if all, _ := dst.List(ctx, ""); len(all) != 0 {
		t.Fatalf("%d keys written before the refusal", len(all))
	}
}
