package commands

import (
	"context"
	"fmt"
	"strconv"
	"strings"
	"time"
	"unicode/utf8"

	"github.com/smartcloudops/smartcloudops/alertmanager"
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

// silenceHelp is what `help silence` shows below the usage line.
const silenceHelp = `Forms:
  silence <matchers> for <duration> [comment]
  silence incident <id> for <duration> [comment]
Matchers are label=value, separated by spaces or commas, with or without braces; quote a value
that holds spaces or = ! ~ (summary="disk full"). With Alertmanager configured, != =~ and !~ work
too (regular expressions match the whole value), and the silence is made there; without it, the
bot mutes its own anomalies and only = is allowed. Durations: 30m, 2h, 1d.
Examples:
  silence service=web asg=web-asg for 1h deploy of web
  silence {alertname="HostHighCpu", instance=~"web-.*"} for 2h
  silence incident inc-12 for 30m`

func (r *Router) silenceCommands() []*command {
	return []*command{
		{name: "silence", usage: "silence <matchers>|incident <id> for <duration> [comment]", summary: "mute matching alerts and anomalies",
			help: silenceHelp, role: RoleOperator, run: r.silence},
		{name: "silences", usage: "silences", summary: "active silences", run: r.silences},
		{name: "unsilence", usage: "unsilence <id>", summary: "end a silence", role: RoleOperator, run: r.unsilence},
	}
}

// silenceUsage is the reply to a silence command that does not have the shape of one.
const silenceUsage = "usage: silence <matchers> for <duration> [comment], or silence incident <id> for <duration>; type `help silence` for the forms"

// silence handles "silence incident inc-1 for 1h" and "silence alertname=X env=prod for 2h why".
// The matchers are read as typed, quotes included, so that a quoted value keeps its spaces.
func (r *Router) silence(ctx context.Context, c *call) (bot.Message, error) {
	words, err := splitWords(c.raw)
	if err != nil {
		return bot.Message{}, err
	}
	forAt := -1
	for i, w := range words {
		if w.raw == "for" {
			forAt = i
			break
		}
	}
	if forAt < 1 || forAt+1 >= len(words) {
		return bot.Message{}, obs.UserErrorf("%s", silenceUsage)
	}
	d, err := parseDuration(words[forAt+1].text)
	if err != nil {
		return bot.Message{}, err
	}
	var rest []string
	for _, w := range words[forAt+2:] {
		rest = append(rest, w.text)
	}
	comment := strings.Join(rest, " ")
	target := words[:forAt]
	if target[0].raw == "incident" {
		if len(target) != 2 {
			return bot.Message{}, obs.UserErrorf("usage: silence incident <id> for <duration>; to silence by labels, leave out the word incident")
		}
		return r.silenceIncident(ctx, c, target[1].text, d, words[forAt+1].text, comment)
	}
	raw := make([]string, len(target))
	for i, w := range target {
		raw[i] = w.raw
		if strings.HasPrefix(w.raw, `"`) || strings.HasPrefix(w.raw, "'") {
			// A word quoted whole, as Discord sends the matchers option, holds matchers.
			raw[i] = w.text
		}
	}
	typed := strings.Join(raw, " ")
	ms, err := alertmanager.ParseMatchers(typed)
	if err != nil {
		msg := strings.TrimPrefix(err.Error(), "matchers: ")
		return bot.Message{}, obs.UserErrorf("silence: cannot read the matchers %s: %s; type `help silence` for the forms", clip(typed), msg)
	}
	if err := contradictions(ms); err != nil {
		return bot.Message{}, err
	}
	if r.o.Silencer != nil {
		parts := make([]string, len(ms))
		for i, m := range ms {
			parts[i] = m.String()
		}
		expr := strings.Join(parts, ",")
		id, err := r.o.Silencer.Create(ctx, expr, d, c.actor.Name, comment)
		if err != nil {
			return bot.Message{}, err
		}
		r.auditSilence(ctx, c, "silence.created", id, expr+" for "+d.String())
		return bot.Text(fmt.Sprintf("Alertmanager silence %s {%s} created until %s.", id, expr, r.o.Now().Add(d).UTC().Format(time.RFC3339))), nil
	}
	matchers, err := equalityMatchers(ms)
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

// silenceIncident silences one incident: in Alertmanager by its group's labels when it came from
// there, otherwise in the bot.
func (r *Router) silenceIncident(ctx context.Context, c *call, id string, d time.Duration, typedDuration, comment string) (bot.Message, error) {
	inc, err := r.o.Incidents.Get(ctx, id)
	if err != nil {
		return bot.Message{}, err
	}
	if inc.Source == "alertmanager" && r.o.Silencer != nil {
		// The group's own labels say exactly which alerts it holds; its common labels (such
		// as cluster="prod") could match far more.
		if len(inc.GroupLabels) == 0 {
			return bot.Message{}, obs.UserErrorf("incident %s has no group labels to silence by; give matchers: silence alertname=\"...\" ... for %s", inc.ID, typedDuration)
		}
		m := matcherString(inc.GroupLabels)
		sid, err := r.o.Silencer.Create(ctx, m, d, c.actor.Name, firstNonEmpty(comment, "silenced from incident "+inc.ID))
		if err != nil {
			return bot.Message{}, err
		}
		r.auditSilence(ctx, c, "silence.created", sid, m+" for "+d.String())
		return bot.Text(fmt.Sprintf("Alertmanager silence %s {%s} created for %s until %s.", sid, m, inc.ID, r.o.Now().Add(d).UTC().Format(time.RFC3339))), nil
	}
	s, err := r.o.Incidents.SilenceIncident(ctx, inc.ID, d, c.actor.Name)
	if err != nil {
		return bot.Message{}, err
	}
	r.auditSilence(ctx, c, "silence.created", s.ID, s.String())
	return bot.Text(fmt.Sprintf("Silenced %s: %s", inc.ID, s)), nil
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

// equalityMatchers turns matchers into the label equalities of the bot's own silences, which
// have no other operator.
func equalityMatchers(ms []alertmanager.Matcher) (map[string]string, error) {
	out := map[string]string{}
	for _, m := range ms {
		if m.Type != alertmanager.MatchEqual {
			return nil, obs.UserErrorf("%s: without Alertmanager only equality matchers (label=value) are supported", m)
		}
		out[m.Name] = m.Value
	}
	return out, nil
}

// contradictions refuses matchers that want one label equal to two values: such a silence
// would match nothing, which a person typing it never means.
func contradictions(ms []alertmanager.Matcher) error {
	eq := map[string]string{}
	for _, m := range ms {
		if m.Type != alertmanager.MatchEqual {
			continue
		}
		if v, dup := eq[m.Name]; dup && v != m.Value {
			return obs.UserErrorf("label %s is given twice (%q and %q): no alert has both values, so the silence would match nothing; make one silence for each", m.Name, v, m.Value)
		}
		eq[m.Name] = m.Value
	}
	return nil
}

// clip shortens what a person typed for quoting it back: a reply repeats at most a line of it.
func clip(s string) string {
	const max = 80
	if utf8.RuneCountInString(s) <= max {
		return strconv.Quote(s)
	}
	r := []rune(s)
	return strconv.Quote(string(r[:max])) + "…"
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
