package api

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"maps"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/smartcloudops/smartcloudops/commands"
	"github.com/smartcloudops/smartcloudops/detector"
	"github.com/smartcloudops/smartcloudops/incident"
	"github.com/smartcloudops/smartcloudops/internal/obs"
	"github.com/smartcloudops/smartcloudops/internal/store"
	"github.com/smartcloudops/smartcloudops/remediation"
	"github.com/smartcloudops/smartcloudops/remediation/audit"
)

// countingAction counts executions of "test.scale".
type countingAction struct {
	runs  atomic.Int32
	delay time.Duration // how long Execute takes
	fail  error         // what Execute returns, if anything
	// describeErr is what Describe returns, if anything.
	describeErr error
}

func (a *countingAction) Name() string { return "test.scale" }
func (a *countingAction) Schema() remediation.Schema {
	return remediation.Schema{{Name: "group", Type: remediation.TypeString, Required: true}, {Name: "to", Type: remediation.TypeInt}}
}
func (a *countingAction) Target(p remediation.Params) string { return "asg/" + p.String("group") }
func (a *countingAction) Describe(_ context.Context, p remediation.Params) (string, error) {
	if a.describeErr != nil {
		return "", a.describeErr
	}
	return fmt.Sprintf("%s -> %d", p.String("group"), p.Int("to")), nil
}
func (a *countingAction) Execute(_ context.Context, p remediation.Params) (remediation.Result, error) {
	a.runs.Add(1)
	time.Sleep(a.delay)
	if a.fail != nil {
		return remediation.Result{}, a.fail
	}
	return remediation.Result{Summary: "scaled " + p.String("group")}, nil
}

// fakeRules serves two fixed rules.
type fakeRules struct{ rules []commands.RuleInfo }

func (r fakeRules) List() []commands.RuleInfo { return r.rules }
func (r fakeRules) Show(name string) (commands.RuleInfo, bool) {
	for _, ri := range r.rules {
		if ri.Name == name {
			return ri, true
		}
	}
	return commands.RuleInfo{}, false
}
func (fakeRules) SetEnabled(context.Context, string, bool, string) error { return nil }
func (fakeRules) Sync(context.Context, string) (string, error)           { return "", nil }
func (fakeRules) Test(context.Context, string) (string, error)           { return "", nil }

// fakeDetector reports one check with the given series history.
type fakeDetector struct {
	checks  []detector.CheckStatus
	history map[string][]detector.SeriesHistory
}

func (d fakeDetector) Status() []detector.CheckStatus { return d.checks }
func (d fakeDetector) Latest(check string, labels map[string]string) (detector.Scored, bool) {
	for _, sh := range d.history[check] {
		if maps.Equal(sh.Labels, labels) && len(sh.Points) > 0 {
			return sh.Points[len(sh.Points)-1], true
		}
	}
	return detector.Scored{}, false
}

// clock is a settable time source shared by every component of a fixture.
type clock struct {
	mu sync.Mutex
	t  time.Time
}

func (c *clock) Now() time.Time { c.mu.Lock(); defer c.mu.Unlock(); return c.t }
func (c *clock) Add(d time.Duration) {
	c.mu.Lock()
	c.t = c.t.Add(d)
	c.mu.Unlock()
}

// fixture is a real incident Manager, remediation Manager and audit log on a memory store,
// served over loopback by the API.
type fixture struct {
	st    store.Store
	al    *audit.Log
	inc   *incident.Manager
	mg    *remediation.Manager
	act   *countingAction
	api   *API
	reg   *prometheus.Registry
	clock *clock
	srv   *httptest.Server
	// tokens by credential name: viewer, operator, operator2, admin, expired, revoked.
	tokens map[string]string
	hosts  int // series openIncidents has used
}

var t0 = time.Date(2026, 11, 25, 12, 0, 0, 0, time.UTC)

var ruleActor = remediation.Actor{ID: "rule:web-cpu-high", Name: "rule web-cpu-high"}

