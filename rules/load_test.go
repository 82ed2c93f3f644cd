package rules

import (
	"errors"
	"fmt"
	"strings"
	"testing"
	"time"
)

func TestLoadValid(t *testing.T) {
	s, err := Load([]string{"testdata/load/valid.yaml"}, LoadOptions{Actions: testActions})
	if err != nil {
		t.Fatal(err)
	}
	if s.Len() != 3 {
		t.Fatalf("got %d rules, want 3", s.Len())
	}
	r, ok := s.Rule("web-cpu-high")
	if !ok {
		t.Fatal("web-cpu-high missing")
	}
	if r.Group != "web" || r.Interval != 30*time.Second || r.For != 3*time.Minute || r.Cooldown != 15*time.Minute {
		t.Errorf("group/interval/for/cooldown = %q %v %v %v", r.Group, r.Interval, r.For, r.Cooldown)
	}
	if r.MaxRuns != (MaxRuns{Count: 3, Per: time.Hour}) || r.Severity != SeverityCritical || r.Labels["team"] != "web" {
		t.Errorf("max_runs/severity/labels = %+v %q %v", r.MaxRuns, r.Severity, r.Labels)
	}
	if r.Approval.Roles[0] != "sre" || r.Approval.Expires != 30*time.Minute || r.Approval.MinApprovers != 1 {
		t.Errorf("approval = %+v", r.Approval)
	}
	if r.Line != 5 || r.File != "testdata/load/valid.yaml" || len(r.Version) != 12 {
		t.Errorf("line/file/version = %d %q %q", r.Line, r.File, r.Version)
	}
	if !strings.Contains(r.Source, "name: web-cpu-high") {
		t.Errorf("source = %q", r.Source)
	}
	d, _ := s.Rule("demo-cpu-spike")
	if d.Input != InputCheck || d.Check != "demo-cpu" || d.Approval.Roles[0] != DefaultRole || d.Approval.Expires != DefaultExpires || d.Interval != DefaultInterval {
		t.Errorf("defaults not applied: %+v", d)
	}
	a, _ := s.Rule("host-cpu-alert")
	if a.Input != InputAlert || len(a.Alert) != 2 || !a.DryRun || a.Enabled {
		t.Errorf("alert rule = %+v", a)
	}
	if !a.Alert[1].Matches(map[string]string{"env": "production"}) || a.Alert[1].Matches(map[string]string{"env": "staging"}) {
		t.Error("regexp matcher wrong")
	}
}

func TestLoadReportsEveryError(t *testing.T) {
	_, err := Load([]string{"testdata/load"}, LoadOptions{Actions: testActions})
	if err == nil {
		t.Fatal("want errors")
	}
	got := err.Error()
	want := []string{
		// Column points at "lables" inside the quoted condition.
		"testdata/load/invalid.yaml:6:30: groups[0].rules[0].when: unknown name `lables`, did you mean `labels`?: \"lables.env == \\\"prod\\\"\"",
		`testdata/load/invalid.yaml:10:15: groups[0].rules[1].when: a condition must be true or false (a comparison such as value > 90), not a number`,
		`testdata/load/invalid.yaml:14:9: groups[0].rules[2].wen: unknown field`,
		`testdata/load/invalid.yaml:16:9: groups[0].rules[3]: want exactly one of query, check or alert (got query and check)`,
		`groups[0].rules[4].action.params.script: template:`,
		`invalid.yaml:25:75: groups[0].rules[5].action.params.delta: param "delta": "lots" is not a whole number`,
		`testdata/load/invalid.yaml:28:24: groups[0].rules[6].action.name: unknown action: "reboot-the-world"`,
		`testdata/load/invalid.yaml:31:14: groups[0].rules[7].for: invalid duration`,
		`testdata/load/invalid.yaml:37:13: groups[0].rules[8].when: anomaly is only defined for check rules`,
		`testdata/load/invalid.yaml:39:15: groups[0].rules[9].name: rule name already used at testdata/load/invalid.yaml:4: "typo-in-condition"`,
		`testdata/load/syntax.yaml:3:1: yaml:`,
	}
	for _, w := range want {
		if !strings.Contains(got, w) {
			t.Errorf("missing %q in:\n%s", w, got)
		}
	}
	var e *Error
	if !errors.As(err, &e) {
		t.Errorf("errors are not *Error: %T", err)
	}
}

