package config

import (
	"bytes"
	"context"
	"fmt"
	"os"
	"path/filepath"
	"slices"
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
		{"unknown field", "listen: 127.0.0.1:1\nlisen: x\n", []string{":2: lisen: unknown field"}},
		{"unknown nested field", "executor:\n  dry_run: true\n  dryrun: true\n", []string{":3: executor.dryrun: unknown field"}},
		{"bad duration", "executor:\n  timeout: 5 minutes\n", []string{`:2: executor.timeout: "5 minutes" is not a duration`}},
		{"negative retention", "retention:\n  series: 1h\n  incidents: -90d\n", []string{`:3: retention.incidents: "-90d" is not a duration`}},
		{"duration as a list", "executor:\n  settle: [1m]\n", []string{":2: executor.settle: want a duration"}},
		{"not a whole number", "executor:\n  max_per_hour: lots\n", []string{`smartcloudops.yaml:2: executor.max_per_hour: "lots" is not a whole number`}},
		{"long value shortened by yaml", "executor:\n  max_failures: a great many\n", []string{`:2: executor.max_failures: "a great many" is not a whole number`}},
		{"not true or false", "executor: {dry_run: maybe, timeout: 1m}\n", []string{`:1: executor.dry_run: "maybe" is not true or false`}},
		{"list for a string", "listen: [a, b]\n", []string{":1: listen: want a string, not a list"}},
		{"mapping for a list", "rules:\n  paths: {a: b}\n", []string{":2: rules.paths: want a list, not a mapping"}},
		{"scalar for a section", "log: debug\n", []string{`:1: log: "debug" is not a mapping`}},
		{"bad value in a list item", "checks:\n  - name: cpu\n    source: procfs\n    metric: cpu\n    schedule: \"@every 1m\"\n    speed: fast\n",
			[]string{`:6: checks[0].speed: "fast" is not a number`}},
		{"duplicate key", "listen: 127.0.0.1:1\nlisten: 127.0.0.1:2\n", []string{":2: listen: already set on line 1"}},
		{"pprof without listen", "listen: \"\"\ndebug:\n  pprof: true\n", []string{":3: debug.pprof: needs listen"}},
		{"not a size", "memory:\n  limit: lots\n", []string{`:2: memory.limit: "lots" is not a size like 900MB or 1.5GiB`}},
		{"negative size", "memory:\n  limit: -1GB\n", []string{`:2: memory.limit: size "-1GB" is negative`}},
		{"gc percent below -1", "memory:\n  gc_percent: -5\n", []string{":2: memory.gc_percent: -5: want a percentage"}},
		{"type errors do not hide other problems", `
executor:
  max_per_hour: lots
  timeout: soon
listen: nope
lisen: x
checks:
  - name: cpu
    source: procfs
    metric: gpu
    schedule: "@every 15s"
    threshold: high
`, []string{`:3: executor.max_per_hour: "lots" is not a whole number`, `:4: executor.timeout: "soon" is not a duration`,
			":5: listen:", ":6: lisen: unknown field", ":10: checks[0].metric:", `:12: checks[0].threshold: "high" is not a number`}},
		{"bad yaml", "listen: [\n", []string{"smartcloudops.yaml:1: did not find expected node content"}},
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
		{"action timeout beyond the executor's", "executor:\n  timeout: 1m\nactions:\n  script:\n    timeout: 2m\n  webhook:\n    timeout: 90s\n",
			[]string{":5: actions.script.timeout: 2m0s is longer than executor.timeout (1m0s)", ":7: actions.webhook.timeout: 1m30s is longer than executor.timeout"}},
		{"bad role member", "roles:\n  sre:\n    users: [alice]\n", []string{":3: roles.sre.users[0]", "platform:id"}},
		{"too many prometheus queries", "prometheus:\n  url: http://prom:9090\n  max_concurrent_queries: 1000\n",
			[]string{":3: prometheus.max_concurrent_queries: 1000 is outside [0,256]"}},
		{"bad notify", "notify:\n  group_by: [check, check, \"host name\"]\n  group_wait: -5s\n  chart_workers: 0\n",
			[]string{`:2: notify.group_by[1]: "check" is already in group_by[0]`, `notify.group_by[2]: "host name" is not check, rule, ... or a label name`,
				`:3: notify.group_wait: duration "-5s" is negative`, ":4: notify.chart_workers: 0 is outside [1, 64]"}},
		{"group by all and more", "notify:\n  group_by: [..., host]\n  edit_interval: 48h\n",
			[]string{`:2: notify.group_by[0]: "..." groups by every label and stands alone`, ":3: notify.edit_interval: 48h0m0s is outside [0, 24h]"}},
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

// TestEnvOverrideProblemsNameTheVariable checks that a bad value set from the environment is
// blamed on the variable, not on the line of the file that the variable overrode.
func TestEnvOverrideProblemsNameTheVariable(t *testing.T) {
	p := write(t, "listen: 127.0.0.1:1\nexecutor:\n  timeout: 1m\n  max_per_hour: 5\nslack:\n  bot_token: env:BOT\n")
	_, src, err := LoadSource(p, []string{"SMARTCLOUDOPS_LISTEN=nohost", "SMARTCLOUDOPS_EXECUTOR_TIMEOUT=0s",
		"SMARTCLOUDOPS_EXECUTOR_MAX_PER_HOUR=lots", "SMARTCLOUDOPS_SLACK_BOT_TOKEN=hunter2",
		"SMARTCLOUDOPS_" + strings.Repeat("X", 5000) + "=1"})
	want := []string{
		`environment: SMARTCLOUDOPS_LISTEN: listen: "nohost" is not host:port (address nohost: missing port in address)`,
		`environment: SMARTCLOUDOPS_EXECUTOR_TIMEOUT: executor.timeout: must be positive`,
		`environment: SMARTCLOUDOPS_EXECUTOR_MAX_PER_HOUR: executor.max_per_hour: "lots" is not a whole number`,
		`environment: SMARTCLOUDOPS_SLACK_BOT_TOKEN: slack.bot_token: must be a reference: env:NAME, file:PATH or ssm:/path (never the secret itself)`,
		"environment: SMARTCLOUDOPS_" + strings.Repeat("X", 50) + "… does not name a config field",
	}
	if err == nil {
		t.Fatal("bad overrides accepted")
	}
	got := strings.Split(err.Error(), "\n")
	slices.Sort(got)
	slices.Sort(want)
	if !slices.Equal(got, want) {
		t.Fatalf("errors:\n%s\nwant:\n%s", strings.Join(got, "\n"), strings.Join(want, "\n"))
	}
	// Problems found after loading, such as a reference that does not resolve, say it too.
	if e := src.Errorf("slack.bot_token", "secret env:BOT: environment variable BOT is not set"); e.Error() !=
		"environment: SMARTCLOUDOPS_SLACK_BOT_TOKEN: slack.bot_token: secret env:BOT: environment variable BOT is not set" {
		t.Errorf("Errorf of an overridden field: %v", e)
	}
	if e := src.Errorf("executor.max_per_hour", "x"); !strings.Contains(e.Error(), "SMARTCLOUDOPS_EXECUTOR_MAX_PER_HOUR") {
		t.Errorf("Errorf of an overridden field: %v", e)
	}
	if e := src.Errorf("slack.app_token", "x"); !strings.HasSuffix(e.Error(), ":5: slack.app_token: x") {
		t.Errorf("Errorf of a field of the file: %v", e)
	}
}

// TestEnvOverridesOptionalSection sets fields of prometheus.basic_auth, a section that is a
// pointer: absent from the file, the variables create it; present, they override its fields.
func TestEnvOverridesOptionalSection(t *testing.T) {
	p := write(t, "prometheus:\n  url: http://prom:9090\n")
	cfg, err := Load(p, []string{"SMARTCLOUDOPS_PROMETHEUS_BASIC_AUTH_USER=alice", "SMARTCLOUDOPS_PROMETHEUS_BASIC_AUTH_PASSWORD=env:PROM_PW"})
	if err != nil {
		t.Fatal(err)
	}
	if ba := cfg.Prometheus.BasicAuth; ba == nil || ba.User != "alice" || ba.Password != "env:PROM_PW" {
		t.Fatalf("basic_auth = %+v", ba)
	}
	cfg, err = Load(p, []string{"SMARTCLOUDOPS_LISTEN=127.0.0.1:3"})
	if err != nil || cfg.Prometheus.BasicAuth != nil {
		t.Fatalf("basic_auth created without a variable for it: %+v %v", cfg.Prometheus.BasicAuth, err)
	}
	p = write(t, "prometheus:\n  url: http://prom:9090\n  basic_auth: {user: bob, password: env:OLD}\n")
	cfg, err = Load(p, []string{"SMARTCLOUDOPS_PROMETHEUS_BASIC_AUTH_PASSWORD=file:/run/pw"})
	if err != nil {
		t.Fatal(err)
	}
	if ba := cfg.Prometheus.BasicAuth; ba == nil || ba.User != "bob" || ba.Password != "file:/run/pw" {
		t.Fatalf("basic_auth = %+v", ba)
	}
	_, err = Load(p, []string{"SMARTCLOUDOPS_PROMETHEUS_BASIC_AUTH_PASSWORD=hunter2", "SMARTCLOUDOPS_PROMETHEUS_BASIC_AUTH_USERNAME=x"})
	if err == nil || !strings.Contains(err.Error(), "prometheus.basic_auth.password: must be a reference") ||
		!strings.Contains(err.Error(), "SMARTCLOUDOPS_PROMETHEUS_BASIC_AUTH_USERNAME does not name") || strings.Contains(err.Error(), "hunter2") {
		t.Fatalf("bad basic_auth variables: %v", err)
	}
}

// TestSecretsInUse lists the references serve resolves: those of what is enabled, and none that
// is empty or malformed.
func TestSecretsInUse(t *testing.T) {
	p := write(t, `
listen: ""
slack:
  enabled: true
  bot_token: env:BOT
  app_token: "literal"
  default_channel: C1
discord:
  token: env:DISCORD
prometheus:
  url: http://prom:9090
  basic_auth: {user: alice, password: file:/run/pw}
alertmanager:
  webhook_token: env:AM
actions:
  webhook:
    secret: ssm:/hook
`)
	cfg, src, err := LoadSource(p, nil)
	if err == nil || !strings.Contains(err.Error(), ":6: slack.app_token: must be a reference") {
		t.Fatalf("literal app_token not reported: %v", err)
	}
	var got []string
	for _, s := range cfg.SecretsInUse() {
		got = append(got, s.Path+"="+string(s.Ref))
	}
	want := "actions.webhook.secret=ssm:/hook slack.bot_token=env:BOT prometheus.basic_auth.password=file:/run/pw"
	if strings.Join(got, " ") != want {
		t.Fatalf("SecretsInUse = %v, want %s", got, want)
	}
	if e := src.Errorf("prometheus.basic_auth.password", "secret %s: %s", "file:/run/pw", "no such file").Error(); e != p+":12: prometheus.basic_auth.password: secret file:/run/pw: no such file" {
		t.Fatalf("Source.Errorf = %q", e)
	}
	if e := src.Errorf("checks[0].file", "missing").Error(); e != p+": checks[0].file: missing" {
		t.Fatalf("Source.Errorf of a field the file does not spell = %q", e)
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
		// YAML also breaks lines at CR, NEL, LS and PS; counting each gives an upper bound.
		last := 1
		for _, br := range []string{"\n", "\r", "\u0085", "\u2028", "\u2029"} {
			last += bytes.Count(data, []byte(br))
		}
		if err != nil {
			errs := []error{err}
			if j, ok := err.(interface{ Unwrap() []error }); ok {
				errs = j.Unwrap()
			}
			for _, e := range errs {
				msg := e.Error()
				if !strings.HasPrefix(msg, "fuzz.yaml: ") && !strings.HasPrefix(msg, "fuzz.yaml:") {
					t.Fatalf("Parse error %q does not name the file", msg)
				}
				var l int
				if n, _ := fmt.Sscanf(msg, "fuzz.yaml:%d:", &l); n == 1 && (l < 1 || l > last) {
					t.Fatalf("Parse error %q placed on line %d of a %d-line file", msg, l, last)
				}
			}
			return
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

// TestMemory: memory.limit reads sizes with decimal and binary units, from the file and the
// environment; gc_percent is empty (adaptive) by default.
func TestMemory(t *testing.T) {
	for in, want := range map[string]ByteSize{"1048576": 1 << 20, "900MB": 900e6, "1.5GiB": 3 << 29, "2 GB": 2e9, "512KiB": 512 << 10, "0": 0, "": 0} {
		got, err := ParseByteSize(in)
		if err != nil || got != want {
			t.Errorf("ParseByteSize(%q) = %d, %v; want %d", in, got, err, want)
		}
	}
	if d := Default(); d.Memory.GCPercent != 0 || d.Memory.Limit != 0 {
		t.Errorf("default memory %+v, want neither gc_percent nor limit", d.Memory)
	}
	path := filepath.Join(t.TempDir(), "smartcloudops.yaml")
	if err := os.WriteFile(path, []byte("memory:\n  limit: 1.5GiB\n  gc_percent: 80\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	cfg, err := Load(path, nil)
	if err != nil || cfg.Memory.Limit != 3<<29 || cfg.Memory.GCPercent != 80 {
		t.Fatalf("loaded memory %+v, %v; want limit 1.5GiB and gc_percent 80", cfg.Memory, err)
	}
	cfg, err = Load(path, []string{"SMARTCLOUDOPS_MEMORY_LIMIT=900MB"})
	if err != nil || cfg.Memory.Limit != 900e6 {
		t.Fatalf("memory.limit from the environment: %+v, %v; want 900MB", cfg.Memory, err)
	}
}
