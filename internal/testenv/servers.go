package testenv

import (
	"encoding/json"
	"fmt"
	"net/url"
	"path/filepath"
	"sort"
	"testing"
	"time"
)

// StartNodeExporter starts prometheus-node-exporter on a free 127.0.0.1 port with a small set of
// collectors (cpu, meminfo, loadavg, stat, time) and returns its "127.0.0.1:port" address.
func StartNodeExporter(t testing.TB) string {
	t.Helper()
	bin := lookBinary(t, "prometheus-node-exporter", "prometheus-node-exporter", "node_exporter")
	dir := t.TempDir()
	srv := launch(t, "node-exporter", dir, bin, func(port int) []string {
		return []string{
			fmt.Sprintf("--web.listen-address=127.0.0.1:%d", port),
			"--collector.disable-defaults",
			"--collector.cpu",
			"--collector.meminfo",
			"--collector.loadavg",
			"--collector.stat",
			"--collector.time",
		}
	}, "/metrics")
	return srv.Addr
}

// PromOptions configures StartPrometheus.
type PromOptions struct {
	// ScrapeTargets are "host:port" addresses scraped as job "node".
	ScrapeTargets []string
	// ScrapeJobs maps further job names to the "host:port" addresses scraped as that job.
	ScrapeJobs map[string][]string
	// RuleFiles maps a file name to the content of a Prometheus rule file.
	RuleFiles map[string]string
	// AlertmanagerURL, when set, is where firing alerts are sent, such as "http://127.0.0.1:9093".
	AlertmanagerURL string
	// ScrapeInterval and EvalInterval default to one second.
	ScrapeInterval time.Duration
	EvalInterval   time.Duration
}

// StartPrometheus starts prometheus on a free 127.0.0.1 port with a configuration built from o,
// waits for /-/ready and returns its base URL.
func StartPrometheus(t testing.TB, o PromOptions) string {
	t.Helper()
	return StartPrometheusServer(t, o).URL
}

// StartPrometheusServer is StartPrometheus for a test that stops Prometheus and starts it again.
func StartPrometheusServer(t testing.TB, o PromOptions) *Server {
	t.Helper()
	bin := lookBinary(t, "prometheus", "prometheus")
	if o.ScrapeInterval <= 0 {
		o.ScrapeInterval = time.Second
	}
	if o.EvalInterval <= 0 {
		o.EvalInterval = time.Second
	}
	dir := t.TempDir()
	cfg := map[string]any{
		"global": map[string]any{
			"scrape_interval":     promDuration(o.ScrapeInterval),
			"scrape_timeout":      promDuration(o.ScrapeInterval),
			"evaluation_interval": promDuration(o.EvalInterval),
		},
	}
	jobs := map[string][]string{}
	for job, targets := range o.ScrapeJobs {
		jobs[job] = targets
	}
	if len(o.ScrapeTargets) > 0 {
		jobs["node"] = append(jobs["node"], o.ScrapeTargets...)
	}
	var scrapes []any
	for _, job := range sortedKeys(jobs) {
		scrapes = append(scrapes, map[string]any{
			"job_name":       job,
			"static_configs": []any{map[string]any{"targets": jobs[job]}},
		})
	}
	if len(scrapes) > 0 {
		cfg["scrape_configs"] = scrapes
	}
	if len(o.RuleFiles) > 0 {
		paths := make([]string, 0, len(o.RuleFiles))
		for _, name := range sortedKeys(o.RuleFiles) {
			if filepath.Base(name) != name {
				t.Fatalf("testenv: rule file name %q must be a plain file name", name)
			}
			paths = append(paths, writeFile(t, dir, filepath.Join("rules", name), o.RuleFiles[name]))
		}
		cfg["rule_files"] = paths
	}
	if o.AlertmanagerURL != "" {
		u, err := url.Parse(o.AlertmanagerURL)
		if err != nil || u.Host == "" {
			t.Fatalf("testenv: AlertmanagerURL %q: want http://host:port", o.AlertmanagerURL)
		}
		am := map[string]any{
			"scheme":         u.Scheme,
			"static_configs": []any{map[string]any{"targets": []string{u.Host}}},
			"api_version":    "v2",
		}
		if u.Path != "" && u.Path != "/" {
			am["path_prefix"] = u.Path
		}
		cfg["alerting"] = map[string]any{"alertmanagers": []any{am}}
	}
	// JSON is valid YAML, and it quotes every value safely.
	config := writeFile(t, dir, "prometheus.yml", mustJSON(t, cfg))
	return launch(t, "prometheus", dir, bin, func(port int) []string {
		return []string{
			"--config.file=" + config,
			"--storage.tsdb.path=" + filepath.Join(dir, "data"),
			fmt.Sprintf("--web.listen-address=127.0.0.1:%d", port),
			fmt.Sprintf("--web.external-url=http://127.0.0.1:%d/", port),
			"--web.console.templates=" + filepath.Join(dir, "consoles"),
			"--web.console.libraries=" + filepath.Join(dir, "console_libraries"),
			// Resend firing alerts quickly so a test does not wait the default minute.
			"--rules.alert.resend-delay=1s",
			"--log.level=info",
		}
	}, "/-/ready")
}

