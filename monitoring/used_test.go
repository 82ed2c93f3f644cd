package monitoring

import (
	"encoding/json"
	"io/fs"
	"slices"
	"strings"
	"testing"
	"testing/fstest"
)

// botMetrics is the contract between the bot and these assets: the metric families the
// smartcloudops binary exports, with their labels. A dashboard or alert that uses any other
// smartcloudops_* name is a bug here or a missing metric there.
var botMetrics = map[string][]string{
	"smartcloudops_build_info":                                   {"version", "goversion"},
	"smartcloudops_commands_total":                               {"platform", "command", "outcome"},
	"smartcloudops_incidents_opened_total":                       {"source"},
	"smartcloudops_incidents_open":                               nil,
	"smartcloudops_proposals":                                    {"state"},
	"smartcloudops_actions_total":                                {"action", "outcome"},
	"smartcloudops_action_duration_seconds":                      {"action"},
	"smartcloudops_detector_tick_duration_seconds":               {"check"},
	"smartcloudops_detector_ticks_skipped_total":                 {"check"},
	"smartcloudops_detector_source_errors_total":                 {"check"},
	"smartcloudops_detector_anomalies_total":                     {"check"},
	"smartcloudops_detector_points_total":                        {"check"},
	"smartcloudops_detector_points_dropped_total":                {"check", "reason"},
	"smartcloudops_detector_series_forgotten_total":              {"check"},
	"smartcloudops_detector_max_score":                           {"check"},
	"smartcloudops_check_up":                                     {"check"},
	"smartcloudops_config_last_reload_successful":                nil,
	"smartcloudops_config_last_reload_success_timestamp_seconds": nil,
	"smartcloudops_chat_connected":                               {"platform"},
	"smartcloudops_chat_events_total":                            {"platform", "kind"},
	"smartcloudops_chat_messages_sent_total":                     {"platform", "outcome"},
	"smartcloudops_notifier_cards_total":                         {"platform", "op"},
	"smartcloudops_notifier_charts_total":                        nil,
	"smartcloudops_alertmanager_alerts_received_total":           {"status"},
	"smartcloudops_alertmanager_notifications_total":             {"outcome"},
	"smartcloudops_audit_records_total":                          nil,
	"smartcloudops_rule_evaluation_failures_total":               {"rule_group"},
	"smartcloudops_rule_firings_total":                           {"rule"},
	"smartcloudops_api_requests_total":                           {"route", "code"},
	"smartcloudops_api_request_duration_seconds":                 {"route"},
	"smartcloudops_retention_deleted_total":                      {"kind"},
	"smartcloudops_alertmanager_intake_queue":                    nil,
	"smartcloudops_leader":                                       nil,
}

// histograms are the families in botMetrics that are histograms and so are queried through
// their _bucket, _sum and _count series.
var histograms = map[string]bool{
	"smartcloudops_action_duration_seconds":        true,
	"smartcloudops_detector_tick_duration_seconds": true,
	"smartcloudops_api_request_duration_seconds":   true,
}

func families() map[string]bool {
	f := make(map[string]bool, len(botMetrics))
	for n := range botMetrics {
		f[n] = true
	}
	return f
}

func TestUsedMetricsFindsKnownNames(t *testing.T) {
	used, err := UsedMetrics()
	if err != nil {
		t.Fatalf("UsedMetrics: %v", err)
	}
	want := map[string]string{
		"smartcloudops_check_up":            "prometheus-alerts.yml: alert SmartCloudOpsCheckFailing",
		"up":                                "prometheus-alerts.yml: alert NodeDown",
		"node_cpu_seconds_total":            "prometheus-alerts.yml: alert HostHighCpu",
		"node_filesystem_readonly":          "prometheus-alerts.yml: alert HostDiskFillingUp",
		"smartcloudops_audit_records_total": "prometheus-alerts.yml: alert SmartCloudOpsAuditStalled",
		"smartcloudops_detector_max_score":  `grafana-dashboards/detector.json: panel "Max score by check"`,
		"smartcloudops_detector_tick_duration_seconds_bucket":        `grafana-dashboards/smartcloudops.json: panel "Detector tick latency"`,
		"smartcloudops_build_info":                                   `grafana-dashboards/smartcloudops.json: variable "instance"`,
		"smartcloudops_commands_total":                               `grafana-dashboards/smartcloudops.json: panel "Commands by outcome"`,
		"smartcloudops_proposals":                                    `grafana-dashboards/smartcloudops.json: panel "Proposals by state"`,
		"smartcloudops_detector_source_errors_total":                 `grafana-dashboards/detector.json: panel "Source errors"`,
		"smartcloudops_config_last_reload_success_timestamp_seconds": `grafana-dashboards/smartcloudops.json: panel "Config reload age"`,
	}
	for name, where := range want {
		if !slices.Contains(used[name], where) {
			t.Errorf("UsedMetrics()[%q] = %q, want it to contain %q", name, used[name], where)
		}
	}
	// Functions, aggregators, keywords, label names and Grafana variables must not appear.
	for _, notMetric := range []string{
		"rate", "increase", "histogram_quantile", "predict_linear", "absent", "time",
		"sum", "max", "min", "count", "by", "on", "unless", "and",
		"instance", "job", "check", "le", "state", "mode", "fstype", "mountpoint", "platform",
		"__rate_interval", "datasource", "label_values",
	} {
		if where, ok := used[notMetric]; ok {
			t.Errorf("UsedMetrics() reports %q as a metric, used at %q", notMetric, where)
		}
	}
}

