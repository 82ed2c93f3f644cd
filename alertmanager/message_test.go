package alertmanager

import (
	"bytes"
	"errors"
	"io"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"testing/iotest"
	"time"
)

func readTestdata(t testing.TB, name string) []byte {
	t.Helper()
	b, err := os.ReadFile(filepath.Join("testdata", name))
	if err != nil {
		t.Fatal(err)
	}
	return b
}

func TestParseFiring(t *testing.T) {
	m, err := Parse(bytes.NewReader(readTestdata(t, "firing.json")), 1<<20)
	if err != nil {
		t.Fatalf("Parse: %v", err)
	}
	if m.Version != "4" || m.Status != StatusFiring || m.Receiver != "smartcloudops" || m.ExternalURL != "http://alertmanager:9093" {
		t.Errorf("message header = %+v", m)
	}
	if m.GroupKey != `{}:{alertname="HostHighCpu"}` || m.GroupLabels["alertname"] != "HostHighCpu" || m.CommonLabels["job"] != "node" {
		t.Errorf("group fields = %q %v %v", m.GroupKey, m.GroupLabels, m.CommonLabels)
	}
	if len(m.Alerts) != 2 || m.Firing() != 2 {
		t.Fatalf("alerts = %d, firing %d", len(m.Alerts), m.Firing())
	}
	a := m.Alerts[0]
	if a.Name() != "HostHighCpu" || a.Labels["instance"] != "web-1:9100" || a.Annotations["summary"] != "CPU above 90% on web-1" {
		t.Errorf("alert 0 = %+v", a)
	}
	if !a.StartsAt.Equal(time.Date(2024, 5, 1, 12, 0, 0, 123e6, time.UTC)) || !a.EndsAt.IsZero() {
		t.Errorf("alert 0 times = %v, %v; want the start and a zero end", a.StartsAt, a.EndsAt)
	}
	if a.Fingerprint != "c3a1f2e4b5d6a7b8" {
		t.Errorf("sent fingerprint replaced: %q", a.Fingerprint)
	}
	b := m.Alerts[1]
	if b.Fingerprint != Fingerprint(b.Labels) || len(b.Fingerprint) != 16 {
		t.Errorf("missing fingerprint not computed: %q", b.Fingerprint)
	}
	if !b.EndsAt.Equal(time.Date(2024, 5, 1, 12, 10, 30, 0, time.UTC)) {
		t.Errorf("alert 1 end = %v", b.EndsAt)
	}
}

func TestParseResolved(t *testing.T) {
	m, err := Parse(bytes.NewReader(readTestdata(t, "resolved.json")), 1<<20)
	if err != nil {
		t.Fatalf("Parse: %v", err)
	}
	if m.Status != StatusResolved || m.Firing() != 0 || m.TruncatedAlerts != 2 || m.Alerts[0].EndsAt.IsZero() {
		t.Errorf("resolved message = %+v", m)
	}
}

// valid is a minimal valid payload that the error cases change one thing in.
const valid = `{"version":"4","groupKey":"g","status":"firing","alerts":[{"status":"firing","labels":{"alertname":"A"},"startsAt":"2024-05-01T12:00:00Z"}]}`

