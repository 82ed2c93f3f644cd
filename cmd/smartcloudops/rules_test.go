package main

import (
	"bytes"
	"context"
	"flag"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

// rulesUpdate is the -update flag shared with the other golden tests of this package.
var rulesUpdate = func() flag.Value {
	if f := flag.Lookup("update"); f != nil {
		return f.Value
	}
	flag.Bool("update", false, "rewrite golden files")
	return flag.Lookup("update").Value
}()

func updating() bool { return rulesUpdate.String() == "true" }

func runRulesCLI(t *testing.T, args ...string) (int, string, string) {
	t.Helper()
	var stdout, stderr bytes.Buffer
	c := rulesCommand{actions: rulesActionSchemas, stdout: &stdout, stderr: &stderr,
		now: func() time.Time { return time.Date(2026, 1, 2, 5, 0, 0, 0, time.UTC) }}
	code := c.run(context.Background(), args)
	return code, stdout.String(), stderr.String()
}

func golden(t *testing.T, name, got string) {
	t.Helper()
	goldenFile(t, filepath.Join("testdata", "rules", name+".golden"), got)
}

// goldenFile compares got with the golden file at path, or rewrites it under -update.
func goldenFile(t *testing.T, path, got string) {
	t.Helper()
	if updating() {
		if err := os.WriteFile(path, []byte(got), 0o644); err != nil {
			t.Fatal(err)
		}
		return
	}
	want, err := os.ReadFile(path)
	if err != nil {
		t.Fatalf("%v (run go test -update to create it)", err)
	}
	if got != string(want) {
		t.Errorf("output differs from %s:\n--- got\n%s--- want\n%s", path, got, want)
	}
}

func TestRulesCLI(t *testing.T) {
	cases := []struct {
		name string
		args []string
		code int
	}{
		{"help", []string{"--help"}, 0},
		{"no-command", nil, 2},
		{"unknown-command", []string{"frobnicate"}, 2},
		{"validate-help", []string{"validate", "--help"}, 0},
		{"validate-no-args", []string{"validate"}, 2},
		{"validate-examples", []string{"validate", "../../examples/rules"}, 0},
		{"validate-invalid", []string{"validate", "testdata/rules/invalid.yaml", "testdata/rules/web.yaml"}, 1},
		{"validate-checks-known", []string{"validate", "--config", "../../examples/smartcloudops.yaml", "../../examples/rules/host.yaml"}, 0},
		{"validate-checks-unknown", []string{"validate", "--config", "../../examples/smartcloudops.yaml", "../../examples/rules", "testdata/rules/checks.yaml"}, 1},
		{"validate-missing", []string{"validate", "testdata/rules/nope.yaml"}, 1},
		{"test-examples", []string{"test", "../../examples/rules/demo_test.yaml", "../../examples/rules/host_test.yaml"}, 0},
		{"test-directory", []string{"test", "../../examples/rules"}, 0},
		{"test-failing", []string{"test", "testdata/rules/web_fail_test.yaml"}, 1},
		{"backtest-csv", []string{"backtest", "--csv", "testdata/rules/history.csv", "--from", "2026-01-02T03:00:00Z",
			"--to", "2026-01-02T04:00:00Z", "testdata/rules/web.yaml"}, 0},
		{"backtest-flags-after-path", []string{"backtest", "testdata/rules/web.yaml", "--csv", "testdata/rules/history.csv",
			"--from", "1767322800", "--to", "2026-01-02T04:00:00Z", "--step", "5m"}, 0},
		{"backtest-no-source", []string{"backtest", "--from", "-1h", "testdata/rules/web.yaml"}, 2},
		{"backtest-bad-from", []string{"backtest", "--csv", "x.csv", "--from", "yesterday", "testdata/rules/web.yaml"}, 2},
		{"sync-no-dir", []string{"sync"}, 2},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			code, stdout, stderr := runRulesCLI(t, c.args...)
			if code != c.code {
				t.Errorf("exit %d, want %d\nstdout:\n%s\nstderr:\n%s", code, c.code, stdout, stderr)
			}
			golden(t, c.name, "$ smartcloudops rules "+strings.Join(c.args, " ")+"\n--- stdout\n"+stdout+"--- stderr\n"+stderr)
		})
	}
}

func TestRulesSyncCLI(t *testing.T) {
	if _, err := exec.LookPath("git"); err != nil {
		t.Skip("git not installed")
	}
	repo := t.TempDir()
	git := func(args ...string) {
		cmd := exec.Command("git", append([]string{"-C", repo}, args...)...)
		cmd.Env = append(os.Environ(), "GIT_AUTHOR_NAME=Ana Ops", "GIT_AUTHOR_EMAIL=ana@example.com",
			"GIT_COMMITTER_NAME=Ana Ops", "GIT_COMMITTER_EMAIL=ana@example.com",
			"GIT_AUTHOR_DATE=2026-01-02T03:04:05Z", "GIT_COMMITTER_DATE=2026-01-02T03:04:05Z",
			"GIT_CONFIG_GLOBAL=/dev/null", "GIT_CONFIG_SYSTEM=/dev/null")
		if out, err := cmd.CombinedOutput(); err != nil {
			t.Fatalf("git %v: %v\n%s", args, err, out)
		}
	}
	src, err := os.ReadFile("testdata/rules/web.yaml")
	if err != nil {
		t.Fatal(err)
	}
	write := func(body string) {
		if err := os.WriteFile(filepath.Join(repo, "web.yaml"), []byte(body), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	git("init", "-q", "-b", "main")
	write(string(src))
	git("add", "-A")
	git("commit", "-q", "-m", "add web rules")
	data := t.TempDir()
	var out strings.Builder
	for i, body := range []string{"", strings.Replace(string(src), "for: 2m", "for: 3m", 1), "groups: [{name: web, rules: [{name: x}]}]\n"} {
		if body != "" {
			write(body)
			git("commit", "-q", "-am", "change")
		}
		code, stdout, stderr := runRulesCLI(t, "sync", repo, "--data-dir", data)
		if want := []int{0, 0, 1}[i]; code != want {
			t.Fatalf("sync %d: exit %d, want %d: %s", i, code, want, stderr)
		}
		out.WriteString("--- stdout\n" + stdout + "--- stderr\n" + stderr)
	}
	golden(t, "sync", strings.ReplaceAll(out.String(), repo, "REPO"))
}
