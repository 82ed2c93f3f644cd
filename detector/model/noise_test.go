package model

import (
	"math"
	"math/rand/v2"
	"slices"
	"testing"
	"time"

	"github.com/smartcloudops/smartcloudops/detector"
)

var noiseStart = time.Date(2026, 1, 5, 0, 0, 0, 0, time.UTC)

// at is the time of point i of a series with five-minute spacing.
func at(i int) time.Time { return noiseStart.Add(time.Duration(i) * 5 * time.Minute) }

// TestMeanScale checks the band of the short-term mean against what noise makes of it: for
// independent and for alternating noise, meanScale is within a fifth of the standard deviation
// the short-term mean shows; for a wandering series it is never raised above the independent
// figure.
func TestMeanScale(t *testing.T) {
	for _, rho := range []float64{0, -0.3, -0.6, -0.8, 0.5} {
		r := rand.New(rand.NewPCG(3, 0))
		m := Default()().(*engine)
		y := 0.0
		var sum, sumSq, scale float64
		n := 0
		for i := range 6000 {
			y = rho*y + 2*r.NormFloat64()
			m.Observe(detector.Point{T: at(i), V: 50 + y})
			if i >= 1000 {
				sum += m.smooth
				sumSq += m.smooth * m.smooth
				f := m.base.predict(at(i+1), &m.p)
				scale += m.meanScale(max(f.scale, scaleFloor*m.ext[statLevel].width()), m.calmNow())
				n++
			}
		}
		mean := sum / float64(n)
		sd := math.Sqrt(sumSq/float64(n) - mean*mean)
		scale /= float64(n)
		a := m.p.ShiftRate
		independent := 2 / math.Sqrt(1-rho*rho) * math.Sqrt(a/(2-a))
		switch {
		case rho <= 0 && math.Abs(scale/sd-1) > 0.2:
			t.Errorf("lag-one correlation %v: meanScale %.3f, the short-term mean's standard deviation %.3f", rho, scale, sd)
		case rho > 0 && scale > 1.05*independent:
			t.Errorf("lag-one correlation %v: meanScale %.3f, above the independent figure %.3f", rho, scale, independent)
		}
	}
}

// poissonDraw draws a Poisson count by Knuth's method.
func poissonDraw(r *rand.Rand, mean float64) float64 {
	l, k, p := math.Exp(-mean), 0.0, 1.0
	for {
		p *= r.Float64()
		if p <= l {
			return k
		}
		k++
	}
}

// TestCountOneAboveHighest checks that on a series of small counts, a count one above the highest
// its range holds is no record (a count stands for anything within half a unit of it), while
// three units more is. The same model with its quantum forgotten alarms on most of them.
func TestCountOneAboveHighest(t *testing.T) {
	alarms, forgotten, larger := 0, 0, 0
	const seeds = 10
	for seed := range uint64(seeds) {
		r := rand.New(rand.NewPCG(seed, 0))
		m := Default()().(*engine)
		for i := range 5000 {
			m.Observe(detector.Point{T: at(i), V: poissonDraw(r, 2)})
		}
		if m.quantum != 1 {
			t.Fatalf("seed %d: quantum %v, want 1", seed, m.quantum)
		}
		pt := detector.Point{T: at(5000), V: math.Ceil(m.ext[statLevel].hi) + 1}
		a, b, c := *m, *m, *m
		b.quantum = 0
		if a.Observe(pt).Score >= DefaultThreshold {
			alarms++
		}
		if b.Observe(pt).Score >= DefaultThreshold {
			forgotten++
		}
		pt.V += 3
		if c.Observe(pt).Score >= DefaultThreshold {
			larger++
		}
	}
	if alarms > 2 || forgotten < 7 || larger != seeds {
		t.Errorf("one above the highest count alarms on %d of %d series (%d without the quantum), three more on %d; want at most 2 (at least 7), and all",
			alarms, seeds, forgotten, larger)
	}
}

