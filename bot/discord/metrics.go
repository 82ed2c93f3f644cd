package discord

import (
	"errors"
	"fmt"

	"github.com/prometheus/client_golang/prometheus"
)

const platform = "discord"

// Event kinds counted in smartcloudops_chat_events_total.
const (
	kindCommand = "slash_command"
	kindButton  = "button"
	kindPing    = "ping"
	kindInvalid = "invalid"
	kindBusy    = "busy"
	kindIgnored = "ignored"
)

// Outcomes counted in smartcloudops_chat_messages_sent_total.
const (
	outcomeOK          = "ok"
	outcomeError       = "error"
	outcomeRateLimited = "rate_limited"
	outcomeCanceled    = "canceled"
)

// metrics are the adapter's Prometheus collectors. The names, help strings and the constant
// platform label match the Slack adapter's, so both register side by side on one registry.
type metrics struct {
	connected   prometheus.Gauge
	events      *prometheus.CounterVec
	sent        *prometheus.CounterVec
	rateLimited prometheus.Counter
}

func newMetrics(r prometheus.Registerer) (*metrics, error) {
	labels := prometheus.Labels{"platform": platform}
	connected, err := register(r, prometheus.NewGauge(prometheus.GaugeOpts{
		Name:        "smartcloudops_chat_connected",
		Help:        "1 while the chat adapter holds a live connection to the platform, else 0.",
		ConstLabels: labels,
	}))
	if err != nil {
		return nil, err
	}
	events, err := register(r, prometheus.NewCounterVec(prometheus.CounterOpts{
		Name:        "smartcloudops_chat_events_total",
		Help:        "Events received from the chat platform, by kind.",
		ConstLabels: labels,
	}, []string{"kind"}))
	if err != nil {
		return nil, err
	}
	sent, err := register(r, prometheus.NewCounterVec(prometheus.CounterOpts{
		Name:        "smartcloudops_chat_messages_sent_total",
		Help:        "Messages sent, edited or uploaded to the chat platform, by outcome.",
		ConstLabels: labels,
	}, []string{"outcome"}))
	if err != nil {
		return nil, err
	}
	limited, err := register(r, prometheus.NewCounter(prometheus.CounterOpts{
		Name:        "smartcloudops_chat_rate_limited_total",
		Help:        "HTTP 429 answers from the chat platform's API.",
		ConstLabels: labels,
	}))
	if err != nil {
		return nil, err
	}
	for _, k := range []string{kindCommand, kindButton, kindPing, kindInvalid, kindBusy, kindIgnored} {
		events.WithLabelValues(k)
	}
	for _, o := range []string{outcomeOK, outcomeError, outcomeRateLimited, outcomeCanceled} {
		sent.WithLabelValues(o)
	}
	return &metrics{connected: connected, events: events, sent: sent, rateLimited: limited}, nil
}

// register registers c, or returns the collector already registered under the same
// description, so a second adapter built on the same registry shares the series.
func register[C prometheus.Collector](r prometheus.Registerer, c C) (C, error) {
	err := r.Register(c)
	if err == nil {
		return c, nil
	}
	var are prometheus.AlreadyRegisteredError
	if errors.As(err, &are) {
		if existing, ok := are.ExistingCollector.(C); ok {
			return existing, nil
		}
		return c, fmt.Errorf("discord metrics: %w: existing collector has type %T", err, are.ExistingCollector)
	}
	return c, fmt.Errorf("discord metrics: %w", err)
}
