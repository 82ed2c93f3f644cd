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

// Wait blocks until every running action, and every settle step after an uncertain outcome,
// has finished.
func (mg *Manager) Wait() { mg.exec.wg.Wait() }

// minRecordTimeout is the least time a record of what happened gets to be written.
const minRecordTimeout = 30 * time.Second

// recordCtx is a fresh context for writing what happened, whatever became of ctx: the
// executor's may have expired with the action, and an outcome must still be written. It is
// bounded like an execution (at least minRecordTimeout), since under load the write may wait its
// turn behind many others.
func (mg *Manager) recordCtx(ctx context.Context) (context.Context, context.CancelFunc) {
	return context.WithTimeout(context.WithoutCancel(ctx), max(mg.exec.timeout, minRecordTimeout))
}

// run executes an approved proposal once. The execution outlives the caller's context (a chat
// request may end) but not the executor's timeout; its outcome is recorded either way.
func (mg *Manager) run(ctx context.Context, p Proposal) (Proposal, error) {
	mg.exec.wg.Add(1)
	defer mg.exec.wg.Done()
	base := context.WithoutCancel(ctx)
	ctx, cancel := context.WithTimeout(base, mg.exec.timeout)
	defer cancel()

	act, ok := mg.o.Actions(p.Plan.Action)
	params, reason := mg.voidReason(p, act, ok)
	if reason != "" {
		rctx, rcancel := mg.recordCtx(base)
		defer rcancel()
		p, err := mg.update(rctx, p.ID, func(p *Proposal) (*audit.Record, error) {
			if p.State != StateApproved {
				return nil, errNoChange
			}
			p.State, p.Reason, p.FinishedAt = StateVoid, reason, mg.o.Now().UTC()
			return rec("proposal.void", botActor, "void", reason), nil
		})
		if errors.Is(err, errNoChange) {
			return mg.Get(rctx, p.ID)
		}
		if err != nil {
			return p, err
		}
		mg.o.OnChange(rctx, p)
		return p, nil
	}
	unlock, err := mg.exec.lock(ctx, p.Plan.Target)
	if err != nil {
		return mg.finish(base, p.ID, StateApproved, Result{}, err)
	}
	unlocked := false
	defer func() {
		if !unlocked {
			unlock()
		}
	}()
	// Written on a context of its own: a write cut off by the executor's timeout would leave the
	// proposal approved, and nothing would ever record that it did not run.
	rctx, rcancel := mg.recordCtx(base)
	p, err = mg.update(rctx, p.ID, func(p *Proposal) (*audit.Record, error) {
		if p.State != StateApproved {
			return nil, errNoChange // someone else started it
		}
		// A pause that came while this waited for its target stops it here.
		if paused, by := mg.Paused(rctx); paused {
			p.State, p.FinishedAt = StateFailed, mg.o.Now().UTC()
			p.Error = "remediation was paused (by " + by + ") before the action started; propose it again after resume"
			return rec("action.cancelled", botActor, "failed", p.Error), nil
		}
		if ctx.Err() != nil {
			p.State, p.FinishedAt = StateFailed, mg.o.Now().UTC()
			p.Error = fmt.Sprintf("the executor's timeout (%s) passed before the action started; nothing ran", mg.exec.timeout)
			return rec("action.cancelled", botActor, "failed", p.Error), nil
		}
		p.State, p.StartedAt = StateRunning, mg.o.Now().UTC()
		return rec("action.started", botActor, "running", p.Plan.Description), nil
	})
	if errors.Is(err, errNoChange) {
		defer rcancel()
		return mg.Get(rctx, p.ID) // someone else's run
	}
	rcancel()
	if err != nil {
		// Not started: the change to running could not be written, so nothing ran.
		return p, err
	}
	mg.o.OnChange(base, p)
	if p.State != StateRunning {
		return p, nil // paused, or out of time before it started
	}

	start := time.Now()
	var res Result
	// The executor's own dry run also holds back proposals made before it was switched on.
	dry := p.Plan.DryRun || mg.o.DryRun
	if dry {
		res = Result{Summary: "dry run: would run " + p.Plan.Summary()}
	} else {
		res, err = act.Execute(withProposalID(ctx, p.ID), withIdempotencyKey(act, params, p.ID))
		if err != nil && ctx.Err() != nil && !errors.Is(err, ErrOutcomeUnknown) {
			// Cut off by the executor's timeout: the action may have acted before it stopped.
			err = fmt.Errorf("%w: the action was stopped by the executor's timeout (%s): %w", ErrOutcomeUnknown, mg.exec.timeout, err)
		}
	}
	mg.m.observe(p.Plan.Action, outcomeOf(dry, err), time.Since(start))
	out, ferr := mg.finish(base, p.ID, StateRunning, res, err)
	if ferr != nil || out.State != StateUnknown {
		return out, ferr
	}
	if s, ok := act.(Settler); ok {
		// Settle while still holding the target, so that no later action on it is taken for this
		// one's effect. The caller gets the unknown state now; the card follows the settlement.
		unlocked = true
		mg.exec.wg.Add(1)
		go func() {
			defer mg.exec.wg.Done()
			defer unlock()
			mg.settle(base, s, params, out)
		}()
	}
	return out, nil
}

