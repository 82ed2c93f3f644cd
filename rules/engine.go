package rules

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"sort"
	"strings"
	"sync"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/smartcloudops/smartcloudops/internal/store"
	"github.com/smartcloudops/smartcloudops/remediation"
)

// DefaultRuleTimeBudget bounds the time one rule may spend on one tick.
const DefaultRuleTimeBudget = 5 * time.Second

// EngineOptions configures an Engine. Store, Logger, Registerer and OnFire are required.
type EngineOptions struct {
	Store      store.Store
	Logger     *slog.Logger
	Registerer prometheus.Registerer
	Now        func() time.Time // defaults to time.Now
	// Query runs PromQL for query rules; optional, but query rules fail without it.
	Query QueryFunc
	// OnFire receives every proposal. When it returns an error the proposal is not recorded
	// and is attempted again on the next evaluation.
	OnFire func(ctx context.Context, f Firing) error
	// Actions is the action registry's schema lookup; LoadOptions hands it to Load, so that
	// rule sets loaded for this engine are checked against the actions it can propose.
	Actions func(name string) (remediation.Schema, bool)
	// RuleTimeBudget bounds one rule's evaluation per tick; default DefaultRuleTimeBudget.
	RuleTimeBudget time.Duration
}

// Engine evaluates a rule Set: query rules on their group's interval, check rules on every tick
// of the check they watch (EvalCheck), alert rules when alerts arrive. It is safe for concurrent use.
type Engine struct {
	o   EngineOptions
	log *slog.Logger
	m   *metrics

	mu        sync.RWMutex
	set       *Set
	rules     map[string]*ruleRuntime
	overrides map[string]bool // enabled flags set through SetEnabled
	changed   chan struct{}   // signals Run to reschedule after SetRules
}

// ruleRuntime is one rule with its evaluation state.
type ruleRuntime struct {
	mu     sync.Mutex
	rule   *Rule
	loaded bool
	series map[uint64]*seriesState
	hist   map[uint64]*window
	ev     *evaluator
	tick   uint64
}

// NewEngine checks the options, loads the persisted enabled flags and returns an Engine with
// an empty rule set.
func NewEngine(o EngineOptions) (*Engine, error) {
	var missing []string
	if o.Store == nil {
		missing = append(missing, "Store")
	}
	if o.Logger == nil {
		missing = append(missing, "Logger")
	}
	if o.Registerer == nil {
		missing = append(missing, "Registerer")
	}
	if o.OnFire == nil {
		missing = append(missing, "OnFire")
	}
	if len(missing) > 0 {
		return nil, fmt.Errorf("rules: engine options missing %v", missing)
	}
	if o.Now == nil {
		o.Now = time.Now
	}
	if o.RuleTimeBudget <= 0 {
		o.RuleTimeBudget = DefaultRuleTimeBudget
	}
	m, err := newMetrics(o.Registerer)
	if err != nil {
		return nil, err
	}
	e := &Engine{
		o: o, log: o.Logger.With("component", "rules"), m: m,
		set: &Set{}, rules: map[string]*ruleRuntime{}, overrides: map[string]bool{},
		changed: make(chan struct{}, 1),
	}
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	kvs, err := o.Store.List(ctx, enabledPrefix)
	if err != nil {
		return nil, fmt.Errorf("rules: load enabled flags: %w", err)
	}
	for _, kv := range kvs {
		e.overrides[kv.Key[len(enabledPrefix):]] = string(kv.Value) == "true"
	}
	e.set.index()
	return e, nil
}

const enabledPrefix = "rules/enabled/"

// LoadOptions returns the options to load rule sets for this engine with (Load, Sync,
// LoadFromStore).
func (e *Engine) LoadOptions() LoadOptions { return LoadOptions{Actions: e.o.Actions} }

