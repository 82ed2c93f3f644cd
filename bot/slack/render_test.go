package slack

import (
	"bytes"
	"encoding/json"
	"flag"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"unicode/utf8"

	slackapi "github.com/slack-go/slack"

	"github.com/smartcloudops/smartcloudops/bot"
	"github.com/smartcloudops/smartcloudops/bot/internal/cardtest"
)

var update = flag.Bool("update", false, "rewrite the golden files in testdata")

func proposalCard() bot.Message {
	return bot.Message{
		Title:    "CPU high on api-7 (inc-3f2a)",
		Severity: bot.SeverityCritical,
		Text:     "cpu_usage has been above its expected band for 6m. Rule `scale-out-api` proposes a remediation.",
		Fields: []bot.Field{
			{Label: "value", Value: "97.2%"},
			{Label: "expected", Value: "35% – 60%"},
			{Label: "since", Value: "2026-03-01 10:42 UTC"},
		},
		Sections: []bot.Section{{
			Text:   "*Proposal p-42*: scale ASG api from 3 to 5 instances",
			Fields: []bot.Field{{Label: "rule", Value: "scale-out-api@4c1e9d2"}},
			Buttons: []bot.Button{
				{Action: bot.ActionApprove, Value: "p-42", Label: "Approve"},
				{Action: bot.ActionReject, Value: "p-42", Label: "Reject"},
				{Action: bot.ActionSilence, Value: "inc-3f2a", Label: "Silence 1h"},
			},
		}},
		Image:  &bot.Image{Name: "inc-3f2a.png", Alt: "cpu_usage over 1h with the anomaly marked", PNG: []byte{0x89, 'P', 'N', 'G'}},
		Footer: "SmartCloudOps · correlation c-91b2",
	}
}

func manyFields(n int) []bot.Field {
	out := make([]bot.Field, n)
	for i := range out {
		out[i] = bot.Field{Label: fmt.Sprintf("f%02d", i), Value: fmt.Sprintf("v%02d", i)}
	}
	return out
}

func manySections(n int) []bot.Section {
	out := make([]bot.Section, n)
	for i := range out {
		out[i] = bot.Section{Text: fmt.Sprintf("proposal p-%d", i),
			Buttons: []bot.Button{{Action: bot.ActionApprove, Value: fmt.Sprintf("p-%d", i)}}}
	}
	return out
}

func TestRender(t *testing.T) {
	tests := []struct {
		name string
		msg  bot.Message
		opts renderOptions
	}{
		{"proposal_card", proposalCard(), renderOptions{}},
		{"proposal_card_image_as_text", proposalCard(), renderOptions{imageAsText: true}},
		{"plain_reply", bot.Text("3 open incidents; 1 proposal waiting for approval"), renderOptions{}},
		{"warning_escaped", bot.Message{
			Title: "Latency <p99> & errors", Severity: bot.SeverityWarning,
			Text:   "p99 > 800ms while errors < 1% & rising; see <https://example.com|dashboard>",
			Footer: "rule latency-p99 & co",
		}, renderOptions{}},
		{"info_fields_only", bot.Message{Severity: bot.SeverityInfo, Fields: manyFields(23)}, renderOptions{}},
		{"long_texts_clipped", bot.Message{
			Title: strings.Repeat("T", 200),
			Text:  strings.Repeat("é", 2990) + strings.Repeat("&", 20),
			Sections: []bot.Section{{Buttons: []bot.Button{{
				Action: bot.ActionApprove, Value: strings.Repeat("v", 2100), Label: strings.Repeat("L", 90)}}}},
		}, renderOptions{}},
		{"repeated_actions", bot.Message{Title: "Two proposals", Sections: []bot.Section{{
			Text: "p-1 and p-2",
			Buttons: []bot.Button{
				{Action: bot.ActionApprove, Value: "p-1"}, {Action: bot.ActionReject, Value: "p-1"},
				{Action: bot.ActionApprove, Value: "p-2"}, {Action: bot.ActionReject, Value: "p-2"},
			},
		}}}, renderOptions{}},
		{"too_many_blocks", bot.Message{Title: "Grouped alerts", Severity: bot.SeverityWarning,
			Sections: manySections(30), Footer: "30 proposals"}, renderOptions{}},
	}
	for _, c := range cardtest.Cards() {
		tests = append(tests, struct {
			name string
			msg  bot.Message
			opts renderOptions
		}{c.Name, c.Msg, renderOptions{}})
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			p := render(tt.msg, tt.opts)
			if err := checkLimits(p); err != nil {
				t.Fatal(err)
			}
			var buf bytes.Buffer
			enc := json.NewEncoder(&buf)
			enc.SetEscapeHTML(false)
			enc.SetIndent("", "  ")
			if err := enc.Encode(p); err != nil {
				t.Fatal(err)
			}
			got := buf.Bytes()
			golden := filepath.Join("testdata", tt.name+".json")
			if *update {
				if err := os.WriteFile(golden, got, 0o644); err != nil {
					t.Fatal(err)
				}
			}
			want, err := os.ReadFile(golden)
			if err != nil {
				t.Fatalf("read golden file (run with -update to create it): %v", err)
			}
			if !bytes.Equal(got, want) {
				t.Errorf("render %s differs from %s (run with -update after checking):\n%s", tt.name, golden, got)
			}
			// Slack must be able to read what we send: the blocks round-trip through slack-go.
			var back slackapi.Blocks
			raw, _ := json.Marshal(p.Blocks)
			if err := json.Unmarshal(raw, &back); err != nil {
				t.Fatalf("blocks do not decode: %v", err)
			}
			if len(back.BlockSet) != len(p.Blocks) {
				t.Fatalf("decoded %d blocks, rendered %d", len(back.BlockSet), len(p.Blocks))
			}
		})
	}
}

