package rules

import (
	"context"
	"errors"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus/testutil"

	"github.com/smartcloudops/smartcloudops/internal/store"
)

const webRules = `
groups:
  - name: web
    interval: 1m
    rules:
      - name: web-cpu-high
        query: cpu
        when: value > 90 && labels.env == "prod"
        for: 2m
        labels: {team: web}
        action:
          name: aws.autoscaling.scale
          params: {group: '{{ .labels.asg }}', delta: 1, max: 10}
        cooldown: 5m
        max_runs: {count: 2, per: 1h}
`

func sample(asg, env string, v float64) Sample {
	return Sample{Labels: map[string]string{"asg": asg, "env": env}, Value: v}
}

func TestQueryRuleLifecycle(t *testing.T) {
	ctx := context.Background()
	f := newFixture(t, store.NewMemory(), parseRules(t, webRules))
	// values per minute for web-asg (prod) and one staging series that never fires.
	values := []float64{95, 95, 95, 95, 95, 95, 95, 95, 95, 95, 95, 95, 95, 50, 95, 95, 95, 95, 95, 95, 95, 95}
	var fired []int
	var phases []Phase
	for i, v := range values {
		f.query["cpu"] = []Sample{sample("web-asg", "prod", v), sample("stage-asg", "staging", 99)}
		if err := f.e.EvalQueryGroup(ctx, "web", t0.Add(time.Duration(i)*time.Minute)); err != nil {
			t.Fatal(err)
		}
		for _, fr := range f.rec.take() {
			fired = append(fired, i)
			if fr.Params.String("group") != "web-asg" || fr.Params.Int("delta") != 1 || fr.Labels["team"] != "web" || fr.Key == "" {
				t.Errorf("firing %+v", fr)
			}
		}
		st := f.e.State("web-cpu-high")
		if len(st) == 0 {
			phases = append(phases, PhaseInactive)
		} else {
			phases = append(phases, st[0].State)
		}
	}
	// Pending at 0 and 1, fires at 2 (for: 2m); cooldown 5m repeats at 7; max_runs 2/h holds
	// back until an hour after the first; the dip at 13 resolves; a new episode pends again.
	if want := []int{2, 7}; !equalInts(fired, want) {
		t.Errorf("fired at %v, want %v", fired, want)
	}
	wantPhases := []Phase{"pending", "pending", "firing", "firing", "firing", "firing", "firing", "firing", "firing",
		"firing", "firing", "firing", "cooldown", "resolved", "pending", "pending", "cooldown"}
	for i, p := range wantPhases {
		if phases[i] != p {
			t.Errorf("minute %d: phase %s, want %s (all %v)", i, phases[i], p, phases)
			break
		}
	}
	if got := testutil.ToFloat64(f.e.m.firings.WithLabelValues("web-cpu-high")); got != 2 {
		t.Errorf("firings metric = %v", got)
	}
	if got := testutil.ToFloat64(f.e.m.evaluations.WithLabelValues("web")); got != float64(len(values)) {
		t.Errorf("evaluations metric = %v", got)
	}
}

// openBolt opens a bbolt store in dir, closed when the test ends.
func openBolt(t *testing.T, dir string) *store.Bolt {
	t.Helper()
	b, err := store.OpenBolt(filepath.Join(dir, "smartcloudops.db"), store.BoltOptions{})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = b.Close() })
	return b
}

