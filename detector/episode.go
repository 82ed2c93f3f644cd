package detector

import (
	"math"
	"slices"
	"time"
)

// DefaultResolveAfter is how many consecutive normal points end an episode when a check sets
// none.
const DefaultResolveAfter = 3

// DefaultRecurWithin is how long after an episode ends a return of the series beyond the band
// that episode was judged against opens a new episode whatever the score, when a check sets no
// other duration.
const DefaultRecurWithin = time.Hour

// PartRecurrence names, in Anomaly.Models, the lifecycle itself: the episode opened because the
// series went back beyond the band of an episode that had just ended.
const PartRecurrence = "recurrence"

// MinChange is the least departure from the expected value that may open an episode: both the
// absolute departure |value − expected| ≥ Absolute and the relative one ≥ Relative·|expected|
// must hold. A series pinned at a ceiling (CPU at 100 %) or a flat one has a band so narrow that
// any wobble scores high; a minimum change keeps its tiny dips from paging anyone. The zero
// value lets every anomalous point open an episode.
type MinChange struct {
	Relative float64 // a share of |expected|, e.g. 0.02 for 2 %
	Absolute float64 // in the series' unit
}

// Allows reports whether value departs from expected by at least the minimum change.
func (m MinChange) Allows(value, expected float64) bool {
	d := math.Abs(value - expected)
	return d >= m.Absolute && d >= m.Relative*math.Abs(expected)
}

// Lifecycle decides when a series' anomalous episode opens and when it ends. It is the one place
// that does, shared by live checks, `rules test` and `rules backtest`, so the three agree.
//
// An episode opens at a point whose score reaches Threshold and whose departure from the expected
// value passes MinChange. The band the model judged that point against is frozen then: the model
// goes on learning during the episode (a load that lasts becomes its new normal), but the episode
// is judged against what was normal when it began. It stays open while the value lies outside the
// frozen band or the score stays at or above Threshold, and ends after ResolveAfter consecutive
// points that are neither.
//
// A recurrence is a new episode whatever the model has learnt: the model learns from an episode's
// values, so the same load again soon after may no longer score high. For RecurWithin after an
// episode ends, a value that goes back at least halfway from that episode's frozen band to its
// furthest value, on the side it went (and past MinChange), opens a new episode against the same
// band. Halfway, not merely beyond the band: the same load again reaches it, while the noise
// that ends a noisy episode seldom does.
type Lifecycle struct {
	Threshold    float64
	MinChange    MinChange
	ResolveAfter int           // ≤ 0 means DefaultResolveAfter
	RecurWithin  time.Duration // 0 means DefaultRecurWithin; negative turns recurrences off
}

// Episode is the state of one series' current anomalous episode; the zero value is "none open".
type Episode struct {
	Since     time.Time `json:"since,omitzero"` // when it opened; zero when none is open
	Expected  float64   `json:"expected,omitempty"`
	Lower     float64   `json:"lower,omitempty"` // the band frozen when it opened
	Upper     float64   `json:"upper,omitempty"`
	Peak      float64   `json:"peak,omitempty"`       // the highest score in it
	PeakValue float64   `json:"peak_value,omitempty"` // the value furthest from Expected
	Models    []string  `json:"models,omitempty"`     // the parts that flagged its highest-scoring point
	Normals   int       `json:"normals,omitempty"`    // consecutive normal points so far
	// Ended is the last episode that ended, kept while a return beyond its band would be a
	// recurrence; nil when there is none.
	Ended *Ended `json:"ended,omitempty"`
}

// Ended is what is kept of an episode that ended: its frozen band, the side its furthest value
// lay on (+1 above, -1 below, 0 inside), the level a return must reach to be a recurrence
// (halfway from the band to that value) and until when a return there is a recurrence.
type Ended struct {
	Expected float64   `json:"expected"`
	Lower    float64   `json:"lower"`
	Upper    float64   `json:"upper"`
	Side     int       `json:"side"`
	Level    float64   `json:"level,omitempty"` // 0 in records written before it: the band's edge
	Until    time.Time `json:"until"`
}

