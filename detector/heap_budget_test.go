package detector_test

import (
	"context"
	"fmt"
	"math"
	"runtime"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/robfig/cron/v3"

	"github.com/smartcloudops/smartcloudops/detector"
	"github.com/smartcloudops/smartcloudops/internal/obs"
)

// seriesHeapBudget bounds the heap a check keeps per series beyond its model, with the series'
// history full: its state (about 350 bytes), its history (DefaultHistoryPoints at 14 bytes a
// point: 3,456 bytes as allocated; it was 4,864 at 20 bytes a point) and its place in the check's
// index. The model is the model
// package's own budget (BenchmarkSeriesHeap measures the two together). At 100,000 series, every
// 100 bytes here is 10 MB of heap and, with the collector's headroom, 15 MB of RSS.
const seriesHeapBudget = 4_000

// steadySource is a Source of n series that keeps one label map per series from call to call,
// as the Prometheus source does (with the check's labels in it), and returns perFetch fresh
// points of each series per call.
type steadySource struct {
	labels   []map[string]string
	perFetch int
	t0       time.Time
	next     int
}

func newSteadySource(n, perFetch int, check map[string]string) *steadySource {
	s := &steadySource{labels: make([]map[string]string, n), perFetch: perFetch, t0: time.Date(2026, 11, 1, 0, 0, 0, 0, time.UTC)}
	for i := range s.labels {
		m := map[string]string{"instance": fmt.Sprintf("web-%06d:9100", i), "job": "node"}
		for k, v := range check {
			m[k] = v
		}
		s.labels[i] = m
	}
	return s
}

func (s *steadySource) Fetch(context.Context, time.Time) ([]detector.Series, error) {
	out := make([]detector.Series, len(s.labels))
	for i := range out {
		pts := make([]detector.Point, s.perFetch)
		for k := range pts {
			j := s.next + k
			pts[k] = detector.Point{T: s.t0.Add(time.Duration(j) * 15 * time.Second), V: 40 + 5*math.Sin(float64(i+j)/30)}
		}
		out[i] = detector.Series{Labels: s.labels[i], Points: pts}
	}
	s.next += s.perFetch
	return out, nil
}

// TestSeriesHeapBudget: a check keeps at most seriesHeapBudget bytes of heap per series besides
// its model once every series' history is full, sharing the source's label maps rather than
// copying them.
func TestSeriesHeapBudget(t *testing.T) {
	if testing.Short() {
		t.Skip("scores a million points")
	}
	const n = 4000
	check := map[string]string{"env": "prod"}
	src := newSteadySource(n, 64, check)
	before := heapInUse()
	d, err := detector.New(detector.Options{
		Checks: []detector.CheckSpec{{Name: "wide", Source: src, Schedule: cron.Every(15 * time.Second), Threshold: threshold,
			Labels: check, Factory: func() detector.Model { return &meanModel{} }}},
		ForgetAfter: 7 * 24 * time.Hour, Logger: obs.Discard(), Registerer: prometheus.NewRegistry(),
	})
	if err != nil {
		t.Fatal(err)
	}
	for range (detector.DefaultHistoryPoints + 63) / 64 { // every series' history full
		if _, err := d.Tick(context.Background(), "wide"); err != nil {
			t.Fatal(err)
		}
	}
	after := heapInUse()
	runtime.KeepAlive(d)
	runtime.KeepAlive(src)
	perSeries := (float64(after) - float64(before)) / n
	t.Logf("%.0f bytes of heap per series besides its model (%d series, histories full)", perSeries, n)
	if perSeries > seriesHeapBudget {
		t.Errorf("a series costs %.0f bytes of heap besides its model, over the budget of %d", perSeries, seriesHeapBudget)
	}
}
