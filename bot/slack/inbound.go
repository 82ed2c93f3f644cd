package slack

import (
	"encoding/json"
	"strings"

	slackapi "github.com/slack-go/slack"
	"github.com/slack-go/slack/slackevents"
	"github.com/slack-go/slack/socketmode"

	"github.com/smartcloudops/smartcloudops/bot"
)

// incoming is one envelope translated for the rest of the adapter: what to acknowledge, the
// bot.Event to hand to the Handler (if any) and where its reply goes.
type incoming struct {
	envelopeID string
	ackPayload any    // sent with the ack; only slash commands accept one
	kind       string // the events_total label
	dedupeKey  string // event_id for events_api, envelope_id otherwise
	event      *bot.Event
	route      route
}

// route says where the reply to an event goes.
type route struct {
	channel     string
	threadTS    string // reply in this thread
	user        string // the person who acted, for ephemeral replies
	responseURL string // slash commands and button clicks carry one
	forceEphem  bool   // button clicks are answered only to the clicker
	// slash replies are ephemeral unless they carry a chart, which only a channel message can
	// show: Slack's convention for slash commands, so one person's /ops help does not fill
	// everyone's channel.
	slash bool
}

// translate turns a socketmode event that carries a Slack request into an incoming. botUser
// is the bot's own user ID (may be empty when unknown) and command the slash command the
// adapter answers. It never fails: what it cannot use becomes kind "ignored" with no event.
func translate(evt socketmode.Event, botUser, command string) incoming {
	in := incoming{kind: kindIgnored}
	if evt.Request != nil {
		in.envelopeID = evt.Request.EnvelopeID
		in.dedupeKey = "env:" + evt.Request.EnvelopeID
	}
	switch evt.Type {
	case socketmode.EventTypeEventsAPI:
		ev, ok := evt.Data.(slackevents.EventsAPIEvent)
		if !ok {
			return in
		}
		eventID := in.envelopeID
		if cb, ok := ev.Data.(*slackevents.EventsAPICallbackEvent); ok && cb.EventID != "" {
			eventID = cb.EventID
			in.dedupeKey = "ev:" + cb.EventID
		}
		translateEventsAPI(&in, ev, eventID, botUser)
	case socketmode.EventTypeSlashCommand:
		cmd, ok := evt.Data.(slackapi.SlashCommand)
		if !ok {
			return in
		}
		if cmd.Command != command {
			in.kind = kindUnknown
			in.ackPayload = map[string]string{
				"response_type": "ephemeral",
				"text":          "SmartCloudOps answers " + command + ", not " + cmd.Command + ".",
			}
			return in
		}
		in.kind = kindSlash
		in.event = &bot.Event{
			Kind:    bot.EventCommand,
			ID:      in.envelopeID,
			User:    bot.User{Platform: platform, ID: cmd.UserID, Name: nameOr(cmd.UserName, cmd.UserID)},
			Channel: cmd.ChannelID,
			Text:    strings.TrimSpace(cmd.Text),
		}
		in.route = route{channel: cmd.ChannelID, user: cmd.UserID, responseURL: cmd.ResponseURL, slash: true}
	case socketmode.EventTypeInteractive:
		cb, ok := evt.Data.(slackapi.InteractionCallback)
		if !ok || cb.Type != slackapi.InteractionTypeBlockActions || len(cb.ActionCallback.BlockActions) == 0 {
			return in
		}
		act := cb.ActionCallback.BlockActions[0]
		if act == nil || act.ActionID == "" {
			return in
		}
		channel := cb.Container.ChannelID
		if channel == "" {
			channel = cb.Channel.ID
		}
		in.kind = kindButton
		in.event = &bot.Event{
			Kind:    bot.EventButton,
			ID:      in.envelopeID,
			User:    bot.User{Platform: platform, ID: cb.User.ID, Name: nameOr(cb.User.Name, nameOr(cb.User.Username, cb.User.ID))},
			Channel: channel,
			Button:  bot.Button{Action: act.ActionID, Value: act.Value, Label: act.Text.Text},
			Message: bot.Ref{Platform: platform, Channel: channel, ID: cb.Container.MessageTs},
		}
		in.route = route{channel: channel, threadTS: cb.Container.ThreadTs, user: cb.User.ID,
			responseURL: cb.ResponseURL, forceEphem: true}
	}
	return in
}

