package app

import (
	"context"
	"testing"
	"time"

	"github.com/smartcloudops/smartcloudops/alertmanager"
	"github.com/smartcloudops/smartcloudops/incident"
)

// TestNotificationEvaluatedOnceAcrossACrash: a notification whose incident was recorded before
// the process stopped (its mark written, its rules not yet evaluated) is evaluated when it is
// processed again, and proposes once however often it is processed.
func TestNotificationEvaluatedOnceAcrossACrash(t *testing.T) {
	ctx := context.Background()
	b, st := alertRuleBot(t)
	at := time.Now().Add(-time.Minute)
	m := &alertmanager.Message{Version: "4", GroupKey: "{}:{alertname=\"HostHighCpu\"}", Status: "firing",
		CommonLabels: map[string]string{"alertname": "HostHighCpu"},
		Alerts: []alertmanager.Alert{{Status: "firing", Labels: map[string]string{"alertname": "HostHighCpu", "instance": "web-1"},
			StartsAt: at, Fingerprint: "f1"}}}
	entry := alertmanager.Entry{Key: "alertmanager/inbox/00000000000000000001-test-0000000001", Message: m}
	// The first round recorded the incident and its mark, and the process stopped there.
	if _, err := b.Incidents.ApplyAlertGroups(ctx, []incident.AlertGroup{alertGroupOf(entry)}); err != nil {
		t.Fatal(err)
	}
	for range 3 {
		if err := b.processAlerts(ctx, []alertmanager.Entry{entry}); err != nil {
			t.Fatal(err)
		}
	}
	ps, err := b.Proposals.List(ctx)
	if err != nil || len(ps) != 1 || ps[0].Incident == "" {
		t.Fatalf("proposals after processing the notification three times: %+v (%v), want one, on its incident", ps, err)
	}
	if kvs, _ := st.List(ctx, markPrefix); len(kvs) != 0 {
		t.Fatalf("%d marks left", len(kvs))
	}
}
