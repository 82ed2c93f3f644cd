package detector_test

import (
	"context"
	"encoding/json"
	"errors"
	"slices"
	"sync/atomic"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/smartcloudops/smartcloudops/detector"
	"github.com/smartcloudops/smartcloudops/internal/config"
	"github.com/smartcloudops/smartcloudops/internal/obs"
	"github.com/smartcloudops/smartcloudops/internal/store"
)

// failingList fails listings a given number of times, as a store busy at start-up would.
type failingList struct {
	store.Store
	fails atomic.Int32
}

func (f *failingList) List(ctx context.Context, prefix string) ([]store.KV, error) {
	if f.fails.Add(-1) >= 0 {
		return nil, errors.New("store busy")
	}
	return f.Store.List(ctx, prefix)
}

func (f *failingList) ListPage(ctx context.Context, prefix, after string, limit int) (store.Page, error) {
	if f.fails.Add(-1) >= 0 {
		return store.Page{}, errors.New("store busy")
	}
	return f.Store.ListPage(ctx, prefix, after, limit)
}

// queue hands out one batch per Fetch.
type queue struct{ batches [][]detector.Series }

func (q *queue) Fetch(context.Context, time.Time) ([]detector.Series, error) {
	if len(q.batches) == 0 {
		return nil, nil
	}
	b := q.batches[0]
	q.batches = q.batches[1:]
	return b, nil
}

// flat is n points of value v, one a minute from minute from.
func flat(from, n int, v float64) []detector.Point {
	t0 := time.Date(2026, 11, 1, 0, 0, 0, 0, time.UTC)
	out := make([]detector.Point, n)
	for i := range out {
		out[i] = detector.Point{T: t0.Add(time.Duration(from+i) * time.Minute), V: v}
	}
	return out
}

func hostA(p []detector.Point) []detector.Series {
	return []detector.Series{{Labels: map[string]string{"host": "a"}, Points: p}}
}

// storedPoints is how many points the one stored model of check cpu has learnt.
func storedPoints(t *testing.T, st store.Store) int {
	t.Helper()
	kvs, err := st.List(context.Background(), "detector/state/cpu/")
	if err != nil || len(kvs) != 1 {
		t.Fatalf("stored states: %d, %v", len(kvs), err)
	}
	var m meanModel
	_, b, err := detector.SavedModel(kvs[0].Value)
	if err != nil {
		t.Fatal(err)
	}
	if err := json.Unmarshal(b, &m); err != nil {
		t.Fatal(err)
	}
	return m.N
}

// TestStateNotLoadedIsNotOverwritten: a store that fails once at start-up makes the check wait
// for its state, instead of scoring on fresh models and saving them over what it had learnt.
func TestStateNotLoadedIsNotOverwritten(t *testing.T) {
	ctx := context.Background()
	mem := store.NewMemory()
	var an []detector.Anomaly
	var rec []detector.Recovery
	d1 := newDetector(t, &queue{batches: [][]detector.Series{hostA(flat(0, 500, 40))}}, mem, &an, &rec)
	if _, err := d1.Tick(ctx, "cpu"); err != nil {
		t.Fatal(err)
	}
	d1.SaveState(ctx)
	busy := &failingList{Store: mem}
	busy.fails.Store(1)
	d2 := newDetector(t, &queue{batches: [][]detector.Series{hostA(flat(500, 5, 40)), hostA(flat(505, 5, 40))}}, busy, &an, &rec)
	if _, err := d2.Tick(ctx, "cpu"); err == nil {
		t.Fatal("a tick without its state succeeded")
	}
	if st := d2.Status()[0]; st.Up {
		t.Fatalf("check up while its state cannot be loaded: %+v", st)
	}
	if _, err := d2.Tick(ctx, "cpu"); err != nil {
		t.Fatal(err)
	}
	d2.SaveState(ctx)
	if n := storedPoints(t, mem); n != 505 {
		t.Fatalf("the stored model has learnt %d points, want 505 (500 before the restart and 5 after)", n)
	}
}

