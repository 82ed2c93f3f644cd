package incident

import (
	"context"
	"slices"
	"strings"
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
		Opened: true, T: t, Value: v, Score: 0.9, Peak: 0.9, PeakValue: v, Expected: 40, Lower: 30, Upper: 50, Since: t}
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

// TestSilencedIncidentCardFollowsSilenceAndResolution checks that silencing an incident that
// was reported reports the silence, so its card shows it, and that its resolution is reported
// while routine updates stay muted.
func TestSilencedIncidentCardFollowsSilenceAndResolution(t *testing.T) {
	ctx := context.Background()
	m, r := newManager(t)
	t0 := time.Date(2026, 11, 25, 10, 0, 0, 0, time.UTC)
	inc, _, _ := m.FromAnomaly(ctx, anomaly(97, t0))
	s, err := m.SilenceIncident(ctx, inc.ID, time.Hour, "alice")
	if err != nil {
		t.Fatal(err)
	}
	if got, _ := m.Get(ctx, inc.ID); got.Silenced != s.ID || got.Unreported {
		t.Fatalf("silenced: %+v", got)
	}
	m.FromAnomaly(ctx, anomaly(99, t0.Add(time.Minute)))
	res, c, _ := m.FromRecovery(ctx, detector.Recovery{Check: "cpu", Labels: map[string]string{"asg": "web-asg"}, T: t0.Add(5 * time.Minute)})
	if c != Resolved || res.State != StateResolved || res.Silenced != s.ID {
		t.Fatalf("resolve: %+v %v", res, c)
	}
	want := []string{"opened " + inc.ID, "updated " + inc.ID, "resolved " + inc.ID}
	if !slices.Equal(r.changes, want) {
		t.Fatalf("changes %v, want %v", r.changes, want)
	}
}

// TestSilenceMatchingReportedIncidentIsReported checks that a silence made from matchers reaches
// the card of an open incident it comes to cover: the update that silences it is reported, the
// next ones are not.
func TestSilenceMatchingReportedIncidentIsReported(t *testing.T) {
	ctx := context.Background()
	m, r := newManager(t)
	t0 := time.Date(2026, 11, 25, 10, 0, 0, 0, time.UTC)
	inc, _, _ := m.FromAnomaly(ctx, anomaly(97, t0))
	s, err := m.AddSilence(ctx, map[string]string{"asg": "web-asg"}, time.Hour, "alice", "")
	if err != nil {
		t.Fatal(err)
	}
	for i := 1; i <= 3; i++ {
		if upd, _, _ := m.FromAnomaly(ctx, anomaly(97+float64(i), t0.Add(time.Duration(i)*time.Minute))); upd.Silenced != s.ID {
			t.Fatalf("update %d not silenced: %+v", i, upd)
		}
	}
	want := []string{"opened " + inc.ID, "updated " + inc.ID}
	if !slices.Equal(r.changes, want) {
		t.Fatalf("changes %v, want %v", r.changes, want)
	}
}

// TestIncidentOpenedSilencedStaysQuiet checks that an incident silenced before it was ever
// reported reports nothing, its resolution included, and is reported as usual once its silence
// has ended.
func TestIncidentOpenedSilencedStaysQuiet(t *testing.T) {
	ctx := context.Background()
	m, r := newManager(t)
	t0 := time.Date(2026, 11, 25, 10, 0, 0, 0, time.UTC)
	recovery := detector.Recovery{Check: "cpu", Labels: map[string]string{"asg": "web-asg"}, T: t0.Add(5 * time.Minute)}
	s, err := m.AddSilence(ctx, map[string]string{CheckMatcher: "cpu"}, time.Hour, "alice", "")
	if err != nil {
		t.Fatal(err)
	}
	inc, c, _ := m.FromAnomaly(ctx, anomaly(97, t0))
	if c != Opened || inc.Silenced != s.ID || !inc.Unreported {
		t.Fatalf("open: %+v %v", inc, c)
	}
	m.FromAnomaly(ctx, anomaly(98, t0.Add(time.Minute)))
	if _, err := m.SilenceIncident(ctx, inc.ID, time.Hour, "bob"); err != nil {
		t.Fatal(err)
	}
	if res, c, _ := m.FromRecovery(ctx, recovery); c != Resolved || !res.Unreported {
		t.Fatalf("resolve: %+v %v", res, c)
	}
	if len(r.changes) != 0 {
		t.Fatalf("an incident that opened silenced reported %v", r.changes)
	}

	// Once the silence has ended, the next change is reported and so is the resolution.
	again, _, _ := m.FromAnomaly(ctx, anomaly(97, t0.Add(time.Hour)))
	for _, s := range mustSilences(t, m) {
		if err := m.Unsilence(ctx, s.ID); err != nil {
			t.Fatal(err)
		}
	}
	upd, c, _ := m.FromAnomaly(ctx, anomaly(98, t0.Add(time.Hour+time.Minute)))
	if c != Updated || upd.ID != again.ID || upd.Silenced != "" || upd.Unreported {
		t.Fatalf("after the silence: %+v %v", upd, c)
	}
	recovery.T = t0.Add(2 * time.Hour)
	m.FromRecovery(ctx, recovery)
	want := []string{"updated " + again.ID, "resolved " + again.ID}
	if !slices.Equal(r.changes, want) {
		t.Fatalf("changes %v, want %v", r.changes, want)
	}
}

