package discord

import (
	"context"
	"encoding/json"
	"errors"
	"reflect"
	"strings"
	"testing"
	"time"

	"github.com/bwmarrin/discordgo"
	"github.com/prometheus/client_golang/prometheus/testutil"

	"github.com/smartcloudops/smartcloudops/bot"
	"github.com/smartcloudops/smartcloudops/bot/discord/discordfake"
)

var alice = discordfake.Member{ID: "U1", Username: "alice", Nick: "Alice", Roles: []string{"R-ops", "R-sre"}}

func proposalCard(id string) bot.Message {
	return bot.Message{
		Title:    "Scale web-asg from 4 to 6",
		Severity: bot.SeverityWarning,
		Text:     "CPU on web-asg above 90% for 10m.",
		Sections: []bot.Section{{Buttons: []bot.Button{
			{Action: bot.ActionApprove, Value: id, Label: "Approve", Style: bot.StylePrimary},
			{Action: bot.ActionReject, Value: id, Label: "Reject", Style: bot.StyleDanger},
		}}},
	}
}

func callbackType(t *testing.T, r discordfake.Request) (int, discordgo.MessageFlags) {
	t.Helper()
	var body struct {
		Type int `json:"type"`
		Data *struct {
			Flags discordgo.MessageFlags `json:"flags"`
		} `json:"data"`
	}
	if err := r.JSON(&body); err != nil {
		t.Fatalf("callback body %s: %v", r.Body, err)
	}
	if body.Data == nil {
		return body.Type, 0
	}
	return body.Type, body.Data.Flags
}

func customIDs(t *testing.T, body []byte) []string {
	t.Helper()
	var m struct {
		Components []struct {
			Components []struct {
				CustomID string `json:"custom_id"`
			} `json:"components"`
		} `json:"components"`
	}
	if err := json.Unmarshal(body, &m); err != nil {
		t.Fatalf("decode %s: %v", body, err)
	}
	var ids []string
	for _, row := range m.Components {
		for _, c := range row.Components {
			ids = append(ids, c.CustomID)
		}
	}
	return ids
}

