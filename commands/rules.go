package commands

import (
	"context"
	"fmt"
	"strings"
	"time"

	"github.com/smartcloudops/smartcloudops/bot"
	"github.com/smartcloudops/smartcloudops/internal/obs"
)

// RuleInfo is what chat shows about a rule.
type RuleInfo struct {
	Name, Group, Version, Input, Action, File string
	Enabled                                   bool
	Firing                                    int // series firing now
	LastFired                                 time.Time
	Source                                    string // the rule's YAML
}

// Rules is the rules service as commands use it.
type Rules interface {
	List() []RuleInfo
	Show(name string) (RuleInfo, bool)
	SetEnabled(ctx context.Context, name string, on bool, by string) error
	// Sync reloads the rules from their source and describes what changed.
	Sync(ctx context.Context, by string) (string, error)
	// Test replays the last hour of the rule's input and describes what it would have done.
	Test(ctx context.Context, name string) (string, error)
}

func (r *Router) rulesCommand() *command {
	return &command{name: "rules", usage: "rules list|show <name>|test <name>|enable <name>|disable <name>|sync",
		summary: "the remediation rules", run: r.rules}
}

func (r *Router) rules(ctx context.Context, c *call) (bot.Message, error) {
	sub := "list"
	if len(c.args) > 0 {
		sub = c.args[0]
	}
	need := func(role string) error {
		if !c.actor.Has(role) {
			return obs.UserErrorf("`rules %s` needs role %s", sub, role)
		}
		return nil
	}
	name := func() (string, error) {
		if len(c.args) != 2 {
			return "", obs.UserErrorf("usage: rules %s <name>", sub)
		}
		return c.args[1], nil
	}
	switch sub {
	case "list":
		var b strings.Builder
		for _, ri := range r.o.Rules.List() {
			state := "enabled"
			if !ri.Enabled {
				state = "disabled"
			}
			fmt.Fprintf(&b, "%-28s %-8s %-9s %-26s → %s", ri.Name, ri.Version, state, ri.Input, ri.Action)
			if ri.Firing > 0 {
				fmt.Fprintf(&b, " (firing on %d series)", ri.Firing)
			}
			b.WriteByte('\n')
		}
		if b.Len() == 0 {
			return bot.Text("No rules loaded."), nil
		}
		return bot.Text(strings.TrimRight(b.String(), "\n")), nil
	case "show":
		n, err := name()
		if err != nil {
			return bot.Message{}, err
		}
		ri, ok := r.o.Rules.Show(n)
		if !ok {
			return bot.Message{}, obs.UserErrorf("no rule %q (see `rules list`)", n)
		}
		last := "never"
		if !ri.LastFired.IsZero() {
			last = ri.LastFired.UTC().Format(time.RFC3339)
		}
		m := bot.Message{Title: "Rule " + ri.Name, Fields: []bot.Field{
			{Label: "version", Value: ri.Version}, {Label: "group", Value: ri.Group}, {Label: "file", Value: ri.File},
			{Label: "enabled", Value: fmt.Sprint(ri.Enabled)}, {Label: "firing series", Value: fmt.Sprint(ri.Firing)},
			{Label: "last fired", Value: last}}, Text: "```\n" + strings.TrimRight(ri.Source, "\n") + "\n```"}
		return m, nil
	case "enable", "disable":
		if err := need(RoleAdmin); err != nil {
			return bot.Message{}, err
		}
		n, err := name()
		if err != nil {
			return bot.Message{}, err
		}
		if err := r.o.Rules.SetEnabled(ctx, n, sub == "enable", c.actor.ID); err != nil {
			return bot.Message{}, err
		}
		return bot.Text(fmt.Sprintf("Rule %s %sd.", n, sub)), nil
	case "sync":
		if err := need(RoleAdmin); err != nil {
			return bot.Message{}, err
		}
		out, err := r.o.Rules.Sync(ctx, c.actor.ID)
		if err != nil {
			return bot.Message{}, err
		}
		return bot.Text(out), nil
	case "test":
		if err := need(RoleOperator); err != nil {
			return bot.Message{}, err
		}
		n, err := name()
		if err != nil {
			return bot.Message{}, err
		}
		out, err := r.o.Rules.Test(ctx, n)
		if err != nil {
			return bot.Message{}, err
		}
		return bot.Text(out), nil
	}
	return bot.Message{}, obs.UserErrorf("unknown rules subcommand %q: list, show, test, enable, disable or sync", sub)
}

// Querier runs the `query` command against Prometheus.
type Querier interface {
	Query(ctx context.Context, promql string, rng time.Duration) (bot.Message, error)
}

func (r *Router) queryCommand() *command {
	return &command{name: "query", usage: "query <promql> [range]", summary: "current values of a PromQL query, with a chart over the range (default 1h)",
		run: func(ctx context.Context, c *call) (bot.Message, error) {
			if len(c.args) == 0 {
				return bot.Message{}, obs.UserErrorf("usage: query <promql> [range]")
			}
			q, rng := c.raw, time.Hour
			if len(c.args) > 1 {
				if d, err := parseDuration(c.args[len(c.args)-1]); err == nil {
					rng = d
					q = strings.TrimSpace(strings.TrimSuffix(q, c.args[len(c.args)-1]))
				}
			}
			return r.o.Querier.Query(ctx, promQL(q), rng)
		}}
}

// promQL recovers the expression from the text after "query". The text is taken as typed, so
// the quotes of label matchers survive, except that quotes a phone turned curly are made
// straight again, and a code span (`...`) or one quoted word around the whole expression (as
// the Discord adapter and careful typists write it) is unwrapped.
func promQL(q string) string {
	q = strings.TrimSpace(strings.NewReplacer("“", `"`, "”", `"`, "‘", "'", "’", "'").Replace(q))
	q = strings.TrimSpace(strings.Trim(q, "`"))
	if strings.HasPrefix(q, `"`) || strings.HasPrefix(q, "'") {
		if words, err := Split(q); err == nil && len(words) == 1 && strings.TrimSpace(words[0]) != "" {
			return strings.TrimSpace(words[0])
		}
	}
	return q
}
