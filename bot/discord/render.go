package discord

import (
	"bytes"
	"fmt"
	"slices"
	"strings"
	"time"
	"unicode/utf8"

	"github.com/bwmarrin/discordgo"

	"github.com/smartcloudops/smartcloudops/bot"
)

// Discord's limits on messages and embeds.
const (
	maxContent      = 2000
	maxTitle        = 256
	maxDescription  = 4096
	maxFields       = 25
	maxFieldName    = 256
	maxFieldValue   = 1024
	maxFooter       = 2048
	maxEmbedTotal   = 6000
	maxButtonLabel  = 80
	maxRowButtons   = 5
	maxRows         = 5
	inlineFieldMax  = 40 // values up to this many runes, on one line, sit side by side
	fallbackContent = "SmartCloudOps"
)

// Embed colours by severity.
const (
	colourInfo     = 0x3B82F6
	colourWarning  = 0xF59E0B
	colourCritical = 0xDC2626
)

// payload is a bot.Message translated to Discord's shape: content or an embed, button rows and
// at most one PNG attachment. The same payload is sent as a channel message, a message edit,
// an interaction response edit or a followup.
type payload struct {
	content    string
	embeds     []*discordgo.MessageEmbed
	components []discordgo.MessageComponent
	imageName  string
	imagePNG   []byte
	// keepImage is set when the message names a chart without its bytes: an edit of a card
	// that already carries the chart as an attachment keeps it.
	keepImage bool
}

// render translates m. A message that is only text becomes plain content; anything else
// becomes one embed: title, colour by severity, description (the text and every section's
// text), fields, the chart as attachment://<name>.png, footer and a timestamp.
func render(m bot.Message, now time.Time) (payload, error) {
	var p payload
	rows, dropped, err := buttonRows(m.Sections)
	if err != nil {
		return payload{}, err
	}
	p.components = rows
	if dropped > 0 {
		m.Sections = append(slices.Clone(m.Sections), bot.Section{Text: droppedNote(dropped)})
	}

	if m.Image != nil && len(m.Image.PNG) > 0 {
		p.imageName = imageName(m.Image.Name)
		p.imagePNG = m.Image.PNG
	} else if m.Image != nil && m.Image.Name != "" {
		p.imageName, p.keepImage = imageName(m.Image.Name), true
	}
	plain := m.Title == "" && m.Footer == "" && len(m.Fields) == 0 && p.imageName == "" && !sectionsHaveText(m.Sections)
	text := m.Text
	if m.Code {
		text = codeBlock(text, maxDescription)
	}
	if plain && utf8.RuneCountInString(text) <= maxContent {
		p.content = text
		if p.content == "" && len(p.components) > 0 {
			p.content = fallbackContent
		}
		return p, nil
	}

	e := &discordgo.MessageEmbed{
		Type:        discordgo.EmbedTypeRich,
		Title:       truncate(m.Title, maxTitle),
		Description: truncate(description(m), maxDescription),
		Color:       colour(m.Severity),
	}
	if m.Title != "" {
		e.Timestamp = now.UTC().Format(time.RFC3339)
	}
	if m.Footer != "" {
		e.Footer = &discordgo.MessageEmbedFooter{Text: truncate(m.Footer, maxFooter)}
	}
	if p.imageName != "" {
		e.Image = &discordgo.MessageEmbedImage{URL: "attachment://" + p.imageName}
	}
	e.Fields = fields(m)
	if r := mentions(m.Mentions); r != nil {
		e.Description = r.Replace(e.Description)
		for _, f := range e.Fields {
			f.Value = r.Replace(f.Value)
		}
	}
	fitEmbed(e)
	p.embeds = []*discordgo.MessageEmbed{e}
	return p, nil
}

// mentions replaces the names of Discord users with mentions (<@id>), which Discord shows with
// the person's current name; the message's allowed mentions keep anyone from being notified.
func mentions(ms []bot.Mention) *strings.Replacer {
	var pairs []string
	for _, m := range ms {
		if m.Platform == platform && m.ID != "" && m.Text != "" {
			pairs = append(pairs, m.Text, "<@"+m.ID+">")
		}
	}
	if len(pairs) == 0 {
		return nil
	}
	return strings.NewReplacer(pairs...)
}

func sectionsHaveText(ss []bot.Section) bool {
	for _, s := range ss {
		if strings.TrimSpace(s.Text) != "" || len(s.Fields) > 0 {
			return true
		}
	}
	return false
}

// codeBlock fences text (laid out for a monospace font) as a code block of at most n runes.
func codeBlock(text string, n int) string {
	t := strings.Trim(text, "\n")
	if t == "" {
		return ""
	}
	return "```\n" + truncate(t, n-8) + "\n```"
}

