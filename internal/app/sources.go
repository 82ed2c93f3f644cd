package app

import (
	"context"
	"errors"
	"fmt"
	"net"
	"net/http"
	"os"
	"strings"
	"time"

	"github.com/smartcloudops/smartcloudops/alertmanager"
	"github.com/smartcloudops/smartcloudops/bot"
	"github.com/smartcloudops/smartcloudops/detector"
	"github.com/smartcloudops/smartcloudops/detector/model"
	"github.com/smartcloudops/smartcloudops/detector/source/procfs"
	"github.com/smartcloudops/smartcloudops/detector/source/prometheus"
	"github.com/smartcloudops/smartcloudops/detector/source/replay"
	"github.com/smartcloudops/smartcloudops/incident"
	"github.com/smartcloudops/smartcloudops/internal/chart"
	"github.com/smartcloudops/smartcloudops/internal/config"
	"github.com/smartcloudops/smartcloudops/internal/obs"
	"github.com/smartcloudops/smartcloudops/internal/store"
	"github.com/smartcloudops/smartcloudops/remediation/audit"
	"github.com/smartcloudops/smartcloudops/rules"
)

// defaultSecretTimeout bounds one secret lookup when Options.SecretTimeout is zero.
const defaultSecretTimeout = 15 * time.Second

func (b *Bot) secretTimeout() time.Duration {
	if b.opts.SecretTimeout > 0 {
		return b.opts.SecretTimeout
	}
	return defaultSecretTimeout
}

// secretAt resolves the reference set at path and remembers the value, so a reload can tell
// whether it was rotated. Errors name the path.
func (b *Bot) secretAt(ctx context.Context, path string, s config.Secret) (string, error) {
	v, err := b.secret(ctx, s)
	if err != nil {
		return "", fmt.Errorf("%s: %w", path, err)
	}
	b.secrets.Store(path, v)
	return v, nil
}

// secret resolves a reference from the configuration. A lookup is bounded by
// Options.SecretTimeout and ends with ctx, so an SSM endpoint that never answers can neither
// hang the start nor outlast a stop signal. The value is added to the redactor, so it is never
// logged or shown even when a remote service quotes it back.
func (b *Bot) secret(ctx context.Context, s config.Secret) (string, error) {
	lookup := func(k string) (string, bool) {
		for _, kv := range b.opts.Environ {
			if name, v, ok := strings.Cut(kv, "="); ok && name == k {
				return v, true
			}
		}
		return "", false
	}
	if b.opts.Environ == nil {
		lookup = os.LookupEnv
	}
	sctx, cancel := context.WithTimeout(ctx, b.secretTimeout())
	defer cancel()
	v, err := s.Resolve(sctx, lookup, b.ssm)
	if err != nil {
		return "", err
	}
	b.redactor.Add(v.Reveal())
	return v.Reveal(), nil
}

// prometheusClient builds the Prometheus client once, when prometheus.url is configured.
func (b *Bot) prometheusClient(ctx context.Context) (*prometheus.Client, error) {
	if b.prom != nil || b.cfg.Prometheus.URL == "" {
		return b.prom, nil
	}
	pc := b.cfg.Prometheus
	o := prometheus.Options{URL: pc.URL, Timeout: pc.Timeout.D(), MaxConcurrentQueries: pc.MaxConcurrentQueries, Logger: b.log,
		TLS: prometheus.TLSOptions{CAFile: pc.TLS.CAFile, CertFile: pc.TLS.CertFile, KeyFile: pc.TLS.KeyFile, InsecureSkipVerify: pc.TLS.InsecureSkipVerify}}
	var err error
	if o.BearerToken, err = b.secretAt(ctx, "prometheus.bearer_token", pc.BearerToken); err != nil {
		return nil, err
	}
	if pc.BasicAuth != nil {
		pw, err := b.secretAt(ctx, "prometheus.basic_auth.password", pc.BasicAuth.Password)
		if err != nil {
			return nil, err
		}
		o.BasicAuth = &prometheus.BasicAuth{User: pc.BasicAuth.User, Password: pw}
	}
	b.prom, err = prometheus.New(o)
	return b.prom, err
}

