package detector

import (
	"math"
	"math/rand/v2"
	"testing"
	"unsafe"
)

// TestPackedPointSize: a point of a series' history takes 14 bytes, so a full history of
// DefaultHistoryPoints fits an allocation of 3,456 bytes.
func TestPackedPointSize(t *testing.T) {
	if n := unsafe.Sizeof(packedPoint{}); n != 14 {
		t.Fatalf("a packed point takes %d bytes, want 14", n)
	}
}

// TestPackRoundTrip: the value and expected value come back as float32, the band within 0.2 %
// of its distance from the expected value, the score within 1/65,535.
func TestPackRoundTrip(t *testing.T) {
	rnd := rand.New(rand.NewPCG(3, 5))
	for range 100_000 {
		scale := math.Pow(10, float64(rnd.IntN(40)-20))
		e := rnd.NormFloat64() * scale
		lo, hi := e-math.Abs(rnd.NormFloat64())*scale, e+math.Abs(rnd.NormFloat64())*scale
		p := Scored{Point: Point{V: rnd.NormFloat64() * scale}, Expected: e, Lower: lo, Upper: hi, Score: rnd.Float64()}
		got := pack(p, 0.5).unpack()
		if got.V != float64(float32(p.V)) || got.Expected != float64(float32(e)) {
			t.Fatalf("%+v came back as %+v", p, got)
		}
		e32 := float64(float32(e))
		for _, c := range [][3]float64{{got.Lower, lo, e32 - lo}, {got.Upper, hi, hi - e32}} {
			if err := math.Abs(c[0] - c[1]); err > math.Abs(c[2])/256+1e-7*math.Abs(c[1]) {
				t.Fatalf("band bound %v came back as %v (off by %v, %v from the expected value)", c[1], c[0], err, c[2])
			}
		}
		if math.Abs(got.Score-p.Score) > 1.0/scoreScale {
			t.Fatalf("score %v came back as %v", p.Score, got.Score)
		}
	}
}

// TestPackEdges: infinities and NaN come back as they were; values beyond float32's range come
// back as its largest; a band too wide for float32 is clipped to it rather than turned infinite;
// scores outside [0, 1] are clipped to it.
func TestPackEdges(t *testing.T) {
	inf, nan := math.Inf(1), math.NaN()
	tests := []struct {
		name string
		in   Scored
		want Scored // NaN where NaN is expected
	}{
		{"infinite band", Scored{Point: Point{V: 1}, Expected: 2, Lower: -inf, Upper: inf, Score: 0.2},
			Scored{Point: Point{V: 1}, Expected: 2, Lower: -inf, Upper: inf, Score: 0.2}},
		{"NaN everywhere", Scored{Point: Point{V: nan}, Expected: nan, Lower: nan, Upper: nan, Score: nan},
			Scored{Point: Point{V: nan}, Expected: nan, Lower: nan, Upper: nan, Score: 0}},
		{"infinite expected", Scored{Point: Point{V: 3}, Expected: inf, Lower: 1, Upper: 5, Score: 1},
			Scored{Point: Point{V: 3}, Expected: inf, Lower: 1, Upper: 5, Score: 1}},
		{"huge values", Scored{Point: Point{V: 1e300}, Expected: -1e300, Lower: -1e301, Upper: 1e300, Score: 7},
			Scored{Point: Point{V: math.MaxFloat32}, Expected: -math.MaxFloat32, Lower: -math.MaxFloat32, Upper: math.MaxFloat32, Score: 1}},
		{"negative score", Scored{Point: Point{V: 0}, Expected: 0, Lower: 0, Upper: 0, Score: -2},
			Scored{Point: Point{V: 0}, Expected: 0, Lower: 0, Upper: 0, Score: 0}},
		{"band not around the expected value", Scored{Point: Point{V: 10}, Expected: 10, Lower: 12, Upper: 8, Score: 0.5},
			Scored{Point: Point{V: 10}, Expected: 10, Lower: 12, Upper: 8, Score: 0.5}},
	}
	same := func(a, b float64) bool {
		if math.IsNaN(b) {
			return math.IsNaN(a)
		}
		return a == b || math.Abs(a-b) <= math.Abs(b)/256
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			got := pack(tc.in, 0.5).unpack()
			w := tc.want
			for _, c := range [][2]float64{{got.V, w.V}, {got.Expected, w.Expected}, {got.Lower, w.Lower}, {got.Upper, w.Upper}} {
				if !same(c[0], c[1]) || (!math.IsInf(c[1], 0) && math.IsInf(c[0], 0)) {
					t.Fatalf("came back as %+v, want %+v", got, w)
				}
			}
			if math.Abs(got.Score-w.Score) > 1.0/scoreScale {
				t.Fatalf("score came back as %v, want %v", got.Score, w.Score)
			}
		})
	}
}

// TestPackScoreKeepsTheThresholdSide: a score at or above the threshold comes back at or above
// it, one below comes back below, for any threshold in [0, 1] a check accepts; most of all for
// scores within a rounding step of it.
func TestPackScoreKeepsTheThresholdSide(t *testing.T) {
	rnd := rand.New(rand.NewPCG(1, 2))
	check := func(s, thr float64) {
		t.Helper()
		got := float64(packScore(s, thr)) / scoreScale
		if (s >= thr) != (got >= thr) {
			t.Fatalf("score %v against threshold %v came back as %v", s, thr, got)
		}
		if math.Abs(got-min(max(s, 0), 1)) > 1.0/scoreScale {
			t.Fatalf("score %v came back as %v, more than a step away", s, got)
		}
	}
	for _, thr := range []float64{0.5, 0.7, 0.9, 0.99, 1, 1e-9, 0.123456789, 1.0 / 3} {
		for _, d := range []float64{0, 1e-12, -1e-12, 0.4 / scoreScale, -0.4 / scoreScale, 0.6 / scoreScale, -0.6 / scoreScale} {
			if s := thr + d; s >= 0 {
				check(s, thr)
			}
		}
		check(math.Nextafter(thr, 2), thr)
		check(math.Nextafter(thr, -1), thr)
	}
	for range 200_000 {
		thr := rnd.Float64()
		check(thr+(rnd.Float64()-0.5)*4/scoreScale, thr)
		check(rnd.Float64(), thr)
	}
	check(1.5, 1) // a score beyond 1 stays at or above a threshold of 1
}

// TestBF16: rounding to the nearest bfloat16, ties to even, never past the largest finite one.
func TestBF16(t *testing.T) {
	for _, c := range []struct{ in, want float64 }{
		{1, 1}, {-2, -2}, {0, 0}, {1 + 1.0/256, 1}, {1 + 3.0/256, 1 + 4.0/256}, {1 + 1.0/128, 1 + 1.0/128},
		{3.4e38, 3.3895313892515355e38}, {-1e300, -3.3895313892515355e38}, {math.Inf(-1), math.Inf(-1)},
	} {
		if got := unbf16(bf16(c.in)); got != c.want {
			t.Errorf("bf16(%v) = %v, want %v", c.in, got, c.want)
		}
	}
	if !math.IsNaN(unbf16(bf16(math.NaN()))) {
		t.Error("NaN is not kept as NaN")
	}
}
