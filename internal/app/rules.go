package app

import (
	"context"
	"errors"
	"fmt"
	"sort"
	"strings"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/smartcloudops/smartcloudops/commands"
	"github.com/smartcloudops/smartcloudops/detector"
	"github.com/smartcloudops/smartcloudops/detector/model"
	"github.com/smartcloudops/smartcloudops/internal/config"
	"github.com/smartcloudops/smartcloudops/internal/obs"
	"github.com/smartcloudops/smartcloudops/internal/store"
	"github.com/smartcloudops/smartcloudops/remediation"
	"github.com/smartcloudops/smartcloudops/remediation/audit"
	"github.com/smartcloudops/smartcloudops/rules"
)

type configRoute = config.Route

func (b *Bot) schema(name string) (remediation.Schema, bool) {
	a, ok := b.actions[name]
	if !ok {
		return nil, false
	}
	return a.Schema().WithTimeout(b.cfg.Executor.Timeout.D()), true
}

// buildRules starts the engine on the rule set synced into the store by `rules sync`, or else on
// the rule files of the configuration.
func (b *Bot) buildRules(ctx context.Context) error {
	var err error
	b.Rules, err = rules.NewEngine(rules.EngineOptions{Store: b.Store, Logger: b.log, Registerer: b.regr,
		OnFire: b.onFire, Actions: b.schema, Query: b.queryFunc()})
	if err != nil {
		return err
	}
	set, from, err := b.loadRuleSet(ctx, b.cfg.Rules.Paths)
	if err != nil {
		return err
	}
	if set != nil {
		b.log.Info("rules loaded", "from", from, "rules", set.Len())
		b.Rules.SetRules(set)
	}
	return nil
}

// loadRuleSet loads the rule set the bot runs: the one synced into the store by `rules sync`
// when there is one, or else the rule files at paths (nil when there are none). from says which,
// for logs and the audit. A synced set that no longer loads (say an action it names was removed
// from the configuration) is an error rather than a silent switch to the files.
func (b *Bot) loadRuleSet(ctx context.Context, paths []string) (set *rules.Set, from string, err error) {
	opts := rules.LoadOptions{Actions: b.schema}
	set, info, err := rules.LoadFromStore(ctx, b.Store, opts)
	switch {
	case err == nil && set.Len() > 0:
		return set, "the set synced at commit " + info.Commit, nil
	case err != nil && !errors.Is(err, rules.ErrNotSynced):
		return nil, "", fmt.Errorf("rules: %w", err)
	case len(paths) == 0:
		return nil, "", nil
	}
	set, err = rules.Load(paths, opts)
	if err != nil {
		return nil, "", fmt.Errorf("rules: %w", err)
	}
	return set, fmt.Sprintf("the files %v", paths), nil
}

// rulesService adapts the engine to the chat commands.
type rulesService struct{ b *Bot }

func (s *rulesService) info(r *rules.Rule) commands.RuleInfo {
	ri := commands.RuleInfo{Name: r.Name, Group: r.Group, Version: r.Version, File: r.File, Enabled: r.Enabled, Source: r.Source,
		Action: r.Action.Name}
	switch r.Input {
	case rules.InputQuery:
		ri.Input = "query"
	case rules.InputCheck:
		ri.Input = "check " + r.Check
	case rules.InputAlert:
		var ms []string
		for _, m := range r.Alert {
			ms = append(ms, m.String())
		}
		ri.Input = "alert {" + strings.Join(ms, ",") + "}"
	}
	for _, st := range s.b.Rules.State(r.Name) {
		if st.State == rules.PhaseFiring {
			ri.Firing++
		}
		if st.FiredAt.After(ri.LastFired) {
			ri.LastFired = st.FiredAt
		}
	}
	return ri
}

func (s *rulesService) List() []commands.RuleInfo {
	var out []commands.RuleInfo
	for _, r := range s.b.Rules.Rules() {
		out = append(out, s.info(r))
	}
	sort.Slice(out, func(i, j int) bool { return out[i].Name < out[j].Name })
	return out
}

func (s *rulesService) Show(name string) (commands.RuleInfo, bool) {
	r, ok := s.b.Rules.Rule(name)
	if !ok {
		return commands.RuleInfo{}, false
	}
	return s.info(r), true
}

func (s *rulesService) SetEnabled(ctx context.Context, name string, on bool, by string) error {
	r, ok := s.b.Rules.Rule(name)
	if !ok {
		return obs.UserErrorf("no rule %q (see `rules list`)", name)
	}
	if err := s.b.Rules.SetEnabled(ctx, name, on); err != nil {
		return err
	}
	kind := "rule.disabled"
	if on {
		kind = "rule.enabled"
	}
	_, err := s.b.Audit.Append(ctx, audit.Record{Kind: kind, User: by, Rule: name, RuleVersion: r.Version})
	return err
}

// Sync reloads the configured rule files; nothing changes unless every rule is valid.
func (s *rulesService) Sync(ctx context.Context, by string) (string, error) {
	if len(s.b.cfg.Rules.Paths) == 0 {
		return "", obs.UserErrorf("no rule paths are configured (rules.paths)")
	}
	set, err := rules.Load(s.b.cfg.Rules.Paths, rules.LoadOptions{Actions: s.b.schema})
	if err != nil {
		return "", obs.UserErrorf("rules not synced, nothing changed:\n%v", err)
	}
	old := map[string]string{}
	for _, r := range s.b.Rules.Rules() {
		old[r.Name] = r.Version
	}
	var added, changed []string
	for _, r := range set.Rules() {
		v, ok := old[r.Name]
		switch {
		case !ok:
			added = append(added, r.Name)
		case v != r.Version:
			changed = append(changed, fmt.Sprintf("%s %s -> %s", r.Name, v, r.Version))
		}
		delete(old, r.Name)
	}
	var removed []string
	for n := range old {
		removed = append(removed, n)
	}
	sort.Strings(removed)
	s.b.Rules.SetRules(set)
	summary := fmt.Sprintf("%d rules loaded; added: %s; changed: %s; removed: %s", set.Len(), list(added), list(changed), list(removed))
	if _, err := s.b.Audit.Append(ctx, audit.Record{Kind: "rules.synced", User: by, Detail: summary}); err != nil {
		return "", err
	}
	return summary, nil
}

