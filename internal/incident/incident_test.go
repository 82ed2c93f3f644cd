package incident

import (
	"context"
	"testing"
	"time"

	"github.com/smartcloudops/smartcloudops/detector"
	"github.com/smartcloudops/smartcloudops/internal/store"
)

type recorder struct{ changes []string }

func newManager(t *testing.T) (*Manager, *recorder) {
	t.Helper()
	r := &recorder{}
	m, err := New(Options{Store: store.NewMemory(), OnChange: func(_ context.Context, inc Incident, c Change) {
		r.changes = append(r.changes, c.String()+" "+inc.ID)
	}})
	if err != nil {
		t.Fatal(err)
	}
	return m, r
}

func anomaly(v float64, t time.Time) detector.Anomaly {
	return detector.Anomaly{Check: "cpu", Severity: "critical", Labels: map[string]string{"asg": "web-asg"},
		T: t, Value: v, Score: 0.9, Expected: 40, Lower: 30, Upper: 50, Since: t}
}

func TestAnomalyRepeatsUpdateOneIncident(t *testing.T) {
	ctx := context.Background()
	m, r := newManager(t)
	t0 := time.Date(2026, 11, 25, 10, 0, 0, 0, time.UTC)
	a, c, err := m.FromAnomaly(ctx, anomaly(97, t0))
	if err != nil || c != Opened || a.Title != "cpu above the expected band on asg=web-asg" {
		t.Fatalf("open: %+v %v %v", a, c, err)
	}
	b, c, _ := m.FromAnomaly(ctx, anomaly(98, t0.Add(time.Minute)))
	if c != Updated || b.ID != a.ID || b.Value != 98 || b.Updates != 1 {
		t.Fatalf("repeat: %+v %v", b, c)
	}
	res, c, _ := m.FromRecovery(ctx, detector.Recovery{Check: "cpu", Labels: map[string]string{"asg": "web-asg"}, T: t0.Add(5 * time.Minute)})
	if c != Resolved || res.ID != a.ID || res.State != StateResolved {
		t.Fatalf("resolve: %+v %v", res, c)
	}
	if _, c, _ := m.FromRecovery(ctx, detector.Recovery{Check: "cpu", Labels: map[string]string{"asg": "web-asg"}}); c != 0 {
		t.Fatal("resolved twice")
	}
	again, c, _ := m.FromAnomaly(ctx, anomaly(99, t0.Add(time.Hour)))
	if c != Opened || again.ID == a.ID {
		t.Fatalf("a new span opens a new incident: %+v %v", again, c)
	}
	open, _ := m.List(ctx, false)
	all, _ := m.List(ctx, true)
	if len(open) != 1 || len(all) != 2 || len(r.changes) != 4 {
		t.Fatalf("open %d all %d changes %v", len(open), len(all), r.changes)
	}
}

func TestAlertGroupsDeduplicateAndResolve(t *testing.T) {
	ctx := context.Background()
	m, r := newManager(t)
	start := time.Date(2026, 11, 25, 10, 0, 0, 0, time.UTC)
	g := AlertGroup{GroupKey: `{}:{alertname="HostHighCpu"}`, Status: "firing",
		GroupLabels:  map[string]string{"alertname": "HostHighCpu"},
		CommonLabels: map[string]string{"alertname": "HostHighCpu", "severity": "critical"},
		Alerts:       []Alert{{Fingerprint: "a1", Status: "firing", Labels: map[string]string{"instance": "web-1"}, StartsAt: start}}}
	inc, c, err := m.FromAlertGroup(ctx, g)
	if err != nil || c != Opened || inc.Severity != "critical" || inc.Title != "HostHighCpu: 1 of 1 firing" {
		t.Fatalf("open: %+v %v %v", inc, c, err)
	}
	if _, c, _ := m.FromAlertGroup(ctx, g); c != 0 {
		t.Fatalf("a redelivery changed the incident: %v", c)
	}
	g.Alerts = append(g.Alerts, Alert{Fingerprint: "a2", Status: "firing", StartsAt: start})
	if inc, c, _ = m.FromAlertGroup(ctx, g); c != Updated || len(inc.Alerts) != 2 {
		t.Fatalf("second alert: %+v %v", inc, c)
	}
	g.Status = "resolved"
	for i := range g.Alerts {
		g.Alerts[i].Status = "resolved"
		g.Alerts[i].EndsAt = start.Add(time.Hour)
	}
	if inc, c, _ = m.FromAlertGroup(ctx, g); c != Resolved || inc.State != StateResolved {
		t.Fatalf("resolve: %+v %v", inc, c)
	}
	if _, c, _ := m.FromAlertGroup(ctx, g); c != 0 {
		t.Fatal("a redelivered resolution reopened the incident")
	}
	if len(r.changes) != 3 {
		t.Fatalf("changes: %v", r.changes)
	}
}

func TestSilenceMutesAnomalies(t *testing.T) {
	ctx := context.Background()
	m, r := newManager(t)
	now := time.Now()
	inc, _, _ := m.FromAnomaly(ctx, anomaly(97, now))
	s, err := m.SilenceIncident(ctx, inc.ID, time.Hour, "console:alice")
	if err != nil {
		t.Fatal(err)
	}
	before := len(r.changes)
	upd, _, _ := m.FromAnomaly(ctx, anomaly(99, now.Add(time.Minute)))
	if upd.Silenced != s.ID || len(r.changes) != before {
		t.Fatalf("silenced incident notified: %+v %v", upd, r.changes)
	}
	ss, _ := m.Silences(ctx)
	if len(ss) != 1 {
		t.Fatalf("silences: %v", ss)
	}
	if err := m.Unsilence(ctx, s.ID); err != nil {
		t.Fatal(err)
	}
	if err := m.Unsilence(ctx, s.ID); err == nil {
		t.Fatal("unsilenced twice")
	}
	m.FromAnomaly(ctx, anomaly(99, now.Add(2*time.Minute)))
	if len(r.changes) != before+1 {
		t.Fatal("no notification after unsilence")
	}
}

// TestStaleRecoveryResolvesWithReason checks that a series forgotten while anomalous resolves
// its incident and says why, while an ordinary recovery leaves the resolution empty.
func TestStaleRecoveryResolvesWithReason(t *testing.T) {
	ctx := context.Background()
	m, _ := newManager(t)
	t0 := time.Date(2026, 11, 25, 10, 0, 0, 0, time.UTC)
	m.FromAnomaly(ctx, anomaly(97, t0))
	res, c, err := m.FromRecovery(ctx, detector.Recovery{Check: "cpu", Labels: map[string]string{"asg": "web-asg"}, T: t0.Add(7 * 24 * time.Hour), Stale: true})
	if err != nil || c != Resolved || res.Resolution != ResolutionStale || !res.ResolvedAt.Equal(t0.Add(7*24*time.Hour)) {
		t.Fatalf("stale recovery: %+v %v %v", res, c, err)
	}
	m.FromAnomaly(ctx, anomaly(97, t0.Add(8*24*time.Hour)))
	res, _, _ = m.FromRecovery(ctx, detector.Recovery{Check: "cpu", Labels: map[string]string{"asg": "web-asg"}, T: t0.Add(9 * 24 * time.Hour)})
	if res.State != StateResolved || res.Resolution != "" {
		t.Fatalf("ordinary recovery: %+v", res)
	}
}