// SetRules swaps the rule set atomically. State of rules kept by name carries over.
func (e *Engine) SetRules(s *Set) {
	if s == nil {
		s = &Set{}
	}
	if s.byName == nil {
		s.index()
	}
	e.mu.Lock()
	next := make(map[string]*ruleRuntime, s.Len())
	for _, r := range s.Rules() {
		rt, ok := e.rules[r.Name]
		if ok {
			rt.mu.Lock()
			rt.rule = r
			rt.mu.Unlock()
		} else {
			rt = &ruleRuntime{rule: r, series: map[uint64]*seriesState{}, hist: map[uint64]*window{}, ev: newEvaluator()}
		}
		next[r.Name] = rt
		// Dashboards and alerts see 0, not "No data", until the rule's first event.
		e.m.firings.WithLabelValues(r.Name)
		e.m.evaluations.WithLabelValues(r.Group)
		e.m.failures.WithLabelValues(r.Group)
	}
	e.set, e.rules = s, next
	e.mu.Unlock()
	select {
	case e.changed <- struct{}{}:
	default:
	}
}

// Rules returns the loaded rules, each with Enabled reflecting SetEnabled.
func (e *Engine) Rules() []*Rule {
	e.mu.RLock()
	defer e.mu.RUnlock()
	var out []*Rule
	for _, r := range e.set.Rules() {
		out = append(out, e.effective(r))
	}
	return out
}

// Rule returns one rule by name, with Enabled reflecting SetEnabled.
func (e *Engine) Rule(name string) (*Rule, bool) {
	e.mu.RLock()
	defer e.mu.RUnlock()
	r, ok := e.set.Rule(name)
	if !ok {
		return nil, false
	}
	return e.effective(r), true
}

func (e *Engine) effective(r *Rule) *Rule {
	on, ok := e.overrides[r.Name]
	if !ok || on == r.Enabled {
		return r
	}
	c := *r
	c.Enabled = on
	return &c
}

func (e *Engine) enabled(r *Rule) bool {
	if on, ok := e.overrides[r.Name]; ok {
		return on
	}
	return r.Enabled
}

// SetEnabled turns a rule on or off; the choice is persisted and outlives reloads.
func (e *Engine) SetEnabled(ctx context.Context, name string, on bool) error {
	e.mu.RLock()
	_, ok := e.set.Rule(name)
	e.mu.RUnlock()
	if !ok {
		return fmt.Errorf("%w %q", ErrUnknownRule, name)
	}
	v := "false"
	if on {
		v = "true"
	}
	if _, err := e.o.Store.Put(ctx, enabledPrefix+name, []byte(v)); err != nil {
		return fmt.Errorf("set rule %q enabled=%v: %w", name, on, err)
	}
	e.mu.Lock()
	e.overrides[name] = on
	e.mu.Unlock()
	return nil
}

// State returns the non-inactive series of a rule, sorted by key.
func (e *Engine) State(name string) []SeriesState {
	e.mu.RLock()
	rt, ok := e.rules[name]
	e.mu.RUnlock()
	if !ok {
		return nil
	}
	rt.mu.Lock()
	defer rt.mu.Unlock()
	if !rt.loaded {
		ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		defer cancel()
		if err := e.load(ctx, rt); err != nil {
			e.log.Warn("load rule state", "rule", name, "err", err)
		}
	}
	out := make([]SeriesState, 0, len(rt.series))
	for _, s := range rt.series {
		if s.State == PhaseInactive {
			continue
		}
		c := s.SeriesState
		c.Proposals = append([]time.Time(nil), s.Proposals...)
		out = append(out, c)
	}
	sort.Slice(out, func(i, j int) bool { return out[i].Key < out[j].Key })
	return out
}

// load reads a rule's persisted state; rt.mu must be held.
func (e *Engine) load(ctx context.Context, rt *ruleRuntime) error {
	kvs, err := e.o.Store.List(ctx, statePrefix(rt.rule.Name))
	if err != nil {
		return fmt.Errorf("load state of rule %q: %w", rt.rule.Name, err)
	}
	for _, kv := range kvs {
		s, err := decodeState(kv.Key, kv.Value)
		if err != nil {
			e.log.Warn("skip unreadable rule state", "key", kv.Key, "err", err)
			continue
		}
		if _, ok := rt.series[s.fp]; !ok {
			rt.series[s.fp] = s
		}
	}
	rt.loaded = true
	return nil
}

