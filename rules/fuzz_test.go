package rules

import (
	"errors"
	"math"
	"strings"
	"testing"
	"time"
)

// FuzzParse feeds arbitrary rule files to the loader: it must never panic, and every problem
// must be an *Error naming the file.
func FuzzParse(f *testing.F) {
	f.Add([]byte(webRules))
	f.Add([]byte("groups:\n  - name: g\n    rules:\n      - name: r\n        alert: ['a=~\"(\"']\n        action: {name: script}\n"))
	f.Add([]byte("groups: &a [*a]"))
	f.Fuzz(func(t *testing.T, data []byte) {
		set, err := Parse([]File{{Name: "f.yaml", Data: data}}, LoadOptions{Actions: testActions})
		if err != nil {
			for _, e := range splitJoined(err) {
				var re *Error
				if !errors.As(e, &re) || re.File != "f.yaml" {
					t.Fatalf("error %T %v does not name the file", e, e)
				}
			}
			return
		}
		for _, r := range set.Rules() {
			if r.Version == "" || r.Name == "" || r.Action.Name == "" {
				t.Fatalf("incomplete rule %+v", r)
			}
		}
	})
}

// FuzzCondition compiles arbitrary conditions for every input kind and runs the ones that
// compile: nothing may panic, compile errors must point inside the text, and evaluation
// stays within the memory budget.
func FuzzCondition(f *testing.F) {
	for _, s := range []string{
		`value > 90 && labels.env == "prod"`,
		`avg_over(5m) > 80 || rate(1h) < 0`,
		`now - anomaly.since > 10m && anomaly.score >= 0.9`,
		`alert.status == "firing" && alert.labels.severity in ["critical", "page"]`,
		`all(1..1000000, {# > 0})`,
		`len(repeat("x", 1000)) > 0`,
		`"5m" + labels.x == "5m"`,
	} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, src string) {
		for _, kind := range []InputKind{InputQuery, InputCheck, InputAlert} {
			c, err := compileCondition(src, kind)
			if err != nil {
				var ce *condError
				if !errors.As(err, &ce) || ce.offset < 0 || ce.offset > len(src) {
					t.Fatalf("%q: bad error %v", src, err)
				}
				continue
			}
			if c.window < 0 || c.window > maxWindow {
				t.Fatalf("%q: window %v outside [0, %v]", src, c.window, maxWindow)
			}
			ev := newEvaluator()
			ev.env.Value, ev.env.Now = 95, t0
			ev.env.Labels = map[string]string{"env": "prod"}
			ev.env.Anomaly = anomalyEnv{Score: 0.9, Since: t0.Add(-time.Hour)}
			ev.env.Alert = alertEnv{Labels: map[string]string{"severity": "critical"}, Status: "firing", StartsAt: t0}
			w := &window{}
			for i := 0; i < 10; i++ {
				w.add(t0.Add(time.Duration(i-10)*time.Minute), float64(i), time.Hour)
			}
			// The evaluator reuses its VM across runs: a second run must see the same answer.
			got, err := ev.run(c, w)
			again, err2 := ev.run(c, w)
			if got != again || (err == nil) != (err2 == nil) {
				t.Fatalf("%q: runs disagree: %v, %v then %v, %v", src, got, err, again, err2)
			}
		}
	})
}

// FuzzSeries checks the expanding series notation parser.
func FuzzSeries(f *testing.F) {
	for _, s := range []string{"50 95x5", "1+1x10", "_ stale 3", "_x3 -1-2x4", "1e3x2 Inf NaN"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		pts, err := ParseSeries(s)
		if err != nil {
			return
		}
		if len(pts) > maxSeriesPoints {
			t.Fatalf("%q: %d points over the cap", s, len(pts))
		}
		// A series is its tokens expanded one by one and laid end to end.
		var joined []Point
		for _, tok := range strings.Fields(s) {
			part, err := ParseSeries(tok)
			if err != nil {
				t.Fatalf("%q parses but its token %q does not: %v", s, tok, err)
			}
			joined = append(joined, part...)
		}
		if len(joined) != len(pts) {
			t.Fatalf("%q: %d points, but its tokens give %d", s, len(pts), len(joined))
		}
		for i, p := range pts {
			q := joined[i]
			if p.Missing != q.Missing || math.Float64bits(p.Value) != math.Float64bits(q.Value) {
				t.Fatalf("%q: point %d is %+v, but its token gives %+v", s, i, p, q)
			}
			if p.Missing && p.Value != 0 {
				t.Fatalf("%q: missing point %d carries value %v", s, i, p.Value)
			}
		}
	})
}

// FuzzCSV checks the backtest CSV reader.
func FuzzCSV(f *testing.F) {
	f.Add("timestamp,value\n2026-01-02T03:00:00Z,1,a=b\n")
	f.Add("1767322800,95,asg=web,__rule__=r\n1767322860,\"9\n")
	f.Fuzz(func(t *testing.T, s string) {
		data, err := ReadCSV(strings.NewReader(s))
		if err != nil {
			return
		}
		r := &Rule{Name: "r", Query: "q"}
		if _, err := data(t.Context(), r, t0.Add(-1e6*time.Hour), t0.Add(1e6*time.Hour), time.Minute); err != nil {
			t.Fatal(err)
		}
	})
}
