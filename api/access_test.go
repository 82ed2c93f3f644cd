package api

import (
	"net/http"
	"slices"
	"strings"
	"testing"

	"github.com/smartcloudops/smartcloudops/remediation"
)

// TestAccess runs every endpoint with every kind of credential.
func TestAccess(t *testing.T) {
	f := newFixture(t, nil)
	inc := f.openIncident(t)
	fixed := f.propose(t, remediation.Policy{})

	type endpoint struct {
		name   string
		method string
		path   func(t *testing.T) string // a fresh target for each request that changes state
		body   string
		ok     int  // status when allowed
		write  bool // needs operator or admin
		public bool
	}
	static := func(p string) func(*testing.T) string { return func(*testing.T) string { return p } }
	fresh := func(suffix string) func(*testing.T) string {
		return func(t *testing.T) string {
			return "/api/v1/proposals/" + f.propose(t, remediation.Policy{}).ID + suffix
		}
	}
	endpoints := []endpoint{
		{name: "/api/v1/incidents", method: "GET", path: static("/api/v1/incidents"), ok: 200},
		{name: "/api/v1/incidents?state=all", method: "GET", path: static("/api/v1/incidents?state=all"), ok: 200},
		{name: "/api/v1/incidents/{id}", method: "GET", path: static("/api/v1/incidents/" + inc.ID), ok: 200},
		{name: "/api/v1/proposals?state=all", method: "GET", path: static("/api/v1/proposals?state=all"), ok: 200},
		{name: "/api/v1/proposals/{id}", method: "GET", path: static("/api/v1/proposals/" + fixed.ID), ok: 200},
		{name: "/api/v1/proposals", method: "POST", path: static("/api/v1/proposals"), body: `{"action":"test.scale","params":{"group":"api-asg","to":2}}`, ok: 201, write: true},
		{name: "/api/v1/proposals/{id}/approve", method: "POST", path: fresh("/approve"), ok: 200, write: true},
		{name: "/api/v1/proposals/{id}/reject", method: "POST", path: fresh("/reject"), body: `{"reason":"not now"}`, ok: 200, write: true},
		{name: "/api/v1/rules", method: "GET", path: static("/api/v1/rules"), ok: 200},
		{name: "/api/v1/rules/web-cpu-high", method: "GET", path: static("/api/v1/rules/web-cpu-high"), ok: 200},
		{name: "/api/v1/audit?since=1h", method: "GET", path: static("/api/v1/audit?since=1h"), ok: 200},
		{name: "/api/v1/anomalies?check=cpu", method: "GET", path: static("/api/v1/anomalies?check=cpu"), ok: 200},
		{name: "/api/v1/openapi.json", method: "GET", path: static("/api/v1/openapi.json"), ok: 200, public: true},
	}
	creds := []string{"", "bad", "expired", "revoked", "viewer", "operator", "admin"}
	for _, ep := range endpoints {
		for _, cred := range creds {
			path := ep.path(t)
			name := ep.method + " " + ep.name + " as " + map[bool]string{true: cred, false: "nobody"}[cred != ""]
			t.Run(name, func(t *testing.T) {
				want, code := ep.ok, ""
				switch {
				case ep.public:
				case cred == "" || cred == "bad" || cred == "expired" || cred == "revoked":
					want, code = http.StatusUnauthorized, CodeUnauthorized
				case ep.write && cred == "viewer":
					want, code = http.StatusForbidden, CodeForbidden
				}
				r := f.do(t, ep.method, path, cred, ep.body)
				if r.status != want || (code != "" && r.errorCode() != code) {
					t.Fatalf("status %d code %q, want %d %q: %s", r.status, r.errorCode(), want, code, r.body)
				}
				if r.header.Get("X-Request-ID") == "" {
					t.Error("no X-Request-ID")
				}
				if want == http.StatusUnauthorized && r.header.Get("WWW-Authenticate") == "" {
					t.Error("401 without WWW-Authenticate")
				}
				if ct := r.header.Get("Content-Type"); ct != "application/json" {
					t.Errorf("Content-Type %q", ct)
				}
			})
		}
	}

	// Refusals of a known key are audited with the key's name; unknown keys are not.
	var denied []string
	for _, rec := range f.auditRecords(t) {
		if rec.Kind == "api.denied" {
			denied = append(denied, rec.Extra["key"]+" "+rec.Outcome)
		}
	}
	for _, want := range []string{"viewer forbidden", "expired unauthorized", "revoked unauthorized"} {
		if !slices.Contains(denied, want) {
			t.Errorf("no api.denied record %q in %q", want, denied)
		}
	}
	for _, d := range denied {
		if strings.HasPrefix(d, " ") {
			t.Errorf("api.denied without a key name: %q", d)
		}
	}
}

func TestAuthorizationHeader(t *testing.T) {
	f := newFixture(t, nil)
	for _, h := range []string{"Basic dXNlcjpwYXNz", "Bearer", "Bearer ", "Bearer sco_", "Bearer " + strings.Repeat("x", 300), f.tokens["admin"]} {
		r := f.do(t, "GET", "/api/v1/incidents", "", "", "Authorization", h)
		if r.status != http.StatusUnauthorized || r.errorCode() != CodeUnauthorized {
			t.Errorf("%.20q: %d %s", h, r.status, r.body)
		}
	}
	if r := f.do(t, "GET", "/api/v1/incidents", "", "", "Authorization", "bearer "+f.tokens["viewer"]); r.status != 200 {
		t.Errorf("lower-case scheme: %d %s", r.status, r.body)
	}
}

// TestRevokeTakesEffect revokes a key in-process and sees the next request refused.
func TestRevokeTakesEffect(t *testing.T) {
	f := newFixture(t, nil)
	if r := f.do(t, "GET", "/api/v1/rules", "operator", ""); r.status != 200 {
		t.Fatalf("before: %d", r.status)
	}
	if _, err := f.api.Keys().Revoke(t.Context(), "operator"); err != nil {
		t.Fatal(err)
	}
	if r := f.do(t, "GET", "/api/v1/rules", "operator", ""); r.status != http.StatusUnauthorized || !strings.Contains(string(r.body), "revoked") {
		t.Fatalf("after: %d %s", r.status, r.body)
	}
}
