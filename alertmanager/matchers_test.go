package alertmanager

import (
	"reflect"
	"strings"
	"testing"
)

func TestParseMatchers(t *testing.T) {
	tests := []struct {
		in   string
		want []Matcher
	}{
		{`alertname="HostHighCpu",instance=~"web-.*"`, []Matcher{
			{Name: "alertname", Type: MatchEqual, Value: "HostHighCpu"},
			{Name: "instance", Type: MatchRegexp, Value: "web-.*"},
		}},
		{`{severity!="info", job!~"test.*"}`, []Matcher{
			{Name: "severity", Type: MatchNotEqual, Value: "info"},
			{Name: "job", Type: MatchNotRegexp, Value: "test.*"},
		}},
		{`  { alertname = HostHighCpu , } `, []Matcher{{Name: "alertname", Type: MatchEqual, Value: "HostHighCpu"}}},
		{`alertname=DiskFull,mountpoint="/var/lib"`, []Matcher{
			{Name: "alertname", Type: MatchEqual, Value: "DiskFull"},
			{Name: "mountpoint", Type: MatchEqual, Value: "/var/lib"},
		}},
		{`summary="say \"hi\", then\\leave"`, []Matcher{{Name: "summary", Type: MatchEqual, Value: `say "hi", then\leave`}}},
		{`team=""`, []Matcher{{Name: "team", Type: MatchEqual, Value: ""}}},
		{`_x1="é"`, []Matcher{{Name: "_x1", Type: MatchEqual, Value: "é"}}},
		// Spaces separate matchers as commas do: chat splits words on spaces.
		{`service=web asg=web-asg`, []Matcher{
			{Name: "service", Type: MatchEqual, Value: "web"},
			{Name: "asg", Type: MatchEqual, Value: "web-asg"},
		}},
		{`{a="x"  b!~"y.*", c=z}`, []Matcher{
			{Name: "a", Type: MatchEqual, Value: "x"},
			{Name: "b", Type: MatchNotRegexp, Value: "y.*"},
			{Name: "c", Type: MatchEqual, Value: "z"},
		}},
		{`summary="disk full" env = prod`, []Matcher{
			{Name: "summary", Type: MatchEqual, Value: "disk full"},
			{Name: "env", Type: MatchEqual, Value: "prod"},
		}},
	}
	for _, tt := range tests {
		t.Run(tt.in, func(t *testing.T) {
			got, err := ParseMatchers(tt.in)
			if err != nil {
				t.Fatalf("ParseMatchers: %v", err)
			}
			if !reflect.DeepEqual(got, tt.want) {
				t.Fatalf("got %+v, want %+v", got, tt.want)
			}
			// Rendering and parsing again gives the same matchers.
			parts := make([]string, len(got))
			for i, m := range got {
				parts[i] = m.String()
			}
			again, err := ParseMatchers("{" + strings.Join(parts, ",") + "}")
			if err != nil || !reflect.DeepEqual(again, got) {
				t.Errorf("round trip of %v = %+v, %v", parts, again, err)
			}
		})
	}
}

func TestParseMatchersErrors(t *testing.T) {
	tests := []struct{ in, want string }{
		{``, "no matchers given"},
		{`{}`, "no matchers given"},
		{`   `, "no matchers given"},
		{`alertname`, `column 10: expected an operator (=, !=, =~, !~) after "alertname", found end of input`},
		{`alertname=="x"`, `column 10: '==' is not an operator`},
		{`alertname~"x"`, "column 10: expected an operator"},
		{`="x"`, "column 1: expected a label name"},
		{`1abc="x"`, "column 1: expected a label name"},
		{`a="x"b="y"`, `column 6: expected ',' or a space after matcher a="x", found "b=\"y\""`},
		{`a="x" "y"`, `column 7: expected ',' or a space after matcher a="x", found "\"y\""`},
		{`service= asg=web-asg`, `column 10: the value asg=web-asg holds '='; quote it ("asg=web-asg") if that is meant`},
		{`a=x!y`, `column 3: the value x!y holds '!'`},
		{`summary=disk full`, `column 18: expected an operator (=, !=, =~, !~) after "full", found end of input`},
		{`a="x`, "column 3: unterminated quoted value"},
		{`a="x\`, "column 3: unterminated quoted value"},
		{`a="\q"`, "column 3: invalid quoted value"},
		{`a=`, "column 3: expected a value, found end of input"},
		{`a=,b="x"`, "column 3: expected a value"},
		{`{a="x"`, "expected '}' to close '{'"},
		{`a="x"}`, `column 6: expected ',' or a space after matcher a="x", found "}"`},
		{`{a="x"} extra`, `unexpected "extra" after the matchers`},
		{`a=~"(unclosed"`, "column 1: matcher a=~\"(unclosed\": invalid regular expression"},
		{`a-b="x"`, "expected an operator"},
		{"a=\xff", `column 1: matcher a="\xff": value is not valid UTF-8`},
		{`a="\xff"`, `column 1: matcher a="\xff": value is not valid UTF-8`},
		{strings.Repeat("a", 5000), "longer than 4096"},
	}
	for _, tt := range tests {
		t.Run(tt.in, func(t *testing.T) {
			got, err := ParseMatchers(tt.in)
			if err == nil {
				t.Fatalf("ParseMatchers accepted %q: %+v", tt.in, got)
			}
			if !strings.Contains(err.Error(), tt.want) {
				t.Errorf("error %q does not contain %q", err, tt.want)
			}
			if !strings.HasPrefix(err.Error(), "matchers: ") {
				t.Errorf("error %q does not start with the package context", err)
			}
		})
	}
}

func TestMatcherMatches(t *testing.T) {
	tests := []struct {
		m    Matcher
		v    string
		want bool
	}{
		{Matcher{"a", MatchEqual, "x"}, "x", true},
		{Matcher{"a", MatchEqual, "x"}, "y", false},
		{Matcher{"a", MatchNotEqual, "x"}, "y", true},
		{Matcher{"a", MatchRegexp, "web-.*"}, "web-1", true},
		{Matcher{"a", MatchRegexp, "web"}, "web-1", false}, // anchored
		{Matcher{"a", MatchNotRegexp, "web-.*"}, "db-1", true},
		{Matcher{"a", MatchRegexp, ".*"}, "", true},
		{Matcher{"a", MatchRegexp, "("}, "(", false},
		{Matcher{"a", "<>", "x"}, "x", false},
	}
	for _, tt := range tests {
		if got := tt.m.Matches(tt.v); got != tt.want {
			t.Errorf("%v.Matches(%q) = %v, want %v", tt.m, tt.v, got, tt.want)
		}
	}
	if err := (Matcher{"a", "<>", "x"}).Validate(); err == nil || !strings.Contains(err.Error(), "unknown operator") {
		t.Errorf("Validate(unknown operator) = %v", err)
	}
	if err := (Matcher{"", MatchEqual, "x"}).Validate(); err == nil || !strings.Contains(err.Error(), "invalid label name") {
		t.Errorf("Validate(empty name) = %v", err)
	}
}
