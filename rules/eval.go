package rules

import (
	"context"
	"errors"
	"fmt"
	"sync"
	"time"

	"github.com/smartcloudops/smartcloudops/internal/store"
)

// budgetCheckEvery is how many series are evaluated between two time budget checks.
const budgetCheckEvery = 256

// EvalQueryGroup evaluates every enabled query rule of a group once at t: it runs each rule's
// query, evaluates the condition on each result series, advances the state, proposes through
// OnFire and writes the changed state in one store transaction. It returns every rule's error
// joined; one failing rule does not stop the others.
func (e *Engine) EvalQueryGroup(ctx context.Context, group string, t time.Time) error {
	ruleErrs, err := e.evalGroup(ctx, group, t)
	errs := make([]error, 0, len(ruleErrs)+1)
	for _, name := range sortedKeys(ruleErrs) {
		errs = append(errs, ruleErrs[name])
	}
	return errors.Join(append(errs, err)...)
}

// evalGroup is EvalQueryGroup with the errors of each rule apart; the error is for the group
// as a whole (unknown group, state write failed).
func (e *Engine) evalGroup(ctx context.Context, group string, t time.Time) (map[string]error, error) {
	e.mu.RLock()
	var g *Group
	for _, cand := range e.set.Groups {
		if cand.Name == group {
			g = cand
			break
		}
	}
	var rts []*ruleRuntime
	if g != nil {
		for _, r := range g.Rules {
			if r.Input == InputQuery && e.enabled(r) {
				rts = append(rts, e.rules[r.Name])
			}
		}
	}
	e.mu.RUnlock()
	if g == nil {
		return nil, fmt.Errorf("%w %q", ErrUnknownGroup, group)
	}
	start := time.Now()
	defer func() { e.m.duration.WithLabelValues(group).Observe(time.Since(start).Seconds()) }()
	ruleErrs := map[string]error{}
	var ops []store.Op
	for _, rt := range rts {
		e.m.evaluations.WithLabelValues(group).Inc()
		var err error
		ops, err = e.evalQueryRule(ctx, rt, t, ops)
		if err != nil {
			e.m.failures.WithLabelValues(group).Inc()
			ruleErrs[rt.rule.Name] = err
		}
	}
	if err := e.commit(ctx, ops); err != nil {
		return ruleErrs, err
	}
	return ruleErrs, nil
}

func (e *Engine) evalQueryRule(ctx context.Context, rt *ruleRuntime, t time.Time, ops []store.Op) ([]store.Op, error) {
	rt.mu.Lock()
	defer rt.mu.Unlock()
	r := rt.rule
	if err := e.loadOnce(ctx, rt); err != nil {
		return ops, err
	}
	if e.o.Query == nil {
		return ops, fmt.Errorf("rule %q: %w", r.Name, ErrNoQuery)
	}
	samples, err := e.o.Query(ctx, r.Query, t)
	if err != nil {
		return ops, fmt.Errorf("rule %q: query: %w", r.Name, err)
	}
	err = e.evalSeries(ctx, rt, t, false, len(samples), func(i int, env *evalEnv) observed {
		smp := &samples[i]
		env.Value, env.Labels, env.Anomaly = smp.Value, smp.Labels, anomalyEnv{}
		return observed{labels: smp.Labels, value: smp.Value}
	})
	return e.collect(rt, t, ops), err
}

// observed is one series of one evaluation, as evalSeries needs it.
type observed struct {
	labels   map[string]string
	value    float64
	t        time.Time // the point's time, for windows; zero means the evaluation's
	incident string
	muted    bool
}

