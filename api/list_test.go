package api

import (
	"net/http"
	"net/url"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/smartcloudops/smartcloudops/incident"
	"github.com/smartcloudops/smartcloudops/remediation"
	"github.com/smartcloudops/smartcloudops/remediation/audit"
)

// pages follows next_cursor from path until the last page and returns the IDs in order.
func pages[T any](t *testing.T, f *fixture, path string, id func(T) string) ([]string, int) {
	t.Helper()
	var ids []string
	n := 0
	cursor := ""
	for n = 1; n <= 1100; n++ {
		p := path
		if cursor != "" {
			p += "&cursor=" + url.QueryEscape(cursor)
		}
		r := f.do(t, "GET", p, "viewer", "")
		if r.status != http.StatusOK {
			t.Fatalf("%s: %d %s", p, r.status, r.body)
		}
		var l list[T]
		r.decode(t, &l)
		for _, it := range l.Items {
			ids = append(ids, id(it))
		}
		if l.NextCursor == "" {
			return ids, n
		}
		cursor = l.NextCursor
	}
	t.Fatalf("%s: more than 1,100 pages", path)
	return nil, 0
}

func TestPagination(t *testing.T) {
	f := newFixture(t, nil)
	var want []string
	for range 7 {
		p := f.propose(t, remediation.Policy{})
		want = append(want, p.ID)
		f.clock.Add(time.Second)
	}
	slices.Reverse(want) // newest first
	got, n := pages(t, f, "/api/v1/proposals?state=all&limit=3", func(p remediation.Proposal) string { return p.ID })
	if !slices.Equal(got, want) || n != 3 {
		t.Fatalf("proposals in %d pages: %v, want %v", n, got, want)
	}
	if got, n = pages(t, f, "/api/v1/proposals?state=pending&limit=7", func(p remediation.Proposal) string { return p.ID }); len(got) != 7 || n != 1 {
		t.Fatalf("one full page: %d items in %d pages", len(got), n)
	}

	// A cursor stays valid when items are added before it: the next page continues after it.
	r := f.do(t, "GET", "/api/v1/proposals?state=all&limit=2", "viewer", "")
	var first list[remediation.Proposal]
	r.decode(t, &first)
	f.propose(t, remediation.Policy{})
	r = f.do(t, "GET", "/api/v1/proposals?state=all&limit=2&cursor="+first.NextCursor, "viewer", "")
	var second list[remediation.Proposal]
	r.decode(t, &second)
	if len(second.Items) != 2 || second.Items[0].ID != want[2] {
		t.Fatalf("second page after an insert: %+v", second.Items)
	}

	// Audit records page oldest first, by sequence.
	seqs, _ := pages(t, f, "/api/v1/audit?limit=4", func(r audit.Record) string { return r.Kind })
	if len(seqs) != 8 {
		t.Fatalf("audit: %d records, want 8 proposal.created", len(seqs))
	}
	// Rules page by name.
	names, n := pages(t, f, "/api/v1/rules?limit=1", func(r ruleView) string { return r.Name })
	if !slices.Equal(names, []string{"disk-full", "web-cpu-high"}) || n != 2 {
		t.Fatalf("rules: %v in %d pages", names, n)
	}

	for _, q := range []string{"limit=0", "limit=501", "limit=ten", "cursor=***", "cursor=bm90LW91cnM"} {
		if r := f.do(t, "GET", "/api/v1/proposals?"+q, "viewer", ""); r.status != http.StatusBadRequest || r.errorCode() != CodeBadRequest {
			t.Errorf("%s: %d %s", q, r.status, r.body)
		}
	}
	if r := f.do(t, "GET", "/api/v1/proposals?limit=500", "viewer", ""); r.status != http.StatusOK {
		t.Errorf("limit=500: %d", r.status)
	}
}

