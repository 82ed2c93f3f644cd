package app

import (
	"context"
	"errors"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/smartcloudops/smartcloudops/alertmanager"
	"github.com/smartcloudops/smartcloudops/incident"
	"github.com/smartcloudops/smartcloudops/internal/obs"
	"github.com/smartcloudops/smartcloudops/internal/store"
	"github.com/smartcloudops/smartcloudops/rules"
)

// TestReconcileResolvesSilencedAlerts: an alert that ends while silenced gets no resolved
// notification; once Alertmanager has not listed it for twice the resend interval its incident
// resolves. While Alertmanager cannot be reached, nothing is resolved.
func TestReconcileResolvesSilencedAlerts(t *testing.T) {
	ctx := context.Background()
	st := store.NewMemory()
	inc, err := incident.New(incident.Options{Store: st})
	if err != nil {
		t.Fatal(err)
	}
	eng, err := rules.NewEngine(rules.EngineOptions{Store: st, Logger: obs.Discard(), Registerer: prometheus.NewRegistry(),
		OnFire: func(context.Context, rules.Firing) error { return nil }})
	if err != nil {
		t.Fatal(err)
	}
	b := &Bot{Incidents: inc, Rules: eng, log: obs.Discard()}
	t0 := time.Date(2026, 11, 1, 10, 0, 0, 0, time.UTC)
	alert := func(fp string) incident.Alert {
		return incident.Alert{Fingerprint: fp, Status: "firing", Labels: map[string]string{"alertname": "HostHighCpu", "i": fp}, StartsAt: t0}
	}
	opened, _, err := inc.FromAlertGroup(ctx, incident.AlertGroup{GroupKey: "g1", Status: "firing",
		CommonLabels: map[string]string{"alertname": "HostHighCpu"}, Alerts: []incident.Alert{alert("a"), alert("b")}})
	if err != nil {
		t.Fatal(err)
	}
	now := t0
	listed := []alertmanager.APIAlert{{Fingerprint: "a", State: "suppressed"}, {Fingerprint: "b", State: "suppressed"}}
	var down error
	r := &reconciler{b: b, interval: time.Minute, grace: 2 * time.Minute, now: func() time.Time { return now }, seen: map[string]time.Time{},
		list: func(context.Context) ([]alertmanager.APIAlert, error) { return listed, down }}
	state := func() incident.Incident {
		got, err := inc.Get(ctx, opened.ID)
		if err != nil {
			t.Fatal(err)
		}
		return got
	}
	r.once(ctx)
	listed = listed[1:] // a ended under its silence: Alertmanager stops listing it, sends nothing
	for range 3 {
		now = now.Add(time.Minute)
		r.once(ctx)
	}
	if got := state(); got.State != incident.StateOpen || got.Alerts[0].Status != "resolved" || got.Alerts[1].Status != "firing" {
		t.Fatalf("after 3 minutes without a: %+v, want a resolved and the incident open for b", got.Alerts)
	}
	listed = nil
	down = errors.New("connection refused")
	for range 5 {
		now = now.Add(time.Minute)
		r.once(ctx)
	}
	if got := state(); got.State != incident.StateOpen {
		t.Fatal("an unreachable Alertmanager resolved the incident")
	}
	down = nil
	r.once(ctx) // b was last listed before the outage; after it, b gets its whole grace again
	if got := state(); got.State != incident.StateOpen {
		t.Fatal("the first listing after an outage resolved the incident")
	}
	now = now.Add(3 * time.Minute)
	r.once(ctx)
	got := state()
	if got.State != incident.StateResolved || got.Resolution != incident.ResolutionGone {
		t.Fatalf("incident %s %q, want resolved as %q", got.State, got.Resolution, incident.ResolutionGone)
	}
}
