package api

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus/testutil"

	"github.com/smartcloudops/smartcloudops/incident"
	"github.com/smartcloudops/smartcloudops/internal/obs"
	"github.com/smartcloudops/smartcloudops/remediation"
)

func TestRateLimit(t *testing.T) {
	f := newFixture(t, func(o *Options) { o.RateLimit, o.RateBurst = 2, 3 })
	for i := range 3 {
		if r := f.do(t, "GET", "/api/v1/rules", "viewer", ""); r.status != http.StatusOK {
			t.Fatalf("request %d within the burst: %d", i, r.status)
		}
	}
	r := f.do(t, "GET", "/api/v1/rules", "viewer", "")
	if r.status != http.StatusTooManyRequests || r.errorCode() != CodeRateLimited || r.header.Get("Retry-After") != "1" {
		t.Fatalf("over the burst: %d %q %s", r.status, r.header.Get("Retry-After"), r.body)
	}
	if r := f.do(t, "GET", "/api/v1/rules", "admin", ""); r.status != http.StatusOK {
		t.Fatalf("another key is limited too: %d", r.status)
	}
	f.clock.Add(500 * time.Millisecond) // one token at 2/s
	if r := f.do(t, "GET", "/api/v1/rules", "viewer", ""); r.status != http.StatusOK {
		t.Fatalf("after a refill: %d", r.status)
	}
	if r := f.do(t, "GET", "/api/v1/rules", "viewer", ""); r.status != http.StatusTooManyRequests {
		t.Fatalf("refill gave more than one token: %d", r.status)
	}
	if got := testutil.ToFloat64(f.api.m.requests.WithLabelValues("GET /api/v1/rules", "429")); got != 2 {
		t.Fatalf("429s counted: %v", got)
	}
}

func TestLimiterRetryAfter(t *testing.T) {
	now := t0
	l := newLimiter(0.1, 1, func() time.Time { return now })
	if ok, _ := l.allow("k"); !ok {
		t.Fatal("first request refused")
	}
	ok, wait := l.allow("k")
	if ok || retryAfter(wait) != "10" {
		t.Fatalf("second: %v %s", ok, wait)
	}
	now = now.Add(9 * time.Second)
	if ok, wait = l.allow("k"); ok || retryAfter(wait) != "1" {
		t.Fatalf("after 9s: %v %s", ok, wait)
	}
	now = now.Add(time.Second)
	if ok, _ = l.allow("k"); !ok {
		t.Fatal("after 10s: refused")
	}
}

func TestOpenAPIMatchesRoutes(t *testing.T) {
	f := newFixture(t, nil)
	r := f.do(t, "GET", "/api/v1/openapi.json", "", "")
	var doc struct {
		OpenAPI string                                `json:"openapi"`
		Paths   map[string]map[string]json.RawMessage `json:"paths"`
	}
	r.decode(t, &doc)
	if !strings.HasPrefix(doc.OpenAPI, "3.0.") {
		t.Fatalf("openapi version %q", doc.OpenAPI)
	}
	var documented []string
	for path, ops := range doc.Paths {
		for method, op := range ops {
			documented = append(documented, strings.ToUpper(method)+" "+path)
			var o struct {
				OperationID string         `json:"operationId"`
				Responses   map[string]any `json:"responses"`
			}
			if err := json.Unmarshal(op, &o); err != nil || o.OperationID == "" || len(o.Responses) == 0 {
				t.Errorf("%s %s: operationId and responses required (%v)", method, path, err)
			}
		}
	}
	var routed []string
	for p := range f.api.Routes() {
		if p != fallbackPattern {
			routed = append(routed, p)
		}
	}
	routed = append(routed, AlertmanagerPattern)
	slices.Sort(documented)
	slices.Sort(routed)
	if !slices.Equal(documented, routed) {
		t.Fatalf("OpenAPI paths and Routes differ:\ndocumented %q\nrouted     %q", documented, routed)
	}

	// Every $ref points at a component that exists.
	var all map[string]any
	if err := json.Unmarshal(r.body, &all); err != nil {
		t.Fatal(err)
	}
	var walk func(v any)
	walk = func(v any) {
		switch x := v.(type) {
		case map[string]any:
			if ref, ok := x["$ref"].(string); ok {
				var node any = all
				for _, part := range strings.Split(strings.TrimPrefix(ref, "#/"), "/") {
					m, _ := node.(map[string]any)
					node = m[part]
				}
				if node == nil {
					t.Errorf("dangling $ref %s", ref)
				}
			}
			for _, e := range x {
				walk(e)
			}
		case []any:
			for _, e := range x {
				walk(e)
			}
		}
	}
	walk(all)
}

