package detector

import "github.com/prometheus/client_golang/prometheus"

type metrics struct {
	tick         *prometheus.HistogramVec
	skipped      *prometheus.CounterVec
	sourceErrors *prometheus.CounterVec
	anomalies    *prometheus.CounterVec
	points       *prometheus.CounterVec
	dropped      *prometheus.CounterVec
	forgotten    *prometheus.CounterVec
	maxScore     *prometheus.GaugeVec
	up           *prometheus.GaugeVec
	models       *prometheus.GaugeVec
}

func newMetrics(reg prometheus.Registerer) *metrics {
	m := &metrics{
		tick: prometheus.NewHistogramVec(prometheus.HistogramOpts{
			Name: "smartcloudops_detector_tick_duration_seconds", Help: "Duration of one check tick: fetch and score.",
			Buckets: []float64{.001, .005, .01, .025, .05, .1, .25, .5, 1, 2.5, 5, 10},
		}, []string{"check"}),
		skipped: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "smartcloudops_detector_ticks_skipped_total", Help: "Ticks skipped because the previous tick of the check still ran.",
		}, []string{"check"}),
		sourceErrors: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "smartcloudops_detector_source_errors_total", Help: "Ticks whose source failed.",
		}, []string{"check"}),
		anomalies: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "smartcloudops_detector_anomalies_total", Help: "Anomalies found (one per series per tick).",
		}, []string{"check"}),
		points: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "smartcloudops_detector_points_total", Help: "Points scored.",
		}, []string{"check"}),
		dropped: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "smartcloudops_detector_points_dropped_total",
			Help: "Points not scored: reason not_finite (NaN or Inf) or not_after_previous (a timestamp at or before the series' latest).",
		}, []string{"check", "reason"}),
		forgotten: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "smartcloudops_detector_series_forgotten_total",
			Help: "Series forgotten, state and all, after sending no new point for the configured retention.",
		}, []string{"check"}),
		maxScore: prometheus.NewGaugeVec(prometheus.GaugeOpts{
			Name: "smartcloudops_detector_max_score", Help: "Highest anomaly score in the check's last tick.",
		}, []string{"check"}),
		up: prometheus.NewGaugeVec(prometheus.GaugeOpts{
			Name: "smartcloudops_check_up", Help: "1 while the check's source answers, 0 while it fails.",
		}, []string{"check"}),
		models: prometheus.NewGaugeVec(prometheus.GaugeOpts{
			Name: "smartcloudops_detector_models",
			Help: "Series models by where their state is kept: store (restored after a restart or a failover) or memory (beyond the stored-models budget: learnt again).",
		}, []string{"kept"}),
	}
	reg.MustRegister(m.tick, m.skipped, m.sourceErrors, m.anomalies, m.points, m.dropped, m.forgotten, m.maxScore, m.up, m.models)
	return m
}
