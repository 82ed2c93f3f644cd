package discord

import (
	"context"
	"encoding/json"
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"github.com/bwmarrin/discordgo"
	"github.com/prometheus/client_golang/prometheus/testutil"

	"github.com/smartcloudops/smartcloudops/bot"
	"github.com/smartcloudops/smartcloudops/bot/discord/discordfake"
)

// TestReplyVisibility shares one session across the ways a command's reply can be shown.
func TestReplyVisibility(t *testing.T) {
	t.Parallel()
	e := newEnv(t, func(o *Options) { o.SkipCommandRegistration = true })
	replies := map[string]bot.Message{
		"help":      bot.Text("commands: ..."),
		"status":    {Text: "only for you", Ephemeral: true},
		"incidents": {},
	}
	rec := newRecorder(func(_ context.Context, ev bot.Event) bot.Message {
		if ev.Text == "silences" {
			panic("handler bug")
		}
		return replies[ev.Text]
	})
	stop, _ := e.run(rec.handle)
	e.waitReady(1)

	send := func(sub string, opts ...discordfake.Option) string {
		t.Helper()
		tok := "tok-" + sub
		in := discordfake.Interaction{ID: "I-" + sub, Token: tok, Member: alice}
		if err := e.fake.SendInteraction(e.fake.Command(in, "ops", discordfake.Sub(sub, opts...))); err != nil {
			t.Fatal(err)
		}
		return tok
	}
	for _, tc := range []struct {
		sub        string
		wantFlags  discordgo.MessageFlags // of the deferred response
		wantDelete bool
		wantEdit   bool
		wantFollow discordgo.MessageFlags // -1 for no followup
		wantText   string
	}{
		{sub: "help", wantFlags: discordgo.MessageFlagsEphemeral, wantEdit: true, wantFollow: -1, wantText: "commands: ..."},
		{sub: "status", wantDelete: true, wantFollow: discordgo.MessageFlagsEphemeral, wantText: "only for you"},
		{sub: "incidents", wantDelete: true, wantFollow: -1},
		{sub: "silences", wantDelete: true, wantFollow: discordgo.MessageFlagsEphemeral, wantText: "internal error (ref c-"},
	} {
		tok := send(tc.sub)
		cb := e.waitRequest(tc.sub+" callback", discordfake.Route("POST", "/api/v9/interactions/I-"+tc.sub+"/"))
		if typ, flags := callbackType(t, cb); typ != 5 || flags != tc.wantFlags {
			t.Errorf("%s: deferred type %d flags %d, want 5 and %d", tc.sub, typ, flags, tc.wantFlags)
		}
		hook := "/api/v9/webhooks/APP1/" + tok
		var last discordfake.Request
		switch {
		case tc.wantEdit:
			last = e.waitRequest(tc.sub+" edit", discordfake.Route("PATCH", hook+"/messages/@original"))
		case tc.wantFollow >= 0:
			last = e.waitRequest(tc.sub+" followup", func(r discordfake.Request) bool { return r.Method == "POST" && r.Path == hook })
		default:
			last = e.waitRequest(tc.sub+" delete", discordfake.Route("DELETE", hook+"/messages/@original"))
		}
		if tc.wantDelete && countRoute(e.fake, "DELETE", hook+"/messages/@original") != 1 {
			t.Errorf("%s: deferred response not deleted", tc.sub)
		}
		if tc.wantFollow >= 0 {
			var p struct {
				Content string                 `json:"content"`
				Flags   discordgo.MessageFlags `json:"flags"`
			}
			if err := last.JSON(&p); err != nil || p.Flags != tc.wantFollow || !strings.HasPrefix(p.Content, tc.wantText) {
				t.Errorf("%s: followup %s, want flags %d and %q", tc.sub, last.Body, tc.wantFollow, tc.wantText)
			}
		}
		if tc.wantEdit && !strings.Contains(string(last.Body), tc.wantText) {
			t.Errorf("%s: edit %s, want %q", tc.sub, last.Body, tc.wantText)
		}
	}
	if err := stop(); err != nil {
		t.Error(err)
	}
}