func TestUnknownEndpoints(t *testing.T) {
	f := newFixture(t, nil)
	cases := []struct {
		method, path string
		status       int
		allow        string
	}{
		{"GET", "/api/v1/nothing", 404, ""},
		{"GET", "/api/v1/incidents/a/b", 404, ""},
		{"DELETE", "/api/v1/incidents", 405, "GET"},
		{"PUT", "/api/v1/proposals", 405, "GET, POST"},
		{"GET", "/api/v1/proposals/p-1/approve", 405, "POST"},
		{"GET", "/api/v1/alertmanager", 405, "POST"},
	}
	for _, c := range cases {
		r := f.do(t, c.method, c.path, "", "")
		if r.status != c.status || r.header.Get("Allow") != c.allow || !strings.Contains(r.header.Get("Content-Type"), "json") {
			t.Errorf("%s %s: %d Allow %q: %s", c.method, c.path, r.status, r.header.Get("Allow"), r.body)
		}
	}
}

// failingIncidents fails every call, or blocks until its context ends.
type failingIncidents struct{ block bool }

func (fi failingIncidents) List(ctx context.Context, _ bool) ([]incident.Incident, error) {
	if fi.block {
		<-ctx.Done()
		return nil, ctx.Err()
	}
	return nil, errors.New("store: disk on fire at /var/lib/smartcloudops")
}

func (fi failingIncidents) ListPage(ctx context.Context, _ incident.PageQuery) (incident.Page, error) {
	_, err := fi.List(ctx, false)
	return incident.Page{}, err
}

func (fi failingIncidents) Get(ctx context.Context, _ string) (incident.Incident, error) {
	_, err := fi.List(ctx, false)
	return incident.Incident{}, err
}

func TestInternalErrorsAndTimeouts(t *testing.T) {
	logs := &syncWriter{w: &strings.Builder{}}
	f := newFixture(t, func(o *Options) {
		o.Incidents = failingIncidents{}
		o.Logger = obs.NewLogger(logs, obs.LogOptions{Format: "json"})
	})
	r := f.do(t, "GET", "/api/v1/incidents", "viewer", "")
	cid := r.header.Get("X-Request-ID")
	if r.status != 500 || r.errorCode() != CodeInternal || cid == "" || !strings.Contains(string(r.body), "internal error (ref "+cid+")") || strings.Contains(string(r.body), "disk on fire") {
		t.Fatalf("internal error: %d %s", r.status, r.body)
	}
	if !strings.Contains(logs.String(), "disk on fire") || !strings.Contains(logs.String(), `"cid":"`+cid+`"`) {
		t.Fatalf("the error was not logged in full with its request ID: %s", logs.String())
	}

	// A read handler returns when its deadline passes.
	g := newFixture(t, func(o *Options) { o.Incidents, o.Timeout = failingIncidents{block: true}, 20*time.Millisecond })
	r = g.do(t, "GET", "/api/v1/incidents", "viewer", "")
	if r.status != http.StatusServiceUnavailable || r.errorCode() != CodeTimeout {
		t.Fatalf("read timeout: %d %s", r.status, r.body)
	}

	// A decision that ignores its context is answered at the deadline and finishes later.
	release := make(chan struct{})
	var slow *slowApprovals
	h := newFixture(t, func(o *Options) {
		slow = &slowApprovals{Proposals: o.Proposals, release: release, done: make(chan struct{})}
		o.Proposals, o.Timeout = slow, 20*time.Millisecond
	})
	p := h.propose(t, remediation.Policy{})
	r = h.do(t, "POST", "/api/v1/proposals/"+p.ID+"/approve", "admin", "")
	if r.status != http.StatusServiceUnavailable || r.errorCode() != CodeTimeout || !strings.Contains(string(r.body), "may still complete") {
		t.Fatalf("decision timeout: %d %s", r.status, r.body)
	}
	close(release)
	<-slow.done
	if got, err := h.mg.Get(t.Context(), p.ID); err != nil || got.State != remediation.StateSucceeded || h.act.runs.Load() != 1 {
		t.Fatalf("the approval did not complete after the timeout: %+v %v", got, err)
	}
}

