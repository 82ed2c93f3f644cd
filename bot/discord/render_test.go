package discord

import (
	"bytes"
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"unicode/utf8"

	"github.com/bwmarrin/discordgo"

	"github.com/smartcloudops/smartcloudops/bot"
	"github.com/smartcloudops/smartcloudops/bot/internal/cardtest"
	"github.com/smartcloudops/smartcloudops/incident"
)

var renderCases = []struct {
	name string
	msg  bot.Message
}{
	{"plain_reply", bot.Text("Paused automatic proposals. Resume with /ops resume.")},
	{"alert_card", bot.Message{
		Title:    "web-asg CPU 97.2% (expected 35-60%)",
		Severity: bot.SeverityCritical,
		Text:     "Anomaly score 0.98 on `node_cpu_seconds_total` for 12m.",
		Fields:   []bot.Field{{Label: "incident", Value: "inc-3f2a"}, {Label: "value", Value: "97.2"}, {Label: "expected", Value: "35 to 60"}},
		Sections: []bot.Section{{Text: "Silence it if this is planned.", Buttons: []bot.Button{
			{Action: bot.ActionSilence, Value: "inc-3f2a", Label: "Silence 1h"},
		}}},
		Image:  &bot.Image{Name: "inc 3f2a.PNG", Alt: "CPU chart", PNG: []byte("\x89PNG")},
		Footer: "rule web-cpu-high @ 4c1d9e2 · ref c-5f1e2a9b0c",
	}},
	{"proposal_card", bot.Message{
		Title:    "Proposal p-7f3a: scale web-asg 4 → 6",
		Severity: bot.SeverityWarning,
		Sections: []bot.Section{
			{Text: "Requested by rule web-cpu-high.", Fields: []bot.Field{{Label: "action", Value: "aws.autoscaling.set_desired"}, {Label: "params", Value: "asg=web-asg\ndesired=6"}}},
			{Buttons: []bot.Button{
				{Action: bot.ActionApprove, Value: "p-7f3a", Label: "Approve", Style: bot.StylePrimary},
				{Action: bot.ActionReject, Value: "p-7f3a", Label: "Reject", Style: bot.StyleDanger},
			}},
		},
	}},
	{"info_fields_only", bot.Message{Severity: bot.SeverityInfo, Fields: []bot.Field{{Label: "", Value: ""}, {Label: "user", Value: "discord:alice"}}}},
	{"many_buttons", bot.Message{Text: "Pick", Sections: []bot.Section{{Buttons: func() []bot.Button {
		var bs []bot.Button
		for _, id := range []string{"p-1", "p-2", "p-3", "p-4", "p-5", "p-6"} {
			bs = append(bs, bot.Button{Action: bot.ActionApprove, Value: id})
		}
		return bs
	}()}}}},
	// A burst of six open incidents: each has its own Silence row, and Discord allows five.
	{"grouped_six", func() bot.Message {
		var items []bot.CardItem
		for i := range 6 {
			items = append(items, bot.CardItem{Incident: incident.Incident{ID: fmt.Sprintf("inc-%d", i+1), Title: "web CPU high",
				State: incident.StateOpen, Severity: "warning", Source: incident.SourceAlertmanager, Since: fixedNow}})
		}
		return bot.GroupCard(bot.Group{ID: "g-1", Items: items})
	}()},
	{"long_text", bot.Message{Title: strings.Repeat("T", 300), Text: strings.Repeat("word ", 1000), Fields: func() []bot.Field {
		var fs []bot.Field
		for i := 0; i < 30; i++ {
			fs = append(fs, bot.Field{Label: "f", Value: strings.Repeat("v", 1100)})
		}
		return fs
	}()}},
}

// TestRender compares each rendered card with testdata/render/<name>.json. Refresh with -update.
func TestRender(t *testing.T) {
	t.Parallel()
	cases := renderCases
	for _, c := range cardtest.Cards() {
		cases = append(cases, struct {
			name string
			msg  bot.Message
		}{c.Name, c.Msg})
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			p, err := render(tc.msg, fixedNow)
			if err != nil {
				t.Fatal(err)
			}
			send := p.messageSend(nil)
			var files []string
			for _, f := range send.Files {
				files = append(files, f.Name+" "+f.ContentType)
			}
			got, err := json.MarshalIndent(struct {
				Message *discordgo.MessageSend `json:"message"`
				Files   []string               `json:"files,omitempty"`
			}{send, files}, "", "  ")
			if err != nil {
				t.Fatal(err)
			}
			got = append(got, '\n')
			path := filepath.Join("testdata", "render", tc.name+".json")
			if *update {
				if err := os.MkdirAll(filepath.Dir(path), 0o755); err != nil {
					t.Fatal(err)
				}
				if err := os.WriteFile(path, got, 0o644); err != nil {
					t.Fatal(err)
				}
			}
			want, err := os.ReadFile(path)
			if err != nil {
				t.Fatalf("%v (run with -update to create it)", err)
			}
			if !bytes.Equal(got, want) {
				t.Errorf("%s differs from the golden file (run with -update after checking):\n%s", path, got)
			}
			checkLimits(t, p)
		})
	}
}

// checkLimits asserts Discord's size limits whatever the golden file says.
func checkLimits(t *testing.T, p payload) {
	t.Helper()
	if n := utf8.RuneCountInString(p.content); n > maxContent {
		t.Errorf("content has %d characters", n)
	}
	for _, e := range p.embeds {
		total := utf8.RuneCountInString(e.Title) + utf8.RuneCountInString(e.Description)
		if utf8.RuneCountInString(e.Title) > maxTitle || utf8.RuneCountInString(e.Description) > maxDescription || len(e.Fields) > maxFields {
			t.Errorf("embed over a per-part limit")
		}
		for _, f := range e.Fields {
			total += utf8.RuneCountInString(f.Name) + utf8.RuneCountInString(f.Value)
			if f.Name == "" || f.Value == "" || utf8.RuneCountInString(f.Value) > maxFieldValue {
				t.Errorf("bad field %+v", f)
			}
		}
		if total > maxEmbedTotal {
			t.Errorf("embed has %d characters in total", total)
		}
	}
	if len(p.components) > maxRows {
		t.Errorf("%d rows", len(p.components))
	}
	for _, r := range p.components {
		if n := len(r.(discordgo.ActionsRow).Components); n > maxRowButtons {
			t.Errorf("row with %d buttons", n)
		}
	}
}

func TestRenderErrors(t *testing.T) {
	t.Parallel()
	many := make([]bot.Button, 26)
	for i := range many {
		many[i] = bot.Button{Action: bot.ActionApprove, Value: "p-" + string(rune('a'+i))}
	}
	for _, tc := range []struct {
		name string
		msg  bot.Message
		want string
	}{
		{"duplicate button", bot.Message{Text: "x", Sections: []bot.Section{{Buttons: []bot.Button{many[0], many[0]}}}}, "used twice"},
		{"bad action", bot.Message{Text: "x", Sections: []bot.Section{{Buttons: []bot.Button{{Action: "deploy", Value: "x"}}}}}, "unknown action"},
	} {
		if _, err := render(tc.msg, fixedNow); err == nil || !strings.Contains(err.Error(), tc.want) {
			t.Errorf("%s: %v, want %q", tc.name, err, tc.want)
		}
	}
}
