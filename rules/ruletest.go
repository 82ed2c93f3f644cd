package rules

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"os"
	"path/filepath"
	"slices"
	"sort"
	"strconv"
	"strings"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"go.yaml.in/yaml/v3"

	"github.com/smartcloudops/smartcloudops/detector"
	"github.com/smartcloudops/smartcloudops/internal/store"
	"github.com/smartcloudops/smartcloudops/remediation"
)

// maxTestSteps caps the evaluation steps of one rule unit test.
const maxTestSteps = 100_000

// testEpoch is time zero of rule unit tests: `at: 3m` means testEpoch + 3m.
var testEpoch = time.Unix(0, 0).UTC()

// TestFile is a rule unit test file.
type TestFile struct {
	RuleFiles          []string   `yaml:"rule_files"`
	EvaluationInterval string     `yaml:"evaluation_interval"`
	Tests              []TestCase `yaml:"tests"`
}

// TestCase is one rule unit test: inputs over time and the proposals expected.
type TestCase struct {
	Name      string            `yaml:"name"`
	Interval  string            `yaml:"interval"`
	Input     []TestSeries      `yaml:"input_series"`
	Anomalies []TestAnomaly     `yaml:"anomalies"`
	Alerts    []TestAlert       `yaml:"alerts"`
	Expected  []TestExpectGroup `yaml:"expected_proposals"`
}

// TestSeries is one result series of a query rule's query (PromQL is not evaluated in tests).
type TestSeries struct {
	Rule   string            `yaml:"rule"`  // the rule whose query returns this series
	Query  string            `yaml:"query"` // or the query text itself
	Labels map[string]string `yaml:"labels"`
	Values string            `yaml:"values"`
}

// TestAnomaly is one series of a detector check for check rules: at each step whose value is
// present the check scores a point, and the series' episode opens and ends as it would live
// (detector.Lifecycle), so `for:`, window functions and anomaly.open mean what they mean live.
type TestAnomaly struct {
	Check  string            `yaml:"check"`
	Labels map[string]string `yaml:"labels"`
	Values string            `yaml:"values"`
	// Score is the score of every point (default 1); Scores, a series in the notation of
	// values, gives each step its own.
	Score  *float64 `yaml:"score"`
	Scores string   `yaml:"scores"`
	// Expected, Lower and Upper are the band the model gives each point.
	Expected float64 `yaml:"expected"`
	Lower    float64 `yaml:"lower"`
	Upper    float64 `yaml:"upper"`
	// Threshold is the check's threshold (default 0.5, the shipped one).
	Threshold *float64 `yaml:"threshold"`
}

// defaultTestThreshold is the check threshold a test assumes when it gives none: the shipped
// model's.
const defaultTestThreshold = 0.5

// TestAlert is an Alertmanager alert, firing from StartsAt until EndsAt (resolved then).
type TestAlert struct {
	Labels      map[string]string `yaml:"labels"`
	Annotations map[string]string `yaml:"annotations"`
	StartsAt    string            `yaml:"starts_at"`
	EndsAt      string            `yaml:"ends_at"`
}

// TestExpectGroup lists the proposals one rule must make at one time; an empty list means none.
type TestExpectGroup struct {
	At        string         `yaml:"at"`
	Rule      string         `yaml:"rule"`
	Proposals []TestProposal `yaml:"proposals"`
}

// TestProposal is one expected proposal. Labels, when given, must match exactly (series labels
// with the rule's labels); Params, when given, must match after normalization.
type TestProposal struct {
	Labels map[string]string `yaml:"labels"`
	Params map[string]any    `yaml:"params"`
}

// TestResult is the outcome of one test case.
type TestResult struct {
	File     string
	Name     string
	Failures []string // empty when the test passed
}

// TestOptions configures RunTests.
type TestOptions struct {
	Load LoadOptions
}

// RunTests runs rule unit test files; a directory stands for the *_test.yaml and *_test.yml
// files under it. The error reports files that cannot be read or parsed and rule files that do
// not load; test failures are in the results.
func RunTests(ctx context.Context, paths []string, opts TestOptions) ([]TestResult, error) {
	var results []TestResult
	var errs []error
	files, err := expandTestPaths(paths)
	if err != nil {
		errs = append(errs, err)
	}
	for _, f := range files {
		rs, err := runTestFile(ctx, f, opts)
		results = append(results, rs...)
		if err != nil {
			errs = append(errs, err)
		}
	}
	return results, errors.Join(errs...)
}

