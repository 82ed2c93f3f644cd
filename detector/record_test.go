package detector

import (
	"errors"
	"maps"
	"math"
	"reflect"
	"testing"
	"time"
)

// TestRecordRoundTrip: a series' state reads back as written, in fewer bytes than the JSON of
// earlier releases took.
func TestRecordRoundTrip(t *testing.T) {
	model := make([]byte, 2000)
	for i := range model {
		model[i] = byte(i * 7)
	}
	at := time.Date(2026, 11, 1, 1, 2, 3, 456_789_000, time.UTC)
	tests := []struct {
		name   string
		labels map[string]string
		lastT  time.Time
		ep     *Episode
	}{
		{"plain", map[string]string{"instance": "web-1:9100", "job": "node"}, at, nil},
		{"no labels, no time", map[string]string{}, time.Time{}, nil},
		{"open episode", map[string]string{"host": "a"}, at, &Episode{Since: at.Add(-time.Minute), Expected: 40, Lower: 30, Upper: 50,
			Peak: 0.9, PeakValue: 97, Models: []string{"level"}, Normals: 1}},
		{"ended episode", map[string]string{"host": "a"}, at, &Episode{Ended: &Ended{Expected: 40, Lower: 30, Upper: 50, Side: 1, Until: at.Add(time.Hour)}}},
		{"before 1970", map[string]string{"host": "a"}, time.Date(1969, 12, 31, 23, 59, 59, 5, time.UTC), nil},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			b := encodeSaved(tc.labels, tc.lastT, tc.ep, model)
			s, err := decodeSaved(b)
			if err != nil {
				t.Fatal(err)
			}
			if !maps.Equal(s.Labels, tc.labels) || s.Labels == nil || !s.LastT.Equal(tc.lastT) || !reflect.DeepEqual(s.Episode, tc.ep) || string(s.Model) != string(model) {
				t.Fatalf("read back %+v", s)
			}
			if len(b) > len(model)+200 {
				t.Fatalf("%d bytes for a model of %d", len(b), len(model))
			}
		})
	}
	// JSON cannot hold an infinite band; the record keeps it at the largest finite value.
	s, err := decodeSaved(encodeSaved(nil, at, &Episode{Since: at, Lower: math.Inf(-1), Upper: math.Inf(1)}, model))
	if err != nil || s.Episode == nil || s.Episode.Lower != -math.MaxFloat64 || s.Episode.Upper != math.MaxFloat64 || !s.Episode.Since.Equal(at) {
		t.Fatalf("an episode with an infinite band read back as %+v, %v", s.Episode, err)
	}
}

// TestRecordRefusesWhatItCannotRead: truncated records, unknown versions and JSON without labels
// are errors, never a series with made-up state.
func TestRecordRefusesWhatItCannotRead(t *testing.T) {
	good := encodeSaved(map[string]string{"host": "a"}, time.Unix(100, 0), &Episode{Since: time.Unix(50, 0)}, []byte("model"))
	for n := len(recordMagic); n < len(good)-len("model"); n++ {
		if _, err := decodeSaved(good[:n]); err == nil {
			t.Fatalf("a record cut at %d of %d bytes was read", n, len(good))
		}
	}
	newer := append([]byte(recordMagic), recordVersion+1)
	if _, err := decodeSaved(append(newer, good[len(recordMagic)+1:]...)); !errors.Is(err, errRecordVersion) {
		t.Fatalf("a record of a newer version: %v", err)
	}
	for _, bad := range []string{"", "{", `{"model":"AA=="}`, "not json"} {
		if _, err := decodeSaved([]byte(bad)); err == nil {
			t.Fatalf("%q was read", bad)
		}
	}
}

func FuzzDecodeSaved(f *testing.F) {
	f.Add(encodeSaved(map[string]string{"host": "a"}, time.Unix(100, 5), &Episode{Since: time.Unix(50, 0), Models: []string{"x"}}, []byte("model")))
	f.Add(encodeSaved(nil, time.Time{}, nil, nil))
	f.Add([]byte(`{"labels":{"host":"a"},"last_t":"2026-11-01T01:41:00Z","since":"2026-11-01T01:40:00Z","model":"eyJuIjoxMDJ9"}`))
	f.Fuzz(func(t *testing.T, b []byte) {
		s, err := decodeSaved(b)
		if err != nil {
			return
		}
		if s.Labels == nil {
			t.Fatal("a record read without labels")
		}
		// What was read writes back and reads again the same.
		again, err := decodeSaved(encodeSaved(s.Labels, s.LastT, s.Episode, s.Model))
		if err != nil || !maps.Equal(again.Labels, s.Labels) || !again.LastT.Equal(s.LastT) || string(again.Model) != string(s.Model) {
			t.Fatalf("rewritten: %+v, %v; was %+v", again, err, s)
		}
	})
}
