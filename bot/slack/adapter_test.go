package slack

import (
	"bytes"
	"context"
	"errors"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/smartcloudops/smartcloudops/bot"
	"github.com/smartcloudops/smartcloudops/bot/slack/slackfake"
)

func TestHelloAckAndMention(t *testing.T) {
	h := newHarness(t, nil)
	h.fake.SetUserGroups(map[string][]string{"S_ONCALL": {"U2", "U3"}, "S_ADMINS": {"U2"}, "S_OTHER": {"U9"}})
	h.run(nil)

	h.send(slackfake.AppMention("e1", "Ev1", "U2", "C1", "<@UBOT> status  api"))
	if a := h.ack("e1"); len(a.Payload) != 0 {
		t.Errorf("mention ack carries a payload: %s", a.Payload)
	}
	e := h.event()
	want := bot.Event{Kind: bot.EventCommand, ID: "Ev1", Channel: "C1", Text: "status api",
		User: bot.User{Platform: "slack", ID: "U2", Name: "U2", Groups: []string{"S_ADMINS", "S_ONCALL"}}}
	if !eventEqual(e, want) {
		t.Errorf("event = %+v, want %+v", e, want)
	}
	post := h.calls("chat.postMessage", 1)[0]
	if post.Form.Get("channel") != "C1" || post.Form.Get("text") != "ok" || post.Form.Get("token") != "xoxb-test" {
		t.Errorf("reply = %v, want text ok in C1 with the bot token", post.Form)
	}
	if ug := h.calls("usergroups.list", 1)[0]; ug.Form.Get("include_users") != "true" {
		t.Errorf("usergroups.list form = %v, want include_users=true", ug.Form)
	}
	if got := h.counter("connected"); got != 1 {
		t.Errorf("connected gauge = %v, want 1", got)
	}
	if got := h.counter("events", kindMention); got != 1 {
		t.Errorf("events_total{kind=mention} = %v, want 1", got)
	}
	if c := h.fake.Calls("apps.connections.open"); len(c) != 1 || c[0].Header.Get("Authorization") != "Bearer xapp-test" {
		t.Errorf("apps.connections.open calls = %+v, want one with the app token", c)
	}
}

func eventEqual(a, b bot.Event) bool {
	return a.Kind == b.Kind && a.ID == b.ID && a.Channel == b.Channel && a.Text == b.Text &&
		a.User.Platform == b.User.Platform && a.User.ID == b.User.ID && a.User.Name == b.User.Name &&
		slices.Equal(a.User.Groups, b.User.Groups) && a.Button == b.Button && a.Message == b.Message
}

func TestDirectMessage(t *testing.T) {
	h := newHarness(t, func(o *Options) { o.Workers = 1 })
	h.run(func(_ context.Context, e bot.Event) bot.Message { return bot.Text("you said " + e.Text) })

	// The bot's own message and an edit are acknowledged but not handled.
	h.send(slackfake.DirectMessage("e1", "Ev1", "UBOT", "D1", "ignore me"))
	h.send(slackfake.EventsAPI("e2", "Ev2", 0, map[string]any{"type": "message", "subtype": "message_changed",
		"channel_type": "im", "channel": "D1", "ts": "1.2", "message": map[string]any{"user": "U2", "text": "x"}}))
	h.send(slackfake.DirectMessage("e3", "Ev3", "U2", "D1", "incidents"))
	for _, id := range []string{"e1", "e2", "e3"} {
		h.ack(id)
	}
	e := h.event()
	if e.Text != "incidents" || e.Channel != "D1" || e.User.ID != "U2" || e.ID != "Ev3" {
		t.Errorf("event = %+v, want the DM from U2", e)
	}
	post := h.calls("chat.postMessage", 1)[0]
	if post.Form.Get("channel") != "D1" || post.Form.Get("text") != "you said incidents" {
		t.Errorf("reply = %v", post.Form)
	}
	if n := len(h.handled()); n != 1 {
		t.Errorf("handled %d events, want 1", n)
	}
	if got := h.counter("events", kindIgnored); got != 2 {
		t.Errorf("events_total{kind=ignored} = %v, want 2", got)
	}
}

