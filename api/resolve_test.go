package api

import (
	"fmt"
	"net/http"
	"strings"
	"testing"

	"github.com/smartcloudops/smartcloudops/remediation"
)

// TestResolveUnknown: an unknown proposal can be closed over HTTP by an operator key, with a
// note; a viewer key, a bad body, an unknown proposal and a proposal that is not unknown are
// refused with the status and message a client can act on, and every decision is audited.
func TestResolveUnknown(t *testing.T) {
	f := newFixture(t, nil)
	f.act.fail = fmt.Errorf("%w: HTTP 500 after the request was sent", remediation.ErrOutcomeUnknown)
	p := f.propose(t, remediation.Policy{})
	if r := f.do(t, "POST", "/api/v1/proposals/"+p.ID+"/approve", "operator", ""); r.status != http.StatusOK || !strings.Contains(string(r.body), `"state":"unknown"`) {
		t.Fatalf("approve: %d %s", r.status, r.body)
	}
	if r := f.do(t, "POST", "/api/v1/proposals/"+p.ID+"/reject", "operator", ""); r.status != http.StatusConflict || !strings.Contains(string(r.body), "resolve "+p.ID) {
		t.Fatalf("reject of an unknown proposal: %d %s", r.status, r.body)
	}
	path := "/api/v1/proposals/" + p.ID + "/resolve"
	refusals := []struct {
		cred, body string
		status     int
		code, want string
	}{
		{"viewer", `{"outcome":"ran","note":"checked"}`, 403, CodeForbidden, "role viewer, which may only read"},
		{"operator", `{"outcome":"maybe","note":"checked"}`, 400, CodeBadRequest, `outcome: want \"ran\"`},
		{"operator", `{"outcome":"ran","note":" "}`, 400, CodeBadRequest, "note: required"},
		{"operator", `{"outcome":"ran"}`, 400, CodeBadRequest, "note: required"},
		{"operator", ``, 400, CodeBadRequest, "the request body is empty"},
	}
	for _, rf := range refusals {
		r := f.do(t, "POST", path, rf.cred, rf.body)
		if r.status != rf.status || r.errorCode() != rf.code || !strings.Contains(string(r.body), rf.want) {
			t.Errorf("%s %s: %d %s, want %d %s with %q", rf.cred, rf.body, r.status, r.body, rf.status, rf.code, rf.want)
		}
	}
	if r := f.do(t, "POST", "/api/v1/proposals/p-000000/resolve", "operator", `{"outcome":"ran","note":"x"}`); r.status != http.StatusNotFound {
		t.Fatalf("unknown proposal: %d %s", r.status, r.body)
	}
	r := f.do(t, "POST", path, "operator2", `{"outcome":"ran","note":"desired capacity is 4, as planned"}`)
	var got remediation.Proposal
	r.decode(t, &got)
	if r.status != http.StatusOK || got.State != remediation.StateSucceeded || got.Resolution == nil ||
		got.Resolution.By.ID != "api:operator2" || got.Resolution.Note != "desired capacity is 4, as planned" {
		t.Fatalf("resolve: %d %s", r.status, r.body)
	}
	if r := f.do(t, "POST", path, "admin", `{"outcome":"not-run","note":"again"}`); r.status != http.StatusConflict || !strings.Contains(string(r.body), "already succeeded") {
		t.Fatalf("second resolve: %d %s", r.status, r.body)
	}
	var kinds []string
	for _, rec := range f.auditRecords(t) {
		if rec.Proposal == p.ID || rec.Kind == "api.denied" {
			kinds = append(kinds, rec.Kind)
		}
	}
	if k := strings.Join(kinds, " "); !strings.Contains(k, "action.unknown") || !strings.Contains(k, "api.denied") ||
		!strings.Contains(k, "proposal.resolved proposal.resolve_refused") {
		t.Fatalf("audit: %s", k)
	}
	if f.act.runs.Load() != 1 {
		t.Fatalf("%d runs", f.act.runs.Load())
	}
}

// TestProposeRefused: a plan the action cannot describe is a 400 with its reason, or a 503
// unavailable when the system it calls throttled or did not answer; both are audited.
func TestProposeRefused(t *testing.T) {
	f := newFixture(t, nil)
	body := `{"action":"test.scale","params":{"group":"web-asg"}}`
	f.act.describeErr = fmt.Errorf(`test.scale asg/web-asg: Auto Scaling group "web-asg" not found`)
	if r := f.do(t, "POST", "/api/v1/proposals", "operator", body); r.status != http.StatusBadRequest ||
		!strings.Contains(string(r.body), `no proposal: test.scale asg/web-asg: Auto Scaling group \"web-asg\" not found`) {
		t.Fatalf("unknown target: %d %s", r.status, r.body)
	}
	f.act.describeErr = fmt.Errorf("%w: test.scale asg/web-asg: AWS Throttling: Rate exceeded", remediation.ErrUnavailable)
	if r := f.do(t, "POST", "/api/v1/proposals", "operator", body); r.status != http.StatusServiceUnavailable || r.errorCode() != CodeUnavailable {
		t.Fatalf("throttled: %d %s", r.status, r.body)
	}
	n := 0
	for _, rec := range f.auditRecords(t) {
		if rec.Kind == "proposal.refused" && rec.User == "api:operator" && rec.Target == "asg/web-asg" {
			n++
		}
	}
	if n != 2 {
		t.Fatalf("%d proposal.refused records, want 2", n)
	}
}