// evalSeries evaluates one rule on the n series of one tick at t: item fills the environment for
// series i and describes it. Series whose condition is false no longer hold, and neither do
// series absent from the tick unless it is partial (it carries only some series). rt.mu must be
// held.
func (e *Engine) evalSeries(ctx context.Context, rt *ruleRuntime, t time.Time, partial bool, n int, item func(i int, env *evalEnv) observed) error {
	r := rt.rule
	rt.tick++
	var errs []error
	deadline := time.Now().Add(e.o.RuleTimeBudget)
	ev := rt.ev
	ev.env.Now = t
	for i := range n {
		if i%budgetCheckEvery == budgetCheckEvery-1 && time.Now().After(deadline) {
			errs = append(errs, fmt.Errorf("rule %q: %w after %d of %d series", r.Name, ErrBudget, i, n))
			break
		}
		o := item(i, &ev.env)
		windowed := r.cond != nil && r.cond.window > 0
		var fp uint64
		var w *window
		if windowed {
			fp = fingerprint(o.labels)
			w = rt.hist[fp]
			if w == nil {
				w = &window{}
				rt.hist[fp] = w
			}
			at := o.t
			if at.IsZero() {
				at = t
			}
			w.add(at, o.value, r.cond.window)
		}
		cond := false
		if !o.muted {
			var err error
			if cond, err = ev.run(r.cond, w); err != nil {
				errs = append(errs, fmt.Errorf("rule %q: series %v: %w", r.Name, o.labels, err))
				cond = false
			}
		}
		if !cond {
			// A series whose condition is false is treated like one absent from a whole tick
			// (the loop below), which spares hashing the labels of the common case.
			if partial {
				if !windowed {
					fp = fingerprint(o.labels)
				}
				if s, ok := rt.series[fp]; ok && s.State != PhaseInactive && s.State != PhaseResolved {
					s.step(r, false, t, s.Value)
				}
			}
			continue
		}
		if !windowed {
			fp = fingerprint(o.labels)
		}
		s, ok := rt.series[fp]
		if !ok {
			s = rt.seriesFor(fp, o.labels)
		}
		s.seen = rt.tick
		if s.step(r, true, t, o.value) {
			if err := e.fire(ctx, rt, s, o.labels, o.value, t, ref{incident: o.incident}); err != nil {
				errs = append(errs, err)
			}
		}
	}
	// Series that left the tick, or whose condition was false, no longer hold.
	for _, s := range rt.series {
		if !partial && s.seen != rt.tick && s.State != PhaseInactive && s.State != PhaseResolved {
			s.step(r, false, t, s.Value)
		}
	}
	rt.pruneHistory(t)
	return errors.Join(errs...)
}

// CheckTick is one evaluation of the rules that watch a detector check.
type CheckTick struct {
	Check  string
	T      time.Time
	Series []Observation // one point of each series
	// Partial says the tick carries only some of the check's series: one of several points a
	// series scored in one check tick (a replay), evaluated in order before the tick's latest
	// points. Series absent from a partial tick keep their state.
	Partial bool
}

// EvalCheck evaluates the enabled check rules that watch a check on one tick of it, with every
// series the tick scored. A check rule acts on the check's incidents: a series with no incident
// open (anomaly.open false), or whose incident is silenced, or whose condition is false, does not
// hold, and neither does one the tick did not score unless the tick is partial. The
// rules' changed state is written in one store transaction.
func (e *Engine) EvalCheck(ctx context.Context, tk CheckTick) error {
	check, t, obs := tk.Check, tk.T, tk.Series
	rts := e.matching(func(r *Rule) bool { return r.Input == InputCheck && r.Check == check })
	if len(rts) == 0 {
		return nil
	}
	var errs []error
	var ops []store.Op
	for _, rt := range rts {
		rt.mu.Lock()
		e.m.evaluations.WithLabelValues(rt.rule.Group).Inc()
		err := e.loadOnce(ctx, rt)
		if err == nil {
			err = e.evalSeries(ctx, rt, t, tk.Partial, len(obs), func(i int, env *evalEnv) observed {
				o := &obs[i]
				env.Value, env.Labels = o.Value, o.Labels
				env.Anomaly = anomalyEnv{Score: o.Score, Peak: o.Peak, Open: o.Open, Since: o.Since,
					Expected: o.Expected, Lower: o.Lower, Upper: o.Upper}
				// A check rule acts on the check's incidents: while the series has none open, or
				// its incident is silenced, the condition does not hold.
				return observed{labels: o.Labels, value: o.Value, t: o.T, incident: o.Incident, muted: o.Muted || !o.Open}
			})
			ops = e.collect(rt, t, ops)
		}
		rt.mu.Unlock()
		if err != nil {
			e.m.failures.WithLabelValues(rt.rule.Group).Inc()
			errs = append(errs, err)
		}
	}
	if err := e.commit(ctx, ops); err != nil {
		errs = append(errs, err)
	}
	return errors.Join(errs...)
}

// Watches reports whether an enabled check rule watches check, so the detector need not
// describe every series of checks nobody watches.
func (e *Engine) Watches(check string) bool {
	return len(e.matching(func(r *Rule) bool { return r.Input == InputCheck && r.Check == check })) > 0
}

// loadOnce reads the rule's stored state before its first evaluation; rt.mu must be held.
func (e *Engine) loadOnce(ctx context.Context, rt *ruleRuntime) error {
	if rt.loaded {
		return nil
	}
	return e.load(ctx, rt)
}

