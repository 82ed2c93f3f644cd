package app

import (
	"context"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/smartcloudops/smartcloudops/bot"
	"github.com/smartcloudops/smartcloudops/internal/config"
	"github.com/smartcloudops/smartcloudops/internal/obs"
	"github.com/smartcloudops/smartcloudops/internal/store"
	"github.com/smartcloudops/smartcloudops/monitoring"
	"github.com/smartcloudops/smartcloudops/remediation/audit"
	"github.com/smartcloudops/smartcloudops/rules"
)

// TestDashboardsAndAlertsUseExportedMetrics proves that every smartcloudops_* metric a Grafana
// dashboard or a Prometheus alert uses is one the bot registers, with every component built
// (Slack and Discord included; nothing connects, since the bot is only built).
func TestDashboardsAndAlertsUseExportedMetrics(t *testing.T) {
	dir := t.TempDir()
	cfg := testConfig(t, dir)
	cfg.Slack = config.Slack{Enabled: true, BotToken: "env:SLACK_BOT_TOKEN", AppToken: "env:SLACK_APP_TOKEN", DefaultChannel: "C1"}
	cfg.Discord = config.Discord{Enabled: true, Token: "env:DISCORD_TOKEN", ApplicationID: "A1", DefaultChannel: "D1"}
	cfg.Listen = "127.0.0.1:0"
	b, err := Build(context.Background(), Options{Config: cfg, Logger: obs.Discard(),
		Environ: []string{"SLACK_BOT_TOKEN=xoxb-test", "SLACK_APP_TOKEN=xapp-test", "DISCORD_TOKEN=test"}})
	if err != nil {
		t.Fatal(err)
	}
	defer b.close()
	have := map[string]bool{}
	for _, n := range b.MetricNames() {
		have[n] = true
	}
	used, err := monitoring.UsedMetrics()
	if err != nil {
		t.Fatal(err)
	}
	checked := 0
	for name, where := range used {
		if !strings.HasPrefix(name, "smartcloudops_") {
			continue
		}
		checked++
		if !have[monitoring.MetricFamily(name, have)] {
			t.Errorf("%s is used by %v but the bot does not export it", name, where)
		}
	}
	if checked < 10 {
		t.Fatalf("only %d smartcloudops metrics found in the monitoring assets", checked)
	}
}

// TestReloadKeepsOldRulesOnError reloads the configuration: a broken rule file is refused with
// the old rules kept and the reload metric at 0; a fixed one is swapped in.
func TestReloadKeepsOldRulesOnError(t *testing.T) {
	dir := t.TempDir()
	rulesDir := filepath.Join(dir, "rules")
	os.MkdirAll(rulesDir, 0o750)
	good, _ := os.ReadFile("testdata/rules/e2e.yaml")
	os.WriteFile(filepath.Join(rulesDir, "r.yaml"), good, 0o640)
	cfg := testConfig(t, dir)
	cfg.Rules.Paths = []string{rulesDir}
	cfgFile := filepath.Join(dir, "smartcloudops.yaml")
	os.WriteFile(cfgFile, []byte("data_dir: "+dir+"\nlisten: \"\"\nrules: {paths: ["+rulesDir+"]}\nactions: {script: {dir: "+filepath.Join(dir, "actions")+"}}\n"), 0o640)
	b, err := Build(context.Background(), Options{Config: cfg, ConfigPath: cfgFile, Logger: obs.Discard(), Environ: []string{}})
	if err != nil {
		t.Fatal(err)
	}
	defer b.close()
	before, _ := b.Rules.Rule("e2e-cpu-spike")
	os.WriteFile(filepath.Join(rulesDir, "r.yaml"), []byte(strings.Replace(string(good), "value > anomaly.upper", "value >", 1)), 0o640)
	if err := b.Reload(context.Background()); err == nil || !strings.Contains(err.Error(), "r.yaml") {
		t.Fatalf("broken rule reloaded: %v", err)
	}
	if after, _ := b.Rules.Rule("e2e-cpu-spike"); after != before {
		t.Fatal("the old rule set was replaced by a broken one")
	}
	if got := gauge(t, b, "smartcloudops_config_last_reload_successful"); got != 0 {
		t.Fatalf("reload metric %v after a failure", got)
	}
	os.WriteFile(filepath.Join(rulesDir, "r.yaml"), []byte(strings.Replace(string(good), "value > anomaly.upper", "value > anomaly.upper + 1", 1)), 0o640)
	if err := b.Reload(context.Background()); err != nil {
		t.Fatal(err)
	}
	if after, _ := b.Rules.Rule("e2e-cpu-spike"); after.Version == before.Version {
		t.Fatal("the fixed rule was not swapped in")
	}
	if got := gauge(t, b, "smartcloudops_config_last_reload_successful"); got != 1 {
		t.Fatalf("reload metric %v after success", got)
	}
	_ = time.Second
}

func gauge(t *testing.T, b *Bot, name string) float64 {
	t.Helper()
	mfs, err := b.Registry().Gather()
	if err != nil {
		t.Fatal(err)
	}
	for _, mf := range mfs {
		if mf.GetName() == name {
			return mf.GetMetric()[0].GetGauge().GetValue()
		}
	}
	t.Fatalf("no metric %s", name)
	return 0
}

