package slack

import (
	"fmt"
	"strings"
	"unicode"
	"unicode/utf8"

	slackapi "github.com/slack-go/slack"

	"github.com/smartcloudops/smartcloudops/bot"
)

// Block Kit limits (https://docs.slack.dev/reference/block-kit). Texts are clipped to them
// with an ellipsis instead of being rejected by Slack.
const (
	maxBlocks          = 50
	maxHeaderText      = 150
	maxSectionText     = 3000
	maxFieldText       = 2000
	maxFieldsPerBlock  = 10
	maxButtonText      = 75
	maxButtonValue     = 2000
	maxActionID        = 255
	maxActionsElements = 25
	maxContextText     = 3000
	maxFallbackText    = 3000
)

const ellipsis = "…"

// severityMarker is the emoji a card's header starts with, so severity reads at a glance.
var severityMarker = map[bot.Severity]string{
	bot.SeverityCritical: ":red_circle:",
	bot.SeverityWarning:  ":large_orange_circle:",
	bot.SeverityInfo:     ":large_blue_circle:",
}

// payload is what render produces: the notification fallback text and the blocks.
type payload struct {
	Text   string           `json:"text"`
	Blocks []slackapi.Block `json:"blocks"`
}

// renderOptions adjusts rendering to where the message goes.
type renderOptions struct {
	// imageAsText adds the image's alt text as a context line, for messages whose image
	// cannot be uploaded (ephemeral replies, response_url replies, edits).
	imageAsText bool
}

// render turns a platform-neutral message into Block Kit. It never fails: text beyond a
// Slack limit is clipped, and blocks beyond 50 are dropped (text blocks first, buttons last)
// with a note saying how many were left out.
func render(m bot.Message, o renderOptions) payload {
	var blocks []slackapi.Block
	if m.Title != "" {
		title := m.Title
		if mk := severityMarker[m.Severity]; mk != "" {
			title = mk + " " + title
		}
		blocks = append(blocks, slackapi.NewHeaderBlock(plain(title, maxHeaderText)))
	}
	if m.Text != "" {
		blocks = append(blocks, section(m.Text, nil)...)
	}
	if len(m.Fields) > 0 {
		blocks = append(blocks, section("", m.Fields)...)
	}
	for _, s := range m.Sections {
		blocks = append(blocks, section(s.Text, s.Fields)...)
		blocks = append(blocks, actions(s.Buttons)...)
	}
	if o.imageAsText && m.Image != nil {
		alt := m.Image.Alt
		if alt == "" {
			alt = m.Image.Name
		}
		if alt != "" {
			blocks = append(blocks, contextBlock(":frame_with_picture: "+escapeClip(alt, maxContextText)))
		}
	}
	if m.Footer != "" {
		blocks = append(blocks, contextBlock(escapeClip(m.Footer, maxContextText)))
	}
	return payload{Text: fallback(m), Blocks: fitBlocks(blocks)}
}

// fallback is the plain text Slack shows in notifications and on clients without Block Kit.
func fallback(m bot.Message) string {
	var parts []string
	head := m.Title
	if m.Severity != "" && head != "" {
		head = "[" + strings.ToUpper(string(m.Severity)) + "] " + head
	}
	if head != "" {
		parts = append(parts, head)
	}
	if m.Text != "" {
		parts = append(parts, m.Text)
	}
	if len(parts) == 0 {
		for _, f := range m.Fields {
			parts = append(parts, f.Label+": "+f.Value)
		}
	}
	if len(parts) == 0 {
		for _, s := range m.Sections {
			if s.Text != "" {
				parts = append(parts, s.Text)
				break
			}
		}
	}
	if len(parts) == 0 && m.Image != nil {
		parts = append(parts, m.Image.Alt)
	}
	return escapeClip(strings.Join(parts, "\n"), maxFallbackText)
}

// section renders text and fields as one or more section blocks (at most ten fields each).
func section(text string, fields []bot.Field) []slackapi.Block {
	var out []slackapi.Block
	var txt *slackapi.TextBlockObject
	if strings.TrimSpace(text) != "" {
		txt = mrkdwn(escapeClip(text, maxSectionText))
	}
	var objs []*slackapi.TextBlockObject
	for _, f := range fields {
		if f.Label == "" && f.Value == "" {
			continue
		}
		label, value := escapeClip(f.Label, maxFieldText), escapeClip(f.Value, maxFieldText)
		var s string
		switch {
		case f.Label == "":
			s = value
		case f.Value == "":
			s = "*" + label + "*"
		default:
			s = "*" + label + "*\n" + value
		}
		objs = append(objs, mrkdwn(clipEscaped(s, maxFieldText)))
	}
	for txt != nil || len(objs) > 0 {
		n := min(len(objs), maxFieldsPerBlock)
		var chunk []*slackapi.TextBlockObject
		if n > 0 {
			chunk = objs[:n]
		}
		out = append(out, slackapi.NewSectionBlock(txt, chunk, nil))
		txt, objs = nil, objs[n:]
	}
	return out
}

