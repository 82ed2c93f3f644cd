package alertmanager

import (
	"bytes"
	"errors"
	"reflect"
	"strings"
	"testing"
)

// FuzzParse feeds arbitrary bodies to Parse. Seeds live in testdata/fuzz/FuzzParse.
func FuzzParse(f *testing.F) {
	f.Add([]byte(valid))
	f.Add(readTestdata(f, "firing.json"))
	f.Add(readTestdata(f, "resolved.json"))
	f.Fuzz(func(t *testing.T, body []byte) {
		m, err := Parse(bytes.NewReader(body), 1<<16)
		if err != nil {
			var pe *PayloadError
			if !errors.As(err, &pe) && !errors.Is(err, ErrTooLarge) {
				t.Fatalf("error %v (%T) is neither a PayloadError nor ErrTooLarge", err, err)
			}
			return
		}
		if m.Version != SupportedVersion || m.GroupKey == "" || len(m.Alerts) == 0 {
			t.Fatalf("accepted message breaks its invariants: %+v", m)
		}
		for i, a := range m.Alerts {
			if a.Labels["alertname"] == "" || a.Fingerprint == "" || a.StartsAt.IsZero() ||
				(a.Status != StatusFiring && a.Status != StatusResolved) {
				t.Fatalf("accepted alert %d breaks its invariants: %+v", i, a)
			}
			if k := m.AlertKey(&m.Alerts[i]); !strings.HasPrefix(k, m.Key()+"/") {
				t.Fatalf("AlertKey %q does not extend Key %q", k, m.Key())
			}
		}
	})
}

// FuzzParseMatchers feeds arbitrary chat text to ParseMatchers. Seeds live in
// testdata/fuzz/FuzzParseMatchers.
func FuzzParseMatchers(f *testing.F) {
	for _, s := range []string{
		`alertname="HostHighCpu",instance=~"web-.*"`,
		`{severity!="info", job!~"test.*"}`,
		`a=b,`, `{}`, `a="\"x\""`, `a=~"("`, `service=web asg=web-asg`, `service= asg=web`,
	} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		ms, err := ParseMatchers(s)
		if err != nil {
			if !strings.HasPrefix(err.Error(), "matchers: ") {
				t.Fatalf("error %q lacks context", err)
			}
			return
		}
		parts := make([]string, len(ms))
		for i, m := range ms {
			if err := m.Validate(); err != nil {
				t.Fatalf("accepted an invalid matcher: %v", err)
			}
			parts[i] = m.String()
		}
		rendered := strings.Join(parts, ",")
		if len(rendered) > maxMatcherInput {
			// Quoting can lengthen a value (a bare `\` renders as "\\"), and ParseMatchers
			// reads at most maxMatcherInput bytes.
			return
		}
		again, err := ParseMatchers(rendered)
		if err != nil || !reflect.DeepEqual(again, ms) {
			t.Fatalf("round trip of %q: %+v, %v; want %+v", s, again, err, ms)
		}
	})
}
