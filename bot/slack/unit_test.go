package slack

import (
	"context"
	"errors"
	"io"
	"log/slog"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	slackapi "github.com/slack-go/slack"
	"github.com/slack-go/slack/slackevents"
	"github.com/slack-go/slack/socketmode"

	"github.com/smartcloudops/smartcloudops/bot"
)

func TestOptionsValidation(t *testing.T) {
	valid := func() Options {
		return Options{BotToken: "xoxb", AppToken: "xapp", Logger: slog.New(slog.NewTextHandler(io.Discard, nil)),
			Registerer: prometheus.NewRegistry()}
	}
	tests := []struct {
		name  string
		mod   func(*Options)
		wants []string // every problem must be named
	}{
		{"valid", func(*Options) {}, nil},
		{"missing required", func(o *Options) { *o = Options{} },
			[]string{"BotToken", "AppToken", "Logger", "Registerer"}},
		{"api url without slash", func(o *Options) { o.APIURL = "http://127.0.0.1:1/api" }, []string{`must end with "/"`}},
		{"api url not http", func(o *Options) { o.APIURL = "ftp://x/" }, []string{"not an http(s) URL"}},
		{"negative values", func(o *Options) { o.Workers = -1; o.MessageInterval = -time.Second },
			[]string{"Workers -1", "MessageInterval -1s"}},
		{"bad slash command", func(o *Options) { o.SlashCommand = "ops" }, []string{"SlashCommand"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			o := valid()
			tt.mod(&o)
			_, err := New(o)
			if len(tt.wants) == 0 {
				if err != nil {
					t.Fatalf("New = %v, want success", err)
				}
				return
			}
			if err == nil {
				t.Fatal("New succeeded, want an error")
			}
			for _, w := range tt.wants {
				if !strings.Contains(err.Error(), w) {
					t.Errorf("error %q does not name %q", err, w)
				}
			}
		})
	}
}

func TestOptionsDefaults(t *testing.T) {
	o, err := Options{BotToken: "b", AppToken: "a", Logger: slog.Default(), Registerer: prometheus.NewRegistry()}.withDefaults()
	if err != nil {
		t.Fatal(err)
	}
	if o.APIURL != DefaultAPIURL || o.Workers != 8 || o.MessageInterval != time.Second || o.SlashCommand != "/ops" ||
		o.MaxRetries != 3 || o.DedupeTTL < 5*time.Minute {
		t.Errorf("defaults = %+v", o)
	}
}

func TestMetricsRegisterOnce(t *testing.T) {
	reg := prometheus.NewRegistry()
	o := Options{BotToken: "b", AppToken: "a", Logger: slog.Default(), Registerer: reg}
	if _, err := New(o); err != nil {
		t.Fatal(err)
	}
	if _, err := New(o); err == nil {
		t.Error("a second adapter on the same registry registered the same metrics")
	}
}

func TestDedupe(t *testing.T) {
	t0 := time.Unix(1700000000, 0)
	d := newDedupe(time.Minute, 3)
	steps := []struct {
		key  string
		at   time.Duration
		seen bool
	}{
		{"a", 0, false},
		{"a", 30 * time.Second, true},
		{"b", 31 * time.Second, false},
		{"a", 61 * time.Second, false}, // expired, recorded again
		{"c", 62 * time.Second, false},
		{"d", 63 * time.Second, false}, // capacity 3: the oldest ("b") goes
		{"b", 64 * time.Second, false},
		{"d", 65 * time.Second, true},
	}
	for i, s := range steps {
		if got := d.seen(s.key, t0.Add(s.at)); got != s.seen {
			t.Errorf("step %d: seen(%q) = %v, want %v", i, s.key, got, s.seen)
		}
		if d.len() > 3 {
			t.Fatalf("step %d: %d keys held, cap 3", i, d.len())
		}
	}
}