func TestListFilters(t *testing.T) {
	f := newFixture(t, nil)
	inc := f.openIncident(t)
	am, _, err := f.inc.FromAlertGroup(t.Context(), incident.AlertGroup{GroupKey: "{}:{alertname=\"Down\"}", Status: "firing",
		GroupLabels: map[string]string{"alertname": "Down"}, CommonLabels: map[string]string{"alertname": "Down"},
		Alerts: []incident.Alert{{Fingerprint: "a1", Status: "firing", Labels: map[string]string{"alertname": "Down"}, StartsAt: t0}}})
	if err != nil {
		t.Fatal(err)
	}
	if _, _, err := f.inc.FromAlertGroup(t.Context(), incident.AlertGroup{GroupKey: am.GroupKey, Status: "resolved",
		Alerts: []incident.Alert{{Fingerprint: "a1", Status: "resolved", Labels: map[string]string{"alertname": "Down"}, StartsAt: t0, EndsAt: t0}}}); err != nil {
		t.Fatal(err)
	}
	id := func(i incident.Incident) string { return i.ID }
	for q, want := range map[string][]string{"": {inc.ID}, "?state=open": {inc.ID}, "?state=resolved": {am.ID}} {
		if got, _ := pages(t, f, "/api/v1/incidents"+q+map[bool]string{true: "?", false: "&"}[q == ""]+"limit=10", id); !slices.Equal(got, want) {
			t.Errorf("incidents%s: %v, want %v", q, got, want)
		}
	}
	if got, _ := pages(t, f, "/api/v1/incidents?state=all", id); len(got) != 2 {
		t.Errorf("all incidents: %v", got)
	}
	if r := f.do(t, "GET", "/api/v1/incidents?state=closed", "viewer", ""); r.status != http.StatusBadRequest {
		t.Errorf("bad state: %d", r.status)
	}
	if r := f.do(t, "GET", "/api/v1/incidents/inc-none", "viewer", ""); r.status != http.StatusNotFound || r.errorCode() != CodeNotFound {
		t.Errorf("unknown incident: %d %s", r.status, r.body)
	}

	// Proposals by state, several at once.
	a := f.propose(t, remediation.Policy{})
	b := f.propose(t, remediation.Policy{})
	if _, err := f.mg.Reject(t.Context(), b.ID, ruleActor, "no"); err != nil {
		t.Fatal(err)
	}
	pid := func(p remediation.Proposal) string { return p.ID }
	for q, want := range map[string]int{"": 1, "?state=pending": 1, "?state=rejected": 1, "?state=pending,rejected": 2, "?state=all": 2, "?state=failed": 0} {
		if got, _ := pages(t, f, "/api/v1/proposals"+q, pid); len(got) != want {
			t.Errorf("proposals%s: %v, want %d", q, got, want)
		}
	}
	if got, _ := pages(t, f, "/api/v1/proposals?state=pending", pid); got[0] != a.ID {
		t.Errorf("pending: %v", got)
	}
	if r := f.do(t, "GET", "/api/v1/proposals?state=done", "viewer", ""); r.status != http.StatusBadRequest {
		t.Errorf("bad state: %d", r.status)
	}
	if r := f.do(t, "GET", "/api/v1/proposals/p-none", "viewer", ""); r.status != http.StatusNotFound {
		t.Errorf("unknown proposal: %d", r.status)
	}

	// Audit since a time or a duration, and by proposal.
	kind := func(r audit.Record) string { return r.Kind + " " + r.Proposal }
	f.clock.Add(2 * time.Hour)
	c := f.propose(t, remediation.Policy{})
	for q, want := range map[string]int{"?since=1h": 1, "?since=3h": 4, "?since=" + url.QueryEscape(t0.Add(time.Hour).Format(time.RFC3339)): 1, "?proposal=" + b.ID: 2, "": 4} {
		if got, _ := pages(t, f, "/api/v1/audit"+q, kind); len(got) != want {
			t.Errorf("audit%s: %v, want %d records", q, got, want)
		}
	}
	_ = c
	for _, q := range []string{"since=yesterday", "since=-1h", "since=2026-13-01"} {
		if r := f.do(t, "GET", "/api/v1/audit?"+q, "viewer", ""); r.status != http.StatusBadRequest {
			t.Errorf("%s: %d", q, r.status)
		}
	}
}

