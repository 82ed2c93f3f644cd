package discord

import (
	"errors"
	"fmt"
	"strings"
	"unicode"
	"unicode/utf8"

	"github.com/bwmarrin/discordgo"

	"github.com/smartcloudops/smartcloudops/commands"
)

// CommandName is the name of the one application command the adapter registers: /ops.
const CommandName = "ops"

// maxOptionLen bounds every string option; Discord allows 6000, no command needs that much.
const maxOptionLen = 1000

// optSpec is one string option of a subcommand. Options are emitted in declaration order.
type optSpec struct {
	name     string
	desc     string
	required bool
	kv       bool   // a whitespace-separated list of key=value pairs, each passed as its own word
	keyword  string // a word the console grammar wants before the value, such as "for"
}

// subSpec is one subcommand of /ops. A subcommand with children is a subcommand group
// (Discord allows one level of groups), such as "rules".
type subSpec struct {
	name      string
	desc      string
	opts      []optSpec
	children  []subSpec
	ephemeral bool // deferred privately: the answer concerns only the person asking
}

// grammar mirrors the bot's command grammar, the same one the console accepts as typed lines.
var grammar = []subSpec{
	{name: "help", desc: "Show the commands SmartCloudOps understands", ephemeral: true},
	{name: "status", desc: "Show the bot's status: sources, detector, rules, pending proposals"},
	{name: "incidents", desc: "List open incidents"},
	{name: "anomalies", desc: "List recent anomalies"},
	{name: "query", desc: "Run a PromQL query and chart the result", opts: []optSpec{
		{name: "promql", desc: "PromQL expression", required: true},
		{name: "range", desc: "Time range, for example 1h"},
	}},
	{name: "rules", desc: "Manage remediation rules", children: []subSpec{
		{name: "list", desc: "List rules"},
		{name: "show", desc: "Show a rule", opts: []optSpec{{name: "name", desc: "Rule name", required: true}}},
		{name: "test", desc: "Replay a rule over the last hour without proposing anything", opts: []optSpec{{name: "name", desc: "Rule name", required: true}}},
		{name: "enable", desc: "Enable a rule", opts: []optSpec{{name: "name", desc: "Rule name", required: true}}},
		{name: "disable", desc: "Disable a rule", opts: []optSpec{{name: "name", desc: "Rule name", required: true}}},
		{name: "sync", desc: "Load rules from the git checkout"},
	}},
	{name: "proposals", desc: "List remediation proposals waiting for a decision"},
	{name: "approve", desc: "Approve a remediation proposal", opts: []optSpec{
		{name: "id", desc: "Proposal ID, for example p-7f3a", required: true},
	}},
	{name: "reject", desc: "Reject a remediation proposal", opts: []optSpec{
		{name: "id", desc: "Proposal ID, for example p-7f3a", required: true},
		{name: "reason", desc: "Why the proposal is rejected"},
	}},
	{name: "run", desc: "Propose running an action by hand", opts: []optSpec{
		{name: "action", desc: "Action name", required: true},
		{name: "params", desc: "Parameters as key=value pairs separated by spaces", kv: true},
	}},
	{name: "silence", desc: "Silence matching incidents for a while", opts: []optSpec{
		{name: "matchers", desc: "Label matchers, for example service=web", required: true},
		{name: "duration", desc: "How long, for example 2h", required: true, keyword: "for"},
		{name: "comment", desc: "Why"},
	}},
	{name: "silences", desc: "List active silences"},
	{name: "unsilence", desc: "Remove a silence", opts: []optSpec{
		{name: "id", desc: "Silence ID", required: true},
	}},
	{name: "history", desc: "Show the audit history", opts: []optSpec{
		{name: "filter", desc: "Filter, for example rule=web-cpu-high"},
	}},
	{name: "pause", desc: "Stop every remediation from running until resume (proposals are still made)"},
	{name: "resume", desc: "Let approved remediations run again after a pause"},
	{name: "whoami", desc: "Show who the bot thinks you are and your roles", ephemeral: true},
}

// ApplicationCommand returns the /ops command definition the adapter registers with Discord.
func ApplicationCommand() *discordgo.ApplicationCommand {
	opts := make([]*discordgo.ApplicationCommandOption, 0, len(grammar))
	for _, s := range grammar {
		opts = append(opts, s.option())
	}
	return &discordgo.ApplicationCommand{
		Name:        CommandName,
		Type:        discordgo.ChatApplicationCommand,
		Description: "SmartCloudOps: incidents, rules, proposals and approvals",
		Options:     opts,
	}
}

func (s subSpec) option() *discordgo.ApplicationCommandOption {
	o := &discordgo.ApplicationCommandOption{Name: s.name, Description: s.desc, Type: discordgo.ApplicationCommandOptionSubCommand}
	if len(s.children) > 0 {
		o.Type = discordgo.ApplicationCommandOptionSubCommandGroup
		for _, c := range s.children {
			o.Options = append(o.Options, c.option())
		}
		return o
	}
	for _, p := range s.opts {
		o.Options = append(o.Options, &discordgo.ApplicationCommandOption{
			Type:        discordgo.ApplicationCommandOptionString,
			Name:        p.name,
			Description: p.desc,
			Required:    p.required,
			MaxLength:   maxOptionLen,
		})
	}
	return o
}

