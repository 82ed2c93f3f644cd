package remediation

import (
	"context"
	"errors"
	"fmt"
	"sync"
	"time"

	"github.com/smartcloudops/smartcloudops/internal/obs"
)

// executor holds the safety rails around running actions: one action per target at a time, an
// overall hourly limit, a timeout per action, and a wait group so shutdown can let running
// actions finish.
type executor struct {
	timeout    time.Duration
	maxPerHour int
	now        func() time.Time

	mu     sync.Mutex
	starts []time.Time              // admissions in the last hour
	locks  map[string]chan struct{} // per-target locks
	wg     sync.WaitGroup
}

func newExecutor(timeout time.Duration, maxPerHour int, now func() time.Time) *executor {
	return &executor{timeout: timeout, maxPerHour: maxPerHour, now: now, locks: map[string]chan struct{}{}}
}

// admit counts one execution against the hourly limit, or refuses it.
func (e *executor) admit(now time.Time) error {
	if e.maxPerHour <= 0 {
		return nil
	}
	e.mu.Lock()
	defer e.mu.Unlock()
	cut := now.Add(-time.Hour)
	kept := e.starts[:0]
	for _, t := range e.starts {
		if t.After(cut) {
			kept = append(kept, t)
		}
	}
	e.starts = kept
	if len(e.starts) >= e.maxPerHour {
		return obs.UserErrorf("rate limit: %d actions ran in the last hour (limit %d); try again later", len(e.starts), e.maxPerHour)
	}
	e.starts = append(e.starts, now)
	return nil
}

// lock takes the target's lock, waiting until it is free or ctx ends.
func (e *executor) lock(ctx context.Context, target string) (func(), error) {
	for {
		e.mu.Lock()
		ch, held := e.locks[target]
		if !held {
			ch = make(chan struct{})
			e.locks[target] = ch
			e.mu.Unlock()
			return func() {
				e.mu.Lock()
				delete(e.locks, target)
				e.mu.Unlock()
				close(ch)
			}, nil
		}
		e.mu.Unlock()
		select {
		case <-ch:
		case <-ctx.Done():
			return nil, fmt.Errorf("waiting for another action on %s: %w", target, ctx.Err())
		}
	}
}

// Wait blocks until every running action has finished.
func (mg *Manager) Wait() { mg.exec.wg.Wait() }

// run executes an approved proposal once. The execution outlives the caller's context (a chat
// request may end) but not the executor's timeout.
func (mg *Manager) run(ctx context.Context, p Proposal) (Proposal, error) {
	mg.exec.wg.Add(1)
	defer mg.exec.wg.Done()
	ctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), mg.exec.timeout)
	defer cancel()

	act, ok := mg.o.Actions(p.Plan.Action)
	params, reason := mg.voidReason(p, act, ok)
	if reason != "" {
		p, err := mg.update(ctx, p.ID, func(p *Proposal) error {
			if p.State != StateApproved {
				return errNoChange
			}
			p.State, p.Reason, p.FinishedAt = StateVoid, reason, mg.o.Now().UTC()
			return nil
		})
		if errors.Is(err, errNoChange) {
			return mg.Get(ctx, p.ID)
		}
		if err != nil {
			return p, err
		}
		mg.audit(ctx, "proposal.void", p, Actor{ID: "bot"}, "void", reason)
		mg.o.OnChange(ctx, p)
		return p, nil
	}
	unlock, err := mg.exec.lock(ctx, p.Plan.Target)
	if err != nil {
		return mg.finish(ctx, p.ID, StateApproved, Result{}, err)
	}
	defer unlock()
	p, err = mg.update(ctx, p.ID, func(p *Proposal) error {
		if p.State != StateApproved {
			return errNoChange // someone else started it
		}
		p.State, p.StartedAt = StateRunning, mg.o.Now().UTC()
		return nil
	})
	if errors.Is(err, errNoChange) {
		return mg.Get(ctx, p.ID)
	}
	if err != nil {
		return p, err
	}
	mg.audit(ctx, "action.started", p, Actor{ID: "bot"}, "running", p.Plan.Description)
	mg.o.OnChange(ctx, p)

	start := time.Now()
	var res Result
	if p.Plan.DryRun {
		res = Result{Summary: "dry run: would run " + p.Plan.Summary()}
	} else {
		res, err = act.Execute(ctx, withIdempotencyKey(act, params, p.ID))
		if err == nil && ctx.Err() != nil {
			err = ctx.Err()
		}
	}
	mg.m.observe(p.Plan.Action, outcomeOf(p.Plan.DryRun, err), time.Since(start))
	return mg.finish(ctx, p.ID, StateRunning, res, err)
}

