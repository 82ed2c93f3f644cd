package monitoring

import (
	"embed"
	"encoding/json"
	"fmt"
	"io/fs"
	"slices"
	"sort"
	"strings"

	"go.yaml.in/yaml/v3"
)

// assets holds the monitoring files that are read at run time or by tests in other packages.
//
//go:embed prometheus.yml prometheus-alerts.yml alertmanager.yml tests/*.yml grafana-dashboards/*.json
var assets embed.FS

// Paths of the embedded assets, relative to the root of Files.
const (
	PrometheusConfigFile = "prometheus.yml"
	AlertRulesFile       = "prometheus-alerts.yml"
	AlertmanagerFile     = "alertmanager.yml"
	DashboardsDir        = "grafana-dashboards"
	RuleTestsDir         = "tests"
)

// Files returns the embedded monitoring assets: prometheus.yml, prometheus-alerts.yml,
// alertmanager.yml, the rule unit tests under tests/ and the dashboards under
// grafana-dashboards/. Integration tests load the alert rules from here into a real Prometheus.
func Files() fs.FS { return assets }

// UsedMetrics returns every metric name that the embedded Grafana dashboards and alert rules use,
// each mapped to the sorted places that use it, such as
// `grafana-dashboards/detector.json: panel "Source errors"` or
// `prometheus-alerts.yml: alert SmartCloudOpsDown`. Names are as written in the queries, so
// histogram series keep their _bucket, _sum or _count suffix; MetricFamily maps them back to the
// family a registry reports.
func UsedMetrics() (map[string][]string, error) {
	return usedMetrics(assets)
}

func usedMetrics(fsys fs.FS) (map[string][]string, error) {
	used := make(map[string][]string)
	add := func(where, expr string) error {
		names, err := MetricNames(expr)
		if err != nil {
			return fmt.Errorf("%s: %w", where, err)
		}
		for _, n := range names {
			used[n] = append(used[n], where)
		}
		return nil
	}
	if err := rulesMetrics(fsys, AlertRulesFile, add); err != nil {
		return nil, err
	}
	dashboards, err := fs.Glob(fsys, DashboardsDir+"/*.json")
	if err != nil {
		return nil, fmt.Errorf("list dashboards: %w", err)
	}
	if len(dashboards) == 0 {
		return nil, fmt.Errorf("no dashboards in %s", DashboardsDir)
	}
	for _, d := range dashboards {
		if err := dashboardMetrics(fsys, d, add); err != nil {
			return nil, err
		}
	}
	for n, where := range used {
		sort.Strings(where)
		used[n] = slices.Compact(where)
	}
	return used, nil
}

// ruleFile is the part of a Prometheus rule file that holds expressions.
type ruleFile struct {
	Groups []struct {
		Name  string `yaml:"name"`
		Rules []struct {
			Alert  string `yaml:"alert"`
			Record string `yaml:"record"`
			Expr   string `yaml:"expr"`
		} `yaml:"rules"`
	} `yaml:"groups"`
}

func rulesMetrics(fsys fs.FS, name string, add func(where, expr string) error) error {
	data, err := fs.ReadFile(fsys, name)
	if err != nil {
		return fmt.Errorf("read rules: %w", err)
	}
	var rf ruleFile
	if err := yaml.Unmarshal(data, &rf); err != nil {
		return fmt.Errorf("parse %s: %w", name, err)
	}
	if len(rf.Groups) == 0 {
		return fmt.Errorf("%s: no rule groups", name)
	}
	for gi, g := range rf.Groups {
		for ri, r := range g.Rules {
			var where string
			switch {
			case r.Alert != "":
				where = fmt.Sprintf("%s: alert %s", name, r.Alert)
			case r.Record != "":
				where = fmt.Sprintf("%s: record %s", name, r.Record)
			default:
				return fmt.Errorf("%s: group %d (%q) rule %d has neither alert nor record", name, gi, g.Name, ri)
			}
			if strings.TrimSpace(r.Expr) == "" {
				return fmt.Errorf("%s: empty expr", where)
			}
			if err := add(where, r.Expr); err != nil {
				return err
			}
		}
	}
	return nil
}

// dashboard is the part of a Grafana dashboard JSON model that holds queries. Rows may nest
// panels when collapsed.
type dashboard struct {
	Title      string  `json:"title"`
	Panels     []panel `json:"panels"`
	Templating struct {
		List []variable `json:"list"`
	} `json:"templating"`
}

