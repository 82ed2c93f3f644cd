package detector_test

import (
	"context"
	"fmt"
	"math"
	"math/rand/v2"
	"path/filepath"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/robfig/cron/v3"

	"github.com/smartcloudops/smartcloudops/detector"
	"github.com/smartcloudops/smartcloudops/detector/model"
	"github.com/smartcloudops/smartcloudops/internal/obs"
	"github.com/smartcloudops/smartcloudops/internal/store"
)

const (
	benchSeries = 1000 // series one check returns per tick
	benchWarmup = 200  // ticks every series sees before timing starts
	benchPeriod = 512  // length of each series' precomputed value cycle
	benchStep   = 15 * time.Second
)

// wideSource is a Source whose every call returns one new point for each of its series. The
// values are computed once, so a benchmark built on it measures scoring and bookkeeping only.
type wideSource struct {
	batch  []detector.Series
	values [][]float64 // values[series][tick % benchPeriod]
	t0     time.Time
	tick   int
}

// newWideSource prepares n series: each a daily-shaped level with noise, on its own base.
func newWideSource(n int) *wideSource {
	r := rand.New(rand.NewPCG(1, 2))
	s := &wideSource{
		batch:  make([]detector.Series, n),
		values: make([][]float64, n),
		t0:     time.Date(2026, 11, 1, 0, 0, 0, 0, time.UTC),
	}
	for i := range n {
		s.batch[i] = detector.Series{
			Labels: map[string]string{"instance": fmt.Sprintf("web-%04d:9100", i), "job": "node"},
			Points: make([]detector.Point, 1),
		}
		base := 20 + r.Float64()*60
		vs := make([]float64, benchPeriod)
		for k := range vs {
			vs[k] = base + 5*math.Sin(2*math.Pi*float64(k)/benchPeriod) + r.NormFloat64()
		}
		s.values[i] = vs
	}
	return s
}

// Fetch implements detector.Source. The detector reads the batch before the next call, so the
// same slices are refilled each time.
func (s *wideSource) Fetch(context.Context, time.Time) ([]detector.Series, error) {
	t := s.t0.Add(time.Duration(s.tick) * benchStep)
	k := s.tick % benchPeriod
	for i := range s.batch {
		s.batch[i].Points[0] = detector.Point{T: t, V: s.values[i][k]}
	}
	s.tick++
	return s.batch, nil
}

// newWideDetector builds a detector with one check over src, warmed up for benchWarmup ticks.
func newWideDetector(b *testing.B, src detector.Source, st store.Store) *detector.Detector {
	return newWideDetectorForgetting(b, src, st, 7*24*time.Hour)
}

// newWideDetectorForgetting is newWideDetector with the given ForgetAfter (the bot's default
// is seven days).
func newWideDetectorForgetting(b *testing.B, src detector.Source, st store.Store, forget time.Duration) *detector.Detector {
	return newWideDetectorN(b, src, st, forget, benchSeries)
}

// newWideDetectorN is newWideDetectorForgetting for a source of n series.
func newWideDetectorN(b *testing.B, src detector.Source, st store.Store, forget time.Duration, n int) *detector.Detector {
	b.Helper()
	o := detector.Options{
		ForgetAfter: forget,
		Checks: []detector.CheckSpec{{
			Name: "wide", Severity: "warning", Source: src, Schedule: cron.Every(time.Minute),
			Threshold: model.DefaultThreshold, Factory: model.Default(),
		}},

		Logger:     obs.Discard(),
		Registerer: prometheus.NewRegistry(),
	}
	if st != nil {
		o.Store, o.LoadModel = st, model.Load
	}
	d, err := detector.New(o)
	if err != nil {
		b.Fatal(err)
	}
	ctx := context.Background()
	for range benchWarmup {
		if _, err := d.Tick(ctx, "wide"); err != nil {
			b.Fatal(err)
		}
	}
	if got := d.Status()[0].Series; got != n {
		b.Fatalf("warm-up left %d series, want %d", got, n)
	}
	return d
}

// benchTicks times d.Tick and reports the wall time of one tick in milliseconds and of one
// scored point in nanoseconds.
func benchTicks(b *testing.B, d *detector.Detector) {
	b.Helper()
	ctx := context.Background()
	b.ReportAllocs()
	for b.Loop() {
		if _, err := d.Tick(ctx, "wide"); err != nil {
			b.Fatal(err)
		}
	}
	perTick := b.Elapsed().Seconds() / float64(b.N)
	b.ReportMetric(perTick*1e3, "ms/tick")
	b.ReportMetric(perTick*1e9/benchSeries, "ns/point")
}

// BenchmarkTick1000Series measures the budget "a check returning 1,000 series is scored in under
// 100 ms once the query has returned": one tick of one check whose source returns 1,000 series
// of one new point each, scored by the default model. The variants add the saves of model state
// a tick makes (of the series whose episode opened or ended, and of those whose periodic save
// came due), to an in-memory store and to the bbolt file the bot uses; all forget silent series
// after seven days, as the bot does by default, and "keep-all" is the baseline that never
// forgets, for the cost of looking for silent series. BenchmarkStateSaves100k measures the
// periodic saves themselves.
func BenchmarkTick1000Series(b *testing.B) {
	b.Run("no-store", func(b *testing.B) {
		benchTicks(b, newWideDetector(b, newWideSource(benchSeries), nil))
	})
	b.Run("no-store-keep-all", func(b *testing.B) {
		benchTicks(b, newWideDetectorForgetting(b, newWideSource(benchSeries), nil, 0))
	})
	b.Run("memory-store", func(b *testing.B) {
		benchTicks(b, newWideDetector(b, newWideSource(benchSeries), store.NewMemory()))
	})
	b.Run("bolt-store", func(b *testing.B) {
		st, err := store.OpenBolt(filepath.Join(b.TempDir(), "bench.db"), store.BoltOptions{})
		if err != nil {
			b.Fatal(err)
		}
		b.Cleanup(func() {
			if err := st.Close(); err != nil {
				b.Error(err)
			}
		})
		benchTicks(b, newWideDetector(b, newWideSource(benchSeries), st))
	})
}
