package app

import (
	"encoding/json"
	"errors"
	"fmt"
	"regexp"
	"slices"
	"strings"
	"testing"
	"time"

	"go.uber.org/goleak"

	"github.com/smartcloudops/smartcloudops/bot"
	"github.com/smartcloudops/smartcloudops/bot/discord/discordfake"
	"github.com/smartcloudops/smartcloudops/internal/config"
	"github.com/smartcloudops/smartcloudops/internal/store"
)

// Discord identities of the test: the fake's application, the channels, an operator who
// holds the operator role through a guild role, and a viewer without it.
const (
	discordApp      = "APP1"
	discordGuild    = "G1"
	discordAlerts   = "DALERTS"
	discordChat     = "DCHAT"
	discordOpsRole  = "ROPS"
	discordOperator = "DOPS"
	discordViewer   = "DVIEW"
)

// discordMessage is the part of a message body (a channel message, an edit, a followup or an
// interaction response edit) the test reads.
type discordMessage struct {
	Content string `json:"content"`
	Flags   int    `json:"flags"`
	Embeds  []struct {
		Title       string `json:"title"`
		Description string `json:"description"`
		Fields      []struct {
			Name  string `json:"name"`
			Value string `json:"value"`
		} `json:"fields"`
		Image *struct {
			URL string `json:"url"`
		} `json:"image"`
	} `json:"embeds"`
	Components []struct {
		Components []struct {
			CustomID string `json:"custom_id"`
			Label    string `json:"label"`
		} `json:"components"`
	} `json:"components"`
	Reference *struct {
		MessageID string `json:"message_id"`
	} `json:"message_reference"`
}

// ephemeral is Discord's message flag for a reply only the person who acted sees.
const ephemeral = 1 << 6

func readDiscordMessage(t *testing.T, r discordfake.Request) discordMessage {
	t.Helper()
	var m discordMessage
	if err := r.JSON(&m); err != nil {
		t.Fatalf("%s %s body: %v\n%s", r.Method, r.Path, err, r.Body)
	}
	return m
}

// button returns the value of the button with action, or "".
func (m discordMessage) button(action string) string {
	for _, row := range m.Components {
		for _, c := range row.Components {
			if a, v, ok := strings.Cut(c.CustomID, ":"); ok && a == action {
				return v
			}
		}
	}
	return ""
}

// text is everything the message shows as text, for assertions on what a person reads.
func (m discordMessage) text() string {
	parts := []string{m.Content}
	for _, e := range m.Embeds {
		parts = append(parts, e.Title, e.Description)
		for _, f := range e.Fields {
			parts = append(parts, f.Name+": "+f.Value)
		}
	}
	return strings.Join(parts, "\n")
}

// discordWaiter waits for REST requests the bot sends to the fake.
type discordWaiter struct {
	t    *testing.T
	fake *discordfake.Server
}

func (w discordWaiter) request(what string, match func(discordfake.Request) bool) discordfake.Request {
	w.t.Helper()
	r, err := w.fake.WaitRequest(waitCtx(w.t), match)
	if err != nil {
		w.t.Fatalf("%s: %v\nrecorded requests:\n%s", what, err, describeDiscordRequests(w.fake.Requests()))
	}
	return r
}

// interaction dispatches payload over the gateway and waits for its first response, checking
// its type: 5 (deferred reply) for commands, 6 (deferred update) for buttons.
func (w discordWaiter) interaction(payload map[string]any, wantType int) {
	w.t.Helper()
	if err := w.fake.SendInteraction(payload); err != nil {
		w.t.Fatal(err)
	}
	path := fmt.Sprintf("/api/v9/interactions/%s/%s/callback", payload["id"], payload["token"])
	r := w.request("the response to interaction "+path, func(r discordfake.Request) bool { return r.Method == "POST" && r.Path == path })
	var cb struct {
		Type int `json:"type"`
	}
	if err := r.JSON(&cb); err != nil || cb.Type != wantType || r.Status != 204 {
		w.t.Fatalf("interaction response %s = %d %s, want type %d", path, r.Status, r.Body, wantType)
	}
}

// followup waits for the followup message of the interaction with token.
func (w discordWaiter) followup(token string) discordMessage {
	w.t.Helper()
	r := w.request("the followup of "+token, discordfake.Route("POST", "/api/v9/webhooks/"+discordApp+"/"+token))
	return readDiscordMessage(w.t, r)
}

func describeDiscordRequests(rs []discordfake.Request) string {
	var b strings.Builder
	for _, r := range rs {
		fmt.Fprintf(&b, "  %d %s %s files=%d %.300s\n", r.Status, r.Method, r.Path, len(r.Files), r.Body)
	}
	return b.String()
}