// recurs reports whether v at t goes back beyond the band, as far as the level, on the side the
// episode went.
func (e *Ended) recurs(v float64, t time.Time) bool {
	if e == nil || !t.Before(e.Until) {
		return false
	}
	switch {
	case e.Side > 0:
		return v > e.Upper && (e.Level == 0 || v >= e.Level)
	case e.Side < 0:
		return v < e.Lower && (e.Level == 0 || v <= e.Level)
	}
	return false
}

// Open reports whether an episode is open.
func (e *Episode) Open() bool { return !e.Since.IsZero() }

// stored reports whether the episode holds anything worth saving: an open episode, or an ended
// one a return beyond whose band would still be a recurrence.
func (e *Episode) stored() bool { return e.Open() || e.Ended != nil }

// Outside reports whether v lies outside the episode's frozen band.
func (e *Episode) Outside(v float64) bool { return v > e.Upper || v < e.Lower }

// Step is what one point did to an episode.
type Step int

// Steps.
const (
	StepNone     Step = iota // no episode before or after
	StepOpened               // the point opened an episode
	StepContinue             // an open episode goes on
	StepResolved             // the point ended the episode
)

// Step advances ep with one scored point; models names the parts that flagged it.
func (l Lifecycle) Step(ep *Episode, p Scored, models []string) Step {
	if !ep.Open() {
		if ended := ep.Ended; ended.recurs(p.V, p.T) && l.MinChange.Allows(p.V, ended.Expected) {
			*ep = Episode{Since: p.T, Expected: ended.Expected, Lower: ended.Lower, Upper: ended.Upper,
				Peak: p.Score, PeakValue: p.V, Models: append(slices.Clone(models), PartRecurrence)}
			return StepOpened
		}
		if p.Score < l.Threshold || !l.MinChange.Allows(p.V, p.Expected) {
			return StepNone
		}
		*ep = Episode{Since: p.T, Expected: p.Expected, Lower: p.Lower, Upper: p.Upper,
			Peak: p.Score, PeakValue: p.V, Models: slices.Clone(models)}
		return StepOpened
	}
	if p.Score > ep.Peak {
		ep.Peak = p.Score
		ep.Models = append(ep.Models[:0], models...)
	}
	if math.Abs(p.V-ep.Expected) > math.Abs(ep.PeakValue-ep.Expected) {
		ep.PeakValue = p.V
	}
	if p.Score >= l.Threshold || ep.Outside(p.V) {
		ep.Normals = 0
		return StepContinue
	}
	ep.Normals++
	after := l.ResolveAfter
	if after <= 0 {
		after = DefaultResolveAfter
	}
	if ep.Normals < after {
		return StepContinue
	}
	var ended *Ended
	if within := l.recurWithin(); within > 0 {
		ended = &Ended{Expected: ep.Expected, Lower: ep.Lower, Upper: ep.Upper, Until: p.T.Add(within)}
		switch Direction(ep.PeakValue, ep.Lower, ep.Upper) {
		case "above":
			ended.Side, ended.Level = 1, ep.Upper+(ep.PeakValue-ep.Upper)/2
		case "below":
			ended.Side, ended.Level = -1, ep.Lower-(ep.Lower-ep.PeakValue)/2
		}
	}
	*ep = Episode{Ended: ended}
	return StepResolved
}

func (l Lifecycle) recurWithin() time.Duration {
	if l.RecurWithin == 0 {
		return DefaultRecurWithin
	}
	return l.RecurWithin
}

// Direction says where value lies against the band: "above", "below" or "inside".
func Direction(value, lower, upper float64) string {
	switch {
	case value > upper:
		return "above"
	case value < lower:
		return "below"
	}
	return "inside"
}
