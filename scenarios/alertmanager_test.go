//go:build scenarios

package scenarios

import (
	"encoding/json"
	"fmt"
	"net/http"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/smartcloudops/smartcloudops/internal/testenv"
)

// alertStack is an Alertmanager whose webhook receiver is the story's bot, and a Prometheus
// that scrapes the exporter and sends it one alert: the story's series above 90.
type alertStack struct {
	am      *testenv.Server
	prom    string
	botPort int // the port the bot must listen on for the webhook to reach it
}

func startAlertStack(t *testing.T, e *env, story, alert string) alertStack {
	t.Helper()
	port := testenv.FreePort(t)
	am := testenv.StartAlertmanagerServer(t, testenv.AMOptions{
		WebhookURL:     fmt.Sprintf("http://127.0.0.1:%d/api/v1/alertmanager", port),
		GroupWait:      time.Second,
		GroupInterval:  time.Second,
		RepeatInterval: 10 * time.Second,
	})
	rules := fmt.Sprintf(`groups:
  - name: scenario
    rules:
      - alert: %s
        expr: '%s > 90'
        for: 3s
        labels: {severity: critical}
        annotations: {summary: 'load above 90%% on {{ $labels.story }}'}
`, alert, selector(story))
	prom := testenv.StartPrometheus(t, testenv.PromOptions{
		ScrapeJobs:      map[string][]string{"scenarios": {e.exp.addr}},
		AlertmanagerURL: am.URL,
		RuleFiles:       map[string]string{"scenario.yml": rules},
	})
	return alertStack{am: am, prom: prom, botPort: port}
}

// isAlertCard reports whether c is the card of an open incident of the alert.
func isAlertCard(c card, alert string) bool {
	return c.Incident != "" && !c.Resolved() && strings.HasPrefix(c.Title, alert)
}

// alertmanagerFlow follows an Alertmanager alert from Prometheus to resolution: the alert fires,
// Alertmanager sends it to the bot's webhook, the incident gets a card, an alert rule proposes the
// script, approving it runs it, the metric clears, the alert resolves and the card says so.
func alertmanagerFlow(t *testing.T, e *env) {
	const story, alert = "am-flow", "ScenarioHighLoad"
	e.exp.set(story, baseline)
	s := startAlertStack(t, e, story, alert)
	b := startBot(t, botSpec{Prometheus: s.prom, Port: s.botPort, Alertmanager: map[string]any{"url": s.am.URL},
		Rules: fmt.Sprintf(`groups:
  - name: am-flow
    rules:
      - name: am-flow-scale-out
        description: Scale out when Alertmanager says the load is high.
        alert: {alertname: %s}
        severity: critical
`, alert) + recordAction("scale-out")})
	waitSeen(t, e, story)

	e.exp.set(story, load)
	inc := b.waitCard("the card of the alert's incident", func(c card) bool { return isAlertCard(c, alert) })
	crossed := waitSeen(t, e, story)
	measure(t, "load crossed 90 → alert card", crossed, inc.At)
	if inc.Severity != "CRITICAL" || !strings.Contains(inc.Fields["where"], "alertname="+alert) ||
		!strings.HasPrefix(inc.Fields["alerts"], "1 firing") || inc.Fields["summary"] != "load above 90% on "+story {
		t.Errorf("the alert's card reads:\n%s\nwant a critical card of %s with 1 firing alert and its summary", strings.Join(inc.Lines, "\n"), alert)
	}
	pc := b.waitCard("the alert rule's proposal on the card", func(c card) bool { return c.Incident == inc.Incident && len(c.Props) > 0 })
	measure(t, "load crossed 90 → proposal", crossed, pc.At)
	p := pc.Props[0]
	if p.What != "script record.sh am-flow scale-out" || !strings.HasPrefix(p.Rule, "am-flow-scale-out ") {
		t.Errorf("the proposal reads %q (rule %q); want script record.sh am-flow scale-out from am-flow-scale-out", p.What, p.Rule)
	}
	approveAndRun(t, b, p)
	if ran := b.ranLines(); len(ran) != 1 || ran[0] != "am-flow scale-out" {
		t.Errorf("the script ran %d times with %q; want once with \"am-flow scale-out\"", len(ran), ran)
	}

	// The remediation worked: the load clears, Prometheus resolves the alert, Alertmanager says so.
	res := endLoad(t, b, e, story, inc.Incident, "load ended → resolved")
	if res.Num != inc.Num {
		t.Errorf("the resolution is on card #%d; want the incident's card #%d edited in place", res.Num, inc.Num)
	}
	wantAudit(t, b, p.ID)
	if n := postedCards(b.cards(), inc.Incident); n != 1 {
		t.Errorf("incident %s got %d cards; want 1:\n%s", inc.Incident, n, b.cardList())
	}
}