// TestRejectedInteractions covers input the adapter answers itself, without the Handler.
func TestRejectedInteractions(t *testing.T) {
	t.Parallel()
	e := newEnv(t, func(o *Options) { o.SkipCommandRegistration = true })
	rec := newRecorder(nil)
	stop, _ := e.run(rec.handle)
	e.waitReady(1)
	for _, tc := range []struct {
		id      string
		payload map[string]any
		want    string
	}{
		{"I-unknown-sub", e.fake.Command(discordfake.Interaction{ID: "I-unknown-sub", Token: "t1", Member: alice}, "ops", discordfake.Sub("reboot")), "could not read this command"},
		{"I-missing-opt", e.fake.Command(discordfake.Interaction{ID: "I-missing-opt", Token: "t2", Member: alice}, "ops", discordfake.Sub("approve")), `option "id" is required`},
		{"I-forged-button", e.fake.Button(discordfake.Interaction{ID: "I-forged-button", Token: "t3", Member: alice}, "M1", "Run", "run:rm -rf"), "not one of SmartCloudOps' buttons"},
	} {
		if err := e.fake.SendInteraction(tc.payload); err != nil {
			t.Fatal(err)
		}
		cb := e.waitRequest(tc.id, discordfake.Route("POST", "/api/v9/interactions/"+tc.id+"/"))
		var r struct {
			Type int `json:"type"`
			Data struct {
				Content string                 `json:"content"`
				Flags   discordgo.MessageFlags `json:"flags"`
			} `json:"data"`
		}
		if err := cb.JSON(&r); err != nil || r.Type != 4 || r.Data.Flags != discordgo.MessageFlagsEphemeral || !strings.Contains(r.Data.Content, tc.want) {
			t.Errorf("%s: answered %s, want a private message containing %q", tc.id, cb.Body, tc.want)
		}
	}
	if got := testutil.ToFloat64(e.a.m.events.WithLabelValues(kindInvalid)); got != 3 {
		t.Errorf("invalid events = %v, want 3", got)
	}
	select {
	case ev := <-rec.events:
		t.Errorf("handler saw %+v", ev)
	default:
	}
	if err := stop(); err != nil {
		t.Error(err)
	}
}

// TestInteractionsEndpoint covers the HTTP interactions endpoint against a running adapter.
func TestInteractionsEndpoint(t *testing.T) {
	t.Parallel()
	e := newEnv(t, func(o *Options) { o.SkipCommandRegistration = true })
	srv := httptest.NewServer(e.a.InteractionsHandler())
	t.Cleanup(srv.Close)
	post := func(body []byte, ts time.Time, tamper bool) (*http.Response, string) {
		t.Helper()
		req, err := discordfake.SignedRequest(e.priv, srv.URL, body, ts)
		if err != nil {
			t.Fatal(err)
		}
		if tamper {
			sig := []byte(req.Header.Get("X-Signature-Ed25519"))
			if sig[0] == 'a' {
				sig[0] = 'b'
			} else {
				sig[0] = 'a'
			}
			req.Header.Set("X-Signature-Ed25519", string(sig))
		}
		resp, err := srv.Client().Do(req)
		if err != nil {
			t.Fatal(err)
		}
		defer resp.Body.Close()
		var b strings.Builder
		_, _ = io.Copy(&b, resp.Body)
		return resp, b.String()
	}
	ping, _ := json.Marshal(e.fake.Ping("P1"))
	cmd, _ := json.Marshal(e.fake.Command(discordfake.Interaction{ID: "H1", Token: "htok", Member: alice}, "ops", discordfake.Sub("whoami")))

	// Before Run: PING works, interactions are refused with 503.
	if resp, body := post(ping, fixedNow, false); resp.StatusCode != 200 || strings.TrimSpace(body) != `{"type":1}` {
		t.Errorf("PING: %d %s", resp.StatusCode, body)
	}
	if resp, _ := post(cmd, fixedNow, false); resp.StatusCode != http.StatusServiceUnavailable {
		t.Errorf("command before Run: %d, want 503", resp.StatusCode)
	}
	for _, tc := range []struct {
		name   string
		ts     time.Time
		tamper bool
	}{
		{"bad signature", fixedNow, true},
		{"stale timestamp", fixedNow.Add(-6 * time.Minute), false},
		{"future timestamp", fixedNow.Add(6 * time.Minute), false},
	} {
		if resp, _ := post(ping, tc.ts, tc.tamper); resp.StatusCode != http.StatusUnauthorized {
			t.Errorf("%s: %d, want 401", tc.name, resp.StatusCode)
		}
	}
	if resp, err := srv.Client().Get(srv.URL); err != nil || resp.StatusCode != http.StatusMethodNotAllowed {
		t.Errorf("GET: %v %v, want 405", resp, err)
	} else {
		resp.Body.Close()
	}

	rec := newRecorder(func(_ context.Context, ev bot.Event) bot.Message { return bot.Text("you are " + ev.User.ID) })
	stop, _ := e.run(rec.handle)
	e.waitReady(1)
	resp, body := post(cmd, fixedNow.Add(-4*time.Minute), false)
	if resp.StatusCode != 200 || strings.TrimSpace(body) != `{"type":5,"data":{"tts":false,"content":"","components":null,"embeds":null,"flags":64}}` {
		t.Errorf("command: %d %s, want a private deferred response", resp.StatusCode, body)
	}
	if ev := rec.next(t); ev.Text != "whoami" || ev.User.ID != "U1" {
		t.Errorf("event = %+v", ev)
	}
	edit := e.waitRequest("edit", discordfake.Route("PATCH", "/api/v9/webhooks/APP1/htok/messages/@original"))
	if !strings.Contains(string(edit.Body), "you are U1") {
		t.Errorf("edit = %s", edit.Body)
	}
	if countRoute(e.fake, "POST", "/api/v9/interactions/H1/") != 0 {
		t.Error("an HTTP interaction was also answered through the callback endpoint")
	}
	if err := stop(); err != nil {
		t.Error(err)
	}
}

