// Package monitoring owns how SmartCloudOps itself is watched: the Prometheus configuration
// (prometheus.yml), the alert rules for hosts and for the bot (prometheus-alerts.yml) with their
// `promtool test rules` unit tests (tests/), the Alertmanager configuration that routes alerts to
// the bot's webhook (alertmanager.yml), the Grafana dashboards (grafana-dashboards/) with their
// provisioning (grafana/), and a compose file for the local stack (docker-compose.yml).
//
// It sits beside the flow rather than in it: the bot exports metrics from every stage (sources →
// detector → incidents → rules → remediation → notifier and bot adapters) through the injected
// Prometheus registerer, and the assets here read those metrics back. Alerts that fire reach the
// bot again through the Alertmanager webhook, where they become incidents like any other.
//
// The Go side is small. Files exposes the embedded assets, MetricNames extracts the metric names
// a PromQL expression selects, and UsedMetrics lists every metric name the dashboards and alert
// rules use and where, so a test can hold them against the bot's registry: a renamed metric then
// breaks the build instead of silently emptying a panel or disarming an alert.
//
// MetricNames is a tokenizer, not a full PromQL parser: it knows enough of the grammar (strings,
// label matchers, ranges and subqueries, grouping modifiers, function calls, aggregation
// operators, keywords, Grafana template variables) to tell metric names from everything else,
// and it reports unterminated strings and unbalanced brackets. It does not check types or
// semantics; promtool does that in scripts/check-monitoring.sh.
package monitoring