// queryFunc answers query rules from Prometheus (nil without one).
func (b *Bot) queryFunc() rules.QueryFunc {
	if b.prom == nil {
		return nil
	}
	return func(ctx context.Context, q string, t time.Time) ([]rules.Sample, error) {
		series, err := b.prom.Instant(ctx, q, t)
		if err != nil {
			return nil, err
		}
		out := make([]rules.Sample, 0, len(series))
		for _, s := range series {
			for _, p := range s.Points {
				out = append(out, rules.Sample{Labels: s.Labels, Value: p.V, T: p.T})
			}
		}
		return out, nil
	}
}

// rangeFunc answers backtests from Prometheus (nil without one).
func (b *Bot) rangeFunc() rules.RangeFunc {
	if b.prom == nil {
		return nil
	}
	return func(ctx context.Context, r *rules.Rule, from, to time.Time, step time.Duration) ([]rules.RangeSeries, error) {
		series, err := b.prom.Range(ctx, r.Query, from, to, step)
		if err != nil {
			return nil, err
		}
		out := make([]rules.RangeSeries, len(series))
		for i, s := range series {
			out[i].Labels = s.Labels
			for _, p := range s.Points {
				out[i].Points = append(out[i].Points, rules.RangePoint{T: p.T, V: p.V})
			}
		}
		return out, nil
	}
}

// checkSpec builds a detector check from its configuration.
func (b *Bot) checkSpec(c config.Check) (detector.CheckSpec, error) {
	sched, err := config.ParseSchedule(c.Schedule)
	if err != nil {
		return detector.CheckSpec{}, err
	}
	life := b.lifecycle(c.Name)
	spec := detector.CheckSpec{Name: c.Name, Severity: c.Severity, Unit: c.Unit, Labels: c.Labels, Schedule: sched,
		Threshold: life.Threshold, MinChange: life.MinChange, ResolveAfter: life.ResolveAfter, RecurWithin: life.RecurWithin}
	if spec.Severity == "" {
		spec.Severity = "warning"
	}
	switch c.Model {
	case "", "default":
		spec.Factory = model.Default()
	default:
		if spec.Factory, err = model.LoadFile(c.Model); err != nil {
			return spec, fmt.Errorf("model: %w", err)
		}
	}
	switch c.Source {
	case "procfs":
		spec.Source, err = procfs.New(procfs.Options{Metric: c.Metric})
	case "replay":
		speed := int(c.Speed)
		spec.Source, err = replay.Open(c.File, replay.Options{Speed: speed, FastForward: c.FastForward, Rebase: true})
	case "prometheus":
		var pc *prometheus.Client
		if pc, err = b.prometheusClient(b.runCtx); err == nil {
			// After a gap the source reads the missed points at the check's interval.
			next := sched.Next(time.Now())
			// The check's labels go into the source's one label map of each series.
			spec.Source, err = pc.Source(prometheus.SourceOptions{Query: c.Query, Interval: sched.Next(next).Sub(next), Labels: c.Labels})
		}
	default:
		err = fmt.Errorf("unknown source %q", c.Source)
	}
	return spec, err
}