func TestStateSurvivesRestart(t *testing.T) {
	ctx := context.Background()
	dir := t.TempDir()
	st := openBolt(t, dir)
	set := parseRules(t, webRules)
	f := newFixture(t, st, set)
	f.query["cpu"] = []Sample{sample("web-asg", "prod", 95)}
	for i := 0; i < 2; i++ {
		if err := f.e.EvalQueryGroup(ctx, "web", t0.Add(time.Duration(i)*time.Minute)); err != nil {
			t.Fatal(err)
		}
	}
	if n := len(f.rec.take()); n != 0 {
		t.Fatalf("fired %d times before for elapsed", n)
	}
	kvs, _ := st.List(ctx, "rules/state/web-cpu-high/")
	if len(kvs) != 1 {
		t.Fatalf("stored states = %d", len(kvs))
	}
	// A new engine on the reopened store continues the pending series and fires at minute 2.
	if err := st.Close(); err != nil {
		t.Fatal(err)
	}
	st = openBolt(t, dir)
	g := newFixture(t, st, set)
	g.query["cpu"] = f.query["cpu"]
	if err := g.e.EvalQueryGroup(ctx, "web", t0.Add(2*time.Minute)); err != nil {
		t.Fatal(err)
	}
	if n := len(g.rec.take()); n != 1 {
		t.Fatalf("after restart fired %d times, want 1", n)
	}
	// And a third engine respects the cooldown recorded by the second.
	h := newFixture(t, st, set)
	h.query["cpu"] = f.query["cpu"]
	if err := h.e.EvalQueryGroup(ctx, "web", t0.Add(3*time.Minute)); err != nil {
		t.Fatal(err)
	}
	if n := len(h.rec.take()); n != 0 {
		t.Fatalf("fired again within cooldown after restart")
	}
}

func TestVanishedSeriesResolveAndAreForgotten(t *testing.T) {
	ctx := context.Background()
	st := store.NewMemory()
	f := newFixture(t, st, parseRules(t, strings.Replace(webRules, "        cooldown: 5m\n        max_runs: {count: 2, per: 1h}\n", "", 1)))
	f.query["cpu"] = []Sample{sample("web-asg", "prod", 95)}
	for i := 0; i < 3; i++ {
		_ = f.e.EvalQueryGroup(ctx, "web", t0.Add(time.Duration(i)*time.Minute))
	}
	f.query["cpu"] = nil
	_ = f.e.EvalQueryGroup(ctx, "web", t0.Add(3*time.Minute))
	if s := f.e.State("web-cpu-high"); len(s) != 1 || s[0].State != PhaseResolved {
		t.Fatalf("state = %+v", s)
	}
	_ = f.e.EvalQueryGroup(ctx, "web", t0.Add(3*time.Minute+resolvedRetention))
	if s := f.e.State("web-cpu-high"); len(s) != 0 {
		t.Fatalf("resolved series kept: %+v", s)
	}
	if kvs, _ := st.List(ctx, "rules/state/"); len(kvs) != 0 {
		t.Fatalf("stored state kept: %v", kvs)
	}
}

func TestCheckAndAlertRules(t *testing.T) {
	ctx := context.Background()
	set := parseRules(t, `
groups:
  - name: events
    rules:
      - name: demo-cpu-spike
        check: demo-cpu
        when: anomaly.score > 0.8 && avg_over(3m) > 50
        for: 2m
        action: {name: script, params: {script: scale_up.sh, args: ['{{ .labels.asg }}', '2', '3']}}
      - name: host-cpu
        alert: ['alertname="HostHighCpu"', 'env=~"prod.*"']
        when: alert.annotations.summary != ""
        action: {name: script, params: {script: restart.sh, args: ['{{ .labels.instance }}']}}
`)
	f := newFixture(t, store.NewMemory(), set)
	labels := map[string]string{"asg": "web-asg"}
	since := t0
	for i := 0; i < 4; i++ {
		o := Observation{Labels: labels, Value: 97, Score: 0.9, Peak: 0.9, Open: true, Since: since, T: t0.Add(time.Duration(i) * time.Minute)}
		if err := f.e.EvalCheck(ctx, CheckTick{Check: "demo-cpu", T: o.T, Series: []Observation{o}}); err != nil {
			t.Fatal(err)
		}
		got := f.rec.take()
		if want := map[int]int{2: 1}[i]; len(got) != want {
			t.Fatalf("minute %d: %d firings, want %d", i, len(got), want)
		}
		if len(got) == 1 && strings.Join(got[0].Params.List("args"), " ") != "web-asg 2 3" {
			t.Errorf("args = %v", got[0].Params.List("args"))
		}
	}
	// Other checks and low scores do nothing.
	_ = f.e.EvalCheck(ctx, CheckTick{Check: "other", T: t0, Series: []Observation{{Labels: labels, Score: 1, T: t0}}})
	if len(f.rec.take()) != 0 {
		t.Error("rule fired for another check")
	}

	alert := Alert{Labels: map[string]string{"alertname": "HostHighCpu", "env": "production", "instance": "i-1"},
		Annotations: map[string]string{"summary": "hot"}, Status: "firing", StartsAt: t0}
	if err := f.e.OnAlert(ctx, alert); err != nil {
		t.Fatal(err)
	}
	if got := f.rec.take(); len(got) != 1 || got[0].Params.List("args")[0] != "i-1" {
		t.Fatalf("alert firings = %+v", got)
	}
	alert.Labels = map[string]string{"alertname": "HostHighCpu", "env": "staging"}
	_ = f.e.OnAlert(ctx, alert)
	if len(f.rec.take()) != 0 {
		t.Error("matcher env=~prod.* let staging through")
	}
	alert.Labels = map[string]string{"alertname": "HostHighCpu", "env": "production", "instance": "i-1"}
	alert.Status = "resolved"
	_ = f.e.OnAlert(ctx, alert)
	if s := f.e.State("host-cpu"); len(s) != 1 || s[0].State != PhaseResolved {
		t.Errorf("alert state after resolve = %+v", s)
	}
}

