package discord

import (
	"strings"
	"testing"
	"time"

	"github.com/smartcloudops/smartcloudops/bot"
)

// TestRenderMentions checks that a Discord user a card names is shown as a <@id> mention in
// the embed's description and fields, while a Slack user stays a name.
func TestRenderMentions(t *testing.T) {
	m := bot.Message{
		Title:    "CPU high",
		Sections: []bot.Section{{Text: "Proposal p-1 asked by discord:Bob", Fields: []bot.Field{{Label: "state", Value: "approved by discord:Bob, seconded by slack:alice"}}}},
		Mentions: []bot.Mention{{Text: "slack:alice", Platform: "slack", ID: "U2"}, {Text: "discord:Bob", Platform: "discord", ID: "42"}},
	}
	p, err := render(m, time.Now())
	if err != nil {
		t.Fatal(err)
	}
	e := p.embeds[0]
	if e.Description != "Proposal p-1 asked by <@42>" || e.Fields[0].Value != "approved by <@42>, seconded by slack:alice" {
		t.Errorf("description %q, field %q", e.Description, e.Fields[0].Value)
	}
}

// TestRenderCode checks that text laid out in columns is fenced as a code block, as message
// content when it fits and in the embed's description when it is longer.
func TestRenderCode(t *testing.T) {
	text := "Commands:\n  approve <proposal>   approve a pending proposal\n  help [command]       list the commands\n"
	p, err := render(bot.Message{Text: text, Code: true}, time.Now())
	if err != nil {
		t.Fatal(err)
	}
	want := "```\nCommands:\n  approve <proposal>   approve a pending proposal\n  help [command]       list the commands\n```"
	if p.content != want {
		t.Errorf("content %q, want %q", p.content, want)
	}
	long := text + strings.Repeat("  x                    padding to pass the content limit\n", 50)
	if p, err = render(bot.Message{Text: long, Code: true}, time.Now()); err != nil {
		t.Fatal(err)
	}
	if len(p.embeds) != 1 || !strings.HasPrefix(p.embeds[0].Description, "```\nCommands:\n  approve") || !strings.HasSuffix(p.embeds[0].Description, "\n```") {
		t.Errorf("long code text rendered as content %q, embeds %+v", p.content, p.embeds)
	}
}
