package main

import (
	"context"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/smartcloudops/smartcloudops/internal/store"
	"github.com/smartcloudops/smartcloudops/remediation/audit"
)

func TestSinceTime(t *testing.T) {
	now := time.Date(2026, 11, 8, 12, 0, 0, 0, time.UTC)
	for in, want := range map[string]time.Time{
		"24h":                       now.Add(-24 * time.Hour),
		"90m":                       now.Add(-90 * time.Minute),
		"7d":                        now.AddDate(0, 0, -7),
		"2w":                        now.AddDate(0, 0, -14),
		"1d12h":                     now.Add(-36 * time.Hour),
		"2026-11-01T00:00:00Z":      time.Date(2026, 11, 1, 0, 0, 0, 0, time.UTC),
		"2026-11-01T02:00:00+02:00": time.Date(2026, 11, 1, 0, 0, 0, 0, time.UTC),
	} {
		if got, err := sinceTime(in, now); err != nil || !got.Equal(want) {
			t.Errorf("sinceTime(%q) = %v, %v; want %v", in, got, err, want)
		}
	}
	for _, in := range []string{"yesterday", "7 days", "-7d", "2026-11-01", ""} {
		if got, err := sinceTime(in, now); err == nil {
			t.Errorf("sinceTime(%q) = %v, want an error", in, got)
		} else if !strings.Contains(err.Error(), "7d") || !strings.Contains(err.Error(), "RFC 3339") {
			t.Errorf("sinceTime(%q): error does not say what is accepted: %v", in, err)
		}
	}
}

// writeAudit makes a data dir whose store holds n audit records.
func writeAudit(t *testing.T, n int) string {
	t.Helper()
	dir := t.TempDir()
	st, err := store.OpenBolt(filepath.Join(dir, "smartcloudops.db"), store.BoltOptions{})
	if err != nil {
		t.Fatal(err)
	}
	l, err := audit.New(audit.Options{Store: st})
	if err != nil {
		t.Fatal(err)
	}
	for range n {
		if _, err := l.Append(context.Background(), audit.Record{Kind: "proposal.created", Proposal: "p-1", User: "console:alice"}); err != nil {
			t.Fatal(err)
		}
	}
	if err := st.Close(); err != nil {
		t.Fatal(err)
	}
	return dir
}

func TestAuditExportSince(t *testing.T) {
	dir := writeAudit(t, 2)
	out := filepath.Join(dir, "logs")
	for _, since := range []string{"7d", "2w", "1h", time.Now().Add(-time.Hour).UTC().Format(time.RFC3339)} {
		if code, stdout, stderr := cli("audit", "export", "--data-dir", dir, "--out", out, "--since", since); code != 0 || !strings.Contains(stdout, "exported 2 records") {
			t.Errorf("--since %s: %d %s %s", since, code, stdout, stderr)
		}
	}
	code, _, stderr := cli("audit", "export", "--data-dir", dir, "--out", out, "--since", "last week")
	if code != 2 || !strings.Contains(stderr, `audit export: --since: "last week" is neither a duration`) {
		t.Errorf("--since last week: %d %s", code, stderr)
	}
}

// TestAuditBesideLockedStore holds the store open as a bot without an admin socket does: verify
// and export cannot open it and must say what to do instead.
func TestAuditBesideLockedStore(t *testing.T) {
	dir := writeAudit(t, 1)
	st, err := store.OpenBolt(filepath.Join(dir, "smartcloudops.db"), store.BoltOptions{})
	if err != nil {
		t.Fatal(err)
	}
	defer st.Close()
	for _, args := range [][]string{{"audit", "verify", "--data-dir", dir}, {"audit", "export", "--since", "7d", "--data-dir", dir, "--out", t.TempDir()}} {
		code, _, stderr := cli(args...)
		if code != 1 || !strings.Contains(stderr, "is locked by another smartcloudops process, yet no bot answers on "+filepath.Join(dir, "admin.sock")) ||
			!strings.Contains(stderr, "stop it, or copy the store file into an empty directory") {
			t.Errorf("%v: %d %s", args, code, stderr)
		}
	}
}
