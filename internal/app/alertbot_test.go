package app

import (
	"context"
	"os"
	"path/filepath"
	"testing"

	"github.com/smartcloudops/smartcloudops/internal/obs"
	"github.com/smartcloudops/smartcloudops/internal/store"
)

// alertRuleBot builds a bot without checks on an in-memory store with etcd's limits, whose one
// rule proposes the allow-listed scale_up.sh for every HostHighCpu alert, naming its instance.
func alertRuleBot(t *testing.T) (*Bot, store.Store) {
	t.Helper()
	dir := t.TempDir()
	cfg := testConfig(t, dir)
	cfg.Checks = nil
	rulesDir := filepath.Join(dir, "alert-rules")
	if err := os.MkdirAll(rulesDir, 0o750); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(rulesDir, "alerts.yaml"), []byte(`groups:
  - name: alerts
    rules:
      - name: scale-on-alert
        alert: {alertname: HostHighCpu}
        action: {name: script, params: {script: scale_up.sh, args: ['{{ .labels.instance }}', '2', '3']}}
`), 0o640); err != nil {
		t.Fatal(err)
	}
	cfg.Rules.Paths = []string{rulesDir}
	st := store.NewMemory().WithEtcdLimits()
	b, err := Build(context.Background(), Options{Config: cfg, Logger: obs.Discard(), Environ: []string{}, Store: st})
	if err != nil {
		t.Fatal(err)
	}
	return b, st
}
