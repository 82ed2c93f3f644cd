package app

import (
	"context"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/smartcloudops/smartcloudops/internal/config"
	"github.com/smartcloudops/smartcloudops/internal/obs"
	"github.com/smartcloudops/smartcloudops/monitoring"
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