func expandTestPaths(paths []string) ([]string, error) {
	var out []string
	var errs []error
	for _, p := range paths {
		st, err := os.Stat(p)
		if err != nil {
			errs = append(errs, fmt.Errorf("%s: %s", p, unwrapPathErr(err)))
			continue
		}
		if !st.IsDir() {
			out = append(out, p)
			continue
		}
		found, err := filesBelow(p, func(path string) bool {
			ext := filepath.Ext(path)
			return (ext == ".yaml" || ext == ".yml") && strings.HasSuffix(strings.TrimSuffix(path, ext), "_test")
		})
		if err != nil {
			errs = append(errs, fmt.Errorf("%s: %w", p, err))
		}
		out = append(out, found...)
	}
	return out, errors.Join(errs...)
}

func runTestFile(ctx context.Context, name string, opts TestOptions) ([]TestResult, error) {
	data, err := readFile(name)
	if err != nil {
		return nil, fmt.Errorf("%s: %w", name, err)
	}
	var tf TestFile
	dec := yaml.NewDecoder(bytes.NewReader(data))
	dec.KnownFields(true)
	if err := dec.Decode(&tf); err != nil && !errors.Is(err, io.EOF) {
		return nil, fmt.Errorf("%s: %s", name, strings.TrimPrefix(err.Error(), "yaml: "))
	}
	if len(tf.RuleFiles) == 0 {
		return nil, fmt.Errorf("%s: rule_files is empty", name)
	}
	var paths []string
	for _, rf := range tf.RuleFiles {
		if !filepath.IsAbs(rf) {
			rf = filepath.Join(filepath.Dir(name), rf)
		}
		paths = append(paths, rf)
	}
	set, err := Load(paths, opts.Load)
	if err != nil {
		return nil, fmt.Errorf("%s: rule files do not load:\n%w", name, err)
	}
	defInterval := time.Minute
	if tf.EvaluationInterval != "" {
		if defInterval, err = ParseDuration(tf.EvaluationInterval); err != nil || defInterval <= 0 {
			return nil, fmt.Errorf("%s: evaluation_interval %q: want a positive duration", name, tf.EvaluationInterval)
		}
	}
	var results []TestResult
	for i, tc := range tf.Tests {
		label := tc.Name
		if label == "" {
			label = fmt.Sprintf("tests[%d]", i)
		}
		res := TestResult{File: name, Name: label}
		fails, err := runTestCase(ctx, set, tc, defInterval, opts)
		if err != nil {
			res.Failures = []string{err.Error()}
		} else {
			res.Failures = fails
		}
		results = append(results, res)
	}
	return results, nil
}

// testInput is a test case with its series expanded.
type testInput struct {
	interval  time.Duration
	steps     int
	series    map[string][]expandedSeries // by query text
	anomalies []expandedAnomaly
	checks    []string // checks named by anomalies, in order
	alerts    []testAlertTimes
	expect    map[expectKey][]TestProposal
}

type expandedSeries struct {
	labels map[string]string
	points []Point
}

type expandedAnomaly struct {
	TestAnomaly
	points []Point
	scores []Point // per step, when Scores is given
	life   detector.Lifecycle
	ep     detector.Episode
}

type testAlertTimes struct {
	TestAlert
	start, end time.Duration // end 0: never resolved
}

type expectKey struct {
	at   time.Duration
	rule string
}

// observe is what check c scores at step: each of its series with a point then, moved along its
// episode exactly as the detector moves a live series.
func (in *testInput) observe(c string, step int, now time.Time) []Observation {
	var out []Observation
	for i := range in.anomalies {
		a := &in.anomalies[i]
		if a.Check != c || step >= len(a.points) || a.points[step].Missing {
			continue
		}
		score := 1.0
		switch {
		case a.scores != nil && step < len(a.scores) && !a.scores[step].Missing:
			score = a.scores[step].Value
		case a.scores != nil:
			score = 0
		case a.Score != nil:
			score = *a.Score
		}
		v := a.points[step].Value
		p := detector.Scored{Point: detector.Point{T: now, V: v}, Score: score, Expected: a.Expected, Lower: a.Lower, Upper: a.Upper}
		a.life.Step(&a.ep, p, nil)
		o := Observation{Labels: a.Labels, T: now, Value: v, Score: score,
			Expected: a.Expected, Lower: a.Lower, Upper: a.Upper}
		if a.ep.Open() {
			o.Open, o.Since, o.Peak = true, a.ep.Since, a.ep.Peak
			o.Expected, o.Lower, o.Upper = a.ep.Expected, a.ep.Lower, a.ep.Upper
		}
		out = append(out, o)
	}
	return out
}