// slowApprovals holds ApprovePlan until release closes, ignoring the request's context as an
// approval waiting for a long action does.
type slowApprovals struct {
	Proposals
	release chan struct{}
	done    chan struct{}
}

func (s *slowApprovals) ApprovePlan(ctx context.Context, id, plan string, who remediation.Actor) (remediation.Proposal, error) {
	defer close(s.done)
	<-s.release
	return s.Proposals.ApprovePlan(context.WithoutCancel(ctx), id, plan, who)
}

// syncWriter serialises writes from concurrent handlers.
type syncWriter struct {
	mu sync.Mutex
	w  io.Writer
}

func (s *syncWriter) Write(p []byte) (int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.w.Write(p)
}

func (s *syncWriter) String() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return fmt.Sprint(s.w)
}

// TestThroughWebServer mounts the routes on the bot's HTTP server, which takes the correlation
// ID from X-Request-ID, and checks the ID reaches the error body and the metrics are served.
func TestThroughWebServer(t *testing.T) {
	f := newFixture(t, nil)
	s, err := NewServer(ServerOptions{Addr: "127.0.0.1:0", Gatherer: f.reg, Handlers: f.api.Routes(), Logger: obs.Discard()})
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- s.Run(ctx) }()
	defer func() {
		cancel()
		if err := <-done; err != nil {
			t.Error(err)
		}
	}()
	client := &http.Client{Timeout: 10 * time.Second}
	defer client.CloseIdleConnections()
	req, _ := http.NewRequest("GET", "http://"+s.Addr()+"/api/v1/proposals/p-none", nil)
	req.Header.Set("X-Request-ID", "ci-build-77")
	req.Header.Set("Authorization", "Bearer "+f.tokens["viewer"])
	resp, err := client.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	body, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	var e errorBody
	if err := json.Unmarshal(body, &e); err != nil || resp.StatusCode != 404 || e.Error.RequestID != "ci-build-77" || resp.Header.Get("X-Request-ID") != "ci-build-77" {
		t.Fatalf("%d %s %v", resp.StatusCode, body, resp.Header)
	}
	resp, err = client.Get("http://" + s.Addr() + "/metrics")
	if err != nil {
		t.Fatal(err)
	}
	body, _ = io.ReadAll(resp.Body)
	resp.Body.Close()
	for _, want := range []string{`smartcloudops_api_requests_total{code="404",route="GET /api/v1/proposals/{id}"} 1`,
		`smartcloudops_api_request_duration_seconds_count{route="GET /api/v1/proposals/{id}"} 1`} {
		if !strings.Contains(string(body), want) {
			t.Errorf("metrics lack %s", want)
		}
	}
}

func TestNewRequiresOptions(t *testing.T) {
	_, err := New(Options{})
	if err == nil || !strings.Contains(err.Error(), "Store, Incidents, Proposals, Audit, Logger, Registerer required") {
		t.Fatalf("New(Options{}): %v", err)
	}
	f := newFixture(t, nil)
	_, err = New(Options{Store: f.st, Incidents: f.inc, Proposals: f.mg, Audit: f.al, Logger: obs.Discard(), Registerer: f.reg, Timeout: -1})
	if err == nil || !strings.Contains(err.Error(), "negative") {
		t.Fatalf("negative timeout: %v", err)
	}
}