// cardRef waits until the bot has recorded where it posted the card of proposal id on
// platform, and returns it. The record is written right after the post returns.
func cardRef(t *testing.T, b *chatBot, platform, id string) bot.Ref {
	t.Helper()
	ctx := waitCtx(t)
	p, err := b.Proposals.Get(ctx, id)
	if err != nil {
		t.Fatalf("proposal %s: %v", id, err)
	}
	key := "cards/" + p.Incident + "/" + platform
	tick := time.NewTicker(10 * time.Millisecond)
	defer tick.Stop()
	for {
		kv, err := b.Store.Get(ctx, key)
		if err == nil {
			var rec struct {
				Ref bot.Ref `json:"ref"`
			}
			if err := json.Unmarshal(kv.Value, &rec); err != nil {
				t.Fatalf("card record %s: %v", key, err)
			}
			return rec.Ref
		}
		if !errors.Is(err, store.ErrNotFound) {
			t.Fatalf("card record %s: %v", key, err)
		}
		select {
		case <-ctx.Done():
			t.Fatalf("the bot never recorded %s", key)
		case <-tick.C:
		}
	}
}

// discordConfig is testConfig with Discord enabled against fake, the operator role held by
// the members of discordOpsRole.
func discordConfig(t *testing.T, dir string, fake *discordfake.Server) (config.Config, []string) {
	cfg := testConfig(t, dir)
	cfg.Discord = config.Discord{Enabled: true, Token: "env:DISCORD_TOKEN", ApplicationID: discordApp, GuildID: discordGuild,
		APIURL: fake.URL, DefaultChannel: discordAlerts}
	cfg.Roles = map[string]config.Role{"operator": {Groups: []string{"discord:" + discordOpsRole}}}
	return cfg, []string{"DISCORD_TOKEN=e2e-token"}
}

