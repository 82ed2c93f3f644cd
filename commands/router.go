// Package commands owns the inbound side of chat: the command grammar, the registry of commands
// with their help and required role, authorisation, and dispatch to the services they name
// (incidents, proposals, rules, the detector, silences). Every platform adapter delivers bot.Events
// to Router.Handle, and a button click takes the same path as its typed twin, so one check
// authorises both. Errors a person caused are shown to them; any other error is logged in full
// and shown as "internal error (ref <correlation id>)".
package commands

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"slices"
	"sort"
	"strings"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/smartcloudops/smartcloudops/bot"
	"github.com/smartcloudops/smartcloudops/detector"
	"github.com/smartcloudops/smartcloudops/incident"
	"github.com/smartcloudops/smartcloudops/internal/obs"
	"github.com/smartcloudops/smartcloudops/remediation"
	"github.com/smartcloudops/smartcloudops/remediation/audit"
)

// Built-in roles. Everyone who can reach the bot is a viewer; rules name further roles that may
// approve their proposals.
const (
	RoleViewer   = "viewer"
	RoleOperator = "operator"
	RoleAdmin    = remediation.RoleAdmin
)

// Detector is what commands read from the detector.
type Detector interface {
	Status() []detector.CheckStatus
}

// Options configures a Router. Incidents, Proposals, Audit, Roles and Logger are required.
type Options struct {
	Incidents *incident.Manager
	Proposals *remediation.Manager
	Audit     *audit.Log
	Detector  Detector
	Rules     Rules    // optional: rules commands
	Silencer  Silencer // optional: Alertmanager silences
	// CardMembers returns the incidents the card of a group showed last (ok false when there is
	// no such card), for `approve all`; optional.
	CardMembers func(ctx context.Context, group string) (members []string, ok bool, err error)
	Querier     Querier            // optional: the query command
	Actions     func() []string    // names of the available actions, for `run` help
	Chat        func() []bot.Field // optional: one line per chat connection, for status
	Leader      func() string      // optional: which replica leads, for status
	// Roles returns the roles a chat user holds (viewer is implied).
	Roles      func(u bot.User) []string
	Version    string
	Logger     *slog.Logger
	Registerer prometheus.Registerer
	Now        func() time.Time
	// Platforms are the chat platforms commands arrive from ("console", "slack", ...), so the
	// commands counter exists at 0 for each of them from the start; optional.
	Platforms []string
}

// Router parses, authorises and dispatches commands.
type Router struct {
	o     Options
	log   *slog.Logger
	cmds  map[string]*command
	count *prometheus.CounterVec
}

// command is one entry of the registry.
type command struct {
	name    string
	usage   string // e.g. "approve <proposal>"
	summary string
	help    string // more for `help <command>`: forms and examples; optional
	role    string // needed to run it; approvals are checked by their policy instead
	run     func(ctx context.Context, c *call) (bot.Message, error)
}

// call is one invocation.
type call struct {
	user  bot.User
	actor remediation.Actor
	args  []string
	raw   string // the arguments as typed, after the command name
}

// New returns a Router with every command registered.
func New(o Options) (*Router, error) {
	if o.Incidents == nil || o.Proposals == nil || o.Audit == nil || o.Roles == nil || o.Logger == nil {
		return nil, errors.New("commands: Incidents, Proposals, Audit, Roles and Logger are required")
	}
	if o.Now == nil {
		o.Now = time.Now
	}
	r := &Router{o: o, log: o.Logger.With(obs.KeyComponent, "commands"), cmds: map[string]*command{},
		count: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "smartcloudops_commands_total", Help: "Chat commands by platform, command and outcome (ok, denied, error, unknown).",
		}, []string{"platform", "command", "outcome"})}
	if o.Registerer != nil {
		o.Registerer.MustRegister(r.count)
	}
	for _, c := range r.infoCommands() {
		r.cmds[c.name] = c
	}
	for _, c := range r.proposalCommands() {
		r.cmds[c.name] = c
	}
	for _, c := range r.silenceCommands() {
		r.cmds[c.name] = c
	}
	if o.Rules != nil {
		r.cmds["rules"] = r.rulesCommand()
	}
	if o.Querier != nil {
		r.cmds["query"] = r.queryCommand()
	}
	// Dashboards and alerts see 0, not "No data", before a platform's first command.
	for _, p := range o.Platforms {
		for name := range r.cmds {
			for _, outcome := range []string{"ok", "error", "denied"} {
				r.count.WithLabelValues(p, name, outcome)
			}
		}
	}
	return r, nil
}