// TestGatewayFlow drives one session through Hello/Identify/READY, command registration, a
// slash command and a button click.
func TestGatewayFlow(t *testing.T) {
	t.Parallel()
	e := newEnv(t, nil)
	var a *Adapter = e.a
	rec := newRecorder(func(ctx context.Context, ev bot.Event) bot.Message {
		if ev.Kind == bot.EventButton {
			if err := a.Update(ctx, ev.Message, bot.Message{Title: "Approved by " + ev.User.Name}); err != nil {
				return bot.Text("update failed: " + err.Error())
			}
			return bot.Message{Text: "You approved " + ev.Button.Value, Ephemeral: true}
		}
		return proposalCard("p-7f3a")
	})
	stop, _ := e.run(rec.handle)

	identify := e.waitFrame("identify", func(f discordfake.Frame) bool { return f.Dir == discordfake.FromClient && f.Op == 2 })
	var id struct {
		Token   string `json:"token"`
		Intents int    `json:"intents"`
	}
	if err := json.Unmarshal(identify.Data, &id); err != nil || id.Token != "Bot test-token" || id.Intents != int(discordgo.IntentsGuilds) {
		t.Fatalf("identify = %s (%v), want the bot token and the guilds intent only", identify.Data, err)
	}
	e.waitReady(1)
	reg := e.waitRequest("command registration", discordfake.Route("PUT", "/api/v9/applications/APP1/guilds/G1/commands"))
	var cmds []discordgo.ApplicationCommand
	if err := reg.JSON(&cmds); err != nil || len(cmds) != 1 || cmds[0].Name != "ops" {
		t.Fatalf("registered %s (%v), want one /ops command", reg.Body, err)
	}
	if got := testutil.ToFloat64(e.a.m.connected); got != 1 {
		t.Errorf("connected gauge = %v, want 1", got)
	}

	// Slash command: deferred (type 5), Handler, then the original response edited into the card.
	in := discordfake.Interaction{ID: "I1", Token: "itok1", Member: alice}
	if err := e.fake.SendInteraction(e.fake.Command(in, "ops", discordfake.Sub("approve", discordfake.String("id", "p-7f3a")))); err != nil {
		t.Fatal(err)
	}
	cb := e.waitRequest("command callback", discordfake.Route("POST", "/api/v9/interactions/I1/itok1/callback"))
	if typ, flags := callbackType(t, cb); typ != 5 || flags != 0 {
		t.Errorf("callback type %d flags %d, want a public deferred response (5, 0)", typ, flags)
	}
	ev := rec.next(t)
	want := bot.Event{Kind: bot.EventCommand, ID: "I1", Channel: "C1", Text: "approve p-7f3a",
		User: bot.User{Platform: "discord", ID: "U1", Name: "Alice", Groups: []string{"R-ops", "R-sre"}}}
	if !reflect.DeepEqual(ev, want) {
		t.Errorf("event = %+v\nwant    %+v", ev, want)
	}
	edit := e.waitRequest("edit original", discordfake.Route("PATCH", "/api/v9/webhooks/APP1/itok1/messages/@original"))
	if ids := customIDs(t, edit.Body); !reflect.DeepEqual(ids, []string{"approve:p-7f3a", "reject:p-7f3a"}) {
		t.Errorf("buttons = %v", ids)
	}

	// Button: deferred update (type 6), Handler sees Button and Ref, the card is updated and the
	// private reply goes out as a followup.
	in2 := discordfake.Interaction{ID: "I2", Token: "itok2", Member: alice}
	if err := e.fake.SendInteraction(e.fake.Button(in2, "M2", "Approve", "approve:p-7f3a")); err != nil {
		t.Fatal(err)
	}
	cb = e.waitRequest("button callback", discordfake.Route("POST", "/api/v9/interactions/I2/itok2/callback"))
	if typ, _ := callbackType(t, cb); typ != 6 {
		t.Errorf("button callback type %d, want a deferred update (6)", typ)
	}
	ev = rec.next(t)
	wantBtn := bot.Button{Action: bot.ActionApprove, Value: "p-7f3a", Label: "Approve", Style: bot.StylePrimary}
	if ev.Kind != bot.EventButton || ev.Button != wantBtn || ev.Message != (bot.Ref{Platform: "discord", Channel: "C1", ID: "M2"}) {
		t.Errorf("button event = %+v", ev)
	}
	upd := e.waitRequest("card update", discordfake.Route("PATCH", "/api/v9/channels/C1/messages/M2"))
	if !strings.Contains(string(upd.Body), "Approved by Alice") || !strings.Contains(string(upd.Body), `"components":[]`) {
		t.Errorf("card update body %s, want the new title and no buttons", upd.Body)
	}
	fu := e.waitRequest("followup", discordfake.Route("POST", "/api/v9/webhooks/APP1/itok2"))
	var params struct {
		Content string                 `json:"content"`
		Flags   discordgo.MessageFlags `json:"flags"`
	}
	if err := fu.JSON(&params); err != nil || params.Content != "You approved p-7f3a" || params.Flags != discordgo.MessageFlagsEphemeral {
		t.Errorf("followup %s (%v), want a private reply", fu.Body, err)
	}

	if got := testutil.ToFloat64(e.a.m.events.WithLabelValues(kindCommand)); got != 1 {
		t.Errorf("command events = %v, want 1", got)
	}
	if got := testutil.ToFloat64(e.a.m.events.WithLabelValues(kindButton)); got != 1 {
		t.Errorf("button events = %v, want 1", got)
	}
	if err := stop(); err != nil {
		t.Errorf("Run = %v, want nil after cancel", err)
	}
	if got := testutil.ToFloat64(e.a.m.connected); got != 0 {
		t.Errorf("connected gauge = %v after Run, want 0", got)
	}
}

