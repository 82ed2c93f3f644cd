package api

import (
	"io"
	"net/http"
	"net/http/httptest"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/smartcloudops/smartcloudops/remediation"
)

// TestApprovalPolicy checks that HTTP decisions obey the policy exactly as chat ones do.
func TestApprovalPolicy(t *testing.T) {
	f := newFixture(t, nil)

	// An operator key proposes a manual run; it may not approve it itself.
	r := f.do(t, "POST", "/api/v1/proposals", "operator", `{"action":"test.scale","params":{"group":"web-asg","to":"4"}}`)
	if r.status != http.StatusCreated {
		t.Fatalf("propose: %d %s", r.status, r.body)
	}
	var p remediation.Proposal
	r.decode(t, &p)
	if p.Requester.ID != "api:operator" || !slices.Equal(p.Policy.Roles, []string{"operator"}) || p.Policy.MinApprovers != 1 ||
		p.Policy.AllowRequester || p.State != remediation.StatePending || r.header.Get("Location") != "/api/v1/proposals/"+p.ID {
		t.Fatalf("proposal: %+v, Location %q", p, r.header.Get("Location"))
	}
	approve := "/api/v1/proposals/" + p.ID + "/approve"
	if r := f.do(t, "POST", approve, "operator", ""); r.status != http.StatusForbidden || !strings.Contains(string(r.body), "requester") {
		t.Fatalf("requester approved: %d %s", r.status, r.body)
	}
	if r := f.do(t, "POST", approve, "viewer", ""); r.status != http.StatusForbidden {
		t.Fatalf("viewer approved: %d %s", r.status, r.body)
	}
	if f.act.runs.Load() != 0 {
		t.Fatal("ran before an authorised approval")
	}
	r = f.do(t, "POST", approve, "operator2", "{}")
	var done remediation.Proposal
	r.decode(t, &done)
	if r.status != http.StatusOK || done.State != remediation.StateSucceeded || done.DecidedBy.ID != "api:operator2" || f.act.runs.Load() != 1 {
		t.Fatalf("second operator: %d %s runs=%d", r.status, r.body, f.act.runs.Load())
	}
	if r := f.do(t, "POST", approve, "admin", ""); r.status != http.StatusConflict || r.errorCode() != CodeConflict {
		t.Fatalf("approve after success: %d %s", r.status, r.body)
	}

	// A policy naming another role: operators are refused, admin satisfies any.
	sre := f.propose(t, remediation.Policy{Roles: []string{"sre"}})
	if r := f.do(t, "POST", "/api/v1/proposals/"+sre.ID+"/approve", "operator", ""); r.status != http.StatusForbidden || !strings.Contains(string(r.body), "needs role sre") {
		t.Fatalf("operator on an sre policy: %d %s", r.status, r.body)
	}
	if r := f.do(t, "POST", "/api/v1/proposals/"+sre.ID+"/reject", "operator", ""); r.status != http.StatusForbidden {
		t.Fatalf("operator rejected an sre proposal: %d %s", r.status, r.body)
	}
	if r := f.do(t, "POST", "/api/v1/proposals/"+sre.ID+"/approve", "admin", ""); r.status != http.StatusOK {
		t.Fatalf("admin on an sre policy: %d %s", r.status, r.body)
	}

	// Two approvers: the same key twice is a conflict, not a second approval.
	two := f.propose(t, remediation.Policy{MinApprovers: 2})
	path := "/api/v1/proposals/" + two.ID + "/approve"
	if r := f.do(t, "POST", path, "operator", ""); r.status != http.StatusOK || !strings.Contains(string(r.body), `"state":"pending"`) {
		t.Fatalf("first of two: %d %s", r.status, r.body)
	}
	if r := f.do(t, "POST", path, "operator", ""); r.status != http.StatusConflict || !strings.Contains(string(r.body), "already approved") {
		t.Fatalf("same key twice: %d %s", r.status, r.body)
	}
	if r := f.do(t, "POST", path, "admin", ""); r.status != http.StatusOK || !strings.Contains(string(r.body), `"state":"succeeded"`) {
		t.Fatalf("second of two: %d %s", r.status, r.body)
	}

	// The requester may reject its own proposal; a decided one is a conflict.
	mine := f.do(t, "POST", "/api/v1/proposals", "operator", `{"action":"test.scale","params":{"group":"g"}}`)
	mine.decode(t, &p)
	if r := f.do(t, "POST", "/api/v1/proposals/"+p.ID+"/reject", "operator", `{"reason":"typo"}`); r.status != http.StatusOK || !strings.Contains(string(r.body), `"reason":"typo"`) {
		t.Fatalf("requester reject: %d %s", r.status, r.body)
	}
	if r := f.do(t, "POST", "/api/v1/proposals/"+p.ID+"/reject", "admin", ""); r.status != http.StatusConflict {
		t.Fatalf("reject twice: %d %s", r.status, r.body)
	}

	// Expired proposals and unknown ones.
	old := f.propose(t, remediation.Policy{Expires: time.Minute})
	f.clock.Add(2 * time.Minute)
	if r := f.do(t, "POST", "/api/v1/proposals/"+old.ID+"/approve", "admin", ""); r.status != http.StatusConflict || !strings.Contains(string(r.body), "expired") {
		t.Fatalf("expired: %d %s", r.status, r.body)
	}
	for _, verb := range []string{"approve", "reject"} {
		if r := f.do(t, "POST", "/api/v1/proposals/p-nope/"+verb, "admin", ""); r.status != http.StatusNotFound || r.errorCode() != CodeNotFound {
			t.Fatalf("%s unknown: %d %s", verb, r.status, r.body)
		}
	}

	// Paused remediation refuses approvals as a conflict.
	paused := f.propose(t, remediation.Policy{})
	if err := f.mg.Pause(t.Context(), remediation.Actor{ID: "console:root", Name: "root", Roles: []string{"admin"}}); err != nil {
		t.Fatal(err)
	}
	if r := f.do(t, "POST", "/api/v1/proposals/"+paused.ID+"/approve", "admin", ""); r.status != http.StatusConflict || !strings.Contains(string(r.body), "paused") {
		t.Fatalf("paused: %d %s", r.status, r.body)
	}

	// Every decision is audited by the Manager with the key's actor; forbidden ones also as api.denied.
	var got []string
	for _, rec := range f.auditRecords(t) {
		got = append(got, rec.Kind+" "+rec.User)
	}
	for _, want := range []string{"proposal.created api:operator", "proposal.approve_refused api:operator", "api.denied api:viewer",
		"api.denied api:operator", "proposal.approved api:operator2", "proposal.approved api:admin", "proposal.rejected api:operator",
		"proposal.approval_added api:operator", "proposal.reject_refused api:operator"} {
		if !slices.Contains(got, want) {
			t.Errorf("no audit record %q in\n%s", want, strings.Join(got, "\n"))
		}
	}
	if n, err := f.al.Verify(t.Context()); err != nil || n == 0 {
		t.Fatalf("audit chain: %d %v", n, err)
	}
}

