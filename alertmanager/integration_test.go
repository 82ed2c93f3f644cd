//go:build integration

package alertmanager

import (
	"context"
	"log/slog"
	"net/http/httptest"
	"slices"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/smartcloudops/smartcloudops/internal/testenv"
)

const alwaysRule = `groups:
  - name: smartcloudops-integration
    rules:
      - alert: SmartCloudOpsAlways
        expr: vector(1)
        for: 0s
        labels:
          severity: info
          team: platform
        annotations:
          summary: always firing
`

// TestIntegrationWebhookAndSilence runs a real Prometheus whose rule always fires and a real
// Alertmanager that notifies the Handler; it then silences the alert through Client and checks
// that Alertmanager reports it suppressed and stops notifying, and that expiring the silence
// brings the notifications back.
func TestIntegrationWebhookAndSilence(t *testing.T) {
	msgs := make(chan *Message, 256)
	h, err := NewHandler(HandlerOptions{
		Deliver: func(ctx context.Context, m *Message) error {
			select {
			case msgs <- m:
				return nil
			case <-ctx.Done():
				return ctx.Err()
			}
		},
		Logger:     slog.New(slog.DiscardHandler),
		Registerer: prometheus.NewRegistry(),
	})
	if err != nil {
		t.Fatal(err)
	}
	receiver := httptest.NewServer(h)
	defer receiver.Close()

	amURL := testenv.StartAlertmanager(t, testenv.AMOptions{
		WebhookURL:     receiver.URL + "/webhook",
		GroupWait:      time.Second,
		GroupInterval:  time.Second,
		RepeatInterval: 2 * time.Second,
	})
	testenv.StartPrometheus(t, testenv.PromOptions{
		RuleFiles:       map[string]string{"always.yml": alwaysRule},
		AlertmanagerURL: amURL,
		ScrapeInterval:  time.Second,
		EvalInterval:    time.Second,
	})
	ctx, cancel := context.WithTimeout(context.Background(), 55*time.Second)
	defer cancel()

	// The first notification and one repeat show that notifications keep coming while unsilenced.
	first := waitFiring(ctx, t, msgs)
	if first.Version != "4" || first.Receiver != "smartcloudops" || first.GroupKey == "" || first.ExternalURL != amURL {
		t.Errorf("notification header = %+v", first)
	}
	a := first.Alerts[0]
	if a.Name() != "SmartCloudOpsAlways" || a.Labels["team"] != "platform" || a.Annotations["summary"] != "always firing" || a.GeneratorURL == "" {
		t.Errorf("alert = %+v", a)
	}
	if a.Fingerprint != Fingerprint(a.Labels) {
		t.Errorf("Alertmanager's fingerprint %s differs from Fingerprint(labels) %s", a.Fingerprint, Fingerprint(a.Labels))
	}
	if got := waitFiring(ctx, t, msgs); got.Key() != first.Key() || got.AlertKey(&got.Alerts[0]) != first.AlertKey(&a) {
		t.Errorf("repeat notification keys %s / %s differ from the first's", got.Key(), got.AlertKey(&got.Alerts[0]))
	}

	client, err := NewClient(ClientOptions{URL: amURL, Timeout: 5 * time.Second})
	if err != nil {
		t.Fatal(err)
	}
	defer client.Close()
	matchers, err := ParseMatchers(`{alertname="SmartCloudOpsAlways", team=~"plat.*"}`)
	if err != nil {
		t.Fatal(err)
	}
	id, err := client.CreateSilence(ctx, Silence{
		Matchers:  matchers,
		EndsAt:    time.Now().Add(10 * time.Minute),
		CreatedBy: "integration-test",
		Comment:   "silence the always-firing alert",
	})
	if err != nil {
		t.Fatalf("CreateSilence: %v", err)
	}
	silences, err := client.ListSilences(ctx)
	if err != nil {
		t.Fatalf("ListSilences: %v", err)
	}
	i := slices.IndexFunc(silences, func(s Silence) bool { return s.ID == id })
	if i < 0 || silences[i].State != SilenceActive || !slices.Equal(silences[i].Matchers, matchers) || silences[i].CreatedBy != "integration-test" {
		t.Fatalf("silence %s not listed as active with its matchers: %+v", id, silences)
	}

	// Alertmanager marks the alert suppressed by our silence.
	filter := []Matcher{{Name: "alertname", Type: MatchEqual, Value: "SmartCloudOpsAlways"}}
	for {
		alerts, err := client.Alerts(ctx, filter)
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

	// With a 2s repeat interval, four quiet seconds mean the silence holds the notifications back.
	drain(msgs)
	quiet := time.After(4 * time.Second)
	for waiting := true; waiting; {
		select {
		case m := <-msgs:
			if m.Firing() > 0 {
				t.Fatalf("firing notification despite silence %s: %+v", id, m.Alerts)
			}
		case <-quiet:
			waiting = false
		case <-ctx.Done():
			t.Fatal(ctx.Err())
		}
	}

	if err := client.ExpireSilence(ctx, id); err != nil {
		t.Fatalf("ExpireSilence: %v", err)
	}
	silences, err = client.ListSilences(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if i := slices.IndexFunc(silences, func(s Silence) bool { return s.ID == id }); i < 0 || silences[i].State != SilenceExpired {
		t.Errorf("silence %s not expired: %+v", id, silences)
	}
	waitFiring(ctx, t, msgs)
}

// waitFiring returns the next notification with a firing alert.
func waitFiring(ctx context.Context, t *testing.T, msgs <-chan *Message) *Message {
	t.Helper()
	for {
		select {
		case m := <-msgs:
			if m.Status == StatusFiring && m.Firing() > 0 {
				return m
			}
		case <-ctx.Done():
			t.Fatalf("no firing notification: %v", ctx.Err())
		}
	}
}

func drain(msgs <-chan *Message) {
	for {
		select {
		case <-msgs:
		default:
			return
		}
	}
}
