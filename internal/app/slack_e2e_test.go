package app

import (
	"context"
	"encoding/json"
	"fmt"
	"log/slog"
	"os"
	"path/filepath"
	"regexp"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"go.uber.org/goleak"

	"github.com/smartcloudops/smartcloudops/bot"
	"github.com/smartcloudops/smartcloudops/bot/slack/slackfake"
	"github.com/smartcloudops/smartcloudops/internal/config"
	"github.com/smartcloudops/smartcloudops/internal/store"
	"github.com/smartcloudops/smartcloudops/remediation/audit"
)

// The helpers from here to the Slack section are shared with discord_e2e_test.go.

// chatWait bounds every single wait of the chat end-to-end tests, so a regression fails with
// what was recorded instead of hanging. A passing run takes a few seconds.
const chatWait = 15 * time.Second

// chatBot is a bot built from a configuration and running in-process against chat fakes.
type chatBot struct {
	*Bot
	cancel context.CancelFunc
	done   chan error
	once   sync.Once
}

// startChatBot builds the bot from cfg, with secrets resolved from environ, and runs it until
// the test ends or stop is called. The bot's log goes to a buffer shown when the test fails.
func startChatBot(t *testing.T, cfg config.Config, environ []string) *chatBot {
	t.Helper()
	logs := &syncBuffer{}
	log := slog.New(slog.NewTextHandler(logs, &slog.HandlerOptions{Level: slog.LevelInfo}))
	ctx, cancel := context.WithCancel(context.Background())
	b, err := Build(ctx, Options{Config: cfg, Logger: log, Environ: environ})
	if err != nil {
		cancel()
		t.Fatalf("build the bot: %v", err)
	}
	cb := &chatBot{Bot: b, cancel: cancel, done: make(chan error, 1)}
	go func() { cb.done <- b.Run(ctx) }()
	t.Cleanup(func() {
		cb.stop(t)
		if t.Failed() {
			t.Logf("bot log:\n%s", logs.String())
		}
	})
	return cb
}

// stop cancels the bot's context and waits for Run to return, which it does only after every
// adapter, worker and running action has finished and the store is closed.
func (c *chatBot) stop(t *testing.T) {
	t.Helper()
	c.once.Do(func() {
		c.cancel()
		select {
		case err := <-c.done:
			if err != nil {
				t.Errorf("Run returned %v after cancel, want nil", err)
			}
		case <-time.After(chatWait):
			t.Errorf("Run did not return within %v of cancel", chatWait)
		}
	})
}

// waitCtx is a context bounded by chatWait and cancelled when the test ends.
func waitCtx(t *testing.T) context.Context {
	ctx, cancel := context.WithTimeout(context.Background(), chatWait)
	t.Cleanup(cancel)
	return ctx
}

// scriptRuns counts the runs the test script recorded in the data dir of testConfig.
func scriptRuns(t *testing.T, dir string) int {
	t.Helper()
	b, err := os.ReadFile(filepath.Join(dir, "actions", "runs.log"))
	if err != nil && !os.IsNotExist(err) {
		t.Fatal(err)
	}
	return strings.Count(string(b), "run ")
}

// stoppedState opens the store of a stopped bot and returns its audit records (after checking
// the hash chain) and the message each adapter recorded for its cards.
func stoppedState(t *testing.T, dir string) ([]audit.Record, map[string][]bot.Ref) {
	t.Helper()
	st, err := store.OpenBolt(filepath.Join(dir, "smartcloudops.db"), store.BoltOptions{ReadOnly: true})
	if err != nil {
		t.Fatal(err)
	}
	defer st.Close()
	ctx := waitCtx(t)
	l, err := audit.New(audit.Options{Store: st})
	if err != nil {
		t.Fatal(err)
	}
	if n, err := l.Verify(ctx); err != nil {
		t.Fatalf("audit chain of %d records: %v", n, err)
	}
	recs, err := l.List(ctx, audit.Filter{})
	if err != nil {
		t.Fatal(err)
	}
	kvs, err := st.List(ctx, "cards/")
	if err != nil {
		t.Fatal(err)
	}
	cards := map[string][]bot.Ref{}
	for _, kv := range kvs {
		var rec struct {
			Ref bot.Ref `json:"ref"`
		}
		if err := json.Unmarshal(kv.Value, &rec); err != nil {
			t.Fatalf("card record %s: %v", kv.Key, err)
		}
		platform := kv.Key[strings.LastIndexByte(kv.Key, '/')+1:]
		cards[platform] = append(cards[platform], rec.Ref)
	}
	return recs, cards
}

