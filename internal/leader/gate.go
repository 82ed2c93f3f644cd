package leader

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"time"

	"github.com/smartcloudops/smartcloudops/internal/store"
)

// LimitError is returned by Window.Admit when the window is full.
type LimitError struct {
	Count, Limit int
	Span         time.Duration
}

func (e *LimitError) Error() string {
	return fmt.Sprintf("rate limit: %d actions ran in the last %s (limit %d); try again later", e.Count, e.Span, e.Limit)
}

// Window is a sliding-window counter kept in the store, such as the executor's hourly limit:
// at most Limit admissions in any Span. It lives in the store so that a new leader counts what
// the previous one admitted. Writes go through St, which for the leader is its fenced view.
type Window struct {
	St    store.Store
	Key   string // such as "gate/hourly"
	Limit int    // 0 admits everything
	Span  time.Duration
}

// Admit counts one admission at now, or returns a *LimitError when Limit admissions already
// fall within the Span before now.
func (w Window) Admit(ctx context.Context, now time.Time) error {
	if w.Limit <= 0 {
		return nil
	}
	_, err := store.Modify(ctx, w.St, w.Key, func(old []byte) ([]byte, error) {
		starts, err := w.decode(old)
		if err != nil {
			return nil, err
		}
		kept := starts[:0]
		for _, t := range starts {
			if now.Sub(time.Unix(0, t)) < w.Span {
				kept = append(kept, t)
			}
		}
		if len(kept) >= w.Limit {
			return nil, &LimitError{Count: len(kept), Limit: w.Limit, Span: w.Span}
		}
		return json.Marshal(append(kept, now.UnixNano()))
	})
	return err
}

// Release gives back the admission made at at, when what it admitted did not go ahead.
func (w Window) Release(ctx context.Context, at time.Time) error {
	if w.Limit <= 0 {
		return nil
	}
	_, err := store.Modify(ctx, w.St, w.Key, func(old []byte) ([]byte, error) {
		starts, err := w.decode(old)
		if err != nil {
			return nil, err
		}
		for i := len(starts) - 1; i >= 0; i-- {
			if starts[i] == at.UnixNano() {
				return json.Marshal(append(starts[:i], starts[i+1:]...))
			}
		}
		return nil, store.ErrNoChange
	})
	return err
}

func (w Window) decode(b []byte) ([]int64, error) {
	var starts []int64
	if len(b) > 0 {
		if err := json.Unmarshal(b, &starts); err != nil {
			return nil, fmt.Errorf("gate: %s is not a list of times: %w", w.Key, err)
		}
	}
	return starts, nil
}

// Locks are per-target locks kept in the store, held for at most one leadership term: a lock
// whose holder's fence is not the current term's was left by a leader that died holding it
// (its action is `unknown` and never re-run by itself), so the current leader takes it over.
type Locks struct {
	St     store.Store // the raw store; every write is fenced with Fence
	Prefix string      // such as "gate/locks/"
	Fence  store.FenceFunc
}

// ErrHeld is returned by TryLock while another holder of this term has the target.
var ErrHeld = errors.New("gate: target is locked")

type lockValue struct {
	FenceKey string    `json:"fence_key"`
	FenceRev uint64    `json:"fence_rev"`
	Holder   string    `json:"holder"` // such as the proposal ID
	At       time.Time `json:"at"`
}

// TryLock takes target's lock for holder, or returns ErrHeld (with the holder) while someone of
// this term has it, or store.ErrFenced/ErrNotLeader when this replica does not lead. unlock
// frees it.
func (l Locks) TryLock(ctx context.Context, target, holder string, now time.Time) (unlock func(context.Context) error, err error) {
	fence, err := l.Fence()
	if err != nil {
		return nil, err
	}
	key := l.Prefix + target
	for attempt := 0; attempt < 100; attempt++ {
		var cmp store.Cmp
		kv, err := l.St.Get(ctx, key)
		switch {
		case errors.Is(err, store.ErrNotFound):
			cmp = store.Cmp{Key: key, Rev: 0}
		case err != nil:
			return nil, err
		default:
			var cur lockValue
			if json.Unmarshal(kv.Value, &cur) == nil && cur.FenceKey == fence.Key && cur.FenceRev == fence.Rev {
				return nil, fmt.Errorf("%w by %s since %s", ErrHeld, cur.Holder, cur.At.UTC().Format(time.RFC3339))
			}
			cmp = store.Cmp{Key: key, Rev: kv.Rev} // a previous term's lock
		}
		val, _ := json.Marshal(lockValue{FenceKey: fence.Key, FenceRev: fence.Rev, Holder: holder, At: now})
		rev, err := l.St.FencedTxn(ctx, fence, []store.Cmp{cmp}, []store.Op{{Key: key, Value: val}})
		if errors.Is(err, store.ErrConflict) {
			continue
		}
		if err != nil {
			return nil, err
		}
		return func(ctx context.Context) error {
			_, err := l.St.FencedTxn(ctx, fence, []store.Cmp{{Key: key, Rev: rev}}, []store.Op{{Key: key, Delete: true}})
			if errors.Is(err, store.ErrConflict) {
				return nil // taken over by a later term; nothing of ours to free
			}
			return err
		}, nil
	}
	return nil, fmt.Errorf("gate: lock %s kept changing", key)
}

// Lock waits until target's lock is free and takes it, watching the lock key rather than
// polling; it gives up when ctx ends.
func (l Locks) Lock(ctx context.Context, target, holder string, now func() time.Time) (func(context.Context) error, error) {
	key := l.Prefix + target
	for {
		wctx, cancel := context.WithCancel(ctx)
		// Watch before trying, so a release between the try and the watch is not missed.
		page, err := l.St.ListPage(wctx, key, "", 1)
		if err != nil {
			cancel()
			return nil, err
		}
		ch := l.St.Watch(wctx, key, page.Rev+1)
		unlock, err := l.TryLock(ctx, target, holder, now())
		if !errors.Is(err, ErrHeld) {
			cancel()
			return unlock, err
		}
		err = waitDeleted(wctx, ch, key)
		cancel()
		if err != nil {
			return nil, fmt.Errorf("waiting for the lock of %s: %w", target, err)
		}
	}
}

// waitDeleted returns when key is deleted, or the watch ends (the caller tries again).
func waitDeleted(ctx context.Context, ch <-chan store.WatchResponse, key string) error {
	for {
		select {
		case r, ok := <-ch:
			if !ok {
				return ctx.Err()
			}
			if r.Err != nil {
				return nil // try again with a fresh watch
			}
			for _, ev := range r.Events {
				if ev.KV.Key == key && ev.Type == store.EventDelete {
					return nil
				}
			}
		case <-ctx.Done():
			return ctx.Err()
		}
	}
}
