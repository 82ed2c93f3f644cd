package loadtest

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"sort"
	"strings"
	"sync"
	"time"

	"github.com/smartcloudops/smartcloudops/detector"
)

// SteadyOptions configures the steady scenario: one check over Series series of a calm daily
// pattern, scheduled every Interval, measured over Ticks ticks after WarmTicks.
type SteadyOptions struct {
	Series    int
	Interval  time.Duration
	WarmTicks int
	Ticks     int
	// FullHistory measures once every series' history is full: Ticks is raised so that the warm
	// and measured ticks are at least detector.DefaultHistoryPoints (each tick adds a point).
	FullHistory bool
}

// HistoryTicks is how many ticks fill a series' history: each tick adds at least one point.
const HistoryTicks = detector.DefaultHistoryPoints

// ticks is Ticks, raised to fill every series' history when FullHistory is set.
func (o SteadyOptions) ticks() int {
	if o.FullHistory {
		return max(o.Ticks, HistoryTicks-o.WarmTicks)
	}
	return o.Ticks
}

// SteadyReport is the steady tick, the memory per series and the state saving at N series.
type SteadyReport struct {
	Series   int    `json:"series"`
	Interval string `json:"interval"`
	// The tick, from the bot's own smartcloudops_detector_tick_duration_seconds over the
	// measured ticks (bucket bounds .5, 1, 2.5, 5, 10 s: the quantiles are interpolated).
	Ticks    int     `json:"ticks_measured"`
	TickP50  float64 `json:"tick_p50_seconds"`
	TickP99  float64 `json:"tick_p99_seconds"`
	TickMean float64 `json:"tick_mean_seconds"` // exact: the histogram's sum over its count
	// TicksAboveTop ticks took longer than the histogram's largest finite bound, TickTop: a
	// quantile that falls among them is only known to be above it.
	TickTop       float64 `json:"tick_histogram_top_seconds"`
	TicksAboveTop int     `json:"ticks_above_top"`
	TicksSkipped  int     `json:"ticks_skipped"`
	// The fake Prometheus' own time to build and send one answer: part of every tick.
	FakeServeMean float64 `json:"fake_prometheus_answer_mean_seconds"`
	FakeServeMax  float64 `json:"fake_prometheus_answer_max_seconds"`
	AnswerBytes   int64   `json:"fake_prometheus_answer_bytes"`
	// Incidents the calm pattern opened: false alarms (a model or fake problem, not load).
	FalseIncidents int `json:"false_incidents"`
	// Memory at the end: RSS and its peak from /proc, the Go heap in use from the bot's metrics,
	// and RSS right after start, before the first tick.
	RSSIdle          int64   `json:"rss_idle_bytes"`
	RSS              int64   `json:"rss_bytes"`
	RSSPeak          int64   `json:"rss_peak_bytes"`
	HeapInuse        int64   `json:"heap_inuse_bytes"`
	RSSAnon          int64   `json:"rss_anon_bytes"` // of RSS: the Go heap, stacks and runtime
	RSSFile          int64   `json:"rss_file_bytes"` // of RSS: the binary and the mapped bbolt file
	RSSPerSeries     float64 `json:"rss_per_series_bytes"`
	RSSAddedPerSerie float64 `json:"rss_added_per_series_bytes"` // (RSS − idle RSS) / N
	HeapPerSeries    float64 `json:"heap_per_series_bytes"`
	// HistoryPoints is how many points each series' history held at least when memory was read
	// (one a tick, up to detector.DefaultHistoryPoints); HistoryFull when that is all of them.
	HistoryPoints int  `json:"history_points"`
	HistoryFull   bool `json:"history_full"`
	// State saving: bursts of write_bytes in /proc/PID/io during the measured ticks (the model
	// state of every changed series is written once a minute), the bbolt file after shutdown,
	// and how long SIGTERM took to end the process (it saves the state once more).
	Saves            int     `json:"saves_observed"`
	OtherWrites      int     `json:"small_write_bursts"` // incidents, logs: under a tenth of the largest burst
	SaveBytes        int64   `json:"bytes_per_save_median"`
	SaveSeconds      float64 `json:"save_burst_seconds_median"`
	StateFile        int64   `json:"state_file_bytes"`
	StatePerSeries   float64 `json:"state_file_per_series_bytes"`
	Shutdown         float64 `json:"shutdown_seconds"`
	ShutdownTimedOut bool    `json:"shutdown_timed_out,omitempty"`
	Conditions       Conditions
}

