package remediation

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"slices"
	"strings"
	"time"

	"github.com/smartcloudops/smartcloudops/internal/obs"
	"github.com/smartcloudops/smartcloudops/internal/store"
	"github.com/smartcloudops/smartcloudops/remediation/audit"
)

// errNoChange ends an update without writing, when the proposal already is where it should be.
var errNoChange = errors.New("no change")

// Approve records who's approval of proposal id. When the policy's approvers are complete the
// plan runs, once: only the caller whose compare-and-set moved the proposal to approved goes on
// to run it, so double clicks, redelivered events and racing approvers cannot run it twice.
// The returned proposal is the latest state (succeeded or failed when it ran).
func (mg *Manager) Approve(ctx context.Context, id string, who Actor) (Proposal, error) {
	return mg.ApprovePlan(ctx, id, "", who)
}

// ApprovePlan is Approve bound to the plan the approver saw: when seen is not empty and is not
// the proposal's plan hash (an old card's button for a proposal ID that has since been reused
// after pruning), nothing is approved.
func (mg *Manager) ApprovePlan(ctx context.Context, id, seen string, who Actor) (Proposal, error) {
	if err := mg.pauseRefusal(ctx, id); err != nil {
		return Proposal{}, err
	}
	now := mg.o.Now().UTC()
	var complete, reserved bool
	p, err := mg.update(ctx, id, func(p *Proposal) (*audit.Record, error) {
		complete = false
		if seen != "" && seen != p.PlanHash {
			return nil, obs.UserErrorf("proposal %s has plan %s, not the plan %s you were shown, so it is not approved; see what it is now with `proposals all`", p.ID, p.PlanHash, seen)
		}
		if err := mg.mayApprove(*p, who, now); err != nil {
			return nil, err
		}
		p.Approvals = append(p.Approvals, Approval{Actor: who, At: now, PlanHash: p.PlanHash})
		if len(p.Approvals) < p.Policy.MinApprovers {
			return rec("proposal.approval_added", who, "pending", fmt.Sprintf("%d of %d approvals", len(p.Approvals), p.Policy.MinApprovers)), nil
		}
		if !reserved { // one slot of the hourly limit per approval, however often this retries
			if err := mg.admit(ctx, now); err != nil {
				return nil, err
			}
			reserved = true
		}
		p.State, p.DecidedBy, p.DecidedAt = StateApproved, &who, now
		complete = true
		return rec("proposal.approved", who, "approved", ""), nil
	})
	if reserved && (err != nil || !complete) {
		mg.release(ctx, now)
	}
	if err != nil {
		if obs.IsUser(err) {
			mg.audit(ctx, "proposal.approve_refused", p, who, "refused", err.Error())
		}
		return p, err
	}
	mg.o.OnChange(ctx, p)
	if !complete || !mg.o.Leading() {
		return p, nil // approved here, run by the leader (RunApproved)
	}
	return mg.run(ctx, p)
}

// pauseRefusal says why an approval of id is refused before it is looked at: remediation is
// paused, or the pause flag cannot be read because the store does not answer (etcd without
// quorum), which refuses it too, so that a store fault never lets an action through a pause. The
// person is told which.
func (mg *Manager) pauseRefusal(ctx context.Context, id string) error {
	_, err := mg.o.Store.Get(ctx, pausedKey)
	switch {
	case errors.Is(err, store.ErrNotFound):
		return nil
	case err != nil:
		return obs.UserErrorf("%s is not approved: the store did not answer (%v); nothing is approved or run until it does", id, err)
	}
	_, by := mg.Paused(ctx)
	return obs.UserErrorf("remediation is paused (by %s); an admin can `resume`", by)
}

// admit counts an approval against the hourly limit, in the store when a Gate is set (whose
// refusal is a user error, as the in-process limit's is).
func (mg *Manager) admit(ctx context.Context, now time.Time) error {
	if mg.o.Gate == nil || mg.o.MaxPerHour <= 0 {
		return mg.exec.admit(now)
	}
	return mg.o.Gate.Admit(ctx, now)
}