func outcomeOf(dry bool, err error) string {
	switch {
	case errors.Is(err, ErrOutcomeUnknown):
		return "unknown"
	case err != nil:
		return "failed"
	case dry:
		return "dry_run"
	}
	return "succeeded"
}

// resolveHint is how a person closes an unknown proposal once they know what happened.
func resolveHint(id string) string {
	return fmt.Sprintf("check the target, then `resolve %s ran|not-run <what you checked>`", id)
}

// finish records the outcome of a run that was in state from, on a context of its own: an
// action stopped by the executor's timeout is still recorded. An error wrapping
// ErrOutcomeUnknown makes the proposal unknown, not failed: it may have acted.
func (mg *Manager) finish(ctx context.Context, id string, from State, res Result, runErr error) (Proposal, error) {
	ctx, cancel := mg.recordCtx(ctx)
	defer cancel()
	p, err := mg.update(ctx, id, func(p *Proposal) (*audit.Record, error) {
		if p.State != from {
			return nil, errNoChange
		}
		p.FinishedAt, p.Result, p.Output = mg.o.Now().UTC(), res.Summary, res.Output
		switch {
		case runErr == nil:
			p.State = StateSucceeded
			return rec("action.succeeded", botActor, string(p.State), res.Summary), nil
		case errors.Is(runErr, ErrOutcomeUnknown) && from == StateRunning:
			p.State, p.Error = StateUnknown, runErr.Error()
			p.Reason = "the action may or may not have taken effect; it will not be re-run"
			act, _ := mg.o.Actions(p.Plan.Action)
			if _, settles := act.(Settler); settles {
				p.Reason += "; the bot is looking for its effect"
			} else {
				p.Reason += "; " + resolveHint(p.ID)
			}
			return rec("action.unknown", botActor, string(p.State), runErr.Error()), nil
		default:
			p.State, p.Error = StateFailed, runErr.Error()
			return rec("action.failed", botActor, string(p.State), runErr.Error()), nil
		}
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

// settle asks the action whether an unknown proposal's action took effect, and records the
// answer: succeeded or failed when it can tell, and why not when it cannot.
func (mg *Manager) settle(ctx context.Context, s Settler, params Params, p Proposal) {
	sctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), mg.exec.timeout)
	st, err := s.Settle(sctx, params, p.ID, p.StartedAt)
	cancel()
	if err != nil {
		st = Settlement{Detail: fmt.Sprintf("the bot could not look for its effect: %v", err)}
	}
	rctx, rcancel := mg.recordCtx(ctx)
	defer rcancel()
	if st.Outcome == "" {
		q, uerr := mg.update(rctx, p.ID, func(q *Proposal) (*audit.Record, error) {
			if q.State != StateUnknown || q.Resolution != nil {
				return nil, errNoChange
			}
			q.Reason = "the action may or may not have taken effect, and the bot cannot tell: " + st.Detail + "; " + resolveHint(q.ID)
			return rec("proposal.unsettled", botActor, string(StateUnknown), st.Detail), nil
		})
		switch {
		case errors.Is(uerr, errNoChange):
		case uerr != nil:
			mg.log.ErrorContext(rctx, "settle not recorded", obs.KeyProposal, p.ID, obs.KeyErr, uerr)
		default:
			mg.o.OnChange(rctx, q)
		}
		return
	}
	r := Resolution{Outcome: st.Outcome, By: botActor, At: mg.o.Now().UTC(), Note: st.Detail}
	if _, err := mg.closeUnknown(rctx, p.ID, r, &st.Result, st.Err, "proposal.settled"); err != nil && !errors.Is(err, errNoChange) {
		mg.log.ErrorContext(rctx, "settle not recorded", obs.KeyProposal, p.ID, obs.KeyErr, err)
	}
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
