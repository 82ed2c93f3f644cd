package api

import (
	"context"
	"encoding/base64"
	"fmt"
	"net/http"
	"net/url"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/smartcloudops/smartcloudops/detector"
	"github.com/smartcloudops/smartcloudops/incident"
	"github.com/smartcloudops/smartcloudops/internal/index"
	"github.com/smartcloudops/smartcloudops/remediation"
)

// openIncidents opens n incidents, ten to a tick, the clock a second on after each tick.
func (f *fixture) openIncidents(t testing.TB, n int) []incident.Incident {
	t.Helper()
	var out []incident.Incident
	for i := 0; i < n; i += 10 {
		tick := detector.Tick{Check: "cpu", T: f.clock.Now()}
		for j := i; j < min(n, i+10); j++ {
			tick.Events = append(tick.Events, detector.Event{Anomaly: &detector.Anomaly{Check: "cpu", Severity: "warning", Opened: true,
				Labels: map[string]string{"host": fmt.Sprintf("h%06d", f.hosts)}, T: f.clock.Now(), Value: 91, Score: 0.9,
				Expected: 40, Lower: 30, Upper: 50, Since: f.clock.Now()}})
			f.hosts++
		}
		got, err := f.inc.ApplyTick(context.Background(), tick)
		if err != nil {
			t.Fatal(err)
		}
		for _, inc := range got {
			out = append(out, inc)
		}
		f.clock.Add(time.Second)
	}
	return out
}

// byPosition is the IDs of items in the order of their index: newest first, then by ID.
func byPosition[T any](items []T, at func(T) (time.Time, string)) []string {
	pos := make([]string, len(items))
	for i, it := range items {
		pos[i] = index.Pos(at(it))
	}
	slices.Sort(pos)
	for i, p := range pos {
		pos[i] = p[strings.IndexByte(p, '/')+1:]
	}
	return pos
}

func incidentAt(i incident.Incident) (time.Time, string)    { return i.OpenedAt, i.ID }
func proposalAt(p remediation.Proposal) (time.Time, string) { return p.CreatedAt, p.ID }

// TestPagingEveryLimit pages through 1,000 incidents and 1,000 proposals with limits at and around
// every boundary (one, a divisor of 1,000, one either side, the most, and odd ones): each item
// once, in order, in as many pages as it takes and not one more.
func TestPagingEveryLimit(t *testing.T) {
	f := newFixture(t, nil)
	want := byPosition(f.openIncidents(t, 1000), incidentAt)
	incID := func(i incident.Incident) string { return i.ID }
	for _, limit := range []int{1, 7, 49, 50, 51, 333, 499, 500} {
		wantPages := (1000 + limit - 1) / limit
		if got, n := pages(t, f, fmt.Sprintf("/api/v1/incidents?state=all&limit=%d", limit), incID); !slices.Equal(got, want) || n != wantPages {
			t.Errorf("incidents, limit %d: %d items in %d pages, want %d in %d, newest first", limit, len(got), n, len(want), wantPages)
		}
	}
	// The default page is 50 of the open incidents.
	var l list[incident.Incident]
	f.do(t, "GET", "/api/v1/incidents", "viewer", "").decode(t, &l)
	if len(l.Items) != 50 || l.NextCursor == "" || l.Items[0].ID != want[0] {
		t.Fatalf("default page: %d items, next %q", len(l.Items), l.NextCursor)
	}

	g := newFixture(t, nil)
	var ps []remediation.Proposal
	for i := range 1000 {
		ps = append(ps, g.propose(t, remediation.Policy{}))
		if i%3 == 0 {
			g.clock.Add(time.Millisecond)
		}
	}
	want = byPosition(ps, proposalAt)
	propID := func(p remediation.Proposal) string { return p.ID }
	for _, limit := range []int{7, 49, 50, 51, 500} {
		wantPages := (1000 + limit - 1) / limit
		if got, n := pages(t, g, fmt.Sprintf("/api/v1/proposals?state=all&limit=%d", limit), propID); !slices.Equal(got, want) || n != wantPages {
			t.Errorf("proposals, limit %d: %d items in %d pages, want %d in %d", limit, len(got), n, len(want), wantPages)
		}
	}
}