func TestRulesAndAnomalies(t *testing.T) {
	f := newFixture(t, nil)
	r := f.do(t, "GET", "/api/v1/rules/web-cpu-high", "viewer", "")
	var rv ruleView
	r.decode(t, &rv)
	if r.status != 200 || rv.Version != "v1" || !rv.Enabled || rv.Source != "name: web-cpu-high" {
		t.Fatalf("rule: %d %+v", r.status, rv)
	}
	if r := f.do(t, "GET", "/api/v1/rules/nope", "viewer", ""); r.status != http.StatusNotFound {
		t.Fatalf("unknown rule: %d", r.status)
	}

	if got, _ := pages(t, f, "/api/v1/anomalies?limit=5", func(a anomalyView) string { return a.Incident }); len(got) != 0 {
		t.Fatalf("anomalies before any incident: %v", got)
	}
	inc := f.openIncident(t)
	r = f.do(t, "GET", "/api/v1/anomalies?check=cpu", "viewer", "")
	var l list[anomalyView]
	r.decode(t, &l)
	want := anomalyView{Check: "cpu", Incident: inc.ID, Value: 93, Expected: 41, Band: band{31, 51}, Score: 0.99, Since: t0.Add(-3 * time.Minute), At: t0}
	if len(l.Items) != 1 {
		t.Fatalf("anomalies: %s", r.body)
	}
	got := l.Items[0]
	if got.Check != want.Check || got.Incident != want.Incident || got.Value != want.Value || got.Expected != want.Expected ||
		got.Band != want.Band || got.Score != want.Score || !got.Since.Equal(want.Since) || !got.At.Equal(want.At) || got.Labels["host"] != "web-1" {
		t.Fatalf("anomaly %+v, want the detector's latest point %+v", got, want)
	}
	if r := f.do(t, "GET", "/api/v1/anomalies?check=disk", "viewer", ""); r.status != http.StatusNotFound {
		t.Fatalf("unknown check: %d %s", r.status, r.body)
	}

	// Without a detector the incident's own evidence is shown.
	g := newFixture(t, func(o *Options) { o.Detector, o.Rules = nil, nil })
	inc = g.openIncident(t)
	r = g.do(t, "GET", "/api/v1/anomalies", "viewer", "")
	l = list[anomalyView]{}
	r.decode(t, &l)
	if len(l.Items) != 1 || l.Items[0].Value != 91 || l.Items[0].Band != (band{30, 50}) || !l.Items[0].At.Equal(t0.Add(-time.Minute)) {
		t.Fatalf("anomalies without a detector: %s", r.body)
	}
	if r := g.do(t, "GET", "/api/v1/rules", "viewer", ""); r.status != 200 || string(r.body) != "{\"items\":[]}\n" {
		t.Fatalf("rules without a rules service: %d %s", r.status, r.body)
	}
	if r := g.do(t, "GET", "/api/v1/rules/web-cpu-high", "viewer", ""); r.status != http.StatusNotFound {
		t.Fatalf("rule without a rules service: %d", r.status)
	}
}

// TestLongIDsAreShortenedInErrors asks for things by 5,000-character names: the error names what
// was asked for by its first 64 characters, never in full.
func TestLongIDsAreShortenedInErrors(t *testing.T) {
	f := newFixture(t, nil)
	long := strings.Repeat("p", 5000)
	want := `"` + strings.Repeat("p", 64) + `"…`
	for _, c := range []struct{ method, path, body, msg string }{
		{"GET", "/api/v1/proposals/" + long, "", "no proposal " + want},
		{"GET", "/api/v1/incidents/" + long, "", "no incident " + want},
		{"GET", "/api/v1/rules/" + long, "", "no rule " + want},
		{"POST", "/api/v1/proposals/" + long + "/approve", "{}", "no proposal " + want},
		{"GET", "/api/v1/proposals?state=" + long, "", "state " + want + ": want all or any of"},
		{"GET", "/api/v1/proposals?limit=" + long, "", "limit " + want + ": want a whole number"},
	} {
		cred := "viewer"
		if c.method == "POST" {
			cred = "admin"
		}
		r := f.do(t, c.method, c.path, cred, c.body)
		var body errorBody
		r.decode(t, &body)
		if r.status < 400 || !strings.Contains(body.Error.Message, c.msg) || len(body.Error.Message) > 200 {
			t.Errorf("%s %.60s: %d %q\nwant a short error with %q", c.method, c.path, r.status, body.Error.Message, c.msg)
		}
	}
}
