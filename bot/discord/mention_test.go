package discord

import (
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
