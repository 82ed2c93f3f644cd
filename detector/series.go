package detector

import (
	"hash/fnv"
	"sort"
	"strconv"
	"strings"
	"time"
)

// Series is a batch of new points of one labelled series, as a Source returns them. A check keeps
// the Labels map of a series it has not seen before as that series' label set, without copying it
// when it already carries the check's labels: a Source must not modify a map once it returned it.
type Series struct {
	Labels map[string]string
	Points []Point
}

// Key is a stable identity of a label set: its labels sorted and joined.
func Key(labels map[string]string) string {
	if len(labels) == 0 {
		return "{}"
	}
	keys := make([]string, 0, len(labels))
	for k := range labels {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	var b strings.Builder
	b.WriteByte('{')
	for i, k := range keys {
		if i > 0 {
			b.WriteByte(',')
		}
		b.WriteString(k)
		b.WriteByte('=')
		b.WriteString(strconv.Quote(labels[k]))
	}
	b.WriteByte('}')
	return b.String()
}

// Fingerprint is a short hash of a label set, usable in store keys and IDs.
func Fingerprint(labels map[string]string) string {
	h := fnv.New64a()
	h.Write([]byte(Key(labels)))
	return strconv.FormatUint(h.Sum64(), 16)
}

// Anomaly is a series in an anomalous episode as of one tick, with what a person needs to judge
// it: the latest value against the band frozen when the episode opened, the latest and the highest
// score, when the episode started and which model parts flagged it. Opened marks the tick that
// opened the episode; later ticks report the same episode with newer values.
type Anomaly struct {
	Check    string
	Severity string
	Unit     string
	Labels   map[string]string // the series' labels plus the check's labels
	Opened   bool              // this tick opened the episode
	T        time.Time         // the latest point
	Value    float64
	Score    float64
	Peak     float64 // the highest score of the episode
	// PeakValue is the value of the episode furthest from Expected.
	PeakValue float64
	// Expected, Lower and Upper are the band frozen when the episode opened.
	Expected float64
	Lower    float64
	Upper    float64
	Since    time.Time // start of the episode
	Models   []string  // the parts that flagged the episode's highest-scoring point
}

// Scored is one past point with the band the model expected for it.
type Scored struct {
	Point
	Score, Expected, Lower, Upper float64
}

// Recovery says a series that was anomalous is normal again, or, when Stale is set, that it sent
// no new point for Options.ForgetAfter and was forgotten.
type Recovery struct {
	Check  string
	Labels map[string]string
	T      time.Time
	Since  time.Time // when the episode had started
	Stale  bool
}

// Event is one change of a series' episode in a tick: exactly one of Anomaly and Recovery is set.
// A tick's events keep the order in which they happened, so an episode that ended and a new one
// that opened in the same batch of points arrive in that order.
type Event struct {
	Anomaly  *Anomaly
	Recovery *Recovery
}

// Observation is one series as scored in one tick, for the rules that watch the check: each
// point of the tick with the series' episode as it stood after that point.
type Observation struct {
	Labels map[string]string
	Points []ObservedPoint // oldest first
}

// ObservedPoint is one scored point with the series' episode after it.
type ObservedPoint struct {
	Scored // the point with the model's score and band
	Open   bool
	Since  time.Time // start of the open episode
	Peak   float64   // highest score of the open episode
	// Band is what the point is judged against: the band frozen when the open episode began,
	// or the model's own band when none is open.
	Band Band
}

// Band is an expected value with the normal range around it.
type Band struct {
	Expected, Lower, Upper float64
}

// Tick is what one tick of a check found: the changes of episodes, in order, and — when the
// check is observed (Options.Observed) — every series it scored.
type Tick struct {
	Check  string
	T      time.Time
	Events []Event
	Series []Observation
}
