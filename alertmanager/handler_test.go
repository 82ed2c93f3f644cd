package alertmanager

import (
	"context"
	"encoding/json"
	"errors"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"testing"

	"github.com/prometheus/client_golang/prometheus"
)

type recorder struct {
	mu   sync.Mutex
	msgs []*Message
	err  error
}

func (r *recorder) deliver(_ context.Context, m *Message) error {
	r.mu.Lock()
	defer r.mu.Unlock()
	if r.err != nil {
		return r.err
	}
	r.msgs = append(r.msgs, m)
	return nil
}

func (r *recorder) count() int {
	r.mu.Lock()
	defer r.mu.Unlock()
	return len(r.msgs)
}

func newTestHandler(t *testing.T, o HandlerOptions) (*Handler, *recorder, *prometheus.Registry) {
	t.Helper()
	rec := &recorder{}
	reg := prometheus.NewRegistry()
	if o.Deliver == nil {
		o.Deliver = rec.deliver
	}
	o.Logger = slog.New(slog.DiscardHandler)
	o.Registerer = reg
	h, err := NewHandler(o)
	if err != nil {
		t.Fatal(err)
	}
	return h, rec, reg
}

func TestHandler(t *testing.T) {
	firing := string(readTestdata(t, "firing.json"))
	tests := []struct {
		name       string
		method     string
		body       string
		auth       string
		deliverErr error
		wantCode   int
		wantErr    string // error code in the JSON body
		delivered  int
		outcome    string
	}{
		{name: "ok", method: "POST", body: firing, auth: "Bearer tok", wantCode: 200, delivered: 1, outcome: OutcomeDelivered},
		{name: "lower-case scheme", method: "POST", body: firing, auth: "bearer tok", wantCode: 200, delivered: 1, outcome: OutcomeDelivered},
		{name: "GET", method: "GET", auth: "Bearer tok", wantCode: 405, wantErr: "method_not_allowed", outcome: OutcomeMethodNotAllowed},
		{name: "PUT", method: "PUT", body: firing, auth: "Bearer tok", wantCode: 405, wantErr: "method_not_allowed", outcome: OutcomeMethodNotAllowed},
		{name: "no token", method: "POST", body: firing, wantCode: 401, wantErr: "unauthorized", outcome: OutcomeUnauthorized},
		{name: "wrong token", method: "POST", body: firing, auth: "Bearer toK", wantCode: 401, wantErr: "unauthorized", outcome: OutcomeUnauthorized},
		{name: "token prefix", method: "POST", body: firing, auth: "Bearer to", wantCode: 401, wantErr: "unauthorized", outcome: OutcomeUnauthorized},
		{name: "basic scheme", method: "POST", body: firing, auth: "Basic tok", wantCode: 401, wantErr: "unauthorized", outcome: OutcomeUnauthorized},
		{name: "bad payload", method: "POST", body: `{"version":"3"}`, auth: "Bearer tok", wantCode: 400, wantErr: "bad_payload", outcome: OutcomeBadPayload},
		{name: "too large", method: "POST", body: firing + strings.Repeat(" ", 4096), auth: "Bearer tok", wantCode: 413, wantErr: "too_large", outcome: OutcomeTooLarge},
		{name: "deliver fails", method: "POST", body: firing, auth: "Bearer tok", deliverErr: errors.New("store down"), wantCode: 500, wantErr: "deliver_failed", outcome: OutcomeDeliverError},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			h, rec, reg := newTestHandler(t, HandlerOptions{BearerToken: "tok", MaxBodyBytes: int64(len(firing) + 100)})
			rec.err = tt.deliverErr
			srv := httptest.NewServer(h)
			defer srv.Close()
			req, err := http.NewRequest(tt.method, srv.URL, strings.NewReader(tt.body))
			if err != nil {
				t.Fatal(err)
			}
			if tt.auth != "" {
				req.Header.Set("Authorization", tt.auth)
			}
			resp, err := srv.Client().Do(req)
			if err != nil {
				t.Fatal(err)
			}
			defer resp.Body.Close()
			body, _ := io.ReadAll(resp.Body)
			if resp.StatusCode != tt.wantCode {
				t.Fatalf("status = %d (%s), want %d", resp.StatusCode, body, tt.wantCode)
			}
			if tt.wantErr != "" {
				var eb errorBody
				if err := json.Unmarshal(body, &eb); err != nil || eb.Error.Code != tt.wantErr || eb.Error.Message == "" {
					t.Errorf("error body %s, want code %q and a message (%v)", body, tt.wantErr, err)
				}
				if strings.Contains(string(body), "store down") {
					t.Error("error body leaks the delivery error")
				}
			}
			if got := rec.count(); got != tt.delivered {
				t.Errorf("delivered %d messages, want %d", got, tt.delivered)
			}
			if got := counterValue(t, reg, "smartcloudops_alertmanager_notifications_total", "outcome", tt.outcome); got != 1 {
				t.Errorf("notifications_total{outcome=%q} = %v, want 1", tt.outcome, got)
			}
		})
	}
}

