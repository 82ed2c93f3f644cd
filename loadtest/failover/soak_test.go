//go:build loadtest

package failover

import (
	"context"
	"encoding/json"
	"flag"
	"fmt"
	"net/http"
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/smartcloudops/smartcloudops/internal/testenv"
	"github.com/smartcloudops/smartcloudops/loadtest"
)

var (
	soakFor        = flag.Duration("soak", 0, "run the etcd soak this long (0 skips it)")
	soakSeries     = flag.Int("soak-series", 1000, "series the soak's fake Prometheus serves")
	soakEvery      = flag.Duration("soak-every", 15*time.Second, "the soak check's schedule")
	soakCompaction = flag.String("soak-compaction", "10m", "etcd's --auto-compaction-retention in the soak (periodic)")
)

// soakSample is one minute of the soak: etcd's database as etcd reports it, and the models the
// leader keeps in it.
type soakSample struct {
	At          time.Duration `json:"at_ns"`
	DBBytes     float64       `json:"db_bytes"`        // etcd_mvcc_db_total_size_in_bytes: the file
	DBInUse     float64       `json:"db_in_use_bytes"` // etcd_mvcc_db_total_size_in_use_in_bytes: live data and uncompacted history
	Keys        float64       `json:"keys"`            // etcd_debugging_mvcc_keys_total
	Puts        float64       `json:"puts"`            // etcd_mvcc_put_total
	ModelsStore float64       `json:"models_in_store"` // smartcloudops_detector_models{kept="store"}
	Ticks       float64       `json:"ticks"`
}

// TestEtcdSoak runs one leader on a one-member etcd with periodic compaction, scoring the series
// of a fake Prometheus on a schedule with the default model-state settings (store.etcd.models),
// and samples etcd's database size each minute: it shows whether the store stays bounded once
// compaction has caught up. go test -tags loadtest -run TestEtcdSoak -v -timeout 90m
// ./loadtest/failover/ -args -soak 1h
func TestEtcdSoak(t *testing.T) {
	if *soakFor <= 0 {
		t.Skip("-soak not given")
	}
	etcd := testenv.StartEtcd(t, testenv.EtcdOptions{Args: []string{"--auto-compaction-mode=periodic",
		"--auto-compaction-retention=" + *soakCompaction, "--quota-backend-bytes=2147483648"}})
	prom := loadtest.NewFakeProm(*soakSeries, loadtest.DefaultPattern())
	must(t, prom.Start())
	t.Cleanup(func() { prom.Close() })

	dir := t.TempDir()
	port := testenv.FreePort(t)
	cfg := map[string]any{
		"data_dir":   filepath.Join(dir, "data"),
		"listen":     fmt.Sprintf("127.0.0.1:%d", port),
		"log":        map[string]any{"level": "info", "format": "json"},
		"console":    map[string]any{"enabled": false},
		"prometheus": map[string]any{"url": prom.URL, "timeout": "60s"},
		"checks": []any{map[string]any{"name": checkName, "source": "prometheus", "query": loadtest.Metric,
			"schedule": "@every " + soakEvery.String(), "severity": "warning"}},
		"rules": map[string]any{"paths": []string{}},
		"store": map[string]any{"backend": "etcd", "etcd": map[string]any{
			"endpoints": etcd.Endpoints(), "prefix": "/loadtest/soak/", "deployment": "soak", "dial_timeout": "2s"}},
	}
	data, err := json.MarshalIndent(cfg, "", "  ")
	must(t, err)
	r := &replica{t: t, bin: buildBinary(t, dir), config: filepath.Join(dir, "smartcloudops.yaml"), log: filepath.Join(dir, "bot.log"),
		URL: fmt.Sprintf("http://127.0.0.1:%d", port), name: "soak"}
	must(t, os.WriteFile(r.config, data, 0o600))
	r.start()
	t.Cleanup(r.stop)
	r.waitReady()

	start := time.Now()
	var samples []soakSample
	for {
		s := soakSample{At: time.Since(start).Round(time.Second)}
		em := scrape(t, etcd.Endpoints()[0])
		s.DBBytes, s.DBInUse, s.Keys, s.Puts = em.Sum("etcd_mvcc_db_total_size_in_bytes", nil), em.Sum("etcd_mvcc_db_total_size_in_use_in_bytes", nil),
			em.Sum("etcd_debugging_mvcc_keys_total", nil), em.Sum("etcd_mvcc_put_total", nil)
		bm := scrape(t, r.URL)
		s.ModelsStore = bm.Sum("smartcloudops_detector_models", map[string]string{"kept": "store"})
		s.Ticks = bm.Histogram("smartcloudops_detector_tick_duration_seconds", map[string]string{"check": checkName}).Count
		samples = append(samples, s)
		t.Logf("%6s  db %7.1f MiB  in use %7.1f MiB  keys %6.0f  puts %8.0f  models stored %5.0f  ticks %5.0f",
			s.At, s.DBBytes/(1<<20), s.DBInUse/(1<<20), s.Keys, s.Puts, s.ModelsStore, s.Ticks)
		if time.Since(start) >= *soakFor {
			break
		}
		time.Sleep(time.Minute)
	}
	if !r.ready() {
		t.Errorf("the replica is not ready at the end of the soak; its log:\n%s", tail(r.log, 30))
	}
	if *jsonOut != "" {
		b, _ := json.MarshalIndent(map[string]any{"series": *soakSeries, "every": soakEvery.String(),
			"compaction_retention": *soakCompaction, "samples": samples}, "", "  ")
		must(t, os.WriteFile(*jsonOut, b, 0o600))
	}
}

// scrape reads base's /metrics; a failed scrape is logged and reads as no samples.
func scrape(t *testing.T, base string) loadtest.Metrics {
	t.Helper()
	m, err := loadtest.Scrape(context.Background(), &http.Client{Timeout: 10 * time.Second}, base)
	if err != nil {
		t.Logf("%v", err)
	}
	return m
}