// Steady runs the steady scenario.
func Steady(ctx context.Context, e Env, o SteadyOptions) (*SteadyReport, error) {
	o.Ticks = o.ticks()
	dir, err := e.dir("steady")
	if err != nil {
		return nil, err
	}
	w := startWatch(ctx)
	defer w.close()
	rep := &SteadyReport{Series: o.Series, Interval: o.Interval.String()}
	prom := NewFakeProm(o.Series, DefaultPattern())
	if err := prom.Start(); err != nil {
		return nil, err
	}
	defer prom.Close()
	model, err := e.train(ctx, prom, o.Interval, dir)
	if err != nil {
		return nil, err
	}
	b, err := NewBot(ctx, e.Bin, dir, BotSpec{Prometheus: prom.URL, Checks: []map[string]any{checkSpec(model, o.Interval)}})
	if err != nil {
		return nil, err
	}
	defer b.Kill()
	if err := b.Start(ctx); err != nil {
		return nil, err
	}
	rep.RSSIdle, _ = b.ProcStatus()
	e.logf("steady: %d series every %s; %d ticks to warm in, %d measured", o.Series, o.Interval, o.WarmTicks, o.Ticks)
	// A tick of N series may take longer than the interval; allow each three intervals and a minute.
	perTick := 3*o.Interval + time.Minute
	m0, err := waitMetrics(ctx, b, time.Second, time.Duration(o.WarmTicks+1)*perTick, "the warm-in ticks", func(m Metrics) bool {
		return m.Histogram(mTick, checkLoad).Count >= float64(o.WarmTicks)
	})
	if err != nil {
		return rep, err
	}
	p0 := prom.Stats()
	writes := startIOSampler(b, 250*time.Millisecond)
	m1, err := waitMetrics(ctx, b, time.Second, time.Duration(o.Ticks+1)*perTick, "the measured ticks", func(m Metrics) bool {
		return m.Histogram(mTick, checkLoad).Count >= float64(o.WarmTicks+o.Ticks)
	})
	samples := writes.stop()
	if err != nil {
		return rep, err
	}
	p1 := prom.Stats()
	h := m1.Histogram(mTick, checkLoad).Sub(m0.Histogram(mTick, checkLoad))
	rep.Ticks, rep.TickP50, rep.TickP99, rep.TickMean = int(h.Count), h.Quantile(0.5), h.Quantile(0.99), h.Mean()
	rep.TickTop, rep.TicksAboveTop = h.Top()
	rep.TicksSkipped = int(m1.Sum(mSkipped, checkLoad))
	if q := p1.Queries - p0.Queries; q > 0 {
		rep.FakeServeMean = (p1.ServeTime - p0.ServeTime).Seconds() / float64(q)
		rep.AnswerBytes = (p1.Bytes - p0.Bytes) / int64(q)
	}
	rep.FakeServeMax = p1.MaxServe.Seconds()
	rep.FalseIncidents = int(m1.Sum(mOpened, nil))
	pm := b.ProcMemory()
	rep.RSS, rep.RSSPeak, rep.RSSAnon, rep.RSSFile = pm.RSS, pm.HWM, pm.Anon, pm.File
	rep.HistoryPoints = min(o.WarmTicks+o.Ticks, detector.DefaultHistoryPoints)
	rep.HistoryFull = rep.HistoryPoints == detector.DefaultHistoryPoints
	rep.HeapInuse = int64(m1.Sum(mHeap, nil))
	n := float64(o.Series)
	rep.RSSPerSeries, rep.HeapPerSeries = float64(rep.RSS)/n, float64(rep.HeapInuse)/n
	rep.RSSAddedPerSerie = float64(rep.RSS-rep.RSSIdle) / n
	if err := writeSamples(filepath.Join(dir, "writes.csv"), samples); err != nil {
		return rep, err
	}
	saves, other := splitSaves(writeBursts(samples, 2*time.Second))
	rep.Saves, rep.OtherWrites = len(saves), len(other)
	if len(saves) > 0 {
		sizes := make([]float64, len(saves))
		durs := make([]float64, len(saves))
		for i, s := range saves {
			sizes[i], durs[i] = float64(s.Bytes), s.Took.Seconds()
		}
		sort.Float64s(sizes)
		sort.Float64s(durs)
		rep.SaveBytes, rep.SaveSeconds = int64(median(sizes)), median(durs)
	}
	took, stopErr := b.Stop(5 * time.Minute)
	rep.Shutdown, rep.ShutdownTimedOut = took.Seconds(), stopErr != nil
	rep.StateFile = b.StoreSize()
	rep.StatePerSeries = float64(rep.StateFile) / n
	rep.Conditions = w.stop(b.CPU(), 0)
	e.logf("steady: tick p50 %.2fs p99 %.2fs; RSS %s (%s a series); state file %s; shutdown %.1fs",
		rep.TickP50, rep.TickP99, bytesText(rep.RSS), bytesText(int64(rep.RSSPerSeries)), bytesText(rep.StateFile), rep.Shutdown)
	return rep, nil
}

