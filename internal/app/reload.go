package app

import (
	"context"
	"fmt"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/smartcloudops/smartcloudops/internal/config"
	"github.com/smartcloudops/smartcloudops/internal/obs"
	"github.com/smartcloudops/smartcloudops/remediation/audit"
	"github.com/smartcloudops/smartcloudops/rules"
)

type reloadMetrics struct {
	ok   prometheus.Gauge
	when prometheus.Gauge
}

func newReloadMetrics(reg prometheus.Registerer, now time.Time) *reloadMetrics {
	m := &reloadMetrics{
		ok: prometheus.NewGauge(prometheus.GaugeOpts{Name: "smartcloudops_config_last_reload_successful",
			Help: "1 if the last configuration reload succeeded (or none was asked for), 0 if it failed and the old one is still in use."}),
		when: prometheus.NewGauge(prometheus.GaugeOpts{Name: "smartcloudops_config_last_reload_success_timestamp_seconds",
			Help: "When the configuration was last loaded successfully."}),
	}
	reg.MustRegister(m.ok, m.when)
	m.ok.Set(1)
	m.when.Set(float64(now.Unix()))
	return m
}

// reloadLoop reloads on every signal from o.Reload until ctx ends.
func (b *Bot) reloadLoop(ctx context.Context) error {
	for {
		select {
		case <-ctx.Done():
			return nil
		case <-b.opts.Reload:
			ctx, _ := obs.EnsureCorrelation(ctx)
			if err := b.Reload(ctx); err != nil {
				b.log.ErrorContext(ctx, "configuration reload failed; the previous configuration stays in use", obs.KeyErr, err)
			}
		}
	}
}

// Reload re-reads the configuration file and swaps in its rule set. Nothing changes unless the
// file and every rule are valid. Other settings (chat, checks, listen address) need a restart.
func (b *Bot) Reload(ctx context.Context) (err error) {
	defer func() {
		if err != nil {
			b.reload.ok.Set(0)
			return
		}
		b.reload.ok.Set(1)
		b.reload.when.Set(float64(time.Now().Unix()))
	}()
	paths := b.cfg.Rules.Paths
	if b.opts.ConfigPath != "" {
		cfg, err := config.Load(b.opts.ConfigPath, b.opts.Environ)
		if err != nil {
			return err
		}
		paths = cfg.Rules.Paths
	}
	if len(paths) == 0 {
		return nil
	}
	set, err := rules.Load(paths, rules.LoadOptions{Actions: b.schema})
	if err != nil {
		return fmt.Errorf("rules: %w", err)
	}
	b.Rules.SetRules(set)
	b.log.InfoContext(ctx, "configuration reloaded", "rules", set.Len())
	_, err = b.Audit.Append(ctx, audit.Record{Kind: "config.reloaded", User: "bot", Detail: fmt.Sprintf("%d rules from %v", set.Len(), paths)})
	return err
}
