package alertmanager

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"time"
)

// MaxGroupKeyBytes bounds the groupKey Parse accepts. Alertmanager's keys are the route and the
// group's label values, far shorter; the incident store keys incidents by it.
const MaxGroupKeyBytes = 8192

// SupportedVersion is the webhook payload version that Parse accepts.
const SupportedVersion = "4"

// Alert and group statuses in a webhook message.
const (
	StatusFiring   = "firing"
	StatusResolved = "resolved"
)

// Message is one Alertmanager webhook notification (payload version 4): a group of alerts that
// share a route and group labels.
type Message struct {
	Version  string `json:"version"`
	GroupKey string `json:"groupKey"`
	// TruncatedAlerts counts alerts Alertmanager left out because of the receiver's max_alerts.
	TruncatedAlerts   int               `json:"truncatedAlerts"`
	Status            string            `json:"status"`
	Receiver          string            `json:"receiver"`
	GroupLabels       map[string]string `json:"groupLabels"`
	CommonLabels      map[string]string `json:"commonLabels"`
	CommonAnnotations map[string]string `json:"commonAnnotations"`
	ExternalURL       string            `json:"externalURL"`
	Alerts            []Alert           `json:"alerts"`
}

// Alert is one alert in a webhook message.
type Alert struct {
	Status      string            `json:"status"`
	Labels      map[string]string `json:"labels"`
	Annotations map[string]string `json:"annotations"`
	StartsAt    time.Time         `json:"startsAt"`
	// EndsAt is zero or in the future while the alert fires.
	EndsAt       time.Time `json:"endsAt"`
	GeneratorURL string    `json:"generatorURL"`
	// Fingerprint identifies the alert's label set. Parse fills it in, the way Alertmanager
	// computes it, when the sender left it out.
	Fingerprint string `json:"fingerprint"`
}

// Name returns the alert's alertname label.
func (a *Alert) Name() string { return a.Labels["alertname"] }

// Firing counts the firing alerts in m.
func (m *Message) Firing() int {
	n := 0
	for i := range m.Alerts {
		if m.Alerts[i].Status == StatusFiring {
			n++
		}
	}
	return n
}

// Parse reads one webhook message of at most maxBytes bytes from r and validates it. It returns
// ErrTooLarge when the body is longer, a *PayloadError naming the field or byte offset when the
// payload is invalid, and the reader's error when reading fails. maxBytes must be positive.
func Parse(r io.Reader, maxBytes int64) (*Message, error) {
	return parse(r, maxBytes, new(bytes.Buffer))
}

// parse is Parse reading into buf, which the Handler reuses between requests.
func parse(r io.Reader, maxBytes int64, buf *bytes.Buffer) (*Message, error) {
	if maxBytes <= 0 {
		return nil, fmt.Errorf("alertmanager: parse: maxBytes %d must be positive", maxBytes)
	}
	buf.Reset()
	n, err := buf.ReadFrom(io.LimitReader(r, maxBytes+1))
	if err != nil {
		var mbe *http.MaxBytesError
		if errors.As(err, &mbe) {
			return nil, ErrTooLarge
		}
		return nil, fmt.Errorf("alertmanager: read payload: %w", err)
	}
	if n > maxBytes {
		return nil, ErrTooLarge
	}
	return ParseBytes(buf.Bytes())
}

// ParseBytes validates one webhook message held in b; it is Parse without a reader or a limit.
func ParseBytes(b []byte) (*Message, error) {
	if len(bytes.TrimSpace(b)) == 0 {
		return nil, &PayloadError{Offset: -1, Reason: "empty body"}
	}
	var w wireMessage
	if err := json.Unmarshal(b, &w); err != nil {
		return nil, jsonError(err)
	}
	m := &Message{
		Version:           w.Version,
		GroupKey:          w.GroupKey,
		TruncatedAlerts:   w.TruncatedAlerts,
		Status:            w.Status,
		Receiver:          w.Receiver,
		GroupLabels:       w.GroupLabels,
		CommonLabels:      w.CommonLabels,
		CommonAnnotations: w.CommonAnnotations,
		ExternalURL:       w.ExternalURL,
	}
	if err := m.validate(len(w.Alerts)); err != nil {
		return nil, err
	}
	m.Alerts = make([]Alert, len(w.Alerts))
	for i := range w.Alerts {
		if err := w.Alerts[i].toAlert(i, &m.Alerts[i]); err != nil {
			return nil, err
		}
	}
	return m, nil
}

// wireMessage and wireAlert mirror the JSON; times stay text so a bad one can be reported
// with the alert it belongs to. Unknown fields are ignored so that a newer Alertmanager that
// adds fields is still understood.
type wireMessage struct {
	Version           string            `json:"version"`
	GroupKey          string            `json:"groupKey"`
	TruncatedAlerts   int               `json:"truncatedAlerts"`
	Status            string            `json:"status"`
	Receiver          string            `json:"receiver"`
	GroupLabels       map[string]string `json:"groupLabels"`
	CommonLabels      map[string]string `json:"commonLabels"`
	CommonAnnotations map[string]string `json:"commonAnnotations"`
	ExternalURL       string            `json:"externalURL"`
	Alerts            []wireAlert       `json:"alerts"`
}

type wireAlert struct {
	Status       string            `json:"status"`
	Labels       map[string]string `json:"labels"`
	Annotations  map[string]string `json:"annotations"`
	StartsAt     wireTime          `json:"startsAt"`
	EndsAt       wireTime          `json:"endsAt"`
	GeneratorURL string            `json:"generatorURL"`
	Fingerprint  string            `json:"fingerprint"`
}

