package api

import (
	"github.com/prometheus/client_golang/prometheus"
)

// metrics are labelled by route pattern and status code only, both bounded.
type metrics struct {
	requests *prometheus.CounterVec
	duration *prometheus.HistogramVec
	denied   *prometheus.CounterVec
}

func newMetrics(reg prometheus.Registerer) *metrics {
	m := &metrics{
		requests: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "smartcloudops_api_requests_total",
			Help: "API requests by route pattern and HTTP status code.",
		}, []string{"route", "code"}),
		duration: prometheus.NewHistogramVec(prometheus.HistogramOpts{
			Name:    "smartcloudops_api_request_duration_seconds",
			Help:    "API request handling time by route pattern.",
			Buckets: []float64{.0005, .001, .0025, .005, .01, .025, .05, .1, .25, .5, 1, 2.5, 5, 10, 30},
		}, []string{"route"}),
		denied: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "smartcloudops_api_denied_total",
			Help: "API requests refused before reaching their handler, by reason (unauthorized, forbidden, rate_limited).",
		}, []string{"reason"}),
	}
	reg.MustRegister(m.requests, m.duration, m.denied)
	return m
}