// TestReconnect covers op 7 and a dropped connection: both reconnect and resume the session on
// READY's resume_gateway_url (the fake answers a Resume anywhere else with op 9), and
// interactions flow on the new connection.
func TestReconnect(t *testing.T) {
	t.Parallel()
	for _, tc := range []struct {
		name  string
		cause func(*discordfake.Server) error
	}{
		{"op7", (*discordfake.Server).Reconnect},
		{"dropped", (*discordfake.Server).Drop},
	} {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			e := newEnv(t, func(o *Options) { o.SkipCommandRegistration = true })
			rec := newRecorder(func(context.Context, bot.Event) bot.Message { return bot.Text("ok") })
			stop, _ := e.run(rec.handle)
			e.waitReady(1)
			if err := tc.cause(e.fake); err != nil {
				t.Fatal(err)
			}
			resume := e.waitFrame("resume", func(f discordfake.Frame) bool {
				return f.Conn == 2 && f.Dir == discordfake.FromClient && f.Op == 6
			})
			var d struct {
				SessionID string `json:"session_id"`
				Seq       int64  `json:"seq"`
			}
			if err := json.Unmarshal(resume.Data, &d); err != nil || d.SessionID != "sess-1" || d.Seq != 1 {
				t.Errorf("resume = %s (%v), want session sess-1 at seq 1", resume.Data, err)
			}
			if p := e.fake.DialPath(2); !strings.HasPrefix(p, "/resume-gw") {
				t.Errorf("resumed on %s, want READY's resume_gateway_url /resume-gw/", p)
			}
			e.waitFrame("RESUMED", func(f discordfake.Frame) bool {
				return f.Conn == 2 && f.Dir == discordfake.FromServer && f.Type == "RESUMED"
			})
			in := discordfake.Interaction{ID: "I9", Token: "itok9", Member: alice}
			if err := e.fake.SendInteraction(e.fake.Command(in, "ops", discordfake.Sub("status"))); err != nil {
				t.Fatal(err)
			}
			if ev := rec.next(t); ev.Text != "status" {
				t.Errorf("event text %q after reconnect, want status", ev.Text)
			}
			e.waitRequest("edit", discordfake.Route("PATCH", "/api/v9/webhooks/APP1/itok9/messages/@original"))
			if err := stop(); err != nil {
				t.Errorf("Run = %v", err)
			}
			if n := e.fake.Dials(); n != 2 {
				t.Errorf("dials = %d, want 2", n)
			}
		})
	}
}

// TestFatalClose checks that 4004 and 4014 stop Run with ErrFatalClose instead of looping.
func TestFatalClose(t *testing.T) {
	t.Parallel()
	for _, tc := range []struct {
		name      string
		refuse    int // close code for every handshake from the start
		live      int // close code sent to a live connection, which later handshakes also get
		wantCode  string
		wantDials int
	}{
		{name: "4004 at identify", refuse: 4004, wantCode: "4004", wantDials: 1},
		{name: "4014 at identify", refuse: 4014, wantCode: "4014", wantDials: 1},
		{name: "4014 on a live connection", live: 4014, wantCode: "4014", wantDials: 1},
	} {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			e := newEnv(t, func(o *Options) {
				o.SkipCommandRegistration = true
			})
			if tc.refuse != 0 {
				e.fake.RefuseHandshakes(tc.refuse)
			}
			stop, done := e.run(newRecorder(nil).handle)
			if tc.live != 0 {
				e.waitReady(1)
				e.fake.RefuseHandshakes(tc.live)
				if err := e.fake.CloseConn(tc.live); err != nil {
					t.Fatal(err)
				}
			}
			err := waitErr(t, done, stop)
			if !errors.Is(err, ErrFatalClose) || !strings.Contains(err.Error(), tc.wantCode) {
				t.Fatalf("Run = %v, want ErrFatalClose with code %s", err, tc.wantCode)
			}
			if n := e.fake.Dials(); n != tc.wantDials {
				t.Errorf("dials = %d, want %d: no reconnect loop", n, tc.wantDials)
			}
		})
	}
}

// TestRunUnauthorized checks that a 401 from command registration stops Run at once.
func TestRunUnauthorized(t *testing.T) {
	t.Parallel()
	e := newEnv(t, nil)
	e.fake.Inject("PUT", "/api/v9/applications/", discordfake.Unauthorized())
	stop, done := e.run(newRecorder(nil).handle)
	err := waitErr(t, done, stop)
	if !errors.Is(err, ErrUnauthorized) {
		t.Fatalf("Run = %v, want ErrUnauthorized", err)
	}
	n := 0
	for _, r := range e.fake.Requests() {
		if r.Method == "PUT" {
			n++
		}
	}
	if n != 1 || e.fake.Dials() != 1 {
		t.Errorf("%d registrations and %d dials, want one of each", n, e.fake.Dials())
	}
}

func TestRunTwice(t *testing.T) {
	t.Parallel()
	e := newEnv(t, func(o *Options) { o.SkipCommandRegistration = true })
	stop, _ := e.run(newRecorder(nil).handle)
	e.waitReady(1)
	if err := e.a.Run(context.Background(), newRecorder(nil).handle); !errors.Is(err, ErrAlreadyRunning) {
		t.Errorf("second Run = %v, want ErrAlreadyRunning", err)
	}
	if err := e.a.Run(context.Background(), nil); err == nil {
		t.Error("Run(nil handler) = nil, want an error")
	}
	if err := stop(); err != nil {
		t.Error(err)
	}
}