// Actor returns the remediation identity of a chat user, with their roles.
func (r *Router) Actor(u bot.User) remediation.Actor {
	roles := append([]string{RoleViewer}, r.o.Roles(u)...)
	slices.Sort(roles)
	return remediation.Actor{ID: u.Platform + ":" + u.ID, Name: u.String(), Roles: slices.Compact(roles)}
}

// Handle is the bot.Handler every adapter calls.
func (r *Router) Handle(ctx context.Context, e bot.Event) bot.Message {
	ctx, cid := obs.EnsureCorrelation(ctx)
	text := e.Text
	if e.Kind == bot.EventButton {
		text = e.Button.Command()
	}
	args, err := Split(text)
	if err != nil {
		r.count.WithLabelValues(e.User.Platform, "parse", "error").Inc()
		return bot.Text(err.Error())
	}
	if len(args) == 0 {
		return bot.Text("Type `help` for the commands.")
	}
	name := strings.ToLower(args[0])
	cmd, ok := r.cmds[name]
	if !ok {
		r.count.WithLabelValues(e.User.Platform, "unknown", "unknown").Inc()
		return bot.Text(fmt.Sprintf("unknown command %q; type `help` for the commands%s", args[0], suggest(name, r.names())))
	}
	c := &call{user: e.User, actor: r.Actor(e.User), args: args[1:], raw: strings.TrimSpace(strings.TrimPrefix(strings.TrimSpace(text), args[0]))}
	log := r.log.With(obs.KeyUser, c.actor.ID, "command", name)
	if cmd.role != "" && !c.actor.Has(cmd.role) {
		r.count.WithLabelValues(e.User.Platform, name, "denied").Inc()
		_, aerr := r.o.Audit.Append(ctx, audit.Record{Kind: "command.denied", User: c.actor.ID, Outcome: "denied", Detail: text})
		if aerr != nil {
			log.ErrorContext(ctx, "audit append failed", obs.KeyErr, aerr)
		}
		log.WarnContext(ctx, "command refused", "needs", cmd.role)
		return bot.Message{Text: fmt.Sprintf("`%s` needs role %s; you have %s", name, cmd.role, strings.Join(c.actor.Roles, ", ")), Ephemeral: true}
	}
	reply, err := cmd.run(ctx, c)
	switch {
	case err == nil:
		r.count.WithLabelValues(e.User.Platform, name, "ok").Inc()
		return reply
	case obs.IsUser(err):
		r.count.WithLabelValues(e.User.Platform, name, "error").Inc()
		return bot.Message{Text: err.Error(), Ephemeral: true}
	case obs.IsUnavailable(err):
		// An integration that is down is named, never hidden behind "internal error".
		r.count.WithLabelValues(e.User.Platform, name, "error").Inc()
		log.WarnContext(ctx, "command failed: a dependency is down", obs.KeyErr, err)
		var ue *obs.UnavailableError
		errors.As(err, &ue)
		return bot.Message{Text: fmt.Sprintf("%s (ref %s)", ue.Error(), cid), Ephemeral: true}
	default:
		r.count.WithLabelValues(e.User.Platform, name, "error").Inc()
		log.ErrorContext(ctx, "command failed", obs.KeyErr, err)
		return bot.Message{Text: fmt.Sprintf("internal error (ref %s)", cid), Ephemeral: true}
	}
}

func (r *Router) names() []string {
	out := make([]string, 0, len(r.cmds))
	for n := range r.cmds {
		out = append(out, n)
	}
	sort.Strings(out)
	return out
}

// suggest offers the closest command name to a typo.
func suggest(name string, names []string) string {
	best, bestD := "", 3
	for _, n := range names {
		if d := distance(name, n); d < bestD {
			best, bestD = n, d
		}
	}
	if best == "" {
		return ""
	}
	return fmt.Sprintf(" (did you mean %q?)", best)
}

// distance is the Levenshtein edit distance.
func distance(a, b string) int {
	prev := make([]int, len(b)+1)
	for j := range prev {
		prev[j] = j
	}
	for i := 1; i <= len(a); i++ {
		cur := make([]int, len(b)+1)
		cur[0] = i
		for j := 1; j <= len(b); j++ {
			cost := 1
			if a[i-1] == b[j-1] {
				cost = 0
			}
			cur[j] = min(prev[j]+1, cur[j-1]+1, prev[j-1]+cost)
		}
		prev = cur
	}
	return prev[len(b)]
}
