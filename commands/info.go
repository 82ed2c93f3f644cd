package commands

import (
	"context"
	"fmt"
	"sort"
	"strings"
	"time"

	"github.com/smartcloudops/smartcloudops/bot"
	"github.com/smartcloudops/smartcloudops/incident"
	"github.com/smartcloudops/smartcloudops/internal/obs"
	"github.com/smartcloudops/smartcloudops/remediation/audit"
)

func (r *Router) infoCommands() []*command {
	return []*command{
		{name: "help", usage: "help [command]", summary: "list the commands, or explain one", run: r.help},
		{name: "status", usage: "status", summary: "the bot's health: checks, chat connections, open incidents, pending and unknown proposals", run: r.status},
		{name: "incidents", usage: "incidents [all]", summary: "the newest open incidents (all: resolved ones too)", run: r.incidents},
		{name: "anomalies", usage: "anomalies [check]", summary: "series in an anomalous span now", run: r.anomalies},
		{name: "history", usage: "history [rule|target|proposal]", summary: "the audit trail, newest last", run: r.history},
		{name: "whoami", usage: "whoami", summary: "who the bot thinks you are, and your roles", run: r.whoami},
	}
}

func (r *Router) help(_ context.Context, c *call) (bot.Message, error) {
	if len(c.args) > 0 {
		cmd, ok := r.cmds[strings.ToLower(c.args[0])]
		if !ok {
			return bot.Message{}, obs.UserErrorf("no command %q%s", c.args[0], suggest(c.args[0], r.names()))
		}
		text := fmt.Sprintf("%s\n  %s", cmd.usage, cmd.summary)
		if cmd.role != "" {
			text += "\n  needs role " + cmd.role
		}
		if cmd.help != "" {
			text += "\n" + cmd.help
		}
		return bot.Text(text), nil
	}
	var b strings.Builder
	b.WriteString("Commands:\n")
	for _, n := range r.names() {
		cmd := r.cmds[n]
		line := fmt.Sprintf("  %-40s %s", cmd.usage, cmd.summary)
		if cmd.role != "" {
			line += " [" + cmd.role + "]"
		}
		b.WriteString(line + "\n")
	}
	b.WriteString("Buttons have typed twins: approve <id>, reject <id>, silence incident <id> for 1h.")
	return bot.Message{Text: b.String(), Code: true}, nil
}

func (r *Router) status(ctx context.Context, _ *call) (bot.Message, error) {
	m := bot.Message{Title: "SmartCloudOps " + r.o.Version}
	open, err := r.o.Incidents.List(ctx, false)
	if err != nil {
		return m, err
	}
	pending, err := r.o.Proposals.List(ctx, "pending")
	if err != nil {
		return m, err
	}
	unknown, err := r.o.Proposals.List(ctx, "unknown")
	if err != nil {
		return m, err
	}
	m.Fields = append(m.Fields, bot.Field{Label: "incidents open", Value: fmt.Sprint(len(open))},
		bot.Field{Label: "proposals pending", Value: fmt.Sprint(len(pending))})
	if len(unknown) > 0 {
		// Their actions may or may not have run; each waits for a person to say which.
		m.Fields = append(m.Fields, bot.Field{Label: "proposals unknown",
			Value: fmt.Sprintf("%d (see `proposals unknown`; close each with `resolve <id> ran|not-run <what you checked>`)", len(unknown))})
	}
	if paused, by := r.o.Proposals.Paused(ctx); paused {
		m.Fields = append(m.Fields, bot.Field{Label: "remediation", Value: "PAUSED by " + by})
	}
	if r.o.Chat != nil {
		m.Fields = append(m.Fields, r.o.Chat()...)
	}
	if r.o.Leader != nil {
		if l := r.o.Leader(); l != "" {
			m.Fields = append(m.Fields, bot.Field{Label: "leader", Value: l})
		}
	}
	if r.o.Detector != nil {
		for _, s := range r.o.Detector.Status() {
			state := "ok"
			if !s.Up {
				state = "DEGRADED: " + s.LastError
			} else if s.LastTick.IsZero() {
				state = "waiting for first tick"
			}
			v := fmt.Sprintf("%s; %d series, %d anomalous", state, s.Series, s.Anomalous)
			if l := s.Learning(); l != "" {
				v += ", " + l
			}
			if !s.LastTick.IsZero() {
				v += ", last tick " + s.LastTick.UTC().Format("15:04:05")
			}
			if s.Skipped > 0 {
				v += fmt.Sprintf(", %d ticks skipped", s.Skipped)
			}
			m.Fields = append(m.Fields, bot.Field{Label: "check " + s.Name, Value: v})
		}
	}
	return m, nil
}

// listShown is how many incidents or proposals `incidents` and `proposals` show: the newest, read
// as one page of their index, so the reply costs the same however many are stored.
const listShown = 30

