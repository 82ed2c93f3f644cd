package rules

import "testing"

// TestConditionWording checks that a condition that does not compile is explained in the terms
// of the rule language, never in Go's (no rules.anomalyEnv, float64 or map[string]string).
func TestConditionWording(t *testing.T) {
	cases := []struct {
		when string
		kind InputKind
		want string
	}{
		{"anomaly.uper > 1", InputCheck, "unknown field `anomaly.uper`, did you mean `upper`?"},
		{"anomaly.Score > 0.5", InputCheck, "unknown field `anomaly.Score`, did you mean `score`?"},
		{"anomaly.foo > 1", InputCheck, "unknown field `anomaly.foo`; anomaly has score, peak, open, expected, lower, upper, since"},
		{`value > 1 && alert.lables.x == "a"`, InputAlert, "unknown field `alert.lables`, did you mean `labels`?"},
		{"alert.startsat > now", InputAlert, "unknown field `alert.startsat`, did you mean `startsAt`?"},
		{`labels.x.y == "a"`, InputQuery, "`labels.x` is a string and has no field `y`"},
		{"value.foo > 1", InputQuery, "`value` is a number and has no field `foo`"},
		{"now.Foo() > 1", InputQuery, "`now` is a time and has no method `Foo`"},
		{"rate(5m).x > 1", InputQuery, "a number has no field `x`"},
		{"vlaue > 1", InputQuery, "unknown name `vlaue`, did you mean `value`?"},
		{"anomly.score > 1", InputCheck, "unknown name `anomly`, did you mean `anomaly`?"},
		{"bogus > 1", InputAlert, "unknown name `bogus`; an alert rule can use value, labels, alert, now"},
		{"labels", InputQuery, "a condition must be true or false (a comparison such as value > 90), not a map of strings"},
		{"anomaly > 1", InputCheck, "invalid operation: > (mismatched types anomaly record and number)"},
		{"rate > 1", InputQuery, "invalid operation: > (mismatched types window function and number); a window function is called with a window, as in avg_over(5m)"},
		{`avg_over("x") > 1`, InputQuery, "cannot use string as argument (type duration) to call avg_over"},
	}
	for _, c := range cases {
		_, err := compileCondition(c.when, c.kind)
		if err == nil || err.Error() != c.want {
			t.Errorf("%s: got %v\nwant %s", c.when, err, c.want)
		}
	}
}
