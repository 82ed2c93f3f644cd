package detector

import (
	"math"
	"math/rand/v2"
	"strings"
	"testing"
	"time"
)

func TestInspectHistory(t *testing.T) {
	t0 := time.Date(2024, 1, 1, 0, 0, 0, 0, time.UTC)
	at := func(min int) time.Time { return t0.Add(time.Duration(min) * time.Minute) }
	regular := func(n int, v func(int) float64) []Point {
		pts := make([]Point, n)
		for i := range pts {
			pts[i] = Point{T: at(i), V: v(i)}
		}
		return pts
	}
	ramp := func(i int) float64 { return float64(i % 7) }
	tests := []struct {
		name string
		pts  []Point
		want []string // substrings, one per expected warning, in order
	}{
		{"clean", regular(200, ramp), nil},
		{"nan and inf", append(regular(100, ramp), Point{T: at(100), V: math.NaN()}, Point{T: at(101), V: math.Inf(1)}),
			[]string{"skipped 2 NaN or infinite values"}},
		{"duplicate", append(regular(100, ramp), Point{T: at(99), V: 1}),
			[]string{"1 point repeats the previous timestamp (first at 2024-01-01T01:39:00Z)"}},
		{"unordered", append(regular(100, ramp), Point{T: at(50), V: 1}, Point{T: at(40), V: 1}),
			[]string{"2 points are earlier than a point before (first at 2024-01-01T00:50:00Z)"}},
		{"gap", append(regular(100, ramp), Point{T: at(200), V: 1}),
			[]string{"gap of 1h41m0s before 2024-01-01T03:20:00Z (typical spacing 1m0s)"}},
		{"short", regular(10, ramp), []string{"only 10 usable points, fewer than the 64"}},
		{"constant", regular(100, func(int) float64 { return 3 }), []string{"every value is the same"}},
		{"all nan", []Point{{T: at(0), V: math.NaN()}}, []string{"skipped 1 NaN or infinite value"}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			got := InspectHistory(tc.pts).Warnings("h.csv", 64)
			if len(got) != len(tc.want) {
				t.Fatalf("warnings %q, want %d matching %q", got, len(tc.want), tc.want)
			}
			for i, w := range tc.want {
				if !strings.HasPrefix(got[i], "h.csv: ") || !strings.Contains(got[i], w) {
					t.Errorf("warning %d = %q, want it to name h.csv and contain %q", i, got[i], w)
				}
			}
		})
	}
}

// TestRingKeepsTheLatestPoints: the ring keeps the last size points in order, the latest exactly
// and the others to float32 and the millisecond, and grows only as points arrive.
func TestRingKeepsTheLatestPoints(t *testing.T) {
	t0 := time.Date(2026, 11, 1, 0, 0, 0, 123_456_789, time.UTC)
	var r ring
	if r.points() != nil {
		t.Fatal("an empty ring has points")
	}
	const size = 240
	for i := range 1000 {
		v := 1e6 + float64(i)/3
		r.push(Scored{Point: Point{T: t0.Add(time.Duration(i) * 15 * time.Second), V: v}, Score: float64(i%100) / 100,
			Expected: v - 1, Lower: v - 10, Upper: v + 10}, size, 0.5)
		if i == 9 && cap(r.pts) > 16 {
			t.Fatalf("after 10 points the ring holds room for %d", cap(r.pts))
		}
	}
	if cap(r.pts) != size {
		t.Fatalf("the ring holds room for %d points, want %d", cap(r.pts), size)
	}
	pts := r.points()
	if len(pts) != size {
		t.Fatalf("%d points kept, want %d", len(pts), size)
	}
	for k, p := range pts {
		i := 1000 - size + k
		v := 1e6 + float64(i)/3
		want := t0.Add(time.Duration(i) * 15 * time.Second)
		if k == size-1 {
			if p.T != want || p.V != v || p.Score != float64(i%100)/100 || p.Upper != v+10 {
				t.Fatalf("the latest point is not exact: %+v", p)
			}
			continue
		}
		if !p.T.Equal(want.Truncate(time.Millisecond)) || p.T.Location() != time.UTC {
			t.Fatalf("point %d at %v, want %v to the millisecond, in UTC", k, p.T, want)
		}
		// The value and expected value to float32's precision; the band to 0.2 % of its
		// distance from the expected value, on top of that; the score to 1/65,535.
		for _, c := range [][3]float64{{p.V, v, 1e-7 * v}, {p.Expected, v - 1, 1e-7 * v}, {p.Lower, v - 10, 1e-7*v + 9.0/512},
			{p.Upper, v + 10, 1e-7*v + 11.0/512}, {p.Score, float64(i%100) / 100, 0.5 / 65535}} {
			if math.Abs(c[0]-c[1]) > c[2] {
				t.Fatalf("point %d: %v kept as %v", k, c[1], c[0])
			}
		}
	}
}

