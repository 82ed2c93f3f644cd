package discord

import (
	"encoding/json"
	"strings"
	"testing"
	"unicode"

	"github.com/bwmarrin/discordgo"
)

// data builds the command data Discord sends, from the JSON of its options.
func data(t testing.TB, name, options string) discordgo.ApplicationCommandInteractionData {
	t.Helper()
	var d discordgo.ApplicationCommandInteractionData
	if err := json.Unmarshal([]byte(`{"id":"CMD1","type":1,"name":"`+name+`","options":`+options+`}`), &d); err != nil {
		t.Fatalf("bad test data %s: %v", options, err)
	}
	return d
}

func sub(name string, opts ...string) string {
	return `{"name":"` + name + `","type":1,"options":[` + strings.Join(opts, ",") + `]}`
}

func str(name, value string) string {
	v, _ := json.Marshal(value)
	return `{"name":"` + name + `","type":3,"value":` + string(v) + `}`
}

func TestCommandLine(t *testing.T) {
	t.Parallel()
	for _, tc := range []struct {
		name    string
		options string
		want    string
		wantErr string
	}{
		{name: "help", options: `[` + sub("help") + `]`, want: "help"},
		{name: "status", options: `[` + sub("status") + `]`, want: "status"},
		{name: "incidents", options: `[` + sub("incidents") + `]`, want: "incidents"},
		{name: "anomalies", options: `[` + sub("anomalies") + `]`, want: "anomalies"},
		{name: "query", options: `[` + sub("query", str("promql", "up"), str("range", "1h")) + `]`, want: "query up 1h"},
		{name: "query spaces", options: `[` + sub("query", str("promql", `rate(x{job="a"}[5m]) > 0.5`)) + `]`, want: `query "rate(x{job=\"a\"}[5m]) > 0.5"`},
		{name: "query options reordered", options: `[` + sub("query", str("range", "30m"), str("promql", "up")) + `]`, want: "query up 30m"},
		{name: "rules list", options: `[{"name":"rules","type":2,"options":[` + sub("list") + `]}]`, want: "rules list"},
		{name: "rules show", options: `[{"name":"rules","type":2,"options":[` + sub("show", str("name", "web-cpu-high")) + `]}]`, want: "rules show web-cpu-high"},
		{name: "rules test", options: `[{"name":"rules","type":2,"options":[` + sub("test", str("name", "web-cpu-high")) + `]}]`, want: "rules test web-cpu-high"},
		{name: "rules enable", options: `[{"name":"rules","type":2,"options":[` + sub("enable", str("name", "r1")) + `]}]`, want: "rules enable r1"},
		{name: "rules disable", options: `[{"name":"rules","type":2,"options":[` + sub("disable", str("name", "r1")) + `]}]`, want: "rules disable r1"},
		{name: "rules sync", options: `[{"name":"rules","type":2,"options":[` + sub("sync") + `]}]`, want: "rules sync"},
		{name: "proposals", options: `[` + sub("proposals") + `]`, want: "proposals"},
		{name: "approve", options: `[` + sub("approve", str("id", "p-7f3a")) + `]`, want: "approve p-7f3a"},
		{name: "approve trims", options: `[` + sub("approve", str("id", "  p-7f3a ")) + `]`, want: "approve p-7f3a"},
		{name: "reject", options: `[` + sub("reject", str("id", "p-7f3a")) + `]`, want: "reject p-7f3a"},
		{name: "reject reason", options: `[` + sub("reject", str("id", "p-7f3a"), str("reason", "too risky now")) + `]`, want: `reject p-7f3a "too risky now"`},
		{name: "run", options: `[` + sub("run", str("action", "restart-web")) + `]`, want: "run restart-web"},
		{name: "run params", options: `[` + sub("run", str("action", "scale"), str("params", "asg=web count=6")) + `]`, want: "run scale asg=web count=6"},
		{name: "run quoted param", options: `[` + sub("run", str("action", "scale"), str("params", `asg=web note="peak traffic"`)) + `]`, want: `run scale asg=web "note=peak traffic"`},
		{name: "silence", options: `[` + sub("silence", str("matchers", "service=web"), str("duration", "2h"), str("comment", "deploy")) + `]`, want: "silence service=web for 2h deploy"},
		{name: "silences", options: `[` + sub("silences") + `]`, want: "silences"},
		{name: "unsilence", options: `[` + sub("unsilence", str("id", "s-1")) + `]`, want: "unsilence s-1"},
		{name: "history", options: `[` + sub("history") + `]`, want: "history"},
		{name: "history filter", options: `[` + sub("history", str("filter", "rule=web-cpu-high")) + `]`, want: "history rule=web-cpu-high"},
		{name: "pause", options: `[` + sub("pause") + `]`, want: "pause"},
		{name: "resume", options: `[` + sub("resume") + `]`, want: "resume"},
		{name: "whoami", options: `[` + sub("whoami") + `]`, want: "whoami"},
		{name: "backslash quoted", options: `[` + sub("history", str("filter", `a\b`)) + `]`, want: `history "a\\b"`},

		{name: "other command", options: `[]`, wantErr: `command "deploy": not "/ops"`},
		{name: "no subcommand", options: `[]`, wantErr: "want exactly one subcommand, got 0"},
		{name: "two subcommands", options: `[` + sub("help") + `,` + sub("status") + `]`, wantErr: "got 2"},
		{name: "null subcommand", options: `[null]`, wantErr: "want exactly one subcommand"},
		{name: "unknown subcommand", options: `[` + sub("reboot") + `]`, wantErr: `unknown subcommand "reboot"`},
		{name: "missing required", options: `[` + sub("approve") + `]`, wantErr: `/ops approve: option "id" is required`},
		{name: "empty required", options: `[` + sub("approve", str("id", "  ")) + `]`, wantErr: `option "id" is required`},
		{name: "unknown option", options: `[` + sub("approve", str("id", "p-1"), str("force", "yes")) + `]`, wantErr: `unknown option "force"`},
		{name: "duplicate option", options: `[` + sub("approve", str("id", "p-1"), str("id", "p-2")) + `]`, wantErr: `option "id" given twice`},
		{name: "not a string", options: `[` + sub("approve", `{"name":"id","type":4,"value":7}`) + `]`, wantErr: `option "id" is not a string`},
		{name: "control character", options: `[` + sub("reject", str("id", "p-1"), str("reason", "a\nb")) + `]`, wantErr: "control character U+000A"},
		{name: "bad params", options: `[` + sub("run", str("action", "scale"), str("params", "asg=web six")) + `]`, wantErr: `"six" is not a key=value pair`},
		{name: "unterminated params", options: `[` + sub("run", str("action", "scale"), str("params", `note="peak`)) + `]`, wantErr: "unterminated quote"},
		{name: "group as subcommand", options: `[` + sub("rules") + `]`, wantErr: "want a subcommand group"},
		{name: "subcommand as group", options: `[{"name":"approve","type":2,"options":[]}]`, wantErr: "want a subcommand"},
		{name: "unknown rules subcommand", options: `[{"name":"rules","type":2,"options":[` + sub("drop") + `]}]`, wantErr: `/ops rules: unknown subcommand "drop"`},
		{name: "too long", options: `[` + sub("history", str("filter", strings.Repeat("x", 1001))) + `]`, wantErr: "1001 characters"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			name := "ops"
			if tc.name == "other command" {
				name = "deploy"
			}
			got, err := CommandLine(data(t, name, tc.options))
			if tc.wantErr != "" {
				if err == nil || !strings.Contains(err.Error(), tc.wantErr) {
					t.Fatalf("CommandLine = %q, %v; want error containing %q", got, err, tc.wantErr)
				}
				return
			}
			if err != nil || got != tc.want {
				t.Fatalf("CommandLine = %q, %v; want %q", got, err, tc.want)
			}
		})
	}
}

