package app

import (
	"context"
	"errors"
	"io"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/smartcloudops/smartcloudops/api"
	"github.com/smartcloudops/smartcloudops/internal/config"
	"github.com/smartcloudops/smartcloudops/internal/obs"
	"github.com/smartcloudops/smartcloudops/remediation/audit"
)

// runBot builds and runs a bot with an HTTP API on a free port and returns it once it runs.
func runBot(t *testing.T, o Options) *Bot {
	t.Helper()
	ready := make(chan *Bot, 1)
	o.Ready = func(b *Bot) { ready <- b }
	if o.Logger == nil {
		o.Logger = obs.Discard()
	}
	o.Environ = []string{}
	ctx, cancel := context.WithCancel(context.Background())
	b, err := Build(ctx, o)
	if err != nil {
		cancel()
		t.Fatal(err)
	}
	done := make(chan error, 1)
	go func() { done <- b.Run(ctx) }()
	t.Cleanup(func() {
		cancel()
		if err := <-done; err != nil {
			t.Errorf("bot: %v", err)
		}
	})
	select {
	case <-ready:
	case err := <-done:
		t.Fatalf("bot stopped at start: %v", err)
	}
	return b
}

// apiStatus asks the running API for the incidents with token and returns the status code.
func apiStatus(t *testing.T, b *Bot, token string) int {
	t.Helper()
	req, _ := http.NewRequest("GET", "http://"+b.Web.Addr()+"/api/v1/incidents", nil)
	req.Header.Set("Authorization", "Bearer "+token)
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	return resp.StatusCode
}

// TestAdminBesideRunningBot makes, lists and revokes keys and reads the audit log of a running
// bot, whose store no other process can open: through its admin socket, the key works and stops
// working against the running API at once.
func TestAdminBesideRunningBot(t *testing.T) {
	dir := t.TempDir()
	cfg := config.Default()
	cfg.DataDir, cfg.Listen = dir, "127.0.0.1:0"
	b := runBot(t, Options{Config: cfg})
	sock := filepath.Join(dir, AdminSocket)
	if fi, err := os.Stat(sock); err != nil || fi.Mode()&os.ModeSocket == 0 || fi.Mode().Perm() != 0o600 {
		t.Fatalf("admin socket %s: %v %v, want a socket of mode 0600", sock, fi.Mode(), err)
	}
	ctx := context.Background()
	a, via, done, err := OpenAdmin(ctx, AdminOptions{DataDir: dir, Write: true})
	if err != nil {
		t.Fatal(err)
	}
	defer done()
	if !strings.HasPrefix(via, "the running bot (pid ") {
		t.Fatalf("reached the bot through %q", via)
	}
	// The API has read its keys (none) just before the key is made.
	if code := apiStatus(t, b, "sco_"+strings.Repeat("x", 43)); code != http.StatusUnauthorized {
		t.Fatalf("an unknown key: %d", code)
	}
	token, k, err := a.CreateKey(ctx, KeyRequest{Name: "ci", Role: api.RoleViewer, TTL: time.Hour})
	if err != nil || k.Name != "ci" || k.Hash != "" || k.Expires.IsZero() {
		t.Fatalf("create: %+v %v", k, err)
	}
	if code := apiStatus(t, b, token); code != http.StatusOK {
		t.Fatalf("the new key against the running API: %d", code)
	}
	if _, _, err := a.CreateKey(ctx, KeyRequest{Name: "ci", Role: api.RoleViewer}); !errors.Is(err, api.ErrKeyExists) {
		t.Fatalf("a second ci: %v", err)
	}
	if _, _, err := a.CreateKey(ctx, KeyRequest{Name: "Bad Name", Role: api.RoleViewer}); err == nil || !strings.Contains(err.Error(), `key name "Bad Name"`) {
		t.Fatalf("a bad name: %v", err)
	}
	keys, err := a.ListKeys(ctx)
	if err != nil || len(keys) != 1 || keys[0].Name != "ci" || keys[0].Status(time.Now()) != "active" {
		t.Fatalf("list: %+v %v", keys, err)
	}
	if k, err := a.RevokeKey(ctx, "ci"); err != nil || k.Revoked.IsZero() {
		t.Fatalf("revoke: %+v %v", k, err)
	}
	if code := apiStatus(t, b, token); code != http.StatusUnauthorized {
		t.Fatalf("the revoked key against the running API: %d", code)
	}
	if _, err := a.RevokeKey(ctx, "nobody"); !errors.Is(err, api.ErrKeyNotFound) {
		t.Fatalf("revoke of an unknown key: %v", err)
	}
	if _, err := b.Audit.Append(ctx, auditRecord("test.one")); err != nil {
		t.Fatal(err)
	}
	rep, err := a.VerifyAudit(ctx)
	if err != nil || rep.Problem != "" || rep.Records < 1 {
		t.Fatalf("verify: %+v %v", rep, err)
	}
	recs, err := a.AuditRecords(ctx, time.Now().Add(-time.Hour))
	if err != nil || len(recs) != rep.Records || recs[len(recs)-1].Kind != "test.one" {
		t.Fatalf("records: %+v %v", recs, err)
	}
	if recs, err := a.AuditRecords(ctx, time.Now().Add(time.Hour)); err != nil || len(recs) != 0 {
		t.Fatalf("records since an hour ahead: %+v %v", recs, err)
	}
}

