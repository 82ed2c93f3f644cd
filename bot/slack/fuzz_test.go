package slack

import (
	"encoding/json"
	"strings"
	"testing"
	"unicode/utf8"

	"github.com/smartcloudops/smartcloudops/bot"
)

// FuzzDecodeFrame feeds raw Socket Mode frames, as they arrive from the network, to the
// decoder used for envelopes slack-go rejects. It must never panic, and must find the
// envelope ID of any frame that is a JSON object with a string envelope_id.
func FuzzDecodeFrame(f *testing.F) {
	f.Add([]byte(`{"envelope_id":"e1","type":"events_api","payload":{"event_id":"Ev1","event":{"type":"app_mention"}}}`))
	f.Add([]byte(`{"envelope_id":"e2","type":"brand_new","payload":"text"}`))
	f.Add([]byte(`{"type":"hello"}`))
	f.Add([]byte(`[]`))
	f.Fuzz(func(t *testing.T, raw []byte) {
		fr, err := decodeFrame(raw)
		if err != nil {
			return
		}
		var probe struct {
			EnvelopeID string `json:"envelope_id"`
		}
		if json.Unmarshal(raw, &probe) == nil && probe.EnvelopeID != fr.EnvelopeID {
			t.Fatalf("envelope_id %q decoded as %q", probe.EnvelopeID, fr.EnvelopeID)
		}
	})
}

// FuzzStripMention checks that mention stripping never panics, keeps valid UTF-8 valid and
// leaves no complete mention of the bot behind.
func FuzzStripMention(f *testing.F) {
	f.Add("<@UBOT> status", "UBOT")
	f.Add("<@UBOT|bot> approve p-1 <@UBOT>", "UBOT")
	f.Add("<@UX> help", "")
	f.Add("<@UBOT", "UBOT")
	f.Fuzz(func(t *testing.T, text, botUser string) {
		got := stripMention(text, botUser)
		if utf8.ValidString(text) && !utf8.ValidString(got) {
			t.Fatalf("stripMention(%q) = %q is not UTF-8", text, got)
		}
		if botUser != "" && !strings.ContainsAny(botUser, "<>|@ \t\n\r\v\f") && strings.Contains(got, "<@"+botUser+">") {
			t.Fatalf("stripMention(%q, %q) = %q still mentions the bot", text, botUser, got)
		}
	})
}

// FuzzRender renders arbitrary card contents and checks every Slack limit holds.
func FuzzRender(f *testing.F) {
	f.Add("CPU high", "critical", "value > 90% & rising", "value", "97", "approve", "p-1", uint8(3), uint8(1))
	f.Add("", "", "", "", "", "", "", uint8(0), uint8(0))
	f.Add(strings.Repeat("é", 300), "warning", strings.Repeat("<&>", 1500), "l", "v", "reject", "x", uint8(40), uint8(30))
	f.Fuzz(func(t *testing.T, title, sev, text, label, value, action, bval string, nFields, nSections uint8) {
		fields := make([]bot.Field, int(nFields)%64)
		for i := range fields {
			fields[i] = bot.Field{Label: label, Value: value}
		}
		sections := make([]bot.Section, int(nSections)%64)
		for i := range sections {
			sections[i] = bot.Section{Text: text, Fields: fields[:len(fields)/2],
				Buttons: []bot.Button{{Action: action, Value: bval}, {Action: action, Value: bval}}}
		}
		m := bot.Message{Title: title, Severity: bot.Severity(sev), Text: text, Fields: fields,
			Sections: sections, Footer: text, Image: &bot.Image{Alt: label}}
		for _, o := range []renderOptions{{}, {imageAsText: true}} {
			p := render(m, o)
			if !allUTF8(title, sev, text, label, value, action, bval) {
				continue // Slack only ever receives UTF-8; invalid input may yield invalid clipped output
			}
			if err := checkLimits(p); err != nil {
				t.Fatalf("render breaks a limit: %v", err)
			}
		}
	})
}

// allUTF8 reports whether every string is valid UTF-8 on its own: invalid pieces can join into
// a valid concatenation ("\xef" + "\x8e\xa8"), so checking the sum is not enough.
func allUTF8(ss ...string) bool {
	for _, s := range ss {
		if !utf8.ValidString(s) {
			return false
		}
	}
	return true
}
