package store

import (
	"context"
	"errors"
	"fmt"
	"testing"
)

// TestWatchHistoryBound: a watch from a revision the history no longer covers ends with
// ErrCompacted, as on a compacted etcd, and one from a covered revision replays it.
func TestWatchHistoryBound(t *testing.T) {
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	m := NewMemory()
	defer m.Close()
	var first uint64
	for i := range historyRevs + 10 {
		rev, err := m.Put(ctx, fmt.Sprintf("k/%d", i), nil)
		if err != nil {
			t.Fatal(err)
		}
		if i == 0 {
			first = rev
		}
	}
	if r := <-m.Watch(ctx, "k/", first); !errors.Is(r.Err, ErrCompacted) {
		t.Fatalf("watch from an evicted revision: %+v", r)
	}
	r := <-m.Watch(ctx, "k/", first+20)
	if r.Err != nil || len(r.Events) != historyRevs-10 || r.Events[0].KV.Key != "k/20" {
		t.Fatalf("watch from a kept revision: %d events, first %+v, err %v", len(r.Events), r.Events[0], r.Err)
	}
}

// TestWatchSlowReaderIsCut: a watcher that does not read is ended with ErrCompacted once its
// queue is full; writers never wait for it.
func TestWatchSlowReaderIsCut(t *testing.T) {
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	m := NewMemory()
	defer m.Close()
	ch := m.Watch(ctx, "", 0)
	var ops []Op
	for i := range MaxTxnOps {
		ops = append(ops, Op{Key: fmt.Sprintf("k/%d", i)})
	}
	// Twice the queue: the deliverer holds at most one batch while it waits for the reader.
	for range 2*watcherQueue/MaxTxnOps + 2 {
		if _, err := m.Txn(ctx, nil, ops); err != nil {
			t.Fatal(err)
		}
	}
	var n int
	for r := range ch {
		if r.Err != nil {
			if !errors.Is(r.Err, ErrCompacted) {
				t.Fatalf("slow watcher ended with %v", r.Err)
			}
			return
		}
		n += len(r.Events)
	}
	t.Fatalf("slow watcher got %d events and no error", n)
}

// TestWatchEndsOnClose: closing the store ends its watches with ErrClosed.
func TestWatchEndsOnClose(t *testing.T) {
	m := NewMemory()
	ch := m.Watch(context.Background(), "", 0)
	m.Close()
	if r := <-ch; !errors.Is(r.Err, ErrClosed) {
		t.Fatalf("after Close: %+v", r)
	}
	if _, ok := <-ch; ok {
		t.Fatal("channel still open after the error")
	}
}

// TestWatchHistoryByteBound: the history keeps at most historyBytes of keys and values (and the
// latest revision whatever its size), so a stream of large writes is not kept in memory for
// watches that would start in the past; a watch from before what it keeps ends with ErrCompacted.
func TestWatchHistoryByteBound(t *testing.T) {
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	m := NewMemory()
	defer m.Close()
	value := make([]byte, 64<<10)
	revs := make([]uint64, 0, 2*historyBytes/len(value))
	for i := range cap(revs) {
		rev, err := m.Put(ctx, fmt.Sprintf("big/%d", i), value)
		if err != nil {
			t.Fatal(err)
		}
		revs = append(revs, rev)
	}
	if m.hub.bytes > historyBytes {
		t.Fatalf("history holds %d bytes, more than %d", m.hub.bytes, historyBytes)
	}
	if r := <-m.Watch(ctx, "big/", revs[0]); !errors.Is(r.Err, ErrCompacted) {
		t.Fatalf("watch from an evicted revision: %+v", r.Err)
	}
	last := revs[len(revs)-1]
	if r := <-m.Watch(ctx, "big/", last); r.Err != nil || len(r.Events) != 1 || r.Events[0].KV.Rev != last {
		t.Fatalf("watch from the latest revision: %d events, err %v", len(r.Events), r.Err)
	}
	huge := make([]byte, historyBytes+1)
	rev, err := m.Put(ctx, "huge", huge)
	if err != nil {
		t.Fatal(err)
	}
	if r := <-m.Watch(ctx, "huge", rev); r.Err != nil || len(r.Events) != 1 || len(r.Events[0].KV.Value) != len(huge) {
		t.Fatalf("watch from a revision larger than the bound: %d events, err %v", len(r.Events), r.Err)
	}
}
