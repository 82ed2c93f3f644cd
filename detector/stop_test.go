package detector_test

import (
	"context"
	"errors"
	"sync/atomic"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/smartcloudops/smartcloudops/detector"
	"github.com/smartcloudops/smartcloudops/internal/config"
	"github.com/smartcloudops/smartcloudops/internal/obs"
	"github.com/smartcloudops/smartcloudops/internal/store"
)

// TestTickStopsWhenItsContextEnds: a tick whose context ends stops between batches of series
// instead of scoring the rest.
func TestTickStopsWhenItsContextEnds(t *testing.T) {
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	const n = 5000
	models := 0
	sched, _ := config.ParseSchedule("@every 15s")
	d, err := detector.New(detector.Options{
		Checks: []detector.CheckSpec{{Name: "cpu", Schedule: sched, Threshold: threshold,
			Source: detector.SourceFunc(func(context.Context, time.Time) ([]detector.Series, error) {
				return hosts(n, 0, func(int) float64 { return 40 }), nil
			}),
			Factory: func() detector.Model {
				if models++; models == 1500 {
					cancel() // the process is asked to stop while the tick runs
				}
				return &meanModel{}
			}}},
		Logger: obs.Discard(), Registerer: prometheus.NewRegistry(),
	})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := d.Tick(ctx, "cpu"); !errors.Is(err, context.Canceled) {
		t.Fatalf("tick: %v, want it stopped by its context", err)
	}
	if got := d.Status()[0].Series; got >= n || got < 1500 {
		t.Fatalf("%d of %d series scored, want the tick stopped after the batch in which it was asked to", got, n)
	}
}

// hangingStore, once hang is set, never finishes a write before the caller gives up, as a store
// that lost its quorum would.
type hangingStore struct {
	store.Store
	hang atomic.Bool
}

func (h *hangingStore) Txn(ctx context.Context, cmps []store.Cmp, ops []store.Op) (uint64, error) {
	if !h.hang.Load() {
		return h.Store.Txn(ctx, cmps, ops)
	}
	<-ctx.Done()
	return 0, ctx.Err()
}

// TestRunStopsSavingAfterSaveOnStop: when Run's context ends, the final save of the series that
// learnt since their last save stops after SaveOnStop, even with a store that does not answer.
func TestRunStopsSavingAfterSaveOnStop(t *testing.T) {
	hs := &hangingStore{Store: store.NewMemory()}
	sched, _ := config.ParseSchedule("@every 1h")
	d, err := detector.New(detector.Options{
		Checks: []detector.CheckSpec{{Name: "cpu", Schedule: sched, Threshold: threshold,
			Source:  &queue{batches: [][]detector.Series{hostA(flat(0, 10, 40)), hostA(flat(10, 10, 40))}},
			Factory: func() detector.Model { return &meanModel{} }}},
		Store: hs, LoadModel: loadMean, SaveOnStop: 20 * time.Millisecond,
		Logger: obs.Discard(), Registerer: prometheus.NewRegistry(),
	})
	if err != nil {
		t.Fatal(err)
	}
	for range 2 { // saved when new, then learns and is not due again for a minute
		if _, err := d.Tick(context.Background(), "cpu"); err != nil {
			t.Fatal(err)
		}
	}
	hs.hang.Store(true)
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error)
	go func() { done <- d.Run(ctx) }()
	for !d.Ready() {
		time.Sleep(time.Millisecond)
	}
	cancel()
	if err := <-done; err != nil { // without a bound this waits forever
		t.Fatal(err)
	}
}