// ioSample is the bot's write_bytes at one moment.
type ioSample struct {
	At    time.Time
	Bytes int64
}

type ioSampler struct {
	b       *Bot
	mu      sync.Mutex
	samples []ioSample
	done    chan struct{}
	wg      sync.WaitGroup
}

func startIOSampler(b *Bot, every time.Duration) *ioSampler {
	s := &ioSampler{b: b, done: make(chan struct{})}
	s.wg.Add(1)
	go func() {
		defer s.wg.Done()
		t := time.NewTicker(every)
		defer t.Stop()
		for {
			storage, _ := b.WriteBytes()
			s.mu.Lock()
			s.samples = append(s.samples, ioSample{At: time.Now(), Bytes: storage})
			s.mu.Unlock()
			select {
			case <-t.C:
			case <-s.done:
				return
			}
		}
	}()
	return s
}

func (s *ioSampler) stop() []ioSample {
	close(s.done)
	s.wg.Wait()
	return s.samples
}

// writeSamples keeps the write_bytes samples, to look at the saves in detail.
func writeSamples(path string, samples []ioSample) error {
	var b strings.Builder
	b.WriteString("unix_ms,write_bytes\n")
	for _, s := range samples {
		fmt.Fprintf(&b, "%d,%d\n", s.At.UnixMilli(), s.Bytes)
	}
	return os.WriteFile(path, []byte(b.String()), 0o600)
}

// splitSaves tells the saves of the model state, the large bursts (at least a tenth of the
// largest), from the small writes of incidents and logs between them.
func splitSaves(bursts []burst) (saves, other []burst) {
	var largest int64
	for _, b := range bursts {
		largest = max(largest, b.Bytes)
	}
	for _, b := range bursts {
		if b.Bytes*10 >= largest {
			saves = append(saves, b)
		} else {
			other = append(other, b)
		}
	}
	return saves, other
}

// burst is one run of writes.
type burst struct {
	Bytes int64
	Took  time.Duration
}

// writeBursts groups samples of a growing byte count into bursts: runs of growth with no gap of
// quiet or longer inside. A burst still going at the first or the last sample is left out, as
// only part of it was seen.
func writeBursts(samples []ioSample, quiet time.Duration) []burst {
	var out []burst
	var cur *burst
	var first, last time.Time // of the current burst's growth
	open := false             // the current burst began at the first interval
	for i := 1; i < len(samples); i++ {
		d := samples[i].Bytes - samples[i-1].Bytes
		if d > 0 {
			if cur == nil {
				cur, first, open = &burst{}, samples[i-1].At, i == 1
			}
			cur.Bytes += d
			last = samples[i].At
			continue
		}
		if cur != nil && samples[i].At.Sub(last) >= quiet {
			if !open {
				cur.Took = last.Sub(first)
				out = append(out, *cur)
			}
			cur = nil
		}
	}
	return out
}

// bytesText writes n in decimal units, as the issue states its targets (12 KB, 900 MB, 1.2 GB).
func bytesText(n int64) string {
	switch {
	case n >= 1e9:
		return fmt.Sprintf("%.2f GB", float64(n)/1e9)
	case n >= 1e6:
		return fmt.Sprintf("%.1f MB", float64(n)/1e6)
	case n >= 1e3:
		return fmt.Sprintf("%.1f KB", float64(n)/1e3)
	}
	return fmt.Sprintf("%d B", n)
}