func TestSlashCommand(t *testing.T) {
	h := newHarness(t, nil)
	h.run(func(_ context.Context, e bot.Event) bot.Message {
		if e.Text == "help" {
			return bot.Text("Commands: …")
		}
		return bot.Message{Text: "2 open incidents", Ephemeral: true}
	})

	h.send(slackfake.SlashCommand("e1", "/ops", " incidents ", "U2", "alice", "C1", h.fake.ResponseURL("1")))
	h.ack("e1")
	e := h.event()
	if e.Kind != bot.EventCommand || e.Text != "incidents" || e.User.Name != "alice" || e.ID != "e1" || e.Channel != "C1" {
		t.Errorf("event = %+v", e)
	}
	resp := h.calls("response", 1)[0]
	if got := jsonField(t, resp.JSON, "response_type"); got != "ephemeral" {
		t.Errorf("response_type = %q, want ephemeral", got)
	}
	if got := jsonField(t, resp.JSON, "text"); got != "2 open incidents" {
		t.Errorf("response text = %q", got)
	}
	if resp.Path != "/response/1" {
		t.Errorf("reply went to %s", resp.Path)
	}

	// A reply that does not ask to be private is still answered only to the person who typed
	// the slash command, as Slack's own commands are.
	h.send(slackfake.SlashCommand("e3", "/ops", "help", "U2", "alice", "C1", h.fake.ResponseURL("3")))
	h.ack("e3")
	h.event()
	for _, r := range h.calls("response", 2) {
		if r.Path == "/response/3" && jsonField(t, r.JSON, "response_type") != "ephemeral" {
			t.Errorf("/ops help answered %s, want ephemeral", jsonField(t, r.JSON, "response_type"))
		}
	}

	// A command the adapter does not own is answered in the ack itself.
	h.send(slackfake.SlashCommand("e2", "/deploy", "prod", "U2", "alice", "C1", h.fake.ResponseURL("2")))
	a := h.ack("e2")
	if !strings.Contains(jsonField(t, a.Payload, "text"), "/ops") {
		t.Errorf("ack payload for /deploy = %s, want a hint at /ops", a.Payload)
	}
}

func TestButtonApproveThenUpdate(t *testing.T) {
	h := newHarness(t, nil)
	h.run(func(ctx context.Context, e bot.Event) bot.Message {
		card := bot.Message{Title: "Proposal " + e.Button.Value, Text: "approved by " + e.User.String()}
		if err := h.a.Update(ctx, e.Message, card); err != nil {
			t.Errorf("Update: %v", err)
		}
		return bot.Text("approved " + e.Button.Value)
	})

	h.send(slackfake.BlockAction("e1", "U2", "alice", "C1", "1700000000.000200", "approve", "p-42", h.fake.ResponseURL("b1")))
	h.ack("e1")
	e := h.event()
	wantBtn := bot.Button{Action: "approve", Value: "p-42", Label: "approve"}
	wantRef := bot.Ref{Platform: "slack", Channel: "C1", ID: "1700000000.000200"}
	if e.Kind != bot.EventButton || e.Button != wantBtn || e.Message != wantRef || e.User.Name != "alice" {
		t.Errorf("event = %+v, want button %+v on %+v", e, wantBtn, wantRef)
	}
	upd := h.calls("chat.update", 1)[0]
	if upd.Form.Get("channel") != "C1" || upd.Form.Get("ts") != "1700000000.000200" {
		t.Errorf("chat.update = %v, want C1 / 1700000000.000200", upd.Form)
	}
	if !strings.Contains(upd.Form.Get("blocks"), "approved by slack:alice") {
		t.Errorf("chat.update blocks = %s", upd.Form.Get("blocks"))
	}
	resp := h.calls("response", 1)[0]
	if jsonField(t, resp.JSON, "response_type") != "ephemeral" || jsonField(t, resp.JSON, "text") != "approved p-42" {
		t.Errorf("click reply = %s, want an ephemeral 'approved p-42'", resp.JSON)
	}
}

func TestPostWithImageUploadsIntoThread(t *testing.T) {
	h := newHarness(t, nil)
	png := bytes.Repeat([]byte{0x89, 'P', 'N', 'G'}, 64)
	m := proposalCard()
	m.Image.PNG = png

	ref, err := h.a.Post(h.ctx(), "", m) // DefaultChannel
	if err != nil {
		t.Fatalf("Post: %v", err)
	}
	post := h.calls("chat.postMessage", 1)[0]
	if ref.Platform != "slack" || ref.Channel != "C1" || ref.ID == "" || post.Form.Get("thread_ts") != "" {
		t.Errorf("ref = %+v, post = %v", ref, post.Form)
	}
	get := h.calls("files.getUploadURLExternal", 1)[0]
	if get.Form.Get("filename") != "inc-3f2a.png" || get.Form.Get("length") != "256" {
		t.Errorf("getUploadURLExternal = %v", get.Form)
	}
	up := h.calls("upload", 1)[0]
	if !bytes.Equal(up.Body, png) {
		t.Errorf("uploaded %d bytes, want the %d PNG bytes", len(up.Body), len(png))
	}
	done := h.calls("files.completeUploadExternal", 1)[0]
	if done.Form.Get("channel_id") != "C1" || done.Form.Get("thread_ts") != ref.ID {
		t.Errorf("completeUploadExternal = %v, want C1 thread %s", done.Form, ref.ID)
	}

	// A reply in the thread.
	tref, err := h.a.PostThread(h.ctx(), ref, bot.Text("executing"))
	if err != nil {
		t.Fatalf("PostThread: %v", err)
	}
	th := h.calls("chat.postMessage", 2)[1]
	if th.Form.Get("thread_ts") != ref.ID || tref.ID == ref.ID {
		t.Errorf("thread post = %v, ref %+v", th.Form, tref)
	}
}

