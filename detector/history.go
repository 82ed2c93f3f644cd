package detector

import (
	"fmt"
	"math"
	"slices"
	"time"
)

// HistoryReport describes the shape of a series' history before models learn from it: the
// problems that make a model's view of it differ from what its owner may expect.
type HistoryReport struct {
	// Points is the number of points, NonFinite how many of them are NaN or ±Inf.
	Points, NonFinite int
	// Duplicates counts points whose timestamp equals the previous point's; Unordered counts
	// points earlier than the latest timestamp before them. First* give the first of each.
	Duplicates, Unordered          int
	FirstDuplicate, FirstUnordered time.Time
	// Spacing is the median interval between consecutive increasing timestamps; LargestGap the
	// longest such interval and GapAt the timestamp that ends it.
	Spacing, LargestGap time.Duration
	GapAt               time.Time
	// Constant is true when every finite value is the same.
	Constant bool
}

// gapFactor is how many typical intervals a gap must span to be reported.
const gapFactor = 10

// InspectHistory describes pts, in their given order.
func InspectHistory(pts []Point) HistoryReport {
	r := HistoryReport{Points: len(pts), Constant: true}
	var latest time.Time
	first := true
	var firstV float64
	haveV := false
	steps := make([]time.Duration, 0, len(pts))
	for i, p := range pts {
		if !Valid(p.V) {
			r.NonFinite++
		} else if !haveV {
			firstV, haveV = p.V, true
		} else if p.V != firstV {
			r.Constant = false
		}
		if first {
			latest, first = p.T, false
			continue
		}
		switch {
		case p.T.Equal(pts[i-1].T):
			if r.Duplicates == 0 {
				r.FirstDuplicate = p.T
			}
			r.Duplicates++
		case p.T.Before(latest):
			if r.Unordered == 0 {
				r.FirstUnordered = p.T
			}
			r.Unordered++
		default:
			d := p.T.Sub(latest)
			steps = append(steps, d)
			if d > r.LargestGap {
				r.LargestGap, r.GapAt = d, p.T
			}
			latest = p.T
		}
	}
	if !haveV {
		r.Constant = false
	}
	if len(steps) > 0 {
		slices.Sort(steps)
		r.Spacing = steps[len(steps)/2]
	}
	return r
}

// Warnings returns one line per problem in the history, naming source; warmup is the number of
// points a model learns before it scores.
func (r HistoryReport) Warnings(source string, warmup int) []string {
	var out []string
	if r.NonFinite > 0 {
		out = append(out, fmt.Sprintf("%s: skipped %s", source, count(r.NonFinite, "NaN or infinite value")))
	}
	if r.Duplicates > 0 {
		out = append(out, fmt.Sprintf("%s: %s the previous timestamp (first at %s); learnt in file order",
			source, count(r.Duplicates, "point repeats", "points repeat"), r.FirstDuplicate.UTC().Format(time.RFC3339)))
	}
	if r.Unordered > 0 {
		out = append(out, fmt.Sprintf("%s: %s earlier than a point before (first at %s); learnt in file order without moving the series' clock back",
			source, count(r.Unordered, "point is", "points are"), r.FirstUnordered.UTC().Format(time.RFC3339)))
	}
	if r.Spacing > 0 && r.LargestGap >= gapFactor*r.Spacing {
		out = append(out, fmt.Sprintf("%s: gap of %s before %s (typical spacing %s)",
			source, r.LargestGap, r.GapAt.UTC().Format(time.RFC3339), r.Spacing))
	}
	if finite := r.Points - r.NonFinite; finite > 0 && finite < warmup {
		out = append(out, fmt.Sprintf("%s: only %d usable points, fewer than the %d a model learns before it scores; scoring starts after %d more live points",
			source, finite, warmup, warmup-finite))
	}
	if r.Constant && r.Points-r.NonFinite > 1 {
		out = append(out, fmt.Sprintf("%s: every value is the same; any change will score as an anomaly", source))
	}
	return out
}

// count writes n with the singular or plural form; plural defaults to singular + "s".
func count(n int, singular string, plural ...string) string {
	if n == 1 {
		return "1 " + singular
	}
	if len(plural) > 0 {
		return fmt.Sprintf("%d %s", n, plural[0])
	}
	return fmt.Sprintf("%d %ss", n, singular)
}

// DefaultHistoryPoints is how many recent scored points each series keeps when
// Options.HistoryPoints is 0: at a 15-second schedule, the hour a chart shows and `rules test`
// replays.
const DefaultHistoryPoints = 240

// ring keeps the recent scored points of one series for charts and `rules test`, compactly, in 14
// bytes a point where a Scored takes 64: the value and the expected value as float32 (about
// seven significant digits), the band as its two distances from the expected value in bfloat16
// (float32's range with three significant digits: within 0.2 % of the band's half-width), and the
// score as a 16-bit fraction of [0, 1] (within 0.00001), rounded so that a point scored at or
// above its check's threshold is kept at or above it and one scored below is kept below, so a
// replay opens and ends episodes where the live check did. While the points are evenly spaced, as
// a Prometheus range query's are, their times are the first one's plus a step, exact to the
// millisecond, at no cost per point; once they are not, each point also keeps its time as an
// offset from a base, in milliseconds (in seconds once the points kept span more than 49 days),
// until they are evenly spaced again. The latest point is kept exactly, so what shows a series'
// value now (the API, `detect once`) shows it as scored. The arrays grow with the points, up to
// the size they are given, so a series that sent a few points costs a few.
type ring struct {
	pts  []packedPoint
	offs []uint32 // each point's time from base, beside pts; nil while the points are evenly spaced
	next int      // where the next point goes once the ring is at its size: the oldest point
	// first is the oldest point's time and step the time between points (Unix milliseconds),
	// while offs is nil.
	first, step int64
	base        int64 // Unix time offs count from, in milliseconds or, when coarse, seconds
	coarse      bool
	run         int    // points in a row step apart, the latest included, while offs is set
	last        Scored // the latest point, exact
}

