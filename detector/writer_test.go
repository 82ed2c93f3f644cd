package detector

import (
	"context"
	"fmt"
	"sync/atomic"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/smartcloudops/smartcloudops/internal/config"
	"github.com/smartcloudops/smartcloudops/internal/obs"
	"github.com/smartcloudops/smartcloudops/internal/store"
)

// gatedStore holds every write until the test opens the gate.
type gatedStore struct {
	store.Store
	gate chan struct{}
	txns atomic.Int32
}

func (g *gatedStore) Txn(ctx context.Context, cmps []store.Cmp, ops []store.Op) (uint64, error) {
	g.txns.Add(1)
	select {
	case <-g.gate:
	case <-ctx.Done():
		return 0, ctx.Err()
	}
	return g.Store.Txn(ctx, cmps, ops)
}

// countModel counts its points and expects 40 ± 10.
type countModel struct{ n int }

func (m *countModel) Name() string { return "count" }
func (m *countModel) Observe(Point) Score {
	m.n++
	return Score{Expected: 40, Lower: 30, Upper: 50}
}
func (m *countModel) MarshalBinary() ([]byte, error) { return []byte(fmt.Sprint(m.n)), nil }
func (m *countModel) UnmarshalBinary([]byte) error   { return nil }

// TestScheduledTickDoesNotWaitForItsSaves: a scheduled tick hands its periodic saves to a
// background write and returns; the next tick does not start another while it runs; a stop
// ends the write between transactions.
func TestScheduledTickDoesNotWaitForItsSaves(t *testing.T) {
	gs := &gatedStore{Store: store.NewMemory(), gate: make(chan struct{})}
	tick := 0
	src := SourceFunc(func(context.Context, time.Time) ([]Series, error) {
		tick++
		var out []Series
		for h := range 300 {
			out = append(out, Series{Labels: map[string]string{"host": fmt.Sprint(h)},
				Points: []Point{{T: time.Unix(int64(60*tick), 0), V: 40}}})
		}
		return out, nil
	})
	sched, _ := config.ParseSchedule("@every 1m")
	d, err := New(Options{Checks: []CheckSpec{{Name: "cpu", Source: src, Schedule: sched, Threshold: 0.5,
		Factory: func() Model { return &countModel{} }}}, Store: gs, LoadModel: func([]byte) (Model, error) { return &countModel{}, nil },
		Logger: obs.Discard(), Registerer: prometheus.NewRegistry()})
	if err != nil {
		t.Fatal(err)
	}
	ch := d.checks[0]
	ctx, cancel := context.WithCancel(context.Background())
	if _, err := ch.tick(ctx); err != nil { // returns with its 300 new series being written
		t.Fatal(err)
	}
	// The background write begins its first transaction when it is scheduled; the tick has
	// returned before it.
	for deadline := time.Now().Add(10 * time.Second); gs.txns.Load() == 0 && time.Now().Before(deadline); {
		time.Sleep(time.Millisecond)
	}
	if !ch.writing.Load() || gs.txns.Load() != 1 {
		t.Fatalf("after the tick: writing %v, %d transactions begun; want the first one waiting", ch.writing.Load(), gs.txns.Load())
	}
	if _, err := ch.tick(ctx); err != nil {
		t.Fatal(err)
	}
	if gs.txns.Load() != 1 {
		t.Fatalf("%d transactions begun: the second tick started a write beside the first", gs.txns.Load())
	}
	cancel() // stopping: the write gives up at its current transaction
	ch.writer.Wait()
	if ch.writing.Load() || gs.txns.Load() != 1 {
		t.Fatalf("after the stop: writing %v, %d transactions begun", ch.writing.Load(), gs.txns.Load())
	}
	close(gs.gate)
	d.SaveState(context.Background())
	kvs, err := gs.List(context.Background(), statePrefix)
	if err != nil || len(kvs) != 300 {
		t.Fatalf("%d series stored after SaveState (%v), want 300", len(kvs), err)
	}
}