// TestDiscordEndToEnd runs the whole bot against the Discord fake, with the real discordgo
// client inside: /ops is registered in the guild; the replayed CPU spike becomes an embed with
// Approve and Reject buttons in the default channel; /ops proposals is deferred and then
// edited into the list; a click by a member without the role is deferred and refused in a
// private followup; a click by a member of the mapped guild role runs the action once, the
// card is edited and the output posted as a reply to it; a second click runs nothing more.
func TestDiscordEndToEnd(t *testing.T) {
	defer goleak.VerifyNone(t, goleak.IgnoreCurrent())
	fake, err := discordfake.New(discordfake.Options{Token: "e2e-token", AppID: discordApp})
	if err != nil {
		t.Fatal(err)
	}
	defer fake.Close()
	dir := t.TempDir()
	cfg, environ := discordConfig(t, dir, fake)
	b := startChatBot(t, cfg, environ)
	defer b.stop(t)
	w := discordWaiter{t: t, fake: fake}

	reg := w.request("the /ops registration", discordfake.Route("PUT", "/api/v9/applications/"+discordApp+"/guilds/"+discordGuild+"/commands"))
	var cmds []struct {
		Name string `json:"name"`
	}
	if err := reg.JSON(&cmds); err != nil || len(cmds) != 1 || cmds[0].Name != "ops" || reg.Status != 200 {
		t.Fatalf("registered commands = %d %s, want /ops", reg.Status, reg.Body)
	}
	if _, err := fake.WaitFrame(waitCtx(t), func(f discordfake.Frame) bool {
		return f.Dir == discordfake.FromServer && f.Type == "READY"
	}); err != nil {
		t.Fatalf("gateway never became ready: %v", err)
	}

	// The proposal's card: the first post or edit in the default channel with an Approve
	// button (the card may be posted before the rule proposes, then edited).
	alerts := "/api/v9/channels/" + discordAlerts + "/messages"
	cardReq := w.request("the card with the proposal", func(r discordfake.Request) bool {
		if !strings.HasPrefix(r.Path, alerts) || (r.Method != "POST" && r.Method != "PATCH") {
			return false
		}
		return readDiscordMessage(t, r).button("approve") != ""
	})
	card := readDiscordMessage(t, cardReq)
	// The Approve button names the proposal and the plan hash the card shows.
	approveValue := card.button("approve")
	id, _, _ := strings.Cut(approveValue, ".")
	if !regexp.MustCompile(`^p-[0-9a-f]+\.[0-9a-f]{16}$`).MatchString(approveValue) || card.button("reject") != id || len(card.Embeds) != 1 {
		t.Fatalf("card %s %s: %d embeds, components %+v; want one embed with Approve and Reject naming one proposal",
			cardReq.Method, cardReq.Path, len(card.Embeds), card.Components)
	}
	if txt := card.text(); !strings.Contains(txt, "above the expected band") || !strings.Contains(txt, "Proposal "+id+": script scale_up.sh web-asg 2 3") {
		t.Fatalf("card does not state the spike and the plan of %s:\n%s", id, txt)
	}
	ref := cardRef(t, b, "discord", id)
	if ref.Channel != discordAlerts || (cardReq.Method == "PATCH" && cardReq.Path != alerts+"/"+ref.ID) {
		t.Fatalf("card recorded at %+v, but the proposal was shown by %s %s", ref, cardReq.Method, cardReq.Path)
	}
	// Every card is posted once, with its chart attached and shown in the embed.
	for _, r := range fake.Requests() {
		if r.Method != "POST" || r.Path != alerts {
			continue
		}
		m := readDiscordMessage(t, r)
		if m.Reference != nil {
			continue
		}
		if len(r.Files) != 1 || !strings.HasPrefix(string(r.Files[0].Data), "\x89PNG\r\n\x1a\n") ||
			len(m.Embeds) != 1 || m.Embeds[0].Image == nil || m.Embeds[0].Image.URL != "attachment://"+r.Files[0].Name {
			t.Fatalf("card posted without its chart: %d files, body %s", len(r.Files), r.Body)
		}
	}

	// /ops proposals: deferred, then the deferred response is edited into the list.
	viewer := discordfake.Member{ID: discordViewer, Username: "bob", Roles: []string{"RGUEST"}}
	w.interaction(fake.Command(discordfake.Interaction{ID: "I-list", Token: "tok-list", ChannelID: discordChat, Member: viewer},
		"ops", discordfake.Sub("proposals")), 5)
	list := readDiscordMessage(t, w.request("the proposals list", discordfake.Route("PATCH", "/api/v9/webhooks/"+discordApp+"/tok-list/messages/@original")))
	if !regexp.MustCompile(id + `\s+pending\s+script scale_up.sh web-asg 2 3`).MatchString(list.text()) {
		t.Fatalf("/ops proposals answered:\n%s", list.text())
	}

	// A member without the role clicks Approve: deferred, then refused privately.
	w.interaction(fake.Button(discordfake.Interaction{ID: "I-refused", Token: "tok-refused", ChannelID: discordAlerts, Member: viewer},
		ref.ID, "Approve", "approve:"+approveValue), 6)
	if m := w.followup("tok-refused"); m.Flags&ephemeral == 0 || !strings.Contains(m.text(), "approving "+id+" needs role operator") {
		t.Fatalf("refusal followup = flags %d %q, want a private \"needs role operator\"", m.Flags, m.text())
	}
	if n := scriptRuns(t, dir); n != 0 {
		t.Fatalf("the refused click ran the action %d times", n)
	}

	// A member of the mapped role clicks Approve: the action runs, the card is edited.
	operator := discordfake.Member{ID: discordOperator, Username: "alice", Roles: []string{"RGUEST", discordOpsRole}}
	w.interaction(fake.Button(discordfake.Interaction{ID: "I-approve", Token: "tok-approve", ChannelID: discordAlerts, Member: operator},
		ref.ID, "Approve", "approve:"+approveValue), 6)
	if m := w.followup("tok-approve"); !strings.Contains(m.text(), id+" succeeded") {
		t.Fatalf("approval followup = %q, want \"%s succeeded\"", m.text(), id)
	}
	edit := readDiscordMessage(t, w.request("the card edited to succeeded", func(r discordfake.Request) bool {
		return r.Method == "PATCH" && r.Path == alerts+"/"+ref.ID && strings.Contains(string(r.Body), "succeeded at")
	}))
	if txt := edit.text(); !strings.Contains(txt, "approved by <@"+discordOperator+">") || edit.button("approve") != "" || edit.button("reject") != "" {
		t.Fatalf("edited card shows:\n%s\ncomponents %+v; want who approved and no Approve or Reject", txt, edit.Components)
	}
	out := readDiscordMessage(t, w.request("the output as a reply to the card", func(r discordfake.Request) bool {
		return r.Method == "POST" && r.Path == alerts && strings.Contains(string(r.Body), `"message_id":"`+ref.ID+`"`)
	}))
	if txt := out.text(); !strings.Contains(txt, id+" succeeded") || !strings.Contains(txt, "scaling web-asg from 2 to 3 instances") {
		t.Fatalf("reply to the card:\n%s", txt)
	}

	// A second click runs nothing more.
	w.interaction(fake.Button(discordfake.Interaction{ID: "I-again", Token: "tok-again", ChannelID: discordAlerts, Member: operator},
		ref.ID, "Approve", "approve:"+approveValue), 6)
	if m := w.followup("tok-again"); m.Flags&ephemeral == 0 || !strings.Contains(m.text(), "proposal "+id+" is already succeeded") {
		t.Fatalf("second click followup = flags %d %q, want a private \"already succeeded\"", m.Flags, m.text())
	}

	b.stop(t)
	if n := scriptRuns(t, dir); n != 1 {
		t.Fatalf("the action ran %d times, want 1", n)
	}
	recs, refs := stoppedState(t, dir)
	if !slices.Contains(refs["discord"], ref) {
		t.Errorf("the bot's Discord cards %+v lost %+v", refs["discord"], ref)
	}
	checkDecisions(t, recs, id, "discord:"+discordViewer, "discord:"+discordOperator)
}
