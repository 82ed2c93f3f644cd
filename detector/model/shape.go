package model

import "math"

// The shape part judges the latest stretch of a series by how far it lies from the nearest
// stretch like it in the series' own recent history, in the manner of a matrix profile. A pattern
// that breaks inside values the series has already taken (a day without the usual cycle, a ramp
// back into a range an earlier incident reached) moves no range, but no stretch of the recent
// past looks like it.
//
// To stay small and cheap, the series is compressed by piecewise aggregate approximation: the
// mean of every shapeSeg points is one segment, a window is shapeWin consecutive segments, and a
// ring keeps the latest shapeRing segments (2,048 points). Each time a segment completes, the
// window ending with it is compared with every earlier window in the ring that does not overlap
// it, and the root mean square difference per segment to the nearest is the raw score.
//
// What lies beyond the baseline's band is the other parts' concern: the part sees each value
// clipped to the band, and does not score a window that holds a point beyond it. Otherwise a
// lone spike would make every window that holds it look new, an alert after the spike's own,
// and the bursts of a bursty series would never find their like.
//
// That distance means nothing by itself: it depends on the series' noise, its pattern and how
// much of it the ring holds. So it is calibrated on the series, as HTM's anomaly likelihood
// calibrates its raw score: the short-term mean (over about one window) of the distance's
// logarithm is compared with the long-run mean and standard deviation of its own past values,
// and the Gaussian tail probability of the excess becomes the score, −log10(p)/10 as for the
// forest, so 0.5 is a probability of 10^-5. The calibration starts once the ring is full, so the
// short distances of a ring that is still filling do not set it, and the part scores once the
// calibration has learnt Params.Warmup distances.
const (
	shapeSeg  = 8   // points per segment
	shapeWin  = 4   // segments per window: 32 points
	shapeRing = 256 // segments of history: 2,048 points; a power of two
	// shapeMinSD is the least standard deviation of the log distance the calibration uses: on a
	// series whose distances have hardly varied (a noiseless artificial pattern), a change of
	// a few percent would otherwise be a certainty.
	shapeMinSD = 0.25
)

// shape is the state of the shape part.
type shape struct {
	sum    float64 // sum of the values of the segment being filled
	k      uint8   // points in it
	inside uint8   // points since the latest beyond the band, up to a window's
	score  float64 // the latest completed window's score, held until the next one completes
	n      uint16  // segments in ring (≤ shapeRing)
	at     uint16  // next slot of ring to write
	seen   uint32  // distances the calibration has learnt
	sm     float64 // short-term mean of the log distance
	mu     float64 // calibration: forgetting mean of sm, in units of its weight
	m2     float64 // and of its square
	ring   [shapeRing]float32
}

// observe adds x, clipped to the band [lower, upper], to the segment being filled and returns
// the part's score for the point: when the segment completes, that of the window ending with
// it, judged against the calibration from before it, which then learns it; otherwise the latest
// completed window's, so the score of a point depends only on it and the points before it.
// floor, a small share of the series' residual scale, is added to the distance before its
// logarithm is taken so exact repeats stay finite; rate is the calibration's forgetting rate per
// distance and ready the number of distances it learns before the part scores.
func (s *shape) observe(x, lower, upper, floor, rate float64, ready int) float64 {
	if x < lower || x > upper {
		s.inside = 0
		x = max(lower, min(upper, x))
	} else if s.inside < shapeSeg*shapeWin {
		s.inside++
	}
	s.sum += x
	s.k++
	if s.k < shapeSeg {
		return s.score
	}
	// The history is kept in float32, which holds values up to about 3.4e38, not maxValue.
	seg := clip(s.sum/shapeSeg, math.MaxFloat32)
	s.sum, s.k, s.score = 0, 0, 0
	// Only a window the part judges, one with no point beyond the band, feeds the short-term
	// mean and the calibration: the distances of an excursion's windows, clipped to a band
	// edge, would otherwise linger in the short-term mean and score the first normal windows
	// after it as unusual.
	if s.n == shapeRing && s.inside >= shapeSeg*shapeWin {
		ld := math.Log(s.nearest(seg) + floor + 1e-300)
		if s.seen == 0 {
			s.sm = ld
		} else {
			s.sm += (ld - s.sm) / shapeWin
		}
		if int(s.seen) >= ready {
			// The forgetting means start from zero; dividing by the weight learnt so far
			// corrects for that.
			w := -math.Expm1(float64(s.seen) * math.Log1p(-rate))
			mu := s.mu / w
			sd := max(math.Sqrt(max(s.m2/w-mu*mu, 0)), shapeMinSD)
			if z := (s.sm - mu) / sd; z > 0 {
				s.score = scoreOf(0.5 * math.Erfc(z/math.Sqrt2))
			}
		}
		s.mu += rate * (s.sm - s.mu)
		s.m2 += rate * (s.sm*s.sm - s.m2)
		s.seen++
	}
	s.ring[s.at] = float32(seg)
	s.at = (s.at + 1) % shapeRing
	s.n = min(s.n+1, shapeRing)
	return s.score
}

// nearest is the root mean square difference per segment between the window made of the ring's
// latest shapeWin−1 segments and seg, and the nearest window of the ring that ends before it
// begins. The ring must be full.
func (s *shape) nearest(seg float64) float64 {
	const mask = shapeRing - 1 // shapeRing is a power of two
	at := uint(s.at)
	var q [shapeWin]float64
	for j := range shapeWin - 1 {
		q[j] = float64(s.ring[(at-(shapeWin-1)+uint(j))&mask])
	}
	q[shapeWin-1] = seg
	// The ring's oldest segment is at s.at; the windows that do not overlap the query start at
	// its first shapeRing−2·shapeWin+2 segments.
	best := math.Inf(1)
	for w := range uint(shapeRing - 2*shapeWin + 2) {
		var d float64
		for j, v := range q {
			diff := float64(s.ring[(at+w+uint(j))&mask]) - v
			d += diff * diff
			if d >= best {
				break
			}
		}
		best = min(best, d)
	}
	return math.Sqrt(best / shapeWin)
}
