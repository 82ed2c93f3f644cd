package commands

import (
	"context"
	"fmt"
	"strings"
	"testing"

	"github.com/smartcloudops/smartcloudops/detector"
	"github.com/smartcloudops/smartcloudops/remediation"
)

// TestListsShowTheNewest: `incidents` and `proposals` show the newest listShown, newest first,
// and say where the rest are; a list that fits says nothing more.
func TestListsShowTheNewest(t *testing.T) {
	r, _ := newRouter(t)
	ctx := context.Background()
	var incs, props []string
	for i := range listShown + 5 {
		inc, _, err := r.o.Incidents.FromAnomaly(ctx, detector.Anomaly{Check: "cpu", Opened: true, Labels: map[string]string{"host": fmt.Sprintf("h%02d", i)},
			Value: 95, Score: 0.9, Expected: 40, Lower: 30, Upper: 50})
		if err != nil {
			t.Fatal(err)
		}
		incs = append(incs, inc.ID)
		p, err := r.o.Proposals.Propose(ctx, remediation.Request{Action: "echo", Params: map[string]any{"msg": fmt.Sprint(i)}, Requester: remediation.Actor{ID: "rule:x"}})
		if err != nil {
			t.Fatal(err)
		}
		props = append(props, p.ID)
	}
	for _, c := range []struct {
		line, more string
		ids        []string
	}{
		{"incidents", "(the newest 30; GET /api/v1/incidents?state=open lists every one)", incs},
		{"incidents all", "(the newest 30; GET /api/v1/incidents?state=all lists every one)", incs},
		{"proposals", "(the newest 30; GET /api/v1/proposals?state=pending lists every one)", props},
		{"proposals all", "(the newest 30; GET /api/v1/proposals?state=all lists every one)", props},
	} {
		lines := strings.Split(say(r, "bob", c.line).Text, "\n")
		if len(lines) != listShown+1 || lines[listShown] != c.more {
			t.Errorf("%s: %d lines, the last %q", c.line, len(lines), lines[len(lines)-1])
			continue
		}
		// The newest first: the reverse of the order they were made in.
		for i, l := range lines[:listShown] {
			if want := c.ids[len(c.ids)-1-i]; !strings.HasPrefix(l, want+"  ") {
				t.Errorf("%s: line %d is %q, want %s", c.line, i, l, want)
			}
		}
	}

	// Five resolved: the open ones fit, and nothing more is said.
	for i := range 5 {
		if _, _, err := r.o.Incidents.FromRecovery(ctx, detector.Recovery{Check: "cpu", Labels: map[string]string{"host": fmt.Sprintf("h%02d", i)}}); err != nil {
			t.Fatal(err)
		}
	}
	if lines := strings.Split(say(r, "bob", "incidents").Text, "\n"); len(lines) != listShown || strings.HasPrefix(lines[listShown-1], "(") {
		t.Errorf("incidents: %d lines, the last %q", len(lines), lines[len(lines)-1])
	}
}
