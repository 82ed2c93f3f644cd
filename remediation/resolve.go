package remediation

import (
	"context"
	"fmt"
	"strings"
	"unicode/utf8"

	"github.com/smartcloudops/smartcloudops/internal/obs"
	"github.com/smartcloudops/smartcloudops/remediation/audit"
)

// RoleOperator may run actions by hand and resolve unknown proposals. It is also the role a
// proposal's policy falls back to when it names none.
const RoleOperator = "operator"

// MaxNoteLen bounds the note of a resolution.
const MaxNoteLen = 1000

// Resolve closes an unknown proposal with what who found out by checking the target: outcome
// OutcomeRan makes it succeeded, OutcomeNotRun failed. The note says how they know; it is
// required, and audited with the decision as proposal.resolved. Only operators (and admins) may
// resolve; a refused attempt is audited as proposal.resolve_refused. Nothing runs: a proposal
// resolved as not run can be proposed again.
func (mg *Manager) Resolve(ctx context.Context, id string, who Actor, outcome, note string) (Proposal, error) {
	note = strings.TrimSpace(note)
	var refusal error
	switch {
	case !who.Has(RoleOperator):
		refusal = obs.UserErrorf("resolving %s needs role %s", id, RoleOperator)
	case outcome != OutcomeRan && outcome != OutcomeNotRun:
		refusal = obs.UserErrorf("outcome %q: want %s (the action took effect) or %s (it did not)", outcome, OutcomeRan, OutcomeNotRun)
	case note == "":
		refusal = obs.UserErrorf("say how you know: resolve %s %s <what you checked>", id, outcome)
	case len(note) > MaxNoteLen || !utf8.ValidString(note):
		refusal = obs.UserErrorf("the note is over %d bytes of UTF-8 text", MaxNoteLen)
	}
	if refusal != nil {
		p, err := mg.Get(ctx, id)
		if err != nil {
			return p, err
		}
		mg.audit(ctx, "proposal.resolve_refused", p, who, "refused", refusal.Error())
		return p, refusal
	}
	r := Resolution{Outcome: outcome, By: who, At: mg.o.Now().UTC(), Note: note}
	p, err := mg.closeUnknown(ctx, id, r, nil, nil, "proposal.resolved")
	if err != nil && obs.IsUser(err) {
		mg.audit(ctx, "proposal.resolve_refused", p, who, "refused", err.Error())
	}
	return p, err
}

// closeUnknown moves an unknown proposal to succeeded or failed with resolution r. res, when
// not nil, is the action's result found by a Settler; runErr its failure.
func (mg *Manager) closeUnknown(ctx context.Context, id string, r Resolution, res *Result, runErr error, kind string) (Proposal, error) {
	p, err := mg.update(ctx, id, func(p *Proposal) (*audit.Record, error) {
		if p.State != StateUnknown {
			if r.By.ID == botActor.ID {
				return nil, errNoChange // a person resolved it first
			}
			return nil, obs.UserErrorf("proposal %s is already %s; only an unknown proposal can be resolved", p.ID, p.State)
		}
		p.Resolution = &r
		p.FinishedAt = r.At
		if res != nil {
			p.Result, p.Output = res.Summary, res.Output
		}
		who := "the bot found"
		if r.By.ID != botActor.ID {
			who = r.By.Name + " says"
		}
		switch {
		case r.Outcome == OutcomeNotRun:
			p.State = StateFailed
			p.Error = fmt.Sprintf("did not run (%s: %s); propose it again if still needed", who, r.Note)
		case runErr != nil:
			p.State = StateFailed
			p.Error = fmt.Sprintf("ran and failed (%s): %v", who, runErr)
		default:
			p.State = StateSucceeded
			if p.Result == "" || res == nil {
				p.Result = fmt.Sprintf("ran (%s: %s)", who, r.Note)
			}
		}
		p.Reason = fmt.Sprintf("was unknown; %s it %s: %s", who, outcomeWords(r.Outcome), r.Note)
		return rec(kind, r.By, r.Outcome, r.Note), nil
	})
	if err != nil {
		return p, err
	}
	mg.log.InfoContext(ctx, "unknown proposal settled", obs.KeyProposal, p.ID, "outcome", r.Outcome, "by", r.By.ID, "state", p.State)
	mg.o.OnChange(ctx, p)
	return p, nil
}

func outcomeWords(outcome string) string {
	if outcome == OutcomeRan {
		return "ran"
	}
	return "did not run"
}