func (r *Router) incidents(ctx context.Context, c *call) (bot.Message, error) {
	all := len(c.args) > 0 && c.args[0] == "all"
	q := incident.PageQuery{State: incident.StateOpen, Limit: listShown}
	if all {
		q.State = ""
	}
	pg, err := r.o.Incidents.ListPage(ctx, q)
	if err != nil {
		return bot.Message{}, err
	}
	incs := pg.Incidents
	if len(incs) == 0 {
		return bot.Text("No open incidents."), nil
	}
	sils, err := r.o.Incidents.Silences(ctx)
	if err != nil {
		return bot.Message{}, err
	}
	var b strings.Builder
	for _, inc := range incs {
		fmt.Fprintf(&b, "%s  %-8s %-8s %s (since %s)", inc.ID, inc.State, inc.Severity, inc.Title, inc.Since.UTC().Format("01-02 15:04"))
		if s, ok := silencedBy(inc, sils); ok {
			fmt.Fprintf(&b, " [silenced by %s until %s]", s.ID, s.EndsAt.UTC().Format("01-02 15:04"))
		}
		if len(inc.Proposals) > 0 {
			b.WriteString(" proposals: " + strings.Join(inc.Proposals, ", "))
		}
		b.WriteByte('\n')
	}
	if pg.Next != "" {
		fmt.Fprintf(&b, "(the newest %d; GET /api/v1/incidents?state=%s lists every one)", len(incs), map[bool]string{true: "all", false: "open"}[all])
	}
	return bot.Text(strings.TrimRight(b.String(), "\n")), nil
}

// silencedBy returns the active silence that mutes an open incident: the one it recorded, or
// any that matches it now (a silence made after its last update has not reached it yet). An
// ended silence marks nothing.
func silencedBy(inc incident.Incident, active []incident.Silence) (incident.Silence, bool) {
	if inc.State != incident.StateOpen {
		return incident.Silence{}, false
	}
	for _, s := range active {
		if s.ID == inc.Silenced {
			return s, true
		}
	}
	for _, s := range active {
		if s.Mutes(inc) {
			return s, true
		}
	}
	return incident.Silence{}, false
}

func (r *Router) anomalies(ctx context.Context, c *call) (bot.Message, error) {
	incs, err := r.o.Incidents.List(ctx, false)
	if err != nil {
		return bot.Message{}, err
	}
	var b strings.Builder
	for _, inc := range incs {
		if inc.Source != "detector" || (len(c.args) > 0 && inc.Check != c.args[0]) {
			continue
		}
		fmt.Fprintf(&b, "%s %s: %.4g (expected %.4g, band %.4g..%.4g) score %.2f since %s\n",
			inc.Check, bot.Labels(inc.Labels), inc.Value, inc.Expected, inc.Lower, inc.Upper, inc.Score, inc.Since.UTC().Format("15:04:05"))
	}
	if b.Len() == 0 {
		return bot.Text("No anomalous series now."), nil
	}
	return bot.Text(strings.TrimRight(b.String(), "\n")), nil
}

func (r *Router) history(ctx context.Context, c *call) (bot.Message, error) {
	f := audit.Filter{Limit: 20}
	if len(c.args) > 0 {
		f.Match = c.args[0]
	}
	recs, err := r.o.Audit.List(ctx, f)
	if err != nil {
		return bot.Message{}, err
	}
	if len(recs) == 0 {
		return bot.Text("No audit records" + map[bool]string{true: " for " + f.Match, false: ""}[f.Match != ""] + "."), nil
	}
	var b strings.Builder
	for _, rec := range recs {
		fmt.Fprintf(&b, "#%d %s %-22s", rec.Seq, rec.Time.UTC().Format(time.DateTime), rec.Kind)
		for _, kv := range [][2]string{{"", rec.Proposal}, {"by ", rec.User}, {"rule ", rec.Rule}, {"", rec.RuleVersion}, {"on ", rec.Target}, {"→ ", rec.Outcome}} {
			if kv[1] != "" {
				b.WriteString(" " + kv[0] + kv[1])
			}
		}
		if rec.Detail != "" {
			b.WriteString(": " + firstLine(rec.Detail))
		}
		if rec.Correlation != "" {
			b.WriteString(" (" + rec.Correlation + ")")
		}
		b.WriteByte('\n')
	}
	return bot.Text(strings.TrimRight(b.String(), "\n")), nil
}

func firstLine(s string) string {
	s, _, _ = strings.Cut(s, "\n")
	if len(s) > 160 {
		s = s[:160] + "…"
	}
	return s
}

func (r *Router) whoami(_ context.Context, c *call) (bot.Message, error) {
	groups := append([]string(nil), c.user.Groups...)
	sort.Strings(groups)
	text := fmt.Sprintf("You are %s (id %s); roles: %s", c.user.String(), c.actor.ID, strings.Join(c.actor.Roles, ", "))
	if len(groups) > 0 {
		text += "; groups: " + strings.Join(groups, ", ")
	}
	return bot.Message{Text: text, Ephemeral: true}, nil
}
