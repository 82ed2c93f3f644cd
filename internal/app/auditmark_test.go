package app

import (
	"context"
	"testing"
	"time"

	"github.com/smartcloudops/smartcloudops/alertmanager"
	"github.com/smartcloudops/smartcloudops/incident"
	"github.com/smartcloudops/smartcloudops/remediation/audit"
)

// TestAlertRoundCutBeforeItsAuditRecord: a round that recorded its incident change and stopped
// before the change's audit record was in (a kill -9 between the two transactions) writes the
// record when the round is processed again, once; a round that stopped after the record was in
// does not write it again.
func TestAlertRoundCutBeforeItsAuditRecord(t *testing.T) {
	ctx := context.Background()
	b, st := alertRuleBot(t)
	message := func(group, status string) *alertmanager.Message {
		return &alertmanager.Message{Version: "4", GroupKey: group, Status: status,
			CommonLabels: map[string]string{"alertname": "DiskFull"},
			Alerts: []alertmanager.Alert{{Status: status, Labels: map[string]string{"alertname": "DiskFull"},
				StartsAt: time.Now().Add(-time.Minute), Fingerprint: "fp-" + group}}}
	}
	opened := func(id string) int {
		t.Helper()
		recs, err := b.Audit.List(ctx, audit.Filter{})
		if err != nil {
			t.Fatal(err)
		}
		n := 0
		for _, r := range recs {
			if r.Incident == id && r.Kind == "incident.opened" {
				n++
			}
		}
		return n
	}
	// Cut before the record: the incident change and its mark are written, the record is not.
	cut := alertmanager.Entry{Key: "alertmanager/inbox/00000000000000000001-test-0000000001", Message: message("g1", "firing")}
	res, err := b.Incidents.ApplyAlertGroups(context.WithValue(ctx, auditBatchKey{}, &auditBatch{}), []incident.AlertGroup{alertGroupOf(cut)})
	if err != nil || !res[0].Changed || res[0].Audited != incident.Opened {
		t.Fatalf("ApplyAlertGroups: %+v, %v", res, err)
	}
	id := res[0].Incident.ID
	if n := opened(id); n != 0 {
		t.Fatalf("%d records before the round is processed again", n)
	}
	for range 2 { // processed again, then delivered again
		if err := b.processAlerts(ctx, []alertmanager.Entry{cut}); err != nil {
			t.Fatal(err)
		}
		if n := opened(id); n != 1 {
			t.Fatalf("incident.opened of %s written %d times, want once", id, n)
		}
	}

	// Cut after the record: the change, its mark and its record are in, the rules did not run.
	after := alertmanager.Entry{Key: "alertmanager/inbox/00000000000000000002-test-0000000002", Message: message("g2", "firing")}
	res, err = b.recordAlertGroups(ctx, []alertmanager.Entry{after})
	if err != nil || !res[0].Changed {
		t.Fatalf("recordAlertGroups: %+v, %v", res, err)
	}
	id2 := res[0].Incident.ID
	kv, err := st.Get(ctx, markPrefix+after.Key)
	if err != nil || string(kv.Value) != id2 {
		t.Fatalf("mark after the record: %q (%v), want the incident's ID alone", kv.Value, err)
	}
	for range 2 {
		if err := b.processAlerts(ctx, []alertmanager.Entry{after}); err != nil {
			t.Fatal(err)
		}
		if n := opened(id2); n != 1 {
			t.Fatalf("incident.opened of %s written %d times, want once", id2, n)
		}
	}
	if n, err := b.Audit.Verify(ctx); err != nil || n == 0 {
		t.Fatalf("Verify: %d records, %v", n, err)
	}
}

// TestParseMark reads the marks this release writes and those of the one before, which held the
// incident's ID alone.
func TestParseMark(t *testing.T) {
	for _, tc := range []struct {
		in   string
		id   string
		want incident.Change
	}{
		{"inc-1", "inc-1", 0},
		{"inc-1\nopened", "inc-1", incident.Opened},
		{"inc-1\nresolved", "inc-1", incident.Resolved},
		{"inc-1\nupdated", "inc-1", 0},
		{"inc-1\nnonsense", "inc-1", 0},
	} {
		id, c := incident.ParseMark([]byte(tc.in))
		if id != tc.id || c != tc.want {
			t.Errorf("ParseMark(%q) = %q, %v; want %q, %v", tc.in, id, c, tc.id, tc.want)
		}
	}
}