func TestUsedMetricsMatchContract(t *testing.T) {
	used, err := UsedMetrics()
	if err != nil {
		t.Fatalf("UsedMetrics: %v", err)
	}
	fams := families()
	covered := make(map[string]bool)
	for name, where := range used {
		fam := MetricFamily(name, fams)
		switch {
		case strings.HasPrefix(name, "smartcloudops_"):
			if !fams[fam] {
				t.Errorf("%s is not a metric the bot exports; used at %s", name, strings.Join(where, "; "))
				continue
			}
			if fam != name && !histograms[fam] {
				t.Errorf("%s is used as a histogram series but %s is not a histogram; used at %s", name, fam, strings.Join(where, "; "))
			}
			covered[fam] = true
		case name == "up" || strings.HasPrefix(name, "node_"):
			// Prometheus' own scrape health and node exporter metrics.
		default:
			t.Errorf("%s is neither a bot metric nor a node exporter metric; used at %s", name, strings.Join(where, "; "))
		}
	}
	for fam := range fams {
		if !covered[fam] {
			t.Errorf("bot metric %s is not shown on any dashboard or used by any alert", fam)
		}
	}
}

func TestMetricFamily(t *testing.T) {
	fams := map[string]bool{"a_seconds": true, "b_total": true, "c_count": true}
	tests := []struct{ in, want string }{
		{"a_seconds_bucket", "a_seconds"},
		{"a_seconds_sum", "a_seconds"},
		{"a_seconds_count", "a_seconds"},
		{"a_seconds", "a_seconds"},
		{"b_total", "b_total"},
		{"c_count", "c_count"},
		{"c_count_count", "c_count"},
		{"d_bucket", "d_bucket"},
		{"node_load1", "node_load1"},
	}
	for _, tt := range tests {
		if got := MetricFamily(tt.in, fams); got != tt.want {
			t.Errorf("MetricFamily(%q) = %q, want %q", tt.in, got, tt.want)
		}
	}
}

func TestUsedMetricsErrors(t *testing.T) {
	rules := "groups:\n  - name: g\n    rules:\n      - alert: A\n        expr: up == 0\n"
	dash := `{"title":"d","panels":[{"title":"p","targets":[{"refId":"A","expr":"up"}]}]}`
	tests := []struct {
		name    string
		files   fstest.MapFS
		wantErr string
	}{
		{"bad rule expr", fstest.MapFS{
			AlertRulesFile:            {Data: []byte("groups:\n  - name: g\n    rules:\n      - alert: A\n        expr: rate(up[5m)\n")},
			DashboardsDir + "/d.json": {Data: []byte(dash)},
		}, "prometheus-alerts.yml: alert A: unclosed '['"},
		{"rule without name", fstest.MapFS{
			AlertRulesFile:            {Data: []byte("groups:\n  - name: g\n    rules:\n      - expr: up\n")},
			DashboardsDir + "/d.json": {Data: []byte(dash)},
		}, `group 0 ("g") rule 0 has neither alert nor record`},
		{"empty rules", fstest.MapFS{
			AlertRulesFile:            {Data: []byte("groups: []\n")},
			DashboardsDir + "/d.json": {Data: []byte(dash)},
		}, "no rule groups"},
		{"bad dashboard json", fstest.MapFS{
			AlertRulesFile:            {Data: []byte(rules)},
			DashboardsDir + "/d.json": {Data: []byte(`{"panels": [`)},
		}, "parse grafana-dashboards/d.json"},
		{"bad panel expr", fstest.MapFS{
			AlertRulesFile:            {Data: []byte(rules)},
			DashboardsDir + "/d.json": {Data: []byte(`{"panels":[{"title":"p","targets":[{"refId":"B","expr":"sum(up"}]}]}`)},
		}, `target B: grafana-dashboards/d.json: panel "p": 1 unclosed '('`},
		{"bad variable query", fstest.MapFS{
			AlertRulesFile:            {Data: []byte(rules)},
			DashboardsDir + "/d.json": {Data: []byte(`{"panels":[],"templating":{"list":[{"name":"v","type":"query","query":"series(up)"}]}}`)},
		}, `variable "v": unsupported variable query function "series"`},
		{"no dashboards", fstest.MapFS{
			AlertRulesFile: {Data: []byte(rules)},
		}, "no dashboards"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, err := usedMetrics(tt.files)
			if err == nil || !strings.Contains(err.Error(), tt.wantErr) {
				t.Fatalf("usedMetrics error = %v, want it to contain %q", err, tt.wantErr)
			}
		})
	}
}

