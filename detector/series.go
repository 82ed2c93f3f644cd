package detector

import (
	"hash/fnv"
	"sort"
	"strconv"
	"strings"
	"time"
)

// Series is a batch of new points of one labelled series, as a Source returns them.
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

// Anomaly is a point whose score reached its check's threshold, with what a person needs to judge
// it: the value against the expected band, the score, when the anomalous span started, which
// models flagged it, and the recent history for a chart.
type Anomaly struct {
	Check    string
	Severity string
	Unit     string
	Labels   map[string]string // the series' labels plus the check's labels
	T        time.Time
	Value    float64
	Score    float64
	Expected float64
	Lower    float64
	Upper    float64
	Since    time.Time // start of the anomalous span
	Models   []string
	History  []Scored // the recent points, oldest first, for charts and rule windows
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
	Since  time.Time // when the anomalous span had started
	Stale  bool
}