func TestSetEnabledPersists(t *testing.T) {
	ctx := context.Background()
	st := store.NewMemory()
	set := parseRules(t, webRules)
	f := newFixture(t, st, set)
	if err := f.e.SetEnabled(ctx, "web-cpu-high", false); err != nil {
		t.Fatal(err)
	}
	if err := f.e.SetEnabled(ctx, "nope", false); !errors.Is(err, ErrUnknownRule) {
		t.Errorf("unknown rule: %v", err)
	}
	g := newFixture(t, st, set)
	if r, _ := g.e.Rule("web-cpu-high"); r.Enabled {
		t.Fatal("disabled flag lost on restart")
	}
	g.query["cpu"] = []Sample{sample("web-asg", "prod", 99)}
	for i := 0; i < 5; i++ {
		_ = g.e.EvalQueryGroup(ctx, "web", t0.Add(time.Duration(i)*time.Minute))
	}
	if len(g.rec.take()) != 0 {
		t.Error("disabled rule fired")
	}
}

func TestEngineErrors(t *testing.T) {
	ctx := context.Background()
	if _, err := NewEngine(EngineOptions{}); err == nil || !strings.Contains(err.Error(), "Store") {
		t.Errorf("missing options: %v", err)
	}
	f := newFixture(t, store.NewMemory(), parseRules(t, webRules))
	if err := f.e.EvalQueryGroup(ctx, "nope", t0); !errors.Is(err, ErrUnknownGroup) {
		t.Errorf("unknown group: %v", err)
	}
	// A template naming a label the series lacks fails that firing, visibly.
	f.query["cpu"] = []Sample{{Labels: map[string]string{"env": "prod"}, Value: 99}}
	var err error
	for i := 0; i < 3; i++ {
		err = f.e.EvalQueryGroup(ctx, "web", t0.Add(time.Duration(i)*time.Minute))
	}
	if err == nil || !strings.Contains(err.Error(), "asg") {
		t.Errorf("missing label error = %v", err)
	}
	if got := testutil.ToFloat64(f.e.m.failures.WithLabelValues("web")); got != 1 {
		t.Errorf("failures metric = %v", got)
	}
}

func TestWindowFunctions(t *testing.T) {
	w := &window{}
	for i, v := range []float64{10, 20, 30, 40} {
		w.add(t0.Add(time.Duration(i)*time.Minute), v, 10*time.Minute)
	}
	fns := windowFns{w: w, now: t0.Add(3 * time.Minute)}
	if got := fns.avg(2 * time.Minute); got != 35 {
		t.Errorf("avg_over(2m) = %v", got)
	}
	if got := fns.maxOver(time.Hour); got != 40 {
		t.Errorf("max_over = %v", got)
	}
	if got := fns.minOver(time.Hour); got != 10 {
		t.Errorf("min_over = %v", got)
	}
	if got := fns.delta(time.Hour); got != 30 {
		t.Errorf("delta = %v", got)
	}
	if got := fns.rate(time.Hour); got != 30.0/180 {
		t.Errorf("rate = %v", got)
	}
}

