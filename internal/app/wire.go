package app

import (
	"context"
	"errors"
	"slices"
	"strings"
	"sync"

	"github.com/smartcloudops/smartcloudops/bot"
	"github.com/smartcloudops/smartcloudops/detector"
	"github.com/smartcloudops/smartcloudops/incident"
	"github.com/smartcloudops/smartcloudops/internal/config"
	"github.com/smartcloudops/smartcloudops/internal/obs"
	"github.com/smartcloudops/smartcloudops/internal/store"
	"github.com/smartcloudops/smartcloudops/remediation"
	"github.com/smartcloudops/smartcloudops/remediation/audit"
	"github.com/smartcloudops/smartcloudops/rules"
)

// processTick moves one tick of a check along the flow: its episodes to incidents first (in
// batched store transactions), then every series it scored to the check rules that watch it,
// each with its incident.
func (b *Bot) processTick(ctx context.Context, t detector.Tick) {
	// The incidents of series whose events were recorded; a series keeps its incident here even
	// when it resolved in this tick, as its earlier points still belong to it.
	audits := &auditBatch{}
	incs, err := b.Incidents.ApplyTick(context.WithValue(ctx, auditBatchKey{}, audits), t)
	if err != nil {
		b.log.ErrorContext(ctx, "tick not fully recorded", obs.KeyCheck, t.Check, obs.KeyErr, err)
	}
	audits.write(ctx, b, nil)
	// A series may have scored several points in one tick (a replay): the rules see them in order,
	// aligned on each series' latest point, the earlier ones as partial ticks.
	n := 0
	for _, s := range t.Series {
		n = max(n, len(s.Points))
	}
	for k := range n {
		tk := rules.CheckTick{Check: t.Check, Partial: k < n-1}
		for _, s := range t.Series {
			j := len(s.Points) - n + k
			if j < 0 {
				continue
			}
			p := s.Points[j]
			o := rules.Observation{Labels: s.Labels, T: p.T, Value: p.V, Score: p.Score, Peak: p.Peak, Open: p.Open,
				Since: p.Since, Expected: p.Band.Expected, Lower: p.Band.Lower, Upper: p.Band.Upper}
			if inc, ok := incs[detector.Key(s.Labels)]; ok && p.Open {
				o.Incident, o.Muted = inc.ID, inc.Silenced != ""
			}
			tk.Series = append(tk.Series, o)
			if p.T.After(tk.T) {
				tk.T = p.T
			}
		}
		if err := b.Rules.EvalCheck(ctx, tk); err != nil {
			b.log.WarnContext(ctx, "check rules failed", obs.KeyCheck, t.Check, obs.KeyErr, err)
		}
	}
}

// onFire turns a rule firing into a stored proposal, linked to the incident behind it.
func (b *Bot) onFire(ctx context.Context, f rules.Firing) error {
	ap := f.Rule.Approval
	incID := f.Incident
	p, err := b.Proposals.Propose(ctx, remediation.Request{
		Action: f.Rule.Action.Name, Params: map[string]any(f.Params), Rule: f.Rule.Name, RuleVersion: f.Version,
		Incident: incID, Requester: remediation.Actor{ID: "rule:" + f.Rule.Name, Name: "rule " + f.Rule.Name},
		Policy: remediation.Policy{Roles: ap.Roles, MinApprovers: ap.MinApprovers, AllowRequester: ap.AllowRequester, Expires: ap.Expires},
		DryRun: f.Rule.DryRun, Dedup: f.Dedup,
	})
	var refused *remediation.RefusedError
	if errors.As(err, &refused) && incID != "" {
		// The card says why no proposal came, once per reason, and the rule tries again.
		b.noteRefusal(ctx, incID, incident.Refusal{Rule: f.Rule.Name, Reason: refused.Reason, Retry: refused.Unavailable, At: f.T})
	}
	if err != nil {
		return err
	}
	if incID == "" {
		return nil
	}
	// The proposal's index names it for its incident (incident.Options.ProposalsOf); the incident
	// is written only when it shows why this rule made no proposal before.
	if links, ok := ctx.Value(linksKey{}).(*proposalLinks); ok {
		links.add(incID, f.Rule.Name) // cleared with the others of the batch (processAlerts)
		return nil
	}
	if failed, err := b.Incidents.ClearRefusals(ctx, map[string][]string{incID: {f.Rule.Name}}); len(failed) > 0 {
		b.log.WarnContext(ctx, "refusal not cleared on its incident", obs.KeyProposal, p.ID, obs.KeyIncident, incID, obs.KeyErr, err)
	}
	return nil
}

// proposalLinks collects, by incident, the rules that made proposals in a batch of alerts, so
// that the refusals they leave behind are cleared together once the batch is evaluated.
type proposalLinks struct {
	mu    sync.Mutex
	rules map[string][]string
}

type linksKey struct{}

func (ls *proposalLinks) add(incident, rule string) {
	ls.mu.Lock()
	if ls.rules == nil {
		ls.rules = map[string][]string{}
	}
	if !slices.Contains(ls.rules[incident], rule) {
		ls.rules[incident] = append(ls.rules[incident], rule)
	}
	ls.mu.Unlock()
}

// write clears the refusals of the rules that made proposals on their incidents.
func (ls *proposalLinks) write(ctx context.Context, b *Bot) {
	ls.mu.Lock()
	rules := ls.rules
	ls.mu.Unlock()
	if failed, err := b.Incidents.ClearRefusals(ctx, rules); len(failed) > 0 {
		b.log.WarnContext(ctx, "refusals not cleared on their incidents", "incidents", len(failed), "first", failed[0], obs.KeyErr, err)
	}
}