func TestDisconnectAndDropReconnect(t *testing.T) {
	h := newHarness(t, nil)
	h.run(nil)

	h.send(slackfake.Disconnect("refresh_requested"))
	if err := h.fake.WaitDials(h.ctx(), 2); err != nil {
		t.Fatalf("no reconnect after disconnect: %v", err)
	}
	h.send(slackfake.AppMention("e1", "Ev1", "U2", "C1", "<@UBOT> help"))
	h.ack("e1")
	if e := h.event(); e.Text != "help" {
		t.Errorf("event after reconnect = %+v", e)
	}

	h.fake.DropConnection()
	if err := h.fake.WaitDials(h.ctx(), 3); err != nil {
		t.Fatalf("no reconnect after a dropped socket: %v", err)
	}
	h.send(slackfake.AppMention("e2", "Ev2", "U2", "C1", "<@UBOT> status"))
	h.ack("e2")
	if e := h.event(); e.Text != "status" {
		t.Errorf("event after drop = %+v", e)
	}
	if got := h.fake.Opens(); got != 3 {
		t.Errorf("apps.connections.open called %d times, want 3", got)
	}
}

func TestRedeliveryHandledOnce(t *testing.T) {
	h := newHarness(t, func(o *Options) { o.Workers = 1 })
	h.run(nil)

	inner := map[string]any{"type": "app_mention", "user": "U2", "text": "<@UBOT> approve p-1",
		"ts": "1700000000.000100", "channel": "C1", "event_ts": "1700000000.000100"}
	h.send(slackfake.EventsAPI("e1", "Ev1", 0, inner))
	h.send(slackfake.EventsAPI("e2", "Ev1", 1, inner)) // Slack's retry: new envelope, same event_id
	h.send(slackfake.AppMention("e3", "Ev3", "U2", "C1", "<@UBOT> status"))
	for _, id := range []string{"e1", "e2", "e3"} {
		h.ack(id)
	}
	// One worker handles events in order, so once Ev3 is handled a duplicate of Ev1 would have been too.
	if e := h.event(); e.ID != "Ev1" {
		t.Fatalf("first event = %s", e.ID)
	}
	if e := h.event(); e.ID != "Ev3" {
		t.Fatalf("second event = %s, want Ev3 (Ev1 again means the retry was not dropped)", e.ID)
	}
	if got := h.counter("events", kindDuplicate); got != 1 {
		t.Errorf("events_total{kind=duplicate} = %v, want 1", got)
	}
}

func TestUnknownEnvelopesAreAcked(t *testing.T) {
	h := newHarness(t, nil)
	h.run(nil)

	h.send([]byte(`{"envelope_id":"e1","type":"brand_new_envelope","payload":{"x":1}}`))
	h.send(slackfake.EventsAPI("e2", "Ev2", 0, map[string]any{"type": "brand_new_event", "channel": "C1"}))
	h.send([]byte(`{"envelope_id":"e3","type":"events_api","payload":"not an object"}`))
	for _, id := range []string{"e1", "e2", "e3"} {
		h.ack(id)
	}
	// The adapter reads envelopes in order: once a later one is handled, the three above are counted.
	h.send(slackfake.AppMention("e4", "Ev4", "U2", "C1", "<@UBOT> status"))
	if e := h.event(); e.ID != "Ev4" {
		t.Fatalf("handled %+v, want only Ev4", e)
	}
	if got := h.counter("events", kindUnknown); got != 3 {
		t.Errorf("events_total{kind=unknown} = %v, want 3", got)
	}
	if n := len(h.handled()); n != 1 {
		t.Errorf("handled %d events, want only the mention", n)
	}
}

func TestInvalidAuthEndsRun(t *testing.T) {
	h := newHarness(t, nil)
	h.fake.FailConnect("invalid_auth")
	err := h.a.Run(h.ctx(), func(context.Context, bot.Event) bot.Message { return bot.Message{} })
	if !errors.Is(err, ErrUnauthorized) || !strings.Contains(err.Error(), "invalid_auth") {
		t.Fatalf("Run = %v, want ErrUnauthorized naming invalid_auth", err)
	}
	if got := h.fake.Opens(); got != 1 {
		t.Errorf("apps.connections.open called %d times, want 1 (no retries)", got)
	}
}