// findAudit returns the records of kind about proposal.
func findAudit(recs []audit.Record, kind, proposal string) []audit.Record {
	var out []audit.Record
	for _, r := range recs {
		if r.Kind == kind && r.Proposal == proposal {
			out = append(out, r)
		}
	}
	return out
}

// counter returns the value of the counter name with labels in reg.
func counter(t *testing.T, reg prometheus.Gatherer, name string, labels map[string]string) float64 {
	t.Helper()
	mfs, err := reg.Gather()
	if err != nil {
		t.Fatal(err)
	}
	for _, mf := range mfs {
		if mf.GetName() != name {
			continue
		}
	metrics:
		for _, m := range mf.GetMetric() {
			got := map[string]string{}
			for _, lp := range m.GetLabel() {
				got[lp.GetName()] = lp.GetValue()
			}
			for k, v := range labels {
				if got[k] != v {
					continue metrics
				}
			}
			return m.GetCounter().GetValue()
		}
	}
	t.Fatalf("no counter %s%v", name, labels)
	return 0
}

// Slack channels and users of the test: alerts go to slackAlerts, commands are typed in
// slackChat; slackOperator holds the operator role, slackViewer holds none.
const (
	slackAlerts   = "CALERTS"
	slackChat     = "CCHAT"
	slackOperator = "UOPS"
	slackViewer   = "UVIEW"
)

// slackCard is what the test reads from a chat.postMessage or chat.update of a card.
type slackCard struct {
	Channel string
	TS      string // chat.update only
	Text    string
	Blocks  string // the Block Kit JSON as sent
	Buttons []slackButton
}

type slackButton struct {
	ActionID string `json:"action_id"`
	Value    string `json:"value"`
}

func readSlackCard(t *testing.T, c slackfake.Call) slackCard {
	t.Helper()
	card := slackCard{Channel: c.Form.Get("channel"), TS: c.Form.Get("ts"), Text: c.Form.Get("text"), Blocks: c.Form.Get("blocks")}
	if card.Blocks == "" {
		return card
	}
	var blocks []struct {
		Type     string            `json:"type"`
		Elements []json.RawMessage `json:"elements"`
	}
	if err := json.Unmarshal([]byte(card.Blocks), &blocks); err != nil {
		t.Fatalf("%s blocks: %v\n%s", c.Method, err, card.Blocks)
	}
	for _, b := range blocks {
		if b.Type != "actions" {
			continue
		}
		for _, el := range b.Elements {
			var btn slackButton
			if err := json.Unmarshal(el, &btn); err != nil {
				t.Fatalf("%s button: %v", c.Method, err)
			}
			card.Buttons = append(card.Buttons, btn)
		}
	}
	return card
}

// button returns the value of the card's button actionID, or "".
func (c slackCard) button(actionID string) string {
	for _, b := range c.Buttons {
		if b.ActionID == actionID {
			return b.Value
		}
	}
	return ""
}

// slackResponse is a reply posted to a response_url.
type slackResponse struct {
	ResponseType string          `json:"response_type"`
	Text         string          `json:"text"`
	Blocks       json.RawMessage `json:"blocks"`
}