func newFixture(t testing.TB, mut func(*Options)) *fixture {
	t.Helper()
	ctx := context.Background()
	f := &fixture{st: store.NewMemory(), act: &countingAction{}, reg: prometheus.NewRegistry(), clock: &clock{t: t0}, tokens: map[string]string{}}
	var err error
	if f.al, err = audit.New(audit.Options{Store: f.st, Now: f.clock.Now}); err != nil {
		t.Fatal(err)
	}
	if f.inc, err = incident.New(incident.Options{Store: f.st, Now: f.clock.Now}); err != nil {
		t.Fatal(err)
	}
	if f.mg, err = remediation.New(remediation.Options{Store: f.st, Audit: f.al, Now: f.clock.Now,
		Actions: func(n string) (remediation.Action, bool) { return f.act, n == "test.scale" }}); err != nil {
		t.Fatal(err)
	}
	o := Options{Store: f.st, Incidents: f.inc, Proposals: f.mg, Audit: f.al, Logger: obs.Discard(), Registerer: f.reg,
		Now: f.clock.Now, RateLimit: 1e6, RateBurst: 1e6,
		Rules: fakeRules{rules: []commands.RuleInfo{
			{Name: "web-cpu-high", Group: "web", Version: "v1", Input: "cpu", Action: "test.scale", Enabled: true, Source: "name: web-cpu-high"},
			{Name: "disk-full", Group: "storage", Version: "v2", Input: "disk", Action: "script"},
		}},
		Detector: fakeDetector{checks: []detector.CheckStatus{{Name: "cpu", Up: true, Series: 1, Anomalous: 1}},
			history: map[string][]detector.SeriesHistory{"cpu": {{Labels: map[string]string{"host": "web-1", "env": "prod"},
				Points: []detector.Scored{
					{Point: detector.Point{T: t0.Add(-time.Minute), V: 91}, Score: 0.97, Expected: 40, Lower: 30, Upper: 50},
					{Point: detector.Point{T: t0, V: 93}, Score: 0.99, Expected: 41, Lower: 31, Upper: 51},
				}}}}},
	}
	if mut != nil {
		mut(&o)
	}
	if f.api, err = New(o); err != nil {
		t.Fatal(err)
	}
	keys := f.api.Keys()
	for _, c := range []struct{ name, role string }{{"viewer", RoleViewer}, {"operator", RoleOperator}, {"operator2", RoleOperator},
		{"admin", RoleAdmin}, {"admin2", RoleAdmin}, {"revoked", RoleAdmin}} {
		tok, _, err := keys.Create(ctx, c.name, c.role, 0)
		if err != nil {
			t.Fatal(err)
		}
		f.tokens[c.name] = tok
	}
	if _, err := keys.Revoke(ctx, "revoked"); err != nil {
		t.Fatal(err)
	}
	// A key that expired an hour ago: created two hours back with a one-hour lifetime.
	past, _ := NewKeys(KeysOptions{Store: f.st, Now: func() time.Time { return t0.Add(-2 * time.Hour) }})
	if f.tokens["expired"], _, err = past.Create(ctx, "expired", RoleAdmin, time.Hour); err != nil {
		t.Fatal(err)
	}
	f.tokens["bad"] = "sco_" + strings.Repeat("A", 43)
	mux := http.NewServeMux()
	for p, h := range f.api.Routes() {
		mux.Handle(p, h)
	}
	f.srv = httptest.NewServer(mux)
	t.Cleanup(f.srv.Close)
	return f
}

// propose stores a rule proposal that operators may approve.
func (f *fixture) propose(t testing.TB, pol remediation.Policy) remediation.Proposal {
	t.Helper()
	p, err := f.mg.Propose(context.Background(), remediation.Request{Action: "test.scale", Params: map[string]any{"group": "web-asg", "to": 3},
		Rule: "web-cpu-high", RuleVersion: "v1", Requester: ruleActor, Policy: pol})
	if err != nil {
		t.Fatal(err)
	}
	return p
}

// openIncident opens a detector incident for the series the fake detector reports.
func (f *fixture) openIncident(t testing.TB) incident.Incident {
	t.Helper()
	inc, _, err := f.inc.FromAnomaly(context.Background(), detector.Anomaly{Check: "cpu", Severity: "critical", Unit: "%",
		Labels: map[string]string{"host": "web-1", "env": "prod"}, Opened: true, T: t0.Add(-time.Minute), Value: 91, Score: 0.97, Peak: 0.97, PeakValue: 91,
		Expected: 40, Lower: 30, Upper: 50, Since: t0.Add(-3 * time.Minute)})
	if err != nil {
		t.Fatal(err)
	}
	return inc
}

// response is a decoded answer.
type response struct {
	status int
	header http.Header
	body   []byte
}

func (r response) errorCode() string {
	var e errorBody
	_ = json.Unmarshal(r.body, &e)
	return e.Error.Code
}

func (r response) decode(t testing.TB, v any) {
	t.Helper()
	if err := json.Unmarshal(r.body, v); err != nil {
		t.Fatalf("decode %s: %v", r.body, err)
	}
}

// do sends one request with the named credential ("" for none) and a JSON body ("" for none).
func (f *fixture) do(t testing.TB, method, path, cred, body string, hdr ...string) response {
	t.Helper()
	var rd io.Reader
	if body != "" {
		rd = strings.NewReader(body)
	}
	req, err := http.NewRequest(method, f.srv.URL+path, rd)
	if err != nil {
		t.Fatal(err)
	}
	if body != "" {
		req.Header.Set("Content-Type", "application/json")
	}
	if cred != "" {
		tok, ok := f.tokens[cred]
		if !ok {
			t.Fatalf("no credential %q", cred)
		}
		req.Header.Set("Authorization", "Bearer "+tok)
	}
	for i := 0; i+1 < len(hdr); i += 2 {
		if hdr[i+1] == "" {
			req.Header.Del(hdr[i])
		} else {
			req.Header.Set(hdr[i], hdr[i+1])
		}
	}
	resp, err := f.srv.Client().Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	if err != nil {
		t.Fatal(err)
	}
	return response{status: resp.StatusCode, header: resp.Header, body: b}
}

// auditRecords returns every audit record, oldest first.
func (f *fixture) auditRecords(t testing.TB) []audit.Record {
	t.Helper()
	recs, err := f.al.List(context.Background(), audit.Filter{})
	if err != nil {
		t.Fatal(err)
	}
	return recs
}