// counterValue reads one labelled counter from what reg gathers, so the test also checks that
// the handler registered it.
func counterValue(t *testing.T, reg *prometheus.Registry, name, label, value string) float64 {
	t.Helper()
	mfs, err := reg.Gather()
	if err != nil {
		t.Fatal(err)
	}
	for _, mf := range mfs {
		if mf.GetName() != name {
			continue
		}
		for _, m := range mf.GetMetric() {
			for _, l := range m.GetLabel() {
				if l.GetName() == label && l.GetValue() == value {
					return m.GetCounter().GetValue()
				}
			}
		}
	}
	t.Fatalf("metric %s{%s=%q} not registered", name, label, value)
	return 0
}

func TestHandlerBadPayloadMessage(t *testing.T) {
	h, rec, reg := newTestHandler(t, HandlerOptions{})
	w := httptest.NewRecorder()
	h.ServeHTTP(w, httptest.NewRequest("POST", "/", strings.NewReader(`{"version":"4","groupKey":"g","status":"firing","alerts":[{"status":"firing","labels":{"job":"x"},"startsAt":"2024-05-01T12:00:00Z"}]}`)))
	if w.Code != 400 {
		t.Fatalf("status = %d", w.Code)
	}
	var eb errorBody
	if err := json.Unmarshal(w.Body.Bytes(), &eb); err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(eb.Error.Message, "alerts[0].labels: alertname is missing") {
		t.Errorf("message %q does not say what and where", eb.Error.Message)
	}
	if rec.count() != 0 {
		t.Error("an invalid payload was delivered")
	}
	if got := counterValue(t, reg, "smartcloudops_alertmanager_alerts_received_total", "status", "firing"); got != 0 {
		t.Errorf("alerts counted for a rejected payload: %v", got)
	}
}

func TestHandlerCountsAlertsAndPassesContext(t *testing.T) {
	type ctxKey struct{}
	var got context.Context
	h, _, reg := newTestHandler(t, HandlerOptions{Deliver: func(ctx context.Context, m *Message) error {
		got = ctx
		return nil
	}})
	for _, f := range []string{"firing.json", "resolved.json"} {
		req := httptest.NewRequest("POST", "/", strings.NewReader(string(readTestdata(t, f))))
		req = req.WithContext(context.WithValue(req.Context(), ctxKey{}, "corr-1"))
		w := httptest.NewRecorder()
		h.ServeHTTP(w, req)
		if w.Code != 200 || !strings.Contains(w.Body.String(), `"ok"`) {
			t.Fatalf("%s: %d %s", f, w.Code, w.Body)
		}
	}
	if got == nil || got.Value(ctxKey{}) != "corr-1" {
		t.Error("Deliver did not get the request's context")
	}
	if v := counterValue(t, reg, "smartcloudops_alertmanager_alerts_received_total", "status", "firing"); v != 2 {
		t.Errorf("firing alerts counted = %v, want 2", v)
	}
	if v := counterValue(t, reg, "smartcloudops_alertmanager_alerts_received_total", "status", "resolved"); v != 1 {
		t.Errorf("resolved alerts counted = %v, want 1", v)
	}
}