func TestRunGuards(t *testing.T) {
	h := newHarness(t, nil)
	if err := h.a.Run(h.ctx(), nil); err == nil {
		t.Error("Run(nil handler) succeeded")
	}
	h.run(nil)
	err := h.a.Run(h.ctx(), func(context.Context, bot.Event) bot.Message { return bot.Message{} })
	if !errors.Is(err, ErrAlreadyRunning) {
		t.Errorf("second Run = %v, want ErrAlreadyRunning", err)
	}
}

func TestRateLimitedPostIsRetried(t *testing.T) {
	h := newHarness(t, nil)
	h.fake.RateLimit("chat.postMessage", 1, 1)

	start := time.Now()
	ref, err := h.a.Post(h.ctx(), "C7", bot.Text("hello"))
	if err != nil {
		t.Fatalf("Post: %v", err)
	}
	if waited := time.Since(start); waited < time.Second {
		t.Errorf("retried after %v, before Retry-After (1s)", waited)
	}
	calls := h.fake.Calls("chat.postMessage")
	if len(calls) != 2 || calls[0].Status != 429 || calls[1].Status != 200 {
		t.Fatalf("calls = %d, want one 429 then one 200", len(calls))
	}
	if ref.Channel != "C7" || ref.ID == "" {
		t.Errorf("ref = %+v", ref)
	}
	if got := h.counter("rate_limited"); got != 1 {
		t.Errorf("rate_limited_total = %v, want 1", got)
	}
	if got := h.counter("sent", outcomeOK); got != 1 {
		t.Errorf("messages_sent_total{outcome=ok} = %v, want 1", got)
	}
}

func TestRateLimitRetriesAreBounded(t *testing.T) {
	h := newHarness(t, func(o *Options) { o.MaxRetries = -1 })
	h.fake.RateLimit("chat.postMessage", 5, 1)
	_, err := h.a.Post(h.ctx(), "C7", bot.Text("hello"))
	if err == nil || !strings.Contains(err.Error(), "rate limit") {
		t.Fatalf("Post = %v, want a rate-limit error", err)
	}
	if n := len(h.fake.Calls("chat.postMessage")); n != 1 {
		t.Errorf("%d calls with retries disabled, want 1", n)
	}
	if got := h.counter("sent", outcomeError); got != 1 {
		t.Errorf("messages_sent_total{outcome=error} = %v, want 1", got)
	}
}

func TestPostErrors(t *testing.T) {
	h := newHarness(t, func(o *Options) { o.DefaultChannel = "" })
	if _, err := h.a.Post(h.ctx(), "", bot.Text("x")); !errors.Is(err, ErrNoChannel) {
		t.Errorf("Post without channel = %v, want ErrNoChannel", err)
	}
	if err := h.a.Update(h.ctx(), bot.Ref{Platform: "discord", Channel: "1", ID: "2"}, bot.Text("x")); err == nil {
		t.Error("Update of a Discord ref succeeded")
	}
	if _, err := h.a.PostThread(h.ctx(), bot.Ref{Platform: "slack", Channel: "C1"}, bot.Text("x")); err == nil {
		t.Error("PostThread without ts succeeded")
	}
	if _, err := h.a.Post(h.ctx(), "C1", bot.Message{}); !errors.Is(err, ErrEmptyMessage) {
		t.Errorf("Post of an empty message = %v, want ErrEmptyMessage", err)
	}
	if n := len(h.fake.Calls("")); n != 0 {
		t.Errorf("%d API calls for refused messages, want 0", n)
	}
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	if _, err := h.a.Post(ctx, "C1", bot.Text("x")); !isCanceled(err) {
		t.Errorf("Post with a canceled context = %v", err)
	}
}

func TestEphemeralMentionReply(t *testing.T) {
	h := newHarness(t, nil)
	h.run(func(context.Context, bot.Event) bot.Message {
		return bot.Message{Text: "only you can see this", Ephemeral: true}
	})
	h.send(slackfake.AppMention("e1", "Ev1", "U2", "C1", "<@UBOT> whoami"))
	h.ack("e1")
	eph := h.calls("chat.postEphemeral", 1)[0]
	if eph.Form.Get("channel") != "C1" || eph.Form.Get("user") != "U2" {
		t.Errorf("chat.postEphemeral = %v", eph.Form)
	}
}

func TestHandlerPanicIsContained(t *testing.T) {
	h := newHarness(t, func(o *Options) { o.Workers = 1 })
	h.run(func(_ context.Context, e bot.Event) bot.Message {
		if e.Text == "boom" {
			panic("boom")
		}
		return bot.Text("fine")
	})
	h.send(slackfake.AppMention("e1", "Ev1", "U2", "C1", "<@UBOT> boom"))
	h.send(slackfake.AppMention("e2", "Ev2", "U2", "C1", "<@UBOT> next"))
	h.event()
	h.event()
	if post := h.calls("chat.postMessage", 1)[0]; post.Form.Get("text") != "fine" {
		t.Errorf("reply = %v", post.Form)
	}
}