func TestParseErrors(t *testing.T) {
	tests := []struct {
		name  string
		body  string
		field string
		want  string
	}{
		{"empty", "", "", "empty body"},
		{"whitespace", "  \n", "", "empty body"},
		{"truncated", valid[:40], "", "byte 40"},
		{"syntax", `{"version":"4",}`, "", "byte 16: invalid JSON"},
		{"trailing data", valid + `{}`, "", "invalid JSON"},
		{"array", `[]`, "(top level)", "got JSON array"},
		{"wrong type", strings.Replace(valid, `"groupKey":"g"`, `"groupKey":7`, 1), "groupKey", "got JSON number, want string"},
		{"labels wrong type", strings.Replace(valid, `{"alertname":"A"}`, `["A"]`, 1), "alerts.labels", "got JSON array"},
		{"label value not string", strings.Replace(valid, `{"alertname":"A"}`, `{"alertname":1}`, 1), "alerts.labels", "got JSON number, want string"},
		{"no version", strings.Replace(valid, `"version":"4",`, ``, 1), "version", `unsupported version ""`},
		{"old version", strings.Replace(valid, `"version":"4"`, `"version":"3"`, 1), "version", `unsupported version "3", want "4"`},
		{"no group key", strings.Replace(valid, `"groupKey":"g"`, `"groupKey":""`, 1), "groupKey", "missing"},
		{"huge group key", strings.Replace(valid, `"groupKey":"g"`, `"groupKey":"`+strings.Repeat("g", 40000)+`"`, 1), "groupKey", "40000 bytes, at most 8192"},
		{"bad status", strings.Replace(valid, `"status":"firing","alerts"`, `"status":"burning","alerts"`, 1), "status", `"burning" is not`},
		{"negative truncated", strings.Replace(valid, `"groupKey":"g"`, `"groupKey":"g","truncatedAlerts":-1`, 1), "truncatedAlerts", "negative"},
		{"no alerts", strings.Replace(valid, valid[strings.Index(valid, `[`):len(valid)-1], `[]`, 1), "alerts", "no alerts"},
		{"alert bad status", strings.Replace(valid, `[{"status":"firing"`, `[{"status":"pending"`, 1), "alerts[0].status", `"pending" is not`},
		{"alert no labels", strings.Replace(valid, `"labels":{"alertname":"A"}`, `"labels":{}`, 1), "alerts[0].labels", "missing"},
		{"alert no alertname", strings.Replace(valid, `{"alertname":"A"}`, `{"job":"x"}`, 1), "alerts[0].labels", "alertname is missing"},
		{"alert empty label name", strings.Replace(valid, `{"alertname":"A"}`, `{"alertname":"A","":"x"}`, 1), "alerts[0].labels", "empty label name"},
		{"alert no start", strings.Replace(valid, `,"startsAt":"2024-05-01T12:00:00Z"`, ``, 1), "alerts[0].startsAt", "missing"},
		{"alert bad start", strings.Replace(valid, `2024-05-01T12:00:00Z`, `yesterday`, 1), "alerts[0].startsAt", `bad time "yesterday"`},
		{"alert bad end", strings.Replace(valid, `"startsAt"`, `"endsAt":"2024-13-01T00:00:00Z","startsAt"`, 1), "alerts[0].endsAt", "bad time"},
		{"start not a string", strings.Replace(valid, `"2024-05-01T12:00:00Z"`, `20240501`, 1), "alerts[0].startsAt", "bad time 20240501"},
		{"start null", strings.Replace(valid, `"2024-05-01T12:00:00Z"`, `null`, 1), "alerts[0].startsAt", "missing"},
		{"start object", strings.Replace(valid, `"2024-05-01T12:00:00Z"`, `{"t":1}`, 1), "alerts[0].startsAt", "bad time"},
		{"end before start", strings.Replace(valid, `"startsAt"`, `"endsAt":"2024-04-01T00:00:00Z","startsAt"`, 1), "alerts[0].endsAt", "before startsAt"},
		{"resolved without end", strings.Replace(valid, `[{"status":"firing"`, `[{"status":"resolved"`, 1), "alerts[0].endsAt", "missing on a resolved alert"},
		{"second alert bad", strings.Replace(valid, `}]}`, `},{"status":"firing","labels":{"alertname":"B"}}]}`, 1), "alerts[1].startsAt", "missing"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			m, err := Parse(strings.NewReader(tt.body), 1<<20)
			if err == nil {
				t.Fatalf("Parse accepted %s: %+v", tt.body, m)
			}
			var pe *PayloadError
			if !errors.As(err, &pe) {
				t.Fatalf("error %v (%T) is not a *PayloadError", err, err)
			}
			if pe.Field != tt.field {
				t.Errorf("Field = %q, want %q (%v)", pe.Field, tt.field, err)
			}
			if !strings.Contains(err.Error(), tt.want) {
				t.Errorf("error %q does not contain %q", err, tt.want)
			}
		})
	}
}

