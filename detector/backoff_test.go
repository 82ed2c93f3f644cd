package detector

import (
	"context"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/smartcloudops/smartcloudops/internal/config"
	"github.com/smartcloudops/smartcloudops/internal/obs"
)

// TestFailingCheckIsBackWithinAnInterval: a source that failed for a long time is tried again at
// least every half interval, so the check scores again within one interval of its return.
func TestFailingCheckIsBackWithinAnInterval(t *testing.T) {
	now := time.Date(2026, 11, 1, 0, 0, 0, 0, time.UTC)
	src := SourceFunc(func(context.Context, time.Time) ([]Series, error) { return nil, context.DeadlineExceeded })
	sched, _ := config.ParseSchedule("@every 15s")
	d, err := New(Options{
		Checks: []CheckSpec{{Name: "cpu", Source: src, Schedule: sched, Threshold: 0.5, Factory: func() Model { return nil }}},
		Logger: obs.Discard(), Registerer: prometheus.NewRegistry(), Now: func() time.Time { return now },
	})
	if err != nil {
		t.Fatal(err)
	}
	for range 20 { // twenty failures: an unbounded doubling would wait minutes
		d.Tick(context.Background(), "cpu")
	}
	ch := d.checks[0]
	if wait := ch.nextTry.Sub(now); wait > 7500*time.Millisecond || wait <= 0 {
		t.Fatalf("after 20 failures the next try is %v away, want at most half the 15s interval", wait)
	}
}
