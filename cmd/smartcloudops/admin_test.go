package main

import (
	"context"
	"io"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/smartcloudops/smartcloudops/internal/app"
	"github.com/smartcloudops/smartcloudops/internal/config"
	"github.com/smartcloudops/smartcloudops/internal/obs"
)

// startBot runs a bot in this process, as serve would with these flags, until the test ends.
func startBot(t *testing.T, dataDir string, demo bool) *app.Bot {
	t.Helper()
	cfg := config.Default()
	cfg.DataDir, cfg.Listen = dataDir, "127.0.0.1:0"
	ready := make(chan *app.Bot, 1)
	pr, pw := io.Pipe()
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() {
		done <- app.Run(ctx, app.Options{Config: cfg, Demo: demo, Defaults: true, In: pr, Out: io.Discard,
			Logger: obs.Discard(), Environ: []string{}, Ready: func(b *app.Bot) { ready <- b }})
	}()
	t.Cleanup(func() { cancel(); pw.Close(); <-done })
	select {
	case b := <-ready:
		return b
	case err := <-done:
		t.Fatalf("bot stopped at start: %v", err)
	}
	return nil
}

func get(t *testing.T, b *app.Bot, token string) int {
	t.Helper()
	req, _ := http.NewRequest("GET", "http://"+b.Web.Addr()+"/api/v1/proposals", nil)
	req.Header.Set("Authorization", "Bearer "+token)
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	return resp.StatusCode
}

// TestCommandsBesideRunningBot runs apikey and audit beside a running bot, which holds its store
// locked: they go through the bot, and a key made so works against its API at once.
func TestCommandsBesideRunningBot(t *testing.T) {
	dir := t.TempDir()
	b := startBot(t, dir, false)
	code, out, errb := cli("apikey", "create", "--name", "ops", "--role", "operator", "--owner", "slack:U1", "--data-dir", dir)
	token := strings.TrimSpace(out)
	if code != 0 || !strings.HasPrefix(token, "sco_") || !strings.Contains(errb, "in the running bot (pid ") {
		t.Fatalf("apikey create = %d\nstdout: %s\nstderr: %s", code, out, errb)
	}
	if got := get(t, b, token); got != http.StatusOK {
		t.Fatalf("the new key against the running API: %d", got)
	}
	if code, out, errb := cli("apikey", "list", "--data-dir", dir); code != 0 || !hasRow(out, "ops", "operator", "active") {
		t.Fatalf("apikey list = %d\n%s%s", code, out, errb)
	}
	if code, out, errb := cli("audit", "verify", "--data-dir", dir); code != 0 || !strings.HasPrefix(out, "audit log intact: ") {
		t.Fatalf("audit verify = %d\n%s%s", code, out, errb)
	}
	logs := t.TempDir()
	if code, out, errb := cli("audit", "export", "--since", "1h", "--data-dir", dir, "--out", logs); code != 0 || !strings.HasPrefix(out, "exported ") {
		t.Fatalf("audit export = %d\n%s%s", code, out, errb)
	}
	if code, out, errb := cli("apikey", "revoke", "ops", "--data-dir", dir); code != 0 || !strings.Contains(out, `"ops" revoked`) {
		t.Fatalf("apikey revoke = %d\n%s%s", code, out, errb)
	}
	if got := get(t, b, token); got != http.StatusUnauthorized {
		t.Fatalf("the revoked key against the running API: %d", got)
	}
	if code, _, errb := cli("apikey", "revoke", "nobody", "--data-dir", dir); code != 1 || !strings.Contains(errb, `key "nobody": api key not found`) {
		t.Fatalf("apikey revoke nobody = %d %s", code, errb)
	}
}

// TestCommandsBesideRunningDemo runs the commands beside `serve --demo --data-dir DIR`, which
// keeps its state in DIR/demo: --demo reaches it, and without --demo the commands say where the
// demo's state is.
func TestCommandsBesideRunningDemo(t *testing.T) {
	dir := t.TempDir()
	b := startBot(t, dir, true)
	code, out, errb := cli("apikey", "create", "--demo", "--name", "try", "--role", "viewer", "--data-dir", dir)
	if code != 0 || !strings.Contains(errb, filepath.Join(dir, "demo", "admin.sock")) {
		t.Fatalf("apikey create --demo = %d\n%s%s", code, out, errb)
	}
	if got := get(t, b, strings.TrimSpace(out)); got != http.StatusOK {
		t.Fatalf("a key made while the demo runs: %d", got)
	}
	if code, out, errb := cli("audit", "verify", "--demo", "--data-dir", dir); code != 0 || !strings.HasPrefix(out, "audit log intact: ") {
		t.Fatalf("audit verify --demo = %d\n%s%s", code, out, errb)
	}
	code, _, errb = cli("audit", "verify", "--data-dir", dir)
	if code != 1 || !strings.Contains(errb, "no store at "+filepath.Join(dir, "smartcloudops.db")) ||
		!strings.Contains(errb, "the demo keeps its state apart, in "+filepath.Join(dir, "demo")+": add --demo") {
		t.Fatalf("audit verify without --demo = %d %s", code, errb)
	}
	code, out, errb = cli("apikey", "create", "--name", "elsewhere", "--role", "viewer", "--data-dir", dir)
	if code != 0 || !strings.Contains(errb, "Note: a demo is running with its own state in "+filepath.Join(dir, "demo")) {
		t.Fatalf("apikey create without --demo = %d\n%s%s", code, out, errb)
	}
	if got := get(t, b, strings.TrimSpace(out)); got != http.StatusUnauthorized {
		t.Fatalf("a key of the other store works against the demo: %d", got)
	}
}

// TestCommandsFindTheDataDirAsServeDoes gives the data directory through --config: the command
// finds the store where serve keeps it, beside the configuration file.
func TestCommandsFindTheDataDirAsServeDoes(t *testing.T) {
	dir := t.TempDir()
	cfgFile := filepath.Join(dir, "bot.yaml")
	writeFile(t, cfgFile, "data_dir: state\n")
	code, out, errb := cli("apikey", "create", "--name", "ci", "--role", "viewer", "--config", cfgFile)
	if code != 0 || !strings.Contains(errb, "the store at "+filepath.Join(dir, "state", "smartcloudops.db")) {
		t.Fatalf("apikey create --config = %d\n%s%s", code, out, errb)
	}
	if code, out, _ := cli("apikey", "list", "--config", cfgFile); code != 0 || !hasRow(out, "ci", "viewer", "active") {
		t.Fatalf("apikey list --config = %d\n%s", code, out)
	}
	t.Chdir(dir)
	t.Setenv("SMARTCLOUDOPS_DATA_DIR", "elsewhere")
	if code, out, _ := cli("apikey", "list"); code != 0 || !strings.Contains(out, "no store at elsewhere/smartcloudops.db") {
		t.Fatalf("apikey list with SMARTCLOUDOPS_DATA_DIR = %d\n%s", code, out)
	}
}

func writeFile(t *testing.T, path, body string) {
	t.Helper()
	if err := os.WriteFile(path, []byte(body), 0o600); err != nil {
		t.Fatal(err)
	}
}
