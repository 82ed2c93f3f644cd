//go:build integration

package app

import (
	"context"
	"fmt"
	"net/http"
	"os"
	"path/filepath"
	"reflect"
	"regexp"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/smartcloudops/smartcloudops/alertmanager"
	"github.com/smartcloudops/smartcloudops/incident"
	"github.com/smartcloudops/smartcloudops/internal/config"
	"github.com/smartcloudops/smartcloudops/internal/testenv"
	"github.com/smartcloudops/smartcloudops/remediation"
)

// hostHighCPURule is the Prometheus alerting rule that fires at its first evaluation.
const hostHighCPURule = `groups:
  - name: smartcloudops-integration
    rules:
      - alert: HostHighCpu
        expr: vector(1)
        for: 0s
        labels:
          severity: critical
          asg: web-asg
        annotations:
          summary: CPU above 90% on web-asg
`

// scaleOnAlertRules proposes the test script for every HostHighCpu alert.
const scaleOnAlertRules = `groups:
  - name: integration
    rules:
      - name: scale-on-host-high-cpu
        description: Scale the group of a host whose CPU alert fires.
        alert: {alertname: HostHighCpu}
        severity: critical
        action:
          name: script
          params: {script: scale_up.sh, args: ['{{ .labels.asg }}', '2', '3']}
        approval: {roles: [operator], min_approvers: 1}
`

var (
	alertCardRE    = regexp.MustCompile(`=== card #(\d+) ===\n\[CRITICAL\] HostHighCpu: 1 of 1 firing\n`)
	alertPropRE    = regexp.MustCompile(`Proposal (p-[0-9a-f]+): script scale_up.sh web-asg 2 3`)
	silenceReplyRE = regexp.MustCompile(`Alertmanager silence (\S+) (?:\{[^}]*\} )?created until \S+\.`)
)

// TestIntegrationPrometheusCheck runs a check on node exporter metrics scraped by a real
// Prometheus: it ticks, stays healthy, scores its series and counts the points on /metrics. A
// second bot whose Prometheus refuses connections shows its check degraded in `status` and in
// /readyz, which still answers 200.
func TestIntegrationPrometheusCheck(t *testing.T) {
	node := testenv.StartNodeExporter(t)
	promURL := testenv.StartPrometheus(t, testenv.PromOptions{ScrapeTargets: []string{node}})

	cfg := integrationConfig(t)
	cfg.Prometheus.URL = promURL
	cfg.Prometheus.Timeout = config.Duration(5 * time.Second)
	cfg.Checks = []config.Check{{Name: "node-cpu-idle", Source: "prometheus", Query: `rate(node_cpu_seconds_total{mode="idle"}[15s])`,
		Schedule: "@every 1s", Model: "default", Severity: "warning", Labels: map[string]string{"asg": "web-asg"}}}
	live := startLive(t, cfg)

	// The first ticks may come before Prometheus has two scrapes to take a rate from.
	m := live.ask(t, "status", regexp.MustCompile(`check node-cpu-idle: ok; ([1-9]\d*) series, \d+ anomalous, (?:[^,]+ learning, scoring in about \S+, )?last tick \d\d:\d\d:\d\d`), 30*time.Second)
	t.Logf("node-cpu-idle scores %s series", m[1])
	st := live.bot.Detector.Status()
	if len(st) != 1 || !st[0].Up || st[0].LastError != "" || st[0].Series == 0 {
		t.Fatalf("detector status = %+v", st)
	}
	const points = `smartcloudops_detector_points_total{check="node-cpu-idle"}`
	first := live.waitMetric(t, points, 0, 10*time.Second)
	live.waitMetric(t, points, first, 10*time.Second)
	if up := live.metric(t, `smartcloudops_check_up{check="node-cpu-idle"}`); up != 1 {
		t.Errorf("smartcloudops_check_up = %v, want 1", up)
	}
	// Ready, and saying that its series are still learning (a new series scores after 64 points).
	if code, body := live.get(t, "/readyz"); code != http.StatusOK || !strings.HasPrefix(body, "ready\n") ||
		!strings.Contains(body, "learning: node-cpu-idle: ") || strings.Contains(body, "degraded") {
		t.Errorf("/readyz of the healthy, learning bot = %d %q, want 200 \"ready\" naming node-cpu-idle as learning", code, body)
	}

	// A Prometheus that refuses connections: a loopback port nothing listens on.
	dead := integrationConfig(t)
	dead.Prometheus.URL = fmt.Sprintf("http://127.0.0.1:%d", testenv.FreePort(t))
	dead.Prometheus.Timeout = config.Duration(2 * time.Second)
	dead.Checks = []config.Check{{Name: "dead-prom", Source: "prometheus", Query: "up", Schedule: "@every 1s", Model: "default"}}
	down := startLive(t, dead)
	m = down.ask(t, "status", regexp.MustCompile(`check dead-prom: DEGRADED: ([^\n]*connection refused[^\n]*); 0 series`), 20*time.Second)
	lastErr := m[1]
	code, body := down.get(t, "/readyz")
	if code != http.StatusOK || !strings.HasPrefix(body, "ready\n") || !strings.Contains(body, "degraded checks: dead-prom: ") ||
		!strings.Contains(body, "connection refused") {
		t.Errorf("/readyz of the degraded bot = %d %q, want 200 listing dead-prom (last error %q)", code, body, lastErr)
	}
	if v := down.metric(t, `smartcloudops_check_up{check="dead-prom"}`); v != 0 {
		t.Errorf("smartcloudops_check_up{check=dead-prom} = %v, want 0", v)
	}
	if v := down.metric(t, `smartcloudops_detector_source_errors_total{check="dead-prom"}`); v < 1 {
		t.Errorf("smartcloudops_detector_source_errors_total{check=dead-prom} = %v, want at least 1", v)
	}
}

