package model

import "math"

const (
	tailBins  = 24
	tailFirst = 0.5  // upper edge of the first bin
	tailRatio = 1.35 // each bin's upper edge is tailRatio times the previous one
)

// tailLogRatio is log(tailRatio), cached.
var tailLogRatio = math.Log(tailRatio)

// tail is an exponentially forgetting histogram of a non-negative statistic on geometric bins.
// It turns a value into the probability, on this series, of a value at least as large. A prior of
// one pseudo-observation with an exponential tail keeps the probability of a never-seen value
// positive and falling with its size. Counts are kept in units of weight, which grows by
// 1/(1−rate) per observation instead of decaying every bin.
type tail struct {
	weight float32
	count  [tailBins]float32
}

func tailBin(s float64) (int, float64) {
	if s < tailFirst {
		return 0, s / tailFirst
	}
	k := 1 + int(math.Log(s/tailFirst)/tailLogRatio)
	if k >= tailBins {
		return tailBins - 1, 1
	}
	lo := tailFirst * math.Pow(tailRatio, float64(k-1))
	return k, (s - lo) / (lo*tailRatio - lo)
}

// prob returns P(S ≥ s) for s ≥ 0 under the histogram and its prior.
func (t *tail) prob(s float64) float64 {
	if !(s > 0) {
		return 1
	}
	k, frac := tailBin(s)
	var above, total float64
	for i, c := range t.count {
		total += float64(c)
		if i > k {
			above += float64(c)
		}
	}
	above += float64(t.count[k]) * (1 - frac)
	w := float64(t.weight)
	if w == 0 {
		w = 1
	}
	return (above/w + math.Exp(-s)) / (total/w + 1)
}

// add records s with forgetting rate.
func (t *tail) add(s float64, rate float64) {
	if t.weight == 0 {
		t.weight = 1
	} else {
		t.weight /= float32(1 - rate)
	}
	if s < 0 || math.IsNaN(s) {
		s = 0
	}
	k, _ := tailBin(s)
	t.count[k] += t.weight
	if t.weight > 1e6 {
		for i := range t.count {
			t.count[i] /= t.weight
		}
		t.weight = 1
	}
}
