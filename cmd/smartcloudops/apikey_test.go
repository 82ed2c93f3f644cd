package main

import (
	"bytes"
	"context"
	"errors"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/smartcloudops/smartcloudops/api"
	"github.com/smartcloudops/smartcloudops/internal/store"
)

func runAPIKeyCLI(t *testing.T, args ...string) (int, string, string) {
	t.Helper()
	var stdout, stderr bytes.Buffer
	code := runAPIKey(context.Background(), args, &stdout, &stderr)
	return code, stdout.String(), stderr.String()
}

func TestAPIKeyCLI(t *testing.T) {
	dir := t.TempDir()
	code, out, errOut := runAPIKeyCLI(t, "create", "--name", "ci", "--role", "operator", "--owner", "slack:U1", "--expires", "90d", "--data-dir", dir)
	token := strings.TrimSpace(out)
	if code != 0 || !strings.HasPrefix(token, "sco_") || strings.Count(out, "\n") != 1 || !strings.Contains(errOut, `Created API key "ci" with role operator (expires `) {
		t.Fatalf("create: %d %q %q", code, out, errOut)
	}
	if code, _, _ := runAPIKeyCLI(t, "create", "--name", "ro", "--role", "viewer", "--data-dir", dir); code != 0 {
		t.Fatalf("create without expiry: %d", code)
	}
	if code, _, errOut := runAPIKeyCLI(t, "create", "--name", "ci", "--role", "admin", "--owner", "slack:U1", "--data-dir", dir); code != 1 || !strings.Contains(errOut, "exists") {
		t.Fatalf("duplicate: %d %q", code, errOut)
	}

	code, out, _ = runAPIKeyCLI(t, "list", "--data-dir", dir)
	if code != 0 || !strings.Contains(out, "NAME") || !hasRow(out, "ci", "operator", "active") || !hasRow(out, "ro", "viewer", "active") || strings.Contains(out, token[4:]) {
		t.Fatalf("list: %d\n%s", code, out)
	}

	// The printed key authenticates against the stored hash, and only the hash is stored.
	checkKey(t, dir, token, nil)
	raw, err := os.ReadFile(filepath.Join(dir, "smartcloudops.db"))
	if err != nil || bytes.Contains(raw, []byte(token[4:])) {
		t.Fatalf("the key itself is in the store file (%v)", err)
	}

	if code, out, _ := runAPIKeyCLI(t, "revoke", "ci", "--data-dir", dir); code != 0 || !strings.Contains(out, `"ci" revoked`) {
		t.Fatalf("revoke: %d %q", code, out)
	}
	checkKey(t, dir, token, api.ErrKeyRevoked)
	if code, out, _ := runAPIKeyCLI(t, "list", "--data-dir", dir); code != 0 || !hasRow(out, "ci", "operator", "revoked") {
		t.Fatalf("list after revoke: %d\n%s", code, out)
	}
	if code, _, errOut := runAPIKeyCLI(t, "revoke", "nobody", "--data-dir", dir); code != 1 || !strings.Contains(errOut, "not found") {
		t.Fatalf("revoke unknown: %d %q", code, errOut)
	}
	// A new key may take a revoked key's name; the revoked one stays listed, and refused.
	if code, _, errOut := runAPIKeyCLI(t, "create", "--name", "ci", "--role", "viewer", "--data-dir", dir); code != 0 {
		t.Fatalf("create over a revoked name: %d %q", code, errOut)
	}
	if code, out, _ := runAPIKeyCLI(t, "list", "--data-dir", dir); code != 0 || !hasRow(out, "ci", "operator", "revoked") || !hasRow(out, "ci", "viewer", "active") {
		t.Fatalf("list after the name was reused: %d\n%s", code, out)
	}
	checkKey(t, dir, token, api.ErrKeyRevoked)
	long := strings.Repeat("k", 5000)
	if code, _, errOut := runAPIKeyCLI(t, "revoke", long, "--data-dir", dir); code != 1 || len(errOut) > 200 || !strings.Contains(errOut, `"kkkk`) {
		t.Fatalf("revoke of a 5000-character name: %d %q", code, errOut)
	}
}

