package remediation

import (
	"context"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/smartcloudops/smartcloudops/internal/index"
)

type metrics struct {
	actions  *prometheus.CounterVec
	duration *prometheus.HistogramVec
}

// proposalsCollector reports the number of proposals in each state, counted at scrape time in
// the store's index of proposals by state, so that it is right across restarts and on every
// replica, and a scrape costs a scan of small index keys rather than reading and decoding every
// proposal (seconds of CPU at 100,000 proposals).
type proposalsCollector struct {
	mg   *Manager
	desc *prometheus.Desc
}

func (c proposalsCollector) Describe(ch chan<- *prometheus.Desc) { ch <- c.desc }

func (c proposalsCollector) Collect(ch chan<- prometheus.Metric) {
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	counts := make([]int, len(States))
	for i, s := range States {
		n, err := index.Count(ctx, c.mg.o.Store, propIndex, string(s))
		if err != nil {
			ch <- prometheus.NewInvalidMetric(c.desc, err)
			return
		}
		counts[i] = n
	}
	for i, s := range States {
		ch <- prometheus.MustNewConstMetric(c.desc, prometheus.GaugeValue, float64(counts[i]), string(s))
	}
}

func newMetrics(reg prometheus.Registerer, mg *Manager) *metrics {
	m := &metrics{
		actions: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "smartcloudops_actions_total", Help: "Action executions by action and outcome (succeeded, failed, unknown, dry_run).",
		}, []string{"action", "outcome"}),
		duration: prometheus.NewHistogramVec(prometheus.HistogramOpts{
			Name: "smartcloudops_action_duration_seconds", Help: "How long actions ran.",
			Buckets: []float64{0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60, 120, 300},
		}, []string{"action"}),
	}
	for _, a := range mg.o.ActionNames {
		for _, outcome := range []string{"succeeded", "failed", "unknown", "dry_run"} {
			m.actions.WithLabelValues(a, outcome)
		}
	}
	if reg != nil {
		reg.MustRegister(m.actions, m.duration, proposalsCollector{mg: mg,
			desc: prometheus.NewDesc("smartcloudops_proposals", "Proposals by state.", []string{"state"}, nil)})
	}
	return m
}

func (m *metrics) observe(action, outcome string, d time.Duration) {
	m.actions.WithLabelValues(action, outcome).Inc()
	m.duration.WithLabelValues(action).Observe(d.Seconds())
}
