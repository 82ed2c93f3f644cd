package rules

import (
	"context"
	"encoding/json"
	"fmt"
	"math"
	"net"
	"net/http"
	"net/http/httptest"
	"strconv"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/prometheus/client_golang/api"
	promv1 "github.com/prometheus/client_golang/api/prometheus/v1"

	"github.com/smartcloudops/smartcloudops/detector"
)

const backtestRules = `
groups:
  - name: web
    interval: 1m
    rules:
      - name: web-cpu-high
        query: cpu
        when: value > 90
        for: 2m
        action: {name: script, params: {script: scale_up.sh, args: ['{{ .labels.asg }}']}}
        cooldown: 10m
      - name: demo
        check: demo-cpu
        action: {name: script, params: {script: a.sh}}
`

// cpuAt is the history both fakes serve: hot from minute 5 to 20 and from 25 to 40.
func cpuAt(min int) float64 {
	if (min >= 5 && min < 20) || (min >= 25 && min < 40) {
		return 95
	}
	return 40
}

func checkBacktest(t *testing.T, rep BacktestReport) {
	t.Helper()
	var br BacktestRule
	for _, r := range rep.Rules {
		if r.Name == "web-cpu-high" {
			br = r
		}
	}
	// Fires at 7 and 27 (for 2m); proposes then and again each 10m cooldown while still hot.
	var fired, proposed []string
	for _, f := range br.Fired {
		fired = append(fired, strconv.Itoa(int(f.Sub(t0)/time.Minute)))
	}
	for _, p := range br.Proposals {
		proposed = append(proposed, strconv.Itoa(int(p.T.Sub(t0)/time.Minute)))
	}
	if strings.Join(fired, ",") != "7,27" || strings.Join(proposed, ",") != "7,17,27,37" || br.Evaluations != 61 || br.Series != 1 {
		t.Errorf("fired %v proposed %v evaluations %d series %d", fired, proposed, br.Evaluations, br.Series)
	}
	if got := br.Proposals[0].Params.List("args"); len(got) != 1 || got[0] != "web-asg" {
		t.Errorf("params = %v", br.Proposals[0].Params)
	}
	s := rep.String()
	if !strings.Contains(s, "demo: skipped (check rule") || !strings.Contains(s, "fired 2 times, proposed 4 times") {
		t.Errorf("report:\n%s", s)
	}
}

func TestBacktestPrometheus(t *testing.T) {
	var calls atomic.Int32
	srv := httptest.NewUnstartedServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.URL.Path != "/api/v1/query_range" {
			http.NotFound(w, r)
			return
		}
		calls.Add(1)
		_ = r.ParseForm()
		start, _ := strconv.ParseFloat(r.Form.Get("start"), 64)
		end, _ := strconv.ParseFloat(r.Form.Get("end"), 64)
		step, _ := strconv.ParseFloat(r.Form.Get("step"), 64)
		if r.Form.Get("query") != "cpu" || step != 60 {
			http.Error(w, `{"status":"error","errorType":"bad_data","error":"unexpected query"}`, http.StatusBadRequest)
			return
		}
		var values [][2]any
		for ts := start; ts <= end; ts += step {
			min := int((ts - float64(t0.Unix())) / 60)
			values = append(values, [2]any{ts, fmt.Sprint(cpuAt(min))})
		}
		w.Header().Set("Content-Type", "application/json")
		_ = json.NewEncoder(w).Encode(map[string]any{"status": "success", "data": map[string]any{
			"resultType": "matrix",
			"result":     []any{map[string]any{"metric": map[string]string{"asg": "web-asg"}, "values": values}},
		}})
	}))
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	srv.Listener = ln
	srv.Start()
	defer srv.Close()
	client, err := api.NewClient(api.Config{Address: srv.URL})
	if err != nil {
		t.Fatal(err)
	}
	set := parseRules(t, backtestRules)
	rep, err := Backtest(context.Background(), set, PrometheusRange(promv1.NewAPI(client)), BacktestOptions{From: t0, To: t0.Add(time.Hour)})
	if err != nil {
		t.Fatal(err)
	}
	if calls.Load() != 1 {
		t.Errorf("query_range called %d times, want once per rule", calls.Load())
	}
	checkBacktest(t, rep)
}