// release gives back the slot admit took at now.
func (mg *Manager) release(ctx context.Context, now time.Time) {
	if mg.o.Gate == nil || mg.o.MaxPerHour <= 0 {
		mg.exec.release(now)
		return
	}
	if err := mg.o.Gate.Release(context.WithoutCancel(ctx), now); err != nil {
		mg.log.WarnContext(ctx, "hourly limit slot not given back", obs.KeyErr, err)
	}
}

// mayApprove applies the policy; its errors are for the person who tried.
func (mg *Manager) mayApprove(p Proposal, who Actor, now time.Time) error {
	if p.State != StatePending {
		return obs.UserErrorf("proposal %s is already %s", p.ID, p.State)
	}
	if !now.Before(p.ExpiresAt) {
		return obs.UserErrorf("proposal %s expired at %s", p.ID, p.ExpiresAt.Format(time.RFC3339))
	}
	if !slices.ContainsFunc(p.Policy.Roles, who.Has) {
		return obs.UserErrorf("approving %s needs role %s", p.ID, strings.Join(p.Policy.Roles, " or "))
	}
	if !p.Policy.AllowRequester && who.Person() == p.Requester.Person() {
		return obs.UserErrorf("%s requested %s and its policy does not let the requester approve it", who.Name, p.ID)
	}
	for _, a := range p.Approvals {
		if a.Actor.Person() == who.Person() {
			return obs.UserErrorf("%s has already approved %s (%d of %d approvals)", who.Name, p.ID, len(p.Approvals), p.Policy.MinApprovers)
		}
	}
	return nil
}

// Reject declines proposal id. Anyone who may approve may reject, and so may the requester.
func (mg *Manager) Reject(ctx context.Context, id string, who Actor, reason string) (Proposal, error) {
	now := mg.o.Now().UTC()
	p, err := mg.update(ctx, id, func(p *Proposal) (*audit.Record, error) {
		if p.State == StateUnknown {
			return nil, obs.UserErrorf("proposal %s is unknown: it may have run, so it cannot be rejected; %s", p.ID, resolveHint(p.ID))
		}
		if p.State != StatePending {
			return nil, obs.UserErrorf("proposal %s is already %s", p.ID, p.State)
		}
		if !slices.ContainsFunc(p.Policy.Roles, who.Has) && who.ID != p.Requester.ID {
			return nil, obs.UserErrorf("rejecting %s needs role %s", p.ID, strings.Join(p.Policy.Roles, " or "))
		}
		p.State, p.DecidedBy, p.DecidedAt, p.Reason = StateRejected, &who, now, reason
		return rec("proposal.rejected", who, "rejected", reason), nil
	})
	if err != nil {
		if obs.IsUser(err) {
			mg.audit(ctx, "proposal.reject_refused", p, who, "refused", err.Error())
		}
		return p, err
	}
	mg.o.OnChange(ctx, p)
	return p, nil
}

// Recover runs when this process starts to act (at start-up, or when it becomes the leader): a
// proposal left running by a process that stopped may or may not have acted, so it becomes
// unknown and is reported, never re-run. One left approved had not started: while its approval
// is younger than its policy's expiry it stays approved, for RunApproved to start once; an older
// one fails with that reason. It returns the proposals it changed.
func (mg *Manager) Recover(ctx context.Context) ([]Proposal, error) {
	stuck, err := mg.List(ctx, StateRunning, StateApproved)
	if err != nil {
		return nil, err
	}
	var out []Proposal
	for _, s := range stuck {
		p, err := mg.update(ctx, s.ID, func(p *Proposal) (*audit.Record, error) {
			switch p.State {
			case StateRunning:
				p.State = StateUnknown
				p.Reason = "the bot stopped while the action was running; it will not be re-run; " + resolveHint(p.ID)
			case StateApproved:
				if mg.o.Now().Before(p.DecidedAt.Add(p.Policy.Expires)) {
					return nil, errNoChange // still fresh: RunApproved starts it
				}
				p.State = StateFailed
				p.Error = "the bot stopped after the approval, before the action started, longer ago than the approval holds; propose it again if still needed"
			default:
				return nil, errNoChange
			}
			p.FinishedAt = mg.o.Now().UTC()
			return rec("proposal.recovered", botActor, string(p.State), p.Reason+p.Error), nil
		})
		if errors.Is(err, errNoChange) {
			continue
		}
		if err != nil {
			return out, err
		}
		mg.log.WarnContext(ctx, "proposal interrupted by restart", obs.KeyProposal, p.ID, "state", p.State)
		mg.o.OnChange(ctx, p)
		out = append(out, p)
	}
	return out, nil
}

