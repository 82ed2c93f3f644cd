package discord

import (
	"strings"
	"testing"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/testutil"
)

func TestNewValidates(t *testing.T) {
	t.Parallel()
	_, err := New(Options{BaseURL: "::", PublicKey: "zz", Workers: -1})
	if err == nil {
		t.Fatal("New accepted empty options")
	}
	for _, want := range []string{"Token is required", "ApplicationID is required", "Logger is required", "Registerer is required", "BaseURL", "PublicKey", "Workers must not be negative"} {
		if !strings.Contains(err.Error(), want) {
			t.Errorf("error %q does not mention %q", err, want)
		}
	}
	if _, err := New(Options{Token: "Bot ", ApplicationID: "A", Logger: testLogger(t), Registerer: prometheus.NewRegistry()}); err == nil || !strings.Contains(err.Error(), "Token") {
		t.Errorf("New with token %q = %v, want a Token error", "Bot ", err)
	}
}

// TestMetricsShareRegistry checks that two adapters, and the Slack adapter's collectors of the
// same names, register side by side on one registry.
func TestMetricsShareRegistry(t *testing.T) {
	t.Parallel()
	reg := prometheus.NewRegistry()
	slack := prometheus.Labels{"platform": "slack"}
	reg.MustRegister(
		prometheus.NewGauge(prometheus.GaugeOpts{Name: "smartcloudops_chat_connected", Help: "1 while the chat adapter holds a live connection to the platform, else 0.", ConstLabels: slack}),
		prometheus.NewCounterVec(prometheus.CounterOpts{Name: "smartcloudops_chat_events_total", Help: "Events received from the chat platform, by kind.", ConstLabels: slack}, []string{"kind"}),
	)
	o := Options{Token: "t", ApplicationID: "A", Logger: testLogger(t), Registerer: reg}
	a1, err := New(o)
	if err != nil {
		t.Fatal(err)
	}
	a2, err := New(o)
	if err != nil {
		t.Fatalf("second adapter on the same registry: %v", err)
	}
	a1.m.rateLimited.Inc()
	a2.m.rateLimited.Inc()
	if got := testutil.ToFloat64(a1.m.rateLimited); got != 2 {
		t.Errorf("shared counter = %v, want 2", got)
	}
	n, err := testutil.GatherAndCount(reg, "smartcloudops_chat_connected")
	if err != nil || n != 2 {
		t.Errorf("connected series = %d (%v), want slack and discord", n, err)
	}
	if a1.Name() != "discord" {
		t.Errorf("Name = %q", a1.Name())
	}
}