// collect appends the writes for the rule's changed series to ops; rt.mu must be held.
func (e *Engine) collect(rt *ruleRuntime, t time.Time, ops []store.Op) []store.Op {
	for fp := range rt.series {
		ops = e.collectSeries(rt, fp, t, ops)
	}
	return ops
}

// collectSeries appends the write for one series of the rule, if it changed or is no longer
// needed, to ops; rt.mu must be held. An event touches one series: collecting only it keeps an
// event's cost independent of how many series the rule has.
func (e *Engine) collectSeries(rt *ruleRuntime, fp uint64, t time.Time, ops []store.Op) []store.Op {
	s, ok := rt.series[fp]
	if !ok {
		return ops
	}
	if s.disposable(rt.rule, t) {
		delete(rt.series, fp)
		if s.stored {
			ops = append(ops, store.Op{Key: stateKey(rt.rule.Name, fp), Delete: true})
		}
		return ops
	}
	if !s.dirty {
		return ops
	}
	b, err := json.Marshal(&s.SeriesState)
	if err != nil {
		e.log.Error("encode rule state", "key", s.Key, "err", err)
		return ops
	}
	s.dirty, s.stored = false, true
	return append(ops, store.Op{Key: stateKey(rt.rule.Name, fp), Value: b})
}

// commit writes a tick's state changes, in as few transactions as the store takes. A series
// that changed more than once (in a batch of events) is written once, as it is now.
func (e *Engine) commit(ctx context.Context, ops []store.Op) error {
	if len(ops) == 0 {
		return nil
	}
	ops = lastPerKey(ops)
	if _, err := store.WriteAll(ctx, e.o.Store, ops); err != nil {
		return fmt.Errorf("write rule state (%d keys): %w", len(ops), err)
	}
	return nil
}

func (e *Engine) runtime(name string) (*ruleRuntime, bool) {
	e.mu.RLock()
	defer e.mu.RUnlock()
	rt, ok := e.rules[name]
	return rt, ok
}

// fire renders the proposal for one series and hands it to OnFire; rt.mu must be held.
// ref is what an evaluation carries on to the proposal a rule makes: the incident behind it, and
// the delivery that carried the event, so evaluating it again proposes nothing more.
type ref struct {
	incident string
	dedup    string
}

func (e *Engine) fire(ctx context.Context, rt *ruleRuntime, s *seriesState, labels map[string]string, value float64, t time.Time, from ref) error {
	f, err := e.firing(rt, s, labels, value, t, from)
	if err == nil {
		err = e.propose(ctx, f)
	}
	if err != nil {
		return err
	}
	e.proposed(rt, s, t)
	return nil
}

// firing renders the proposal series s asks for; rt.mu must be held.
func (e *Engine) firing(rt *ruleRuntime, s *seriesState, labels map[string]string, value float64, t time.Time, from ref) (Firing, error) {
	r := rt.rule
	merged := mergeLabels(labels, r.Labels)
	params, err := r.params.render(r.Name, merged, value)
	if err != nil {
		return Firing{}, fmt.Errorf("rule %q: %w", r.Name, err)
	}
	f := Firing{Rule: r, Version: r.Version, Labels: merged, Value: value, Params: params, Key: s.Key, T: t, Incident: from.incident}
	if from.dedup != "" {
		f.Dedup = from.dedup + "/" + s.Key
	}
	return f, nil
}

// propose hands a firing to OnFire.
func (e *Engine) propose(ctx context.Context, f Firing) error {
	if err := e.o.OnFire(ctx, f); err != nil {
		return fmt.Errorf("rule %q: propose: %w", f.Rule.Name, err)
	}
	return nil
}

