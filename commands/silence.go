package commands

import (
	"context"
	"fmt"
	"strings"
	"time"

	"github.com/smartcloudops/smartcloudops/bot"
	"github.com/smartcloudops/smartcloudops/internal/obs"
	"github.com/smartcloudops/smartcloudops/remediation/audit"
)

// Silencer creates silences in Alertmanager.
type Silencer interface {
	// Create silences alerts matching matchers (Alertmanager syntax) for d and returns its ID.
	Create(ctx context.Context, matchers string, d time.Duration, by, comment string) (string, error)
	// List describes the active silences, one line each.
	List(ctx context.Context) ([]string, error)
	// Expire ends a silence.
	Expire(ctx context.Context, id string) error
}

func (r *Router) silenceCommands() []*command {
	return []*command{
		{name: "silence", usage: "silence <matchers>|incident <id> for <duration> [comment]", summary: "mute matching alerts and anomalies", role: RoleOperator, run: r.silence},
		{name: "silences", usage: "silences", summary: "active silences", run: r.silences},
		{name: "unsilence", usage: "unsilence <id>", summary: "end a silence", role: RoleOperator, run: r.unsilence},
	}
}

// silence handles "silence incident inc-1 for 1h" and "silence alertname=X,env=prod for 2h why".
func (r *Router) silence(ctx context.Context, c *call) (bot.Message, error) {
	forAt := -1
	for i, a := range c.args {
		if a == "for" {
			forAt = i
			break
		}
	}
	if forAt < 1 || forAt+1 >= len(c.args) {
		return bot.Message{}, obs.UserErrorf("usage: silence <matchers>|incident <id> for <duration> [comment]")
	}
	d, err := parseDuration(c.args[forAt+1])
	if err != nil {
		return bot.Message{}, err
	}
	comment := strings.Join(c.args[forAt+2:], " ")
	target := c.args[:forAt]
	if target[0] == "incident" {
		if len(target) != 2 {
			return bot.Message{}, obs.UserErrorf("usage: silence incident <id> for <duration>")
		}
		inc, err := r.o.Incidents.Get(ctx, target[1])
		if err != nil {
			return bot.Message{}, err
		}
		if inc.Source == "alertmanager" && r.o.Silencer != nil {
			// The group's own labels say exactly which alerts it holds; its common labels (such
			// as cluster="prod") could match far more.
			if len(inc.GroupLabels) == 0 {
				return bot.Message{}, obs.UserErrorf("incident %s has no group labels to silence by; give matchers: silence alertname=\"...\",... for %s", inc.ID, c.args[forAt+1])
			}
			m := matcherString(inc.GroupLabels)
			id, err := r.o.Silencer.Create(ctx, m, d, c.actor.Name, firstNonEmpty(comment, "silenced from incident "+inc.ID))
			if err != nil {
				return bot.Message{}, err
			}
			r.auditSilence(ctx, c, "silence.created", id, m+" for "+d.String())
			return bot.Text(fmt.Sprintf("Alertmanager silence %s {%s} created for %s until %s.", id, m, inc.ID, r.o.Now().Add(d).UTC().Format(time.RFC3339))), nil
		}
		s, err := r.o.Incidents.SilenceIncident(ctx, inc.ID, d, c.actor.Name)
		if err != nil {
			return bot.Message{}, err
		}
		r.auditSilence(ctx, c, "silence.created", s.ID, s.String())
		return bot.Text(fmt.Sprintf("Silenced %s: %s", inc.ID, s)), nil
	}
	expr := strings.Join(target, " ")
	if r.o.Silencer != nil {
		id, err := r.o.Silencer.Create(ctx, expr, d, c.actor.Name, comment)
		if err != nil {
			return bot.Message{}, err
		}
		r.auditSilence(ctx, c, "silence.created", id, expr+" for "+d.String())
		return bot.Text(fmt.Sprintf("Alertmanager silence %s created until %s.", id, r.o.Now().Add(d).UTC().Format(time.RFC3339))), nil
	}
	matchers, err := equalityMatchers(expr)
	if err != nil {
		return bot.Message{}, err
	}
	s, err := r.o.Incidents.AddSilence(ctx, matchers, d, c.actor.Name, comment)
	if err != nil {
		return bot.Message{}, err
	}
	r.auditSilence(ctx, c, "silence.created", s.ID, s.String())
	return bot.Text("Silenced anomalies: " + s.String()), nil
}

