package detector_test

import (
	"context"
	"fmt"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/smartcloudops/smartcloudops/detector"
	"github.com/smartcloudops/smartcloudops/internal/config"
	"github.com/smartcloudops/smartcloudops/internal/obs"
)

// constModel expects 40 ± 10 and scores every point 0, without allocating.
type constModel struct{ n int }

func (m *constModel) Name() string { return "const" }
func (m *constModel) Observe(detector.Point) detector.Score {
	m.n++
	return detector.Score{Expected: 40, Lower: 30, Upper: 50}
}
func (m *constModel) MarshalBinary() ([]byte, error) { return []byte{byte(m.n)}, nil }
func (m *constModel) UnmarshalBinary(b []byte) error { m.n = int(b[0]); return nil }

// TestKnownSeriesCostNoAllocation: once a check knows its series, a tick allocates nothing per
// series: not their label sets, keys or points (the allocations of a tick stay a few, however
// many series it scores).
func TestKnownSeriesCostNoAllocation(t *testing.T) {
	const n = 2000
	t0 := time.Date(2026, 11, 1, 0, 0, 0, 0, time.UTC)
	batch := make([]detector.Series, n)
	for i := range batch {
		batch[i] = detector.Series{Labels: map[string]string{"instance": fmt.Sprintf("web-%04d:9100", i), "job": "node"},
			Points: make([]detector.Point, 1)}
	}
	tick := 0
	src := detector.SourceFunc(func(context.Context, time.Time) ([]detector.Series, error) {
		for i := range batch {
			batch[i].Points[0] = detector.Point{T: t0.Add(time.Duration(tick) * time.Minute), V: 40}
		}
		tick++
		return batch, nil
	})
	sched, _ := config.ParseSchedule("@every 1m")
	d, err := detector.New(detector.Options{
		Checks: []detector.CheckSpec{{Name: "cpu", Source: src, Schedule: sched, Threshold: threshold,
			Labels: map[string]string{"env": "prod"}, Factory: func() detector.Model { return &constModel{} }}},
		ForgetAfter: time.Hour, HistoryPoints: 4,
		Logger: obs.Discard(), Registerer: prometheus.NewRegistry(),
	})
	if err != nil {
		t.Fatal(err)
	}
	ctx := context.Background()
	for range 5 { // the histories reach their size
		if _, err := d.Tick(ctx, "cpu"); err != nil {
			t.Fatal(err)
		}
	}
	allocs := testing.AllocsPerRun(5, func() {
		if _, err := d.Tick(ctx, "cpu"); err != nil {
			t.Fatal(err)
		}
	})
	if allocs > 50 {
		t.Fatalf("a tick of %d known series allocated %v times", n, allocs)
	}
	if got := d.Status()[0].Series; got != n {
		t.Fatalf("%d series, want %d", got, n)
	}
}