// AMOptions configures StartAlertmanager.
type AMOptions struct {
	// WebhookURL receives every notification (send_resolved is on); required.
	WebhookURL string
	// GroupWait and GroupInterval default to one second, RepeatInterval to one minute.
	GroupWait      time.Duration
	GroupInterval  time.Duration
	RepeatInterval time.Duration
}

// StartAlertmanager starts prometheus-alertmanager on a free 127.0.0.1 port with clustering
// disabled and one webhook receiver, waits for /-/ready and returns its base URL.
func StartAlertmanager(t testing.TB, o AMOptions) string {
	t.Helper()
	return StartAlertmanagerServer(t, o).URL
}

// StartAlertmanagerServer is StartAlertmanager for a test that stops Alertmanager and starts it
// again.
func StartAlertmanagerServer(t testing.TB, o AMOptions) *Server {
	t.Helper()
	bin := lookBinary(t, "prometheus-alertmanager", "prometheus-alertmanager", "alertmanager")
	if o.WebhookURL == "" {
		t.Fatal("testenv: AMOptions.WebhookURL is required")
	}
	if o.GroupWait <= 0 {
		o.GroupWait = time.Second
	}
	if o.GroupInterval <= 0 {
		o.GroupInterval = time.Second
	}
	if o.RepeatInterval <= 0 {
		o.RepeatInterval = time.Minute
	}
	dir := t.TempDir()
	cfg := map[string]any{
		"route": map[string]any{
			"receiver":        "smartcloudops",
			"group_by":        []string{"alertname"},
			"group_wait":      promDuration(o.GroupWait),
			"group_interval":  promDuration(o.GroupInterval),
			"repeat_interval": promDuration(o.RepeatInterval),
		},
		"receivers": []any{map[string]any{
			"name": "smartcloudops",
			"webhook_configs": []any{map[string]any{
				"url":           o.WebhookURL,
				"send_resolved": true,
			}},
		}},
	}
	config := writeFile(t, dir, "alertmanager.yml", mustJSON(t, cfg))
	return launch(t, "alertmanager", dir, bin, func(port int) []string {
		return []string{
			"--config.file=" + config,
			"--storage.path=" + filepath.Join(dir, "data"),
			fmt.Sprintf("--web.listen-address=127.0.0.1:%d", port),
			fmt.Sprintf("--web.external-url=http://127.0.0.1:%d/", port),
			// An empty address disables the gossip cluster, so nothing listens beyond the web port.
			"--cluster.listen-address=",
			"--log.level=info",
		}
	}, "/-/ready")
}

// sortedKeys returns m's keys in order, so generated configurations do not change from run to run.
func sortedKeys[V any](m map[string]V) []string {
	keys := make([]string, 0, len(m))
	for k := range m {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	return keys
}

// promDuration renders d in Prometheus' duration syntax, which has no fractions.
func promDuration(d time.Duration) string {
	if d%time.Second == 0 {
		return fmt.Sprintf("%ds", d/time.Second)
	}
	return fmt.Sprintf("%dms", d.Milliseconds())
}

func mustJSON(t testing.TB, v any) string {
	t.Helper()
	b, err := json.MarshalIndent(v, "", "  ")
	if err != nil {
		t.Fatalf("testenv: encode config: %v", err)
	}
	return string(b) + "\n"
}
