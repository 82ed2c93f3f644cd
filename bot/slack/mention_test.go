package slack

import (
	"encoding/json"
	"strings"
	"testing"

	"github.com/smartcloudops/smartcloudops/bot"
)

// TestRenderMentions checks that a Slack user a card names is shown as a <@U…> mention in
// mrkdwn text, while the plain-text header keeps the name and a Discord user stays a name.
func TestRenderMentions(t *testing.T) {
	m := bot.Message{
		Title:    "Manual run requested by slack:alice",
		Sections: []bot.Section{{Text: "Proposal p-1: restart web", Fields: []bot.Field{{Label: "state", Value: "approved by slack:alice at 10:00:00 UTC"}}}},
		Footer:   "asked by discord:Bob, approved by slack:alice",
		Mentions: []bot.Mention{{Text: "slack:alice", Platform: "slack", ID: "U2"}, {Text: "discord:Bob", Platform: "discord", ID: "42"}},
	}
	b, err := json.Marshal(render(m, renderOptions{}).Blocks)
	if err != nil {
		t.Fatal(err)
	}
	got := string(b)
	for _, want := range []string{`"text":"Manual run requested by slack:alice"`, `approved by \u003c@U2\u003e at 10:00:00 UTC`, `asked by discord:Bob, approved by \u003c@U2\u003e`} {
		if !strings.Contains(got, want) {
			t.Errorf("blocks lack %s:\n%s", want, got)
		}
	}
}
