package leader

import (
	"context"
	"sync"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/smartcloudops/smartcloudops/internal/store"
)

// localKey is the election key of the Local elector.
const localKey = "leader/local"

// Local is the Elector of a single process on bbolt: it leads from Run's start to its end. Its
// term is still fenced: Run writes leader/local, and the fence is that write's revision, so
// writes made with a previous run's fence (or after Run ended) fail with store.ErrFenced.
type Local struct {
	o     Options
	st    store.Store
	gauge prometheus.Gauge

	mu    sync.Mutex
	fence store.Fence
}

// NewLocal returns an always-leader Elector on st.
func NewLocal(st store.Store, o Options) (*Local, error) {
	if err := o.check(); err != nil {
		return nil, err
	}
	g, err := newGauge(o.Registerer)
	if err != nil {
		return nil, err
	}
	return &Local{o: o, st: st, gauge: g}, nil
}

// Run implements Elector.
func (l *Local) Run(ctx context.Context) error {
	rev, err := l.st.Put(ctx, localKey, []byte(l.o.Self.encode()))
	if err != nil {
		return err
	}
	fence := store.Fence{Key: localKey, Rev: rev}
	l.mu.Lock()
	l.fence = fence
	l.mu.Unlock()
	l.gauge.Set(1)
	done := make(chan struct{})
	go func() {
		defer close(done)
		l.o.OnLead(ctx, fence)
	}()
	<-ctx.Done()
	l.mu.Lock()
	l.fence = store.Fence{}
	l.mu.Unlock()
	l.gauge.Set(0)
	<-done
	// End the term in the store too, only if it is still ours.
	dctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), 5*time.Second)
	defer cancel()
	_, _ = l.st.Txn(dctx, []store.Cmp{{Key: localKey, Rev: rev}}, []store.Op{{Key: localKey, Delete: true}})
	return ctx.Err()
}

// IsLeader implements Elector.
func (l *Local) IsLeader() bool {
	l.mu.Lock()
	defer l.mu.Unlock()
	return !l.fence.IsZero()
}

// Leader implements Elector: this process, while Run runs.
func (l *Local) Leader() (Info, bool) {
	if !l.IsLeader() {
		return Info{}, false
	}
	return l.o.Self, true
}

// Fence implements Elector.
func (l *Local) Fence() (store.Fence, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	if l.fence.IsZero() {
		return store.Fence{}, ErrNotLeader
	}
	return l.fence, nil
}
