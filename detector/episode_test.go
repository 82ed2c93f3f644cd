package detector_test

import (
	"context"
	"slices"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/smartcloudops/smartcloudops/detector"
	"github.com/smartcloudops/smartcloudops/internal/config"
	"github.com/smartcloudops/smartcloudops/internal/obs"
)

// steps runs points (value, score, expected, lower, upper) through a lifecycle and returns the
// step of each.
func steps(l detector.Lifecycle, pts [][5]float64) ([]detector.Step, detector.Episode) {
	t0 := time.Date(2026, 11, 1, 0, 0, 0, 0, time.UTC)
	var ep detector.Episode
	out := make([]detector.Step, len(pts))
	for i, p := range pts {
		sc := detector.Scored{Point: detector.Point{T: t0.Add(time.Duration(i) * time.Second), V: p[0]},
			Score: p[1], Expected: p[2], Lower: p[3], Upper: p[4]}
		out[i] = l.Step(&ep, sc, []string{"level"})
	}
	return out, ep
}

// TestEpisodeFollowsTheFrozenBand: a model that adapts to a load lowers its score and widens its
// band while the load lasts; the episode is judged against the band of its first point, so it
// stays open until the value is back inside that band for ResolveAfter points.
func TestEpisodeFollowsTheFrozenBand(t *testing.T) {
	l := detector.Lifecycle{Threshold: 0.5, ResolveAfter: 3}
	got, ep := steps(l, [][5]float64{
		{2, 0.1, 2, 0, 4},     // normal
		{40, 0.99, 2, 0, 4},   // the load starts: opens, band 0..4 frozen
		{40, 0.30, 20, 5, 45}, // the model has adapted: score low, its own band holds 40
		{41, 0.05, 38, 30, 46},
		{3, 0.40, 38, 30, 46}, // the load ended: back inside 0..4
		{2, 0.70, 30, 20, 40}, // a high score keeps it open though the value is inside
		{2, 0.10, 25, 10, 40},
		{3, 0.10, 20, 5, 40},
		{2, 0.10, 15, 0, 30},  // third normal point in a row: resolved
		{40, 0.80, 10, 0, 25}, // the same load again: a new episode, a recurrence of the first
	})
	want := []detector.Step{detector.StepNone, detector.StepOpened, detector.StepContinue, detector.StepContinue,
		detector.StepContinue, detector.StepContinue, detector.StepContinue, detector.StepContinue,
		detector.StepResolved, detector.StepOpened}
	for i := range want {
		if got[i] != want[i] {
			t.Fatalf("point %d: step %v, want %v (all: %v)", i, got[i], want[i], got)
		}
	}
	// The same load an instant after the first is a recurrence: judged against the band from
	// before the first, not the one the model has learnt since.
	if ep.Lower != 0 || ep.Upper != 4 || ep.Peak != 0.8 || ep.PeakValue != 40 || !slices.Contains(ep.Models, detector.PartRecurrence) {
		t.Fatalf("the second episode: %+v, want the recurrence against 0..4, peak 0.8 at 40", ep)
	}
}

// TestEpisodePeak: the peak is the highest score and the value furthest from the expected one.
func TestEpisodePeak(t *testing.T) {
	_, ep := steps(detector.Lifecycle{Threshold: 0.5}, [][5]float64{
		{60, 0.6, 50, 45, 55}, {80, 0.9, 50, 45, 55}, {70, 0.7, 60, 45, 75},
	})
	if ep.Peak != 0.9 || ep.PeakValue != 80 || ep.Expected != 50 {
		t.Fatalf("episode %+v, want peak 0.9 at 80 against the frozen 50", ep)
	}
}