// push adds p, dropping the oldest point once size points are kept; threshold is the score
// from which the point is anomalous, which the score kept stays on the same side of.
func (r *ring) push(p Scored, size int, threshold float64) {
	if size <= 0 {
		return
	}
	t := p.T.UnixMilli()
	n := len(r.pts)
	var delta int64
	if n > 0 {
		delta = t - r.last.T.UnixMilli()
	}
	r.last = p
	pp := pack(p, threshold)
	if r.offs == nil {
		switch {
		case n == 0:
			r.first = t
		case n == 1:
			r.step = delta
		case delta != r.step:
			r.spell() // no longer evenly spaced
		}
	}
	if r.offs == nil {
		if r.put(pp, size) {
			r.first += r.step // the oldest point left
		}
		return
	}
	if delta == r.step {
		r.run++
	} else {
		r.step, r.run = delta, 2
	}
	r.put(pp, size)
	if r.run >= len(r.pts) { // evenly spaced again
		r.first, r.offs, r.coarse = t-int64(len(r.pts)-1)*r.step, nil, false
		return
	}
	off, ok := r.offset(t)
	if !ok {
		ts := r.times() // the newest point's offset is not set yet
		ts[len(ts)-1] = t
		r.setTimes(ts)
		return
	}
	r.offs[(r.next+len(r.pts)-1)%len(r.pts)] = off
}

// put stores pp as the newest point, growing the arrays up to size, and reports whether it took
// the place of the oldest.
func (r *ring) put(pp packedPoint, size int) bool {
	if len(r.pts) < size {
		if len(r.pts) == cap(r.pts) {
			c := min(size, max(8, 2*cap(r.pts)))
			r.pts = append(make([]packedPoint, 0, c), r.pts...)
			if r.offs != nil {
				r.offs = append(make([]uint32, 0, c), r.offs...)
			}
		}
		r.pts = append(r.pts, pp)
		if r.offs != nil {
			r.offs = append(r.offs, 0)
		}
		return false
	}
	r.pts[r.next] = pp
	r.next = (r.next + 1) % len(r.pts)
	return true
}

// spell gives every point kept its own time, from first and step.
func (r *ring) spell() {
	ts := make([]int64, len(r.pts))
	for i := range ts {
		ts[i] = r.first + int64(i)*r.step
	}
	r.offs = make([]uint32, len(r.pts), cap(r.pts))
	r.setTimes(ts)
}

// times returns the times of the points kept, oldest first, in milliseconds.
func (r *ring) times() []int64 {
	n := len(r.pts)
	ts := make([]int64, n)
	for i := range n {
		ts[i] = r.at(i)
	}
	return ts
}

// at is the time of the i-th oldest point, in milliseconds.
func (r *ring) at(i int) int64 {
	if r.offs == nil {
		return r.first + int64(i)*r.step
	}
	t := r.base + int64(r.offs[(r.next+i)%len(r.pts)])
	if r.coarse {
		return t * 1000
	}
	return t
}

// setTimes sets the offsets of the points kept from their times ts (milliseconds, oldest first),
// from a base at the oldest, in seconds if milliseconds do not fit.
func (r *ring) setTimes(ts []int64) {
	r.base, r.coarse = ts[0], false
	if ts[len(ts)-1]-ts[0] > math.MaxUint32 {
		r.base, r.coarse = floorDiv(ts[0], 1000), true
	}
	for i, t := range ts {
		if r.coarse {
			t = floorDiv(t, 1000)
		}
		r.offs[(r.next+i)%len(r.pts)] = uint32(min(t-r.base, math.MaxUint32)) // beyond: 136 years
	}
}

// offset is t (milliseconds) from the base, and whether it fits.
func (r *ring) offset(t int64) (uint32, bool) {
	if r.coarse {
		t = floorDiv(t, 1000)
	}
	d := t - r.base
	if d < 0 || d > math.MaxUint32 {
		return 0, false
	}
	return uint32(d), true
}

// points returns the kept points oldest first, the latest exactly and the others as kept.
func (r *ring) points() []Scored {
	n := len(r.pts)
	if n == 0 {
		return nil
	}
	loc := r.last.T.Location()
	out := make([]Scored, n)
	for i := range n {
		out[i] = r.pts[(r.next+i)%n].unpack()
		out[i].T = time.UnixMilli(r.at(i)).In(loc)
	}
	out[n-1] = r.last
	return out
}

// latest returns the newest point kept, exactly, and whether there is one.
func (r *ring) latest() (Scored, bool) { return r.last, len(r.pts) > 0 }

// f32 is v as a float32, finite when v is.
func f32(v float64) float32 {
	switch {
	case math.IsInf(v, 0) || math.IsNaN(v):
	case v > math.MaxFloat32:
		return math.MaxFloat32
	case v < -math.MaxFloat32:
		return -math.MaxFloat32
	}
	return float32(v)
}

func floorDiv(a, b int64) int64 {
	q := a / b
	if a%b != 0 && a < 0 {
		q--
	}
	return q
}
