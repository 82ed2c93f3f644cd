package commands

import (
	"context"
	"fmt"
	"strings"

	"github.com/smartcloudops/smartcloudops/bot"
	"github.com/smartcloudops/smartcloudops/internal/obs"
	"github.com/smartcloudops/smartcloudops/remediation"
)

func (r *Router) proposalCommands() []*command {
	return []*command{
		{name: "proposals", usage: "proposals [state|all]", summary: "pending proposals (or those in a state, or all)", run: r.proposals},
		{name: "approve", usage: "approve <proposal>", summary: "approve a proposal; it runs once its policy is met", run: r.approve},
		{name: "reject", usage: "reject <proposal> [reason]", summary: "decline a proposal", run: r.reject},
		{name: "run", usage: "run <action> key=value ...", summary: "propose an action by hand; it needs the same approval", role: RoleOperator, run: r.runAction},
		{name: "resolve", usage: "resolve <proposal> ran|not-run <what you checked>", summary: "close an unknown proposal once you know whether its action took effect", role: RoleOperator, run: r.resolve},
		{name: "pause", usage: "pause", summary: "stop all remediation until resume", role: RoleAdmin, run: r.pause},
		{name: "resume", usage: "resume", summary: "lift a pause", role: RoleAdmin, run: r.resume},
	}
}

func (r *Router) proposals(ctx context.Context, c *call) (bot.Message, error) {
	var states []remediation.State
	switch {
	case len(c.args) == 0:
		states = []remediation.State{remediation.StatePending}
	case c.args[0] == "all":
	default:
		s := remediation.State(c.args[0])
		ok := false
		for _, k := range remediation.States {
			ok = ok || k == s
		}
		if !ok {
			return bot.Message{}, obs.UserErrorf("unknown state %q (one of %v, or all)", c.args[0], remediation.States)
		}
		states = []remediation.State{s}
	}
	ps, err := r.o.Proposals.List(ctx, states...)
	if err != nil {
		return bot.Message{}, err
	}
	if len(ps) == 0 {
		return bot.Text("No proposals."), nil
	}
	var b strings.Builder
	for _, p := range ps {
		fmt.Fprintf(&b, "%s  %-9s %s", p.ID, p.State, p.Plan.Summary())
		if p.Plan.Rule != "" {
			fmt.Fprintf(&b, " (rule %s %s)", p.Plan.Rule, p.Plan.RuleVersion)
		}
		if p.State == remediation.StatePending {
			fmt.Fprintf(&b, " — %d/%d approvals, expires %s", len(p.Approvals), p.Policy.MinApprovers, p.ExpiresAt.UTC().Format("15:04 UTC"))
		}
		b.WriteByte('\n')
	}
	return bot.Text(strings.TrimRight(b.String(), "\n")), nil
}

func (r *Router) approve(ctx context.Context, c *call) (bot.Message, error) {
	if len(c.args) != 1 {
		return bot.Message{}, obs.UserErrorf("usage: approve <proposal>")
	}
	// A button's click carries the plan hash its card showed: "p-7f3a.9c1e…".
	id, plan := bot.SplitApproveValue(c.args[0])
	p, err := r.o.Proposals.ApprovePlan(ctx, id, plan, c.actor)
	if err != nil {
		return bot.Message{}, err
	}
	return bot.Text(outcome(p)), nil
}

func outcome(p remediation.Proposal) string {
	switch p.State {
	case remediation.StatePending:
		return fmt.Sprintf("Approval recorded for %s: %d of %d.", p.ID, len(p.Approvals), p.Policy.MinApprovers)
	case remediation.StateSucceeded:
		s := fmt.Sprintf("%s succeeded: %s", p.ID, p.Result)
		if p.Output != "" {
			s += "\n" + strings.TrimRight(p.Output, "\n")
		}
		return s
	case remediation.StateFailed:
		s := fmt.Sprintf("%s failed: %s", p.ID, p.Error)
		if p.Output != "" {
			s += "\n" + strings.TrimRight(p.Output, "\n")
		}
		return s
	case remediation.StateVoid:
		return fmt.Sprintf("%s is void: %s", p.ID, p.Reason)
	case remediation.StateUnknown:
		s := fmt.Sprintf("%s is unknown: %s", p.ID, p.Reason)
		if p.Error != "" {
			s += "\nwhy: " + p.Error
		}
		return s
	}
	return fmt.Sprintf("%s is %s.", p.ID, p.State)
}

func (r *Router) reject(ctx context.Context, c *call) (bot.Message, error) {
	if len(c.args) < 1 {
		return bot.Message{}, obs.UserErrorf("usage: reject <proposal> [reason]")
	}
	p, err := r.o.Proposals.Reject(ctx, c.args[0], c.actor, strings.Join(c.args[1:], " "))
	if err != nil {
		return bot.Message{}, err
	}
	return bot.Text(fmt.Sprintf("%s rejected.", p.ID)), nil
}

func (r *Router) resolve(ctx context.Context, c *call) (bot.Message, error) {
	if len(c.args) < 2 {
		return bot.Message{}, obs.UserErrorf("usage: resolve <proposal> ran|not-run <what you checked>")
	}
	p, err := r.o.Proposals.Resolve(ctx, c.args[0], c.actor, c.args[1], strings.Join(c.args[2:], " "))
	if err != nil {
		return bot.Message{}, err
	}
	return bot.Text(outcome(p)), nil
}

func (r *Router) runAction(ctx context.Context, c *call) (bot.Message, error) {
	if len(c.args) < 1 {
		avail := ""
		if r.o.Actions != nil {
			avail = " (actions: " + strings.Join(r.o.Actions(), ", ") + ")"
		}
		return bot.Message{}, obs.UserErrorf("usage: run <action> key=value ...%s", avail)
	}
	params, err := keyValues(c.args[1:])
	if err != nil {
		return bot.Message{}, err
	}
	if s, ok := params["args"].(string); ok {
		params["args"] = strings.Fields(strings.ReplaceAll(s, ",", " "))
	}
	p, err := r.o.Proposals.Propose(ctx, remediation.Request{Action: c.args[0], Params: params, Requester: c.actor,
		Policy: remediation.Policy{Roles: []string{RoleOperator}, MinApprovers: 1}})
	if err != nil {
		return bot.Message{}, err
	}
	return bot.Text(fmt.Sprintf("Proposal %s: %s — another operator must type \"approve %s\"", p.ID, p.Plan.Summary(), p.ID)), nil
}

func (r *Router) pause(ctx context.Context, c *call) (bot.Message, error) {
	if err := r.o.Proposals.Pause(ctx, c.actor); err != nil {
		return bot.Message{}, err
	}
	return bot.Text("Remediation paused: approvals are refused and nothing runs until `resume`."), nil
}

func (r *Router) resume(ctx context.Context, c *call) (bot.Message, error) {
	if err := r.o.Proposals.Resume(ctx, c.actor); err != nil {
		return bot.Message{}, err
	}
	return bot.Text("Remediation resumed."), nil
}
