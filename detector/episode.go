package detector

import (
	"math"
	"slices"
	"time"
)

// DefaultResolveAfter is how many consecutive normal points end an episode when a check sets
// none.
const DefaultResolveAfter = 3

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
// points that are neither. A later anomaly opens a new episode, whatever the model has learnt.
type Lifecycle struct {
	Threshold    float64
	MinChange    MinChange
	ResolveAfter int // ≤ 0 means DefaultResolveAfter
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
}

// Open reports whether an episode is open.
func (e *Episode) Open() bool { return !e.Since.IsZero() }

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
	*ep = Episode{}
	return StepResolved
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