// TestMinChangeIgnoresTinyDips: a series pinned at 100 has a band so narrow that a dip of 1.2
// scores high; a minimum change of 2 % and 0.5 units keeps it from opening an episode, while a
// real drop still does.
func TestMinChangeIgnoresTinyDips(t *testing.T) {
	l := detector.Lifecycle{Threshold: 0.5, MinChange: detector.MinChange{Relative: 0.02, Absolute: 0.5}}
	got, _ := steps(l, [][5]float64{{98.8, 1, 100, 99.9, 100.1}, {99.6, 1, 100, 99.9, 100.1}, {60, 1, 100, 99.9, 100.1}})
	if got[0] != detector.StepNone || got[1] != detector.StepNone || got[2] != detector.StepOpened {
		t.Fatalf("steps %v: the dips of 1.2 and 0.4 must not open an episode, the drop to 60 must", got)
	}
	// Near zero the absolute floor decides: 2 % of 0.1 would let any wobble through.
	got, _ = steps(l, [][5]float64{{0.3, 1, 0.1, 0.09, 0.11}, {0.7, 1, 0.1, 0.09, 0.11}})
	if got[0] != detector.StepNone || got[1] != detector.StepOpened {
		t.Fatalf("steps %v near zero: 0.2 below the 0.5 floor, 0.6 above it", got)
	}
}

// TestCheckReportsEveryTickOfAnEpisode: the detector reports an open episode on every tick with
// the latest value, and each series it scored when the check is observed.
func TestCheckReportsEveryTickOfAnEpisode(t *testing.T) {
	var ticks []detector.Tick
	sched, _ := config.ParseSchedule("@every 1s")
	src := &queue{batches: [][]detector.Series{hostA(flat(0, 40, 40)), hostA(flat(40, 1, 400)), hostA(flat(41, 1, 390)), hostA(flat(42, 1, 40))}}
	d, err := detector.New(detector.Options{
		Checks: []detector.CheckSpec{{Name: "cpu", Source: src, Schedule: sched, Threshold: threshold,
			Factory: func() detector.Model { return &meanModel{} }}},
		OnTick:   func(_ context.Context, tk detector.Tick) { ticks = append(ticks, tk) },
		Observed: func(string) bool { return true },
		Logger:   obs.Discard(), Registerer: prometheus.NewRegistry(),
	})
	if err != nil {
		t.Fatal(err)
	}
	for range 4 {
		if _, err := d.Tick(context.Background(), "cpu"); err != nil {
			t.Fatal(err)
		}
	}
	if len(ticks) != 4 {
		t.Fatalf("%d ticks reported, want 4", len(ticks))
	}
	for i, tk := range ticks {
		if len(tk.Series) != 1 {
			t.Fatalf("tick %d observed %d series, want 1", i, len(tk.Series))
		}
	}
	a1, a2 := ticks[1].Events[0].Anomaly, ticks[2].Events[0].Anomaly
	if a1 == nil || !a1.Opened || a2 == nil || a2.Opened || a2.Value != 390 || a2.PeakValue != 400 || !a2.Since.Equal(a1.Since) {
		t.Fatalf("ticks 2 and 3: %+v %+v, want the episode opened then reported again with the latest value", a1, a2)
	}
	if o := ticks[2].Series[0].Points[0]; !o.Open || o.Peak < threshold || o.Band.Upper != a1.Upper {
		t.Fatalf("observation %+v: open with the frozen band and the peak", o)
	}
	if len(ticks[3].Events) != 1 || ticks[3].Events[0].Anomaly == nil {
		t.Fatalf("tick 4 (back at 40, first normal point): %+v, want the episode still open", ticks[3].Events)
	}
}

// TestStatusSaysHowLongChecksLearn: while its series warm up, a check says how many learn and
// when they will score, so `status` and /readyz do not just say "ok; 0 anomalous".
func TestStatusSaysHowLongChecksLearn(t *testing.T) {
	var an []detector.Anomaly
	var rec []detector.Recovery
	d := newDetector(t, &queue{batches: [][]detector.Series{hostA(flat(0, 5, 40)), hostA(flat(5, 15, 40))}}, nil, &an, &rec)
	if _, err := d.Tick(context.Background(), "cpu"); err != nil {
		t.Fatal(err)
	}
	if got, want := d.Status()[0].Learning(), "1 series learning, scoring in about 15s"; got != want {
		t.Fatalf("after 5 of 20 points: %q, want %q", got, want)
	}
	if _, err := d.Tick(context.Background(), "cpu"); err != nil {
		t.Fatal(err)
	}
	if got := d.Status()[0].Learning(); got != "" {
		t.Fatalf("after 20 points: %q, want nothing", got)
	}
}