func TestParseTimeForms(t *testing.T) {
	escaped := strings.Replace(valid, `"2024-05-01T12:00:00Z"`, `"2024-05-01T12:00:00\u005a"`, 1)
	withOffset := strings.Replace(valid, `"2024-05-01T12:00:00Z"`, `"2024-05-01T14:00:00.5+02:00"`, 1)
	emptyEnd := strings.Replace(valid, `"startsAt"`, `"endsAt":"","startsAt"`, 1)
	for name, body := range map[string]string{"escaped": escaped, "offset": withOffset, "empty end": emptyEnd} {
		m, err := Parse(strings.NewReader(body), 1<<20)
		if err != nil {
			t.Fatalf("%s: %v", name, err)
		}
		want := time.Date(2024, 5, 1, 12, 0, 0, 0, time.UTC)
		if name == "offset" {
			want = want.Add(500 * time.Millisecond)
		}
		if !m.Alerts[0].StartsAt.Equal(want) || !m.Alerts[0].EndsAt.IsZero() {
			t.Errorf("%s: times %v, %v", name, m.Alerts[0].StartsAt, m.Alerts[0].EndsAt)
		}
	}
}

func TestParseLimits(t *testing.T) {
	if _, err := Parse(strings.NewReader(valid), int64(len(valid))); err != nil {
		t.Errorf("body of exactly the limit refused: %v", err)
	}
	if _, err := Parse(strings.NewReader(valid), int64(len(valid)-1)); !errors.Is(err, ErrTooLarge) {
		t.Errorf("body over the limit: %v, want ErrTooLarge", err)
	}
	if _, err := Parse(strings.NewReader(valid), 0); err == nil {
		t.Error("zero limit accepted")
	}
	readErr := errors.New("connection reset")
	_, err := Parse(iotest.ErrReader(readErr), 100)
	if !errors.Is(err, readErr) {
		t.Errorf("read error = %v, want it wrapped", err)
	}
	var pe *PayloadError
	if errors.As(err, &pe) {
		t.Error("a read error must not look like a bad payload")
	}
	// A half-read body still fails cleanly.
	_, err = Parse(io.MultiReader(strings.NewReader(valid[:10]), iotest.ErrReader(readErr)), 100)
	if !errors.Is(err, readErr) {
		t.Errorf("partial read error = %v", err)
	}
}

func TestKeys(t *testing.T) {
	m, err := Parse(bytes.NewReader(readTestdata(t, "firing.json")), 1<<20)
	if err != nil {
		t.Fatal(err)
	}
	again, _ := Parse(bytes.NewReader(readTestdata(t, "firing.json")), 1<<20)
	if m.Key() != again.Key() || !strings.HasPrefix(m.Key(), "am:") || len(m.Key()) != 3+32 {
		t.Errorf("Key() = %q, %q; want equal am:<32 hex>", m.Key(), again.Key())
	}
	other := *m
	other.GroupKey = "other"
	if other.Key() == m.Key() {
		t.Error("different groups share a key")
	}
	k0, k1 := m.AlertKey(&m.Alerts[0]), m.AlertKey(&m.Alerts[1])
	if k0 == k1 || k0 != m.Key()+"/c3a1f2e4b5d6a7b8" {
		t.Errorf("AlertKey = %q, %q", k0, k1)
	}
	// Without a fingerprint the key is computed from the labels, as after Parse.
	a := m.Alerts[1]
	fp := a.Fingerprint
	a.Fingerprint = ""
	if m.AlertKey(&a) != m.Key()+"/"+fp {
		t.Errorf("AlertKey without fingerprint = %q", m.AlertKey(&a))
	}
}

func TestFingerprintMatchesAlertmanager(t *testing.T) {
	// The empty label set hashes to the FNV-64a offset basis; label order does not matter. The
	// integration test compares Fingerprint with what a real Alertmanager sends.
	tests := []struct {
		labels map[string]string
		want   string
	}{
		{map[string]string{}, "cbf29ce484222325"},
		{map[string]string{"b": "2", "a": "1"}, Fingerprint(map[string]string{"a": "1", "b": "2"})},
	}
	for _, tt := range tests {
		if got := Fingerprint(tt.labels); got != tt.want {
			t.Errorf("Fingerprint(%v) = %q, want %q", tt.labels, got, tt.want)
		}
	}
	if Fingerprint(map[string]string{"a": "1"}) == Fingerprint(map[string]string{"a": "2"}) {
		t.Error("different labels share a fingerprint")
	}
}