func TestBacktestCSV(t *testing.T) {
	var b strings.Builder
	b.WriteString("timestamp,value,labels\n")
	for m := 0; m <= 60; m++ {
		fmt.Fprintf(&b, "%s,%v,asg=web-asg\n", t0.Add(time.Duration(m)*time.Minute).Format(time.RFC3339), cpuAt(m))
		// A series meant for another rule only.
		fmt.Fprintf(&b, "%d,99,asg=other,__rule__=demo\n", t0.Add(time.Duration(m)*time.Minute).Unix())
	}
	data, err := ReadCSV(strings.NewReader(b.String()))
	if err != nil {
		t.Fatal(err)
	}
	rep, err := Backtest(context.Background(), parseRules(t, backtestRules), data, BacktestOptions{From: t0, To: t0.Add(time.Hour)})
	if err != nil {
		t.Fatal(err)
	}
	checkBacktest(t, rep)

	for _, bad := range []string{"x,1\n", "2026-01-01T00:00:00Z,abc\n", "2026-01-01T00:00:00Z,1,novalue\n", "1\n"} {
		if _, err := ReadCSV(strings.NewReader(bad)); err == nil {
			t.Errorf("%q: want error", bad)
		}
	}
	if _, err := Backtest(context.Background(), parseRules(t, backtestRules), data, BacktestOptions{From: t0, To: t0}); err == nil {
		t.Error("empty range accepted")
	}
}

// meanModel is a deterministic test model: after 10 points the score is how far the value is
// from the running mean in multiples of 20 (at most 1), and the band is the mean ± 10.
type meanModel struct {
	n   int
	sum float64
}

func (m *meanModel) Name() string                   { return "mean" }
func (m *meanModel) MarshalBinary() ([]byte, error) { return nil, nil }
func (m *meanModel) UnmarshalBinary([]byte) error   { return nil }
func (m *meanModel) Observe(p detector.Point) detector.Score {
	var s detector.Score
	if m.n >= 10 {
		mean := m.sum / float64(m.n)
		s = detector.Score{Score: min(1, math.Abs(p.V-mean)/20), Expected: mean, Lower: mean - 10, Upper: mean + 10}
	}
	m.n++
	m.sum += p.V
	return s
}

// TestBacktestCheckRuleFromCSV: a check rule replays a CSV in the layout `detect train` reads
// (the demo's "2006-01-02 15:04:05" timestamps) through the check's model and lifecycle, so the
// anomaly rules users write can be backtested too.
func TestBacktestCheckRuleFromCSV(t *testing.T) {
	var b strings.Builder
	b.WriteString("timestamp,value\n")
	for m := 0; m <= 60; m++ {
		v := 40.0 + float64(m%3)
		if m >= 30 && m < 40 {
			v = 97
		}
		fmt.Fprintf(&b, "%s,%v\n", t0.Add(time.Duration(m)*time.Minute).Format(time.DateTime), v)
	}
	data, err := ReadCSV(strings.NewReader(b.String()))
	if err != nil {
		t.Fatal(err)
	}
	set := parseRules(t, `
groups:
  - name: host
    interval: 1m
    rules:
      - name: host-cpu-high
        check: host-cpu
        when: value > 90
        for: 3m
        action: {name: script, params: {script: scale_up.sh, args: ['x']}}
`)
	o := BacktestOptions{From: t0.Add(20 * time.Minute), To: t0.Add(time.Hour), Check: func(name string) BacktestCheck {
		return BacktestCheck{Model: func() detector.Model { return &meanModel{} }, Lifecycle: detector.Lifecycle{Threshold: 0.5}}
	}}
	rep, err := Backtest(context.Background(), set, data, o)
	if err != nil {
		t.Fatal(err)
	}
	br := rep.Rules[0]
	if br.Skipped != "" || br.Evaluations != 41 || br.Series != 1 || len(br.Proposals) != 1 || !br.Proposals[0].T.Equal(t0.Add(33*time.Minute)) {
		t.Fatalf("backtest: %+v, want 41 evaluations and one proposal 3 minutes into the load at 30m", br)
	}
}
