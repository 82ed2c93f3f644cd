package commands

import (
	"context"
	"fmt"
	"maps"
	"slices"
	"strconv"
	"strings"

	"github.com/smartcloudops/smartcloudops/bot"
	"github.com/smartcloudops/smartcloudops/internal/obs"
	"github.com/smartcloudops/smartcloudops/remediation"
	"github.com/smartcloudops/smartcloudops/remediation/audit"
)

func (r *Router) proposalCommands() []*command {
	return []*command{
		{name: "proposals", usage: "proposals [state|all]", summary: "the newest pending proposals (or those in a state, or all)", run: r.proposals},
		{name: "approve", usage: "approve <proposal> | all <count> <plan> <group>", summary: "approve a proposal (or every pending one of a plan); it runs once its policy is met", run: r.approve},
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
	pg, err := r.o.Proposals.ListPage(ctx, remediation.PageQuery{States: states, Limit: listShown})
	if err != nil {
		return bot.Message{}, err
	}
	ps := pg.Proposals
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
	if pg.Next != "" {
		state := "all"
		if len(states) > 0 {
			state = string(states[0])
		}
		fmt.Fprintf(&b, "(the newest %d; GET /api/v1/proposals?state=%s lists every one)", len(ps), state)
	}
	return bot.Text(strings.TrimRight(b.String(), "\n")), nil
}

func (r *Router) approve(ctx context.Context, c *call) (bot.Message, error) {
	if len(c.args) > 0 && c.args[0] == "all" {
		return r.approveAll(ctx, c)
	}
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

// approveAllShown is how many proposals an "approve all" reply names one by one.
const approveAllShown = 20

// approveAll is "approve all <count> <plan hash> <group>", the Approve-all button of a grouped
// card: it approves every pending proposal of that plan on the group's card, oldest first, each
// checked against its policy and audited on its own as if approved alone, and only when as many
// are pending as the card showed, so a stale card approves nothing.
func (r *Router) approveAll(ctx context.Context, c *call) (bot.Message, error) {
	if len(c.args) != 4 {
		return bot.Message{}, obs.UserErrorf("usage: approve all <count> <plan hash> <group>, as the Approve-all button of a grouped card says")
	}
	if r.o.CardMembers == nil {
		return bot.Message{}, obs.UserErrorf("approve all: this bot posts no cards; approve the proposals one by one")
	}
	n, err := strconv.Atoi(c.args[1])
	if err != nil || n < 1 {
		return bot.Message{}, obs.UserErrorf("approve all: %q is not a count of proposals", c.args[1])
	}
	plan, group := c.args[2], c.args[3]
	members, ok, err := r.o.CardMembers(ctx, group)
	if err != nil {
		return bot.Message{}, err
	}
	if !ok {
		return bot.Message{}, obs.UserErrorf("approve all: no card of group %q", group)
	}
	on := make(map[string]bool, len(members))
	for _, m := range members {
		on[m] = true
	}
	pending, err := r.o.Proposals.List(ctx, remediation.StatePending)
	if err != nil {
		return bot.Message{}, err
	}
	var same []remediation.Proposal
	for _, p := range pending {
		if p.PlanHash == plan && on[p.Incident] {
			same = append(same, p)
		}
	}
	if len(same) == 0 {
		return bot.Message{}, obs.UserErrorf("no pending proposal of group %s has plan %s, so nothing was approved; see `proposals`", group, plan)
	}
	if len(same) != n {
		return bot.Message{}, obs.UserErrorf("the card offered %d proposals of plan %s but %d are pending now, so none was approved; look at the card again", n, plan, len(same))
	}
	slices.SortFunc(same, func(a, b remediation.Proposal) int { return a.CreatedAt.Compare(b.CreatedAt) })
	if _, err := r.o.Audit.Append(ctx, audit.Record{Kind: "proposal.approve_all", User: c.actor.ID, PlanHash: plan, Outcome: "started",
		Detail: fmt.Sprintf("%d proposals of plan %s on the card of group %s: %s", n, plan, group, same[0].Plan.Summary())}); err != nil {
		return bot.Message{}, err
	}
	count := map[string]int{}
	var lines []string
	for i, p := range same {
		got, err := r.o.Proposals.ApprovePlan(ctx, p.ID, plan, c.actor)
		line := ""
		switch {
		case err == nil:
			count[string(got.State)]++
			line = firstLine(outcome(got))
		case obs.IsUser(err):
			count["refused"]++
			line = p.ID + " refused: " + err.Error()
		default:
			count["failed"]++
			r.log.ErrorContext(ctx, "approve all: approval failed", obs.KeyProposal, p.ID, obs.KeyErr, err)
			line = fmt.Sprintf("%s: internal error (ref %s)", p.ID, obs.Correlation(ctx))
		}
		if i < approveAllShown {
			lines = append(lines, line)
		}
	}
	if len(same) > approveAllShown {
		lines = append(lines, fmt.Sprintf("… and %d more; see `proposals all`", len(same)-approveAllShown))
	}
	var parts []string
	for _, k := range slices.Sorted(maps.Keys(count)) {
		parts = append(parts, fmt.Sprintf("%d %s", count[k], k))
	}
	head := fmt.Sprintf("Approved %d proposals of plan %s one by one (%s): %s", n, plan, same[0].Plan.Summary(), strings.Join(parts, ", "))
	return bot.Text(head + "\n" + strings.Join(lines, "\n")), nil
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
