package chart

import (
	"math"
	"slices"
	"time"
)

// maxSpanPointsKept is how many points inside the anomalous span survive
// reduction unconditionally: the anomaly is what the chart is about, so its
// points are not thinned unless there are very many of them.
const maxSpanPointsKept = 200

// minTimeRange is the x range, in seconds, given to a series whose points
// all share one instant, so a single point is drawn in the middle of a
// readable axis instead of on a zero-width one.
const minTimeRange = 60

// data is a validated series in plot coordinates: x in Unix seconds, with
// the ranges of both axes decided.
type data struct {
	x, y          []float64
	exp, lo, hi   []float64 // nil when not drawn
	hasSpan       bool
	spanOpen      bool // SpanStart set without SpanEnd
	spanX0        float64
	spanX1        float64
	xmin, xmax    float64
	ymin, ymax    float64
	spanStartTime time.Time
	spanEndTime   time.Time
	frozen        *Band // the band frozen when the span began, drawn inside it
}

// prepare converts a validated series to plot coordinates, reduces it to at
// most about MaxPoints points and decides the axis ranges.
func prepare(s Series) *data {
	n := len(s.Times)
	d := &data{}
	xs := make([]float64, n)
	for i, t := range s.Times {
		xs[i] = unixSeconds(t)
	}

	if !s.SpanStart.IsZero() {
		d.hasSpan = true
		d.spanStartTime = s.SpanStart.UTC()
		d.spanX0 = unixSeconds(s.SpanStart)
		if s.SpanEnd.IsZero() {
			d.spanOpen = true
			d.spanX1 = math.Max(d.spanX0, xs[n-1])
			d.spanEndTime = s.Times[n-1].UTC()
			if d.spanEndTime.Before(d.spanStartTime) {
				d.spanEndTime = d.spanStartTime
			}
		} else {
			d.spanX1 = unixSeconds(s.SpanEnd)
			d.spanEndTime = s.SpanEnd.UTC()
		}
	}

	idx := reduce(xs, s.Values, d, MaxPoints)
	d.x = pick(xs, idx)
	d.y = pick(s.Values, idx)
	d.exp = pick(s.Expected, idx)
	d.lo = pick(s.Lower, idx)
	d.hi = pick(s.Upper, idx)
	if s.Frozen != nil && d.hasSpan {
		d.freeze(*s.Frozen)
	}
	if r := s.Range; r != nil {
		d.exp, d.lo, d.hi = clipped(d.exp, *r), clipped(d.lo, *r), clipped(d.hi, *r)
		if d.frozen != nil {
			f := *d.frozen
			f.Expected, f.Lower, f.Upper = clamp(f.Expected, *r), clamp(f.Lower, *r), clamp(f.Upper, *r)
			d.frozen = &f
		}
	}

	d.xmin, d.xmax = xs[0], xs[n-1]
	if d.hasSpan {
		d.xmin = math.Min(d.xmin, d.spanX0)
		d.xmax = math.Max(d.xmax, d.spanX1)
	}
	if d.xmax-d.xmin < 1e-3 {
		d.xmin -= minTimeRange / 2
		d.xmax += minTimeRange / 2
	}
	d.ymin, d.ymax = valueRange(d.y, d.exp, d.lo, d.hi)
	if r := s.Range; r != nil {
		d.ymin, d.ymax = max(d.ymin, r.Min), min(d.ymax, r.Max)
		if d.ymin >= d.ymax { // every value at one bound
			d.ymin, d.ymax = r.Min, r.Max
		}
	}
	return d
}

// freeze draws the frozen band f instead of the model's band at the points inside the span, so
// the chart shows what the span was judged against. The slices are copied first: they may be
// the caller's.
func (d *data) freeze(f Band) {
	n := len(d.x)
	fill := func(vs []float64, v float64) []float64 {
		out := make([]float64, n)
		for i := range out {
			switch {
			case d.inSpan(d.x[i]):
				out[i] = v
			case vs != nil:
				out[i] = vs[i]
			default:
				out[i] = math.NaN()
			}
		}
		return out
	}
	d.exp, d.lo, d.hi = fill(d.exp, f.Expected), fill(d.lo, f.Lower), fill(d.hi, f.Upper)
	d.frozen = &f
}

