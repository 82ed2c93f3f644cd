package detector_test

import (
	"context"
	"fmt"
	"math"
	"os"
	"path/filepath"
	"runtime"
	"sync/atomic"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/robfig/cron/v3"

	"github.com/smartcloudops/smartcloudops/detector"
	"github.com/smartcloudops/smartcloudops/detector/model"
	"github.com/smartcloudops/smartcloudops/internal/obs"
	"github.com/smartcloudops/smartcloudops/internal/store"
)

// freshSource is a Source of n series that, like a real one, decodes a fresh label map and a
// fresh slice of points for every series on every call, perFetch points each, benchStep apart.
// A detector that kept the source's maps or slices would have them counted as its own.
type freshSource struct {
	n, perFetch int
	t0          time.Time
	next        int // index of the next point of every series
}

func (s *freshSource) Fetch(context.Context, time.Time) ([]detector.Series, error) {
	out := make([]detector.Series, s.n)
	for i := range out {
		pts := make([]detector.Point, s.perFetch)
		base := 20 + float64(i%60)
		for k := range pts {
			j := s.next + k
			noise := float64(uint32(i*7919+j*104729)%1000)/500 - 1
			pts[k] = detector.Point{T: s.t0.Add(time.Duration(j) * benchStep), V: base + 5*math.Sin(2*math.Pi*float64(j)/benchPeriod) + noise}
		}
		out[i] = detector.Series{Labels: map[string]string{"instance": fmt.Sprintf("web-%06d:9100", i), "job": "node"}, Points: pts}
	}
	s.next += s.perFetch
	return out, nil
}

// heapInUse is the live heap after a full collection.
func heapInUse() uint64 {
	var ms runtime.MemStats
	runtime.GC()
	runtime.GC()
	runtime.ReadMemStats(&ms)
	return ms.HeapAlloc
}

// BenchmarkSeriesHeap measures the heap one series costs a check, all in: its model (the default
// one, after 256 points), its recent points for charts and `rules test` (the history full), its
// labels and the check's bookkeeping. It reports heap bytes per series at 10,000 and 100,000
// series; run it once per size: go test -run '^$' -bench SeriesHeap -benchtime 1x ./detector
func BenchmarkSeriesHeap(b *testing.B) {
	for _, n := range []int{10_000, 100_000} {
		b.Run(fmt.Sprintf("%dk", n/1000), func(b *testing.B) {
			for b.Loop() {
				src := &freshSource{n: n, perFetch: 64, t0: time.Date(2026, 11, 1, 0, 0, 0, 0, time.UTC)}
				before := heapInUse()
				d, err := detector.New(detector.Options{
					Checks: []detector.CheckSpec{{Name: "wide", Source: src, Schedule: cron.Every(15 * time.Second),
						Threshold: model.DefaultThreshold, Factory: model.Default(), Labels: map[string]string{"env": "prod"}}},
					ForgetAfter: 7 * 24 * time.Hour, Logger: obs.Discard(), Registerer: prometheus.NewRegistry(),
				})
				if err != nil {
					b.Fatal(err)
				}
				for range 4 { // 256 points: every series' history is full
					if _, err := d.Tick(context.Background(), "wide"); err != nil {
						b.Fatal(err)
					}
				}
				after := heapInUse()
				if got := d.Status()[0].Series; got != n {
					b.Fatalf("%d series, want %d", got, n)
				}
				b.ReportMetric(float64(after-before)/float64(n), "heap-B/series")
				runtime.KeepAlive(d)
			}
		})
	}
}

// BenchmarkTick100kSeries is BenchmarkTick1000Series/no-store at 100,000 series, reporting the
// time and the allocations of one tick per series: go test -run '^$' -bench Tick -cpu 1 ./detector
func BenchmarkTick100kSeries(b *testing.B) {
	const n = 100_000
	d := newWideDetectorN(b, newWideSource(n), nil, 7*24*time.Hour, n)
	ctx := context.Background()
	var before, after runtime.MemStats
	runtime.ReadMemStats(&before)
	for b.Loop() {
		if _, err := d.Tick(ctx, "wide"); err != nil {
			b.Fatal(err)
		}
	}
	runtime.ReadMemStats(&after)
	ticks := float64(b.N)
	b.ReportMetric(b.Elapsed().Seconds()/ticks*1e3, "ms/tick")
	b.ReportMetric(float64(b.Elapsed().Nanoseconds())/ticks/n, "ns/series")
	b.ReportMetric(float64(after.Mallocs-before.Mallocs)/ticks/n, "allocs/series")
	b.ReportMetric(float64(after.TotalAlloc-before.TotalAlloc)/ticks/n, "B/series")
}