// OnAlert evaluates the enabled alert rules whose matchers select the alert. A resolved alert
// resolves the series.
func (e *Engine) OnAlert(ctx context.Context, a Alert) error { return e.OnAlerts(ctx, []Alert{a}) }

// alertWorkers is how many series of a batch of alerts are evaluated at once: their proposals
// are written concurrently, and so share store transactions.
const alertWorkers = 32

// OnAlerts evaluates the alert rules on a batch of alerts, as OnAlert does, and writes the
// rules' changed state once for all of them. The alerts of one series (one label set) are
// evaluated in order; different series are evaluated concurrently, alertWorkers at a time.
func (e *Engine) OnAlerts(ctx context.Context, as []Alert) error {
	return e.OnAlertsThen(ctx, as, nil)
}

// OnAlertsThen is OnAlerts, calling beforeCommit, when set, once every alert is evaluated and
// before the rules' changed state is written. A caller that records something of the batch's
// proposals elsewhere does it there: if the process dies before that, the rules' state is not
// written either, so the alerts evaluated again make the same proposals (deduplicated) and the
// caller records them then.
func (e *Engine) OnAlertsThen(ctx context.Context, as []Alert, beforeCommit func(context.Context)) error {
	if len(as) == 0 {
		return nil
	}
	now := e.o.Now()
	workers := min(alertWorkers, len(as))
	shards := make([][]Alert, workers)
	for _, a := range as {
		k := fingerprint(a.Labels) % uint64(workers)
		shards[k] = append(shards[k], a)
	}
	var (
		mu   sync.Mutex
		errs []error
		ops  []store.Op
		wg   sync.WaitGroup
	)
	for _, shard := range shards {
		if len(shard) == 0 {
			continue
		}
		wg.Add(1)
		go func() {
			defer wg.Done()
			sops, serrs := e.onAlerts(ctx, shard, now)
			mu.Lock()
			ops, errs = append(ops, sops...), append(errs, serrs...)
			mu.Unlock()
		}()
	}
	wg.Wait()
	if beforeCommit != nil {
		beforeCommit(ctx)
	}
	if err := e.commit(ctx, ops); err != nil {
		errs = append(errs, err)
	}
	return errors.Join(errs...)
}

// onAlerts evaluates the alert rules on alerts in order, and returns the writes of the rules'
// changed state.
func (e *Engine) onAlerts(ctx context.Context, as []Alert, now time.Time) ([]store.Op, []error) {
	var errs []error
	var ops []store.Op
	for _, a := range as {
		rts := e.matching(func(r *Rule) bool {
			if r.Input != InputAlert {
				return false
			}
			for _, m := range r.Alert {
				if !m.Matches(a.Labels) {
					return false
				}
			}
			return true
		})
		firing := a.Status != "resolved" && (a.EndsAt.IsZero() || a.EndsAt.After(now))
		for _, rt := range rts {
			var err error
			ops, err = e.evalEvent(ctx, rt, a.Labels, 0, now, firing, ref{incident: a.Incident, dedup: a.Dedup}, ops, func(env *evalEnv) {
				env.Alert = alertEnv{Labels: a.Labels, Annotations: a.Annotations, Status: a.Status, StartsAt: a.StartsAt}
			})
			if err != nil {
				errs = append(errs, err)
			}
		}
	}
	return ops, errs
}

func (e *Engine) matching(pick func(*Rule) bool) []*ruleRuntime {
	e.mu.RLock()
	defer e.mu.RUnlock()
	var out []*ruleRuntime
	for _, r := range e.set.Rules() {
		if pick(r) && e.enabled(r) {
			out = append(out, e.rules[r.Name])
		}
	}
	return out
}