// clipped returns vs with every finite value clamped to r, as a copy; nil stays nil.
func clipped(vs []float64, r Range) []float64 {
	if vs == nil {
		return nil
	}
	out := make([]float64, len(vs))
	for i, v := range vs {
		out[i] = v
		if finite(v) {
			out[i] = clamp(v, r)
		}
	}
	return out
}

func clamp(v float64, r Range) float64 { return max(r.Min, min(r.Max, v)) }

// inSpan reports whether x lies inside the anomalous span.
func (d *data) inSpan(x float64) bool {
	return d.hasSpan && x >= d.spanX0 && x <= d.spanX1
}

// reduce returns the indices of the points to draw, or nil to draw all of
// them. Points are cut into equal-count buckets; each bucket keeps its
// smallest and largest finite value and its first non-finite value (so gaps
// stay gaps), in time order. The first and last points and up to
// maxSpanPointsKept points inside the span are always kept.
func reduce(xs, ys []float64, d *data, limit int) []int {
	n := len(xs)
	if n <= limit {
		return nil
	}
	keep := make([]int, 0, limit+8)
	keep = append(keep, 0, n-1)
	if d.hasSpan {
		lo, _ := slices.BinarySearch(xs, d.spanX0)
		hi := lo
		for hi < n && xs[hi] <= d.spanX1 {
			hi++
		}
		if hi-lo <= maxSpanPointsKept {
			for i := lo; i < hi; i++ {
				keep = append(keep, i)
			}
		}
	}
	buckets := (limit - len(keep)) / 3
	if buckets < 1 {
		buckets = 1
	}
	for b := range buckets {
		start := b * n / buckets
		end := (b + 1) * n / buckets
		imin, imax, igap := -1, -1, -1
		for i := start; i < end; i++ {
			v := ys[i]
			if !finite(v) {
				if igap < 0 {
					igap = i
				}
				continue
			}
			if imin < 0 || v < ys[imin] {
				imin = i
			}
			if imax < 0 || v > ys[imax] {
				imax = i
			}
		}
		for _, i := range [...]int{imin, imax, igap} {
			if i >= 0 {
				keep = append(keep, i)
			}
		}
	}
	slices.Sort(keep)
	return slices.Compact(keep)
}

// pick returns vs at the given indices, all of vs when idx is nil, and nil
// when vs is nil.
func pick(vs []float64, idx []int) []float64 {
	if vs == nil {
		return nil
	}
	if idx == nil {
		return vs
	}
	out := make([]float64, len(idx))
	for j, i := range idx {
		out[j] = vs[i]
	}
	return out
}

// valueRange returns the y axis range: every finite value with some air
// above and below. A flat series gets a range around its value; a series
// that never goes negative does not get a negative axis from the padding.
func valueRange(series ...[]float64) (lo, hi float64) {
	lo, hi = math.Inf(1), math.Inf(-1)
	for _, vs := range series {
		for _, v := range vs {
			if finite(v) {
				lo = math.Min(lo, v)
				hi = math.Max(hi, v)
			}
		}
	}
	if lo > hi { // no finite value at all; validation prevents this
		return 0, 1
	}
	// Halves keep the arithmetic finite for values near ±MaxFloat64.
	half := hi/2 - lo/2
	mag := math.Max(math.Abs(lo), math.Abs(hi))
	var pad float64
	if half <= mag*1e-9 || half == 0 {
		pad = math.Max(mag*0.1, 1)
	} else {
		pad = half * 0.16 // 8% of the full range
	}
	nonNegative := lo >= 0
	lo = clampFinite(lo - pad)
	hi = clampFinite(hi + pad)
	if nonNegative && lo < 0 {
		lo = 0
	}
	if math.IsInf(hi-lo, 0) {
		// An axis wider than MaxFloat64 cannot be scaled; values beyond
		// ±MaxFloat64/2 are drawn at the edge of the plot instead.
		lo, hi = math.Max(lo, -math.MaxFloat64/2), math.Min(hi, math.MaxFloat64/2)
	}
	return lo, hi
}

func clampFinite(v float64) float64 {
	return math.Max(-math.MaxFloat64, math.Min(math.MaxFloat64, v))
}

// unixSeconds returns t as fractional seconds since the Unix epoch; unlike
// UnixNano it does not overflow outside the years 1678 to 2262.
func unixSeconds(t time.Time) float64 {
	return float64(t.Unix()) + float64(t.Nanosecond())/1e9
}
