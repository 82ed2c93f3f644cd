package monitoring

import (
	"slices"
	"strings"
	"testing"
)

func TestMetricNames(t *testing.T) {
	tests := []struct {
		name string
		expr string
		want []string
	}{
		{"bare selector", `up`, []string{"up"}},
		{"selector with matchers", `up{job="node", instance=~"a.*"}`, []string{"up"}},
		{"label names in matchers are skipped", `smartcloudops_check_up{check!="cpu",job!~"x"} == 0`, []string{"smartcloudops_check_up"}},
		{"functions are skipped", `rate(smartcloudops_commands_total[5m])`, []string{"smartcloudops_commands_total"}},
		{"nested functions", `histogram_quantile(0.95, sum by (le, check) (rate(smartcloudops_detector_tick_duration_seconds_bucket[5m])))`,
			[]string{"smartcloudops_detector_tick_duration_seconds_bucket"}},
		{"aggregation with trailing by", `sum(rate(a_total[1m])) by (job)`, []string{"a_total"}},
		{"aggregation with without", `max without (instance, cpu) (b)`, []string{"b"}},
		{"binary operators and keywords", `a / on (job) group_left (version) b and c or d unless e`,
			[]string{"a", "b", "c", "d", "e"}},
		{"ignoring and group_right without list", `a * ignoring (mode) group_right b`, []string{"a", "b"}},
		{"bool modifier", `a > bool 3`, []string{"a"}},
		{"keywords ignore case", `a AND b OR c Unless d`, []string{"a", "b", "c", "d"}},
		{"offset and at modifiers", `a offset 5m + b @ 1609746000 - c @ start()`, []string{"a", "b", "c"}},
		{"subquery", `max_over_time(rate(a[1m])[30m:1m])`, []string{"a"}},
		{"numbers and special floats", `a > 1e-3 * 0x1F + .5 - Inf + NaN + 4 * 3600`, []string{"a"}},
		{"strings are skipped", `label_replace(a, "dst", "$1 not_a_metric", "src", "(.*)") + count_values("version", b)`,
			[]string{"a", "b"}},
		{"single and backquoted strings", "x{a='y', b=`z\"`} + w", []string{"x", "w"}},
		{"escaped quote in string", `x{a="say \"hi\" y"}`, []string{"x"}},
		{"__name__ equality matcher", `{__name__="job:requests:rate5m", job="api"}`, []string{"job:requests:rate5m"}},
		{"quoted metric name", `{"http.server.duration", job="api"}`, []string{"http.server.duration"}},
		{"quoted label name is not a metric", `{"job"="api"}`, nil},
		{"__name__ regex matcher is not a name", `{__name__=~"node_.*"}`, nil},
		{"recording rule names", `job:cpu:avg5m > 0`, []string{"job:cpu:avg5m"}},
		{"grafana variables", `sum(rate(a{instance=~"$instance"}[$__rate_interval])) / $__interval_ms * ${factor:raw} + b[[range]]`,
			[]string{"a", "b"}},
		{"grafana variable in grouping", `sum by ($group) (a)`, []string{"a"}},
		{"comment", "a # b is commented out\n+ c", []string{"a", "c"}},
		{"repeated name reported once", `a / a + b`, []string{"a", "b"}},
		{"absent keeps the inner name", `absent(up{job="smartcloudops"})`, []string{"up"}},
		{"time function alone", `time() - vector(1)`, nil},
		{"aggregators are never names", `topk(3, a) + quantile(0.9, b) + group(c) + count(d) + stddev(e)`,
			[]string{"a", "b", "c", "d", "e"}},
		{"predict_linear", `predict_linear(node_filesystem_avail_bytes{fstype!~"tmpfs"}[1h], 4 * 3600) < 0`,
			[]string{"node_filesystem_avail_bytes"}},
		{"function name with space before paren", `rate (a[5m])`, []string{"a"}},
		{"multi-line", "100 * (\n  1 - avg by (instance) (\n    rate(node_cpu_seconds_total{mode=\"idle\"}[2m])\n  )\n) > 90",
			[]string{"node_cpu_seconds_total"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, err := MetricNames(tt.expr)
			if err != nil {
				t.Fatalf("MetricNames(%q): %v", tt.expr, err)
			}
			if !slices.Equal(got, tt.want) {
				t.Errorf("MetricNames(%q) = %q, want %q", tt.expr, got, tt.want)
			}
		})
	}
}