// TestConcurrentApprovalsRunOnce races approvals from several keys on one proposal.
func TestConcurrentApprovalsRunOnce(t *testing.T) {
	f := newFixture(t, nil)
	for round := range 5 {
		p := f.propose(t, remediation.Policy{})
		before := f.act.runs.Load()
		var wg sync.WaitGroup
		var mu sync.Mutex
		codes := map[int]int{}
		for i := range 16 {
			cred := []string{"operator", "operator2", "admin", "admin2"}[i%4]
			wg.Go(func() {
				r := f.do(t, "POST", "/api/v1/proposals/"+p.ID+"/approve", cred, "")
				mu.Lock()
				codes[r.status]++
				mu.Unlock()
			})
		}
		wg.Wait()
		if runs := f.act.runs.Load() - before; runs != 1 || codes[http.StatusOK] != 1 || codes[http.StatusConflict] != 15 {
			t.Fatalf("round %d: ran %d times, statuses %v", round, runs, codes)
		}
		got, err := f.mg.Get(t.Context(), p.ID)
		if err != nil || got.State != remediation.StateSucceeded || len(got.Approvals) != 1 {
			t.Fatalf("round %d: %+v %v", round, got, err)
		}
	}
}

// TestBadBodies sends malformed, oversized and mistyped bodies; each is refused and changes nothing.
func TestBadBodies(t *testing.T) {
	f := newFixture(t, func(o *Options) { o.MaxBodyBytes = 1 << 10 })
	pending := f.propose(t, remediation.Policy{})
	big := `{"action":"test.scale","params":{"group":"` + strings.Repeat("x", 2<<10) + `"}}`
	cases := []struct {
		name, path, body string
		hdr              []string
		status           int
		code             string
	}{
		{"truncated", "/api/v1/proposals", `{"action":`, nil, 400, CodeBadRequest},
		{"not an object", "/api/v1/proposals", `[1,2]`, nil, 400, CodeBadRequest},
		{"wrong type", "/api/v1/proposals", `{"action":5}`, nil, 400, CodeBadRequest},
		{"params not an object", "/api/v1/proposals", `{"action":"test.scale","params":[]}`, nil, 400, CodeBadRequest},
		{"unknown field", "/api/v1/proposals", `{"action":"test.scale","actor":"admin"}`, nil, 400, CodeBadRequest},
		{"trailing data", "/api/v1/proposals", `{"action":"test.scale","params":{"group":"g"}} {"action":"x"}`, nil, 400, CodeBadRequest},
		{"no action", "/api/v1/proposals", `{"params":{"group":"g"}}`, nil, 400, CodeBadRequest},
		{"action with spaces", "/api/v1/proposals", `{"action":"test scale"}`, nil, 400, CodeBadRequest},
		{"unknown action", "/api/v1/proposals", `{"action":"rm.rf"}`, nil, 400, CodeBadRequest},
		{"bad params", "/api/v1/proposals", `{"action":"test.scale","params":{"to":"many"}}`, nil, 400, CodeBadRequest},
		{"unknown incident", "/api/v1/proposals", `{"action":"test.scale","params":{"group":"g"},"incident":"inc-none"}`, nil, 400, CodeBadRequest},
		{"empty", "/api/v1/proposals", ``, nil, 400, CodeBadRequest},
		{"not json", "/api/v1/proposals", `action=test.scale`, []string{"Content-Type", "application/x-www-form-urlencoded"}, 415, CodeUnsupportedMedia},
		{"no content type", "/api/v1/proposals", `{"action":"test.scale","params":{"group":"g"}}`, []string{"Content-Type", ""}, 415, CodeUnsupportedMedia},
		{"oversized", "/api/v1/proposals", big, nil, 413, CodeTooLarge},
		{"oversized chunked", "/api/v1/proposals", big, []string{"X-Chunked", "1"}, 413, CodeTooLarge},
		{"approve with a body", "/api/v1/proposals/" + pending.ID + "/approve", `{"force":true}`, nil, 400, CodeBadRequest},
		{"approve oversized", "/api/v1/proposals/" + pending.ID + "/approve", big, nil, 413, CodeTooLarge},
		{"reject malformed", "/api/v1/proposals/" + pending.ID + "/reject", `{"reason":`, nil, 400, CodeBadRequest},
		{"reject reason not text", "/api/v1/proposals/" + pending.ID + "/reject", `{"reason":{"a":1}}`, nil, 400, CodeBadRequest},
		{"reject reason too long", "/api/v1/proposals/" + pending.ID + "/reject", `{"reason":"` + strings.Repeat("n", maxReasonLen+1) + `"}`, nil, 400, CodeBadRequest},
	}
	auditBefore := len(f.auditRecords(t))
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			var r response
			if len(c.hdr) == 2 && c.hdr[0] == "X-Chunked" {
				r = f.doChunked(t, c.path, "admin", c.body)
			} else {
				r = f.do(t, "POST", c.path, "admin", c.body, c.hdr...)
			}
			if r.status != c.status || r.errorCode() != c.code {
				t.Fatalf("status %d %q, want %d %q: %s", r.status, r.errorCode(), c.status, c.code, r.body)
			}
			var e errorBody
			r.decode(t, &e)
			if e.Error.Message == "" || e.Error.RequestID == "" || e.Error.RequestID != r.header.Get("X-Request-ID") {
				t.Fatalf("error body %s, X-Request-ID %q", r.body, r.header.Get("X-Request-ID"))
			}
		})
	}
	all, err := f.mg.List(t.Context())
	if err != nil || len(all) != 1 || all[0].State != remediation.StatePending || len(all[0].Approvals) != 0 {
		t.Fatalf("state changed: %+v %v", all, err)
	}
	if n := len(f.auditRecords(t)); n != auditBefore {
		t.Fatalf("audit grew from %d to %d records", auditBefore, n)
	}
	if f.act.runs.Load() != 0 {
		t.Fatal("an action ran")
	}
}