func readSlackResponse(t *testing.T, c slackfake.Call) slackResponse {
	t.Helper()
	var r slackResponse
	if err := json.Unmarshal(c.JSON, &r); err != nil {
		t.Fatalf("response_url body: %v\n%s", err, c.JSON)
	}
	return r
}

// slackWaiter waits for recorded Web API calls.
type slackWaiter struct {
	t    *testing.T
	fake *slackfake.Server
}

// call waits for a call of method ("" for any) that match accepts and returns it with its
// index among the calls of method. It fails the test, listing every recorded call, when none
// comes within chatWait.
func (w slackWaiter) call(what, method string, match func(slackfake.Call) bool) (slackfake.Call, int) {
	w.t.Helper()
	return w.callAfter(what, method, -1, match)
}

// callAfter is call for the calls after index after.
func (w slackWaiter) callAfter(what, method string, after int, match func(slackfake.Call) bool) (slackfake.Call, int) {
	w.t.Helper()
	ctx := waitCtx(w.t)
	for next := after + 1; ; {
		calls, err := w.fake.WaitCalls(ctx, method, next+1)
		if err != nil {
			w.t.Fatalf("%s: %v\nrecorded calls:\n%s", what, err, describeSlackCalls(w.fake.Calls("")))
		}
		for i := next; i < len(calls); i++ {
			if match(calls[i]) {
				return calls[i], i
			}
		}
		next = len(calls)
	}
}

// response waits for the post to the response_url named id.
func (w slackWaiter) response(id string) slackResponse {
	w.t.Helper()
	c, _ := w.call("a reply on response_url "+id, "response", func(c slackfake.Call) bool { return c.Path == "/response/"+id })
	return readSlackResponse(w.t, c)
}

func (w slackWaiter) send(frame []byte) {
	w.t.Helper()
	if err := w.fake.Send(waitCtx(w.t), frame); err != nil {
		w.t.Fatal(err)
	}
}

func (w slackWaiter) ack(envelopeID string) {
	w.t.Helper()
	if _, err := w.fake.WaitAck(waitCtx(w.t), envelopeID); err != nil {
		w.t.Fatal(err)
	}
}

func describeSlackCalls(calls []slackfake.Call) string {
	var b strings.Builder
	for _, c := range calls {
		fmt.Fprintf(&b, "  %d %s %s", c.Status, c.Method, c.Path)
		switch {
		case c.Form != nil:
			fmt.Fprintf(&b, " channel=%s ts=%s thread_ts=%s text=%.120q", c.Form.Get("channel"), c.Form.Get("ts"),
				c.Form.Get("thread_ts"), c.Form.Get("text"))
		case c.JSON != nil:
			fmt.Fprintf(&b, " %.160s", c.JSON)
		}
		b.WriteByte('\n')
	}
	return b.String()
}

// slackConfig is testConfig with Slack enabled against fake and the operator role held by
// slackOperator.
func slackConfig(t *testing.T, dir string, fake *slackfake.Server) (config.Config, []string) {
	cfg := testConfig(t, dir)
	cfg.Slack = config.Slack{Enabled: true, BotToken: "env:SLACK_BOT_TOKEN", AppToken: "env:SLACK_APP_TOKEN",
		APIURL: fake.APIURL(), DefaultChannel: slackAlerts}
	cfg.Roles = map[string]config.Role{"operator": {Users: []string{"slack:" + slackOperator}}}
	return cfg, []string{"SLACK_BOT_TOKEN=xoxb-e2e", "SLACK_APP_TOKEN=xapp-e2e"}
}

