package app

import (
	"context"
	"io"
	"log/slog"
	"net/http"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"go.uber.org/goleak"

	"github.com/smartcloudops/smartcloudops/bot/discord/discordfake"
	"github.com/smartcloudops/smartcloudops/bot/slack/slackfake"
	"github.com/smartcloudops/smartcloudops/internal/config"
)

// fastChatRetry restarts refused adapters quickly, so a test can see the reconnection.
var fastChatRetry = chatRetry{First: 20 * time.Millisecond, Max: 200 * time.Millisecond, Refused: 100 * time.Millisecond}

// liveChat is a bot with a console on a pipe, an HTTP server on a free loopback port and chat
// adapters pointed at fakes.
type liveChat struct {
	*Bot
	in     *io.PipeWriter
	out    *syncBuffer
	logs   *syncBuffer
	cancel context.CancelFunc
	done   chan error
	once   sync.Once
	hc     *http.Client
}

// startLiveChat builds the bot, lets mutate adjust it, and runs it until the test ends.
func startLiveChat(t *testing.T, o Options, mutate func(*Bot)) *liveChat {
	t.Helper()
	pr, pw := io.Pipe()
	l := &liveChat{in: pw, out: &syncBuffer{}, logs: &syncBuffer{}, done: make(chan error, 1), hc: &http.Client{Timeout: 5 * time.Second}}
	o.In, o.Out = pr, l.out
	o.Logger = slog.New(slog.NewTextHandler(l.logs, &slog.HandlerOptions{Level: slog.LevelDebug}))
	ctx, cancel := context.WithCancel(context.Background())
	l.cancel = cancel
	b, err := Build(ctx, o)
	if err != nil {
		cancel()
		t.Fatalf("build the bot: %v", err)
	}
	l.Bot = b
	if mutate != nil {
		mutate(b)
	}
	go func() { l.done <- b.Run(ctx) }()
	t.Cleanup(func() {
		l.stop(t)
		l.hc.CloseIdleConnections()
		if t.Failed() {
			t.Logf("bot log:\n%s", l.logs.String())
		}
	})
	return l
}

func (l *liveChat) stop(t *testing.T) {
	t.Helper()
	l.once.Do(func() {
		l.cancel()
		l.in.Close()
		select {
		case err := <-l.done:
			if err != nil {
				t.Errorf("Run = %v after cancel, want nil", err)
			}
		case <-time.After(chatWait):
			t.Errorf("Run did not return within %v of cancel", chatWait)
		}
	})
}