type panel struct {
	Title   string  `json:"title"`
	Type    string  `json:"type"`
	Panels  []panel `json:"panels"`
	Targets []struct {
		Expr  string `json:"expr"`
		RefID string `json:"refId"`
	} `json:"targets"`
}

type variable struct {
	Name  string          `json:"name"`
	Type  string          `json:"type"`
	Query json.RawMessage `json:"query"`
}

func dashboardMetrics(fsys fs.FS, name string, add func(where, expr string) error) error {
	data, err := fs.ReadFile(fsys, name)
	if err != nil {
		return fmt.Errorf("read dashboard: %w", err)
	}
	var d dashboard
	if err := json.Unmarshal(data, &d); err != nil {
		return fmt.Errorf("parse %s: %w", name, err)
	}
	var walk func(ps []panel) error
	walk = func(ps []panel) error {
		for _, p := range ps {
			for _, t := range p.Targets {
				if strings.TrimSpace(t.Expr) == "" {
					continue
				}
				where := fmt.Sprintf("%s: panel %q", name, p.Title)
				if err := add(where, t.Expr); err != nil {
					return fmt.Errorf("target %s: %w", t.RefID, err)
				}
			}
			if err := walk(p.Panels); err != nil {
				return err
			}
		}
		return nil
	}
	if err := walk(d.Panels); err != nil {
		return err
	}
	for _, v := range d.Templating.List {
		if v.Type != "query" {
			continue
		}
		q, err := variableQuery(v.Query)
		if err != nil {
			return fmt.Errorf("%s: variable %q: %w", name, v.Name, err)
		}
		expr, err := grafanaQueryExpr(q)
		if err != nil {
			return fmt.Errorf("%s: variable %q: %w", name, v.Name, err)
		}
		if expr == "" {
			continue
		}
		if err := add(fmt.Sprintf("%s: variable %q", name, v.Name), expr); err != nil {
			return err
		}
	}
	return nil
}

// variableQuery returns the query text of a template variable, which Grafana stores either as a
// string or as an object with a "query" field.
func variableQuery(raw json.RawMessage) (string, error) {
	if len(raw) == 0 {
		return "", nil
	}
	var s string
	if err := json.Unmarshal(raw, &s); err == nil {
		return s, nil
	}
	var o struct {
		Query string `json:"query"`
	}
	if err := json.Unmarshal(raw, &o); err != nil {
		return "", fmt.Errorf("query is neither a string nor an object with a query field: %w", err)
	}
	return o.Query, nil
}

// grafanaQueryExpr turns a Prometheus template variable query into the PromQL it evaluates:
// label_values(selector, label) and query_result(expr) carry PromQL, label_values(label),
// label_names() and metrics(regex) select no metric.
func grafanaQueryExpr(q string) (string, error) {
	q = strings.TrimSpace(q)
	fn, args, ok := strings.Cut(q, "(")
	if !ok {
		return "", fmt.Errorf("unsupported variable query %q", q)
	}
	fn = strings.TrimSpace(fn)
	args = strings.TrimSpace(args)
	if !strings.HasSuffix(args, ")") {
		return "", fmt.Errorf("variable query %q does not end with ')'", q)
	}
	args = strings.TrimSuffix(args, ")")
	switch fn {
	case "label_values":
		// The label is the last argument; a selector, if any, comes before it.
		i := strings.LastIndexByte(args, ',')
		if i < 0 {
			return "", nil
		}
		return args[:i], nil
	case "query_result":
		return args, nil
	case "label_names", "metrics":
		return "", nil
	default:
		return "", fmt.Errorf("unsupported variable query function %q", fn)
	}
}

// MetricFamily maps a series name used in a query to the metric family that exports it: a name
// that is itself in families is returned as is, a histogram or summary series such as
// x_bucket, x_sum or x_count becomes x when x is in families, and any other name is returned
// unchanged. Counters keep their _total suffix, as prometheus.Gatherer reports them.
func MetricFamily(name string, families map[string]bool) string {
	if families[name] {
		return name
	}
	for _, suffix := range []string{"_bucket", "_sum", "_count"} {
		if base, ok := strings.CutSuffix(name, suffix); ok && families[base] {
			return base
		}
	}
	return name
}
