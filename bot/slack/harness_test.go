package slack

import (
	"context"
	"encoding/json"
	"errors"
	"log/slog"
	"net/http"
	"sync"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/testutil"
	"go.uber.org/goleak"

	"github.com/smartcloudops/smartcloudops/bot"
	"github.com/smartcloudops/smartcloudops/bot/slack/slackfake"
)

func TestMain(m *testing.M) {
	goleak.VerifyTestMain(m)
}

// testWait bounds every wait in these tests; a failure shows up as a timeout, never a hang.
const testWait = 10 * time.Second

type harness struct {
	t    testing.TB
	fake *slackfake.Server
	a    *Adapter
	reg  *prometheus.Registry

	mu     sync.Mutex
	events []bot.Event
	got    chan bot.Event

	record bool // keep events for handled() and event(); off in benchmarks

	cancel context.CancelFunc
	runErr chan error
}

// newHarness starts a fake and an adapter pointed at it. mod adjusts the options.
func newHarness(t testing.TB, mod func(*Options)) *harness {
	t.Helper()
	return newHarnessWith(t, slackfake.Options{}, mod)
}

// newHarnessWith is newHarness with fake options.
func newHarnessWith(t testing.TB, fo slackfake.Options, mod func(*Options)) *harness {
	t.Helper()
	if fo.PingEvery == 0 {
		fo.PingEvery = 50 * time.Millisecond
	}
	fake := slackfake.Start(fo)
	tr := http.DefaultTransport.(*http.Transport).Clone()
	reg := prometheus.NewRegistry()
	o := Options{
		BotToken:        "xoxb-test",
		AppToken:        "xapp-test",
		APIURL:          fake.APIURL(),
		Logger:          slog.New(slog.NewTextHandler(t.Output(), &slog.HandlerOptions{Level: slog.LevelWarn})),
		Registerer:      reg,
		DefaultChannel:  "C1",
		MessageInterval: 5 * time.Millisecond,
		UpdateInterval:  time.Millisecond,
		HTTPClient:      &http.Client{Transport: tr, Timeout: 5 * time.Second},
	}
	if mod != nil {
		mod(&o)
	}
	a, err := New(o)
	if err != nil {
		t.Fatalf("New: %v", err)
	}
	h := &harness{t: t, fake: fake, a: a, reg: reg, got: make(chan bot.Event, 100), record: true}
	t.Cleanup(func() {
		h.stop()
		fake.Close()
		tr.CloseIdleConnections()
	})
	return h
}

// run starts Run with handler (nil records the event and replies "ok").
func (h *harness) run(handler bot.Handler) {
	h.t.Helper()
	if handler == nil {
		handler = func(context.Context, bot.Event) bot.Message { return bot.Text("ok") }
	}
	ctx, cancel := context.WithCancel(context.Background())
	h.cancel = cancel
	h.runErr = make(chan error, 1)
	rec := func(ctx context.Context, e bot.Event) bot.Message {
		if h.record {
			h.mu.Lock()
			h.events = append(h.events, e)
			h.mu.Unlock()
			h.got <- e
		}
		return handler(ctx, e)
	}
	go func() { h.runErr <- h.a.Run(ctx, rec) }()
	ctx2, cancel2 := context.WithTimeout(context.Background(), testWait)
	defer cancel2()
	if err := h.fake.WaitDials(ctx2, 1); err != nil {
		h.t.Fatalf("adapter never connected: %v", err)
	}
}

// stop ends Run and checks it returned nil.
func (h *harness) stop() {
	if h.cancel == nil {
		return
	}
	h.cancel()
	h.cancel = nil
	select {
	case err := <-h.runErr:
		if err != nil {
			h.t.Errorf("Run returned %v after cancel, want nil", err)
		}
	case <-time.After(testWait):
		h.t.Error("Run did not return after cancel")
	}
}

func (h *harness) ctx() context.Context {
	ctx, cancel := context.WithTimeout(context.Background(), testWait)
	h.t.Cleanup(cancel)
	return ctx
}

func (h *harness) send(frame []byte) {
	h.t.Helper()
	if err := h.fake.Send(h.ctx(), frame); err != nil {
		h.t.Fatal(err)
	}
}

func (h *harness) ack(envelopeID string) slackfake.Ack {
	h.t.Helper()
	a, err := h.fake.WaitAck(h.ctx(), envelopeID)
	if err != nil {
		h.t.Fatal(err)
	}
	return a
}

func (h *harness) event() bot.Event {
	h.t.Helper()
	select {
	case e := <-h.got:
		return e
	case <-time.After(testWait):
		h.t.Fatal("no event reached the handler")
		return bot.Event{}
	}
}

func (h *harness) calls(method string, n int) []slackfake.Call {
	h.t.Helper()
	c, err := h.fake.WaitCalls(h.ctx(), method, n)
	if err != nil {
		h.t.Fatal(err)
	}
	return c
}

func (h *harness) handled() []bot.Event {
	h.mu.Lock()
	defer h.mu.Unlock()
	return append([]bot.Event(nil), h.events...)
}

func (h *harness) counter(name string, labels ...string) float64 {
	h.t.Helper()
	switch name {
	case "events":
		return testutil.ToFloat64(h.a.m.events.WithLabelValues(labels...))
	case "sent":
		return testutil.ToFloat64(h.a.m.sent.WithLabelValues(labels...))
	case "rate_limited":
		return testutil.ToFloat64(h.a.m.rateLimited)
	case "connected":
		return testutil.ToFloat64(h.a.m.connected)
	}
	h.t.Fatalf("unknown counter %s", name)
	return 0
}

func jsonField(t *testing.T, raw json.RawMessage, key string) string {
	t.Helper()
	var m map[string]any
	if err := json.Unmarshal(raw, &m); err != nil {
		t.Fatalf("decode %s: %v", raw, err)
	}
	s, _ := m[key].(string)
	return s
}

func isCanceled(err error) bool { return errors.Is(err, context.Canceled) }