// TestReloadKeepsSyncedRulesAndAppliesRoles: a reload keeps running the rule set `rules sync`
// stored, as start-up does, rather than the files of rules.paths; it applies new roles; and it
// names the changed settings that wait for a restart in its audit record.
func TestReloadKeepsSyncedRulesAndAppliesRoles(t *testing.T) {
	if _, err := exec.LookPath("git"); err != nil {
		t.Skip("git not installed")
	}
	dir := t.TempDir()
	repo := filepath.Join(dir, "repo")
	good, err := os.ReadFile("testdata/rules/e2e.yaml")
	if err != nil {
		t.Fatal(err)
	}
	if err := os.MkdirAll(repo, 0o750); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(repo, "r.yaml"), []byte(strings.Replace(string(good), "e2e-cpu-spike", "synced-cpu-spike", 1)), 0o640); err != nil {
		t.Fatal(err)
	}
	for _, args := range [][]string{{"init", "-q"}, {"add", "."}, {"-c", "user.name=t", "-c", "user.email=t@example.com", "commit", "-qm", "rules"}} {
		if out, err := exec.Command("git", append([]string{"-C", repo}, args...)...).CombinedOutput(); err != nil {
			t.Fatalf("git %v: %v\n%s", args, err, out)
		}
	}
	cfg := testConfig(t, dir)
	st := store.NewMemory()
	b0, err := Build(context.Background(), Options{Config: cfg, Store: st, Logger: obs.Discard(), Environ: []string{}})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := rules.Sync(context.Background(), st, repo, rules.SyncOptions{Load: rules.LoadOptions{Actions: b0.schema}}); err != nil {
		t.Fatal(err)
	}
	b0.close()

	cfgFile := filepath.Join(dir, "smartcloudops.yaml")
	file := "data_dir: " + dir + "\nlisten: \"\"\nrules: {paths: [testdata/rules]}\nactions: {script: {dir: " + filepath.Join(dir, "actions") + "}}\n"
	if err := os.WriteFile(cfgFile, []byte(file), 0o640); err != nil {
		t.Fatal(err)
	}
	b, err := Build(context.Background(), Options{Config: cfg, ConfigPath: cfgFile, Store: st, Logger: obs.Discard(), Environ: []string{}})
	if err != nil {
		t.Fatal(err)
	}
	defer b.close()
	names := func() []string {
		var out []string
		for _, r := range b.Rules.Rules() {
			out = append(out, r.Name)
		}
		return out
	}
	if got := names(); len(got) != 1 || got[0] != "synced-cpu-spike" {
		t.Fatalf("rules at start %v, want the synced set", got)
	}
	if got := b.roles(bot.User{Platform: "slack", ID: "U1"}); len(got) != 0 {
		t.Fatalf("slack:U1 has roles %v before the reload", got)
	}
	file = strings.Replace(file, "listen: \"\"", "listen: 127.0.0.1:9", 1) + "roles: {admin: {users: [\"slack:U1\"]}}\n"
	if err := os.WriteFile(cfgFile, []byte(file), 0o640); err != nil {
		t.Fatal(err)
	}
	if err := b.Reload(context.Background()); err != nil {
		t.Fatal(err)
	}
	if got := names(); len(got) != 1 || got[0] != "synced-cpu-spike" {
		t.Fatalf("rules after a reload %v, want the synced set still", got)
	}
	if got := b.roles(bot.User{Platform: "slack", ID: "U1"}); !slices.Contains(got, "admin") {
		t.Fatalf("slack:U1 has roles %v after the reload, want admin", got)
	}
	recs, err := b.Audit.List(context.Background(), audit.Filter{})
	if err != nil {
		t.Fatal(err)
	}
	last := recs[len(recs)-1]
	if last.Kind != "config.reloaded" || !strings.Contains(last.Detail, "not applied until a restart: listen") {
		t.Fatalf("last audit record %+v; want the reload, naming listen as waiting for a restart", last)
	}
}

// TestReloadFailsOnUnresolvableSecret: a reloaded file whose secret reference does not resolve
// is refused, so the problem shows now rather than at the next restart.
func TestReloadFailsOnUnresolvableSecret(t *testing.T) {
	dir := t.TempDir()
	cfg := testConfig(t, dir)
	cfgFile := filepath.Join(dir, "smartcloudops.yaml")
	file := "data_dir: " + dir + "\nlisten: \"\"\nrules: {paths: [testdata/rules]}\nactions: {script: {dir: " + filepath.Join(dir, "actions") + "}}\n"
	if err := os.WriteFile(cfgFile, []byte(file), 0o640); err != nil {
		t.Fatal(err)
	}
	b, err := Build(context.Background(), Options{Config: cfg, ConfigPath: cfgFile, Logger: obs.Discard(), Environ: []string{}})
	if err != nil {
		t.Fatal(err)
	}
	defer b.close()
	file += "slack: {enabled: true, bot_token: env:NOT_SET_ANYWHERE, app_token: env:NOT_SET_EITHER, default_channel: C1}\n"
	if err := os.WriteFile(cfgFile, []byte(file), 0o640); err != nil {
		t.Fatal(err)
	}
	err = b.Reload(context.Background())
	if err == nil || !strings.Contains(err.Error(), "slack.bot_token") || !strings.Contains(err.Error(), "slack.app_token") {
		t.Fatalf("reload with unresolvable secrets: %v", err)
	}
	if got := gauge(t, b, "smartcloudops_config_last_reload_successful"); got != 0 {
		t.Fatalf("reload metric %v after a failure", got)
	}
}