// TestRingTimes: evenly spaced points keep their times exactly; once they are not, each keeps
// its own, to the millisecond, or to the second when those kept span more than 49 days; once
// every point kept is evenly spaced again, the ring goes back to a step.
func TestRingTimes(t *testing.T) {
	t0 := time.Date(2026, 1, 1, 0, 0, 0, 500_250_000, time.UTC)
	tests := []struct {
		name   string
		gap    func(i int) time.Duration // between point i-1 and point i
		unit   time.Duration             // to which the times kept are exact
		coarse bool
	}{
		{"even", func(int) time.Duration { return 15 * time.Second }, time.Nanosecond, false},
		{"jittered", func(i int) time.Duration { return 15*time.Second + time.Duration(i%7)*time.Millisecond }, time.Millisecond, false},
		{"days apart", func(i int) time.Duration { return 72*time.Hour + time.Duration(i%3)*time.Hour }, time.Second, true},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			var r ring
			var want []time.Time
			at := t0
			for i := range 300 {
				if i > 0 {
					at = at.Add(tc.gap(i))
				}
				want = append(want, at)
				r.push(Scored{Point: Point{T: at, V: float64(i)}}, 20, 0.5)
			}
			if r.coarse != tc.coarse || (r.offs == nil) != (tc.unit == time.Nanosecond) {
				t.Fatalf("coarse %v, times kept per point %v", r.coarse, r.offs != nil)
			}
			want = want[len(want)-20:]
			for k, p := range r.points() {
				if d := want[k].Sub(p.T); d < 0 || d >= max(tc.unit, time.Millisecond) || p.V != float64(280+k) {
					t.Fatalf("point %d: %v = %v, want %v = %v", k, p.T, p.V, want[k], 280+k)
				}
			}
		})
	}
	// A gap, then evenly spaced points: a step again once the gap has left the ring.
	var r ring
	for i := range 10 {
		r.push(Scored{Point: Point{T: t0.Add(time.Duration(i) * time.Minute)}}, 5, 0.5)
	}
	r.push(Scored{Point: Point{T: t0.Add(20 * time.Minute)}}, 5, 0.5)
	if r.offs == nil {
		t.Fatal("a gap left the ring with a step")
	}
	for i := 21; i < 25; i++ {
		r.push(Scored{Point: Point{T: t0.Add(time.Duration(i) * time.Minute)}}, 5, 0.5)
	}
	if r.offs != nil {
		t.Fatal("five evenly spaced points still keep a time each")
	}
	for k, p := range r.points() {
		if want := t0.Add(time.Duration(20+k) * time.Minute); !p.T.Equal(want.Truncate(time.Millisecond)) && k < 4 {
			t.Fatalf("point %d at %v, want %v", k, p.T, want)
		}
	}
}

// TestRingAgainstAList: whatever the spacing of the points (even, jittered, with gaps, in runs),
// the ring holds what a plain list of the latest points would, times to the millisecond (to the
// second while those kept span more than 49 days).
func TestRingAgainstAList(t *testing.T) {
	rnd := rand.New(rand.NewPCG(7, 11))
	for trial := range 200 {
		size := 1 + rnd.IntN(40)
		var r ring
		var list []Scored
		at := time.Date(2026, 1, 1, 0, 0, 0, rnd.IntN(1e9), time.UTC)
		step := time.Duration(1+rnd.IntN(60_000)) * time.Millisecond
		for i := range 500 {
			switch k := rnd.IntN(20); {
			case k == 0:
				step = time.Duration(1+rnd.Int64N(int64(100*24*time.Hour))) + time.Duration(rnd.IntN(1e6))
			case k == 1:
				at = at.Add(time.Duration(rnd.Int64N(int64(time.Hour))))
			case k < 4:
				at = at.Add(time.Duration(rnd.IntN(1e6)))
			}
			if i > 0 {
				at = at.Add(step)
			}
			p := Scored{Point: Point{T: at, V: rnd.NormFloat64() * 1e3}, Score: rnd.Float64(), Expected: rnd.Float64()}
			r.push(p, size, 0.5)
			list = append(list, p)
			if len(list) > size {
				list = list[1:]
			}
			got := r.points()
			if len(got) != len(list) {
				t.Fatalf("trial %d point %d: %d kept, want %d", trial, i, len(got), len(list))
			}
			unit := time.Millisecond
			if r.coarse {
				unit = time.Second
			}
			for k := range got {
				if d := list[k].T.Sub(got[k].T); d < 0 || d >= unit || float32(got[k].V) != float32(list[k].V) {
					t.Fatalf("trial %d point %d, kept %d: %v %v, want %v %v (coarse %v, step mode %v)",
						trial, i, k, got[k].T, got[k].V, list[k].T, list[k].V, r.coarse, r.offs == nil)
				}
			}
		}
	}
}

// TestRingKeepsValuesFinite: a value beyond float32's range is kept as its largest value, and a
// band bound beyond it near it, not as an infinity a chart cannot draw; infinities stay what
// they are.
func TestRingKeepsValuesFinite(t *testing.T) {
	var r ring
	t0 := time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)
	r.push(Scored{Point: Point{T: t0, V: 1e300}, Lower: -1e300, Upper: math.Inf(1)}, 4, 0.5)
	r.push(Scored{Point: Point{T: t0.Add(time.Second), V: 1}}, 4, 0.5)
	p := r.points()[0]
	if p.V != math.MaxFloat32 || p.Lower > -3.38e38 || math.IsInf(p.Lower, 0) || !math.IsInf(p.Upper, 1) {
		t.Fatalf("kept as %+v", p)
	}
}