// hasRow reports whether a line of out starts with fields.
func hasRow(out string, fields ...string) bool {
	for line := range strings.Lines(out) {
		f := strings.Fields(line)
		if len(f) >= len(fields) && slices.Equal(f[:len(fields)], fields) {
			return true
		}
	}
	return false
}

func checkKey(t *testing.T, dir, token string, want error) {
	t.Helper()
	st, err := store.OpenBolt(filepath.Join(dir, "smartcloudops.db"), store.BoltOptions{ReadOnly: true})
	if err != nil {
		t.Fatal(err)
	}
	defer st.Close()
	ks, _ := api.NewKeys(api.KeysOptions{Store: st})
	k, err := ks.Authenticate(context.Background(), token)
	if !errors.Is(err, want) || k.Name != "ci" {
		t.Fatalf("authenticate: %+v %v, want %v", k, err, want)
	}
}

func TestAPIKeyCLIUsage(t *testing.T) {
	dir := t.TempDir()
	cases := []struct {
		args []string
		code int
		want string // in stdout for 0, in stderr otherwise
	}{
		{nil, 2, "usage: smartcloudops apikey"},
		{[]string{"--help"}, 0, "usage: smartcloudops apikey"},
		{[]string{"rotate"}, 2, `unknown command "rotate"`},
		{[]string{"create", "--help"}, 0, "usage: smartcloudops apikey create --name NAME"},
		{[]string{"create", "--role", "viewer", "--data-dir", dir}, 2, "--name is required"},
		{[]string{"create", "--name", "ci", "--data-dir", dir}, 2, "--role is required"},
		{[]string{"create", "--name", "CI!", "--role", "root", "--data-dir", dir}, 2, `--name: key name "CI!"`},
		{[]string{"create", "--name", "ci", "--role", "root", "--data-dir", dir}, 2, `--role: role "root": want one of viewer, operator, admin`},
		{[]string{"create", "--name", "ci", "--role", "viewer", "--expires", "soon", "--data-dir", dir}, 2, "--expires: "},
		{[]string{"create", "--name", "ci", "--role", "viewer", "--bogus"}, 2, "flag provided but not defined"},
		{[]string{"create", "--name", "ci", "--role", "admin", "--owner", "alice", "--data-dir", dir}, 2, `--owner: "alice" is not platform:id`},
		{[]string{"create", "--name", "ci", "--role", "viewer", "extra"}, 2, "unexpected arguments"},
		{[]string{"revoke", "--data-dir", dir}, 2, "NAME is required"},
		{[]string{"revoke", "--help"}, 0, "usage: smartcloudops apikey revoke NAME"},
		{[]string{"list", "--data-dir", filepath.Join(dir, "none")}, 0, "No API keys (no store at"},
		{[]string{"list", "--help"}, 0, "usage: smartcloudops apikey list"},
	}
	for _, c := range cases {
		code, out, errOut := runAPIKeyCLI(t, c.args...)
		got := errOut
		if c.code == 0 {
			got = out
		}
		if code != c.code || !strings.Contains(got, c.want) {
			t.Errorf("%q: %d, stdout %q, stderr %q; want %d with %q", c.args, code, out, errOut, c.code, c.want)
		}
	}
	if _, err := os.Stat(filepath.Join(dir, "smartcloudops.db")); err == nil {
		t.Error("a refused command created the store")
	}
}

func TestAPIKeyCLIExpiredKeyListed(t *testing.T) {
	dir := t.TempDir()
	var stdout, stderr bytes.Buffer
	past := func() time.Time { return time.Now().Add(-48 * time.Hour) }
	if code := apikeyCreate(context.Background(), []string{"--name", "old", "--role", "viewer", "--expires", "1d", "--data-dir", dir}, &stdout, &stderr, past); code != 0 {
		t.Fatalf("create: %d %s", code, stderr.String())
	}
	if code, out, _ := runAPIKeyCLI(t, "list", "--data-dir", dir); code != 0 || !hasRow(out, "old", "viewer", "expired") {
		t.Fatalf("list: %d\n%s", code, out)
	}
}