func TestGroupDirectory(t *testing.T) {
	now := time.Unix(1700000000, 0)
	var mu sync.Mutex
	calls := 0
	fail := false
	g := &groupDirectory{
		fetch: func(context.Context) ([]slackapi.UserGroup, error) {
			mu.Lock()
			defer mu.Unlock()
			calls++
			if fail {
				return nil, errors.New("boom")
			}
			return []slackapi.UserGroup{
				{ID: "S2", Users: []string{"U1"}},
				{ID: "S1", Users: []string{"U1", "U2"}},
				{ID: "S3", Users: []string{"U1"}, DateDelete: 1},
			}, nil
		},
		ttl: time.Minute,
		now: func() time.Time { return now },
		log: slog.New(slog.NewTextHandler(io.Discard, nil)),
	}
	ctx := context.Background()
	if got := g.groups(ctx, "U1"); !slices.Equal(got, []string{"S1", "S2"}) {
		t.Errorf("U1 groups = %v", got)
	}
	if got := g.groups(ctx, "U9"); len(got) != 0 {
		t.Errorf("U9 groups = %v", got)
	}
	if calls != 1 {
		t.Errorf("%d fetches within the TTL, want 1", calls)
	}
	now = now.Add(2 * time.Minute)
	fail = true
	if got := g.groups(ctx, "U2"); !slices.Equal(got, []string{"S1"}) {
		t.Errorf("after a failed refresh U2 groups = %v, want the last known [S1]", got)
	}
	g.groups(ctx, "U2")
	if calls != 2 {
		t.Errorf("%d fetches, want 2: a failure is not retried on every event", calls)
	}
}

func TestStripMention(t *testing.T) {
	tests := []struct{ text, bot, want string }{
		{"<@UBOT> status", "UBOT", "status"},
		{"hey <@UBOT|smartcloudops>  approve p-1", "UBOT", "hey approve p-1"},
		{"<@UBOT2> not me <@UBOT>", "UBOT", "<@UBOT2> not me"},
		{"<@UBOT", "UBOT", "<@UBOT"},
		{"<@UX> status", "", "status"},
		{"status", "", "status"},
		{"", "UBOT", ""},
	}
	for _, tt := range tests {
		if got := stripMention(tt.text, tt.bot); got != tt.want {
			t.Errorf("stripMention(%q, %q) = %q, want %q", tt.text, tt.bot, got, tt.want)
		}
	}
}

func TestTranslate(t *testing.T) {
	req := &socketmode.Request{EnvelopeID: "env"}
	cb := func(id string) *slackevents.EventsAPICallbackEvent {
		return &slackevents.EventsAPICallbackEvent{EventID: id}
	}
	tests := []struct {
		name     string
		evt      socketmode.Event
		kind     string
		key      string
		event    bool
		forceEph bool
	}{
		{"mention by bot", socketmode.Event{Type: socketmode.EventTypeEventsAPI, Request: req,
			Data: slackevents.EventsAPIEvent{Data: cb("Ev1"), InnerEvent: slackevents.EventsAPIInnerEvent{
				Data: &slackevents.AppMentionEvent{User: "U2", BotID: "B9", Text: "<@UBOT> x"}}}},
			kindIgnored, "ev:Ev1", false, false},
		{"channel message", socketmode.Event{Type: socketmode.EventTypeEventsAPI, Request: req,
			Data: slackevents.EventsAPIEvent{Data: cb("Ev2"), InnerEvent: slackevents.EventsAPIInnerEvent{
				Data: &slackevents.MessageEvent{User: "U2", ChannelType: "channel", Text: "x"}}}},
			kindIgnored, "ev:Ev2", false, false},
		{"dm without event id", socketmode.Event{Type: socketmode.EventTypeEventsAPI, Request: req,
			Data: slackevents.EventsAPIEvent{InnerEvent: slackevents.EventsAPIInnerEvent{
				Data: &slackevents.MessageEvent{User: "U2", ChannelType: "im", Channel: "D1", Text: "x"}}}},
			kindDM, "env:env", true, false},
		{"view submission", socketmode.Event{Type: socketmode.EventTypeInteractive, Request: req,
			Data: slackapi.InteractionCallback{Type: slackapi.InteractionTypeViewSubmission}},
			kindIgnored, "env:env", false, false},
		{"button", socketmode.Event{Type: socketmode.EventTypeInteractive, Request: req,
			Data: slackapi.InteractionCallback{Type: slackapi.InteractionTypeBlockActions,
				Channel:        slackapi.Channel{GroupConversation: slackapi.GroupConversation{Conversation: slackapi.Conversation{ID: "C1"}}},
				ActionCallback: slackapi.ActionCallbacks{BlockActions: []*slackapi.BlockAction{{ActionID: "reject", Value: "p-1"}}}}},
			kindButton, "env:env", true, true},
		{"wrong data type", socketmode.Event{Type: socketmode.EventTypeSlashCommand, Request: req, Data: "x"},
			kindIgnored, "env:env", false, false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			in := translate(tt.evt, "UBOT", "/ops")
			if in.kind != tt.kind || in.dedupeKey != tt.key || (in.event != nil) != tt.event || in.route.forceEphem != tt.forceEph {
				t.Errorf("translate = kind %s key %s event %v ephemeral %v", in.kind, in.dedupeKey, in.event != nil, in.route.forceEphem)
			}
			if tt.name == "button" && (in.event.Message != bot.Ref{Platform: "slack", Channel: "C1"} ||
				in.event.Button.Action != "reject") {
				t.Errorf("button event = %+v", in.event)
			}
		})
	}
}

