package detector_test

import (
	"context"
	"encoding/json"
	"errors"
	"log/slog"
	"maps"
	"math"
	"strings"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/smartcloudops/smartcloudops/detector"
	"github.com/smartcloudops/smartcloudops/detector/source/replay"
	"github.com/smartcloudops/smartcloudops/internal/config"
	"github.com/smartcloudops/smartcloudops/internal/obs"
	"github.com/smartcloudops/smartcloudops/internal/store"
)

// spike is a noisy flat series around 40 with a jump to 97 for a few points near the end.
func spike(n, at int) []detector.Point {
	t0 := time.Date(2026, 11, 1, 0, 0, 0, 0, time.UTC)
	pts := make([]detector.Point, n)
	for i := range pts {
		v := 40 + 3*math.Sin(float64(i)/5) + float64(i%7)/3
		if i >= at && i < at+6 {
			v = 97
		}
		pts[i] = detector.Point{T: t0.Add(time.Duration(i) * time.Minute), V: v}
	}
	return pts
}

// meanModel is a deterministic test model: the score is how far the value is from the running
// mean, in multiples of 10, capped at 1; the band is mean ± 10. It warms up for 20 points.
type meanModel struct {
	N   int     `json:"n"`
	Sum float64 `json:"sum"`
}

func (m *meanModel) Name() string    { return "mean" }
func (m *meanModel) WarmupLeft() int { return max(0, 20-m.N) }
func (m *meanModel) Observe(p detector.Point) detector.Score {
	var s detector.Score
	if m.N >= 20 {
		mean := m.Sum / float64(m.N)
		s = detector.Score{Score: min(1, math.Abs(p.V-mean)/40), Expected: mean, Lower: mean - 10, Upper: mean + 10, Models: []string{"mean"}}
	}
	m.N++
	m.Sum += p.V
	return s
}
func (m *meanModel) MarshalBinary() ([]byte, error) { return json.Marshal(m) }
func (m *meanModel) UnmarshalBinary(b []byte) error { return json.Unmarshal(b, m) }

func loadMean(b []byte) (detector.Model, error) {
	m := &meanModel{}
	return m, m.UnmarshalBinary(b)
}

const threshold = 0.5

// collect returns an OnTick that appends the tick's anomalies and recoveries to an and rec (either
// may be nil).
func collect(an *[]detector.Anomaly, rec *[]detector.Recovery) func(context.Context, detector.Tick) {
	return func(_ context.Context, t detector.Tick) {
		for _, e := range t.Events {
			switch {
			case e.Anomaly != nil && an != nil:
				*an = append(*an, *e.Anomaly)
			case e.Recovery != nil && rec != nil:
				*rec = append(*rec, *e.Recovery)
			}
		}
	}
}

func newDetector(t *testing.T, src detector.Source, st store.Store, an *[]detector.Anomaly, rec *[]detector.Recovery) *detector.Detector {
	t.Helper()
	sched, _ := config.ParseSchedule("@every 1s")
	d, err := detector.New(detector.Options{
		Checks: []detector.CheckSpec{{Name: "cpu", Severity: "warning", Unit: "%", Labels: map[string]string{"asg": "web-asg"},
			Source: src, Schedule: sched, Threshold: threshold, Factory: func() detector.Model { return &meanModel{} }}},
		OnTick: collect(an, rec),
		Store:  st, LoadModel: loadMean,
		Logger: obs.Discard(), Registerer: prometheus.NewRegistry(),
	})
	if err != nil {
		t.Fatal(err)
	}
	return d
}

func TestSpikeBecomesAnomalyThenRecovers(t *testing.T) {
	src, _ := replay.New(replay.Options{Points: spike(600, 500), Speed: 20})
	var an []detector.Anomaly
	var rec []detector.Recovery
	d := newDetector(t, src, nil, &an, &rec)
	for !src.Done() {
		if _, err := d.Tick(context.Background(), "cpu"); err != nil {
			t.Fatal(err)
		}
	}
	if len(an) == 0 {
		t.Fatal("the spike was not found")
	}
	a := an[0]
	if !a.Opened || a.PeakValue != 97 || a.Labels["asg"] != "web-asg" || a.Since.IsZero() || a.Since.After(a.T) {
		t.Fatalf("anomaly lacks what a person needs: opened %v peak value %v labels %v since %v t %v", a.Opened, a.PeakValue, a.Labels, a.Since, a.T)
	}
	if !(a.Upper < a.PeakValue) || a.Peak < threshold {
		t.Fatalf("peak %v should be above the band (%v..%v), peak score %v", a.PeakValue, a.Lower, a.Upper, a.Peak)
	}
	if len(rec) == 0 || !rec[0].Since.Equal(a.Since) {
		t.Fatalf("no recovery after the spike: %+v", rec)
	}
}

