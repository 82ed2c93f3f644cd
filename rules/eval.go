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
	if !rt.loaded {
		if err := e.load(ctx, rt); err != nil {
			return ops, err
		}
	}
	if e.o.Query == nil {
		return ops, fmt.Errorf("rule %q: %w", r.Name, ErrNoQuery)
	}
	samples, err := e.o.Query(ctx, r.Query, t)
	if err != nil {
		return ops, fmt.Errorf("rule %q: query: %w", r.Name, err)
	}
	rt.tick++
	var errs []error
	deadline := time.Now().Add(e.o.RuleTimeBudget)
	ev := rt.ev
	ev.env.Now = t
	for i := range samples {
		if i%budgetCheckEvery == budgetCheckEvery-1 && time.Now().After(deadline) {
			errs = append(errs, fmt.Errorf("rule %q: %w after %d of %d series", r.Name, ErrBudget, i, len(samples)))
			break
		}
		smp := &samples[i]
		windowed := r.cond != nil && r.cond.window > 0
		var fp uint64
		var w *window
		if windowed {
			fp = fingerprint(smp.Labels)
			w = rt.hist[fp]
			if w == nil {
				w = &window{}
				rt.hist[fp] = w
			}
			w.add(t, smp.Value, r.cond.window)
		}
		ev.env.Value, ev.env.Labels = smp.Value, smp.Labels
		cond, err := ev.run(r.cond, w)
		if err != nil {
			errs = append(errs, fmt.Errorf("rule %q: series %v: %w", r.Name, smp.Labels, err))
			cond = false
		}
		if !cond {
			// A series whose condition is false is treated like one absent from the result
			// (the loop below), which spares hashing the labels of the common case.
			continue
		}
		if !windowed {
			fp = fingerprint(smp.Labels)
		}
		s, ok := rt.series[fp]
		if !ok {
			s = rt.seriesFor(fp, smp.Labels)
		}
		s.seen = rt.tick
		if s.step(r, true, t, smp.Value) {
			if err := e.fire(ctx, rt, s, smp.Labels, smp.Value, t); err != nil {
				errs = append(errs, err)
			}
		}
	}
	// Series that left the query result, or whose condition was false, no longer hold.
	for _, s := range rt.series {
		if s.seen != rt.tick && s.State != PhaseInactive && s.State != PhaseResolved {
			s.step(r, false, t, s.Value)
		}
	}
	rt.pruneHistory(t)
	return e.collect(rt, t, ops), errors.Join(errs...)
}

// OnAnomaly evaluates the enabled check rules that watch a.Check against the anomaly.
func (e *Engine) OnAnomaly(ctx context.Context, a Anomaly) error {
	rts := e.matching(func(r *Rule) bool { return r.Input == InputCheck && r.Check == a.Check })
	if a.T.IsZero() {
		a.T = e.o.Now()
	}
	var errs []error
	var ops []store.Op
	for _, rt := range rts {
		var err error
		ops, err = e.evalEvent(ctx, rt, a.Labels, a.Value, a.T, true, ops, func(env *evalEnv) {
			env.Anomaly = anomalyEnv{Score: a.Score, Expected: a.Expected, Lower: a.Lower, Upper: a.Upper, Since: a.Since}
		})
		if err != nil {
			errs = append(errs, err)
		}
	}
	if err := e.commit(ctx, ops); err != nil {
		errs = append(errs, err)
	}
	return errors.Join(errs...)
}

// OnAlert evaluates the enabled alert rules whose matchers select the alert. A resolved alert
// resolves the series.
func (e *Engine) OnAlert(ctx context.Context, a Alert) error {
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
	now := e.o.Now()
	firing := a.Status != "resolved" && (a.EndsAt.IsZero() || a.EndsAt.After(now))
	var errs []error
	var ops []store.Op
	for _, rt := range rts {
		var err error
		ops, err = e.evalEvent(ctx, rt, a.Labels, 0, now, firing, ops, func(env *evalEnv) {
			env.Alert = alertEnv{Labels: a.Labels, Annotations: a.Annotations, Status: a.Status, StartsAt: a.StartsAt}
		})
		if err != nil {
			errs = append(errs, err)
		}
	}
	if err := e.commit(ctx, ops); err != nil {
		errs = append(errs, err)
	}
	return errors.Join(errs...)
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

// evalEvent evaluates one check or alert rule on one event; active is false when the event
// itself says the condition no longer holds (a resolved alert).
func (e *Engine) evalEvent(ctx context.Context, rt *ruleRuntime, labels map[string]string, value float64, t time.Time,
	active bool, ops []store.Op, fill func(*evalEnv)) ([]store.Op, error) {
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
			return e.collect(rt, t, ops), fmt.Errorf("rule %q: series %v: %w", r.Name, labels, err)
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
		if err = e.fire(ctx, rt, s, labels, value, t); err != nil {
			e.m.failures.WithLabelValues(r.Group).Inc()
		}
	}
	return e.collect(rt, t, ops), err
}

// OnCheckDone tells the engine that a detector check ran at t: series of the check rules
// watching it that got no anomaly at t are no longer anomalous. Without it, such series
// resolve after two group intervals without an anomaly.
func (e *Engine) OnCheckDone(ctx context.Context, check string, t time.Time) error {
	rts := e.matching(func(r *Rule) bool { return r.Input == InputCheck && r.Check == check })
	var ops []store.Op
	for _, rt := range rts {
		rt.mu.Lock()
		if !rt.loaded {
			if err := e.load(ctx, rt); err != nil {
				rt.mu.Unlock()
				return err
			}
		}
		for _, s := range rt.series {
			if s.active() && s.LastEval.Before(t) {
				s.step(rt.rule, false, t, s.Value)
			}
		}
		ops = e.collect(rt, t, ops)
		rt.mu.Unlock()
	}
	return e.commit(ctx, ops)
}

// sweep resolves check and alert series that have seen no event for staleAfter and forgets
// series that no longer matter.
func (e *Engine) sweep(ctx context.Context, t time.Time) error {
	rts := e.matching(func(r *Rule) bool { return r.Input != InputQuery })
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