// TestAdminStaleSocket leaves a socket file with nobody behind it, as a bot that was killed
// does: the commands open the store directly, and the next bot replaces the file.
func TestAdminStaleSocket(t *testing.T) {
	dir := t.TempDir()
	sock := filepath.Join(dir, AdminSocket)
	ln, err := net.Listen("unix", sock)
	if err != nil {
		t.Fatal(err)
	}
	ln.(*net.UnixListener).SetUnlinkOnClose(false)
	ln.Close()
	if _, err := os.Stat(sock); err != nil {
		t.Fatalf("no stale socket to test with: %v", err)
	}
	ctx := context.Background()
	if _, _, _, err := OpenAdmin(ctx, AdminOptions{DataDir: dir}); !errors.Is(err, ErrNoStore) {
		t.Fatalf("reading beside a stale socket and no store: %v", err)
	}
	a, via, done, err := OpenAdmin(ctx, AdminOptions{DataDir: dir, Write: true})
	if err != nil || via != "the store at "+filepath.Join(dir, "smartcloudops.db") {
		t.Fatalf("beside a stale socket: %q %v", via, err)
	}
	token, _, err := a.CreateKey(ctx, KeyRequest{Name: "early", Role: api.RoleViewer})
	done()
	if err != nil {
		t.Fatal(err)
	}

	cfg := config.Default()
	cfg.DataDir, cfg.Listen = dir, "127.0.0.1:0"
	b := runBot(t, Options{Config: cfg})
	if !AdminAnswers(ctx, dir) {
		t.Fatal("the bot did not replace the stale socket")
	}
	if code := apiStatus(t, b, token); code != http.StatusOK {
		t.Fatalf("a key made while the bot was stopped: %d", code)
	}
}

// TestAdminSocketOfAnotherProcess starts a bot on a data directory where another process
// answers on the socket path: the bot runs without a socket and leaves the other one alone.
func TestAdminSocketOfAnotherProcess(t *testing.T) {
	dir := t.TempDir()
	sock := filepath.Join(dir, AdminSocket)
	ln, err := net.Listen("unix", sock)
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	go func() {
		for {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			c.Close()
		}
	}()
	if _, err := listenAdmin(sock); err == nil || !strings.Contains(err.Error(), "another process answers on") {
		t.Fatalf("listen over a live socket: %v", err)
	}
	if err := os.WriteFile(filepath.Join(dir, "plain"), nil, 0o600); err != nil {
		t.Fatal(err)
	}
	if _, err := listenAdmin(filepath.Join(dir, "plain")); err == nil || !strings.Contains(err.Error(), "is not a socket") {
		t.Fatalf("listen over a plain file: %v", err)
	}
}

var demoKeyRE = regexp.MustCompile(`Demo API key \(role operator[^\n]*\n  (sco_\S+)\n  curl -H 'Authorization: Bearer sco_\S+' (http://\S+)`)

// TestDemoPrintsAKey runs the demo with the HTTP API: it prints an operator key made for this
// run, which the API accepts, and its admin socket is in the demo's own data directory.
func TestDemoPrintsAKey(t *testing.T) {
	dir := t.TempDir()
	cfg := config.Default()
	cfg.DataDir, cfg.Listen = dir, "127.0.0.1:0"
	pr, pw := io.Pipe()
	defer pw.Close()
	out := &syncBuffer{}
	b := runBot(t, Options{Config: cfg, Demo: true, Defaults: true, In: pr, Out: out})
	m := demoKeyRE.FindStringSubmatch(out.String())
	if m == nil {
		t.Fatalf("no demo key printed:\n%s", out.String())
	}
	if m[2] != "http://"+b.Web.Addr()+"/api/v1/incidents" {
		t.Errorf("printed URL %s", m[2])
	}
	if code := apiStatus(t, b, m[1]); code != http.StatusOK {
		t.Fatalf("the demo key against the API: %d", code)
	}
	if !AdminAnswers(context.Background(), filepath.Join(dir, "demo")) || AdminAnswers(context.Background(), dir) {
		t.Fatal("the demo's admin socket is not in DATA/demo")
	}
}

func auditRecord(kind string) audit.Record {
	return audit.Record{Kind: kind, User: "test", Outcome: "ok"}
}