// mountAlertmanager serves the webhook and builds the silences client.
func (b *Bot) mountAlertmanager(handlers map[string]http.Handler) error {
	token, err := b.secretAt(b.runCtx, pathWebhookToken, b.cfg.Alertmanager.WebhookToken)
	if err != nil {
		return err
	}
	if host, _, _ := net.SplitHostPort(b.cfg.Listen); token == "" && !isLoopback(host) {
		b.log.Warn("the Alertmanager webhook accepts alerts from anyone who can reach "+b.cfg.Listen+
			"; set alertmanager.webhook_token so forged alerts cannot open incidents or feed rules", "listen", b.cfg.Listen)
	}
	if b.intake, err = alertmanager.NewIntake(alertmanager.IntakeOptions{Store: b.Store, Replica: b.replica(), Logger: b.log, Registerer: b.regr}); err != nil {
		return err
	}
	h, err := alertmanager.NewHandler(alertmanager.HandlerOptions{Deliver: b.intake.Accept, Busy: b.intake.Busy, BearerToken: token, Logger: b.log, Registerer: b.regr})
	if err != nil {
		return err
	}
	b.amHandler = h
	handlers["POST /api/v1/alertmanager"] = h
	return nil
}

func isLoopback(host string) bool {
	if host == "localhost" {
		return true
	}
	ip := net.ParseIP(host)
	return ip != nil && ip.IsLoopback()
}

// markPrefix keeps, beside each waiting notification, the mark its incident change wrote, so a
// notification processed again after a crash still has its alerts evaluated.
const markPrefix = "alertmanager/applied/"

// processAlerts is the intake's processing: one round of accepted notifications becomes
// incidents, in batched store writes, and then the alert rules are evaluated on their alerts.
// A notification that changed nothing (a redelivery) is not evaluated again, unless an earlier
// round recorded its change and stopped before the rules ran; a proposal a notification's alert
// makes carries the notification's key, so evaluating it twice proposes once.
func (b *Bot) processAlerts(ctx context.Context, entries []alertmanager.Entry) error {
	results, err := b.recordAlertGroups(ctx, entries)
	if err != nil {
		return err // the round is processed again; what was recorded is marked
	}
	var alerts []rules.Alert
	var marks []store.Op
	for i, e := range entries {
		incID := results[i].Incident.ID
		if !results[i].Changed {
			kv, err := b.Store.Get(ctx, markPrefix+e.Key)
			if errors.Is(err, store.ErrNotFound) {
				continue // a redelivery: already handled
			}
			if err != nil {
				return err
			}
			var audited incident.Change
			incID, audited = incident.ParseMark(kv.Value)
			if audited != 0 {
				if err := b.auditMarked(ctx, kv, incID, audited); err != nil {
					return err
				}
			}
		}
		marks = append(marks, store.Op{Key: markPrefix + e.Key, Delete: true})
		for _, a := range e.Message.Alerts {
			alerts = append(alerts, rules.Alert{Labels: a.Labels, Annotations: a.Annotations, Status: a.Status,
				StartsAt: a.StartsAt, EndsAt: a.EndsAt, Fingerprint: a.Fingerprint, Incident: incID, Dedup: e.Key})
		}
	}
	// The refusals the proposals answer are cleared before the rules' state is written: after a
	// crash in between, the round is processed again and the rules propose (and clear) again.
	links := &proposalLinks{}
	if err := b.Rules.OnAlertsThen(context.WithValue(ctx, linksKey{}, links), alerts, func(context.Context) {
		links.write(ctx, b)
	}); err != nil {
		// Failed evaluations (a refused proposal, a broken template) are the rules' to report;
		// they are not worth evaluating the whole round again.
		b.log.WarnContext(ctx, "alert rules failed", obs.KeyErr, err)
	}
	_, err = store.WriteAll(ctx, b.Store, marks)
	return err
}

// alertGroupOf is the incident change a waiting notification asks for, with its mark.
func alertGroupOf(e alertmanager.Entry) incident.AlertGroup {
	m := e.Message
	g := incident.AlertGroup{GroupKey: m.GroupKey, Status: m.Status, Receiver: m.Receiver, GroupLabels: m.GroupLabels,
		CommonLabels: m.CommonLabels, CommonAnnots: m.CommonAnnotations, Mark: markPrefix + e.Key}
	for _, a := range m.Alerts {
		g.Alerts = append(g.Alerts, incident.Alert{Fingerprint: a.Fingerprint, Status: a.Status, Labels: a.Labels,
			Annotations: a.Annotations, StartsAt: a.StartsAt, EndsAt: a.EndsAt})
	}
	return g
}