// openSpan runs check cpu on mem until its one series is in an anomalous span, and returns the
// detector with the anomaly and the (no) recoveries it reported.
func openSpan(t *testing.T, mem store.Store) (*detector.Detector, []detector.Anomaly, []detector.Recovery) {
	t.Helper()
	var an []detector.Anomaly
	var rec []detector.Recovery
	d := newDetector(t, &queue{batches: [][]detector.Series{hostA(flat(0, 100, 40)), hostA(flat(100, 2, 400))}}, mem, &an, &rec)
	for range 2 {
		if _, err := d.Tick(context.Background(), "cpu"); err != nil {
			t.Fatal(err)
		}
	}
	if len(an) != 1 {
		t.Fatalf("%d anomalies, want 1", len(an))
	}
	return d, an, rec
}

// TestOpenSpanSurvivesACrash: a span is saved when it opens, so after a crash before the next
// periodic save the series still ends it, and its incident resolves.
func TestOpenSpanSurvivesACrash(t *testing.T) {
	ctx := context.Background()
	mem := store.NewMemory()
	_, an, rec := openSpan(t, mem) // and the process dies: no SaveState
	d2 := newDetector(t, &queue{batches: [][]detector.Series{hostA(flat(102, 50, 40))}}, mem, &an, &rec)
	if _, err := d2.Tick(ctx, "cpu"); err != nil {
		t.Fatal(err)
	}
	if len(rec) != 1 || !rec[0].Since.Equal(an[0].Since) {
		t.Fatalf("recoveries after the restart: %+v, want the span of %v", rec, an[0].Since)
	}
}

// TestUnreadableStateKeepsOpenSpan: state this build cannot read leaves the series learning
// afresh, but it keeps its open span, so its incident still resolves.
func TestUnreadableStateKeepsOpenSpan(t *testing.T) {
	ctx := context.Background()
	mem := store.NewMemory()
	d1, _, rec := openSpan(t, mem)
	d1.SaveState(ctx)
	sched, _ := config.ParseSchedule("@every 1s")
	d2, err := detector.New(detector.Options{
		Checks: []detector.CheckSpec{{Name: "cpu", Labels: map[string]string{"asg": "web-asg"}, Source: &queue{batches: [][]detector.Series{hostA(flat(102, 50, 40))}},
			Schedule: sched, Threshold: threshold, Factory: func() detector.Model { return &meanModel{} }}},
		OnTick: collect(nil, &rec),
		Store:  mem, LoadModel: func([]byte) (detector.Model, error) { return nil, errors.New("format version 9 unknown") },
		Logger: obs.Discard(), Registerer: prometheus.NewRegistry(),
	})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := d2.Tick(ctx, "cpu"); err != nil {
		t.Fatal(err)
	}
	if len(rec) != 1 {
		t.Fatalf("%d recoveries, want the span opened before the restart to end", len(rec))
	}
	d2.SaveState(ctx)
	if n := storedPoints(t, mem); n != 50 {
		t.Fatalf("the unreadable state was not replaced: the stored model has %d points, want 50", n)
	}
}

// TestSeriesLabelsWinOverCheckLabels: two series that differ only in a label the check also
// sets stay two series.
func TestSeriesLabelsWinOverCheckLabels(t *testing.T) {
	var an []detector.Anomaly
	var rec []detector.Recovery
	var batches [][]detector.Series
	for i := range 3 {
		batches = append(batches, []detector.Series{
			{Labels: map[string]string{"asg": "web-asg", "instance": "x"}, Points: flat(i, 1, 40)},
			{Labels: map[string]string{"asg": "batch-asg", "instance": "x"}, Points: flat(i, 1, 40)},
			{Labels: map[string]string{"instance": "y"}, Points: flat(i, 1, 40)},
		})
	}
	d := newDetector(t, &queue{batches: batches}, nil, &an, &rec)
	for range 3 {
		if _, err := d.Tick(context.Background(), "cpu"); err != nil {
			t.Fatal(err)
		}
	}
	if st := d.Status()[0]; st.Series != 3 {
		t.Fatalf("three series watched as %d", st.Series)
	}
	var asgs []string
	for _, h := range d.History("cpu") {
		if len(h.Points) != 3 {
			t.Errorf("series %v scored %d points, want 3", h.Labels, len(h.Points))
		}
		asgs = append(asgs, h.Labels["asg"])
	}
	slices.Sort(asgs)
	if got := asgs; len(got) != 3 || got[0] != "batch-asg" || got[1] != "web-asg" || got[2] != "web-asg" {
		t.Fatalf("asg labels %v: want each series' own, and the check's where the series has none", got)
	}
}

