package detector

import (
	"bytes"
	"encoding/binary"
	"encoding/json"
	"errors"
	"fmt"
	"math"
	"slices"
	"time"
)

// A series' state is stored as one record under detector/state/<check>/<fingerprint>. Records
// are binary since state format version 1:
//
//	"SCD" 0x01                       magic and version
//	uvarint n, then n × (key, value)   the labels, sorted by key; each string a uvarint length
//	                                   and its bytes
//	byte flags                         1: the latest point's time follows, 2: the episode follows
//	varint seconds, uvarint nanos      the latest point's time (Unix), when flagged
//	uvarint length, JSON               the episode (open, or ended and still remembered), when
//	                                   flagged
//	the rest                           the model's own bytes (Model.MarshalBinary)
//
// The model's bytes go in as they are, where the JSON records of earlier releases carried them
// in base64, a third more. Those JSON records are still read; the next save of each series
// rewrites it in the binary format.
const (
	recordMagic   = "SCD"
	recordVersion = 1

	recordHasLastT   = 1
	recordHasEpisode = 2
)

// errRecordVersion means a record was written by a newer release.
var errRecordVersion = errors.New("state record version unknown to this release")

// savedSeries is a series' state as stored.
type savedSeries struct {
	Labels map[string]string `json:"labels"`
	LastT  time.Time         `json:"last_t"`
	// Since is the start of the open episode, in JSON records written before Episode was kept.
	Since   time.Time `json:"since,omitzero"`
	Episode *Episode  `json:"episode,omitempty"`
	Model   []byte    `json:"model"`
}

// encodeSaved is the record of a series' state.
func encodeSaved(labels map[string]string, lastT time.Time, ep *Episode, model []byte) []byte {
	keys := make([]string, 0, len(labels))
	size := len(recordMagic) + 1 + binary.MaxVarintLen64 + 1 + 2*binary.MaxVarintLen64 + len(model)
	for k, v := range labels {
		keys = append(keys, k)
		size += len(k) + len(v) + 2*binary.MaxVarintLen32
	}
	slices.Sort(keys)
	var epJSON []byte
	if ep != nil {
		epJSON, _ = json.Marshal(finiteEpisode(*ep)) // finite numbers always marshal
		size += binary.MaxVarintLen64 + len(epJSON)
	}
	b := make([]byte, 0, size)
	b = append(b, recordMagic...)
	b = append(b, recordVersion)
	b = binary.AppendUvarint(b, uint64(len(keys)))
	for _, k := range keys {
		b = appendString(b, k)
		b = appendString(b, labels[k])
	}
	var flags byte
	if !lastT.IsZero() {
		flags |= recordHasLastT
	}
	if epJSON != nil {
		flags |= recordHasEpisode
	}
	b = append(b, flags)
	if !lastT.IsZero() {
		b = binary.AppendVarint(b, lastT.Unix())
		b = binary.AppendUvarint(b, uint64(lastT.Nanosecond()))
	}
	if epJSON != nil {
		b = appendString(b, string(epJSON))
	}
	return append(b, model...)
}

func appendString(b []byte, s string) []byte {
	return append(binary.AppendUvarint(b, uint64(len(s))), s...)
}

// finiteEpisode is ep with infinite bounds at the largest finite ones, which JSON can hold.
func finiteEpisode(ep Episode) Episode {
	for _, f := range []*float64{&ep.Expected, &ep.Lower, &ep.Upper, &ep.Peak, &ep.PeakValue} {
		*f = finite(*f)
	}
	if ep.Ended != nil {
		e := *ep.Ended
		e.Expected, e.Lower, e.Upper = finite(e.Expected), finite(e.Lower), finite(e.Upper)
		ep.Ended = &e
	}
	return ep
}

func finite(v float64) float64 {
	switch {
	case math.IsInf(v, 1):
		return math.MaxFloat64
	case math.IsInf(v, -1):
		return -math.MaxFloat64
	case math.IsNaN(v):
		return 0
	}
	return v
}

// decodeSaved reads a record in the binary format or in the JSON of earlier releases. The
// returned Model aliases b.
func decodeSaved(b []byte) (savedSeries, error) {
	var s savedSeries
	if !bytes.HasPrefix(b, []byte(recordMagic)) {
		if err := json.Unmarshal(b, &s); err != nil {
			return s, err
		}
		if s.Labels == nil {
			return s, errors.New("no labels")
		}
		return s, nil
	}
	r := recordReader{b: b[len(recordMagic):]}
	if v := r.byte(); r.err == nil && v != recordVersion {
		return s, fmt.Errorf("%w: %d", errRecordVersion, v)
	}
	n := r.uvarint()
	if n > uint64(len(r.b)) { // every label takes at least two bytes
		return s, errors.New("truncated record")
	}
	s.Labels = make(map[string]string, n)
	for range n {
		k := r.string()
		s.Labels[k] = r.string()
	}
	flags := r.byte()
	if flags&recordHasLastT != 0 {
		sec, nsec := r.varint(), r.uvarint()
		if nsec >= 1e9 {
			return s, errors.New("bad time in record")
		}
		s.LastT = time.Unix(sec, int64(nsec)).UTC()
	}
	if flags&recordHasEpisode != 0 {
		if ep := r.string(); r.err == nil {
			s.Episode = &Episode{}
			if err := json.Unmarshal([]byte(ep), s.Episode); err != nil {
				return s, fmt.Errorf("episode: %w", err)
			}
		}
	}
	if r.err != nil {
		return s, r.err
	}
	s.Model = r.b
	return s, nil
}

// recordReader reads a binary record; its first error sticks.
type recordReader struct {
	b   []byte
	err error
}

func (r *recordReader) fail() {
	if r.err == nil {
		r.err = errors.New("truncated record")
	}
	r.b = nil
}

func (r *recordReader) byte() byte {
	if len(r.b) == 0 {
		r.fail()
		return 0
	}
	v := r.b[0]
	r.b = r.b[1:]
	return v
}

func (r *recordReader) uvarint() uint64 {
	v, n := binary.Uvarint(r.b)
	if n <= 0 {
		r.fail()
		return 0
	}
	r.b = r.b[n:]
	return v
}

func (r *recordReader) varint() int64 {
	v, n := binary.Varint(r.b)
	if n <= 0 {
		r.fail()
		return 0
	}
	r.b = r.b[n:]
	return v
}

func (r *recordReader) string() string {
	n := r.uvarint()
	if n > uint64(len(r.b)) {
		r.fail()
		return ""
	}
	s := string(r.b[:n])
	r.b = r.b[n:]
	return s
}

// episode is the stored episode: the whole of it, or, for JSON records written before it was
// kept, one open since Since with an unknown band (any value counts as back inside it).
func (s savedSeries) episode() Episode {
	switch {
	case s.Episode != nil:
		return *s.Episode
	case s.Since.IsZero():
		return Episode{}
	}
	return Episode{Since: s.Since, Lower: -math.MaxFloat64, Upper: math.MaxFloat64}
}
