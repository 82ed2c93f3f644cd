package app

import (
	"bytes"
	"context"
	"slices"
	"testing"
	"time"

	"github.com/smartcloudops/smartcloudops/alertmanager"
	"github.com/smartcloudops/smartcloudops/incident"
)

// TestAlertProposalListedWithoutRewritingItsIncident: the proposal an alert makes is listed on
// its incident from the proposals' index, so the incident is written once, when the notification
// opens it; a refusal the rule left on the incident earlier is cleared when it proposes.
func TestAlertProposalListedWithoutRewritingItsIncident(t *testing.T) {
	ctx := context.Background()
	b, st := alertRuleBot(t)
	at := time.Now().Add(-time.Minute)
	alert := func(instance string) alertmanager.Alert {
		return alertmanager.Alert{Status: "firing", Labels: map[string]string{"alertname": "HostHighCpu", "instance": instance},
			StartsAt: at, Fingerprint: instance}
	}
	m := &alertmanager.Message{Version: "4", GroupKey: "{}:{alertname=\"HostHighCpu\"}", Status: "firing",
		CommonLabels: map[string]string{"alertname": "HostHighCpu"}, Alerts: []alertmanager.Alert{alert("web-1")}}
	if err := b.processAlerts(ctx, []alertmanager.Entry{{Key: "alertmanager/inbox/00000000000000000001-test-0000000001", Message: m}}); err != nil {
		t.Fatal(err)
	}
	ps, err := b.Proposals.List(ctx)
	if err != nil || len(ps) != 1 {
		t.Fatalf("proposals: %+v (%v), want one", ps, err)
	}
	id := ps[0].Incident
	kv, err := st.Get(ctx, incident.StorePrefix+id)
	if err != nil {
		t.Fatal(err)
	}
	if bytes.Contains(kv.Value, []byte(`"proposals"`)) {
		t.Fatalf("the incident was rewritten to link its proposal: %s", kv.Value)
	}
	inc, err := b.Incidents.Get(ctx, id)
	if err != nil || !slices.Equal(inc.Proposals, []string{ps[0].ID}) {
		t.Fatalf("incident proposals %v (%v), want [%s]", inc.Proposals, err, ps[0].ID)
	}

	// The rule could not propose once; its next proposal clears the reason, not another rule's.
	if _, err := b.Incidents.Update(ctx, id, func(i *incident.Incident) {
		i.Refusals = []incident.Refusal{{Rule: "scale-on-alert", Reason: "no answer", Retry: true}, {Rule: "other", Reason: "not found"}}
	}); err != nil {
		t.Fatal(err)
	}
	m.Alerts = append(m.Alerts, alert("web-2"))
	if err := b.processAlerts(ctx, []alertmanager.Entry{{Key: "alertmanager/inbox/00000000000000000002-test-0000000002", Message: m}}); err != nil {
		t.Fatal(err)
	}
	inc, err = b.Incidents.Get(ctx, id)
	if err != nil || len(inc.Proposals) != 2 || len(inc.Refusals) != 1 || inc.Refusals[0].Rule != "other" {
		t.Fatalf("after the second proposal: proposals %v, refusals %+v (%v); want two, and only other's refusal", inc.Proposals, inc.Refusals, err)
	}
}