func TestInteractionsEndpointDisabled(t *testing.T) {
	t.Parallel()
	e := newEnv(t, func(o *Options) { o.PublicKey = "" })
	w := httptest.NewRecorder()
	e.a.InteractionsHandler().ServeHTTP(w, httptest.NewRequest("POST", "/", strings.NewReader("{}")))
	if w.Code != http.StatusNotFound {
		t.Errorf("status %d, want 404", w.Code)
	}
}

// TestBusy fills the single worker and the single queue slot; the next interaction is told the
// bot is busy instead of waiting past Discord's deadline.
func TestBusy(t *testing.T) {
	t.Parallel()
	e := newEnv(t, func(o *Options) {
		o.SkipCommandRegistration = true
		o.Workers, o.QueueSize = 1, 1
	})
	release := make(chan struct{})
	rec := newRecorder(func(ctx context.Context, _ bot.Event) bot.Message {
		select {
		case <-release:
		case <-ctx.Done():
		}
		return bot.Text("done")
	})
	stop, _ := e.run(rec.handle)
	e.waitReady(1)
	for i, id := range []string{"B1", "B2", "B3"} {
		in := discordfake.Interaction{ID: id, Token: "tok" + id, Member: alice}
		if err := e.fake.SendInteraction(e.fake.Command(in, "ops", discordfake.Sub("status"))); err != nil {
			t.Fatal(err)
		}
		cb := e.waitRequest(id, discordfake.Route("POST", "/api/v9/interactions/"+id+"/"))
		if i == 0 {
			rec.next(t) // B1 holds the worker; B2 waits in the queue
		}
		typ, _ := callbackType(t, cb)
		if want := map[bool]int{true: 4, false: 5}[i == 2]; typ != want {
			t.Errorf("%s: callback type %d, want %d", id, typ, want)
		}
		if i == 2 && !strings.Contains(string(cb.Body), "busy") {
			t.Errorf("%s: %s, want the busy message", id, cb.Body)
		}
	}
	close(release)
	rec.next(t)
	e.waitRequest("B2 edit", discordfake.Route("PATCH", "/api/v9/webhooks/APP1/tokB2/messages/@original"))
	if got := testutil.ToFloat64(e.a.m.events.WithLabelValues(kindBusy)); got != 1 {
		t.Errorf("busy events = %v, want 1", got)
	}
	if err := stop(); err != nil {
		t.Error(err)
	}
}
