package store

import (
	"context"
	"fmt"
	"strings"
	"sync"
)

// historyRevs is how many recent revisions an in-process store keeps for watches that start in
// the past; older starts get ErrCompacted, as on a compacted etcd.
const historyRevs = 1024

// historyBytes bounds the keys and values that history holds, past the latest revision. A watch
// starts from a revision its caller has just listed, so a short history serves it; without this
// bound, a stream of large writes (the detector writes every series' model state once a minute,
// 128 records of a few KB a transaction) would keep the last 1024 transactions' values in memory:
// at 100,000 series, all the model state a second time.
const historyBytes = 16 << 20

// watcherQueue is how many undelivered events one watcher may hold before it is ended with
// ErrCompacted, so a stuck reader never makes writers wait or memory grow without bound.
const watcherQueue = 10000

// hub delivers the changes of an in-process store (Memory, Bolt) to its watchers. One process
// owns such a store, so in-process notification sees every write. publish is called with the
// store's write lock held, which keeps revisions in order.
type hub struct {
	mu      sync.Mutex
	rev     uint64 // revision of the last write
	first   uint64 // oldest revision the history still covers
	history []revEvents
	bytes   int // the keys and values in history
	subs    map[*watcher]struct{}
	closed  bool
}

type revEvents struct {
	rev    uint64
	events []Event
	bytes  int
}

// eventBytes is what events hold of keys and values.
func eventBytes(events []Event) int {
	n := 0
	for _, ev := range events {
		n += len(ev.KV.Key) + len(ev.KV.Value)
	}
	return n
}

type watcher struct {
	prefix string
	from   uint64
	queue  []Event
	err    error
	wake   chan struct{}
}

func newHub(rev uint64) *hub {
	return &hub{rev: rev, first: rev + 1, subs: map[*watcher]struct{}{}}
}

func (w *watcher) signal() {
	select {
	case w.wake <- struct{}{}:
	default:
	}
}

// publish records the events of the write at rev and queues them for the watchers.
func (h *hub) publish(rev uint64, events []Event) {
	h.mu.Lock()
	defer h.mu.Unlock()
	h.rev = rev
	if len(events) == 0 {
		return
	}
	re := revEvents{rev: rev, events: events, bytes: eventBytes(events)}
	h.history = append(h.history, re)
	h.bytes += re.bytes
	// The latest revision is always kept, however large, so a watch from it still replays it.
	for len(h.history) > 1 && (len(h.history) > historyRevs || h.bytes > historyBytes) {
		h.first = h.history[0].rev + 1
		h.bytes -= h.history[0].bytes
		h.history[0] = revEvents{}
		h.history = h.history[1:]
	}
	for w := range h.subs {
		n := len(w.queue)
		for _, ev := range events {
			if ev.KV.Rev >= w.from && strings.HasPrefix(ev.KV.Key, w.prefix) {
				w.queue = append(w.queue, ev)
			}
		}
		if len(w.queue) == n {
			continue
		}
		if len(w.queue) > watcherQueue {
			w.queue = nil
			w.err = fmt.Errorf("%w: the watcher of %q fell more than %d events behind", ErrCompacted, w.prefix, watcherQueue)
			delete(h.subs, w)
		}
		w.signal()
	}
}

// close ends every watch with ErrClosed.
func (h *hub) close() {
	h.mu.Lock()
	defer h.mu.Unlock()
	h.closed = true
	for w := range h.subs {
		w.err = ErrClosed
		delete(h.subs, w)
		w.signal()
	}
}

// watch implements Store.Watch for an in-process store.
func (h *hub) watch(ctx context.Context, prefix string, fromRev uint64) <-chan WatchResponse {
	w := &watcher{prefix: prefix, from: fromRev, wake: make(chan struct{}, 1)}
	h.mu.Lock()
	switch {
	case h.closed:
		w.err = ErrClosed
	case w.from == 0:
		w.from = h.rev + 1
	case w.from < h.first:
		w.err = fmt.Errorf("%w: watch from revision %d, the oldest kept is %d", ErrCompacted, w.from, h.first)
	default:
		for _, re := range h.history {
			if re.rev < w.from {
				continue
			}
			for _, ev := range re.events {
				if strings.HasPrefix(ev.KV.Key, prefix) {
					w.queue = append(w.queue, ev)
				}
			}
		}
	}
	if w.err == nil {
		h.subs[w] = struct{}{}
	}
	h.mu.Unlock()
	out := make(chan WatchResponse)
	go h.deliver(ctx, w, out)
	return out
}

// deliver sends w's queued events to out until ctx ends or the watch fails.
func (h *hub) deliver(ctx context.Context, w *watcher, out chan<- WatchResponse) {
	defer close(out)
	defer func() {
		h.mu.Lock()
		delete(h.subs, w)
		h.mu.Unlock()
	}()
	for {
		h.mu.Lock()
		batch, err := w.queue, w.err
		w.queue = nil
		h.mu.Unlock()
		var resp WatchResponse
		switch {
		case len(batch) > 0:
			resp.Events = batch
		case err != nil:
			resp.Err = err
		default:
			select {
			case <-w.wake:
				continue
			case <-ctx.Done():
				return
			}
		}
		select {
		case out <- resp:
		case <-ctx.Done():
			return
		}
		if resp.Err != nil {
			return
		}
	}
}
