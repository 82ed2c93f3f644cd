package app

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"sync"
	"time"

	"github.com/smartcloudops/smartcloudops/bot"
	"github.com/smartcloudops/smartcloudops/bot/discord"
	"github.com/smartcloudops/smartcloudops/bot/slack"
	"github.com/smartcloudops/smartcloudops/internal/obs"
)

// chatRetry times the restarts of a chat adapter whose Run returned.
type chatRetry struct {
	First, Max time.Duration // after an error: First, doubling up to Max
	// Refused is the wait after the platform refused the credentials. It is long, because
	// retrying a refused token cannot help until someone changes it (a reload with a new
	// token reconnects at once), and Discord bans a bot that piles up refused requests.
	Refused time.Duration
}

var defaultChatRetry = chatRetry{First: time.Second, Max: 2 * time.Minute, Refused: 5 * time.Minute}

// chatLink supervises one chat adapter. It runs the adapter and restarts it whenever Run
// returns, so no chat platform can stop the bot: the API, the other adapters, the detector and
// the executor run on. It keeps the adapter's state for /readyz and the status command.
type chatLink struct {
	a       bot.Adapter
	log     *slog.Logger
	retry   chatRetry
	redact  func(string) string
	restart chan struct{} // new credentials: reconnect now

	mu      sync.Mutex
	running bool
	err     string // why the last Run ended, redacted
	refused bool
	retryAt time.Time
}

// connReporter is implemented by adapters that know whether their connection is up.
type connReporter interface{ Connected() bool }

func newChatLink(a bot.Adapter, log *slog.Logger, retry chatRetry, redact func(string) string) *chatLink {
	return &chatLink{a: a, log: log.With(obs.KeyComponent, "chat", obs.KeyPlatform, a.Name()), retry: retry,
		redact: redact, restart: make(chan struct{}, 1)}
}

// reconnect makes the adapter connect again at once, for new credentials: a running adapter
// is stopped and started, one waiting to retry stops waiting.
func (l *chatLink) reconnect() {
	select {
	case l.restart <- struct{}{}:
	default:
	}
}

// refusal reports whether err means the platform refused the bot's credentials or
// configuration, which only a change on the operator's side can fix.
func refusal(err error) bool {
	return errors.Is(err, slack.ErrUnauthorized) || errors.Is(err, discord.ErrUnauthorized) || errors.Is(err, discord.ErrFatalClose)
}

// run runs the adapter until ctx ends.
func (l *chatLink) run(ctx context.Context, h bot.Handler) {
	backoff := l.retry.First
	for {
		l.mu.Lock()
		l.running, l.retryAt = true, time.Time{}
		l.mu.Unlock()
		started := time.Now()
		rctx, cancel := context.WithCancel(ctx)
		errc := make(chan error, 1)
		go func() { errc <- l.a.Run(rctx, h) }()
		var err error
		rotated := false
		select {
		case err = <-errc:
		case <-l.restart:
			rotated = true
			cancel()
			<-errc
		}
		cancel()
		l.mu.Lock()
		l.running = false
		l.mu.Unlock()
		if ctx.Err() != nil {
			return
		}
		if rotated {
			l.log.Info("reconnecting with the reloaded credentials")
			backoff = l.retry.First
			continue
		}
		if err == nil {
			err = errors.New("the adapter stopped without an error")
		}
		if time.Since(started) > l.retry.Max {
			backoff = l.retry.First // it ran fine for a while: this is a new failure
		}
		refused := refusal(err)
		wait := backoff
		if refused {
			wait = l.retry.Refused
		} else {
			backoff = min(2*backoff, l.retry.Max)
		}
		msg := l.redact(err.Error())
		l.mu.Lock()
		l.err, l.refused, l.retryAt = msg, refused, time.Now().Add(wait)
		l.mu.Unlock()
		if refused {
			l.log.Error("the chat platform refused the bot; the rest of the bot runs on, and the adapter retries slowly or as soon as a reload brings new credentials",
				obs.KeyErr, msg, "retry_in", wait)
		} else {
			l.log.Error("chat adapter stopped; the rest of the bot runs on and the adapter is restarted", obs.KeyErr, msg, "retry_in", wait)
		}
		t := time.NewTimer(wait)
		select {
		case <-ctx.Done():
			t.Stop()
			return
		case <-t.C:
		case <-l.restart:
			t.Stop()
			l.log.Info("reconnecting with the reloaded credentials")
			backoff = l.retry.First
		}
	}
}

// up reports whether the adapter is connected, and says how it is in words.
func (l *chatLink) state(now time.Time) (bool, string) {
	l.mu.Lock()
	running, msg, refused, retryAt := l.running, l.err, l.refused, l.retryAt
	l.mu.Unlock()
	connected := running
	if cr, ok := l.a.(connReporter); ok && running {
		connected = cr.Connected()
	}
	switch {
	case connected:
		return true, "connected"
	case running && msg != "":
		return false, "connecting (the last attempt failed: " + msg + ")"
	case running:
		return false, "connecting"
	case refused:
		return false, fmt.Sprintf("DOWN, credentials refused: %s; retrying in %s, or at once after a reload with new credentials",
			msg, retryAt.Sub(now).Round(time.Second))
	}
	return false, fmt.Sprintf("DOWN: %s; retrying in %s", msg, retryAt.Sub(now).Round(time.Second))
}

// chatFields is one line per chat adapter, for the status command.
func (b *Bot) chatFields() []bot.Field {
	now := time.Now()
	out := make([]bot.Field, 0, len(b.links))
	for _, l := range b.links {
		_, s := l.state(now)
		out = append(out, bot.Field{Label: "chat " + l.a.Name(), Value: s})
	}
	return out
}

// chatDown lists the chat adapters that are not connected, for /readyz.
func (b *Bot) chatDown() []string {
	now := time.Now()
	var out []string
	for _, l := range b.links {
		if up, s := l.state(now); !up {
			out = append(out, l.a.Name()+": "+s)
		}
	}
	return out
}
