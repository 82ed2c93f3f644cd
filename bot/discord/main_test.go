package discord

import (
	"context"
	"crypto/ed25519"
	"encoding/hex"
	"errors"
	"flag"
	"io"
	"log/slog"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"go.uber.org/goleak"

	"github.com/smartcloudops/smartcloudops/bot"
	"github.com/smartcloudops/smartcloudops/bot/discord/discordfake"
)

var update = flag.Bool("update", false, "rewrite golden files in testdata")

func TestMain(m *testing.M) {
	goleak.VerifyTestMain(m)
}

// fixedNow is the clock of every test adapter, so golden files do not change.
var fixedNow = time.Date(2025, 3, 14, 9, 26, 53, 0, time.UTC)

// env is one fake Discord plus one adapter pointed at it.
type env struct {
	t    *testing.T
	fake *discordfake.Server
	a    *Adapter
	reg  *prometheus.Registry
	priv ed25519.PrivateKey
}

func newEnv(t *testing.T, mutate func(*Options)) *env {
	t.Helper()
	fake, err := discordfake.New(discordfake.Options{})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(fake.Close)
	pub, priv, err := ed25519.GenerateKey(nil)
	if err != nil {
		t.Fatal(err)
	}
	reg := prometheus.NewRegistry()
	o := Options{
		Token:          "test-token",
		ApplicationID:  "APP1",
		GuildID:        "G1",
		PublicKey:      hex.EncodeToString(pub),
		DefaultChannel: "C1",
		Logger:         testLogger(t),
		Registerer:     reg,
		BaseURL:        fake.URL,
		Now:            func() time.Time { return fixedNow },
		OpenTimeout:    5 * time.Second,
		MaxRetryWait:   2 * time.Second,
	}
	if mutate != nil {
		mutate(&o)
	}
	a, err := New(o)
	if err != nil {
		t.Fatal(err)
	}
	return &env{t: t, fake: fake, a: a, reg: reg, priv: priv}
}

func testLogger(t *testing.T) *slog.Logger {
	if testing.Verbose() {
		return slog.New(slog.NewTextHandler(tWriter{t}, &slog.HandlerOptions{Level: slog.LevelDebug}))
	}
	return slog.New(slog.NewTextHandler(io.Discard, nil))
}

type tWriter struct{ t *testing.T }

func (w tWriter) Write(p []byte) (int, error) { w.t.Log(string(p)); return len(p), nil }

// run starts Run with h and returns a function that stops it and returns Run's error, and a
// channel closed when Run returns on its own. The stop function is also registered as cleanup,
// so a failing test never leaks the session.
func (e *env) run(h bot.Handler) (stop func() error, done <-chan struct{}) {
	ctx, cancel := context.WithCancel(context.Background())
	ch := make(chan struct{})
	var err error
	go func() {
		defer close(ch)
		err = e.a.Run(ctx, h)
	}()
	stop = func() error {
		cancel()
		<-ch
		return err
	}
	e.t.Cleanup(func() { _ = stop() })
	return stop, ch
}

// ctx returns a context bounded for one wait in a test.
func (e *env) ctx() context.Context {
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	e.t.Cleanup(cancel)
	return ctx
}

func (e *env) waitFrame(what string, match func(discordfake.Frame) bool) discordfake.Frame {
	e.t.Helper()
	f, err := e.fake.WaitFrame(e.ctx(), match)
	if err != nil {
		e.t.Fatalf("%s: %v", what, err)
	}
	return f
}

func (e *env) waitRequest(what string, match func(discordfake.Request) bool) discordfake.Request {
	e.t.Helper()
	r, err := e.fake.WaitRequest(e.ctx(), match)
	if err != nil {
		e.t.Fatalf("%s: %v", what, err)
	}
	return r
}

// waitReady waits until connection n received READY or RESUMED.
func (e *env) waitReady(n int) {
	e.t.Helper()
	e.waitFrame("READY", func(f discordfake.Frame) bool {
		return f.Conn == n && f.Dir == discordfake.FromServer && (f.Type == "READY" || f.Type == "RESUMED")
	})
}

// waitErr waits for Run to return on its own and returns its error.
func waitErr(t *testing.T, done <-chan struct{}, stop func() error) error {
	t.Helper()
	select {
	case <-done:
		return stop()
	case <-time.After(15 * time.Second):
		t.Fatal("Run did not return")
		return errors.New("unreachable")
	}
}

// recorder is a Handler that records events and answers with reply.
type recorder struct {
	events chan bot.Event
	reply  func(context.Context, bot.Event) bot.Message
}

func newRecorder(reply func(context.Context, bot.Event) bot.Message) *recorder {
	return &recorder{events: make(chan bot.Event, 16), reply: reply}
}

func (r *recorder) handle(ctx context.Context, e bot.Event) bot.Message {
	r.events <- e
	if r.reply == nil {
		return bot.Message{}
	}
	return r.reply(ctx, e)
}

func (r *recorder) next(t *testing.T) bot.Event {
	t.Helper()
	select {
	case e := <-r.events:
		return e
	case <-time.After(10 * time.Second):
		t.Fatal("handler was not called")
		return bot.Event{}
	}
}