func outcomeOf(dry bool, err error) string {
	switch {
	case err != nil:
		return "failed"
	case dry:
		return "dry_run"
	}
	return "succeeded"
}

// finish records the outcome of a run that was in state from.
func (mg *Manager) finish(ctx context.Context, id string, from State, res Result, runErr error) (Proposal, error) {
	p, err := mg.update(ctx, id, func(p *Proposal) error {
		if p.State != from {
			return errNoChange
		}
		p.FinishedAt, p.Result, p.Output = mg.o.Now().UTC(), res.Summary, res.Output
		p.State = StateSucceeded
		if runErr != nil {
			p.State, p.Error = StateFailed, runErr.Error()
		}
		return nil
	})
	if errors.Is(err, errNoChange) {
		return mg.Get(ctx, id)
	}
	if err != nil {
		return p, fmt.Errorf("record outcome of %s: %w", id, err)
	}
	kind, detail := "action.succeeded", res.Summary
	if runErr != nil {
		kind, detail = "action.failed", runErr.Error()
	}
	mg.audit(ctx, kind, p, Actor{ID: "bot"}, string(p.State), detail)
	mg.log.InfoContext(ctx, "action finished", obs.KeyProposal, p.ID, obs.KeyAction, p.Plan.Action, "state", p.State)
	mg.o.OnChange(ctx, p)
	return p, nil
}

// voidReason says why an approval no longer covers the plan, or "" when it still does. It also
// returns the plan's parameters in their schema types again (stored proposals come back from
// JSON with numbers as float64 and lists as []any).
func (mg *Manager) voidReason(p Proposal, act Action, ok bool) (Params, string) {
	if !ok {
		return nil, fmt.Sprintf("action %s is no longer available", p.Plan.Action)
	}
	if h := p.Plan.Hash(); h != p.PlanHash {
		return nil, "the plan changed after it was proposed"
	}
	for _, a := range p.Approvals {
		if a.PlanHash != p.PlanHash {
			return nil, fmt.Sprintf("%s approved a different plan", a.Actor.Name)
		}
	}
	params, err := act.Schema().Normalize(map[string]any(p.Plan.Params))
	if err != nil {
		return nil, fmt.Sprintf("the parameters no longer fit action %s: %v", p.Plan.Action, err)
	}
	if p.Plan.Rule != "" && mg.o.RuleVersion != nil {
		cur, ok := mg.o.RuleVersion(p.Plan.Rule)
		if !ok {
			return nil, fmt.Sprintf("rule %s was removed after the approval", p.Plan.Rule)
		}
		if cur != p.Plan.RuleVersion {
			return nil, fmt.Sprintf("rule %s changed (version %s -> %s) after the approval", p.Plan.Rule, p.Plan.RuleVersion, cur)
		}
	}
	return params, ""
}

// IdempotencyParam is the parameter an action may declare to receive the proposal ID, so the
// system it calls can drop a duplicate delivery of the same approved plan.
const IdempotencyParam = "idempotency_key"

func withIdempotencyKey(act Action, params Params, id string) Params {
	if params.String(IdempotencyParam) != "" {
		return params
	}
	for _, sp := range act.Schema() {
		if sp.Name == IdempotencyParam {
			out := make(Params, len(params)+1)
			for k, v := range params {
				out[k] = v
			}
			out[IdempotencyParam] = id
			return out
		}
	}
	return params
}
