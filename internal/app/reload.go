package app

import (
	"context"
	"errors"
	"fmt"
	"reflect"
	"strings"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/smartcloudops/smartcloudops/internal/config"
	"github.com/smartcloudops/smartcloudops/internal/obs"
	"github.com/smartcloudops/smartcloudops/remediation/audit"
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

// Reload re-reads the configuration file and swaps in what can change while the bot runs: the
// rule set (the synced one when `rules sync` stored one, as at start, or else the files of
// rules.paths), the roles, and rotated secrets — the Alertmanager webhook token and the webhook
// action's signing secret at once, chat tokens by reconnecting that adapter. Nothing changes
// unless the file, every secret and every rule are valid. Other settings, and rotated
// Prometheus credentials, take effect at the next restart; Reload logs and audits which of them
// differ from the running ones, so a reload never looks like it applied what it did not.
func (b *Bot) Reload(ctx context.Context) (err error) {
	defer func() {
		if err != nil {
			b.reload.ok.Set(0)
			return
		}
		b.reload.ok.Set(1)
		b.reload.when.Set(float64(time.Now().Unix()))
	}()
	paths, roles := b.cfg.Rules.Paths, b.roleSet()
	var restart []string
	secrets := map[string]string{}
	if b.opts.ConfigPath != "" {
		cfg, err := config.Load(b.opts.ConfigPath, b.opts.Environ)
		if err != nil {
			return err
		}
		// Every secret is read again, so a rotated one is applied below and a reference that
		// no longer resolves is found now rather than at the next restart.
		var errs []error
		for _, s := range cfg.SecretsInUse() {
			v, err := b.secret(ctx, s.Ref)
			if err != nil {
				errs = append(errs, fmt.Errorf("%s: %w", s.Path, err))
				continue
			}
			secrets[s.Path] = v
		}
		if err := errors.Join(errs...); err != nil {
			return err
		}
		for _, p := range []string{pathWebhookToken, pathWebhookSecret} {
			if _, set := secrets[p]; !set {
				secrets[p] = "" // unset now: no token is required, the webhook is not signed
			}
		}
		paths, roles = cfg.Rules.Paths, cfg.Roles
		if b.fileCfg != nil {
			restart = needRestart(withoutAppliedSecrets(*b.fileCfg), withoutAppliedSecrets(cfg))
		}
		restart = append(restart, b.rotatedNeedingRestart(secrets)...)
	}
	set, from, err := b.loadRuleSet(ctx, paths)
	if err != nil {
		return err
	}
	n := 0
	if set != nil {
		b.Rules.SetRules(set)
		n = set.Len()
	}
	b.roleMap.Store(&roles)
	applied, err := b.applySecrets(secrets)
	if err != nil {
		return err
	}
	detail := fmt.Sprintf("%d rules from %s; roles reloaded", n, from)
	if len(applied) > 0 {
		detail += "; rotated secrets applied: " + strings.Join(applied, ", ")
	}
	if len(restart) > 0 {
		detail += "; changed but not applied until a restart: " + strings.Join(restart, ", ")
		b.log.WarnContext(ctx, "configuration reloaded, but some changed settings take effect only after a restart", "settings", restart)
	}
	b.log.InfoContext(ctx, "configuration reloaded", "rules", n, "from", from, "secrets_applied", applied)
	_, err = b.Audit.Append(ctx, audit.Record{Kind: "config.reloaded", User: "bot", Detail: detail})
	return err
}

// needRestart names the top-level settings that differ between the configuration the bot
// started with and a reloaded one, other than those Reload applies (rules and roles).
func needRestart(running, reloaded config.Config) []string {
	var out []string
	rv, nv := reflect.ValueOf(running), reflect.ValueOf(reloaded)
	for i := range rv.NumField() {
		name, _, _ := strings.Cut(rv.Type().Field(i).Tag.Get("yaml"), ",")
		if name == "" || name == "-" || name == "rules" || name == "roles" {
			continue
		}
		if !reflect.DeepEqual(rv.Field(i).Interface(), nv.Field(i).Interface()) {
			out = append(out, name)
		}
	}
	return out
}