func description(m bot.Message) string {
	parts := make([]string, 0, 1+len(m.Sections))
	if m.Code {
		if t := codeBlock(m.Text, maxDescription); t != "" {
			parts = append(parts, t)
		}
	} else if t := strings.TrimSpace(m.Text); t != "" {
		parts = append(parts, t)
	}
	for _, s := range m.Sections {
		if t := strings.TrimSpace(s.Text); t != "" {
			parts = append(parts, t)
		}
	}
	return strings.Join(parts, "\n\n")
}

func fields(m bot.Message) []*discordgo.MessageEmbedField {
	all := append([]bot.Field(nil), m.Fields...)
	for _, s := range m.Sections {
		all = append(all, s.Fields...)
	}
	var out []*discordgo.MessageEmbedField
	for i, f := range all {
		if i == maxFields-1 && len(all) > maxFields {
			out = append(out, &discordgo.MessageEmbedField{Name: "more", Value: fmt.Sprintf("%d more fields not shown", len(all)-i)})
			break
		}
		name := truncate(strings.TrimSpace(f.Label), maxFieldName)
		if name == "" {
			name = "\u200b"
		}
		value := truncate(strings.TrimSpace(f.Value), maxFieldValue)
		if value == "" {
			value = "-"
		}
		out = append(out, &discordgo.MessageEmbedField{
			Name:   name,
			Value:  value,
			Inline: utf8.RuneCountInString(value) <= inlineFieldMax && !strings.Contains(value, "\n"),
		})
	}
	return out
}

// fitEmbed keeps the embed within Discord's 6000-character total by shortening the description
// first and then dropping fields from the end.
func fitEmbed(e *discordgo.MessageEmbed) {
	size := func() int {
		n := utf8.RuneCountInString(e.Title) + utf8.RuneCountInString(e.Description)
		if e.Footer != nil {
			n += utf8.RuneCountInString(e.Footer.Text)
		}
		for _, f := range e.Fields {
			n += utf8.RuneCountInString(f.Name) + utf8.RuneCountInString(f.Value)
		}
		return n
	}
	if over := size() - maxEmbedTotal; over > 0 {
		keep := utf8.RuneCountInString(e.Description) - over
		if keep < 1500 {
			keep = 1500
		}
		e.Description = truncate(e.Description, keep)
	}
	for size() > maxEmbedTotal && len(e.Fields) > 0 {
		e.Fields = e.Fields[:len(e.Fields)-1]
	}
}

func colour(s bot.Severity) int {
	switch s {
	case bot.SeverityInfo:
		return colourInfo
	case bot.SeverityWarning:
		return colourWarning
	case bot.SeverityCritical:
		return colourCritical
	}
	return 0
}

// buttonRows lays out each section's buttons in action rows of at most five. Discord allows
// five rows; the buttons of sections that do not fit are left out whole, never split, and
// dropped counts those sections, so the caller can say how to act on them instead.
//
// Discord shows every button below the embed, away from the text it belongs to, so when more
// than one section has buttons each label also names its target ("Approve p-7f3a"); an
// Approve-all label names its count instead ("Approve all 12").
func buttonRows(ss []bot.Section) (rows []discordgo.MessageComponent, dropped int, err error) {
	seen := map[string]bool{}
	withButtons := 0
	for _, s := range ss {
		if len(s.Buttons) > 0 {
			withButtons++
		}
	}
	for _, s := range ss {
		var own []discordgo.MessageComponent
		var row discordgo.ActionsRow
		for _, b := range s.Buttons {
			id, err := CustomID(b)
			if err != nil {
				return nil, 0, err
			}
			if seen[id] {
				return nil, 0, fmt.Errorf("button %q: custom_id %q used twice in one message", b.Label, id)
			}
			seen[id] = true
			label := buttonLabel(b)
			if withButtons > 1 && b.Action != bot.ActionApproveAll && !strings.Contains(label, b.Target()) {
				label = truncate(label+" "+b.Target(), maxButtonLabel)
			}
			row.Components = append(row.Components, discordgo.Button{
				Label:    label,
				Style:    buttonStyle(b.Style),
				CustomID: id,
			})
			if len(row.Components) == maxRowButtons {
				own = append(own, row)
				row = discordgo.ActionsRow{}
			}
		}
		if len(row.Components) > 0 {
			own = append(own, row)
		}
		if len(own) == 0 {
			continue
		}
		if dropped > 0 || len(rows)+len(own) > maxRows {
			dropped++
			continue
		}
		rows = append(rows, own...)
	}
	return rows, dropped, nil
}

// droppedNote tells people how to act on sections whose buttons did not fit.
func droppedNote(n int) string {
	return fmt.Sprintf("Buttons for %d more item(s) did not fit in one message: type `/ops approve`, `/ops reject` or `/ops silence` with the IDs above.", n)
}

