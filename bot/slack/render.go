package slack

import (
	"fmt"
	"slices"
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
// Slack limit is clipped, and when there are more than 50 blocks the last sections are left out
// whole, with their buttons, and a note says how many (see fitBlocks).
func render(m bot.Message, o renderOptions) payload {
	var head, tail []slackapi.Block
	if m.Title != "" {
		title := m.Title
		if mk := severityMarker[m.Severity]; mk != "" {
			title = mk + " " + title
		}
		head = append(head, slackapi.NewHeaderBlock(plain(title, maxHeaderText)))
	}
	switch {
	case m.Text != "" && m.Code:
		head = append(head, slackapi.NewSectionBlock(mrkdwn("```"+escapeClip(m.Text, maxSectionText-6)+"```"), nil, nil))
	case m.Text != "":
		head = append(head, section(m.Text, nil)...)
	}
	if len(m.Fields) > 0 {
		head = append(head, section("", m.Fields)...)
	}
	sections := make([][]slackapi.Block, 0, len(m.Sections))
	for _, s := range m.Sections {
		sections = append(sections, append(section(s.Text, s.Fields), actions(s.Buttons)...))
	}
	if o.imageAsText && m.Image != nil {
		alt := m.Image.Alt
		if alt == "" {
			alt = m.Image.Name
		}
		if alt != "" {
			tail = append(tail, contextBlock(":frame_with_picture: "+escapeClip(alt, maxContextText)))
		}
	}
	if m.Footer != "" {
		tail = append(tail, contextBlock(escapeClip(m.Footer, maxContextText)))
	}
	blocks := fitBlocks(head, sections, tail)
	mention(blocks, m.Mentions)
	return payload{Text: fallback(m), Blocks: blocks}
}

// mention turns the names of Slack users in the mrkdwn texts of blocks into mentions
// (<@U…>), which Slack shows with the person's current display name. Headers are plain text
// and keep the name.
func mention(blocks []slackapi.Block, ms []bot.Mention) {
	var pairs []string
	for _, m := range ms {
		if m.Platform == platform && m.ID != "" && m.Text != "" {
			pairs = append(pairs, escape(m.Text), "<@"+m.ID+">")
		}
	}
	if len(pairs) == 0 {
		return
	}
	r := strings.NewReplacer(pairs...)
	text := func(t *slackapi.TextBlockObject) {
		if t != nil && t.Type == slackapi.MarkdownType {
			t.Text = r.Replace(t.Text)
		}
	}
	for _, b := range blocks {
		switch b := b.(type) {
		case *slackapi.SectionBlock:
			text(b.Text)
			for _, f := range b.Fields {
				text(f)
			}
		case *slackapi.ContextBlock:
			for _, el := range b.ContextElements.Elements {
				if t, ok := el.(*slackapi.TextBlockObject); ok {
					text(t)
				}
			}
		}
	}
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

// fitBlocks joins the head, the sections and the tail, keeping at most maxBlocks blocks. When
// they do not all fit, sections are left out whole from the end, never their text without their
// buttons or the reverse: a button must always sit under what it acts on. A note saying how
// many were left out, and how to reach them, takes the place of the last block.
func fitBlocks(head []slackapi.Block, sections [][]slackapi.Block, tail []slackapi.Block) []slackapi.Block {
	total := len(head) + len(tail)
	for _, s := range sections {
		total += len(s)
	}
	out := slices.Clone(head)
	if total <= maxBlocks {
		for _, s := range sections {
			out = append(out, s...)
		}
		return append(out, tail...)
	}
	room := maxBlocks - 1 - len(head) - len(tail) // one block for the note
	kept := 0
	for kept < len(sections) && len(sections[kept]) <= room {
		room -= len(sections[kept])
		out = append(out, sections[kept]...)
		kept++
	}
	buttons := false
	for _, s := range sections[kept:] {
		for _, b := range s {
			buttons = buttons || b.BlockType() == slackapi.MBTAction
		}
	}
	note := fmt.Sprintf("_%d more sections not shown_", len(sections)-kept)
	if buttons {
		note = fmt.Sprintf("_%d more sections not shown; type `incidents` or `proposals` to act on them_", len(sections)-kept)
	}
	out = append(append(out, contextBlock(note)), tail...)
	if len(out) > maxBlocks {
		// Only a head or tail too long on its own gets here; Slack would refuse it whole.
		out = out[:maxBlocks]
	}
	return out
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