func TestGrafanaQueryExpr(t *testing.T) {
	tests := []struct{ in, want string }{
		{`label_values(smartcloudops_build_info, instance)`, "smartcloudops_build_info"},
		{`label_values(up{job="a",instance=~"$i"}, instance)`, `up{job="a",instance=~"$i"}`},
		{`label_values(instance)`, ""},
		{`label_names()`, ""},
		{`metrics(smartcloudops_.*)`, ""},
		{`query_result(topk(5, a))`, "topk(5, a)"},
	}
	for _, tt := range tests {
		got, err := grafanaQueryExpr(tt.in)
		if err != nil || got != tt.want {
			t.Errorf("grafanaQueryExpr(%q) = %q, %v; want %q", tt.in, got, err, tt.want)
		}
	}
}

// TestDashboardsAreGrafanaModels checks the parts of the dashboard JSON model that Grafana needs
// to provision them and that keep them portable: a stable uid, a datasource variable every panel
// uses, unique panel ids, and a layout inside the 24-column grid.
func TestDashboardsAreGrafanaModels(t *testing.T) {
	names, err := fs.Glob(Files(), DashboardsDir+"/*.json")
	if err != nil || len(names) < 2 {
		t.Fatalf("dashboards: %q, %v; want smartcloudops.json and detector.json", names, err)
	}
	uids := make(map[string]string)
	for _, name := range names {
		t.Run(name, func(t *testing.T) {
			data, err := fs.ReadFile(Files(), name)
			if err != nil {
				t.Fatal(err)
			}
			var d struct {
				UID           string `json:"uid"`
				Title         string `json:"title"`
				SchemaVersion int    `json:"schemaVersion"`
				Panels        []struct {
					ID         int                      `json:"id"`
					Type       string                   `json:"type"`
					Title      string                   `json:"title"`
					Datasource json.RawMessage          `json:"datasource"`
					GridPos    struct{ H, W, X, Y int } `json:"gridPos"`
					Targets    []struct {
						RefID      string          `json:"refId"`
						Expr       string          `json:"expr"`
						Datasource json.RawMessage `json:"datasource"`
					} `json:"targets"`
				} `json:"panels"`
				Templating struct {
					List []struct {
						Name  string          `json:"name"`
						Type  string          `json:"type"`
						Query json.RawMessage `json:"query"`
					} `json:"list"`
				} `json:"templating"`
			}
			dec := json.NewDecoder(strings.NewReader(string(data)))
			if err := dec.Decode(&d); err != nil {
				t.Fatalf("decode: %v", err)
			}
			if d.UID == "" || d.Title == "" || d.SchemaVersion < 30 {
				t.Errorf("uid %q, title %q, schemaVersion %d: want all set (schemaVersion >= 30)", d.UID, d.Title, d.SchemaVersion)
			}
			if other, ok := uids[d.UID]; ok {
				t.Errorf("uid %q also used by %s", d.UID, other)
			}
			uids[d.UID] = name
			hasDS := false
			for _, v := range d.Templating.List {
				if v.Name == "datasource" && v.Type == "datasource" && string(v.Query) == `"prometheus"` {
					hasDS = true
				}
			}
			if !hasDS {
				t.Errorf("no datasource variable of type datasource selecting prometheus")
			}
			const ds = `{"type":"prometheus","uid":"${datasource}"}`
			ids := make(map[int]bool)
			for _, p := range d.Panels {
				if ids[p.ID] {
					t.Errorf("panel %q: duplicate id %d", p.Title, p.ID)
				}
				ids[p.ID] = true
				if p.GridPos.W <= 0 || p.GridPos.H <= 0 || p.GridPos.X < 0 || p.GridPos.X+p.GridPos.W > 24 {
					t.Errorf("panel %q: gridPos %+v outside the 24-column grid", p.Title, p.GridPos)
				}
				if p.Type == "row" {
					continue
				}
				if p.Title == "" || len(p.Targets) == 0 {
					t.Errorf("panel %d: title %q with %d targets; want a title and targets", p.ID, p.Title, len(p.Targets))
				}
				if compact(t, p.Datasource) != ds {
					t.Errorf("panel %q: datasource %s, want %s", p.Title, p.Datasource, ds)
				}
				refs := make(map[string]bool)
				for _, tg := range p.Targets {
					if tg.RefID == "" || refs[tg.RefID] || strings.TrimSpace(tg.Expr) == "" {
						t.Errorf("panel %q: target %q needs a unique refId and an expr", p.Title, tg.RefID)
					}
					refs[tg.RefID] = true
					if compact(t, tg.Datasource) != ds {
						t.Errorf("panel %q target %s: datasource %s, want %s", p.Title, tg.RefID, tg.Datasource, ds)
					}
				}
			}
		})
	}
}

func compact(t *testing.T, raw json.RawMessage) string {
	t.Helper()
	var v any
	if err := json.Unmarshal(raw, &v); err != nil {
		return string(raw)
	}
	out, err := json.Marshal(v)
	if err != nil {
		t.Fatal(err)
	}
	return string(out)
}

func BenchmarkUsedMetrics(b *testing.B) {
	b.ReportAllocs()
	for b.Loop() {
		if _, err := UsedMetrics(); err != nil {
			b.Fatal(err)
		}
	}
}