// TestRecurrenceIsANewEpisode: the model learns an episode's values, so the same load soon after
// may score low; a return beyond the ended episode's band on the same side still opens a new
// episode, against that band, and only for RecurWithin.
func TestRecurrenceIsANewEpisode(t *testing.T) {
	l := detector.Lifecycle{Threshold: 0.5, ResolveAfter: 2, RecurWithin: 5 * time.Second}
	got, ep := steps(l, [][5]float64{
		{95, 0.99, 20, 10, 30}, // the load: opens against 10..30
		{95, 0.20, 60, 20, 100},
		{20, 0.10, 50, 10, 90},  // back
		{21, 0.10, 45, 10, 90},  // resolved
		{95, 0.05, 40, 10, 100}, // the same load again: the model no longer minds, the lifecycle does
		{95, 0.05, 60, 10, 100},
		{20, 0.05, 50, 10, 100},
		{20, 0.05, 50, 10, 100}, // resolved at 7s
		{5, 0.05, 20, 10, 30},   // below the band: not the side the load went
		{20, 0.05, 20, 10, 30},
		{20, 0.05, 20, 10, 30},
		{20, 0.05, 20, 10, 30},
		{20, 0.05, 20, 10, 30},
		{95, 0.05, 60, 10, 100}, // 13s: the memory of the load has passed
	})
	want := []detector.Step{detector.StepOpened, detector.StepContinue, detector.StepContinue, detector.StepResolved,
		detector.StepOpened, detector.StepContinue, detector.StepContinue, detector.StepResolved,
		detector.StepNone, detector.StepNone, detector.StepNone, detector.StepNone, detector.StepNone, detector.StepNone}
	for i := range want {
		if got[i] != want[i] {
			t.Fatalf("point %d: step %v, want %v (all: %v)", i, got[i], want[i], got)
		}
	}
	if ep.Ended == nil || ep.Ended.Lower != 10 || ep.Ended.Upper != 30 || ep.Ended.Side != 1 {
		t.Fatalf("the ended episode kept: %+v", ep.Ended)
	}
	// The recurrence was judged against the first episode's band and says why it opened.
	var e2 detector.Episode
	_, _ = steps(l, nil)
	l.Step(&e2, detector.Scored{Point: detector.Point{T: time.Unix(0, 0), V: 95}, Score: 0.9, Expected: 20, Lower: 10, Upper: 30}, nil)
	for i := range 3 {
		l.Step(&e2, detector.Scored{Point: detector.Point{T: time.Unix(int64(i+1), 0), V: 20}, Score: 0.1, Expected: 50, Lower: 0, Upper: 100}, nil)
	}
	l.Step(&e2, detector.Scored{Point: detector.Point{T: time.Unix(5, 0), V: 95}, Score: 0.1, Expected: 50, Lower: 0, Upper: 100}, []string{"level"})
	if !e2.Open() || e2.Upper != 30 || !slices.Contains(e2.Models, detector.PartRecurrence) {
		t.Fatalf("recurrence: %+v, want open against 10..30 and named a recurrence", e2)
	}
}

// TestNoiseBeyondTheBandIsNoRecurrence: after an episode ends, a value just beyond its band (as
// noise reaches now and then) is no recurrence; one halfway back to the episode's furthest value
// is.
func TestNoiseBeyondTheBandIsNoRecurrence(t *testing.T) {
	l := detector.Lifecycle{Threshold: 0.5, ResolveAfter: 2}
	got, ep := steps(l, [][5]float64{
		{90, 0.99, 20, 10, 30}, // opens against 10..30, furthest at 90: a return must reach 60
		{20, 0.10, 20, 10, 30},
		{21, 0.10, 20, 10, 30}, // resolved
		{45, 0.10, 25, 10, 60}, // beyond 30 but short of 60: noise, not the load again
		{20, 0.10, 20, 10, 30},
		{60, 0.10, 25, 10, 70}, // halfway: the load again
	})
	want := []detector.Step{detector.StepOpened, detector.StepContinue, detector.StepResolved,
		detector.StepNone, detector.StepNone, detector.StepOpened}
	for i := range want {
		if got[i] != want[i] {
			t.Fatalf("point %d: step %v, want %v (all: %v)", i, got[i], want[i], got)
		}
	}
	if !slices.Contains(ep.Models, detector.PartRecurrence) || ep.Upper != 30 {
		t.Fatalf("the second episode: %+v, want a recurrence against 10..30", ep)
	}
}