// countingStore counts the bytes of the values written through it.
type countingStore struct {
	store.Store
	bytes, puts atomic.Int64
}

func (c *countingStore) Txn(ctx context.Context, cmps []store.Cmp, ops []store.Op) (uint64, error) {
	for _, op := range ops {
		if !op.Delete {
			c.bytes.Add(int64(len(op.Key) + len(op.Value)))
			c.puts.Add(1)
		}
	}
	return c.Store.Txn(ctx, cmps, ops)
}

// BenchmarkStateSaves100k measures what saving model state costs at 100,000 series on one
// `@every 15s` check with a bbolt store: the bytes written per minute (keys and values), the
// size of the file after ten minutes, and after the first minute the slowest tick with the
// saves it starts (which a scheduled tick leaves to a background write) and the slowest tick as
// scheduled (its histogram's bucket). go test -run '^$' -bench StateSaves -benchtime 1x ./detector
func BenchmarkStateSaves100k(b *testing.B) {
	const n = 100_000
	for b.Loop() {
		path := filepath.Join(b.TempDir(), "state.db")
		bolt, err := store.OpenBolt(path, store.BoltOptions{})
		if err != nil {
			b.Fatal(err)
		}
		cs := &countingStore{Store: bolt}
		now := time.Date(2026, 11, 1, 0, 0, 0, 0, time.UTC)
		src := &freshSource{n: n, perFetch: 1, t0: now}
		reg := prometheus.NewRegistry()
		d, err := detector.New(detector.Options{
			Checks: []detector.CheckSpec{{Name: "wide", Source: src, Schedule: cron.Every(15 * time.Second),
				Threshold: model.DefaultThreshold, Factory: model.Default()}},
			Store: cs, LoadModel: model.Load, ForgetAfter: 7 * 24 * time.Hour,
			Logger: obs.Discard(), Registerer: reg, Now: func() time.Time { return now },
		})
		if err != nil {
			b.Fatal(err)
		}
		ctx := context.Background()
		const minutes = 10
		var lastMinute int64
		var slowest time.Duration
		var firstMinute []uint64
		var ticksBefore uint64
		for i := range minutes * 4 {
			if i == (minutes-1)*4 {
				lastMinute = cs.bytes.Load()
			}
			if i == 4 {
				_, firstMinute, ticksBefore = tickHistogram(b, reg)
			}
			start := time.Now()
			if _, err := d.Tick(ctx, "wide"); err != nil {
				b.Fatal(err)
			}
			if i >= 4 {
				slowest = max(slowest, time.Since(start))
			}
			now = now.Add(15 * time.Second)
		}
		perMinute := cs.bytes.Load() - lastMinute
		if err := bolt.Close(); err != nil {
			b.Fatal(err)
		}
		b.ReportMetric(float64(perMinute)/1e6, "MB-written/min")
		b.ReportMetric(float64(perMinute)/n, "B-written/series/min")
		b.ReportMetric(float64(fileSize(b, path))/1e6, "file-MB")
		b.ReportMetric(slowest.Seconds(), "s-max-tick-with-saves")
		b.ReportMetric(slowestBucket(b, reg, firstMinute, ticksBefore), "s-max-tick-bucket")
	}
}

// tickHistogram returns the tick duration histogram: its buckets' upper bounds and cumulative
// counts, and its count.
func tickHistogram(b *testing.B, reg *prometheus.Registry) (bounds []float64, counts []uint64, total uint64) {
	b.Helper()
	mfs, err := reg.Gather()
	if err != nil {
		b.Fatal(err)
	}
	for _, mf := range mfs {
		if mf.GetName() == "smartcloudops_detector_tick_duration_seconds" {
			h := mf.GetMetric()[0].GetHistogram()
			for _, bk := range h.GetBucket() {
				bounds = append(bounds, bk.GetUpperBound())
				counts = append(counts, bk.GetCumulativeCount())
			}
			return bounds, counts, h.GetSampleCount()
		}
	}
	b.Fatal("no tick histogram")
	return nil, nil, 0
}

// slowestBucket is the upper bound of the bucket of the slowest tick since the histogram had the
// counts before and the count total (+Inf when it is past the last bucket).
func slowestBucket(b *testing.B, reg *prometheus.Registry, before []uint64, total uint64) float64 {
	bounds, counts, now := tickHistogram(b, reg)
	for i := range bounds {
		if counts[i]-before[i] == now-total {
			return bounds[i]
		}
	}
	return math.Inf(1)
}