// TestRemovedCheckIsForgotten: the state of a check no longer configured is deleted when the
// detector starts, and its open span ends as stale, so its incident resolves.
func TestRemovedCheckIsForgotten(t *testing.T) {
	ctx := context.Background()
	mem := store.NewMemory()
	var recs []detector.Recovery
	mk := func(name string, src detector.Source) *detector.Detector {
		sched, _ := config.ParseSchedule("@every 1h")
		d, err := detector.New(detector.Options{
			Checks: []detector.CheckSpec{{Name: name, Source: src, Schedule: sched, Threshold: threshold,
				Factory: func() detector.Model { return &meanModel{} }}},
			OnTick: collect(nil, &recs),
			Store:  mem, LoadModel: loadMean, ForgetAfter: time.Hour,
			Logger: obs.Discard(), Registerer: prometheus.NewRegistry(),
		})
		if err != nil {
			t.Fatal(err)
		}
		return d
	}
	d1 := mk("cpu", &queue{batches: [][]detector.Series{hostA(append(flat(0, 100, 40), flat(100, 2, 400)...))}})
	if _, err := d1.Tick(ctx, "cpu"); err != nil {
		t.Fatal(err)
	}
	d1.SaveState(ctx)
	d2 := mk("cpu-busy", &queue{})
	runCtx, cancel := context.WithCancel(ctx)
	done := make(chan error)
	go func() { done <- d2.Run(runCtx) }()
	deadline := time.Now().Add(5 * time.Second)
	for !d2.Ready() && time.Now().Before(deadline) {
		time.Sleep(time.Millisecond)
	}
	cancel()
	if err := <-done; err != nil {
		t.Fatal(err)
	}
	kvs, err := mem.List(ctx, "detector/state/")
	if err != nil || len(kvs) != 0 || len(recs) != 1 || !recs[0].Stale || recs[0].Check != "cpu" {
		t.Fatalf("after the rename: %d states stored (%v), recoveries %+v; want none stored and one stale recovery of cpu", len(kvs), err, recs)
	}
}

// TestRestoredSeriesTakesSourceLabels: a series restored from the store holds the labels
// decoded from its record only until its source next returns it; from then on it keeps the
// source's map (which carries the check's labels), so a restart does not keep two maps a series.
func TestRestoredSeriesTakesSourceLabels(t *testing.T) {
	ctx := context.Background()
	mem := store.NewMemory()
	check := map[string]string{"env": "prod"}
	newDet := func(src detector.Source, onTick func(context.Context, detector.Tick)) *detector.Detector {
		sched, _ := config.ParseSchedule("@every 1s")
		d, err := detector.New(detector.Options{
			Checks: []detector.CheckSpec{{Name: "cpu", Source: src, Schedule: sched, Threshold: threshold, Labels: check,
				Factory: func() detector.Model { return &meanModel{} }}},
			OnTick: onTick, Observed: func(string) bool { return true }, Store: mem, LoadModel: loadMean,
			Logger: obs.Discard(), Registerer: prometheus.NewRegistry(),
		})
		if err != nil {
			t.Fatal(err)
		}
		return d
	}
	labels := func() map[string]string { return map[string]string{"host": "a", "env": "prod"} }
	d1 := newDet(&queue{batches: [][]detector.Series{{{Labels: labels(), Points: flat(0, 30, 40)}}}}, nil)
	if _, err := d1.Tick(ctx, "cpu"); err != nil {
		t.Fatal(err)
	}
	d1.SaveState(ctx)

	src := labels()
	var seen []detector.Observation
	d2 := newDet(&queue{batches: [][]detector.Series{{{Labels: src, Points: flat(30, 1, 40)}}, {{Labels: labels(), Points: flat(31, 1, 40)}}}},
		func(_ context.Context, tk detector.Tick) { seen = append(seen, tk.Series...) })
	for range 2 {
		if _, err := d2.Tick(ctx, "cpu"); err != nil {
			t.Fatal(err)
		}
	}
	if len(seen) != 2 {
		t.Fatalf("observations %+v, want one a tick", seen)
	}
	for i, o := range seen {
		if !sameMapOf(o.Labels, src) {
			t.Errorf("tick %d: the restored series' labels %v are not its source's first map", i+1, o.Labels)
		}
	}
}

// sameMapOf reports whether a and b are the same map, not merely equal ones.
func sameMapOf(a, b map[string]string) bool {
	a["\x00probe"] = "x"
	defer delete(a, "\x00probe")
	return b["\x00probe"] == "x"
}