func TestLoadSkipsTestFiles(t *testing.T) {
	for _, c := range []struct {
		name string
		want bool
	}{{"a.yaml", true}, {"a.yml", true}, {"a_test.yaml", false}, {"a.json", false}, {"dir/b_test.yml", false}} {
		if got := IsRuleFile(c.name); got != c.want {
			t.Errorf("IsRuleFile(%q) = %v", c.name, got)
		}
	}
}

func TestConditionErrors(t *testing.T) {
	cases := []struct {
		when    string
		kind    InputKind
		wantErr string
		offset  int
	}{
		{`value > 90 && labels.env == "prod"`, InputQuery, "", 0},
		{`avg_over(5m) > 80 && max_over(1h30m) < 100 && rate(90s) >= 0 && delta(2d) != 1`, InputQuery, "", 0},
		{`now - anomaly.since > 10m`, InputCheck, "", 0},
		{`alert.status == "firing" && alert.labels.env == "prod"`, InputAlert, "", 0},
		{`labels.env == "5m"`, InputQuery, "", 0},
		{`value > 1e3 && value < 0x10`, InputQuery, "", 0},
		{`vlaue > 90`, InputQuery, "unknown name `vlaue`, did you mean `value`?", 0},
		{`value > 90 && 5m > 1`, InputQuery, "mismatched types", 17},
		{`2h > 1h && bogus`, InputQuery, "unknown name `bogus`; a query rule can use value, labels, now, avg_over, max_over, min_over, rate, delta", 11},
		{`avg_over(5x) > 1`, InputQuery, "bad number syntax", 10},
		{`avg_over(0s) > 1`, InputQuery, "positive window", 0},
		{`avg_over(5m) > 1`, InputAlert, "not defined for alert rules", 0},
		{`alert.status == "x"`, InputQuery, "only defined for alert rules", 0},
		{`value`, InputQuery, "must be true or false (a comparison such as value > 90), not a number", 0},
		{strings.Repeat("value > 1 && ", 400) + "true", InputQuery, "limit", 0},
		{strings.Repeat("(", 300) + "true" + strings.Repeat(")", 300), InputQuery, "", -1},
	}
	for _, c := range cases {
		_, err := compileCondition(c.when, c.kind)
		switch {
		case c.wantErr == "" && c.offset == 0 && err != nil:
			t.Errorf("%q: unexpected error %v", c.when, err)
		case c.wantErr != "" && (err == nil || !strings.Contains(err.Error(), c.wantErr)):
			t.Errorf("%q: error %v, want %q", c.when, err, c.wantErr)
		case c.wantErr != "" && c.offset > 0:
			var ce *condError
			if errors.As(err, &ce) && ce.offset != c.offset {
				t.Errorf("%q: offset %d, want %d", c.when, ce.offset, c.offset)
			}
		}
	}
}

func TestVersionChangesWithMeaningOnly(t *testing.T) {
	base := "groups:\n- name: g\n  rules:\n  - name: r\n    query: up\n    when: value > 1\n    action: {name: script, params: {script: a.sh}}\n"
	reformatted := "# comment\ngroups:\n  - name: g\n    rules:\n      - name: r\n        query: 'up'\n        when: \"value > 1\"\n        action:\n          name: script\n          params: {script: a.sh}\n"
	changed := strings.Replace(base, "value > 1", "value > 2", 1)
	v := func(src string) string { r, _ := parseRules(t, src).Rule("r"); return r.Version }
	if v(base) != v(reformatted) {
		t.Error("formatting changed the version")
	}
	if v(base) == v(changed) {
		t.Error("condition change kept the version")
	}
}

