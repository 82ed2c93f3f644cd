package api

import (
	"net/http"
	"strings"
	"testing"
)

// TestPprofForAdminsOnly: with Pprof on, the profiling endpoints answer admin keys and refuse
// every other key (audited) and requests without one; with it off, they do not exist.
func TestPprofForAdminsOnly(t *testing.T) {
	f := newFixture(t, func(o *Options) { o.Pprof = true })
	for _, path := range []string{"/debug/pprof/", "/debug/pprof/goroutine?debug=1", "/debug/pprof/profile?seconds=1", "/debug/pprof/cmdline"} {
		for cred, want := range map[string]int{"admin": 200, "operator": 403, "viewer": 403, "": 401, "bad": 401, "revoked": 401} {
			if path == "/debug/pprof/profile?seconds=1" && cred != "admin" && cred != "viewer" {
				continue // a second each is enough
			}
			r := f.do(t, "GET", path, cred, "")
			if r.status != want {
				t.Errorf("%s as %q: %d, want %d: %.200s", path, cred, r.status, want, r.body)
			}
			if want == 403 && (r.errorCode() != CodeForbidden || !strings.Contains(string(r.body), "needs role admin")) {
				t.Errorf("%s as %q: %s", path, cred, r.body)
			}
		}
	}
	if r := f.do(t, "GET", "/debug/pprof/goroutine?debug=1", "admin", ""); !strings.Contains(string(r.body), "goroutine profile:") {
		t.Errorf("goroutine profile: %.200s", r.body)
	}
	if r := f.do(t, "GET", "/debug/pprof/profile?seconds=1", "admin", ""); len(r.body) == 0 || r.header.Get("Content-Type") != "application/octet-stream" {
		t.Errorf("CPU profile: %d bytes of %s", len(r.body), r.header.Get("Content-Type"))
	}
	denied := 0
	for _, rec := range f.auditRecords(t) {
		if rec.Kind == "api.denied" && strings.HasPrefix(rec.Detail, "GET /debug/pprof/") {
			denied++
		}
	}
	if denied == 0 {
		t.Error("refusals of the profiling endpoints were not audited")
	}

	off := newFixture(t, nil)
	for p := range off.api.Routes() {
		if strings.HasPrefix(p, "GET /debug/") || strings.HasPrefix(p, "POST /debug/") {
			t.Errorf("with Pprof off, Routes has %s", p)
		}
	}
	if r := off.do(t, "GET", "/debug/pprof/", "admin", ""); r.status != http.StatusNotFound {
		t.Errorf("with Pprof off: %d", r.status)
	}
}