// TestRestartResumesState checks the model state is saved and restored, so a second detector
// on the same store scores the next points as the first would have.
func TestRestartResumesState(t *testing.T) {
	pts := spike(400, 1000)
	st := store.NewMemory()
	var an []detector.Anomaly
	var rec []detector.Recovery
	first, _ := replay.New(replay.Options{Points: pts[:300], Speed: 300})
	d1 := newDetector(t, first, st, &an, &rec)
	d1.Tick(context.Background(), "cpu")

	cont, _ := replay.New(replay.Options{Points: pts[300:], Speed: 100})
	d2 := newDetector(t, cont, st, &an, &rec)
	d2.Tick(context.Background(), "cpu")
	whole, _ := replay.New(replay.Options{Points: pts, Speed: 400})
	d3 := newDetector(t, whole, nil, &an, &rec)
	d3.Tick(context.Background(), "cpu")
	h2, h3 := d2.History("cpu"), d3.History("cpu")
	for i := range h2 {
		s2, s3 := h2[i].Points, h3[i].Points
		last2, last3 := s2[len(s2)-1], s3[len(s3)-1]
		if last2.T != last3.T || math.Abs(last2.Expected-last3.Expected) > 1e-9 || math.Abs(last2.Score-last3.Score) > 1e-9 {
			t.Fatalf("restored scoring differs: %+v vs %+v", last2, last3)
		}
		return
	}
	t.Fatal("no series after restart")
}

func TestFailingSourceIsDegraded(t *testing.T) {
	src := detector.SourceFunc(func(context.Context, time.Time) ([]detector.Series, error) {
		return nil, errors.New("connection refused")
	})
	var an []detector.Anomaly
	var rec []detector.Recovery
	d := newDetector(t, src, nil, &an, &rec)
	if _, err := d.Tick(context.Background(), "cpu"); err == nil {
		t.Fatal("no error")
	}
	st := d.Status()[0]
	if st.Up || st.LastError != "connection refused" {
		t.Fatalf("status: %+v", st)
	}
}

func TestBadPointsAreSkipped(t *testing.T) {
	t0 := time.Now()
	src, _ := replay.New(replay.Options{Points: []detector.Point{
		{T: t0, V: 1}, {T: t0, V: 2}, {T: t0.Add(-time.Second), V: 3}, {T: t0.Add(time.Second), V: math.NaN()}, {T: t0.Add(2 * time.Second), V: math.Inf(1)}, {T: t0.Add(3 * time.Second), V: 4},
	}, Speed: 10})
	var an []detector.Anomaly
	var rec []detector.Recovery
	d := newDetector(t, src, nil, &an, &rec)
	if _, err := d.Tick(context.Background(), "cpu"); err != nil {
		t.Fatal(err)
	}
	for _, h := range d.History("cpu") {
		if len(h.Points) != 2 {
			t.Fatalf("scored %d points, want 2 (duplicates, unordered, NaN and Inf skipped)", len(h.Points))
		}
	}
}

