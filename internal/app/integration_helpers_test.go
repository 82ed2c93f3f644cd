//go:build integration

package app

import (
	"bytes"
	"context"
	"io"
	"net/http"
	"net/http/httptest"
	"net/http/httputil"
	"net/url"
	"os"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/smartcloudops/smartcloudops/internal/config"
	"github.com/smartcloudops/smartcloudops/internal/obs"
)

// liveBot is a bot running in-process with its console on a pipe and its HTTP server on a free
// loopback port.
type liveBot struct {
	*running
	bot  *Bot
	base string // http://127.0.0.1:port
	hc   *http.Client
}

// integrationConfig is a configuration with no checks and no rules, a data dir under the test's
// temp dir, a copy of the test script, and the HTTP server on a free loopback port.
func integrationConfig(t *testing.T) config.Config {
	t.Helper()
	dir := t.TempDir()
	actions := filepath.Join(dir, "actions")
	if err := os.MkdirAll(actions, 0o750); err != nil {
		t.Fatal(err)
	}
	script, err := os.ReadFile("testdata/actions/scale_up.sh")
	if err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(actions, "scale_up.sh"), script, 0o750); err != nil {
		t.Fatal(err)
	}
	cfg := config.Default()
	cfg.DataDir = filepath.Join(dir, "data")
	cfg.Listen = "127.0.0.1:0"
	cfg.Console.User = "integration"
	cfg.Rules.Paths = nil
	cfg.Actions.Script.Dir = actions
	cfg.Checks = nil
	return cfg
}

// writeRules writes one rule file into a fresh directory and returns the directory.
func writeRules(t *testing.T, content string) string {
	t.Helper()
	dir := t.TempDir()
	if err := os.WriteFile(filepath.Join(dir, "integration.yaml"), []byte(content), 0o640); err != nil {
		t.Fatal(err)
	}
	return dir
}

// startLive builds the bot from cfg, runs it, and waits until its checks are scheduled. The bot
// stops when the test ends.
func startLive(t *testing.T, cfg config.Config) *liveBot {
	t.Helper()
	pr, pw := io.Pipe()
	r := &running{in: pw, out: &syncBuffer{}, done: make(chan error, 1)}
	ctx, cancel := context.WithCancel(context.Background())
	r.cancel = cancel
	ready := make(chan struct{})
	b, err := Build(ctx, Options{Config: cfg, In: pr, Out: r.out, Logger: obs.Discard(), Environ: []string{},
		Ready: func(*Bot) { close(ready) }})
	if err != nil {
		cancel()
		t.Fatalf("build the bot: %v", err)
	}
	if b.Web == nil {
		cancel()
		t.Fatal("the bot has no HTTP server; cfg.Listen is empty")
	}
	go func() { r.done <- b.Run(ctx) }()
	early := make(chan error, 1)
	t.Cleanup(func() {
		r.once.Do(func() {
			cancel()
			pw.Close()
			select {
			case <-early: // reported when it happened
			case err := <-r.done:
				if err != nil {
					t.Errorf("bot stopped with an error: %v", err)
				}
			case <-time.After(45 * time.Second):
				t.Error("bot did not stop within 45s of its context ending")
			}
		})
	})
	select {
	case <-ready:
	case err := <-r.done:
		early <- err
		t.Fatalf("bot stopped before it was ready: %v", err)
	case <-time.After(15 * time.Second):
		t.Fatal("bot not ready within 15s")
	}
	return &liveBot{running: r, bot: b, base: "http://" + b.Web.Addr(), hc: &http.Client{Timeout: 10 * time.Second}}
}