func TestHostileConditions(t *testing.T) {
	doubling := `let a0 = labels.env + labels.env;`
	for i := 1; i <= 24; i++ {
		doubling += fmt.Sprintf(" let a%d = a%d + a%d;", i, i-1, i-1)
	}
	doubling += " len(a24) > 0"
	// Refused at load: too deep (node cap), too long (size cap), and what loops or multiplies
	// a string, which no budget bounds.
	for src, want := range map[string]string{
		strings.Repeat("!(", 800) + "true" + strings.Repeat(")", 800): "nodes",
		strings.Repeat("value > 1 || ", 1000) + "true":                "the limit is 4096",
		doubling: "let is not allowed",
		`all(1..100000000, {all(1..100000000, {# > 0})})`:                       "loops",
		`len(join(map(1..1000000, {string(#)}), ",")) > 0`:                      "loops",
		`len(repeat(labels.env, 1000000000)) > 0`:                               "repeat is not allowed",
		`len(replace(replace(labels.env, "", labels.env), "", "xxxxxxxx")) > 0`: "replace is not allowed",
	} {
		if _, err := compileCondition(src, InputQuery); err == nil || !strings.Contains(err.Error(), want) {
			t.Errorf("condition %.60q: %v, want an error containing %q", src, err, want)
		}
	}
	// Bounded at evaluation: the memory budget stops large ranges.
	for _, src := range []string{
		`len(1..100000000) > 0`,
		`value in 1..100000000`,
	} {
		c, err := compileCondition(src, InputQuery)
		if err != nil {
			t.Fatalf("%q: %v", src, err)
		}
		ev := newEvaluator()
		if _, err := ev.run(c, nil); err == nil || !strings.Contains(err.Error(), "memory budget") {
			t.Errorf("%q: run error %v, want memory budget exceeded", src, err)
		}
	}
}

// TestUnknownCheck loads check rules against the checks of a configuration: a name that is not
// one of them is refused at its line, with the closest name offered; without the configuration
// nothing is refused and CheckRules lists what could not be verified.
func TestUnknownCheck(t *testing.T) {
	src := "groups:\n- name: g\n  rules:\n" +
		"  - name: typo\n    check: host-cpux\n    action: {name: script, params: {script: a.sh}}\n" +
		"  - name: other\n    check: disk\n    action: {name: script, params: {script: a.sh}}\n" +
		"  - name: fine\n    check: host-cpu\n    action: {name: script, params: {script: a.sh}}\n"
	files := []File{{Name: "web.yaml", Data: []byte(src)}}
	_, err := Parse(files, LoadOptions{Actions: testActions, Checks: []string{"host-cpu", "host-memory"}})
	want := `web.yaml:5:12: groups[0].rules[0].check: unknown check, did you mean "host-cpu"?: "host-cpux"` + "\n" +
		`web.yaml:8:12: groups[0].rules[1].check: unknown check: the configuration defines host-cpu, host-memory: "disk"`
	if err == nil || err.Error() != want {
		t.Fatalf("got %v\nwant %s", err, want)
	}
	if _, err := Parse(files, LoadOptions{Actions: testActions, Checks: []string{}}); err == nil ||
		!strings.Contains(err.Error(), "unknown check: the configuration defines no checks") {
		t.Fatalf("no checks configured: %v", err)
	}
	set, err := Parse(files, LoadOptions{Actions: testActions})
	if err != nil {
		t.Fatalf("without the configuration's checks: %v", err)
	}
	var got []string
	for _, r := range set.CheckRules() {
		got = append(got, fmt.Sprintf("%s:%d %s %s", r.File, r.Line, r.Name, r.Check))
	}
	if strings.Join(got, "; ") != "web.yaml:4 typo host-cpux; web.yaml:7 other disk; web.yaml:10 fine host-cpu" {
		t.Fatalf("CheckRules: %v", got)
	}
}
