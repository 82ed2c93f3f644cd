package model

import (
	"math"
	"math/rand/v2"
	"slices"
	"testing"
	"time"

	"github.com/smartcloudops/smartcloudops/detector"
)

func TestExtreme(t *testing.T) {
	tests := []struct {
		name   string
		learn  []float64
		v      float64
		excess float64
	}{
		{"inside", []float64{0, 10}, 5, 0},
		{"at the top", []float64{0, 10}, 10, 0},
		{"one width above", []float64{0, 10}, 20, 1},
		{"half a width below", []float64{0, 10}, -5, 0.5},
		{"flat then a change", []float64{3, 3, 3}, 3.5, 0.5 / (1e-9 * 7)},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			var x extreme
			x.start(tc.learn[0])
			for _, v := range tc.learn[1:] {
				x.learn(v, tc.learn[0], 0)
			}
			if got := x.excess(tc.v); math.Abs(got-tc.excess) > 1e-9*max(1, tc.excess) {
				t.Errorf("excess(%v) = %v, want %v", tc.v, got, tc.excess)
			}
		})
	}
	// A band widens the range that is judged, not the width that measures the excess; an end at
	// ±Inf leaves that side out.
	var f extreme
	f.start(-1)
	f.learn(1, 0, 0)
	inf := math.Inf(1)
	for _, tc := range []struct{ v, lo, hi, want float64 }{
		{3, 0, 0, 1}, {3, -2, 2, 0.5}, {-3, -2, 2, 0.5}, {1.5, -2, 2, 0}, {3, -0.5, 0.5, 1},
		{3, -inf, inf, 0}, {-3, -1.5, inf, 0.75}, {-3, inf, 0, 1}, {2, 0, 1.5, 0.25},
	} {
		if got := f.excessBeyond(tc.v, tc.lo, tc.hi); math.Abs(got-tc.want) > 1e-12 {
			t.Errorf("excessBeyond(%v, %v, %v) over [-1, 1] = %v, want %v", tc.v, tc.lo, tc.hi, got, tc.want)
		}
	}
	// Without renewal both ends sink toward the centre, never past it.
	var x extreme
	x.start(0)
	x.learn(10, 5, 0.1)
	x.learn(0, 5, 0.1)
	for range 1000 {
		x.learn(5, 5, 0.1)
	}
	if x.hi < 5 || x.lo > 5 || x.hi-x.lo > 1e-6 {
		t.Errorf("range after a long calm at 5 is [%v, %v], want it shrunk onto 5", x.lo, x.hi)
	}
}

// TestMargin checks that a young range needs a wider excess, that the margin narrows as the range
// sees more values and that a mature range is judged with Params.Margin.
func TestMargin(t *testing.T) {
	e := newEngine(NameEnsemble, DefaultParams())
	for i := range stats {
		prev := math.Inf(1)
		for n := e.ready(i); n < 40000; n += 7 {
			m := e.margin(i, n)
			if m > prev || m < e.p.Margin {
				t.Fatalf("statistic %d after %d points: margin %v after %v, want non-increasing and at least %v",
					i, n, m, prev, e.p.Margin)
			}
			prev = m
		}
		if prev != e.p.Margin {
			t.Errorf("statistic %d: mature margin %v, want %v", i, prev, e.p.Margin)
		}
		if young := e.margin(i, e.ready(i)); young < 1.5*e.p.Margin {
			t.Errorf("statistic %d: margin %v when first judged, want a young range held to more", i, young)
		}
	}
}

// detections replays pts through a fresh default model and returns the first index of every
// run of consecutive points scored at or above DefaultThreshold: the incidents a check would
// open, since the score is honest and stays high while an incident lasts.
func detections(pts []detector.Point) []int {
	m := Default()()
	var out []int
	in := false
	for i, p := range pts {
		det := m.Observe(p).Score >= DefaultThreshold
		if det && !in {
			out = append(out, i)
		}
		in = det
	}
	return out
}

