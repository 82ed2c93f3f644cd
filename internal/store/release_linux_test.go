//go:build linux

package store_test

import (
	"bufio"
	"bytes"
	"context"
	"fmt"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"testing"

	"github.com/smartcloudops/smartcloudops/internal/store"
)

// rssFile is this process's RssFile from /proc/self/status, in bytes.
func rssFile(t *testing.T) int64 {
	t.Helper()
	f, err := os.Open("/proc/self/status")
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		if v, ok := strings.CutPrefix(sc.Text(), "RssFile:"); ok {
			kb, err := strconv.ParseInt(strings.TrimSuffix(strings.TrimSpace(v), " kB"), 10, 64)
			if err != nil {
				t.Fatal(err)
			}
			return kb << 10
		}
	}
	t.Fatal("no RssFile in /proc/self/status")
	return 0
}

func value(i int) []byte { return bytes.Repeat([]byte{byte(i)}, 2000) }

// TestReleaseMappedDropsResidentPages: after reading every key of a 16 MB store, its pages are
// resident; ReleaseMapped drops them from RSS, through the fenced wrapper the bot uses, and every
// value reads back the same afterwards.
func TestReleaseMappedDropsResidentPages(t *testing.T) {
	ctx := context.Background()
	raw, err := store.OpenBolt(filepath.Join(t.TempDir(), "test.db"), store.BoltOptions{})
	if err != nil {
		t.Fatal(err)
	}
	defer raw.Close()
	s := store.ContextFenced(raw)
	const n = 8000
	var ops []store.Op
	for i := range n {
		ops = append(ops, store.Op{Key: fmt.Sprintf("models/%05d", i), Value: value(i)})
	}
	if _, err := store.WriteAll(ctx, s, ops); err != nil {
		t.Fatal(err)
	}
	readAll := func() {
		t.Helper()
		for i := range n {
			kv, err := s.Get(ctx, fmt.Sprintf("models/%05d", i))
			if err != nil || !bytes.Equal(kv.Value, value(i)) {
				t.Fatalf("key %d: %v, value changed: %v", i, err, !bytes.Equal(kv.Value, value(i)))
			}
		}
	}
	readAll()
	before := rssFile(t)
	if err := store.ReleaseMapped(s); err != nil {
		t.Fatal(err)
	}
	after := rssFile(t)
	t.Logf("RssFile %d KB before, %d KB after", before>>10, after>>10)
	if dropped := before - after; dropped < n*2000/2 {
		t.Fatalf("RssFile went from %d to %d bytes: dropped %d, want at least half of the %d bytes read", before, after, dropped, n*2000)
	}
	readAll()
	if err := store.ReleaseMapped(store.NewMemory()); err != nil {
		t.Fatalf("a memory store: %v", err)
	}
}

// TestReleaseMappedWhileTheFileGrows: releasing while writers grow the file (bbolt remaps it)
// and readers read it neither crashes nor changes a value.
func TestReleaseMappedWhileTheFileGrows(t *testing.T) {
	ctx := context.Background()
	s, err := store.OpenBolt(filepath.Join(t.TempDir(), "test.db"), store.BoltOptions{})
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	const n = 600 // 1.2 MB: the mapping grows from 32 KB several times
	var wg sync.WaitGroup
	stop := make(chan struct{})
	wg.Add(2)
	go func() {
		defer wg.Done()
		for {
			select {
			case <-stop:
				return
			default:
			}
			if err := store.ReleaseMapped(s); err != nil {
				t.Error(err)
				return
			}
		}
	}()
	go func() {
		defer wg.Done()
		for i := 0; ; i = (i + 1) % n {
			select {
			case <-stop:
				return
			default:
			}
			kv, err := s.Get(ctx, fmt.Sprintf("k/%05d", i))
			if err == nil && !bytes.Equal(kv.Value, value(i)) {
				t.Errorf("key %d changed", i)
				return
			}
		}
	}()
	for i := range n {
		if _, err := s.Put(ctx, fmt.Sprintf("k/%05d", i), value(i)); err != nil {
			t.Fatal(err)
		}
	}
	close(stop)
	wg.Wait()
	for i := range n {
		if kv, err := s.Get(ctx, fmt.Sprintf("k/%05d", i)); err != nil || !bytes.Equal(kv.Value, value(i)) {
			t.Fatalf("key %d: %v", i, err)
		}
	}
}
