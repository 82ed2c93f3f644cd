package config

import (
	"bytes"
	"context"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

func write(t *testing.T, body string) string {
	t.Helper()
	p := filepath.Join(t.TempDir(), "smartcloudops.yaml")
	if err := os.WriteFile(p, []byte(body), 0o600); err != nil {
		t.Fatal(err)
	}
	return p
}

func TestDefaultIsValid(t *testing.T) {
	if _, err := Load("", nil); err != nil {
		t.Fatal(err)
	}
}

func TestExampleConfigIsValid(t *testing.T) {
	cfg, err := Load("../../examples/smartcloudops.yaml", nil)
	if err != nil {
		t.Fatal(err)
	}
	if len(cfg.Checks) == 0 {
		t.Fatal("example config has no checks")
	}
}

func TestLoadErrors(t *testing.T) {
	cases := []struct {
		name, body string
		want       []string
	}{
		{"unknown field", "listen: 127.0.0.1:1\nlisen: x\n", []string{"line 2", "lisen"}},
		{"bad duration", "executor:\n  timeout: 5 minutes\n", []string{"line 2", "5 minutes", "not a duration"}},
		{"negative retention", "retention:\n  series: 1h\n  incidents: -90d\n", []string{"line 3", "-90d"}},
		{"bad yaml", "listen: [\n", []string{"smartcloudops.yaml"}},
		{"every problem at once", `
listen: nope
checks:
  - name: cpu
    source: procfs
    metric: gpu
    schedule: "@every 15s"
  - name: cpu
    source: prometheus
    schedule: "every minute"
    threshold: 2
`, []string{":2: listen:", ":6: checks[0].metric:", `:8: checks[1].name: "cpu" is already used`, ":9: checks[1].source: prometheus checks need prometheus.url", "checks[1].query: required", ":10: checks[1].schedule:", ":11: checks[1].threshold"}},
		{"literal secret", "slack:\n  enabled: true\n  bot_token: xoxb-123\n  app_token: env:APP\n  default_channel: C1\n", []string{":3: slack.bot_token: must be a reference"}},
		{"literal secret with a colon", "slack:\n  bot_token: \"xoxb-123:TOPSECRET\"\n", []string{":2: slack.bot_token: must be a reference"}},
		{"bad role member", "roles:\n  sre:\n    users: [alice]\n", []string{":3: roles.sre.users[0]", "platform:id"}},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			_, err := Load(write(t, c.body), nil)
			if err == nil {
				t.Fatal("no error")
			}
			for _, w := range c.want {
				if !strings.Contains(err.Error(), w) {
					t.Errorf("error lacks %q:\n%v", w, err)
				}
			}
			if strings.Contains(err.Error(), "xoxb-123") || strings.Contains(err.Error(), "TOPSECRET") {
				t.Error("error repeats the secret")
			}
		})
	}
}

func TestEnvOverrides(t *testing.T) {
	p := write(t, "listen: 127.0.0.1:1\n")
	cfg, err := Load(p, []string{
		"SMARTCLOUDOPS_LISTEN=127.0.0.1:2", "SMARTCLOUDOPS_SLACK_BOT_TOKEN=env:X",
		"SMARTCLOUDOPS_EXECUTOR_TIMEOUT=90s", "SMARTCLOUDOPS_EXECUTOR_DRY_RUN=true", "PATH=/bin",
		"SMARTCLOUDOPS_RETENTION_PROPOSALS=2w",
	})
	if err != nil {
		t.Fatal(err)
	}
	if cfg.Retention.Incidents.D() != 90*24*time.Hour || cfg.Retention.Series.D() != 7*24*time.Hour {
		t.Fatalf("retention defaults: %+v", cfg.Retention)
	}
	if cfg.Listen != "127.0.0.1:2" || cfg.Slack.BotToken != "env:X" || cfg.Executor.Timeout.D() != 90*time.Second || !cfg.Executor.DryRun ||
		cfg.Retention.Proposals.D() != 14*24*time.Hour {
		t.Fatalf("overrides not applied: %+v", cfg)
	}
	_, err = Load(p, []string{"SMARTCLOUDOPS_LISTN=x", "SMARTCLOUDOPS_EXECUTOR_TIMEOUT=soon"})
	if err == nil || !strings.Contains(err.Error(), "SMARTCLOUDOPS_LISTN does not name") || !strings.Contains(err.Error(), "SMARTCLOUDOPS_EXECUTOR_TIMEOUT") {
		t.Fatalf("bad env not reported: %v", err)
	}
}

func TestSecretResolve(t *testing.T) {
	ctx := context.Background()
	env := func(k string) (string, bool) { return map[string]string{"TOK": "s3cret"}[k], k == "TOK" }
	if v, err := Secret("env:TOK").Resolve(ctx, env, nil); err != nil || v.Reveal() != "s3cret" {
		t.Fatalf("env: %v %v", v, err)
	}
	f := filepath.Join(t.TempDir(), "tok")
	os.WriteFile(f, []byte("fromfile\n"), 0o600)
	if v, err := Secret("file:"+f).Resolve(ctx, env, nil); err != nil || v.Reveal() != "fromfile" {
		t.Fatalf("file: %v %v", v, err)
	}
	if _, err := Secret("env:MISSING").Resolve(ctx, env, nil); err == nil || !strings.Contains(err.Error(), "MISSING") {
		t.Fatalf("missing env: %v", err)
	}
	if _, err := Secret("ssm:/a/b").Resolve(ctx, env, nil); err == nil {
		t.Fatal("ssm without a reader resolved")
	}
	ssm := func(_ context.Context, name string) (string, error) { return "p:" + name, nil }
	if v, _ := Secret("ssm:/a/b").Resolve(ctx, env, ssm); v.Reveal() != "p:/a/b" {
		t.Fatalf("ssm: %v", v.Reveal())
	}
}

func FuzzParse(f *testing.F) {
	for _, s := range []string{"", "listen: 127.0.0.1:9090\n", "checks:\n  - name: a\n    source: procfs\n", "executor: {timeout: 1s}", "roles: {a: {users: [x]}}"} {
		f.Add([]byte(s))
	}
	if b, err := os.ReadFile("../../examples/smartcloudops.yaml"); err == nil {
		f.Add(b)
	}
	f.Fuzz(func(t *testing.T, data []byte) {
		cfg, lines, err := Parse("fuzz.yaml", data)
		if err != nil {
			if !strings.HasPrefix(err.Error(), "fuzz.yaml: ") {
				t.Fatalf("Parse error %q does not name the file", err)
			}
			return
		}
		// YAML also breaks lines at CR, NEL, LS and PS; counting each gives an upper bound.
		last := 1
		for _, br := range []string{"\n", "\r", "\u0085", "\u2028", "\u2029"} {
			last += bytes.Count(data, []byte(br))
		}
		for path, l := range lines {
			if l < 1 || l > last {
				t.Fatalf("field %q placed on line %d of a %d-line file", path, l, last)
			}
		}
		for _, fe := range cfg.validate() {
			if fe.path == "" || fe.msg == "" {
				t.Fatalf("validation error %+v lacks its field or message", fe)
			}
			if msg := fe.located("fuzz.yaml", lines).Error(); !strings.Contains(msg, fe.path) {
				t.Fatalf("validation error %q does not name the field %q", msg, fe.path)
			}
		}
	})
}