func TestUnscorablePointsAreCountedAndNamedOnce(t *testing.T) {
	t0 := time.Date(2026, 11, 1, 0, 0, 0, 0, time.UTC)
	at := func(i int) time.Time { return t0.Add(time.Duration(i) * time.Minute) }
	pts := []detector.Point{
		{T: at(0), V: 1}, {T: at(1), V: math.NaN()}, {T: at(2), V: 2}, {T: at(2), V: 3}, // duplicate
		{T: at(1), V: 4}, {T: at(3), V: math.Inf(1)}, {T: at(4), V: 5}, // out of order, Inf
	}
	src, _ := replay.New(replay.Options{Points: pts, Speed: len(pts)})
	var logs strings.Builder
	reg := prometheus.NewRegistry()
	sched, _ := config.ParseSchedule("@every 1s")
	d, err := detector.New(detector.Options{
		Checks: []detector.CheckSpec{{Name: "cpu", Source: src, Schedule: sched, Threshold: threshold,
			Labels: map[string]string{"host": "a"}, Factory: func() detector.Model { return &meanModel{} }}},
		Logger: slog.New(slog.NewTextHandler(&logs, nil)), Registerer: reg,
	})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := d.Tick(context.Background(), "cpu"); err != nil {
		t.Fatal(err)
	}
	want := map[string]float64{"not_finite": 2, "not_after_previous": 2}
	mfs, _ := reg.Gather()
	got := map[string]float64{}
	for _, mf := range mfs {
		if mf.GetName() != "smartcloudops_detector_points_dropped_total" {
			continue
		}
		for _, m := range mf.GetMetric() {
			for _, l := range m.GetLabel() {
				if l.GetName() == "reason" {
					got[l.GetValue()] = m.GetCounter().GetValue()
				}
			}
		}
	}
	if !maps.Equal(got, want) {
		t.Errorf("dropped points %v, want %v", got, want)
	}
	out := logs.String()
	if n := strings.Count(out, "level=WARN"); n != 2 {
		t.Errorf("%d warnings, want one per reason:\n%s", n, out)
	}
	if !strings.Contains(out, `series="{host=\"a\"}"`) || !strings.Contains(out, "NaN or infinite") || !strings.Contains(out, "not after the series' latest") {
		t.Errorf("warnings do not name the series and the reason:\n%s", out)
	}
}

// TestSilentSeriesIsForgotten checks that a series sending no new point for ForgetAfter leaves
// memory and the store, that an anomalous span it was in ends with a stale recovery, that a
// series still reporting is kept, and that a series restored after a restart gets the whole
// ForgetAfter from the restart.
func TestSilentSeriesIsForgotten(t *testing.T) {
	t0 := time.Date(2026, 11, 1, 0, 0, 0, 0, time.UTC)
	now := t0
	var next int // the next point of each series
	live := map[string]bool{"a": true, "b": true}
	src := detector.SourceFunc(func(context.Context, time.Time) ([]detector.Series, error) {
		var out []detector.Series
		for _, name := range []string{"a", "b"} {
			if !live[name] {
				continue
			}
			var pts []detector.Point
			for i := next; i < next+30; i++ {
				v := 40.0
				if name == "a" && i >= 25 {
					v = 400 // a is anomalous when it goes silent
				}
				pts = append(pts, detector.Point{T: t0.Add(time.Duration(i) * time.Minute), V: v})
			}
			out = append(out, detector.Series{Labels: map[string]string{"host": name}, Points: pts})
		}
		next += 30
		return out, nil
	})
	st := store.NewMemory()
	var recs []detector.Recovery
	newD := func() *detector.Detector {
		sched, _ := config.ParseSchedule("@every 1m")
		d, err := detector.New(detector.Options{
			Checks: []detector.CheckSpec{{Name: "cpu", Source: src, Schedule: sched, Threshold: threshold,
				Factory: func() detector.Model { return &meanModel{} }}},
			OnTick: collect(nil, &recs),
			Store:  st, LoadModel: loadMean, ForgetAfter: time.Hour,
			Logger: obs.Discard(), Registerer: prometheus.NewRegistry(), Now: func() time.Time { return now },
		})
		if err != nil {
			t.Fatal(err)
		}
		return d
	}
	ctx := context.Background()
	d := newD()
	if _, err := d.Tick(ctx, "cpu"); err != nil {
		t.Fatal(err)
	}
	if s := d.Status()[0]; s.Series != 2 || s.Anomalous != 1 {
		t.Fatalf("after the first tick: %+v, want 2 series, 1 anomalous", s)
	}
	stored := func() int {
		kvs, err := st.List(ctx, "detector/state/cpu/")
		if err != nil {
			t.Fatal(err)
		}
		return len(kvs)
	}
	d.SaveState(ctx)
	if n := stored(); n != 2 {
		t.Fatalf("%d series stored, want 2", n)
	}

	live["a"] = false
	now = now.Add(59 * time.Minute)
	d.Tick(ctx, "cpu")
	if s := d.Status()[0]; s.Series != 2 || len(recs) != 0 {
		t.Fatalf("a series silent for less than ForgetAfter was forgotten: %+v, recoveries %+v", s, recs)
	}
	now = now.Add(2 * time.Minute)
	d.Tick(ctx, "cpu")
	if s := d.Status()[0]; s.Series != 1 || s.Anomalous != 0 {
		t.Fatalf("after a silent hour: %+v, want only b", s)
	}
	if len(recs) != 1 || !recs[0].Stale || recs[0].Labels["host"] != "a" || !recs[0].T.Equal(now) || recs[0].Since.IsZero() {
		t.Fatalf("recoveries %+v, want one stale recovery of a", recs)
	}
	if n := stored(); n != 1 {
		t.Fatalf("%d series stored after forgetting a, want 1", n)
	}

	// After a restart the stored series b gets the whole hour again, even though the detector
	// that saw it last stopped long ago.
	d.SaveState(ctx)
	live["b"] = false
	now = now.Add(24 * time.Hour)
	d2 := newD()
	d2.Tick(ctx, "cpu")
	if s := d2.Status()[0]; s.Series != 1 {
		t.Fatalf("a restored series was forgotten at once: %+v", s)
	}
	now = now.Add(time.Hour)
	d2.Tick(ctx, "cpu")
	if s := d2.Status()[0]; s.Series != 0 || stored() != 0 {
		t.Fatalf("b silent for an hour after the restart: %+v, %d stored", s, stored())
	}
	if len(recs) != 1 {
		t.Fatalf("a series that was normal when forgotten reported a recovery: %+v", recs[1:])
	}
}