// CommandLine turns an /ops invocation back into the one-line command the console accepts,
// for example "approve p-7f3a" or "rules show web-cpu-high". Options are emitted in the
// grammar's order; a value containing spaces or quotes is wrapped in double quotes with \" and
// \\ escaped. Anything that does not match the registered command is an error naming the
// offending part; nothing in data can make it panic.
func CommandLine(data discordgo.ApplicationCommandInteractionData) (string, error) {
	if data.Name != CommandName {
		return "", fmt.Errorf("command %q: not %q", data.Name, "/"+CommandName)
	}
	sub, err := onlyOption(data.Options, "/"+CommandName)
	if err != nil {
		return "", err
	}
	spec, ok := findSpec(grammar, sub.Name)
	if !ok {
		return "", fmt.Errorf("/%s: unknown subcommand %q", CommandName, sub.Name)
	}
	words := []string{spec.name}
	if len(spec.children) > 0 {
		if sub.Type != discordgo.ApplicationCommandOptionSubCommandGroup {
			return "", fmt.Errorf("/%s %s: option type %d, want a subcommand group", CommandName, spec.name, sub.Type)
		}
		child, err := onlyOption(sub.Options, "/"+CommandName+" "+spec.name)
		if err != nil {
			return "", err
		}
		cspec, ok := findSpec(spec.children, child.Name)
		if !ok {
			return "", fmt.Errorf("/%s %s: unknown subcommand %q", CommandName, spec.name, child.Name)
		}
		sub, spec = child, cspec
		words = append(words, spec.name)
	}
	path := "/" + CommandName + " " + strings.Join(words, " ")
	if sub.Type != discordgo.ApplicationCommandOptionSubCommand {
		return "", fmt.Errorf("%s: option type %d, want a subcommand", path, sub.Type)
	}
	args, err := optionValues(path, spec, sub.Options)
	if err != nil {
		return "", err
	}
	return strings.Join(append(words, args...), " "), nil
}

func onlyOption(opts []*discordgo.ApplicationCommandInteractionDataOption, where string) (*discordgo.ApplicationCommandInteractionDataOption, error) {
	if len(opts) != 1 || opts[0] == nil {
		return nil, fmt.Errorf("%s: want exactly one subcommand, got %d options", where, len(opts))
	}
	return opts[0], nil
}

func findSpec(specs []subSpec, name string) (subSpec, bool) {
	for _, s := range specs {
		if s.name == name {
			return s, true
		}
	}
	return subSpec{}, false
}

func optionValues(path string, spec subSpec, given []*discordgo.ApplicationCommandInteractionDataOption) ([]string, error) {
	values := make(map[string]string, len(given))
	var errs []error
	for _, o := range given {
		if o == nil {
			errs = append(errs, fmt.Errorf("%s: empty option", path))
			continue
		}
		if !hasOpt(spec, o.Name) {
			errs = append(errs, fmt.Errorf("%s: unknown option %q", path, o.Name))
			continue
		}
		if _, dup := values[o.Name]; dup {
			errs = append(errs, fmt.Errorf("%s: option %q given twice", path, o.Name))
			continue
		}
		s, ok := o.Value.(string)
		if o.Type != discordgo.ApplicationCommandOptionString || !ok {
			errs = append(errs, fmt.Errorf("%s: option %q is not a string", path, o.Name))
			continue
		}
		values[o.Name] = strings.TrimSpace(s)
	}
	var args []string
	for _, p := range spec.opts {
		v, ok := values[p.name]
		if !ok || v == "" {
			if p.required {
				errs = append(errs, fmt.Errorf("%s: option %q is required", path, p.name))
			}
			continue
		}
		if err := checkValue(v, p); err != nil {
			errs = append(errs, fmt.Errorf("%s: option %q: %w", path, p.name, err))
			continue
		}
		if p.keyword != "" {
			args = append(args, p.keyword)
		}
		if !p.kv {
			args = append(args, quoteArg(v))
			continue
		}
		pairs, _ := commands.Split(v) // checkValue has parsed it
		for _, pair := range pairs {
			args = append(args, quoteArg(pair))
		}
	}
	if len(errs) > 0 {
		return nil, errors.Join(errs...)
	}
	return args, nil
}

func hasOpt(spec subSpec, name string) bool {
	for _, p := range spec.opts {
		if p.name == name {
			return true
		}
	}
	return false
}

func checkValue(v string, p optSpec) error {
	if !utf8.ValidString(v) {
		return errors.New("not valid UTF-8")
	}
	if n := utf8.RuneCountInString(v); n > maxOptionLen {
		return fmt.Errorf("%d characters, at most %d allowed", n, maxOptionLen)
	}
	for _, r := range v {
		if unicode.IsControl(r) {
			return fmt.Errorf("control character %U not allowed", r)
		}
	}
	if p.kv {
		pairs, err := commands.Split(v)
		if err != nil {
			return err
		}
		for _, pair := range pairs {
			if k, _, ok := strings.Cut(pair, "="); !ok || k == "" {
				return fmt.Errorf("%q is not a key=value pair", pair)
			}
		}
	}
	return nil
}

// quoteArg leaves a plain word alone and double-quotes anything with spaces or quotes, so the
// console's tokenizer reads it back as one argument.
func quoteArg(v string) string {
	if !strings.ContainsFunc(v, func(r rune) bool { return unicode.IsSpace(r) || r == '"' || r == '\'' || r == '\\' }) {
		return v
	}
	var b strings.Builder
	b.WriteByte('"')
	for _, r := range v {
		if r == '"' || r == '\\' {
			b.WriteByte('\\')
		}
		b.WriteRune(r)
	}
	b.WriteByte('"')
	return b.String()
}

// deferEphemeral reports whether an invocation's deferred answer should be private, decided
// before the Handler runs from the subcommand alone.
func deferEphemeral(data discordgo.ApplicationCommandInteractionData) bool {
	if len(data.Options) != 1 || data.Options[0] == nil {
		return true
	}
	s, ok := findSpec(grammar, data.Options[0].Name)
	return !ok || s.ephemeral
}
