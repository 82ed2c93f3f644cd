package rules

import (
	"context"
	"strings"
	"testing"
)

func TestParseSeries(t *testing.T) {
	cases := []struct {
		in, want string
	}{
		{"50 95x5", "50 95 95 95 95 95 95"},
		{"1+1x3", "1 2 3 4"},
		{"10-2x2 _ stale 7", "10 8 6 _ _ 7"},
		{"_x3 1e3", "_ _ _ 1000"},
		{"-1+0.5x2", "-1 -0.5 0"},
	}
	for _, c := range cases {
		pts, err := ParseSeries(c.in)
		if err != nil {
			t.Fatalf("%q: %v", c.in, err)
		}
		var got []string
		for _, p := range pts {
			if p.Missing {
				got = append(got, "_")
			} else {
				got = append(got, formatValue(p.Value))
			}
		}
		if strings.Join(got, " ") != c.want {
			t.Errorf("%q = %v, want %s", c.in, got, c.want)
		}
	}
	for _, bad := range []string{"1x", "abc", "1x-2", "1x999999999", "_ 1+x2"} {
		if _, err := ParseSeries(bad); err == nil {
			t.Errorf("%q: want error", bad)
		}
	}
}

func TestRunTests(t *testing.T) {
	ctx := context.Background()
	opts := TestOptions{Load: LoadOptions{Actions: testActions}}
	res, err := RunTests(ctx, []string{"testdata/ruletest/pass_test.yaml"}, opts)
	if err != nil {
		t.Fatal(err)
	}
	for _, r := range res {
		if len(r.Failures) > 0 {
			t.Errorf("%s: %v", r.Name, r.Failures)
		}
	}
	res, err = RunTests(ctx, []string{"testdata/ruletest/fail_test.yaml"}, opts)
	if err != nil {
		t.Fatal(err)
	}
	if len(res) != 1 || len(res[0].Failures) != 2 {
		t.Fatalf("results = %+v", res)
	}
	want := []string{
		// The missing point at 2m ends the pending episode, so nothing fires then.
		"at 2m, rule web-cpu-high:\n    expected: labels {asg=\"web-asg\"}\n    got:      no proposals",
		"at 5m, rule web-cpu-high:\n    expected: no proposals\n    got:      labels {asg=\"web-asg\", env=\"prod\", team=\"web\"} params {delta=1, group=\"web-asg\", max=10}",
	}
	for i, w := range want {
		if res[0].Failures[i] != w {
			t.Errorf("failure %d:\n%s\nwant:\n%s", i, res[0].Failures[i], w)
		}
	}
	if _, err := RunTests(ctx, []string{"testdata/ruletest/bad_test.yaml"}, opts); err == nil || !strings.Contains(err.Error(), "input_seris") {
		t.Errorf("bad test file: %v", err)
	}
}

// TestExamples runs the rule unit tests shipped in examples/rules.
func TestExamples(t *testing.T) {
	files := []string{"../examples/rules"} // a directory: every *_test.yaml under it
	if _, err := Load([]string{"../examples/rules"}, LoadOptions{Actions: testActions}); err != nil {
		t.Fatal(err)
	}
	res, err := RunTests(context.Background(), files, TestOptions{Load: LoadOptions{Actions: testActions}})
	if err != nil {
		t.Fatal(err)
	}
	if len(res) < 4 {
		t.Errorf("ran %d example tests, want at least 4", len(res))
	}
	for _, r := range res {
		if len(r.Failures) > 0 {
			t.Errorf("%s: %s: %s", r.File, r.Name, strings.Join(r.Failures, "\n"))
		}
	}
}