// alertStack is a bot wired to a real Alertmanager, which a real Prometheus sends an always
// firing HostHighCpu alert to.
type alertStack struct {
	live *liveBot
	am   *alertmanager.Client
	dir  string // the script's directory
}

// startAlertStack starts the bot first, because Alertmanager needs its webhook address; the bot
// reaches Alertmanager's API through a proxy that points at Alertmanager once it runs.
func startAlertStack(t *testing.T) *alertStack {
	t.Helper()
	proxy := newLateProxy(t)
	cfg := integrationConfig(t)
	cfg.Alertmanager.URL = proxy.URL()
	cfg.Rules.Paths = []string{writeRules(t, scaleOnAlertRules)}
	live := startLive(t, cfg)
	amURL := testenv.StartAlertmanager(t, testenv.AMOptions{
		WebhookURL: live.base + "/api/v1/alertmanager",
		GroupWait:  time.Second, GroupInterval: time.Second, RepeatInterval: time.Minute,
	})
	proxy.point(t, amURL)
	testenv.StartPrometheus(t, testenv.PromOptions{
		RuleFiles:       map[string]string{"host.yml": hostHighCPURule},
		AlertmanagerURL: amURL,
	})
	am, err := alertmanager.NewClient(alertmanager.ClientOptions{URL: amURL, Timeout: 5 * time.Second})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(am.Close)
	return &alertStack{live: live, am: am, dir: cfg.Actions.Script.Dir}
}