func buttonLabel(b bot.Button) string {
	if l := strings.TrimSpace(b.Label); l != "" {
		return truncate(l, maxButtonLabel)
	}
	if b.Action == "" {
		return b.Value
	}
	return strings.ToUpper(b.Action[:1]) + b.Action[1:]
}

func buttonStyle(s bot.ButtonStyle) discordgo.ButtonStyle {
	switch s {
	case bot.StylePrimary:
		return discordgo.PrimaryButton
	case bot.StyleDanger:
		return discordgo.DangerButton
	}
	return discordgo.SecondaryButton
}

// imageName makes a file name Discord accepts in attachment:// URLs.
func imageName(n string) string {
	n = strings.TrimSuffix(strings.ToLower(n), ".png")
	var b strings.Builder
	for _, r := range n {
		switch {
		case r >= 'a' && r <= 'z', r >= '0' && r <= '9', r == '-', r == '_', r == '.':
			b.WriteRune(r)
		default:
			b.WriteByte('-')
		}
	}
	s := strings.Trim(b.String(), "-.")
	if s == "" {
		s = "chart"
	}
	if len(s) > 64 {
		s = s[:64]
	}
	return s + ".png"
}

// truncate shortens s to at most n runes, marking the cut with an ellipsis.
func truncate(s string, n int) string {
	if utf8.RuneCountInString(s) <= n {
		return s
	}
	if n <= 1 {
		return "…"
	}
	r := []rune(s)
	return strings.TrimRight(string(r[:n-1]), " \n") + "…"
}

// noMentions stops a card's text from pinging anyone, whatever it contains.
func noMentions() *discordgo.MessageAllowedMentions {
	return &discordgo.MessageAllowedMentions{Parse: []discordgo.AllowedMentionType{}}
}

// files returns the attachment with a fresh reader, so a retried request re-sends it whole.
func (p payload) files() []*discordgo.File {
	if p.imagePNG == nil {
		return nil
	}
	return []*discordgo.File{{Name: p.imageName, ContentType: "image/png", Reader: bytes.NewReader(p.imagePNG)}}
}

// newEmbeds are the embeds of a new message: one that names a chart it does not carry has no
// attachment to point at, so the image is left out.
func (p payload) newEmbeds() []*discordgo.MessageEmbed {
	if !p.keepImage {
		return p.embeds
	}
	out := make([]*discordgo.MessageEmbed, len(p.embeds))
	for i, e := range p.embeds {
		c := *e
		c.Image = nil
		out[i] = &c
	}
	return out
}

func (p payload) messageSend(ref *discordgo.MessageReference) *discordgo.MessageSend {
	return &discordgo.MessageSend{
		Content:         p.content,
		Embeds:          p.newEmbeds(),
		Components:      p.components,
		Files:           p.files(),
		AllowedMentions: noMentions(),
		Reference:       ref,
	}
}

// messageEdit replaces the whole message: content, embeds, buttons (an empty list removes
// them) and attachments (the old chart is dropped and a new one uploaded, unless the message
// keeps the chart it already has).
func (p payload) messageEdit(channel, id string) *discordgo.MessageEdit {
	content := p.content
	embeds := append([]*discordgo.MessageEmbed{}, p.embeds...)
	comps := append([]discordgo.MessageComponent{}, p.components...)
	e := &discordgo.MessageEdit{
		ID:              id,
		Channel:         channel,
		Content:         &content,
		Embeds:          &embeds,
		Components:      &comps,
		Files:           p.files(),
		AllowedMentions: noMentions(),
	}
	if !p.keepImage {
		e.Attachments = &[]*discordgo.MessageAttachment{}
	}
	return e
}

func (p payload) webhookEdit() *discordgo.WebhookEdit {
	content := p.content
	embeds := append([]*discordgo.MessageEmbed{}, p.embeds...)
	comps := append([]discordgo.MessageComponent{}, p.components...)
	e := &discordgo.WebhookEdit{
		Content:         &content,
		Embeds:          &embeds,
		Components:      &comps,
		Files:           p.files(),
		AllowedMentions: noMentions(),
	}
	if !p.keepImage {
		e.Attachments = &[]*discordgo.MessageAttachment{}
	}
	return e
}

func (p payload) webhookParams(ephemeral bool) *discordgo.WebhookParams {
	w := &discordgo.WebhookParams{
		Content:         p.content,
		Embeds:          p.newEmbeds(),
		Components:      p.components,
		Files:           p.files(),
		AllowedMentions: noMentions(),
	}
	if ephemeral {
		w.Flags = discordgo.MessageFlagsEphemeral
	}
	return w
}
