package detector

import (
	"fmt"
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