// TestIntegrationAlertmanagerFlow follows a real alert: Prometheus fires it, Alertmanager
// delivers it to the bot's webhook, the bot shows an incident card with the proposal its rule
// made, and an approval runs the script. Then a silence created from the console reaches
// Alertmanager, suppresses the alert, is listed, and is expired with `unsilence`.
func TestIntegrationAlertmanagerFlow(t *testing.T) {
	s := startAlertStack(t)
	live := s.live
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()

	t.Run("alert to approved proposal", func(t *testing.T) {
		live.out.waitFor(t, alertCardRE, 30*time.Second)
		id := live.out.waitFor(t, alertPropRE, 15*time.Second)
		card := live.out.String()
		for _, want := range []string{"where: alertname=HostHighCpu, asg=web-asg, severity=critical",
			"summary: CPU above 90% on web-asg", "alerts: 1 firing, 0 resolved", "rule: scale-on-host-high-cpu",
			`type "approve ` + id + `" or "reject ` + id + `"`} {
			if !strings.Contains(card, want) {
				t.Errorf("the incident card lacks %q:\n%s", want, card)
			}
		}
		// The proposal is linked to its incident right after it is stored (the card, which
		// reads the proposal index, can show it a moment earlier).
		var incs []incident.Incident
		for deadline := time.Now().Add(5 * time.Second); ; time.Sleep(20 * time.Millisecond) {
			var err error
			if incs, err = live.bot.Incidents.List(ctx, false); err != nil {
				t.Fatal(err)
			}
			if len(incs) == 1 && incs[0].Source == "alertmanager" && slices.Contains(incs[0].Proposals, id) {
				break
			}
			if time.Now().After(deadline) {
				t.Fatalf("incidents = %+v, want one from alertmanager holding %s", incs, id)
			}
		}

		live.send(t, "approve "+id)
		live.out.waitFor(t, regexp.MustCompile(regexp.QuoteMeta(id)+` succeeded`), 15*time.Second)
		live.out.waitFor(t, regexp.MustCompile(`scaling web-asg from 2 to 3 instances`), 5*time.Second)
		p, err := live.bot.Proposals.Get(ctx, id)
		if err != nil || p.State != remediation.StateSucceeded {
			t.Fatalf("proposal %s = %+v, %v; want succeeded", id, p, err)
		}
		runs, err := os.ReadFile(filepath.Join(s.dir, "runs.log"))
		if err != nil || strings.Count(string(runs), "run web-asg 2 3\n") != 1 {
			t.Fatalf("runs.log = %q, %v; want one run with web-asg 2 3", runs, err)
		}
	})

	t.Run("silence from the bot", func(t *testing.T) {
		m := live.ask(t, `silence alertname="HostHighCpu" for 1h testing`, silenceReplyRE, 10*time.Second)
		id := m[1]
		silences, err := s.am.ListSilences(ctx)
		if err != nil {
			t.Fatalf("ListSilences: %v", err)
		}
		i := slices.IndexFunc(silences, func(sl alertmanager.Silence) bool { return sl.ID == id })
		want := []alertmanager.Matcher{{Name: "alertname", Type: alertmanager.MatchEqual, Value: "HostHighCpu"}}
		if i < 0 {
			t.Fatalf("silence %s not in Alertmanager: %+v", id, silences)
		}
		if sl := silences[i]; sl.State != alertmanager.SilenceActive || !slices.Equal(sl.Matchers, want) ||
			sl.CreatedBy != "console:integration" || sl.Comment != "testing" || sl.EndsAt.Sub(sl.StartsAt) < 59*time.Minute {
			t.Errorf("silence in Alertmanager = %+v", sl)
		}

		// Alertmanager marks the firing alert suppressed by the bot's silence.
		for {
			alerts, err := s.am.Alerts(ctx, want)
			if err != nil {
				t.Fatalf("Alerts: %v", err)
			}
			if len(alerts) == 1 && alerts[0].Suppressed() && slices.Contains(alerts[0].SilencedBy, id) {
				break
			}
			select {
			case <-ctx.Done():
				t.Fatalf("alert not suppressed by %s in time: %+v", id, alerts)
			case <-time.After(200 * time.Millisecond):
			}
		}

		live.ask(t, "silences", regexp.MustCompile(`alertmanager `+regexp.QuoteMeta(id)+` \{alertname="HostHighCpu"\} active until \S+ by console:integration: testing`), 10*time.Second)
		live.ask(t, "unsilence "+id, regexp.MustCompile(`Alertmanager silence `+regexp.QuoteMeta(id)+` expired\.`), 10*time.Second)
		silences, err = s.am.ListSilences(ctx)
		if err != nil {
			t.Fatalf("ListSilences: %v", err)
		}
		if i := slices.IndexFunc(silences, func(sl alertmanager.Silence) bool { return sl.ID == id }); i < 0 || silences[i].State != alertmanager.SilenceExpired {
			t.Errorf("silence %s not expired in Alertmanager: %+v", id, silences)
		}
		m = live.ask(t, "silences", regexp.MustCompile(`No active silences\.|alertmanager [^\n]*`), 10*time.Second)
		if strings.Contains(m[0], id) {
			t.Errorf("`silences` still lists the expired silence: %s", m[0])
		}
	})
}

// webhookPayload is an Alertmanager notification of one firing HostHighCpu alert in group key.
func webhookPayload(alertname, key string) []byte {
	return fmt.Appendf(nil, `{
  "version": "4",
  "groupKey": "{}:{alertname=\"%[1]s\"}-%[2]s",
  "truncatedAlerts": 0,
  "status": "firing",
  "receiver": "smartcloudops",
  "groupLabels": {"alertname": "%[1]s"},
  "commonLabels": {"alertname": "%[1]s", "asg": "web-asg", "severity": "critical"},
  "commonAnnotations": {"summary": "CPU above 90%% on web-asg"},
  "externalURL": "http://127.0.0.1:9093",
  "alerts": [{
    "status": "firing",
    "labels": {"alertname": "%[1]s", "asg": "web-asg", "severity": "critical"},
    "annotations": {"summary": "CPU above 90%% on web-asg"},
    "startsAt": "2026-11-01T12:00:00Z",
    "endsAt": "0001-01-01T00:00:00Z",
    "generatorURL": "http://127.0.0.1:9090/graph"
  }]
}`, alertname, key)
}