// Run expires due proposals every interval until ctx ends.
func (mg *Manager) Run(ctx context.Context, interval time.Duration) error {
	t := time.NewTicker(interval)
	defer t.Stop()
	for {
		select {
		case <-ctx.Done():
			return nil
		case <-t.C:
			if err := mg.ExpireDue(ctx); err != nil && ctx.Err() == nil {
				mg.log.ErrorContext(ctx, "expiring proposals", obs.KeyErr, err)
			}
		}
	}
}

// RunApproved starts every approved proposal exactly once, on the process that acts: those
// approved before it began (by a previous leader that stopped before starting them, or on
// another replica) and, through a store watch, those approved later on any replica. Starting is
// the compare-and-set from approved to running, so an approval started here and by the replica
// that took it never runs twice. It returns when ctx ends; actions it started go on within their
// own time limit (Wait).
func (mg *Manager) RunApproved(ctx context.Context) error {
	for ctx.Err() == nil {
		rev, err := mg.startApproved(ctx)
		if err != nil {
			if ctx.Err() == nil {
				mg.log.ErrorContext(ctx, "approved proposals not read; trying again", obs.KeyErr, err)
				sleepCtx(ctx, time.Second)
			}
			continue
		}
		for resp := range mg.o.Store.Watch(ctx, proposalPrefix, rev+1) {
			if resp.Err != nil {
				break // list again and watch from there
			}
			for _, e := range resp.Events {
				if e.Type != store.EventPut {
					continue
				}
				if !mayBeApproved(e.KV.Value) {
					continue // most writes are proposals made or decided otherwise
				}
				var p Proposal
				if json.Unmarshal(e.KV.Value, &p) == nil && p.State == StateApproved {
					p.rev = e.KV.Rev
					mg.start(ctx, p)
				}
			}
		}
	}
	return nil
}

// approvedState is how a stored approved proposal spells its state: proposals are stored as
// compact JSON, so every approved one holds these bytes.
var approvedState = []byte(`"state":"` + string(StateApproved) + `"`)

// mayBeApproved reports whether a stored proposal can be approved, without decoding it: false
// is certain, true is to be checked by decoding (a parameter may be spelled the same way).
func mayBeApproved(b []byte) bool { return bytes.Contains(b, approvedState) }

// startApproved starts the approved proposals stored now and returns the store's revision.
func (mg *Manager) startApproved(ctx context.Context) (uint64, error) {
	var rev uint64
	after := ""
	for {
		page, err := mg.o.Store.ListPage(ctx, proposalPrefix, after, 500)
		if err != nil {
			return 0, err
		}
		if rev == 0 {
			rev = page.Rev
		}
		for _, kv := range page.KVs {
			var p Proposal
			if json.Unmarshal(kv.Value, &p) == nil && p.State == StateApproved {
				p.rev = kv.Rev
				mg.start(ctx, p)
			}
		}
		if page.Next == "" {
			return rev, nil
		}
		after = page.Next
	}
}

// start runs an approved proposal in the background.
func (mg *Manager) start(ctx context.Context, p Proposal) {
	mg.exec.wg.Add(1)
	go func() {
		defer mg.exec.wg.Done()
		out, err := mg.run(ctx, p)
		switch {
		case err == nil:
		case ctx.Err() != nil:
			// This replica's term ended while it started or ran the proposal, so its writes were
			// refused (fenced) or did not reach the store: the next leader finds the proposal
			// approved and runs it, or running and shows it unknown. What this replica saw of the
			// run is only here, for whoever settles it.
			mg.log.WarnContext(context.WithoutCancel(ctx), "outcome of an approved proposal not recorded: this replica's term ended; the next leader settles it",
				obs.KeyProposal, p.ID, "state_seen", out.State, "result", out.Result, "error", out.Error, obs.KeyErr, err)
		default:
			mg.log.ErrorContext(ctx, "approved proposal not run", obs.KeyProposal, p.ID, obs.KeyErr, err)
		}
	}()
}

func sleepCtx(ctx context.Context, d time.Duration) {
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-ctx.Done():
	case <-t.C:
	}
}