// TestQuieterNoiseIsNoFlatline checks that noise falling to a third of its size is not reported as
// a flatline, while a stuck value is.
func TestQuieterNoiseIsNoFlatline(t *testing.T) {
	r := rand.New(rand.NewPCG(8, 0))
	m := Default()()
	i := 0
	observe := func(n int, sd float64, stuck bool) (flat bool) {
		for range n {
			v := 50 + sd*r.NormFloat64()
			if stuck {
				v = 50
			}
			s := m.Observe(detector.Point{T: at(i), V: v})
			flat = flat || s.Score >= DefaultThreshold && slices.Contains(s.Models, PartFlat)
			i++
		}
		return flat
	}
	observe(3000, 2, false)
	if observe(100, 2.0/3, false) {
		t.Error("noise at a third of its size reported as a flatline")
	}
	observe(1000, 2, false)
	if !observe(40, 0, true) {
		t.Error("a stuck value not reported as a flatline")
	}
}

// TestCountSkew checks the noise band's skew correction: on small counts the value's band reaches
// about (noiseZ²−1)/6 of a unit further up than a symmetric one, on a continuous series and on
// counts whose variance is small against their level next to nothing. On counts with a mean of 2,
// a 9 is ordinary noise (about one point in 4,000) and lies inside the band. (The Gaussian series'
// quantum, its smallest step so far, is a few thousandths.)
func TestCountSkew(t *testing.T) {
	series := map[string]struct {
		gen      func(r *rand.Rand) float64
		min, max float64
	}{
		"counts, mean 2":      {func(r *rand.Rand) float64 { return poissonDraw(r, 2) }, 1.5, (noiseZ*noiseZ - 1) / 6},
		"Gaussian":            {func(r *rand.Rand) float64 { return 50 + 2*r.NormFloat64() }, 0, 0.01},
		"counts near a level": {func(r *rand.Rand) float64 { return 1000 + math.Round(r.NormFloat64()) }, 0, 0.01},
	}
	for name, c := range series {
		r := rand.New(rand.NewPCG(4, 0))
		m := Default()().(*engine)
		for i := range 3000 {
			m.Observe(detector.Point{T: at(i), V: c.gen(r)})
		}
		f := m.base.predict(at(3000), &m.p)
		sc := max(f.scale, scaleFloor*m.ext[statLevel].width())
		nb := m.noise(f, m.calm)
		sk := nb[statLevel].hi - (f.expected + noiseZ*sc)
		if sk < c.min || sk > c.max {
			t.Errorf("%s: the band reaches %.4f beyond a symmetric one, want %g to %g", name, sk, c.min, c.max)
		}
		if name == "counts, mean 2" && nb[statLevel].hi < 9 {
			t.Errorf("%s: the value's noise band ends at %.2f, below a count of 9", name, nb[statLevel].hi)
		}
	}
}

// TestRepeatedStartKeepsScale checks that a series whose first values repeat (a count of 1, 1, 1)
// still learns its scale: 100 points later the band around the forecast is as wide as the counts'
// noise, not a sliver around the first value.
func TestRepeatedStartKeepsScale(t *testing.T) {
	for _, start := range [][]float64{{1, 1, 1}, {1, 2, 1}, {0, 0, 0, 0, 0, 3}} {
		r := rand.New(rand.NewPCG(5, 0))
		m := Default()().(*engine)
		i := 0
		for ; i < len(start); i++ {
			m.Observe(detector.Point{T: at(i), V: start[i]})
		}
		var s detector.Score
		for ; i < 100; i++ {
			s = m.Observe(detector.Point{T: at(i), V: poissonDraw(r, 2)})
		}
		if w := s.Upper - s.Lower; w < 4 {
			t.Errorf("start %v: the band is %.4f wide after 100 counts with a mean of 2 (%.4f to %.4f), want at least 4", start, w, s.Lower, s.Upper)
		}
	}
}