// TestIntegrationWebhookRedelivery posts a notification twice and several malformed ones to
// the bot's webhook over HTTP: the redelivery and the bad payloads change nothing. Notifications
// of alerts no rule matches act as barriers: cards are posted in the order their changes were
// queued, so once a barrier's card is printed every card queued before it has been printed too.
func TestIntegrationWebhookRedelivery(t *testing.T) {
	cfg := integrationConfig(t)
	cfg.Rules.Paths = []string{writeRules(t, scaleOnAlertRules)}
	live := startLive(t, cfg)
	ctx := context.Background()
	barrier := func(name string) {
		t.Helper()
		if code, body := live.postWebhook(t, webhookPayload(name, name)); code != http.StatusOK {
			t.Fatalf("%s: HTTP %d: %s", name, code, body)
		}
		live.out.waitFor(t, regexp.MustCompile(`=== card #\d+ ===\n\[CRITICAL\] `+name+`: 1 of 1 firing\n`), 10*time.Second)
	}

	payload := webhookPayload("HostHighCpu", "redelivery")
	if code, body := live.postWebhook(t, payload); code != http.StatusOK {
		t.Fatalf("first delivery: HTTP %d: %s", code, body)
	}
	live.out.waitFor(t, alertCardRE, 10*time.Second)
	id := live.out.waitFor(t, alertPropRE, 10*time.Second)
	barrier("FirstBarrier")
	mark := len(live.out.String())
	before, err := live.bot.Incidents.List(ctx, true)
	if err != nil {
		t.Fatal(err)
	}
	delivered := live.metric(t, `smartcloudops_alertmanager_notifications_total{outcome="delivered"}`)

	if code, body := live.postWebhook(t, payload); code != http.StatusOK {
		t.Fatalf("redelivery: HTTP %d: %s", code, body)
	}
	bad := []struct {
		name string
		body string
	}{
		{"empty body", ""},
		{"truncated JSON", string(payload[:len(payload)/2])},
		{"not an object", `["firing"]`},
		{"unknown version", strings.Replace(string(payload), `"version": "4"`, `"version": "3"`, 1)},
		{"bad status", strings.Replace(string(payload), `"status": "firing",`+"\n  \"receiver\"", `"status": "burning",`+"\n  \"receiver\"", 1)},
		{"alert without alertname", strings.Replace(string(payload), `"labels": {"alertname": "HostHighCpu", `, `"labels": {`, 1)},
		{"bad startsAt", strings.Replace(string(payload), `2026-11-01T12:00:00Z`, `yesterday`, 1)},
	}
	for _, c := range bad {
		if c.body == string(payload) {
			t.Fatalf("%s: the payload was not altered", c.name)
		}
		code, body := live.postWebhook(t, []byte(c.body))
		if code < 400 || code > 499 {
			t.Errorf("%s: HTTP %d %s, want 4xx", c.name, code, body)
		}
	}
	barrier("SecondBarrier")
	printed := live.since(mark)
	if cards := strings.Count(printed[:strings.Index(printed, "SecondBarrier")], "=== card #"); cards != 1 {
		t.Errorf("the redelivery or a bad payload printed %d cards before the barrier's:\n%s", cards-1, printed)
	}

	after, err := live.bot.Incidents.List(ctx, true)
	if err != nil {
		t.Fatal(err)
	}
	if len(after) != len(before)+1 {
		t.Errorf("incidents: %d before, %d after; want only the barrier's added: %+v", len(before), len(after), after)
	}
	for _, old := range before {
		i := slices.IndexFunc(after, func(inc incident.Incident) bool { return inc.ID == old.ID })
		if i < 0 || !reflect.DeepEqual(after[i], old) {
			t.Errorf("incident %s changed:\nbefore %+v\nafter  %+v", old.ID, old, after)
		}
	}
	// The barriers match no rule, so one proposal means the redelivery proposed nothing.
	props, err := live.bot.Proposals.List(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if len(props) != 1 || props[0].ID != id {
		t.Errorf("proposals = %+v, want only %s", props, id)
	}
	if v := live.metric(t, `smartcloudops_alertmanager_notifications_total{outcome="delivered"}`); v != delivered+2 {
		t.Errorf("delivered notifications went from %v to %v, want +2 (the redelivery and the barrier)", delivered, v)
	}
	if v := live.metric(t, `smartcloudops_alertmanager_notifications_total{outcome="bad_payload"}`); v != float64(len(bad)) {
		t.Errorf("bad_payload notifications = %v, want %d", v, len(bad))
	}
}
