package eval

import (
	"fmt"
	"math"
	"slices"
	"time"
)

// Row classes in Labels.class besides window indexes.
const (
	rowProbation = -2 // not scored at all
	rowOutside   = -1 // outside every window: a detection here is a false positive
)

// Labels is the NAB labelling of one series' rows: which rows are probation, which window each
// row falls in and the unweighted scaled-sigmoid reward or cost of a detection there.
type Labels struct {
	Key      string
	Category string
	class    []int32   // rowProbation, rowOutside or a window index
	unweight []float64 // σ value of a detection at this row, before profile weights
	inWindow []bool    // row lies in a window, probation rows included
	windows  int       // windows with at least one scored row
}

// probationRows is NAB's probation length: min(floor(0.15·n), 750).
func probationRows(n int) int {
	return min(int(math.Floor(0.15*float64(n))), 750)
}

// scaledSigmoid is NAB's reward curve: 2/(1+e^(5y)) − 1, and −1 from y = 3 on.
func scaledSigmoid(y float64) float64 {
	if y >= 3 {
		return -1
	}
	return 2/(1+math.Exp(5*y)) - 1
}

// NewLabels labels the rows at times with windows exactly as NAB's sweeper does: a window opens
// at the first row whose timestamp equals its start and closes after the first row equal to its
// end; widths and distances are counted in rows. A window whose start or end matches no row is
// an error, since NAB would silently skip it and every window after it.
func NewLabels(key, category string, times []time.Time, windows []Window) (*Labels, error) {
	n := len(times)
	first := func(t time.Time) int {
		for i, u := range times {
			if u.Equal(t) {
				return i
			}
		}
		return -1
	}
	for i, w := range windows {
		if first(w.Start) < 0 || first(w.End) < 0 {
			return nil, fmt.Errorf("label %s: window %d [%s, %s] does not start and end on rows of the series",
				key, i, w.Start.Format(time.DateTime), w.End.Format(time.DateTime))
		}
	}
	l := &Labels{Key: key, Category: category, class: make([]int32, n), unweight: make([]float64, n), inWindow: make([]bool, n)}
	prob := probationRows(n)
	maxTP := scaledSigmoid(-1)
	next, cur := 0, -1
	var right int
	var width float64
	prevRight, prevWidth := -1, 0.0
	lastCounted := -1
	for i, t := range times {
		if next < len(windows) && t.Equal(windows[next].Start) {
			cur = next
			next++
			right = first(windows[cur].End)
			width = float64(right - first(windows[cur].Start) + 1)
		}
		var u float64
		class := int32(rowOutside)
		if cur >= 0 {
			u = scaledSigmoid(-float64(right-i+1)/width) / maxTP
			class = int32(cur)
		} else if prevRight < 0 {
			u = scaledSigmoid(3)
		} else {
			u = scaledSigmoid(math.Abs(float64(prevRight-i)) / (prevWidth - 1))
		}
		if i < prob {
			class = rowProbation
		} else if class >= 0 && int(class) != lastCounted {
			lastCounted = int(class)
			l.windows++
		}
		l.class[i], l.unweight[i], l.inWindow[i] = class, u, cur >= 0
		if cur >= 0 && t.Equal(windows[cur].End) {
			prevRight, prevWidth = i, width
			cur = -1
		}
	}
	// Renumber windows densely over the scored ones so callers can index by window.
	remap := map[int32]int32{}
	for i, c := range l.class {
		if c >= 0 {
			if _, ok := remap[c]; !ok {
				remap[c] = int32(len(remap))
			}
			l.class[i] = remap[c]
		}
	}
	return l, nil
}

// Len is the number of rows labelled.
func (l *Labels) Len() int { return len(l.class) }

// Windows is the number of windows with at least one scored row.
func (l *Labels) Windows() int { return l.windows }

// InWindow reports whether row i lies inside a labelled window (probation rows included).
func (l *Labels) InWindow(i int) bool { return l.inWindow[i] }

// Scored pairs a series' labels with one anomaly score per row.
type Scored struct {
	Labels *Labels
	Scores []float64
}

// Attach pairs l with scores, which must hold one score per labelled row.
func (l *Labels) Attach(scores []float64) (Scored, error) {
	if len(scores) != len(l.class) {
		return Scored{}, fmt.Errorf("score %s: %d scores for %d rows", l.Key, len(scores), len(l.class))
	}
	return Scored{Labels: l, Scores: scores}, nil
}

// ProfileResult is a profile's NAB score over a set of series at one threshold.
type ProfileResult struct {
	Profile   string  `json:"profile"`
	Threshold float64 `json:"threshold"`
	// Score is NAB's normalised score: 100·(S − S_null)/(S_perfect − S_null).
	Score float64 `json:"score"`
	// Raw is S, the sum of rewards and costs.
	Raw float64 `json:"raw"`
	// TP and FN count windows; FP counts detected rows outside windows.
	TP     int `json:"tp"`
	FN     int `json:"fn"`
	FPRows int `json:"fp_rows"`
}

