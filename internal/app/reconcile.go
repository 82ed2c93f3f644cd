package app

import (
	"context"
	"time"

	"github.com/smartcloudops/smartcloudops/alertmanager"
	"github.com/smartcloudops/smartcloudops/incident"
	"github.com/smartcloudops/smartcloudops/internal/obs"
	"github.com/smartcloudops/smartcloudops/rules"
)

// reconciler resolves Alertmanager incidents whose alerts Alertmanager no longer lists.
// Alertmanager sends no resolved notification for an alert that ended while silenced or
// inhibited, so without it such an incident would stay open for ever. Every interval it lists
// Alertmanager's alerts (silenced and inhibited ones included) and resolves each firing alert of
// an open incident that has been absent for longer than grace; an incident with no alert left
// firing resolves. When Alertmanager cannot be reached nothing is resolved.
type reconciler struct {
	b        *Bot
	list     func(ctx context.Context) ([]alertmanager.APIAlert, error)
	interval time.Duration
	grace    time.Duration
	now      func() time.Time
	seen     map[string]time.Time // alert fingerprint → when Alertmanager last listed it (or first looked)
}

func (b *Bot) newReconciler() *reconciler {
	if b.cfg.Alertmanager.URL == "" {
		return nil
	}
	c, err := alertmanager.NewClient(alertmanager.ClientOptions{URL: b.cfg.Alertmanager.URL})
	if err != nil {
		return nil // config validation has refused such a URL already
	}
	every := b.cfg.Alertmanager.ResendInterval.D()
	if every <= 0 {
		every = time.Minute
	}
	return &reconciler{b: b, interval: every, grace: 2 * every, now: time.Now, seen: map[string]time.Time{},
		list: func(ctx context.Context) ([]alertmanager.APIAlert, error) { return c.Alerts(ctx, nil) }}
}

func (r *reconciler) run(ctx context.Context) error {
	t := time.NewTicker(r.interval)
	defer t.Stop()
	for {
		select {
		case <-ctx.Done():
			return nil
		case <-t.C:
			r.once(ctx)
		}
	}
}

// once compares the open Alertmanager incidents with Alertmanager's alerts once.
func (r *reconciler) once(ctx context.Context) {
	incs, err := r.b.Incidents.List(ctx, false)
	if err != nil {
		r.b.log.WarnContext(ctx, "alert incidents not reconciled", obs.KeyErr, err)
		return
	}
	var open []incident.Incident
	for _, inc := range incs {
		if inc.Source == incident.SourceAlertmanager {
			open = append(open, inc)
		}
	}
	if len(open) == 0 {
		clear(r.seen)
		return
	}
	listed, err := r.list(ctx)
	if err != nil {
		// What went on meanwhile is unknown, and a restarted Alertmanager lists nothing until
		// Prometheus sends its alerts again: every alert gets its whole grace from the next
		// listing on.
		clear(r.seen)
		r.b.log.WarnContext(ctx, "alert incidents not reconciled: Alertmanager's alerts not listed", obs.KeyErr, err)
		return
	}
	now := r.now()
	present := make(map[string]bool, len(listed))
	for _, a := range listed {
		present[a.Fingerprint] = true
	}
	keep := map[string]bool{}
	for _, inc := range open {
		var gone []string
		for _, a := range inc.Alerts {
			if a.Status != "firing" {
				continue
			}
			keep[a.Fingerprint] = true
			last, ok := r.seen[a.Fingerprint]
			switch {
			case present[a.Fingerprint] || !ok:
				r.seen[a.Fingerprint] = now
			case now.Sub(last) > r.grace:
				gone = append(gone, a.Fingerprint)
			}
		}
		if len(gone) == 0 {
			continue
		}
		expired, _, err := r.b.Incidents.ExpireAlerts(ctx, inc.GroupKey, gone, now)
		if err != nil {
			r.b.log.ErrorContext(ctx, "alert incident not reconciled", obs.KeyIncident, inc.ID, obs.KeyErr, err)
			continue
		}
		r.b.log.InfoContext(ctx, "alerts no longer listed by Alertmanager resolved", obs.KeyIncident, inc.ID, "alerts", len(expired))
		for _, a := range expired {
			if err := r.b.Rules.OnAlert(ctx, rules.Alert{Labels: a.Labels, Annotations: a.Annotations, Status: "resolved",
				StartsAt: a.StartsAt, EndsAt: a.EndsAt, Fingerprint: a.Fingerprint, Incident: inc.ID}); err != nil {
				r.b.log.WarnContext(ctx, "alert rules failed", obs.KeyIncident, inc.ID, obs.KeyErr, err)
			}
		}
	}
	for fp := range r.seen {
		if !keep[fp] {
			delete(r.seen, fp)
		}
	}
}