// amSilence is a silence as Alertmanager's API v2 lists it.
type amSilence struct {
	ID       string                 `json:"id"`
	Status   struct{ State string } `json:"status"`
	Matchers []struct {
		Name    string `json:"name"`
		Value   string `json:"value"`
		IsEqual *bool  `json:"isEqual"`
		IsRegex bool   `json:"isRegex"`
	} `json:"matchers"`
	CreatedBy string `json:"createdBy"`
}

func silencesOf(t *testing.T, amURL string) []amSilence {
	t.Helper()
	resp, err := http.Get(amURL + "/api/v2/silences")
	if err != nil {
		t.Fatalf("list Alertmanager's silences: %v", err)
	}
	defer resp.Body.Close()
	var out []amSilence
	if err := json.NewDecoder(resp.Body).Decode(&out); err != nil {
		t.Fatalf("list Alertmanager's silences: %v", err)
	}
	return out
}

var silenceCreated = regexp.MustCompile(`Alertmanager silence (\S+) (?:\{[^}]*\} )?created`)

// silenceFromChat silences an alert from the console: the silence is in Alertmanager, and when
// the alert ends under it (so Alertmanager sends no resolved notification) the bot still
// resolves the incident, from Alertmanager's list of alerts.
func silenceFromChat(t *testing.T, e *env) {
	const story, alert = "silence", "ScenarioSilenced"
	e.exp.set(story, baseline)
	s := startAlertStack(t, e, story, alert)
	b := startBot(t, botSpec{Prometheus: s.prom, Port: s.botPort,
		Alertmanager: map[string]any{"url": s.am.URL, "resend_interval": "5s"}})
	waitSeen(t, e, story)

	e.exp.set(story, load)
	inc := b.waitCard("the card of the alert's incident", func(c card) bool { return isAlertCard(c, alert) })

	reply := b.ask("silence alertname=" + alert + " for 1h noisy during the test")
	m := silenceCreated.FindStringSubmatch(reply)
	if m == nil {
		t.Fatalf("the reply to `silence alertname=%s for 1h` is %q; want the Alertmanager silence it created", alert, reply)
	}
	id := m[1]
	var found *amSilence
	for _, sl := range silencesOf(t, s.am.URL) {
		if sl.ID == id {
			found = &sl
		}
	}
	switch {
	case found == nil:
		t.Fatalf("Alertmanager has no silence %s", id)
	case found.Status.State != "active" || len(found.Matchers) != 1 || found.Matchers[0].Name != "alertname" ||
		found.Matchers[0].Value != alert || found.Matchers[0].IsRegex || !strings.Contains(found.CreatedBy, user):
		t.Errorf("Alertmanager's silence %s is %+v; want active, alertname=%s, created by %s", id, *found, alert, user)
	}
	if list := b.ask("silences"); !strings.Contains(list, id) {
		t.Errorf("`silences` does not list %s:\n%s", id, list)
	}

	// The alert ends while silenced: Alertmanager notifies nobody, and the bot sees it gone.
	endLoad(t, b, e, story, inc.Incident, "load ended under a silence → resolved")
	if n := postedCards(b.cards(), inc.Incident); n != 1 {
		t.Errorf("incident %s got %d cards; want 1:\n%s", inc.Incident, n, b.cardList())
	}
}

// alertmanagerDownDuringSilence types `silence` while Alertmanager is down: the reply names
// Alertmanager and its address and says it cannot be reached, never a bare internal error.
func alertmanagerDownDuringSilence(t *testing.T, e *env) {
	port := testenv.FreePort(t)
	am := testenv.StartAlertmanagerServer(t, testenv.AMOptions{WebhookURL: fmt.Sprintf("http://127.0.0.1:%d/api/v1/alertmanager", port)})
	b := startBot(t, botSpec{Port: port, Alertmanager: map[string]any{"url": am.URL}})
	if reply := b.ask("silences"); reply != "No active silences." {
		t.Errorf("`silences` with Alertmanager up says %q; want \"No active silences.\"", reply)
	}

	am.Stop()
	reply := b.ask("silence alertname=ScenarioDown for 1h")
	if strings.Contains(reply, "internal error") || !strings.Contains(reply, "Alertmanager") ||
		!strings.Contains(reply, am.Addr) || !strings.Contains(reply, "unreachable") {
		t.Errorf("the reply to `silence` with Alertmanager down is %q; want it to name Alertmanager at %s and say it is unreachable", reply, am.URL)
	}
	if strings.Contains(reply, "created") {
		t.Errorf("the reply to `silence` with Alertmanager down says a silence was created: %q", reply)
	}
}