func firstNonEmpty(a, b string) string {
	if a != "" {
		return a
	}
	return b
}

func matcherString(l map[string]string) string {
	parts := strings.Split(bot.Labels(l), ", ")
	for i, p := range parts {
		k, v, _ := strings.Cut(p, "=")
		parts[i] = fmt.Sprintf("%s=%q", k, v)
	}
	return strings.Join(parts, ",")
}

// equalityMatchers parses `a=b,c="d"` (also with braces) for the bot's own silences.
func equalityMatchers(s string) (map[string]string, error) {
	s = strings.TrimSpace(strings.TrimSuffix(strings.TrimPrefix(strings.TrimSpace(s), "{"), "}"))
	out := map[string]string{}
	for _, part := range strings.Split(s, ",") {
		part = strings.TrimSpace(part)
		if part == "" {
			continue
		}
		if strings.ContainsAny(part, "!~") {
			return nil, obs.UserErrorf("%q: without Alertmanager only equality matchers (label=value) are supported", part)
		}
		k, v, ok := strings.Cut(part, "=")
		if !ok || strings.TrimSpace(k) == "" {
			return nil, obs.UserErrorf("%q is not label=value", part)
		}
		out[strings.TrimSpace(k)] = strings.Trim(strings.TrimSpace(v), `"`)
	}
	if len(out) == 0 {
		return nil, obs.UserErrorf("a silence needs at least one matcher")
	}
	return out, nil
}

func (r *Router) silences(ctx context.Context, _ *call) (bot.Message, error) {
	var lines []string
	local, err := r.o.Incidents.Silences(ctx)
	if err != nil {
		return bot.Message{}, err
	}
	for _, s := range local {
		lines = append(lines, "bot "+s.String())
	}
	if r.o.Silencer != nil {
		am, err := r.o.Silencer.List(ctx)
		if err != nil {
			return bot.Message{}, err
		}
		for _, s := range am {
			lines = append(lines, "alertmanager "+s)
		}
	}
	if len(lines) == 0 {
		return bot.Text("No active silences."), nil
	}
	return bot.Text(strings.Join(lines, "\n")), nil
}

func (r *Router) unsilence(ctx context.Context, c *call) (bot.Message, error) {
	if len(c.args) != 1 {
		return bot.Message{}, obs.UserErrorf("usage: unsilence <id>")
	}
	id := c.args[0]
	if strings.HasPrefix(id, "s-") {
		if err := r.o.Incidents.Unsilence(ctx, id); err != nil {
			return bot.Message{}, err
		}
		r.auditSilence(ctx, c, "silence.expired", id, "")
		return bot.Text("Silence " + id + " ended."), nil
	}
	if r.o.Silencer == nil {
		return bot.Message{}, obs.UserErrorf("no silence %q held by the bot, and no Alertmanager is configured", id)
	}
	if err := r.o.Silencer.Expire(ctx, id); err != nil {
		return bot.Message{}, err
	}
	r.auditSilence(ctx, c, "silence.expired", id, "")
	return bot.Text("Alertmanager silence " + id + " expired."), nil
}

// auditSilence records who muted or unmuted what: a silence also stops rules from proposing.
func (r *Router) auditSilence(ctx context.Context, c *call, kind, id, detail string) {
	if _, err := r.o.Audit.Append(ctx, audit.Record{Kind: kind, User: c.actor.ID, Target: "silence/" + id, Outcome: "ok", Detail: detail}); err != nil {
		r.log.ErrorContext(ctx, "audit append failed", "kind", kind, obs.KeyErr, err)
	}
}
