package slack

import (
	"encoding/json"
	"strings"
	"testing"

	slackapi "github.com/slack-go/slack"

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

// TestRenderCode checks that text laid out in columns is shown in a code block, whose
// monospace font keeps the columns, with Slack's escapes still applied inside it.
func TestRenderCode(t *testing.T) {
	text := "Commands:\n  approve <proposal>   approve a pending proposal\n  help [command]       list the commands"
	p := render(bot.Message{Text: text, Code: true}, renderOptions{})
	sec, ok := p.Blocks[0].(*slackapi.SectionBlock)
	if !ok || sec.Text == nil {
		t.Fatalf("first block %T, want a section", p.Blocks[0])
	}
	want := "```Commands:\n  approve &lt;proposal&gt;   approve a pending proposal\n  help [command]       list the commands```"
	if sec.Text.Text != want || sec.Text.Type != slackapi.MarkdownType {
		t.Errorf("section text %q (%s), want %q", sec.Text.Text, sec.Text.Type, want)
	}
}
