package model

import "math"

// extreme tracks the range a statistic has covered on this series: a running maximum and minimum
// that sink back toward the statistic's recent centre at a slow rate when not renewed, so the
// range reflects recent history rather than all of it. A value beyond the range by a sizeable
// fraction of its width is a record the series has not produced before, which is what most
// incidents look like: a level, a jump or a departure from the seasonal pattern that is new for
// this series. Recurring spikes of the usual size stay inside the range and score nothing.
type extreme struct {
	hi, lo float64
}

// width is the range's width with a floor relative to its magnitude, so a series that has been
// constant so far still yields finite excesses.
func (x *extreme) width() float64 {
	return max(x.hi-x.lo, 1e-9*(1+math.Abs(x.hi)+math.Abs(x.lo)))
}

// excess is how far v lies beyond the range, in widths; zero inside it.
func (x *extreme) excess(v float64) float64 {
	return max(v-x.hi, x.lo-v, 0) / x.width()
}

// excessBeyond is how far v lies beyond the range widened to include the band [lo, hi], in
// widths of the range itself: the band is what ordinary noise reaches, not part of the history
// the excess is measured against. A band end at ±Inf leaves that side out.
func (x *extreme) excessBeyond(v, lo, hi float64) float64 {
	return max(v-max(x.hi, hi), min(x.lo, lo)-v, 0) / x.width()
}

// start opens the range at v.
func (x *extreme) start(v float64) { x.hi, x.lo = v, v }

// learn widens the range to include v, or else lets each end sink toward centre at rate.
func (x *extreme) learn(v, centre, rate float64) {
	if v > x.hi {
		x.hi = v
	} else if centre < x.hi {
		x.hi -= rate * (x.hi - max(centre, v))
	}
	if v < x.lo {
		x.lo = v
	} else if centre > x.lo {
		x.lo += rate * (min(centre, v) - x.lo)
	}
}