// TestSlackEndToEnd runs the whole bot against the Slack fake, with the real slack-go client
// inside: the replayed CPU spike becomes a Block Kit card in the default channel with the
// chart in its thread; a viewer's Approve click is refused and audited; the operator's click
// runs the action once, the card is edited in place and the output lands in its thread; a
// second click and a redelivered envelope run nothing more; /ops and mentions are answered.
func TestSlackEndToEnd(t *testing.T) {
	defer goleak.VerifyNone(t, goleak.IgnoreCurrent())
	fake := slackfake.Start(slackfake.Options{PingEvery: 50 * time.Millisecond})
	defer fake.Close()
	dir := t.TempDir()
	cfg, environ := slackConfig(t, dir, fake)
	b := startChatBot(t, cfg, environ)
	defer b.stop(t)
	w := slackWaiter{t: t, fake: fake}

	// The proposal's card. The replay opens an incident for the dip before the spike too, and
	// a card may be posted before the rule proposes and edited to carry the proposal, so the
	// card is the first top-level post or edit in the default channel with an Approve button.
	card, at := w.call("the card with the proposal", "", func(c slackfake.Call) bool {
		isCard := c.Method == "chat.update" || (c.Method == "chat.postMessage" && c.Form.Get("thread_ts") == "")
		return isCard && readSlackCard(t, c).button("approve") != ""
	})
	cardTS := readSlackCard(t, card).TS
	if card.Method == "chat.postMessage" {
		// The adapter posts a card and then uploads its chart into the card's thread, so the
		// upload that completes next names the new card's ts.
		done, _ := w.callAfter("the chart upload after the card", "", at, func(c slackfake.Call) bool {
			return c.Method == "files.completeUploadExternal"
		})
		cardTS = done.Form.Get("thread_ts")
	}
	proposed := readSlackCard(t, card)
	if proposed.Channel != slackAlerts || cardTS == "" || !strings.Contains(proposed.Text, "above the expected band") {
		t.Fatalf("%s to %q ts %q with text %q, want the spike's card in %s", card.Method, proposed.Channel, cardTS, proposed.Text, slackAlerts)
	}
	// The Approve button names the proposal and the plan hash the card shows.
	approveValue := proposed.button("approve")
	id, _, _ := strings.Cut(approveValue, ".")
	if !regexp.MustCompile(`^p-[0-9a-f]+\.[0-9a-f]{16}$`).MatchString(approveValue) || proposed.button("reject") != id {
		t.Fatalf("card buttons %+v, want Approve and Reject naming one proposal", proposed.Buttons)
	}
	if !strings.Contains(proposed.Blocks, "Proposal "+id+": script scale_up.sh web-asg 2 3") {
		t.Fatalf("card does not state the plan of %s:\n%s", id, proposed.Blocks)
	}
	chart, _ := w.call("the chart in the card's thread", "files.completeUploadExternal", func(c slackfake.Call) bool {
		return c.Form.Get("thread_ts") == cardTS
	})
	if chart.Form.Get("channel_id") != slackAlerts || !strings.Contains(chart.Form.Get("files"), ".png") {
		t.Fatalf("chart shared to %q as %s, want a PNG in %s", chart.Form.Get("channel_id"), chart.Form.Get("files"), slackAlerts)
	}
	for _, u := range fake.Calls("upload") {
		if !strings.HasPrefix(string(u.Body), "\x89PNG\r\n\x1a\n") {
			t.Fatalf("upload %s is not a PNG: %.16q", u.Path, u.Body)
		}
	}

	// A viewer's click is refused, privately, and audited.
	w.send(slackfake.BlockAction("e-refused", slackViewer, "bob", slackAlerts, cardTS, "approve", approveValue, fake.ResponseURL("refused")))
	if r := w.response("refused"); r.ResponseType != "ephemeral" || !strings.Contains(r.Text, "approving "+id+" needs role operator") {
		t.Fatalf("refusal = %+v, want an ephemeral \"needs role operator\"", r)
	}
	w.send(slackfake.SlashCommand("e-history", "/ops", "history "+id, slackViewer, "bob", slackChat, fake.ResponseURL("history")))
	if r := w.response("history"); !regexp.MustCompile(`proposal\.approve_refused\s+` + id + ` by slack:` + slackViewer).MatchString(r.Text) {
		t.Fatalf("history of %s does not show the refusal:\n%s", id, r.Text)
	}
	if n := scriptRuns(t, dir); n != 0 {
		t.Fatalf("the refused click ran the action %d times", n)
	}

	// The operator's click runs the action and edits the card in place.
	approve := slackfake.BlockAction("e-approve", slackOperator, "alice", slackAlerts, cardTS, "approve", approveValue, fake.ResponseURL("approve"))
	w.send(approve)
	if r := w.response("approve"); r.ResponseType != "ephemeral" || !strings.Contains(r.Text, id+" succeeded") {
		t.Fatalf("approval reply = %+v, want an ephemeral \"%s succeeded\"", r, id)
	}
	updated, _ := w.call("the card edited to succeeded", "chat.update", func(c slackfake.Call) bool {
		return c.Form.Get("ts") == cardTS && strings.Contains(c.Form.Get("blocks"), "succeeded at")
	})
	edit := readSlackCard(t, updated)
	if edit.Channel != slackAlerts || !strings.Contains(edit.Blocks, `approved by \u003c@`+slackOperator+`\u003e`) || edit.button("approve") != "" || edit.button("reject") != "" {
		t.Fatalf("edited card in %s shows:\n%s\nbuttons %+v; want who approved and no Approve or Reject", edit.Channel, edit.Blocks, edit.Buttons)
	}
	reply, _ := w.call("the output in the card's thread", "chat.postMessage", func(c slackfake.Call) bool {
		// The thread also gets the chart of the whole episode when it ends.
		return c.Form.Get("thread_ts") == cardTS && !strings.HasPrefix(readSlackCard(t, c).Text, "The whole episode")
	})
	out := readSlackCard(t, reply)
	if out.Channel != slackAlerts || !strings.Contains(out.Blocks, "scaling web-asg from 2 to 3 instances") || !strings.Contains(out.Text, id+" succeeded") {
		t.Fatalf("thread reply in %s: %q\n%s", out.Channel, out.Text, out.Blocks)
	}

	// Slack redelivers the click, and the operator clicks again: nothing more runs.
	w.send(approve)
	w.send(slackfake.BlockAction("e-again", slackOperator, "alice", slackAlerts, cardTS, "approve", approveValue, fake.ResponseURL("again")))
	if r := w.response("again"); r.ResponseType != "ephemeral" || !strings.Contains(r.Text, "proposal "+id+" is already succeeded") {
		t.Fatalf("second click reply = %+v, want \"already succeeded\"", r)
	}
	// Acks are written in the order the envelopes were read, and envelopes are read one at a
	// time, so once the second click is acknowledged and answered the redelivery has been
	// acknowledged and recognised.
	w.ack("e-again")
	if n := fake.AckCount("e-approve"); n != 2 {
		t.Fatalf("redelivered envelope acknowledged %d times, want 2", n)
	}
	if n := counter(t, b.Registry(), "smartcloudops_chat_events_total", map[string]string{"platform": "slack", "kind": "duplicate"}); n != 1 {
		t.Fatalf("%v redeliveries recognised, want 1", n)
	}

	// Commands: /ops answers through its response_url to the person who typed it, a mention in
	// the channel.
	w.send(slackfake.SlashCommand("e-status", "/ops", "status", slackViewer, "bob", slackChat, fake.ResponseURL("status")))
	if r := w.response("status"); r.ResponseType != "ephemeral" || !strings.Contains(string(r.Blocks), "proposals pending") {
		t.Fatalf("/ops status reply = %+v", r)
	}
	w.send(slackfake.AppMention("e-mention", "Ev-mention", slackViewer, slackChat, "<@"+fake.BotUserID()+"> help"))
	mention, _ := w.call("the reply to the mention", "chat.postMessage", func(c slackfake.Call) bool {
		return c.Form.Get("channel") == slackChat
	})
	help := readSlackCard(t, mention)
	if !strings.Contains(help.Text, "Commands:") || !strings.Contains(help.Text, "approve &lt;proposal&gt;") {
		t.Fatalf("mention reply = %q, want the command list, escaped for mrkdwn", help.Text)
	}

	b.stop(t)
	if n := scriptRuns(t, dir); n != 1 {
		t.Fatalf("the action ran %d times, want 1", n)
	}
	cards, finals := 0, 0
	for _, c := range fake.Calls("chat.postMessage") {
		if c.Form.Get("channel") == slackAlerts && c.Form.Get("thread_ts") == "" {
			cards++
		}
		if c.Form.Get("thread_ts") != "" && strings.HasPrefix(readSlackCard(t, c).Text, "The whole episode") {
			finals++ // the chart of an episode that ended, in its card's thread
		}
	}
	var approveReplies int
	for _, c := range fake.Calls("response") {
		if c.Path == "/response/approve" {
			approveReplies++
		}
	}
	if approveReplies != 1 {
		t.Errorf("the redelivered click was answered: %d replies to the first click, want 1", approveReplies)
	}
	recs, refs := stoppedState(t, dir)
	// One card per group of incidents, each posted once with its chart and edited in place
	// after; the card and each incident on it are recorded with the card's Ref.
	got := slices.Compact(slices.SortedFunc(slices.Values(refs["slack"]), func(a, b bot.Ref) int { return strings.Compare(a.ID, b.ID) }))
	if len(got) != cards || !slices.Contains(got, bot.Ref{Platform: "slack", Channel: slackAlerts, ID: cardTS}) {
		t.Errorf("the bot recorded Slack cards %+v for %d posted cards, want the card at %s in %s among them", got, cards, cardTS, slackAlerts)
	}
	// Files upload v2 is three steps per chart: get an upload URL, upload, complete. Each card
	// has its chart, and each episode that ended its final chart.
	if g, u, c := len(fake.Calls("files.getUploadURLExternal")), len(fake.Calls("upload")), len(fake.Calls("files.completeUploadExternal")); g != cards+finals || u != cards+finals || c != cards+finals {
		t.Errorf("for %d cards and %d final charts: %d upload URLs, %d uploads, %d completions; want one of each per chart", cards, finals, g, u, c)
	}
	checkDecisions(t, recs, id, "slack:"+slackViewer, "slack:"+slackOperator)
}

