package config

import (
	"os"
	"path/filepath"
	"strings"
	"testing"
)

const relativeConfig = `data_dir: state
prometheus:
  url: http://prom:9090
  tls: {ca_file: tls/ca.pem, cert_file: /etc/tls/cert.pem}
  basic_auth: {user: bob, password: file:secrets/prom}
slack:
  bot_token: file:secrets/bot
  app_token: env:APP
checks:
  - {name: replayed, source: replay, file: series.csv, schedule: "@every 15s"}
  - {name: modelled, source: procfs, metric: cpu, schedule: "@every 15s", model: models/cpu.bin}
  - {name: plain, source: procfs, metric: cpu, schedule: "@every 15s", model: default}
rules:
  paths: [rules, ../shared/rules.yaml]
actions:
  script: {dir: ./actions}
`

// TestRelativePathsFollowTheFile loads a configuration from another directory than the one it
// is in: its relative paths are read relative to the file, absolute ones and those set from the
// environment or left to their defaults are not touched.
func TestRelativePathsFollowTheFile(t *testing.T) {
	dir := filepath.Join(t.TempDir(), "etc")
	if err := os.MkdirAll(dir, 0o755); err != nil {
		t.Fatal(err)
	}
	p := filepath.Join(dir, "smartcloudops.yaml")
	if err := os.WriteFile(p, []byte(relativeConfig), 0o600); err != nil {
		t.Fatal(err)
	}
	t.Chdir(t.TempDir())
	cfg, src, err := LoadSource(p, []string{"SMARTCLOUDOPS_ACTIONS_SCRIPT_DIR=scripts"})
	if err != nil {
		t.Fatal(err)
	}
	in := func(rel string) string { return filepath.Join(dir, rel) }
	for _, c := range []struct{ field, got, want string }{
		{"data_dir", cfg.DataDir, in("state")},
		{"prometheus.tls.ca_file", cfg.Prometheus.TLS.CAFile, in("tls/ca.pem")},
		{"prometheus.tls.cert_file", cfg.Prometheus.TLS.CertFile, "/etc/tls/cert.pem"},
		{"prometheus.tls.key_file", cfg.Prometheus.TLS.KeyFile, ""},
		{"prometheus.basic_auth.password", string(cfg.Prometheus.BasicAuth.Password), "file:" + in("secrets/prom")},
		{"slack.bot_token", string(cfg.Slack.BotToken), "file:" + in("secrets/bot")},
		{"slack.app_token", string(cfg.Slack.AppToken), "env:APP"},
		{"checks[0].file", cfg.Checks[0].File, in("series.csv")},
		{"checks[1].model", cfg.Checks[1].Model, in("models/cpu.bin")},
		{"checks[2].model", cfg.Checks[2].Model, "default"},
		{"rules.paths[0]", cfg.Rules.Paths[0], in("rules")},
		{"rules.paths[1]", cfg.Rules.Paths[1], filepath.Join(filepath.Dir(dir), "shared/rules.yaml")},
		{"actions.script.dir (from the environment)", cfg.Actions.Script.Dir, "scripts"},
	} {
		if c.got != c.want {
			t.Errorf("%s = %q, want %q", c.field, c.got, c.want)
		}
	}
	if w := src.Warnings(); len(w) != 0 {
		t.Errorf("warnings where the working directory holds none of the paths: %v", w)
	}

	// A default is not the file's: data_dir left out stays ./data, relative to where serve runs.
	cfg, err = Load(writeIn(t, dir, "listen: 127.0.0.1:1\n"), nil)
	if err != nil || cfg.DataDir != "./data" {
		t.Fatalf("default data_dir = %q, %v", cfg.DataDir, err)
	}
	// Without a file (the embedded default) paths stay as written.
	cfg, err = LoadBytes("(embedded default)", []byte(relativeConfig), nil)
	if err != nil || cfg.DataDir != "state" || cfg.Rules.Paths[0] != "rules" {
		t.Fatalf("embedded: data_dir %q, rules %v, %v", cfg.DataDir, cfg.Rules.Paths, err)
	}
}

func writeIn(t *testing.T, dir, body string) string {
	t.Helper()
	p := filepath.Join(dir, "other.yaml")
	if err := os.WriteFile(p, []byte(body), 0o600); err != nil {
		t.Fatal(err)
	}
	return p
}

// TestRelativePathWarnings runs from a directory where the old reading of the paths (relative
// to the working directory) finds files: each path that now names something else is warned
// about at its line, and one that names the same file either way is not.
func TestRelativePathWarnings(t *testing.T) {
	wd := t.TempDir()
	t.Chdir(wd)
	mkdir := func(p string) {
		if err := os.MkdirAll(p, 0o755); err != nil {
			t.Fatal(err)
		}
	}
	mkdir("conf/rules")
	mkdir("rules") // the old reading of rules.paths[0]: a different directory
	mkdir("state") // the old reading of data_dir; conf/state does not exist
	// Both readings of actions.script.dir name one directory.
	mkdir("scripts")
	if err := os.Symlink("../scripts", "conf/scripts"); err != nil {
		t.Fatal(err)
	}
	body := "data_dir: state\nrules:\n  paths: [rules]\nactions:\n  script: {dir: scripts}\n"
	if err := os.WriteFile("conf/smartcloudops.yaml", []byte(body), 0o600); err != nil {
		t.Fatal(err)
	}
	_, src, err := LoadSource("conf/smartcloudops.yaml", nil)
	if err != nil {
		t.Fatal(err)
	}
	var got []string
	for _, w := range src.Warnings() {
		got = append(got, w.Error())
	}
	want := []string{
		`conf/smartcloudops.yaml:1: data_dir: "state" is read relative to this file, as conf/state, which does not exist; ` +
			`before, it was read relative to the working directory, as state: write it relative to the file's directory or as an absolute path`,
		`conf/smartcloudops.yaml:3: rules.paths[0]: "rules" is read relative to this file, as conf/rules, which is another file; ` +
			`before, it was read relative to the working directory, as rules: write it relative to the file's directory or as an absolute path`,
	}
	if strings.Join(got, "\n") != strings.Join(want, "\n") {
		t.Fatalf("warnings:\n%s\nwant:\n%s", strings.Join(got, "\n"), strings.Join(want, "\n"))
	}
}