func mustSilences(t *testing.T, m *Manager) []Silence {
	t.Helper()
	ss, err := m.Silences(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	return ss
}

// TestSilenceFromIncidentWithCheckLabel checks that "silence incident" covers its own incident
// when the series has a "check" label of its own, and describes the silence readably.
func TestSilenceFromIncidentWithCheckLabel(t *testing.T) {
	ctx := context.Background()
	m, _ := newManager(t)
	t0 := time.Date(2026, 11, 25, 10, 0, 0, 0, time.UTC)
	a := anomaly(97, t0)
	a.Check = "probes"
	a.Labels = map[string]string{"check": "login-page", "instance": "x"}
	inc, _, _ := m.FromAnomaly(ctx, a)
	s, err := m.SilenceIncident(ctx, inc.ID, time.Hour, "alice")
	if err != nil {
		t.Fatal(err)
	}
	if want := `check "probes" {check="login-page",instance="x"} until`; !strings.Contains(s.String(), want) {
		t.Fatalf("silence reads %q, want it to contain %q", s, want)
	}
	a.T = t0.Add(time.Minute)
	again, _, _ := m.FromAnomaly(ctx, a)
	if again.Silenced != s.ID {
		t.Fatalf("silence made from incident %s does not match it; the next update un-silenced it: %+v", inc.ID, again)
	}
	// Another check's series with the same labels is not silenced.
	a.Check = "latency"
	if other, _, _ := m.FromAnomaly(ctx, a); other.Silenced != "" {
		t.Fatalf("silence of check probes muted check latency: %+v", other)
	}
}

// TestSilenceMatchers checks the matcher keys, including the "check" key that stored silences
// made from incidents still use.
func TestSilenceMatchers(t *testing.T) {
	plain := map[string]string{"asg": "web-asg"}
	probe := map[string]string{"check": "login-page", "instance": "x"}
	for _, c := range []struct {
		matchers map[string]string
		labels   map[string]string
		check    string
		want     bool
	}{
		{map[string]string{"asg": "web-asg"}, plain, "cpu", true},
		{map[string]string{"asg": "db-asg"}, plain, "cpu", false},
		{map[string]string{}, plain, "cpu", false},
		{map[string]string{CheckMatcher: "cpu", "asg": "web-asg"}, plain, "cpu", true},
		{map[string]string{CheckMatcher: "mem", "asg": "web-asg"}, plain, "cpu", false},
		{map[string]string{CheckMatcher: "probes", "check": "login-page", "instance": "x"}, probe, "probes", true},
		{map[string]string{CheckMatcher: "probes", "check": "login-page", "instance": "x"}, probe, "latency", false},
		// The old key: the series' own label wins, else the check name.
		{map[string]string{"check": "cpu", "asg": "web-asg"}, plain, "cpu", true},
		{map[string]string{"check": "mem", "asg": "web-asg"}, plain, "cpu", false},
		{map[string]string{"check": "login-page", "instance": "x"}, probe, "probes", true},
		{map[string]string{"check": "probes", "instance": "x"}, probe, "probes", false},
	} {
		if got := (Silence{Matchers: c.matchers}).matches(c.labels, c.check); got != c.want {
			t.Errorf("%v matches %v of check %s = %v, want %v", c.matchers, c.labels, c.check, got, c.want)
		}
	}
}

// TestStoredSilenceWithCheckKeyStillMatches checks that a silence stored with the "check" key,
// as "silence incident" made them before CheckMatcher, still mutes its incident, and reads as
// it did.
func TestStoredSilenceWithCheckKeyStillMatches(t *testing.T) {
	ctx := context.Background()
	st := store.NewMemory()
	m, err := New(Options{Store: st})
	if err != nil {
		t.Fatal(err)
	}
	now := time.Now().UTC()
	old := []byte(`{"id":"s-0a0b0c","matchers":{"asg":"web-asg","check":"cpu"},"starts_at":"` + now.Format(time.RFC3339) +
		`","ends_at":"` + now.Add(time.Hour).Format(time.RFC3339) + `","created_by":"alice","comment":"silenced from incident inc-000000"}`)
	if _, err := st.Put(ctx, silencePrefix+"s-0a0b0c", old); err != nil {
		t.Fatal(err)
	}
	inc, _, err := m.FromAnomaly(ctx, anomaly(97, now))
	if err != nil || inc.Silenced != "s-0a0b0c" {
		t.Fatalf("stored silence does not match: %+v %v", inc, err)
	}
	ss := mustSilences(t, m)
	if len(ss) != 1 || !strings.HasPrefix(ss[0].String(), `s-0a0b0c {asg="web-asg",check="cpu"} until `) {
		t.Fatalf("silences: %v", ss)
	}
}