// TestPagingWhileItemsChange: items added between pages sort before the cursor and are not met;
// items that change state keep their place; none of those there from the start is shown twice or
// lost.
func TestPagingWhileItemsChange(t *testing.T) {
	f := newFixture(t, nil)
	incs := f.openIncidents(t, 300)
	var ps []remediation.Proposal
	for range 300 {
		ps = append(ps, f.propose(t, remediation.Policy{}))
		f.clock.Add(time.Millisecond)
	}
	ctx := context.Background()
	changed := 0
	change := func() {
		f.openIncidents(t, 10)
		f.propose(t, remediation.Policy{})
		// Resolve and reject some that are still to come (the oldest).
		page := changed
		changed++
		inc := incs[page]
		if _, _, err := f.inc.FromRecovery(ctx, detector.Recovery{Check: "cpu", Labels: inc.Labels, T: f.clock.Now()}); err != nil {
			t.Fatal(err)
		}
		if _, err := f.mg.Reject(ctx, ps[page].ID, ruleActor, "no"); err != nil {
			t.Fatal(err)
		}
	}
	// What is there when each walk starts: the walk of incidents adds proposals too.
	allIncidents := func() []string {
		all, err := f.inc.List(ctx, true)
		if err != nil {
			t.Fatal(err)
		}
		return byPosition(all, incidentAt)
	}
	allProposals := func() []string {
		all, err := f.mg.List(ctx)
		if err != nil {
			t.Fatal(err)
		}
		return byPosition(all, proposalAt)
	}
	for _, c := range []struct {
		path string
		want func() []string
		read func(r response) ([]string, string)
	}{
		{"/api/v1/incidents?state=all&limit=37", allIncidents, func(r response) ([]string, string) {
			var l list[incident.Incident]
			r.decode(t, &l)
			var ids []string
			for _, it := range l.Items {
				ids = append(ids, it.ID)
			}
			return ids, l.NextCursor
		}},
		{"/api/v1/proposals?state=pending,rejected&limit=37", allProposals, func(r response) ([]string, string) {
			var l list[remediation.Proposal]
			r.decode(t, &l)
			var ids []string
			for _, it := range l.Items {
				ids = append(ids, it.ID)
			}
			return ids, l.NextCursor
		}},
	} {
		want := c.want()
		var got []string
		cursor := ""
		for {
			p := c.path
			if cursor != "" {
				p += "&cursor=" + url.QueryEscape(cursor)
			}
			r := f.do(t, "GET", p, "viewer", "")
			if r.status != http.StatusOK {
				t.Fatalf("%s: %d %s", p, r.status, r.body)
			}
			ids, next := c.read(r)
			got = append(got, ids...)
			if next == "" {
				break
			}
			cursor = next
			change()
		}
		if !slices.Equal(got, want) {
			t.Errorf("%s: %d items, want the %d there from the start, each once, newest first", c.path, len(got), len(want))
		}
	}
}

// TestBadCursors: a cursor this API did not give, or gave for another kind of list, is refused
// with 400, naming the cursor; a cursor of the lists before they were read from the index goes on
// where it stopped.
func TestBadCursors(t *testing.T) {
	f := newFixture(t, nil)
	incs := f.openIncidents(t, 30)
	enc := func(s string) string { return base64.RawURLEncoding.EncodeToString([]byte(s)) }
	var rules list[ruleView]
	f.do(t, "GET", "/api/v1/rules?limit=1", "viewer", "").decode(t, &rules)
	var first list[incident.Incident]
	f.do(t, "GET", "/api/v1/incidents?limit=1", "viewer", "").decode(t, &first)
	for _, c := range []struct{ path, cursor string }{
		{"/api/v1/incidents", "***"},
		{"/api/v1/incidents", enc("v1")},
		{"/api/v1/incidents", enc("t1:0123")},
		{"/api/v1/incidents", enc("t1:0123456789abcdef/a/b")},
		{"/api/v1/incidents", enc("t2:" + index.Pos(t0, "inc-1"))},
		{"/api/v1/incidents", rules.NextCursor},                                     // a rules cursor
		{"/api/v1/proposals", enc("v1:20261125T120000.000000000")},                  // no ID
		{"/api/v1/proposals", enc("v1:yesterday|p-1")},                              // no time
		{"/api/v1/rules", first.NextCursor},                                         // an incidents cursor
		{"/api/v1/audit", first.NextCursor},                                         //
		{"/api/v1/incidents", strings.Repeat("A", 5000)},                            // long: named by its head
		{"/api/v1/incidents", enc("t1:" + index.Pos(t0, strings.Repeat("x", 200)))}, // an ID too long
	} {
		r := f.do(t, "GET", c.path+"?cursor="+url.QueryEscape(c.cursor), "viewer", "")
		var body errorBody
		r.decode(t, &body)
		if r.status != http.StatusBadRequest || r.errorCode() != CodeBadRequest || !strings.HasPrefix(body.Error.Message, "cursor ") || len(body.Error.Message) > 200 {
			t.Errorf("%s cursor %.40q: %d %s", c.path, c.cursor, r.status, r.body)
		}
	}

	// A cursor of the earlier form, v1:<time>|<id>, goes on after that incident.
	want := byPosition(incs, incidentAt)
	var i10 incident.Incident
	for _, inc := range incs {
		if inc.ID == want[10] {
			i10 = inc
		}
	}
	old := enc("v1:" + i10.OpenedAt.UTC().Format(timeKeyLayout) + "|" + i10.ID)
	var l list[incident.Incident]
	r := f.do(t, "GET", "/api/v1/incidents?limit=5&cursor="+old, "viewer", "")
	r.decode(t, &l)
	if r.status != 200 || len(l.Items) != 5 || l.Items[0].ID != want[11] {
		t.Fatalf("an earlier cursor: %d %s", r.status, r.body)
	}
}