// proposalsOf names the proposals made for an incident, for incident.Options.ProposalsOf.
func (b *Bot) proposalsOf(ctx context.Context, id string) ([]string, error) {
	if b.Proposals == nil {
		return nil, nil // still being built: nothing has been proposed yet
	}
	return b.Proposals.IDsForIncident(ctx, id)
}

// noteRefusal records on an incident why a rule made no proposal for it, and has its card
// edited, unless the card says so already.
func (b *Bot) noteRefusal(ctx context.Context, incID string, r incident.Refusal) {
	changed := false
	inc, err := b.Incidents.Update(ctx, incID, func(inc *incident.Incident) {
		i := slices.IndexFunc(inc.Refusals, func(o incident.Refusal) bool { return o.Rule == r.Rule })
		switch {
		case i < 0:
			inc.Refusals = append(inc.Refusals, r)
			changed = true
		case inc.Refusals[i].Reason != r.Reason || inc.Refusals[i].Retry != r.Retry:
			inc.Refusals[i] = r
			changed = true
		}
	})
	if err != nil {
		b.log.WarnContext(ctx, "refusal not recorded on its incident", obs.KeyIncident, incID, obs.KeyErr, err)
		return
	}
	if changed && b.Notifier != nil {
		b.Notifier.IncidentChanged(ctx, inc, incident.Updated)
	}
}

// ruleVersion is the current version of an enabled rule: a disabled rule's proposals no longer run.
func (b *Bot) ruleVersion(name string) (string, bool) {
	r, ok := b.Rules.Rule(name)
	if !ok || !r.Enabled {
		return "", false
	}
	return r.Version, true
}

// roleSet is the roles in force: those of the configuration, or of its latest reload.
func (b *Bot) roleSet() map[string]config.Role {
	if p := b.roleMap.Load(); p != nil {
		return *p
	}
	return b.cfg.Roles
}

// roles returns the configured roles of a chat user. The person at the console owns the
// process, so unless the configuration names console users in some role, they are admin.
func (b *Bot) roles(u bot.User) []string {
	id := u.Platform + ":" + u.ID
	var out []string
	consoleNamed := false
	for name, r := range b.roleSet() {
		member := slices.Contains(r.Users, id)
		for _, g := range u.Groups {
			member = member || slices.Contains(r.Groups, u.Platform+":"+g)
		}
		if member {
			out = append(out, name)
		}
		for _, m := range r.Users {
			consoleNamed = consoleNamed || strings.HasPrefix(m, "console:")
		}
	}
	if u.Platform == "console" && !consoleNamed {
		out = append(out, remediation.RoleAdmin)
	}
	slices.Sort(out)
	return out
}

func (b *Bot) target(a bot.Adapter) bot.Target {
	conv := func(rs []configRoute) []bot.Route {
		out := make([]bot.Route, len(rs))
		for i, r := range rs {
			out[i] = bot.Route{Severity: r.Severity, Labels: r.Labels, Channel: r.Channel}
		}
		return out
	}
	switch a.Name() {
	case "slack":
		return bot.Target{Adapter: a, DefaultChannel: b.cfg.Slack.DefaultChannel, Routes: conv(b.cfg.Slack.Routes)}
	case "discord":
		return bot.Target{Adapter: a, DefaultChannel: b.cfg.Discord.DefaultChannel, Routes: conv(b.cfg.Discord.Routes), EditsImages: true}
	}
	return bot.Target{Adapter: a, DefaultChannel: a.Name()}
}

// auditIncident records that an incident opened or resolved.
func (b *Bot) auditIncident(ctx context.Context, inc incident.Incident, c incident.Change) {
	r := incidentRecord(inc, c)
	if ab, ok := ctx.Value(auditBatchKey{}).(*auditBatch); ok && ab.add(r) {
		return // appended with the others of the tick or the round, before it is done
	}
	if _, err := b.Audit.Append(ctx, r); err != nil {
		b.log.ErrorContext(ctx, "audit append failed", obs.KeyIncident, inc.ID, obs.KeyErr, err)
	}
}

// incidentRecord is the audit record of change c of inc.
func incidentRecord(inc incident.Incident, c incident.Change) audit.Record {
	return audit.Record{Kind: "incident." + c.String(), User: "bot", Incident: inc.ID,
		Detail: inc.Title, Extra: map[string]string{"source": inc.Source, "severity": inc.Severity}}
}

// auditBatch collects the audit records of the incidents a tick or a webhook round changed, so
// that they are appended together, sharing the audit log's commits, rather than one commit
// after another. The records keep their order.
type auditBatch struct {
	mu      sync.Mutex
	recs    []audit.Record
	written bool
}

type auditBatchKey struct{}

// add keeps r for write, and reports false once write has begun: r is then the caller's to append.
func (ab *auditBatch) add(r audit.Record) bool {
	ab.mu.Lock()
	defer ab.mu.Unlock()
	if ab.written {
		return false
	}
	ab.recs = append(ab.recs, r)
	return true
}

// write appends the collected records and returns once they are in the log; when ops is not nil,
// each record is written in the same transaction as what ops returns for it.
func (ab *auditBatch) write(ctx context.Context, b *Bot, ops func(audit.Record) []store.Op) {
	ab.mu.Lock()
	ab.written = true
	ab.mu.Unlock()
	if len(ab.recs) == 0 {
		return // most ticks open and resolve nothing
	}
	var with func(int) []store.Op
	if ops != nil {
		with = func(i int) []store.Op { return ops(ab.recs[i]) }
	}
	if err := b.Audit.AppendAllWith(ctx, ab.recs, with); err != nil {
		b.log.ErrorContext(ctx, "audit append failed", "records", len(ab.recs), obs.KeyErr, err)
	}
}