// evalEvent evaluates one alert rule on one event; active is false when the event
// itself says the condition no longer holds (a resolved alert). The proposal of a firing is
// made without rt.mu held, so events of other series of the rule go on meanwhile; the caller
// keeps the events of one series in order. Only the event's series is written back.
func (e *Engine) evalEvent(ctx context.Context, rt *ruleRuntime, labels map[string]string, value float64, t time.Time,
	active bool, from ref, ops []store.Op, fill func(*evalEnv)) ([]store.Op, error) {
	rt.mu.Lock()
	defer rt.mu.Unlock()
	r := rt.rule
	e.m.evaluations.WithLabelValues(r.Group).Inc()
	if !rt.loaded {
		if err := e.load(ctx, rt); err != nil {
			e.m.failures.WithLabelValues(r.Group).Inc()
			return ops, err
		}
	}
	fp := fingerprint(labels)
	s, ok := rt.series[fp]
	if ok && !s.LastEval.IsZero() && t.Sub(s.LastEval) > staleAfter(r) {
		// No event for a while: the earlier episode ended unseen.
		s.step(r, false, s.LastEval.Add(staleAfter(r)), s.Value)
	}
	cond := false
	if active {
		var w *window
		if r.cond != nil && r.cond.window > 0 {
			w = rt.hist[fp]
			if w == nil {
				w = &window{}
				rt.hist[fp] = w
			}
			w.add(t, value, r.cond.window)
		}
		ev := newEvaluator() // events may arrive concurrently for different rules; keep it local
		ev.env.Value, ev.env.Labels, ev.env.Now = value, labels, t
		fill(&ev.env)
		var err error
		if cond, err = ev.run(r.cond, w); err != nil {
			e.m.failures.WithLabelValues(r.Group).Inc()
			return e.collectSeries(rt, fp, t, ops), fmt.Errorf("rule %q: series %v: %w", r.Name, labels, err)
		}
	}
	if !ok && !cond {
		return ops, nil
	}
	if !ok {
		s = rt.seriesFor(fp, labels)
	}
	var err error
	if s.step(r, cond, t, value) {
		var f Firing
		if f, err = e.firing(rt, s, labels, value, t, from); err == nil {
			rt.mu.Unlock()
			err = e.propose(ctx, f)
			rt.mu.Lock()
		}
		if err == nil {
			e.proposed(rt, s, t)
		} else {
			e.m.failures.WithLabelValues(r.Group).Inc()
		}
	}
	return e.collectSeries(rt, fp, t, ops), err
}

// sweep resolves alert series that have seen no event for staleAfter and forgets series that no
// longer matter.
func (e *Engine) sweep(ctx context.Context, t time.Time) error {
	rts := e.matching(func(r *Rule) bool { return r.Input == InputAlert })
	var ops []store.Op
	for _, rt := range rts {
		rt.mu.Lock()
		for _, s := range rt.series {
			if s.active() && t.Sub(s.LastEval) > staleAfter(rt.rule) {
				s.step(rt.rule, false, t, s.Value)
			}
		}
		rt.pruneHistory(t)
		ops = e.collect(rt, t, ops)
		rt.mu.Unlock()
	}
	return e.commit(ctx, ops)
}

// Run evaluates every query rule group on its interval and sweeps stale check and alert
// series each minute, until ctx ends. SetRules reschedules the groups.
func (e *Engine) Run(ctx context.Context) error {
	for {
		gctx, cancel := context.WithCancel(ctx)
		var wg sync.WaitGroup
		e.mu.RLock()
		groups := e.set.Groups
		e.mu.RUnlock()
		for _, g := range groups {
			if !hasQueryRules(g) {
				continue
			}
			wg.Add(1)
			go func(name string, every time.Duration) {
				defer wg.Done()
				e.loop(gctx, every, func() {
					if err := e.EvalQueryGroup(gctx, name, e.o.Now()); err != nil && gctx.Err() == nil {
						e.log.Warn("rule group evaluation failed", "rule_group", name, "err", err)
					}
				})
			}(g.Name, g.Interval)
		}
		wg.Add(1)
		go func() {
			defer wg.Done()
			e.loop(gctx, time.Minute, func() {
				if err := e.sweep(gctx, e.o.Now()); err != nil && gctx.Err() == nil {
					e.log.Warn("rule state sweep failed", "err", err)
				}
			})
		}()
		select {
		case <-ctx.Done():
			cancel()
			wg.Wait()
			return nil
		case <-e.changed:
			cancel()
			wg.Wait()
		}
	}
}

func (e *Engine) loop(ctx context.Context, every time.Duration, fn func()) {
	tk := time.NewTicker(every)
	defer tk.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case <-tk.C:
			fn()
		}
	}
}

func hasQueryRules(g *Group) bool {
	for _, r := range g.Rules {
		if r.Input == InputQuery {
			return true
		}
	}
	return false
}

// pruneHistory forgets window history of series not seen within the rule's longest window;
// rt.mu must be held.
func (rt *ruleRuntime) pruneHistory(t time.Time) {
	if len(rt.hist) == 0 {
		return
	}
	var keep time.Duration
	if rt.rule.cond != nil {
		keep = rt.rule.cond.window
	}
	for fp, w := range rt.hist {
		if keep == 0 || len(w.t) == 0 || t.Sub(time.Unix(0, w.t[len(w.t)-1])) > keep {
			delete(rt.hist, fp)
		}
	}
}