// get fetches path from the bot's HTTP server.
func (l *liveChat) get(t *testing.T, path string) (int, string) {
	t.Helper()
	resp, err := l.hc.Get("http://" + l.Web.Addr() + path)
	if err != nil {
		t.Fatalf("GET %s: %v", path, err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	return resp.StatusCode, string(b)
}

// eventually waits until cond holds, failing with what it last said.
func eventually(t *testing.T, what string, cond func() (bool, string)) {
	t.Helper()
	deadline := time.Now().Add(chatWait)
	for {
		ok, last := cond()
		if ok {
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("%s: not within %v; last seen: %s", what, chatWait, last)
		}
		time.Sleep(20 * time.Millisecond)
	}
}

// chatConnected is smartcloudops_chat_connected for platform.
func chatConnected(t *testing.T, reg prometheus.Gatherer, platform string) float64 {
	t.Helper()
	mfs, err := reg.Gather()
	if err != nil {
		t.Fatal(err)
	}
	for _, mf := range mfs {
		if mf.GetName() != "smartcloudops_chat_connected" {
			continue
		}
		for _, m := range mf.GetMetric() {
			for _, lp := range m.GetLabel() {
				if lp.GetName() == "platform" && lp.GetValue() == platform {
					return m.GetGauge().GetValue()
				}
			}
		}
	}
	t.Fatalf("no smartcloudops_chat_connected{platform=%q}", platform)
	return 0
}

// status types status at the console and returns the reply once it names both platforms.
func (l *liveChat) status(t *testing.T, want ...string) string {
	t.Helper()
	var got string
	eventually(t, "status shows "+strings.Join(want, ", "), func() (bool, string) {
		mark := len(l.out.String())
		if _, err := io.WriteString(l.in, "status\n"); err != nil {
			t.Fatal(err)
		}
		deadline := time.Now().Add(time.Second)
		for time.Now().Before(deadline) {
			got = l.out.String()[mark:]
			if strings.Contains(got, "chat discord") && strings.Contains(got, "chat slack") {
				break
			}
			time.Sleep(10 * time.Millisecond)
		}
		for _, w := range want {
			if !strings.Contains(got, w) {
				return false, got
			}
		}
		return true, got
	})
	return got
}

func bothChatsConfig(t *testing.T, sf *slackfake.Server, df *discordfake.Server) (config.Config, []string) {
	dir := t.TempDir()
	cfg := testConfig(t, dir)
	cfg.Checks = nil
	cfg.Listen = "127.0.0.1:0"
	cfg.Console.User = "ops"
	cfg.Slack = config.Slack{Enabled: true, BotToken: "env:SLACK_BOT_TOKEN", AppToken: "env:SLACK_APP_TOKEN",
		APIURL: sf.APIURL(), DefaultChannel: slackAlerts}
	cfg.Discord = config.Discord{Enabled: true, Token: "env:DISCORD_TOKEN", ApplicationID: discordApp, GuildID: discordGuild,
		APIURL: df.URL, DefaultChannel: discordAlerts}
	return cfg, []string{"SLACK_BOT_TOKEN=xoxb-e2e", "SLACK_APP_TOKEN=xapp-e2e", "DISCORD_TOKEN=e2e-token"}
}

// TestChatRefusalLeavesTheBotRunning checks that a Discord token refused with HTTP 401, and a
// Slack token refused with invalid_auth, stop only that adapter: the API, the console and the
// other adapter keep working, /readyz, status and smartcloudops_chat_connected show the state,
// and the adapter reconnects by itself once the platform accepts the token again.
func TestChatRefusalLeavesTheBotRunning(t *testing.T) {
	defer goleak.VerifyNone(t, goleak.IgnoreCurrent())
	sf := slackfake.Start(slackfake.Options{PingEvery: 50 * time.Millisecond})
	defer sf.Close()
	df, err := discordfake.New(discordfake.Options{Token: "e2e-token", AppID: discordApp})
	if err != nil {
		t.Fatal(err)
	}
	defer df.Close()
	df.SetToken("reset-in-the-portal") // the bot's token is refused from the start
	cfg, environ := bothChatsConfig(t, sf, df)
	l := startLiveChat(t, Options{Config: cfg, Environ: environ}, func(b *Bot) { b.chatRetry = fastChatRetry })
	defer l.stop(t)
	reg := l.Registry()

	// Discord refused: Slack, the console and the API run on.
	eventually(t, "slack connected while discord is refused", func() (bool, string) {
		code, body := l.get(t, "/readyz")
		return code == 200 && strings.Contains(body, "discord: DOWN, credentials refused") && !strings.Contains(body, "slack:"), body
	})
	if d, s := chatConnected(t, reg, "discord"), chatConnected(t, reg, "slack"); d != 0 || s != 1 {
		t.Errorf("smartcloudops_chat_connected discord %v slack %v, want 0 and 1", d, s)
	}
	out := l.status(t, "chat discord: DOWN, credentials refused", "HTTP 401", "chat slack: connected")
	if strings.Contains(out, "e2e-token") {
		t.Errorf("status shows the token:\n%s", out)
	}
	if code, _ := l.get(t, "/api/v1/incidents"); code == http.StatusNotFound || code >= 500 {
		t.Errorf("API answered %d while discord was refused", code)
	}

	// Discord accepts the token again: the adapter reconnects by itself.
	df.SetToken("e2e-token")
	eventually(t, "discord reconnected", func() (bool, string) {
		code, body := l.get(t, "/readyz")
		return code == 200 && !strings.Contains(body, "chat not connected"), body
	})
	if d := chatConnected(t, reg, "discord"); d != 1 {
		t.Errorf("smartcloudops_chat_connected discord = %v after reconnecting, want 1", d)
	}

	// Slack refuses (a revoked app token): Discord, the console and the API run on.
	sf.SetTokens("xoxb-rotated", "xapp-rotated")
	sf.DropConnection()
	eventually(t, "slack refused while discord runs", func() (bool, string) {
		code, body := l.get(t, "/readyz")
		return code == 200 && strings.Contains(body, "slack: DOWN, credentials refused") && !strings.Contains(body, "discord:"), body
	})
	if d, s := chatConnected(t, reg, "discord"), chatConnected(t, reg, "slack"); d != 1 || s != 0 {
		t.Errorf("smartcloudops_chat_connected discord %v slack %v, want 1 and 0", d, s)
	}
	l.status(t, "chat slack: DOWN, credentials refused", "invalid_auth", "chat discord: connected")
	sf.SetTokens("", "")
	eventually(t, "slack reconnected", func() (bool, string) {
		code, body := l.get(t, "/readyz")
		return code == 200 && !strings.Contains(body, "chat not connected"), body
	})
	l.status(t, "chat slack: connected", "chat discord: connected")
}
