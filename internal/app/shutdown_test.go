package app

import (
	"context"
	"net/http"
	"net/http/httptest"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/smartcloudops/smartcloudops/detector"
	"github.com/smartcloudops/smartcloudops/internal/config"
	"github.com/smartcloudops/smartcloudops/internal/store"
)

// TestShutdownWithChatUnreachable stops the bot while its card is on its way to a Slack API
// that accepts requests and never answers: Run returns within the card delivery bound instead
// of waiting for the platform, says that the stop was asked for, and keeps the undelivered card
// for the next start.
func TestShutdownWithChatUnreachable(t *testing.T) {
	posting := make(chan struct{}, 1)
	release := make(chan struct{})
	api := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if strings.HasSuffix(r.URL.Path, "/chat.postMessage") {
			select {
			case posting <- struct{}{}:
			default:
			}
		}
		select { // never answer
		case <-r.Context().Done():
		case <-release:
		}
	}))
	defer func() { close(release); api.Close() }()

	dir := t.TempDir()
	cfg := testConfig(t, dir)
	cfg.Checks = nil
	cfg.Slack = config.Slack{Enabled: true, BotToken: "env:SLACK_BOT_TOKEN", AppToken: "env:SLACK_APP_TOKEN",
		APIURL: api.URL + "/api/", DefaultChannel: slackAlerts}
	l := startLiveChat(t, Options{Config: cfg, Environ: []string{"SLACK_BOT_TOKEN=xoxb-x", "SLACK_APP_TOKEN=xapp-x"}},
		func(b *Bot) { b.chatRetry, b.flushWait = fastChatRetry, 200*time.Millisecond })

	now := time.Now()
	inc, _, err := l.Incidents.FromAnomaly(context.Background(), detector.Anomaly{Check: "cpu", Severity: "critical",
		Labels: map[string]string{"host": "web-1"}, T: now, Since: now, Value: 99, Expected: 40, Upper: 50, Score: 0.9})
	if err != nil {
		t.Fatal(err)
	}
	select {
	case <-posting:
	case <-time.After(chatWait):
		t.Fatal("the card was never sent")
	}
	l.cancel() // SIGTERM
	select {
	case err := <-l.done:
		if err != nil {
			t.Fatalf("Run = %v", err)
		}
	case <-time.After(chatWait):
		t.Fatalf("Run still waits for the unreachable chat %v after the stop", chatWait)
	}
	l.once.Do(func() { l.in.Close() })
	if logs := l.logs.String(); !strings.Contains(logs, "stop requested; shutting down") {
		t.Errorf("no log line when the stop was asked for:\n%s", logs)
	}
	st, err := store.OpenBolt(filepath.Join(dir, "smartcloudops.db"), store.BoltOptions{ReadOnly: true})
	if err != nil {
		t.Fatal(err)
	}
	defer st.Close()
	if _, err := st.Get(context.Background(), "notifier/pending/"+inc.ID); err != nil {
		t.Errorf("the undelivered card of %s is not kept for the next start: %v", inc.ID, err)
	}
}
