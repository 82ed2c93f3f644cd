package chart

import (
	"math"
	"slices"
	"testing"
	"time"
)

func TestReduce(t *testing.T) {
	const n = 100_000
	s := fixture(n, -1, -1)
	s.Values[777] = 1e9   // spike
	s.Values[50_000] = -5 // dip
	for i := 60_000; i < 60_500; i++ {
		s.Values[i] = math.NaN() // outage
	}
	s.SpanStart, s.SpanEnd = s.Times[90_000], s.Times[90_099]

	d := &data{hasSpan: true, spanX0: sec(s.SpanStart), spanX1: sec(s.SpanEnd)}
	xs := make([]float64, n)
	for i, tm := range s.Times {
		xs[i] = sec(tm)
	}
	idx := reduce(xs, s.Values, d, MaxPoints)

	if len(idx) > MaxPoints {
		t.Errorf("reduced to %d points, want at most %d", len(idx), MaxPoints)
	}
	if !slices.IsSorted(idx) {
		t.Error("kept indices are not in time order")
	}
	for _, want := range []struct {
		i    int
		what string
	}{{0, "first point"}, {n - 1, "last point"}, {777, "spike"}, {50_000, "dip"}, {90_000, "span start"}, {90_050, "span middle"}, {90_099, "span end"}} {
		if _, ok := slices.BinarySearch(idx, want.i); !ok {
			t.Errorf("%s (index %d) dropped", want.what, want.i)
		}
	}
	var gap bool
	for _, i := range idx {
		if i >= 60_000 && i < 60_500 && math.IsNaN(s.Values[i]) {
			gap = true
		}
	}
	if !gap {
		t.Error("outage gap dropped: no NaN kept between indices 60000 and 60500")
	}

	if got := reduce(xs[:MaxPoints], s.Values[:MaxPoints], &data{}, MaxPoints); got != nil {
		t.Errorf("a series of exactly MaxPoints was reduced to %d points", len(got))
	}
}

func TestPrepareRanges(t *testing.T) {
	ts := []time.Time{t0, t0.Add(time.Minute), t0.Add(2 * time.Minute)}
	tests := []struct {
		name             string
		s                Series
		xmin, xmax       float64
		wantYmin, wantYx float64 // wantYx: upper bound at least this
	}{
		{"plain", Series{Times: ts, Values: []float64{10, 20, 30}}, sec(ts[0]), sec(ts[2]), 10 - 1.6, 30 + 1.6},
		{"padding stops at zero", Series{Times: ts, Values: []float64{1, 50, 100}}, sec(ts[0]), sec(ts[2]), 0, 100},
		{"negative values padded", Series{Times: ts, Values: []float64{-10, 0, 10}}, sec(ts[0]), sec(ts[2]), -11.6, 11.6},
		{"band widens range", Series{Times: ts, Values: []float64{5, 5, 5}, Lower: []float64{0, 0, 0}, Upper: []float64{20, 20, 20}}, sec(ts[0]), sec(ts[2]), 0, 20},
		{"span widens time range", Series{Times: ts, Values: []float64{1, 2, 3}, SpanStart: t0.Add(-time.Hour), SpanEnd: t0.Add(time.Hour)}, sec(t0.Add(-time.Hour)), sec(t0.Add(time.Hour)), 0.84, 3.16},
		{"open span ends at last point", Series{Times: ts, Values: []float64{1, 2, 3}, SpanStart: ts[1]}, sec(ts[0]), sec(ts[2]), 0.84, 3.16},
		{"one instant", Series{Times: ts[:1], Values: []float64{7}}, sec(ts[0]) - 30, sec(ts[0]) + 30, 6, 8},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if err := tt.s.validate(); err != nil {
				t.Fatalf("validate: %v", err)
			}
			d := prepare(tt.s)
			if d.xmin != tt.xmin || d.xmax != tt.xmax {
				t.Errorf("x range [%v, %v], want [%v, %v]", d.xmin, d.xmax, tt.xmin, tt.xmax)
			}
			if math.Abs(d.ymin-tt.wantYmin) > 1e-9 {
				t.Errorf("ymin = %v, want %v", d.ymin, tt.wantYmin)
			}
			if d.ymax < tt.wantYx || !(d.ymax > d.ymin) {
				t.Errorf("ymax = %v, want at least %v and above ymin %v", d.ymax, tt.wantYx, d.ymin)
			}
		})
	}
}

func TestValueRangeNeverEmpty(t *testing.T) {
	for _, vs := range [][]float64{
		{0}, {5}, {-5}, {1e-300}, {math.MaxFloat64}, {-math.MaxFloat64, math.MaxFloat64},
		{1e15, 1e15 + 0.125}, {math.SmallestNonzeroFloat64},
	} {
		lo, hi := valueRange(vs)
		if !(hi > lo) || !finite(hi-lo) {
			t.Errorf("valueRange(%v) = [%v, %v], want a non-empty range of finite width", vs, lo, hi)
		}
		if math.IsInf(slices.Max(vs)-slices.Min(vs), 0) {
			continue // wider than any axis can be; the extremes are drawn at the edges
		}
		for _, v := range vs {
			if v < lo || v > hi {
				t.Errorf("valueRange(%v) = [%v, %v] leaves out %v", vs, lo, hi, v)
			}
		}
	}
}