// checkDecisions checks the audit trail of proposal id after the e2e flow: the viewer's
// approval refused for the role, the operator's approved and run once, and the operator's
// second click refused because the proposal had already run.
func checkDecisions(t *testing.T, recs []audit.Record, id, viewer, operator string) {
	t.Helper()
	refused := findAudit(recs, "proposal.approve_refused", id)
	var byViewer, byOperator []audit.Record
	for _, r := range refused {
		switch r.User {
		case viewer:
			byViewer = append(byViewer, r)
		case operator:
			byOperator = append(byOperator, r)
		}
	}
	if len(refused) != 2 || len(byViewer) != 1 || len(byOperator) != 1 {
		t.Errorf("approve_refused records of %s = %+v, want one by %s and one by %s", id, refused, viewer, operator)
	} else {
		if !strings.Contains(byViewer[0].Detail, "needs role operator") || byViewer[0].Outcome != "refused" {
			t.Errorf("refusal of %s = %+v, want the missing role", viewer, byViewer[0])
		}
		if !strings.Contains(byOperator[0].Detail, "already succeeded") {
			t.Errorf("refusal of the second click = %+v, want \"already succeeded\"", byOperator[0])
		}
	}
	if r := findAudit(recs, "proposal.approved", id); len(r) != 1 || r[0].User != operator {
		t.Errorf("approved records of %s = %+v, want one by %s", id, r, operator)
	}
	if r := findAudit(recs, "action.succeeded", id); len(r) != 1 {
		t.Errorf("action.succeeded records of %s = %d, want 1", id, len(r))
	}
}