// TestGrammarCoversCommand checks the registered command and the grammar agree with
// Discord's structural limits.
func TestGrammarCoversCommand(t *testing.T) {
	t.Parallel()
	cmd := ApplicationCommand()
	if len(cmd.Options) > 25 {
		t.Fatalf("%d subcommands, Discord allows 25", len(cmd.Options))
	}
	var walk func(prefix string, opts []*discordgo.ApplicationCommandOption)
	walk = func(prefix string, opts []*discordgo.ApplicationCommandOption) {
		for _, o := range opts {
			if o.Name != strings.ToLower(o.Name) || len(o.Name) > 32 || o.Description == "" || len(o.Description) > 100 {
				t.Errorf("%s%s: bad name or description", prefix, o.Name)
			}
			walk(prefix+o.Name+" ", o.Options)
		}
	}
	walk("/ops ", cmd.Options)
}

func FuzzCommandLine(f *testing.F) {
	f.Add(`{"name":"ops","options":[` + sub("approve", str("id", "p-7f3a")) + `]}`)
	f.Add(`{"name":"ops","options":[{"name":"rules","type":2,"options":[` + sub("show", str("name", "x")) + `]}]}`)
	f.Add(`{"name":"ops","options":[` + sub("run", str("action", "a"), str("params", `k="v w"`)) + `]}`)
	f.Add(`{"name":"ops","options":[` + sub("query", str("promql", `sum by (a) (x)`), str("range", "1h")) + `]}`)
	f.Add(`{"name":"ops","options":[{"name":"rules","type":2,"options":[null]}]}`)
	f.Add(`{"name":"ops","options":[{"name":"approve","type":1,"options":[{"name":"id","type":3,"value":["x"]}]}]}`)
	f.Fuzz(func(t *testing.T, raw string) {
		var d discordgo.ApplicationCommandInteractionData
		if json.Unmarshal([]byte(raw), &d) != nil {
			return
		}
		line, err := CommandLine(d)
		_ = deferEphemeral(d)
		if err != nil {
			return
		}
		if line == "" || strings.ContainsFunc(line, unicode.IsControl) {
			t.Fatalf("CommandLine = %q: empty or with control characters", line)
		}
		first, _, _ := strings.Cut(line, " ")
		if _, ok := findSpec(grammar, first); !ok {
			t.Fatalf("CommandLine = %q starts with an unknown command", line)
		}
	})
}