func TestMetricNamesErrors(t *testing.T) {
	tests := []struct {
		name    string
		expr    string
		wantErr string
	}{
		{"unterminated string", `a{job="x}`, "unterminated string starting at offset 6"},
		{"unclosed matchers", `a{job="x"`, "unclosed '{' at offset 1"},
		{"unclosed range", `rate(a[5m)`, "unclosed '[' at offset 6"},
		{"unclosed paren", `sum(rate(a[5m])`, "1 unclosed '('"},
		{"stray paren", `a)`, "unexpected ')' at offset 1"},
		{"stray brace", `a}`, "unexpected '}' at offset 1"},
		{"bad matcher", `a{job+"x"}`, "unexpected '+' in label matchers at offset 5"},
		{"unclosed label list", `sum by (job a`, "unclosed '(' at offset 7"},
		{"bad label list", `sum by (job{) (a)`, "unexpected '{' in label list at offset 11"},
		{"unclosed variable", `a + ${x`, "unclosed '${' at offset 4"},
		{"newline in string", "a{job=\"x\n\"}", "newline in string starting at offset 6"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, err := MetricNames(tt.expr)
			if err == nil {
				t.Fatalf("MetricNames(%q) = %q, want error containing %q", tt.expr, got, tt.wantErr)
			}
			if !strings.Contains(err.Error(), tt.wantErr) {
				t.Errorf("MetricNames(%q) error = %q, want it to contain %q", tt.expr, err, tt.wantErr)
			}
		})
	}
}

func FuzzMetricNames(f *testing.F) {
	for _, seed := range []string{
		`up`,
		`sum by (job) (rate(a_total{x="y"}[5m])) / on (job) group_left b`,
		`histogram_quantile(0.9, sum by (le) (rate(h_bucket[$__rate_interval])))`,
		`{__name__="x", y!~"z"}`,
		`max_over_time(a[1h:5m]) offset 1d @ end()`,
		`a{b="\"c"}`,
		"a # comment\n+ b",
		`a[[var]] + ${v:csv}`,
		`0x1f + 1e-3 + .5`,
		`label_replace(a, "d", "$1", "s", "(.*)")`,
	} {
		f.Add(seed)
	}
	f.Fuzz(func(t *testing.T, expr string) {
		names, err := MetricNames(expr)
		if err != nil {
			return
		}
		seen := make(map[string]bool)
		for _, n := range names {
			if n == "" {
				t.Fatalf("MetricNames(%q) returned an empty name", expr)
			}
			if seen[n] {
				t.Fatalf("MetricNames(%q) returned %q twice", expr, n)
			}
			seen[n] = true
			if keywords[strings.ToLower(n)] || groupingKeywords[strings.ToLower(n)] || aggregators[strings.ToLower(n)] {
				t.Fatalf("MetricNames(%q) returned keyword %q", expr, n)
			}
		}
	})
}

func BenchmarkMetricNames(b *testing.B) {
	expr := `histogram_quantile(0.95, sum by (check, le) (rate(smartcloudops_detector_tick_duration_seconds_bucket{instance=~"$instance",check=~"$check"}[$__rate_interval]))) / on (instance) group_left (version) smartcloudops_build_info`
	b.ReportAllocs()
	for b.Loop() {
		if _, err := MetricNames(expr); err != nil {
			b.Fatal(err)
		}
	}
}