func equalInts(a, b []int) bool {
	if len(a) != len(b) {
		return false
	}
	for i := range a {
		if a[i] != b[i] {
			return false
		}
	}
	return true
}

// TestTemplatedListIsOneArgument: a list parameter written as one template renders to exactly
// one element, so a comma in a label value cannot add arguments to a script.
func TestTemplatedListIsOneArgument(t *testing.T) {
	set := parseRules(t, `
groups:
  - name: g
    rules:
      - name: restart
        alert: {alertname: Down}
        action:
          name: script
          params: {script: restart.sh, args: '{{ .labels.service }}'}
`)
	f := newFixture(t, store.NewMemory(), set)
	err := f.e.OnAlert(context.Background(), Alert{Status: "firing",
		Labels: map[string]string{"alertname": "Down", "service": "web,--all,--force"}})
	if err != nil {
		t.Fatal(err)
	}
	fs := f.rec.take()
	if len(fs) != 1 {
		t.Fatalf("%d firings, want 1", len(fs))
	}
	if args := fs[0].Params.List("args"); len(args) != 1 || args[0] != "web,--all,--force" {
		t.Fatalf("args %q, want the label value as one argument", args)
	}
}

// TestCheckRuleForHoldsAcrossTicks: a check rule is evaluated on every tick of its check, so a
// `for:` is reached while an incident stays open although the honest score falls after the
// onset; a tick without the series, or with its incident silenced, ends the pending state.
func TestCheckRuleForHoldsAcrossTicks(t *testing.T) {
	ctx := context.Background()
	set := parseRules(t, `
groups:
  - name: host
    rules:
      - name: host-cpu-high
        check: host-cpu
        when: anomaly.open && anomaly.peak >= 0.9 && avg_over(1m) > 90
        for: 1m
        action: {name: script, params: {script: scale_up.sh, args: ['{{ .labels.host }}']}}
`)
	f := newFixture(t, store.NewMemory(), set)
	labels := map[string]string{"host": "web-1"}
	obs := func(i int, score float64, muted bool) []Observation {
		at := t0.Add(time.Duration(i) * 15 * time.Second)
		return []Observation{{Labels: labels, T: at, Value: 95, Score: score, Peak: 0.97, Open: true, Since: t0,
			Incident: "inc-1", Muted: muted}}
	}
	tick := func(i int, o []Observation) []Firing {
		t.Helper()
		if err := f.e.EvalCheck(ctx, CheckTick{Check: "host-cpu", T: t0.Add(time.Duration(i) * 15 * time.Second), Series: o}); err != nil {
			t.Fatal(err)
		}
		return f.rec.take()
	}
	scores := []float64{0.97, 0.4, 0.2, 0.1, 0.05}
	for i, sc := range scores {
		got := tick(i, obs(i, sc, false))
		if i < 4 && len(got) != 0 {
			t.Fatalf("tick %d: fired before the minute had passed", i)
		}
		if i == 4 && (len(got) != 1 || got[0].Incident != "inc-1") {
			t.Fatalf("tick %d: %+v, want one proposal for inc-1 after holding for 1m", i, got)
		}
	}
	// A new episode: a tick without the series breaks the pending state, and so does a silence.
	f2 := newFixture(t, store.NewMemory(), set)
	f = f2
	for i := range 6 {
		o := obs(i, 0.5, false)
		switch i {
		case 2:
			o = nil // the series sent no point this tick
		case 4:
			o = obs(i, 0.5, true)
		}
		if got := tick(i, o); len(got) != 0 {
			t.Fatalf("tick %d: fired though the condition did not hold for a minute", i)
		}
	}
}