// TestInvalidSession covers op 9. With d false the adapter waits one to five seconds, as
// Discord asks, before it identifies on a new connection to the gateway URL; with d true it
// resumes on READY's resume_gateway_url.
func TestInvalidSession(t *testing.T) {
	t.Parallel()
	t.Run("not resumable", func(t *testing.T) {
		t.Parallel()
		e := newEnv(t, func(o *Options) { o.SkipCommandRegistration = true })
		waits := make(chan time.Duration)
		release := make(chan struct{})
		e.a.pause = func(ctx context.Context, d time.Duration) error {
			waits <- d
			select {
			case <-release:
			case <-ctx.Done():
			}
			return nil
		}
		rec := newRecorder(func(context.Context, bot.Event) bot.Message { return bot.Text("ok") })
		stop, _ := e.run(rec.handle)
		e.waitReady(1)
		if err := e.fake.InvalidSession(false); err != nil {
			t.Fatal(err)
		}
		var d time.Duration
		select {
		case d = <-waits:
		case <-time.After(10 * time.Second):
			t.Fatal("the adapter did not wait before identifying again")
		}
		if d < time.Second || d > 5*time.Second {
			t.Errorf("waits %v before identifying again, want 1s to 5s", d)
		}
		for _, f := range e.fake.Frames() {
			if f.Dir == discordfake.FromClient && (f.Op == 2 || f.Op == 6) && f.Conn > 1 {
				t.Fatalf("sent op %d on connection %d before the wait was over", f.Op, f.Conn)
			}
		}
		close(release)
		identify := e.waitFrame("identify after op 9", func(f discordfake.Frame) bool {
			return f.Conn == 2 && f.Dir == discordfake.FromClient && (f.Op == 2 || f.Op == 6)
		})
		if identify.Op != 2 || e.fake.DialPath(2) != "/gw/" {
			t.Errorf("after op 9 with d false sent op %d on %s, want a new Identify (op 2) on /gw/", identify.Op, e.fake.DialPath(2))
		}
		e.waitReady(2)
		in := discordfake.Interaction{ID: "I5", Token: "itok5", Member: alice}
		if err := e.fake.SendInteraction(e.fake.Command(in, "ops", discordfake.Sub("status"))); err != nil {
			t.Fatal(err)
		}
		if ev := rec.next(t); ev.Text != "status" {
			t.Errorf("event %q on the new session, want status", ev.Text)
		}
		if err := stop(); err != nil {
			t.Errorf("Run = %v", err)
		}
	})
	t.Run("resumable", func(t *testing.T) {
		t.Parallel()
		e := newEnv(t, func(o *Options) { o.SkipCommandRegistration = true })
		stop, _ := e.run(newRecorder(nil).handle)
		e.waitReady(1)
		if err := e.fake.InvalidSession(true); err != nil {
			t.Fatal(err)
		}
		resume := e.waitFrame("resume after op 9", func(f discordfake.Frame) bool {
			return f.Conn == 2 && f.Dir == discordfake.FromClient && (f.Op == 2 || f.Op == 6)
		})
		if resume.Op != 6 || !strings.HasPrefix(e.fake.DialPath(2), "/resume-gw") {
			t.Errorf("after op 9 with d true sent op %d on %s, want a Resume (op 6) on /resume-gw/", resume.Op, e.fake.DialPath(2))
		}
		e.waitFrame("RESUMED", func(f discordfake.Frame) bool {
			return f.Conn == 2 && f.Dir == discordfake.FromServer && f.Type == "RESUMED"
		})
		if err := stop(); err != nil {
			t.Errorf("Run = %v", err)
		}
	})
}

// TestUnauthorizedOnConnect checks that a token Discord refuses with 401 when the adapter asks
// for the gateway URL stops Run with ErrUnauthorized, before any websocket is opened.
func TestUnauthorizedOnConnect(t *testing.T) {
	t.Parallel()
	e := newEnv(t, nil)
	e.fake.SetToken("reset-token")
	stop, done := e.run(newRecorder(nil).handle)
	err := waitErr(t, done, stop)
	if !errors.Is(err, ErrUnauthorized) {
		t.Fatalf("Run = %v, want ErrUnauthorized", err)
	}
	gets := 0
	for _, r := range e.fake.Requests() {
		if r.Method == "GET" && r.Path == "/api/v9/gateway/bot" && r.Status == 401 {
			gets++
		}
	}
	if gets != 1 || e.fake.Dials() != 0 {
		t.Errorf("%d refused gateway lookups and %d dials, want 1 and 0", gets, e.fake.Dials())
	}
}