func weight(l *Labels, i int, p Profile) float64 {
	if l.class[i] >= 0 {
		return l.unweight[i] * p.TP
	}
	return l.unweight[i] * p.FP
}

func normalise(raw float64, windows int, p Profile) float64 {
	null := -p.FN * float64(windows)
	perfect := p.TP * float64(windows)
	if perfect == null {
		return 0
	}
	return 100 * (raw - null) / (perfect - null)
}

// Score computes profile p's NAB score over set at threshold: a row is a detection when its score
// is at least threshold; within a window only the earliest detection counts.
func Score(set []Scored, p Profile, threshold float64) ProfileResult {
	r := ProfileResult{Profile: p.Name, Threshold: threshold}
	windows := 0
	for _, s := range set {
		l := s.Labels
		best := make([]float64, l.windows)
		hit := make([]bool, l.windows)
		for w := range best {
			best[w] = -p.FN
		}
		for i, v := range s.Scores {
			c := l.class[i]
			if c == rowProbation || !(v >= threshold) {
				continue
			}
			if c >= 0 {
				best[c] = max(best[c], weight(l, i, p))
				hit[c] = true
			} else {
				r.Raw += weight(l, i, p)
				r.FPRows++
			}
		}
		for w, b := range best {
			r.Raw += b
			if hit[w] {
				r.TP++
			} else {
				r.FN++
			}
		}
		windows += l.windows
	}
	r.Score = normalise(r.Raw, windows, p)
	return r
}

// Sweep finds the threshold that maximises profile p's score over set, as NAB's published numbers
// do using the labels, and returns the score there. A product ships one fixed threshold, so this
// is a ceiling to compare with, not a setting.
func Sweep(set []Scored, p Profile) ProfileResult {
	type item struct {
		score, w float64
		win      int // global window index, or -1
	}
	var items []item
	windows := 0
	maxScore := math.Inf(-1)
	for _, s := range set {
		l := s.Labels
		for i, v := range s.Scores {
			c := l.class[i]
			if c == rowProbation || math.IsNaN(v) {
				continue
			}
			win := -1
			if c >= 0 {
				win = windows + int(c)
			}
			items = append(items, item{v, weight(l, i, p), win})
			maxScore = max(maxScore, v)
		}
		windows += l.windows
	}
	slices.SortStableFunc(items, func(a, b item) int {
		switch {
		case a.score > b.score:
			return -1
		case a.score < b.score:
			return 1
		}
		return 0
	})
	best := make([]float64, windows)
	for w := range best {
		best[w] = -p.FN
	}
	total := -p.FN * float64(windows)
	bestTotal, bestThr := total, math.Inf(1)
	if len(items) > 0 {
		bestThr = math.Nextafter(maxScore, math.Inf(1))
	}
	for k, it := range items {
		if it.win >= 0 {
			if it.w > best[it.win] {
				total += it.w - best[it.win]
				best[it.win] = it.w
			}
		} else {
			total += it.w
		}
		if (k+1 == len(items) || items[k+1].score != it.score) && total > bestTotal {
			bestTotal, bestThr = total, it.score
		}
	}
	r := Score(set, p, bestThr)
	return r
}

// Events is event-level detection quality: each window is one event, detected when any detected
// row lies inside it; each maximal run of consecutive detected rows outside windows is one false
// positive. Probation rows are ignored.
type Events struct {
	TP        int     `json:"tp"`
	FN        int     `json:"fn"`
	FP        int     `json:"fp_runs"`
	Precision float64 `json:"precision"`
	Recall    float64 `json:"recall"`
	F1        float64 `json:"f1"`
}

// EventF1 computes Events over set at threshold.
func EventF1(set []Scored, threshold float64) Events {
	var e Events
	for _, s := range set {
		l := s.Labels
		hit := make([]bool, l.windows)
		inRun := false
		for i, v := range s.Scores {
			c := l.class[i]
			if c == rowProbation {
				continue
			}
			det := v >= threshold
			if c >= 0 {
				if det {
					hit[c] = true
				}
				inRun = false
				continue
			}
			if det && !inRun {
				e.FP++
			}
			inRun = det
		}
		for _, h := range hit {
			if h {
				e.TP++
			} else {
				e.FN++
			}
		}
	}
	if e.TP+e.FP > 0 {
		e.Precision = float64(e.TP) / float64(e.TP+e.FP)
	}
	if e.TP+e.FN > 0 {
		e.Recall = float64(e.TP) / float64(e.TP+e.FN)
	}
	if d := 2*e.TP + e.FN + e.FP; d > 0 {
		e.F1 = float64(2*e.TP) / float64(d)
	}
	return e
}