// actions renders buttons as actions blocks. Slack wants action_ids unique within a block,
// and cards can carry several buttons with the same action (Approve for two proposals), so a
// repeated action starts a new block.
func actions(buttons []bot.Button) []slackapi.Block {
	var out []slackapi.Block
	var cur []slackapi.BlockElement
	used := map[string]bool{}
	flush := func() {
		if len(cur) > 0 {
			out = append(out, slackapi.NewActionBlock("", cur...))
		}
		cur, used = nil, map[string]bool{}
	}
	for _, b := range buttons {
		if b.Action == "" {
			continue
		}
		id := clip(b.Action, maxActionID)
		if used[id] || len(cur) == maxActionsElements {
			flush()
		}
		used[id] = true
		label := b.Label
		if label == "" {
			r, size := utf8.DecodeRuneInString(b.Action)
			label = string(unicode.ToUpper(r)) + b.Action[size:]
		}
		el := slackapi.NewButtonBlockElement(id, clip(b.Value, maxButtonValue), plain(label, maxButtonText))
		el.Style = buttonStyle(b)
		cur = append(cur, el)
	}
	flush()
	return out
}

func buttonStyle(b bot.Button) slackapi.Style {
	switch b.Style {
	case bot.StylePrimary:
		return slackapi.StylePrimary
	case bot.StyleDanger:
		return slackapi.StyleDanger
	}
	switch b.Action {
	case bot.ActionApprove:
		return slackapi.StylePrimary
	case bot.ActionReject:
		return slackapi.StyleDanger
	}
	return slackapi.StyleDefault
}

func contextBlock(escapedText string) slackapi.Block {
	return slackapi.NewContextBlock("", mrkdwn(clipEscaped(escapedText, maxContextText)))
}

// fitBlocks keeps at most maxBlocks blocks. Text blocks go first, from the end; buttons are
// what people act on, so actions blocks and the header are kept when possible.
func fitBlocks(blocks []slackapi.Block) []slackapi.Block {
	if len(blocks) <= maxBlocks {
		return blocks
	}
	drop := len(blocks) - (maxBlocks - 1) // room for the note
	omitted := 0
	keep := make([]bool, len(blocks))
	for i := range keep {
		keep[i] = true
	}
	for i := len(blocks) - 1; i > 0 && drop > 0; i-- {
		switch blocks[i].BlockType() {
		case slackapi.MBTSection, slackapi.MBTContext:
			keep[i] = false
			drop--
			omitted++
		}
	}
	var out []slackapi.Block
	for i, b := range blocks {
		if keep[i] {
			out = append(out, b)
		}
	}
	if len(out) > maxBlocks-1 {
		omitted += len(out) - (maxBlocks - 1)
		out = out[:maxBlocks-1]
	}
	return append(out, contextBlock(fmt.Sprintf("_%d more blocks not shown_", omitted)))
}

func plain(s string, n int) *slackapi.TextBlockObject {
	return slackapi.NewTextBlockObject(slackapi.PlainTextType, clip(s, n), true, false)
}

func mrkdwn(s string) *slackapi.TextBlockObject {
	return slackapi.NewTextBlockObject(slackapi.MarkdownType, s, false, false)
}

var escaper = strings.NewReplacer("&", "&amp;", "<", "&lt;", ">", "&gt;")

// escape makes text safe for mrkdwn: Slack reads <…> as links and mentions, so the three
// control characters are entity-encoded as Slack asks.
func escape(s string) string { return escaper.Replace(s) }

// escapeClip escapes s and clips the result to n characters. Escaping only lengthens text,
// so s is clipped first to keep the work proportional to n.
func escapeClip(s string, n int) string { return clipEscaped(escape(clip(s, n)), n) }

// clip shortens s to at most n characters, ending in an ellipsis when it cut, and never
// splits a UTF-8 sequence.
func clip(s string, n int) string {
	if n <= 0 {
		return ""
	}
	count, cut := 0, 0
	for i := range s {
		if count == n-1 {
			cut = i
		}
		if count == n {
			return s[:cut] + ellipsis
		}
		count++
	}
	return s
}

// clipEscaped clips already escaped text without leaving half an entity such as "&am".
func clipEscaped(s string, n int) string {
	c := clip(s, n)
	if c == s {
		return c
	}
	body := strings.TrimSuffix(c, ellipsis)
	if amp := strings.LastIndexByte(body, '&'); amp >= 0 && !strings.Contains(body[amp:], ";") {
		body = body[:amp]
	}
	return body + ellipsis
}