// checkLimits reports the first Slack limit p breaks.
func checkLimits(p payload) error {
	if n := len(p.Blocks); n > maxBlocks {
		return fmt.Errorf("%d blocks, limit %d", n, maxBlocks)
	}
	if n := utf8.RuneCountInString(p.Text); n > maxFallbackText {
		return fmt.Errorf("fallback text has %d characters", n)
	}
	if !utf8.ValidString(p.Text) {
		return fmt.Errorf("fallback text is not UTF-8")
	}
	text := func(where string, o *slackapi.TextBlockObject, limit int) error {
		if o == nil {
			return nil
		}
		if n := utf8.RuneCountInString(o.Text); n > limit || n == 0 {
			return fmt.Errorf("%s text has %d characters, limit %d", where, n, limit)
		}
		if !utf8.ValidString(o.Text) {
			return fmt.Errorf("%s text is not UTF-8", where)
		}
		return nil
	}
	for i, b := range p.Blocks {
		where := fmt.Sprintf("block %d (%s)", i, b.BlockType())
		switch b := b.(type) {
		case *slackapi.HeaderBlock:
			if err := text(where, b.Text, maxHeaderText); err != nil {
				return err
			}
		case *slackapi.SectionBlock:
			if b.Text == nil && len(b.Fields) == 0 {
				return fmt.Errorf("%s is empty", where)
			}
			if err := text(where, b.Text, maxSectionText); err != nil {
				return err
			}
			if len(b.Fields) > maxFieldsPerBlock {
				return fmt.Errorf("%s has %d fields", where, len(b.Fields))
			}
			for _, f := range b.Fields {
				if err := text(where+" field", f, maxFieldText); err != nil {
					return err
				}
			}
		case *slackapi.ActionBlock:
			n := len(b.Elements.ElementSet)
			if n == 0 || n > maxActionsElements {
				return fmt.Errorf("%s has %d elements", where, n)
			}
			ids := map[string]bool{}
			for _, e := range b.Elements.ElementSet {
				btn, ok := e.(*slackapi.ButtonBlockElement)
				if !ok {
					return fmt.Errorf("%s holds a %T", where, e)
				}
				if ids[btn.ActionID] {
					return fmt.Errorf("%s repeats action_id %q", where, btn.ActionID)
				}
				ids[btn.ActionID] = true
				if btn.ActionID == "" || utf8.RuneCountInString(btn.ActionID) > maxActionID ||
					utf8.RuneCountInString(btn.Value) > maxButtonValue {
					return fmt.Errorf("%s button %q breaks a limit", where, btn.ActionID)
				}
				if err := text(where+" button", btn.Text, maxButtonText); err != nil {
					return err
				}
			}
		case *slackapi.ContextBlock:
			for _, e := range b.ContextElements.Elements {
				if o, ok := e.(*slackapi.TextBlockObject); ok {
					if err := text(where, o, maxContextText); err != nil {
						return err
					}
				}
			}
		default:
			return fmt.Errorf("%s: unexpected block type", where)
		}
	}
	return nil
}

func TestClip(t *testing.T) {
	tests := []struct {
		in   string
		n    int
		want string
	}{
		{"abc", 3, "abc"},
		{"abcd", 3, "ab…"},
		{"ééé", 2, "é…"},
		{"x", 0, ""},
		{"", 5, ""},
	}
	for _, tt := range tests {
		if got := clip(tt.in, tt.n); got != tt.want {
			t.Errorf("clip(%q, %d) = %q, want %q", tt.in, tt.n, got, tt.want)
		}
	}
	if got := clipEscaped("a&amp;b&amp;c", 9); got != "a&amp;b…" {
		t.Errorf("clipEscaped cut an entity: %q", got)
	}
}

func TestButtonStyleAndLabelDefaults(t *testing.T) {
	p := render(bot.Message{Sections: []bot.Section{{Buttons: []bot.Button{
		{Action: bot.ActionApprove, Value: "p-1"},
		{Action: bot.ActionReject, Value: "p-1"},
		{Action: bot.ActionSilence, Value: "i-1", Style: bot.StyleDanger},
		{Action: "", Value: "dropped"},
	}}}}, renderOptions{})
	if len(p.Blocks) != 1 {
		t.Fatalf("got %d blocks, want one actions block", len(p.Blocks))
	}
	els := p.Blocks[0].(*slackapi.ActionBlock).Elements.ElementSet
	want := []struct{ id, label, style string }{
		{"approve", "Approve", "primary"}, {"reject", "Reject", "danger"}, {"silence", "Silence", "danger"},
	}
	if len(els) != len(want) {
		t.Fatalf("got %d buttons, want %d", len(els), len(want))
	}
	for i, w := range want {
		b := els[i].(*slackapi.ButtonBlockElement)
		if b.ActionID != w.id || b.Text.Text != w.label || string(b.Style) != w.style {
			t.Errorf("button %d = %s/%s/%s, want %s/%s/%s", i, b.ActionID, b.Text.Text, b.Style, w.id, w.label, w.style)
		}
	}
}