func TestRecurringSpikes(t *testing.T) {
	r := rand.New(rand.NewPCG(8, 1))
	pts := make([]detector.Point, 4000)
	for i := range pts {
		v := 10 + r.NormFloat64()
		if i%150 == 75 {
			v += 50 + 5*r.Float64() // a nightly batch job: big but routine
		}
		if i == 3500 {
			v += 120 // a spike well beyond any batch job
		}
		pts[i] = detector.Point{T: t0.Add(time.Duration(i) * 5 * time.Minute), V: v}
	}
	got := detections(pts)
	if !slices.Contains(got, 3500) {
		t.Errorf("the outsized spike at 3500 was not detected; detections %v", got)
	}
	for _, i := range got {
		if i >= 1000 && i != 3500 {
			t.Errorf("routine spike at %d detected once the range was learnt; detections %v", i, got)
		}
	}
}

// TestLevelShift checks that a shift of two standard deviations, which no single value reveals,
// is found within a few dozen points, and that the noise before it raises few false alarms.
func TestLevelShift(t *testing.T) {
	falseAlarms := 0
	for seed := range uint64(10) {
		r := rand.New(rand.NewPCG(seed, 9))
		pts := make([]detector.Point, 3000)
		for i := range pts {
			v := 20 + 3*r.NormFloat64()
			if i >= 2500 {
				v += 6
			}
			pts[i] = detector.Point{T: t0.Add(time.Duration(i) * 5 * time.Minute), V: v}
		}
		first := -1
		for _, i := range detections(pts) {
			if i >= 500 && i < 2500 {
				falseAlarms++
			}
			if i >= 2500 && first < 0 {
				first = i
			}
		}
		if first < 0 || first > 2560 {
			t.Errorf("seed %d: shift at 2500 detected at %d, want within 60 points", seed, first)
		}
	}
	// Six statistics each watching the ends of a range see a few chance records in 20,000 points
	// of Gaussian noise: 13 before young ranges needed a wider margin, 7 since; one alarm per
	// 2,000 points would be too many.
	if falseAlarms > 9 {
		t.Errorf("%d false alarms in 10 × 2,000 points of noise", falseAlarms)
	}
}

// TestParts checks which part each kind of incident is reported under: a stuck value on a noisy
// series is a flatline, a jump far outside the range is a level.
func TestParts(t *testing.T) {
	tests := []struct {
		name string
		at   int
		edit func(i int, v float64) float64
		part string
	}{
		{"stuck value", 2000, func(i int, v float64) float64 {
			if i >= 2000 {
				return 31.5
			}
			return v
		}, PartFlat},
		{"outage spike", 2000, func(i int, v float64) float64 {
			if i == 2000 {
				return 400
			}
			return v
		}, PartLevel},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			r := rand.New(rand.NewPCG(10, 1))
			m := Default()()
			found := -1
			var parts []string
			for i := range 2200 {
				v := tc.edit(i, 30+5*r.NormFloat64())
				s := m.Observe(detector.Point{T: t0.Add(time.Duration(i) * 5 * time.Minute), V: v})
				if i >= tc.at && found < 0 && s.Score >= DefaultThreshold {
					found, parts = i, s.Models
				}
			}
			if found < 0 || found > tc.at+60 {
				t.Fatalf("incident at %d detected at %d", tc.at, found)
			}
			if !slices.Contains(parts, tc.part) {
				t.Errorf("detected at %d as %v, want %q among the parts", found, parts, tc.part)
			}
		})
	}
}

// TestStepOnWanderingSeries checks the jump part: on a series that wanders slowly, like a
// temperature, a sudden step of a size the series covers every day stays inside the ranges of
// the value and its means, yet no step of that size has been seen, so it alerts as "jump"; the
// same series without the step does not alert there.
func TestStepOnWanderingSeries(t *testing.T) {
	const stepAt, n = 3000, 3100
	run := func(step float64) (first int, parts []string) {
		r := rand.New(rand.NewPCG(3, 9))
		m := Default()()
		y, first := 0.0, -1
		for i := range n {
			y = 0.99*y + 0.7*r.NormFloat64()
			v := 60 + y
			if i >= stepAt {
				v += step
			}
			s := m.Observe(detector.Point{T: t0.Add(time.Duration(i) * 5 * time.Minute), V: v})
			if i >= stepAt && first < 0 && s.Score >= DefaultThreshold {
				first, parts = i, s.Models
			}
		}
		return first, parts
	}
	if first, parts := run(0); first >= 0 {
		t.Fatalf("the series without a step alerted at %d %v", first, parts)
	}
	first, parts := run(8)
	if first != stepAt || !slices.Contains(parts, PartJump) {
		t.Errorf("a step at %d alerted at %d %v, want at once with %q", stepAt, first, parts, PartJump)
	}
}