// proposed records on s that its proposal was made; rt.mu must be held.
func (e *Engine) proposed(rt *ruleRuntime, s *seriesState, t time.Time) {
	s.proposed(rt.rule, t)
	e.m.firings.WithLabelValues(rt.rule.Name).Inc()
}

// seriesFor finds or creates the state of one series; rt.mu must be held.
func (rt *ruleRuntime) seriesFor(fp uint64, labels map[string]string) *seriesState {
	s, ok := rt.series[fp]
	if !ok {
		s = &seriesState{fp: fp, SeriesState: SeriesState{Key: rt.rule.Name + "/" + fpHex(fp), Labels: labels, State: PhaseInactive}}
		rt.series[fp] = s
	}
	return s
}

type metrics struct {
	evaluations *prometheus.CounterVec
	failures    *prometheus.CounterVec
	firings     *prometheus.CounterVec
	duration    *prometheus.HistogramVec
}

func newMetrics(reg prometheus.Registerer) (*metrics, error) {
	m := &metrics{
		evaluations: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "smartcloudops_rule_evaluations_total",
			Help: "Rule evaluations, one per rule and tick or event.",
		}, []string{"rule_group"}),
		failures: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "smartcloudops_rule_evaluation_failures_total",
			Help: "Rule evaluations that failed (query, condition, template or callback errors).",
		}, []string{"rule_group"}),
		firings: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "smartcloudops_rule_firings_total",
			Help: "Proposals made by a rule.",
		}, []string{"rule"}),
		duration: prometheus.NewHistogramVec(prometheus.HistogramOpts{
			Name:    "smartcloudops_rule_evaluation_duration_seconds",
			Help:    "Time to evaluate one rule group tick.",
			Buckets: []float64{.001, .005, .01, .05, .1, .25, .5, 1, 2.5, 5, 10},
		}, []string{"rule_group"}),
	}
	var err error
	m.evaluations = register(reg, m.evaluations, &err)
	m.failures = register(reg, m.failures, &err)
	m.firings = register(reg, m.firings, &err)
	m.duration = register(reg, m.duration, &err)
	return m, err
}

// register registers c, reusing an identical collector registered before (such as by an
// earlier engine on the same registry).
func register[C prometheus.Collector](reg prometheus.Registerer, c C, errp *error) C {
	if err := reg.Register(c); err != nil {
		var are prometheus.AlreadyRegisteredError
		if errors.As(err, &are) {
			if existing, ok := are.ExistingCollector.(C); ok {
				return existing
			}
		}
		if *errp == nil {
			*errp = fmt.Errorf("register rule metrics: %w", err)
		}
	}
	return c
}

// lastPerKey keeps, for each key, only its last op, in the order of those last ops.
func lastPerKey(ops []store.Op) []store.Op {
	last := make(map[string]int, len(ops))
	for i, op := range ops {
		last[op.Key] = i
	}
	if len(last) == len(ops) {
		return ops
	}
	out := make([]store.Op, 0, len(last))
	for i, op := range ops {
		if last[op.Key] == i {
			out = append(out, op)
		}
	}
	return out
}

// FollowEnabled keeps the enabled flags in step with the store until ctx ends: with several
// replicas, `rules enable` or `disable` may be typed on any of them, and the leader, which
// evaluates the rules, learns it through a store watch.
func (e *Engine) FollowEnabled(ctx context.Context) error {
	for ctx.Err() == nil {
		for r := range e.o.Store.Watch(ctx, enabledPrefix, 0) {
			if r.Err != nil {
				break
			}
			e.mu.Lock()
			for _, ev := range r.Events {
				name := strings.TrimPrefix(ev.KV.Key, enabledPrefix)
				if ev.Type == store.EventDelete {
					delete(e.overrides, name)
					continue
				}
				e.overrides[name] = string(ev.KV.Value) == "true"
			}
			e.mu.Unlock()
		}
		select {
		case <-ctx.Done():
		case <-time.After(time.Second):
		}
	}
	return nil
}