func list(s []string) string {
	if len(s) == 0 {
		return "none"
	}
	return strings.Join(s, ", ")
}

// Test replays the last hour of the rule's input through a fresh evaluator and says what the
// rule would have proposed. Query rules replay Prometheus' history; check rules replay the
// check's scored points kept by the detector.
func (s *rulesService) Test(ctx context.Context, name string) (string, error) {
	r, ok := s.b.Rules.Rule(name)
	if !ok {
		return "", obs.UserErrorf("no rule %q (see `rules list`)", name)
	}
	to := time.Now()
	from := to.Add(-time.Hour)
	switch r.Input {
	case rules.InputQuery:
		rng := s.b.rangeFunc()
		if rng == nil {
			return "", obs.UserErrorf("rule %s reads Prometheus, and no prometheus.url is configured", name)
		}
		set, err := rules.Parse([]rules.File{{Name: r.File, Data: []byte(wrapRule(r))}}, rules.LoadOptions{Actions: s.b.schema})
		if err != nil {
			return "", err
		}
		rep, err := rules.Backtest(ctx, set, rng, rules.BacktestOptions{From: from, To: to})
		if err != nil {
			return "", err
		}
		return rep.String(), nil
	case rules.InputCheck:
		return s.testCheckRule(ctx, r, from)
	}
	return "", obs.UserErrorf("rule %s takes Alertmanager alerts, which the bot does not keep a history of; use `rules test` files in CI", name)
}

// wrapRule turns one rule's source (its YAML mapping, unindented) back into a rule file with
// its group.
func wrapRule(r *rules.Rule) string {
	var b strings.Builder
	fmt.Fprintf(&b, "groups:\n  - name: %s\n    interval: %s\n    rules:\n", r.Group, r.Interval)
	for i, line := range strings.Split(strings.TrimRight(r.Source, "\n"), "\n") {
		prefix := "        "
		if i == 0 {
			prefix = "      - "
		}
		b.WriteString(prefix + line + "\n")
	}
	return b.String()
}

func (s *rulesService) testCheckRule(ctx context.Context, r *rules.Rule, from time.Time) (string, error) {
	var fired []string
	set, err := rules.Parse([]rules.File{{Name: r.File, Data: []byte(wrapRule(r))}}, rules.LoadOptions{Actions: s.b.schema})
	if err != nil {
		return "", err
	}
	newEngine := func() (*rules.Engine, error) {
		eng, err := rules.NewEngine(rules.EngineOptions{Store: store.NewMemory(), Logger: s.b.log, Registerer: prometheus.NewRegistry(),
			OnFire: func(_ context.Context, f rules.Firing) error {
				fired = append(fired, fmt.Sprintf("%s %v", f.T.UTC().Format("15:04:05"), f.Params))
				return nil
			}})
		if err != nil {
			return nil, err
		}
		eng.SetRules(set)
		return eng, nil
	}
	life := s.b.lifecycle(r.Check)
	points := 0
	for _, sh := range s.b.Detector.History(r.Check) {
		// Each series is replayed on its own engine: one series' points are a tick of their own,
		// and an engine counts a series missing from a tick as no longer holding.
		eng, err := newEngine()
		if err != nil {
			return "", err
		}
		var ep detector.Episode
		for _, h := range sh.Points {
			if h.T.Before(from) {
				continue
			}
			points++
			life.Step(&ep, h, nil)
			o := rules.Observation{Labels: sh.Labels, T: h.T, Value: h.V, Score: h.Score,
				Expected: h.Expected, Lower: h.Lower, Upper: h.Upper}
			if ep.Open() {
				o.Open, o.Since, o.Peak = true, ep.Since, ep.Peak
				o.Expected, o.Lower, o.Upper = ep.Expected, ep.Lower, ep.Upper
			}
			if err := eng.EvalCheck(ctx, rules.CheckTick{Check: r.Check, T: h.T, Series: []rules.Observation{o}}); err != nil {
				return "", err
			}
		}
	}
	if len(fired) == 0 {
		return fmt.Sprintf("Rule %s over the last hour (%d points of check %s): would have proposed nothing.", r.Name, points, r.Check), nil
	}
	return fmt.Sprintf("Rule %s over the last hour (%d points of check %s) would have proposed %d time(s):\n%s", r.Name, points, r.Check, len(fired), strings.Join(fired, "\n")), nil
}

// lifecycle is how the detector opens and ends the episodes of the named check.
func (b *Bot) lifecycle(check string) detector.Lifecycle {
	l := detector.Lifecycle{Threshold: model.DefaultThreshold}
	for _, c := range b.cfg.Checks {
		if c.Name == check {
			if c.Threshold != 0 {
				l.Threshold = c.Threshold
			}
			l.MinChange = detector.MinChange{Relative: c.MinChange.Relative, Absolute: c.MinChange.Absolute}
			l.ResolveAfter = c.ResolveAfter
			l.RecurWithin = c.RecurWithin.D()
		}
	}
	return l
}
