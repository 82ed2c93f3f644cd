package slack

import "github.com/prometheus/client_golang/prometheus"

const platform = "slack"

// Event kinds counted in smartcloudops_chat_events_total.
const (
	kindMention   = "mention"
	kindDM        = "dm"
	kindSlash     = "slash_command"
	kindButton    = "button"
	kindDuplicate = "duplicate"
	kindIgnored   = "ignored"
	kindUnknown   = "unknown"
)

// Outcomes counted in smartcloudops_chat_messages_sent_total.
const (
	outcomeOK       = "ok"
	outcomeError    = "error"
	outcomeCanceled = "canceled"
)

type metrics struct {
	connected   prometheus.Gauge
	events      *prometheus.CounterVec
	ackDuration prometheus.Observer
	sent        *prometheus.CounterVec
	rateLimited prometheus.Counter
}

func newMetrics(r prometheus.Registerer) (*metrics, error) {
	labels := prometheus.Labels{"platform": platform}
	connected := prometheus.NewGauge(prometheus.GaugeOpts{
		Name:        "smartcloudops_chat_connected",
		Help:        "1 while the chat adapter holds a live connection to the platform, else 0.",
		ConstLabels: labels,
	})
	events := prometheus.NewCounterVec(prometheus.CounterOpts{
		Name:        "smartcloudops_chat_events_total",
		Help:        "Events received from the chat platform, by kind.",
		ConstLabels: labels,
	}, []string{"kind"})
	ack := prometheus.NewHistogram(prometheus.HistogramOpts{
		Name:        "smartcloudops_chat_ack_duration_seconds",
		Help:        "Time from reading an envelope to queueing its acknowledgement.",
		ConstLabels: labels,
		Buckets:     []float64{.0001, .00025, .0005, .001, .0025, .005, .01, .025, .05, .1, .25, .5, 1, 2.5},
	})
	sent := prometheus.NewCounterVec(prometheus.CounterOpts{
		Name:        "smartcloudops_chat_messages_sent_total",
		Help:        "Messages sent, edited or uploaded to the chat platform, by outcome.",
		ConstLabels: labels,
	}, []string{"outcome"})
	limited := prometheus.NewCounter(prometheus.CounterOpts{
		Name:        "smartcloudops_chat_rate_limited_total",
		Help:        "HTTP 429 answers from the chat platform's API.",
		ConstLabels: labels,
	})
	for _, c := range []prometheus.Collector{connected, events, ack, sent, limited} {
		if err := r.Register(c); err != nil {
			return nil, err
		}
	}
	for _, k := range []string{kindMention, kindDM, kindSlash, kindButton, kindDuplicate, kindIgnored, kindUnknown} {
		events.WithLabelValues(k)
	}
	for _, o := range []string{outcomeOK, outcomeError, outcomeCanceled} {
		sent.WithLabelValues(o)
	}
	return &metrics{connected: connected, events: events, ackDuration: ack, sent: sent, rateLimited: limited}, nil
}
