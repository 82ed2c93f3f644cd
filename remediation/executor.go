package remediation

import (
	"context"
	"errors"
	"fmt"
	"sync"
	"time"

	"github.com/smartcloudops/smartcloudops/internal/obs"
	"github.com/smartcloudops/smartcloudops/remediation/audit"
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

// release gives back a slot taken by admit at now, when the approval did not go through.
func (e *executor) release(now time.Time) {
	if e.maxPerHour <= 0 {
		return
	}
	e.mu.Lock()
	defer e.mu.Unlock()
	for i := len(e.starts) - 1; i >= 0; i-- {
		if e.starts[i].Equal(now) {
			e.starts = append(e.starts[:i], e.starts[i+1:]...)
			return
		}
	}
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
		p, err := mg.update(ctx, p.ID, func(p *Proposal) (*audit.Record, error) {
			if p.State != StateApproved {
				return nil, errNoChange
			}
			p.State, p.Reason, p.FinishedAt = StateVoid, reason, mg.o.Now().UTC()
			return rec("proposal.void", botActor, "void", reason), nil
		})
		if errors.Is(err, errNoChange) {
			return mg.Get(ctx, p.ID)
		}
		if err != nil {
			return p, err
		}
		mg.o.OnChange(ctx, p)
		return p, nil
	}
	unlock, err := mg.exec.lock(ctx, p.Plan.Target)
	if err != nil {
		return mg.finish(ctx, p.ID, StateApproved, Result{}, err)
	}
	defer unlock()
	p, err = mg.update(ctx, p.ID, func(p *Proposal) (*audit.Record, error) {
		if p.State != StateApproved {
			return nil, errNoChange // someone else started it
		}
		// A pause that came while this waited for its target stops it here.
		if paused, by := mg.Paused(ctx); paused {
			p.State, p.FinishedAt = StateFailed, mg.o.Now().UTC()
			p.Error = "remediation was paused (by " + by + ") before the action started; propose it again after resume"
			return rec("action.cancelled", botActor, "failed", p.Error), nil
		}
		p.State, p.StartedAt = StateRunning, mg.o.Now().UTC()
		return rec("action.started", botActor, "running", p.Plan.Description), nil
	})
	if errors.Is(err, errNoChange) {
		return mg.Get(ctx, p.ID)
	}
	if err != nil {
		return p, err
	}
	mg.o.OnChange(ctx, p)
	if p.State != StateRunning {
		return p, nil
	}

	start := time.Now()
	var res Result
	// The executor's own dry run also holds back proposals made before it was switched on.
	dry := p.Plan.DryRun || mg.o.DryRun
	if dry {
		res = Result{Summary: "dry run: would run " + p.Plan.Summary()}
	} else {
		res, err = act.Execute(ctx, withIdempotencyKey(act, params, p.ID))
		if err == nil && ctx.Err() != nil {
			err = ctx.Err()
		}
	}
	mg.m.observe(p.Plan.Action, outcomeOf(dry, err), time.Since(start))
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
	p, err := mg.update(ctx, id, func(p *Proposal) (*audit.Record, error) {
		if p.State != from {
			return nil, errNoChange
		}
		p.FinishedAt, p.Result, p.Output = mg.o.Now().UTC(), res.Summary, res.Output
		p.State = StateSucceeded
		if runErr != nil {
			p.State, p.Error = StateFailed, runErr.Error()
			return rec("action.failed", botActor, string(p.State), runErr.Error()), nil
		}
		return rec("action.succeeded", botActor, string(p.State), res.Summary), nil
	})
	if errors.Is(err, errNoChange) {
		return mg.Get(ctx, id)
	}
	if err != nil {
		return p, fmt.Errorf("record outcome of %s: %w", id, err)
	}
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
			return nil, fmt.Sprintf("rule %s was removed or disabled after it proposed this", p.Plan.Rule)
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