func jsonError(err error) error {
	var syn *json.SyntaxError
	var typ *json.UnmarshalTypeError
	switch {
	case errors.As(err, &syn):
		return &PayloadError{Offset: syn.Offset, Reason: "invalid JSON: " + syn.Error()}
	case errors.As(err, &typ):
		field := typ.Field
		if field == "" {
			field = "(top level)"
		}
		return &PayloadError{Field: field, Offset: typ.Offset, Reason: fmt.Sprintf("got JSON %s, want %s", typ.Value, typ.Type)}
	default:
		return &PayloadError{Offset: -1, Reason: "invalid JSON: " + err.Error()}
	}
}

// validate checks m's own fields. It reports the first problem it finds, with its place.
func (m *Message) validate(alerts int) error {
	bad := func(field, format string, args ...any) error {
		return &PayloadError{Field: field, Offset: -1, Reason: fmt.Sprintf(format, args...)}
	}
	if m.Version != SupportedVersion {
		return bad("version", "unsupported version %q, want %q", m.Version, SupportedVersion)
	}
	if m.GroupKey == "" {
		return bad("groupKey", "missing")
	}
	if len(m.GroupKey) > MaxGroupKeyBytes {
		return bad("groupKey", "%d bytes, at most %d", len(m.GroupKey), MaxGroupKeyBytes)
	}
	if m.Status != StatusFiring && m.Status != StatusResolved {
		return bad("status", "%q is not %q or %q", m.Status, StatusFiring, StatusResolved)
	}
	if m.TruncatedAlerts < 0 {
		return bad("truncatedAlerts", "%d is negative", m.TruncatedAlerts)
	}
	if alerts == 0 {
		return bad("alerts", "no alerts")
	}
	return nil
}

// toAlert checks w, the i-th alert, and stores it in a, filling in a missing fingerprint.
func (w *wireAlert) toAlert(i int, a *Alert) error {
	bad := func(field, format string, args ...any) error {
		return &PayloadError{Field: fmt.Sprintf("alerts[%d].%s", i, field), Offset: -1, Reason: fmt.Sprintf(format, args...)}
	}
	if w.Status != StatusFiring && w.Status != StatusResolved {
		return bad("status", "%q is not %q or %q", w.Status, StatusFiring, StatusResolved)
	}
	if len(w.Labels) == 0 {
		return bad("labels", "missing")
	}
	if w.Labels["alertname"] == "" {
		return bad("labels", "alertname is missing")
	}
	for k := range w.Labels {
		if k == "" {
			return bad("labels", "empty label name")
		}
	}
	*a = Alert{
		Status:       w.Status,
		Labels:       w.Labels,
		Annotations:  w.Annotations,
		GeneratorURL: w.GeneratorURL,
		Fingerprint:  w.Fingerprint,
	}
	if w.StartsAt.bad {
		return bad("startsAt", "bad time %s: want RFC 3339 such as 2024-05-01T12:00:00Z", w.StartsAt.raw)
	}
	if w.EndsAt.bad {
		return bad("endsAt", "bad time %s: want RFC 3339 such as 2024-05-01T12:00:00Z", w.EndsAt.raw)
	}
	a.StartsAt, a.EndsAt = w.StartsAt.t, w.EndsAt.t
	if a.StartsAt.IsZero() {
		return bad("startsAt", "missing")
	}
	if a.Status == StatusResolved && a.EndsAt.IsZero() {
		return bad("endsAt", "missing on a resolved alert")
	}
	if !a.EndsAt.IsZero() && a.EndsAt.Before(a.StartsAt) {
		return bad("endsAt", "%s is before startsAt %s", a.EndsAt.Format(time.RFC3339), a.StartsAt.Format(time.RFC3339))
	}
	if a.Fingerprint == "" {
		a.Fingerprint = Fingerprint(a.Labels)
	}
	return nil
}

// wireTime decodes an RFC 3339 time without failing the whole document, so that a bad time is
// reported with the alert and field it belongs to. Null, empty text and Go's zero time
// ("0001-01-01T00:00:00Z", which Alertmanager sends for a firing alert without an end) are all
// the zero time.
type wireTime struct {
	t   time.Time
	bad bool
	raw string // the offending JSON text, shortened, when bad
}

func (w *wireTime) UnmarshalJSON(b []byte) error {
	*w = wireTime{}
	if string(b) == "null" {
		return nil
	}
	fail := func() error {
		w.bad, w.raw = true, truncate(string(b), 64)
		return nil
	}
	if len(b) < 2 || b[0] != '"' || b[len(b)-1] != '"' {
		return fail()
	}
	text := b[1 : len(b)-1]
	if bytes.IndexByte(text, '\\') >= 0 {
		// An escaped time is legal JSON; decode it the slow way.
		var s string
		if err := json.Unmarshal(b, &s); err != nil {
			return fail()
		}
		text = []byte(s)
	}
	if len(text) == 0 {
		return nil
	}
	t, err := time.Parse(time.RFC3339Nano, string(text))
	if err != nil {
		return fail()
	}
	if !t.IsZero() {
		w.t = t
	}
	return nil
}

// truncate keeps at most n bytes of s for an error message.
func truncate(s string, n int) string {
	if len(s) <= n {
		return s
	}
	return s[:n] + "..."
}