func prepareTest(set *Set, tc TestCase, defInterval time.Duration) (*testInput, error) {
	in := &testInput{interval: defInterval, series: map[string][]expandedSeries{}, expect: map[expectKey][]TestProposal{}}
	if tc.Interval != "" {
		d, err := ParseDuration(tc.Interval)
		if err != nil || d <= 0 {
			return nil, fmt.Errorf("interval %q: want a positive duration", tc.Interval)
		}
		in.interval = d
	}
	grow := func(n int) { in.steps = max(in.steps, n) }
	for i, s := range tc.Input {
		q := s.Query
		if s.Rule != "" {
			r, ok := set.Rule(s.Rule)
			if !ok || r.Input != InputQuery {
				return nil, fmt.Errorf("input_series[%d]: %q is not a query rule of the rule files", i, s.Rule)
			}
			q = r.Query
		}
		if q == "" || (s.Rule != "" && s.Query != "") {
			return nil, fmt.Errorf("input_series[%d]: give exactly one of rule or query", i)
		}
		pts, err := ParseSeries(s.Values)
		if err != nil {
			return nil, fmt.Errorf("input_series[%d]: %w", i, err)
		}
		in.series[q] = append(in.series[q], expandedSeries{labels: s.Labels, points: pts})
		grow(len(pts))
	}
	for i, a := range tc.Anomalies {
		if a.Check == "" {
			return nil, fmt.Errorf("anomalies[%d]: check is required", i)
		}
		pts, err := ParseSeries(a.Values)
		if err != nil {
			return nil, fmt.Errorf("anomalies[%d]: %w", i, err)
		}
		ea := expandedAnomaly{TestAnomaly: a, points: pts, life: detector.Lifecycle{Threshold: defaultTestThreshold}}
		if a.Threshold != nil {
			ea.life.Threshold = *a.Threshold
		}
		if a.Scores != "" {
			if a.Score != nil {
				return nil, fmt.Errorf("anomalies[%d]: give score or scores, not both", i)
			}
			if ea.scores, err = ParseSeries(a.Scores); err != nil {
				return nil, fmt.Errorf("anomalies[%d].scores: %w", i, err)
			}
		}
		in.anomalies = append(in.anomalies, ea)
		if !slices.Contains(in.checks, a.Check) {
			in.checks = append(in.checks, a.Check)
		}
		grow(len(pts))
	}
	for i, a := range tc.Alerts {
		at := testAlertTimes{TestAlert: a}
		var err error
		if at.start, err = parseOffset(a.StartsAt); err != nil {
			return nil, fmt.Errorf("alerts[%d].starts_at: %w", i, err)
		}
		if a.EndsAt != "" {
			if at.end, err = parseOffset(a.EndsAt); err != nil || at.end <= at.start {
				return nil, fmt.Errorf("alerts[%d].ends_at %q: want a duration after starts_at", i, a.EndsAt)
			}
		}
		in.alerts = append(in.alerts, at)
		grow(int(max(at.start, at.end)/in.interval) + 1)
	}
	for i, e := range tc.Expected {
		at, err := parseOffset(e.At)
		if err != nil {
			return nil, fmt.Errorf("expected_proposals[%d].at: %w", i, err)
		}
		if at%in.interval != 0 {
			return nil, fmt.Errorf("expected_proposals[%d].at %s is not a multiple of the interval %s", i, e.At, formatDuration(in.interval))
		}
		if _, ok := set.Rule(e.Rule); !ok {
			return nil, fmt.Errorf("expected_proposals[%d]: unknown rule %q", i, e.Rule)
		}
		k := expectKey{at, e.Rule}
		in.expect[k] = append(in.expect[k], e.Proposals...)
		grow(int(at/in.interval) + 1)
	}
	if in.steps > maxTestSteps {
		return nil, fmt.Errorf("test spans %d steps, the limit is %d", in.steps, maxTestSteps)
	}
	return in, nil
}

func parseOffset(s string) (time.Duration, error) {
	if s == "" {
		return 0, nil
	}
	d, err := ParseDuration(s)
	if err == nil && d < 0 {
		err = fmt.Errorf("negative time %q", s)
	}
	return d, err
}