func TestHandlerContentLengthOverLimit(t *testing.T) {
	h, rec, _ := newTestHandler(t, HandlerOptions{MaxBodyBytes: 10})
	w := httptest.NewRecorder()
	h.ServeHTTP(w, httptest.NewRequest("POST", "/", strings.NewReader(valid)))
	if w.Code != 413 || rec.count() != 0 {
		t.Fatalf("status %d, delivered %d", w.Code, rec.count())
	}
}

func TestNewHandlerValidation(t *testing.T) {
	_, err := NewHandler(HandlerOptions{})
	if err == nil || !strings.Contains(err.Error(), "Deliver, Logger, Registerer required") {
		t.Errorf("error = %v", err)
	}
	reg := prometheus.NewRegistry()
	o := HandlerOptions{Deliver: (&recorder{}).deliver, Logger: slog.New(slog.DiscardHandler), Registerer: reg}
	if _, err := NewHandler(o); err != nil {
		t.Fatal(err)
	}
	if _, err := NewHandler(o); err == nil || !strings.Contains(err.Error(), "register metrics") {
		t.Errorf("second handler on one registry: %v, want a registration error", err)
	}
	o.Registerer = prometheus.NewRegistry()
	o.MaxBodyBytes = -1
	if _, err := NewHandler(o); err == nil {
		t.Error("negative MaxBodyBytes accepted")
	}
}

func TestHandlerMaxInFlight(t *testing.T) {
	release := make(chan struct{})
	entered := make(chan struct{}, 4)
	h, _, reg := newTestHandler(t, HandlerOptions{MaxInFlight: 1, Deliver: func(ctx context.Context, m *Message) error {
		entered <- struct{}{}
		<-release
		return nil
	}})
	body := string(readTestdata(t, "firing.json"))
	done := make(chan int, 1)
	go func() {
		w := httptest.NewRecorder()
		h.ServeHTTP(w, httptest.NewRequest("POST", "/", strings.NewReader(body)))
		done <- w.Code
	}()
	<-entered
	// The only slot is taken: a second request waits until its context ends and gets 503.
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	w := httptest.NewRecorder()
	h.ServeHTTP(w, httptest.NewRequest("POST", "/", strings.NewReader(body)).WithContext(ctx))
	if w.Code != http.StatusServiceUnavailable {
		t.Errorf("second request = %d, want 503", w.Code)
	}
	close(release)
	if code := <-done; code != 200 {
		t.Errorf("first request = %d", code)
	}
	if v := counterValue(t, reg, "smartcloudops_alertmanager_notifications_total", "outcome", OutcomeCanceled); v != 1 {
		t.Errorf("canceled = %v", v)
	}
	// The slot is free again.
	w = httptest.NewRecorder()
	go func() { <-entered }()
	h.ServeHTTP(w, httptest.NewRequest("POST", "/", strings.NewReader(body)))
	if w.Code != 200 {
		t.Errorf("third request = %d", w.Code)
	}
}

// unreadBody fails the test if the handler reads it.
type unreadBody struct{ t *testing.T }

func (b unreadBody) Read([]byte) (int, error) {
	b.t.Error("the body of a request answered busy was read")
	return 0, io.EOF
}

// TestBusyIsAnsweredBeforeTheBody: while the intake is at its high-water mark, a notification is
// answered 503 with Retry-After without reading or parsing its body, and nothing is delivered.
func TestBusyIsAnsweredBeforeTheBody(t *testing.T) {
	h, rec, _ := newTestHandler(t, HandlerOptions{Busy: func() bool { return true }})
	req := httptest.NewRequest("POST", "/api/v1/alertmanager", unreadBody{t})
	w := httptest.NewRecorder()
	h.ServeHTTP(w, req)
	if w.Code != http.StatusServiceUnavailable || w.Header().Get("Retry-After") == "" || !strings.Contains(w.Body.String(), `"busy"`) {
		t.Fatalf("busy intake answered %d %q (Retry-After %q)", w.Code, w.Body.String(), w.Header().Get("Retry-After"))
	}
	if rec.count() != 0 {
		t.Fatal("a notification was delivered to a busy intake")
	}
}