// TestHistoryKeepsHistoryPoints: each series keeps its latest HistoryPoints points for charts
// and `rules test`, oldest first.
func TestHistoryKeepsHistoryPoints(t *testing.T) {
	sched, _ := config.ParseSchedule("@every 1m")
	d, err := detector.New(detector.Options{
		Checks: []detector.CheckSpec{{Name: "cpu", Source: &queue{batches: [][]detector.Series{hostA(flat(0, 10, 40)), hostA(flat(10, 3, 41))}},
			Schedule: sched, Threshold: threshold, Factory: func() detector.Model { return &meanModel{} }}},
		HistoryPoints: 5, Logger: obs.Discard(), Registerer: prometheus.NewRegistry(),
	})
	if err != nil {
		t.Fatal(err)
	}
	for range 2 {
		if _, err := d.Tick(context.Background(), "cpu"); err != nil {
			t.Fatal(err)
		}
	}
	pts, ok := d.SeriesPoints("cpu", map[string]string{"host": "a"})
	want := append(flat(8, 2, 40), flat(10, 3, 41)...)
	if !ok || len(pts) != len(want) {
		t.Fatalf("%d points (%v), want %d", len(pts), ok, len(want))
	}
	for i, p := range pts {
		if !p.T.Equal(want[i].T) || p.V != want[i].V {
			t.Fatalf("point %d = %v %v, want %v %v", i, p.T, p.V, want[i].T, want[i].V)
		}
	}
}

// TestLatest: Latest gives a series' latest point exactly as SeriesPoints ends with it, and
// nothing for a series or a check the detector does not have or a series with no point yet.
func TestLatest(t *testing.T) {
	sched, _ := config.ParseSchedule("@every 1m")
	d, err := detector.New(detector.Options{
		Checks: []detector.CheckSpec{{Name: "cpu", Source: &queue{batches: [][]detector.Series{hostA(flat(0, 10, 40)), hostA(flat(10, 3, 41.123456789))}},
			Schedule: sched, Threshold: threshold, Factory: func() detector.Model { return &meanModel{} }}},
		HistoryPoints: 5, Logger: obs.Discard(), Registerer: prometheus.NewRegistry(),
	})
	if err != nil {
		t.Fatal(err)
	}
	a := map[string]string{"host": "a"}
	if _, ok := d.Latest("cpu", a); ok {
		t.Fatal("a latest point before any tick")
	}
	for range 2 {
		if _, err := d.Tick(context.Background(), "cpu"); err != nil {
			t.Fatal(err)
		}
		pts, _ := d.SeriesPoints("cpu", a)
		got, ok := d.Latest("cpu", a)
		if !ok || got != pts[len(pts)-1] {
			t.Fatalf("latest %+v (%v), want %+v", got, ok, pts[len(pts)-1])
		}
	}
	if got, _ := d.Latest("cpu", a); got.V != 41.123456789 || !got.T.Equal(flat(12, 1, 0)[0].T) {
		t.Fatalf("latest %+v is not the last point as scored", got)
	}
	if _, ok := d.Latest("cpu", map[string]string{"host": "b"}); ok {
		t.Fatal("a latest point for a series the check does not have")
	}
	if _, ok := d.Latest("mem", a); ok {
		t.Fatal("a latest point for a check the detector does not have")
	}
}