func translateEventsAPI(in *incoming, ev slackevents.EventsAPIEvent, eventID, botUser string) {
	var user, channel, text, thread string
	switch e := ev.InnerEvent.Data.(type) {
	case *slackevents.AppMentionEvent:
		if e.BotID != "" || e.User == "" || (botUser != "" && e.User == botUser) {
			return
		}
		in.kind = kindMention
		user, channel, text, thread = e.User, e.Channel, e.Text, e.ThreadTimeStamp
	case *slackevents.MessageEvent:
		if e.ChannelType != "im" || e.SubType != "" || e.BotID != "" || e.User == "" ||
			(botUser != "" && e.User == botUser) {
			return
		}
		in.kind = kindDM
		user, channel, text, thread = e.User, e.Channel, e.Text, e.ThreadTimeStamp
	default:
		return
	}
	in.event = &bot.Event{
		Kind:    bot.EventCommand,
		ID:      eventID,
		User:    bot.User{Platform: platform, ID: user, Name: user},
		Channel: channel,
		Text:    unescapeText(stripMention(text, botUser)),
	}
	in.route = route{channel: channel, threadTS: thread, user: user}
}

// slackEntities undoes the three escapes Slack applies to &, < and > in message text, so
// "query x &gt; 0" reaches the commands as typed: "query x > 0". It works in one pass, so a
// typed "&gt;" (sent as "&amp;gt;") stays "&gt;".
var slackEntities = strings.NewReplacer("&lt;", "<", "&gt;", ">", "&amp;", "&")

func unescapeText(s string) string { return slackEntities.Replace(s) }

func nameOr(name, fallback string) string {
	if name != "" {
		return name
	}
	return fallback
}

// stripMention removes mentions of the bot ("<@UBOT>" or "<@UBOT|name>") from text. When the
// bot's ID is unknown it removes a leading user mention, which is how app mentions start.
func stripMention(text, botUser string) string {
	if botUser == "" {
		t := strings.TrimSpace(text)
		if strings.HasPrefix(t, "<@") {
			if end := strings.IndexByte(t, '>'); end > 0 {
				t = t[end+1:]
			}
		}
		return strings.TrimSpace(t)
	}
	var b strings.Builder
	rest := text
	for {
		i := strings.Index(rest, "<@"+botUser)
		if i < 0 {
			b.WriteString(rest)
			break
		}
		after := rest[i+2+len(botUser):]
		if !strings.HasPrefix(after, ">") && !strings.HasPrefix(after, "|") {
			// Another user whose ID starts with the bot's ID; keep it.
			b.WriteString(rest[:i+2+len(botUser)])
			rest = after
			continue
		}
		end := strings.IndexByte(after, '>')
		if end < 0 {
			b.WriteString(rest)
			break
		}
		// A removed mention separates words; without the space, the text around it could
		// join into a new mention ("<@<@UBOT>UBOT>").
		b.WriteString(rest[:i])
		b.WriteByte(' ')
		rest = after[end+1:]
	}
	return strings.Join(strings.Fields(b.String()), " ")
}

// frame is what the adapter reads from a raw Socket Mode frame that slack-go could not
// decode: enough to acknowledge it and to name it in the log.
type frame struct {
	EnvelopeID string `json:"envelope_id"`
	Type       string `json:"type"`
	Payload    struct {
		EventID string `json:"event_id"`
		Event   struct {
			Type string `json:"type"`
		} `json:"event"`
	} `json:"payload"`
}

// decodeFrame reads the envelope ID and type of a raw frame. The payload is decoded
// leniently: a payload that is not an object still yields the envelope ID.
func decodeFrame(raw []byte) (frame, error) {
	var outer struct {
		EnvelopeID string          `json:"envelope_id"`
		Type       string          `json:"type"`
		Payload    json.RawMessage `json:"payload"`
	}
	if err := json.Unmarshal(raw, &outer); err != nil {
		return frame{}, err
	}
	f := frame{EnvelopeID: outer.EnvelopeID, Type: outer.Type}
	if len(outer.Payload) > 0 {
		_ = json.Unmarshal(outer.Payload, &f.Payload)
	}
	return f, nil
}