// recordAlertGroups records the incident changes of a round's notifications, each with its mark,
// and their audit records.
func (b *Bot) recordAlertGroups(ctx context.Context, entries []alertmanager.Entry) ([]incident.AlertGroupResult, error) {
	groups := make([]incident.AlertGroup, len(entries))
	for i, e := range entries {
		groups[i] = alertGroupOf(e)
	}
	audits := &auditBatch{}
	results, err := b.Incidents.ApplyAlertGroups(context.WithValue(ctx, auditBatchKey{}, audits), groups)
	// The mark of an audited change says so until its record is in: each record clears its
	// mark in the record's own transaction, so that a crash in between leaves the record to
	// write when the round is processed again, and never writes it twice.
	pending := map[string][]string{}
	for i, r := range results {
		if r.Changed && r.Audited != 0 {
			k := r.Incident.ID + "\n" + r.Audited.String()
			pending[k] = append(pending[k], markPrefix+entries[i].Key)
		}
	}
	audits.write(ctx, b, func(r audit.Record) []store.Op {
		k := r.Incident + "\n" + strings.TrimPrefix(r.Kind, "incident.")
		q := pending[k]
		if len(q) == 0 {
			return nil
		}
		pending[k] = q[1:]
		return []store.Op{{Key: q[0], Value: []byte(r.Incident)}}
	})
	return results, err
}

// auditMarked writes the audit record of a change that an earlier round recorded (its mark kv
// says so) but stopped before the record was in, and clears the mark's note with it.
func (b *Bot) auditMarked(ctx context.Context, kv store.KV, id string, c incident.Change) error {
	inc, err := b.Incidents.Get(ctx, id)
	if err != nil {
		return fmt.Errorf("audit the %s incident %s: %w", c, id, err)
	}
	_, _, err = b.Audit.AppendWith(ctx, incidentRecord(inc, c), []store.Cmp{{Key: kv.Key, Rev: kv.Rev}},
		[]store.Op{{Key: kv.Key, Value: []byte(id)}})
	if errors.Is(err, store.ErrConflict) {
		return nil // written meanwhile
	}
	return err
}

// promQuerier answers the chat `query` command.
type promQuerier struct {
	b *Bot
}

func (q promQuerier) Query(ctx context.Context, promql string, rng time.Duration) (bot.Message, error) {
	now := time.Now()
	step := max(rng/240, 15*time.Second)
	series, err := q.b.prom.Range(ctx, promql, now.Add(-rng), now, step)
	if obs.IsUnavailable(err) {
		return bot.Message{}, err // shown as is: Prometheus is named with its address
	}
	if err != nil {
		return bot.Message{}, obs.UserErrorf("query failed: %v", err)
	}
	if len(series) == 0 {
		return bot.Text("The query returned no series."), nil
	}
	m := bot.Message{Title: "query " + promql}
	for i, s := range series {
		if i == 10 {
			m.Footer = fmt.Sprintf("%d more series not shown", len(series)-10)
			break
		}
		last := s.Points[len(s.Points)-1]
		m.Fields = append(m.Fields, bot.Field{Label: bot.Labels(s.Labels), Value: fmt.Sprintf("%.4g", last.V)})
	}
	first := series[0]
	cs := chart.Series{Title: promql + " " + bot.Labels(first.Labels)}
	for _, p := range first.Points {
		cs.Times = append(cs.Times, p.T)
		cs.Values = append(cs.Values, p.V)
	}
	if png, err := chart.Render(cs, chart.Options{}); err == nil {
		name := fmt.Sprintf("query-%d.png", now.UnixNano())
		m.Image = &bot.Image{Name: name, PNG: png, Path: q.b.saveChart(name, png), Alt: "chart of " + promql}
	}
	return m, nil
}