// BenchmarkShutdown100k measures how long Run takes to return once its context ends, at 100,000
// series on a bbolt store: "idle" with every series changed since its last save and no tick
// running, "tick" with a tick of every series in flight. go test -run '^$' -bench Shutdown -benchtime 1x ./detector
func BenchmarkShutdown100k(b *testing.B) {
	const n = 100_000
	for _, inFlight := range []bool{false, true} {
		name := "idle"
		if inFlight {
			name = "tick"
		}
		b.Run(name, func(b *testing.B) {
			for b.Loop() {
				bolt, err := store.OpenBolt(filepath.Join(b.TempDir(), "state.db"), store.BoltOptions{})
				if err != nil {
					b.Fatal(err)
				}
				fetched := make(chan struct{}, 1)
				inner := &freshSource{n: n, perFetch: 1, t0: time.Date(2026, 11, 1, 0, 0, 0, 0, time.UTC)}
				src := detector.SourceFunc(func(ctx context.Context, now time.Time) ([]detector.Series, error) {
					s, err := inner.Fetch(ctx, now)
					select {
					case fetched <- struct{}{}:
					default:
					}
					return s, err
				})
				sched := cron.Schedule(cron.Every(time.Hour))
				if inFlight {
					sched = cron.Every(time.Second)
				}
				d, err := detector.New(detector.Options{
					Checks: []detector.CheckSpec{{Name: "wide", Source: src, Schedule: sched,
						Threshold: model.DefaultThreshold, Factory: model.Default()}},
					Store: bolt, LoadModel: model.Load, ForgetAfter: 7 * 24 * time.Hour,
					Logger: obs.Discard(), Registerer: prometheus.NewRegistry(),
				})
				if err != nil {
					b.Fatal(err)
				}
				for range 2 {
					if _, err := d.Tick(context.Background(), "wide"); err != nil {
						b.Fatal(err)
					}
				}
				<-fetched
				ctx, cancel := context.WithCancel(context.Background())
				done := make(chan time.Time)
				go func() {
					if err := d.Run(ctx); err != nil {
						b.Error(err)
					}
					done <- time.Now()
				}()
				for !d.Ready() {
					time.Sleep(time.Millisecond)
				}
				if inFlight {
					<-fetched
				}
				stop := time.Now()
				cancel()
				b.ReportMetric((<-done).Sub(stop).Seconds(), "s-to-stop")
				if err := bolt.Close(); err != nil {
					b.Fatal(err)
				}
			}
		})
	}
}

func fileSize(b *testing.B, path string) int64 {
	b.Helper()
	fi, err := os.Stat(path)
	if err != nil {
		b.Fatal(err)
	}
	return fi.Size()
}

// BenchmarkFirstTick100k measures the first tick after a restart at 100,000 series on a bbolt
// store, every series' state stored: reading it back, scoring one point of each and the saves
// that tick makes. go test -run '^$' -bench FirstTick -benchtime 1x ./detector
func BenchmarkFirstTick100k(b *testing.B) {
	const n = 100_000
	for b.Loop() {
		b.StopTimer()
		path := filepath.Join(b.TempDir(), "state.db")
		bolt, err := store.OpenBolt(path, store.BoltOptions{})
		if err != nil {
			b.Fatal(err)
		}
		now := time.Date(2026, 11, 1, 0, 0, 0, 0, time.UTC)
		src := &freshSource{n: n, perFetch: 64, t0: now}
		mk := func() *detector.Detector {
			d, err := detector.New(detector.Options{
				Checks: []detector.CheckSpec{{Name: "wide", Source: src, Schedule: cron.Every(15 * time.Second),
					Threshold: model.DefaultThreshold, Factory: model.Default()}},
				Store: bolt, LoadModel: model.Load, ForgetAfter: 7 * 24 * time.Hour,
				Logger: obs.Discard(), Registerer: prometheus.NewRegistry(), Now: func() time.Time { return now },
			})
			if err != nil {
				b.Fatal(err)
			}
			return d
		}
		ctx := context.Background()
		d := mk()
		if _, err := d.Tick(ctx, "wide"); err != nil {
			b.Fatal(err)
		}
		d.SaveState(ctx)
		src.perFetch = 1
		now = now.Add(15 * time.Second)
		d = mk()
		b.StartTimer()
		start := time.Now()
		if _, err := d.Tick(ctx, "wide"); err != nil {
			b.Fatal(err)
		}
		b.ReportMetric(time.Since(start).Seconds(), "s-first-tick")
		b.StopTimer()
		if got := d.Status()[0].Series; got != n {
			b.Fatalf("%d series after the restart, want %d", got, n)
		}
		if err := bolt.Close(); err != nil {
			b.Fatal(err)
		}
		b.StartTimer()
	}
}