// doChunked posts body with no Content-Length, so only the body reader can enforce the cap.
func (f *fixture) doChunked(t *testing.T, path, cred, body string) response {
	t.Helper()
	pr := &chunkedReader{s: body}
	req, err := http.NewRequest("POST", f.srv.URL+path, pr)
	if err != nil {
		t.Fatal(err)
	}
	req.ContentLength = -1
	req.Header.Set("Content-Type", "application/json")
	req.Header.Set("Authorization", "Bearer "+f.tokens[cred])
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

// chunkedReader hides the body's length from the client.
type chunkedReader struct{ s string }

func (c *chunkedReader) Read(p []byte) (int, error) {
	if c.s == "" {
		return 0, io.EOF
	}
	n := copy(p, c.s)
	c.s = c.s[n:]
	return n, nil
}

// TestSlowApprovalIsAnswered: an approval that waits for a slow action is answered, although
// it outlasts the server's write timeout.
func TestSlowApprovalIsAnswered(t *testing.T) {
	f := newFixture(t, func(o *Options) { o.Timeout = 10 * time.Second })
	r := f.do(t, "POST", "/api/v1/proposals", "operator", `{"action":"test.scale","params":{"group":"web-asg","to":"4"}}`)
	if r.status != http.StatusCreated {
		t.Fatalf("propose: %d %s", r.status, r.body)
	}
	var p remediation.Proposal
	r.decode(t, &p)
	f.act.delay = 300 * time.Millisecond
	mux := http.NewServeMux()
	for pattern, h := range f.api.Routes() {
		mux.Handle(pattern, h)
	}
	srv := httptest.NewUnstartedServer(mux)
	srv.Config.WriteTimeout = 50 * time.Millisecond
	srv.Start()
	defer srv.Close()
	req, err := http.NewRequest("POST", srv.URL+"/api/v1/proposals/"+p.ID+"/approve", nil)
	if err != nil {
		t.Fatal(err)
	}
	req.Header.Set("Authorization", "Bearer "+f.tokens["operator2"])
	resp, err := srv.Client().Do(req)
	if err != nil {
		t.Fatalf("the approval's answer was lost: %v", err)
	}
	body, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	if resp.StatusCode != http.StatusOK || !strings.Contains(string(body), `"succeeded"`) {
		t.Fatalf("approve: %d %s", resp.StatusCode, body)
	}
}

// TestApprovalNamesPlan: an approval that names a plan_hash counts only for that plan.
func TestApprovalNamesPlan(t *testing.T) {
	f := newFixture(t, nil)
	r := f.do(t, "POST", "/api/v1/proposals", "operator", `{"action":"test.scale","params":{"group":"web-asg","to":"4"}}`)
	var p remediation.Proposal
	r.decode(t, &p)
	approve := "/api/v1/proposals/" + p.ID + "/approve"
	if r := f.do(t, "POST", approve, "operator2", `{"plan_hash":"0123456789abcdef"}`); r.status != http.StatusConflict || !strings.Contains(string(r.body), "not the plan") {
		t.Fatalf("approval of another plan: %d %s", r.status, r.body)
	}
	if r := f.do(t, "POST", approve, "operator2", `{"plan_hash":"not hex"}`); r.status != http.StatusBadRequest {
		t.Fatalf("bad plan_hash: %d %s", r.status, r.body)
	}
	if f.act.runs.Load() != 0 {
		t.Fatal("ran on an approval of another plan")
	}
	if r := f.do(t, "POST", approve, "operator2", `{"plan_hash":"`+p.PlanHash+`"}`); r.status != http.StatusOK || f.act.runs.Load() != 1 {
		t.Fatalf("approval of the plan: %d %s", r.status, r.body)
	}
}
