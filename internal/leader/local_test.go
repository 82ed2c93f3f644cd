package leader

import (
	"context"
	"errors"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/testutil"
	"go.uber.org/goleak"

	"github.com/smartcloudops/smartcloudops/internal/store"
)

func TestMain(m *testing.M) { goleak.VerifyTestMain(m) }

// TestLocalLeadsForRunAndFencesAfter: the local elector leads while Run runs; its term's writes
// go through, and once Run has returned the same fence is refused.
func TestLocalLeadsForRunAndFencesAfter(t *testing.T) {
	st := store.NewMemory().WithEtcdLimits()
	reg := prometheus.NewRegistry()
	terms := make(chan store.Fence, 1)
	l, err := NewLocal(st, Options{Self: Info{Name: "solo"}, Registerer: reg, OnLead: func(ctx context.Context, f store.Fence) {
		terms <- f
		<-ctx.Done()
	}})
	if err != nil {
		t.Fatal(err)
	}
	if l.IsLeader() {
		t.Fatal("leads before Run")
	}
	if _, err := l.Fence(); !errors.Is(err, ErrNotLeader) {
		t.Fatalf("Fence before Run: %v", err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	ran := make(chan error)
	go func() { ran <- l.Run(ctx) }()
	fence := <-terms
	if !l.IsLeader() || testutil.ToFloat64(l.gauge) != 1 {
		t.Fatal("not leading while Run runs")
	}
	if info, ok := l.Leader(); !ok || info.Name != "solo" {
		t.Fatalf("Leader() = %+v %v", info, ok)
	}
	view := store.Fenced(st, l.Fence)
	if _, err := view.Put(ctx, "k", []byte("v")); err != nil {
		t.Fatalf("write in the term: %v", err)
	}
	cancel()
	if err := <-ran; !errors.Is(err, context.Canceled) {
		t.Fatalf("Run returned %v", err)
	}
	if l.IsLeader() || testutil.ToFloat64(l.gauge) != 0 {
		t.Fatal("still leading after Run")
	}
	if _, err := view.Put(context.Background(), "k", []byte("late")); !errors.Is(err, ErrNotLeader) {
		t.Fatalf("write through the view after Run: %v", err)
	}
	if _, err := st.FencedTxn(context.Background(), fence, nil, []store.Op{{Key: "k", Value: []byte("late")}}); !errors.Is(err, store.ErrFenced) {
		t.Fatalf("write with the ended term's fence: %v", err)
	}
	if _, err := NewLocal(st, Options{Self: Info{Name: "x"}, Registerer: reg}); err == nil {
		t.Fatal("a second smartcloudops_leader registered on one registry")
	}
	if _, err := NewLocal(st, Options{}); err == nil {
		t.Fatal("NewLocal without Self and Registerer")
	}
}

// startLocal runs a Local elector until the test ends and returns it once it leads.
func startLocal(t *testing.T, st store.Store) *Local {
	t.Helper()
	led := make(chan struct{})
	l, err := NewLocal(st, Options{Self: Info{Name: "solo"}, Registerer: prometheus.NewRegistry(),
		OnLead: func(ctx context.Context, f store.Fence) { close(led); <-ctx.Done() }})
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan struct{})
	go func() { defer close(done); l.Run(ctx) }()
	t.Cleanup(func() { cancel(); <-done })
	<-led
	return l
}

func TestWindowSlides(t *testing.T) {
	ctx := context.Background()
	st := store.NewMemory().WithEtcdLimits()
	l := startLocal(t, st)
	w := Window{St: store.Fenced(st, l.Fence), Key: "gate/hourly", Limit: 2, Span: time.Hour}
	t0 := time.Date(2026, 1, 1, 10, 0, 0, 0, time.UTC)
	for _, at := range []time.Time{t0, t0.Add(10 * time.Minute)} {
		if err := w.Admit(ctx, at); err != nil {
			t.Fatal(err)
		}
	}
	var le *LimitError
	if err := w.Admit(ctx, t0.Add(59*time.Minute)); !errors.As(err, &le) || le.Count != 2 || le.Limit != 2 {
		t.Fatalf("third in the hour: %v", err)
	}
	// Another replica taking over reads the same window.
	w2 := Window{St: st, Key: "gate/hourly", Limit: 2, Span: time.Hour}
	if err := w2.Admit(ctx, t0.Add(30*time.Minute)); !errors.As(err, &le) {
		t.Fatalf("the window is not shared through the store: %v", err)
	}
	if err := w.Admit(ctx, t0.Add(61*time.Minute)); err != nil {
		t.Fatalf("after the first slid out: %v", err)
	}
	if err := w.Release(ctx, t0.Add(61*time.Minute)); err != nil {
		t.Fatal(err)
	}
	if err := w.Admit(ctx, t0.Add(62*time.Minute)); err != nil {
		t.Fatalf("after a release: %v", err)
	}
}

func TestLocksPerTermAndWait(t *testing.T) {
	ctx := context.Background()
	st := store.NewMemory().WithEtcdLimits()
	l := startLocal(t, st)
	locks := Locks{St: st, Prefix: "gate/locks/", Fence: l.Fence}
	now := func() time.Time { return time.Date(2026, 1, 1, 10, 0, 0, 0, time.UTC) }
	unlock, err := locks.TryLock(ctx, "asg/web", "p-1", now())
	if err != nil {
		t.Fatal(err)
	}
	if _, err := locks.TryLock(ctx, "asg/web", "p-2", now()); !errors.Is(err, ErrHeld) {
		t.Fatalf("second holder: %v", err)
	}
	if u, err := locks.TryLock(ctx, "asg/web-2", "p-3", now()); err != nil {
		t.Fatalf("another target: %v", err)
	} else if err := u(ctx); err != nil {
		t.Fatal(err)
	}
	got := make(chan error, 1)
	go func() {
		u, err := locks.Lock(ctx, "asg/web", "p-2", now)
		if err == nil {
			err = u(ctx)
		}
		got <- err
	}()
	if err := unlock(ctx); err != nil {
		t.Fatal(err)
	}
	if err := <-got; err != nil {
		t.Fatalf("waiter: %v", err)
	}
}

// TestLocksOfAnEndedTermAreTakenOver: a lock left by a leader that died holding it does not
// block the next term.
func TestLocksOfAnEndedTermAreTakenOver(t *testing.T) {
	ctx := context.Background()
	st := store.NewMemory().WithEtcdLimits()
	old, err := st.Put(ctx, "leader/old", nil)
	if err != nil {
		t.Fatal(err)
	}
	oldLocks := Locks{St: st, Prefix: "gate/locks/", Fence: func() (store.Fence, error) { return store.Fence{Key: "leader/old", Rev: old}, nil }}
	if _, err := oldLocks.TryLock(ctx, "db", "p-1", time.Now()); err != nil {
		t.Fatal(err)
	}
	if err := st.Delete(ctx, "leader/old"); err != nil { // that leader's lease expired
		t.Fatal(err)
	}
	l := startLocal(t, st)
	locks := Locks{St: st, Prefix: "gate/locks/", Fence: l.Fence}
	if _, err := locks.TryLock(ctx, "db", "p-2", time.Now()); err != nil {
		t.Fatalf("lock of an ended term: %v", err)
	}
	if _, err := oldLocks.TryLock(ctx, "other", "p-3", time.Now()); !errors.Is(err, store.ErrFenced) {
		t.Fatalf("the deposed leader locking: %v", err)
	}
}