func TestDecodeFrame(t *testing.T) {
	f, err := decodeFrame([]byte(`{"envelope_id":"e1","type":"events_api","payload":{"event_id":"Ev1","event":{"type":"x"}}}`))
	if err != nil || f.EnvelopeID != "e1" || f.Payload.EventID != "Ev1" || f.Payload.Event.Type != "x" {
		t.Errorf("decodeFrame = %+v, %v", f, err)
	}
	f, err = decodeFrame([]byte(`{"envelope_id":"e2","payload":[1,2]}`))
	if err != nil || f.EnvelopeID != "e2" {
		t.Errorf("decodeFrame with an array payload = %+v, %v", f, err)
	}
	if _, err := decodeFrame([]byte(`{`)); err == nil {
		t.Error("decodeFrame accepted broken JSON")
	}
}

func TestOutboxPacesPerChannel(t *testing.T) {
	m, err := newMetrics(prometheus.NewRegistry())
	if err != nil {
		t.Fatal(err)
	}
	ob := newOutbox(0, m)
	ctx := context.Background()
	var mu sync.Mutex
	var starts []time.Time
	op := func(context.Context) error {
		mu.Lock()
		starts = append(starts, time.Now())
		mu.Unlock()
		return nil
	}
	const interval = 50 * time.Millisecond
	var wg sync.WaitGroup
	for range 3 {
		wg.Go(func() {
			if err := ob.do(ctx, "post:C1", interval, op); err != nil {
				t.Error(err)
			}
		})
	}
	wg.Wait()
	slices.SortFunc(starts, func(a, b time.Time) int { return a.Compare(b) })
	for i := 1; i < len(starts); i++ {
		if gap := starts[i].Sub(starts[i-1]); gap < interval {
			t.Errorf("calls %d and %d were %v apart, want at least %v", i-1, i, gap, interval)
		}
	}
	// Another channel is not held back by C1's pace.
	if err := ob.do(ctx, "post:C2", interval, op); err != nil {
		t.Fatal(err)
	}
	if len(ob.lanes) != 2 {
		t.Errorf("%d lanes, want 2", len(ob.lanes))
	}
}

// TestMentionTextIsUnescaped: Slack sends &, < and > in message text as entities; commands
// must see what the person typed.
func TestMentionTextIsUnescaped(t *testing.T) {
	for text, want := range map[string]string{
		"<@UBOT> query rate(x[5m]) &gt; 0.5 &amp;&amp; up &lt; 1":     "query rate(x[5m]) > 0.5 && up < 1",
		"<@UBOT> reject p-1 &amp;gt; is how Slack sends a typed &gt;": "reject p-1 &gt; is how Slack sends a typed >",
	} {
		evt := socketmode.Event{Type: socketmode.EventTypeEventsAPI, Request: &socketmode.Request{EnvelopeID: "e"},
			Data: slackevents.EventsAPIEvent{Data: &slackevents.EventsAPICallbackEvent{EventID: "Ev1"},
				InnerEvent: slackevents.EventsAPIInnerEvent{Data: &slackevents.AppMentionEvent{User: "U2", Channel: "C1", Text: text}}}}
		if in := translate(evt, "UBOT", "/ops"); in.event == nil || in.event.Text != want {
			t.Errorf("%q: command text %+v, want %q", text, in.event, want)
		}
	}
}
