package discord_test

import (
	"context"
	"encoding/json"
	"strings"
	"testing"
	"time"

	"github.com/bwmarrin/discordgo"

	"github.com/smartcloudops/smartcloudops/bot"
	"github.com/smartcloudops/smartcloudops/bot/discord"
	"github.com/smartcloudops/smartcloudops/commands"
	"github.com/smartcloudops/smartcloudops/incident"
	"github.com/smartcloudops/smartcloudops/internal/obs"
	"github.com/smartcloudops/smartcloudops/internal/store"
	"github.com/smartcloudops/smartcloudops/remediation"
	"github.com/smartcloudops/smartcloudops/remediation/audit"
)

// scaleAction takes two parameters, so a line that merges them is caught.
type scaleAction struct{}

func (scaleAction) Name() string { return "scale" }
func (scaleAction) Schema() remediation.Schema {
	return remediation.Schema{{Name: "asg", Type: remediation.TypeString, Required: true}, {Name: "count", Type: remediation.TypeString, Required: true}}
}
func (scaleAction) Target(p remediation.Params) string { return "asg/" + p.String("asg") }
func (scaleAction) Describe(_ context.Context, p remediation.Params) (string, error) {
	return "scale " + p.String("asg") + " to " + p.String("count"), nil
}
func (scaleAction) Execute(context.Context, remediation.Params) (remediation.Result, error) {
	return remediation.Result{}, nil
}

type recordingQuerier struct{ got []string }

func (q *recordingQuerier) Query(_ context.Context, promql string, rng time.Duration) (bot.Message, error) {
	q.got = append(q.got, promql+" over "+rng.String())
	return bot.Text("ok"), nil
}

// TestSlashCommandsReachTheRouter sends the lines CommandLine builds through the real command
// router, so the Discord grammar cannot drift from the one the console and Slack accept.
func TestSlashCommandsReachTheRouter(t *testing.T) {
	st := store.NewMemory()
	al, err := audit.New(audit.Options{Store: st})
	if err != nil {
		t.Fatal(err)
	}
	inc, err := incident.New(incident.Options{Store: st})
	if err != nil {
		t.Fatal(err)
	}
	mg, err := remediation.New(remediation.Options{Store: st, Audit: al,
		Actions: func(n string) (remediation.Action, bool) { return scaleAction{}, n == "scale" }})
	if err != nil {
		t.Fatal(err)
	}
	q := &recordingQuerier{}
	r, err := commands.New(commands.Options{Incidents: inc, Proposals: mg, Audit: al, Logger: obs.Discard(), Querier: q,
		Roles: func(bot.User) []string { return []string{commands.RoleOperator} }})
	if err != nil {
		t.Fatal(err)
	}
	for _, tc := range []struct{ name, options, want string }{
		{"silence", `[{"name":"silence","type":1,"options":[{"name":"matchers","type":3,"value":"service=web"},{"name":"duration","type":3,"value":"2h"},{"name":"comment","type":3,"value":"deploy window"}]}]`, "Silenced"},
		{"run with two params", `[{"name":"run","type":1,"options":[{"name":"action","type":3,"value":"scale"},{"name":"params","type":3,"value":"asg=web count=6"}]}]`, "scale web to 6"},
		{"query with spaces and quotes", `[{"name":"query","type":1,"options":[{"name":"promql","type":3,"value":"sum by (job) (up{job=\"api\"})"},{"name":"range","type":3,"value":"30m"}]}]`, "ok"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			var d discordgo.ApplicationCommandInteractionData
			if err := json.Unmarshal([]byte(`{"name":"ops","options":`+tc.options+`}`), &d); err != nil {
				t.Fatal(err)
			}
			line, err := discord.CommandLine(d)
			if err != nil {
				t.Fatal(err)
			}
			reply := r.Handle(context.Background(), bot.Event{Kind: bot.EventCommand, User: bot.User{Platform: "discord", ID: "1", Name: "op"}, Text: line})
			if !strings.Contains(reply.Text, tc.want) {
				t.Fatalf("line %q: reply %q, want it to contain %q", line, reply.Text, tc.want)
			}
		})
	}
	if want := []string{`sum by (job) (up{job="api"}) over 30m0s`}; strings.Join(q.got, "\n") != strings.Join(want, "\n") {
		t.Errorf("Prometheus got %q, want %q", q.got, want)
	}
}