// do sends one request to the bot's HTTP server and returns the status and the body.
func (l *liveBot) do(t *testing.T, method, path, contentType string, body []byte) (int, string) {
	t.Helper()
	req, err := http.NewRequest(method, l.base+path, bytes.NewReader(body))
	if err != nil {
		t.Fatal(err)
	}
	if contentType != "" {
		req.Header.Set("Content-Type", contentType)
	}
	resp, err := l.hc.Do(req)
	if err != nil {
		t.Fatalf("%s %s: %v", method, path, err)
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	if err != nil {
		t.Fatalf("%s %s: read body: %v", method, path, err)
	}
	return resp.StatusCode, string(b)
}

func (l *liveBot) get(t *testing.T, path string) (int, string) {
	t.Helper()
	return l.do(t, http.MethodGet, path, "", nil)
}

// postWebhook posts body to the Alertmanager webhook, as Alertmanager does.
func (l *liveBot) postWebhook(t *testing.T, body []byte) (int, string) {
	t.Helper()
	return l.do(t, http.MethodPost, "/api/v1/alertmanager", "application/json", body)
}

// lookupMetric reads one sample from the bot's /metrics, such as
// `smartcloudops_detector_points_total{check="cpu"}`, and says whether it is there.
func (l *liveBot) lookupMetric(t *testing.T, sample string) (float64, bool) {
	t.Helper()
	code, body := l.get(t, "/metrics")
	if code != http.StatusOK {
		t.Fatalf("GET /metrics: HTTP %d: %s", code, body)
	}
	re := regexp.MustCompile(`(?m)^` + regexp.QuoteMeta(sample) + ` (\S+)$`)
	m := re.FindStringSubmatch(body)
	if m == nil {
		return 0, false
	}
	v, err := strconv.ParseFloat(m[1], 64)
	if err != nil {
		t.Fatalf("metric %s: %q is not a number", sample, m[1])
	}
	return v, true
}

// metric reads one sample from the bot's /metrics; a missing sample fails the test.
func (l *liveBot) metric(t *testing.T, sample string) float64 {
	t.Helper()
	v, ok := l.lookupMetric(t, sample)
	if !ok {
		t.Fatalf("/metrics has no sample %s", sample)
	}
	return v
}

// waitMetric polls the bot's /metrics until sample exists and is above floor, and returns it.
func (l *liveBot) waitMetric(t *testing.T, sample string, floor float64, within time.Duration) float64 {
	t.Helper()
	deadline := time.Now().Add(within)
	for {
		v, ok := l.lookupMetric(t, sample)
		if ok && v > floor {
			return v
		}
		if time.Now().After(deadline) {
			t.Fatalf("%s stayed at %v (present: %v), want > %v, for %v", sample, v, ok, floor, within)
		}
		time.Sleep(200 * time.Millisecond)
	}
}

// ask types cmd at the console, again every second while no reply matches re, and returns the
// submatches of the first match in the output that followed the first time it was typed.
func (l *liveBot) ask(t *testing.T, cmd string, re *regexp.Regexp, within time.Duration) []string {
	t.Helper()
	mark := len(l.out.String())
	deadline := time.Now().Add(within)
	for {
		l.send(t, cmd)
		next := time.Now().Add(time.Second)
		for time.Now().Before(next) {
			if m := re.FindStringSubmatch(l.out.String()[mark:]); m != nil {
				return m
			}
			time.Sleep(20 * time.Millisecond)
		}
		if time.Now().After(deadline) {
			t.Fatalf("%q never answered %v; the console shows since:\n%s", cmd, re, l.out.String()[mark:])
		}
	}
}

// since returns what the console printed after mark.
func (l *liveBot) since(mark int) string { return l.out.String()[mark:] }

// lateProxy is a loopback reverse proxy whose target is set after it starts. It lets the bot be
// configured with Alertmanager's address before Alertmanager, which needs the bot's webhook
// address, is running.
type lateProxy struct {
	srv    *httptest.Server
	target atomic.Pointer[httputil.ReverseProxy]
}

func newLateProxy(t *testing.T) *lateProxy {
	t.Helper()
	p := &lateProxy{}
	p.srv = httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		rp := p.target.Load()
		if rp == nil {
			http.Error(w, "no upstream yet", http.StatusServiceUnavailable)
			return
		}
		rp.ServeHTTP(w, r)
	}))
	t.Cleanup(p.srv.Close)
	return p
}

// URL is the proxy's own address.
func (p *lateProxy) URL() string { return p.srv.URL }

// point sends every later request to base.
func (p *lateProxy) point(t *testing.T, base string) {
	t.Helper()
	u, err := url.Parse(base)
	if err != nil || !strings.HasPrefix(u.Scheme, "http") {
		t.Fatalf("upstream %q is not an http URL: %v", base, err)
	}
	p.target.Store(httputil.NewSingleHostReverseProxy(u))
}