func runTestCase(ctx context.Context, set *Set, tc TestCase, defInterval time.Duration, opts TestOptions) ([]string, error) {
	in, err := prepareTest(set, tc, defInterval)
	if err != nil {
		return nil, err
	}
	now := testEpoch
	got := map[expectKey][]Firing{}
	step := 0
	e, err := NewEngine(EngineOptions{
		Store:      store.NewMemory(),
		Logger:     slog.New(slog.NewTextHandler(io.Discard, nil)),
		Registerer: prometheus.NewRegistry(),
		Now:        func() time.Time { return now },
		Query: func(_ context.Context, q string, _ time.Time) ([]Sample, error) {
			var out []Sample
			for _, s := range in.series[q] {
				if step < len(s.points) && !s.points[step].Missing {
					out = append(out, Sample{Labels: s.labels, Value: s.points[step].Value, T: now})
				}
			}
			return out, nil
		},
		OnFire: func(_ context.Context, f Firing) error {
			k := expectKey{f.T.Sub(testEpoch), f.Rule.Name}
			got[k] = append(got[k], f)
			return nil
		},
	})
	if err != nil {
		return nil, err
	}
	e.SetRules(set)
	var fails []string
	note := func(err error) {
		if err != nil && len(fails) < 20 {
			fails = append(fails, fmt.Sprintf("at %s: evaluation error: %v", formatDuration(time.Duration(step)*in.interval), err))
		}
	}
	for step = 0; step < in.steps; step++ {
		if err := ctx.Err(); err != nil {
			return nil, err
		}
		off := time.Duration(step) * in.interval
		now = testEpoch.Add(off)
		for _, c := range in.checks {
			note(e.EvalCheck(ctx, CheckTick{Check: c, T: now, Series: in.observe(c, step, now)}))
		}
		for _, a := range in.alerts {
			status := "firing"
			switch {
			case off < a.start || (a.end > 0 && off > a.end):
				continue
			case a.end > 0 && off == a.end:
				status = "resolved"
			}
			note(e.OnAlert(ctx, Alert{Labels: a.Labels, Annotations: a.Annotations, Status: status, StartsAt: testEpoch.Add(a.start)}))
		}
		for _, g := range set.Groups {
			if hasQueryRules(g) && off%g.Interval == 0 {
				note(e.EvalQueryGroup(ctx, g.Name, now))
			}
		}
	}
	keys := make([]expectKey, 0, len(in.expect))
	for k := range in.expect {
		keys = append(keys, k)
	}
	sort.Slice(keys, func(i, j int) bool {
		if keys[i].at != keys[j].at {
			return keys[i].at < keys[j].at
		}
		return keys[i].rule < keys[j].rule
	})
	for _, k := range keys {
		want := formatExpected(set, k.rule, in.expect[k], got[k], opts.Load.Actions)
		have := formatGot(got[k], in.expect[k])
		if strings.Join(want, "\n") != strings.Join(have, "\n") {
			fails = append(fails, fmt.Sprintf("at %s, rule %s:\n    expected: %s\n    got:      %s",
				formatDuration(k.at), k.rule, listOrNone(want), listOrNone(have)))
		}
	}
	return fails, nil
}

func listOrNone(items []string) string {
	if len(items) == 0 {
		return "no proposals"
	}
	return strings.Join(items, "\n              ")
}

// formatExpected renders expected proposals; params are normalized against the action's schema.
func formatExpected(set *Set, rule string, want []TestProposal, _ []Firing, actions func(string) (remediation.Schema, bool)) []string {
	r, _ := set.Rule(rule)
	out := make([]string, 0, len(want))
	for _, p := range want {
		params := p.Params
		if params != nil && actions != nil && r != nil {
			if schema, ok := actions(r.Action.Name); ok {
				if norm, err := schema.Normalize(params); err == nil {
					params = norm
				}
			}
		}
		out = append(out, formatProposal(p.Labels, params))
	}
	sort.Strings(out)
	return out
}

// formatGot renders the proposals made, showing only the parts the expectations name.
func formatGot(got []Firing, want []TestProposal) []string {
	showLabels, showParams := false, false
	for _, w := range want {
		showLabels = showLabels || w.Labels != nil
		showParams = showParams || w.Params != nil
	}
	out := make([]string, 0, len(got))
	for _, f := range got {
		var l map[string]string
		var p map[string]any
		if showLabels || len(want) == 0 {
			l = f.Labels
		}
		if showParams || len(want) == 0 {
			p = f.Params
		}
		out = append(out, formatProposal(l, p))
	}
	sort.Strings(out)
	return out
}

func formatProposal(labels map[string]string, params map[string]any) string {
	var parts []string
	if labels != nil {
		var l []string
		for _, k := range sortedKeys(labels) {
			l = append(l, k+"="+strconv.Quote(labels[k]))
		}
		parts = append(parts, "labels {"+strings.Join(l, ", ")+"}")
	}
	if params != nil {
		var p []string
		for _, k := range sortedKeys(params) {
			p = append(p, k+"="+formatValue(params[k]))
		}
		parts = append(parts, "params {"+strings.Join(p, ", ")+"}")
	}
	if len(parts) == 0 {
		return "a proposal"
	}
	return strings.Join(parts, " ")
}

func formatValue(v any) string {
	switch x := v.(type) {
	case string:
		return strconv.Quote(x)
	case int:
		return strconv.Itoa(x)
	case int64:
		return strconv.FormatInt(x, 10)
	case float64:
		return strconv.FormatFloat(x, 'g', -1, 64)
	case time.Duration:
		return formatDuration(x)
	case []string:
		q := make([]string, len(x))
		for i, s := range x {
			q[i] = strconv.Quote(s)
		}
		return "[" + strings.Join(q, ", ") + "]"
	case []any:
		q := make([]string, len(x))
		for i, s := range x {
			q[i] = formatValue(s)
		}
		return "[" + strings.Join(q, ", ") + "]"
	default:
		return fmt.Sprint(x)
	}
}
