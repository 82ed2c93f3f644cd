package app

import (
	"context"
	"errors"
	"fmt"
	"maps"
	"net/http"
	"os"
	"os/user"
	"path/filepath"
	"time"

	"github.com/smartcloudops/smartcloudops/api"
	"github.com/smartcloudops/smartcloudops/bot"
	"github.com/smartcloudops/smartcloudops/bot/console"
	"github.com/smartcloudops/smartcloudops/commands"
	"github.com/smartcloudops/smartcloudops/detector"
	"github.com/smartcloudops/smartcloudops/detector/model"
	"github.com/smartcloudops/smartcloudops/examples"
	"github.com/smartcloudops/smartcloudops/incident"
	"github.com/smartcloudops/smartcloudops/internal/chart"
	"github.com/smartcloudops/smartcloudops/internal/config"
	"github.com/smartcloudops/smartcloudops/internal/obs"
	"github.com/smartcloudops/smartcloudops/remediation"
	"github.com/smartcloudops/smartcloudops/remediation/audit"
)

func extractExamples(dir string) (string, error) { return examples.Extract(dir) }

// Build constructs every component without starting any.
func Build(ctx context.Context, o Options) (*Bot, error) {
	if o.Logger == nil {
		return nil, errors.New("app: Logger is required")
	}
	if o.Version == "" {
		o.Version = "dev"
	}
	if err := prepareData(&o); err != nil {
		return nil, err
	}
	cfg := o.Config
	b := &Bot{opts: o, cfg: cfg, log: o.Logger, reg: newRegistry(), runCtx: ctx}
	b.redactLogs()
	if o.ConfigPath != "" {
		// The file as it was at start, without command-line overrides, so a reload compares
		// like with like when it says which settings need a restart.
		if fc, err := config.Load(o.ConfigPath, o.Environ); err == nil {
			b.fileCfg = &fc
		}
	}
	b.regr = &recordingRegisterer{Registerer: b.reg}
	registerBuildInfo(b.regr, o.Version)
	b.reload = newReloadMetrics(b.regr, time.Now())
	ok := false
	defer func() {
		if !ok {
			b.close()
		}
	}()
	if err := b.openStore(ctx); err != nil {
		return nil, err
	}
	var err error
	if b.Audit, err = audit.New(audit.Options{Store: b.Store, Logger: b.log, Registerer: b.regr}); err != nil {
		return nil, err
	}
	if err := b.buildActions(ctx); err != nil {
		return nil, err
	}
	if _, err := b.prometheusClient(ctx); err != nil {
		return nil, fmt.Errorf("prometheus: %w", err)
	}
	notify := &lateNotifier{}
	chartDir := filepath.Join(cfg.DataDir, "charts")
	if b.Incidents, err = incident.New(incident.Options{Store: b.Store, Logger: b.log, Registerer: b.regr,
		OnChange: notify.incident, ProposalsOf: b.proposalsOf}); err != nil {
		return nil, err
	}
	if err := b.buildRules(ctx); err != nil {
		return nil, err
	}
	if b.Proposals, err = remediation.New(remediation.Options{
		Store: b.Store, Audit: b.Audit, Logger: b.log, Registerer: b.regr,
		Actions:     b.action,
		ActionNames: b.actionNames(),
		RuleVersion: b.ruleVersion, OnChange: notify.proposal,
		DryRun: cfg.Executor.DryRun, Timeout: cfg.Executor.Timeout.D(), MaxPerHour: cfg.Executor.MaxPerHour,
		DefaultExpiry: cfg.Executor.ExpireAfter.D(),
		Leading:       b.leading, Gate: b.hourlyGate(),
	}); err != nil {
		return nil, err
	}
	if err := b.buildDetector(); err != nil {
		return nil, err
	}
	if err := b.buildAdapters(ctx); err != nil {
		return nil, err
	}
	var targets []bot.Target
	for _, a := range b.adapters {
		targets = append(targets, b.target(a))
	}
	nc := cfg.Notify
	if b.Notifier, err = bot.NewNotifier(bot.NotifierOptions{Targets: targets, Store: b.Store, Incidents: b.Incidents, Proposals: b.Proposals,
		Chart:        func(inc incident.Incident) string { return b.drawChart(chartDir, inc) },
		ChartWorkers: nc.ChartWorkers, ChartEvery: nc.ChartInterval.D(), EditEvery: nc.EditInterval.D(),
		Group:  bot.GroupOptions{By: nc.GroupBy, Wait: nc.GroupWait.D(), Interval: nc.GroupInterval.D()},
		Logger: b.log, Registerer: b.regr}); err != nil {
		return nil, err
	}
	notify.n, notify.after, notify.audit = b.Notifier, b.afterRun, b.auditIncident
	if b.etcd != nil {
		notify.leading = b.leading // one process is always the one that posts
	}
	if b.Router, err = commands.New(commands.Options{
		Incidents: b.Incidents, Proposals: b.Proposals, Audit: b.Audit, Detector: b.Detector,
		Rules: &rulesService{b: b}, Actions: b.actionNames, Roles: b.roles, Version: o.Version,
		Querier: b.querier(), Silencer: b.silencer(), Chat: b.chatFields, CardMembers: b.Notifier.Members,
		Platforms: b.platforms(), Leader: b.replicaLeader,
		Logger: b.log, Registerer: b.regr,
	}); err != nil {
		return nil, err
	}
	if err := b.buildWeb(); err != nil {
		return nil, err
	}
	if err := b.ensureIndexes(ctx); err != nil {
		return nil, err
	}
	if err := b.buildElector(); err != nil {
		return nil, err
	}
	b.retention = newRetention(b, chartDir)
	ok = true
	return b, nil
}

// posts reports whether this process posts cards: only the leader does; a follower's changes
// reach the leader's notifier through the store.
func (l *lateNotifier) posts() bool { return l.leading == nil || l.leading() }

// lateNotifier forwards changes to the notifier, which is built after the domain services.
type lateNotifier struct {
	leading func() bool
	n       *bot.Notifier
	after   func(context.Context, remediation.Proposal)
	audit   func(context.Context, incident.Incident, incident.Change)
}

func (l *lateNotifier) incident(ctx context.Context, inc incident.Incident, c incident.Change) {
	if l.n != nil && l.posts() {
		l.n.IncidentChanged(ctx, inc, c)
	}
	if l.audit != nil && c != incident.Updated {
		l.audit(ctx, inc, c)
	}
}

func (l *lateNotifier) proposal(ctx context.Context, p remediation.Proposal) {
	if l.n != nil && l.posts() {
		l.n.ProposalChanged(ctx, p)
	}
	if l.after != nil {
		l.after(ctx, p)
	}
}

// drawChart draws the chart of an anomaly incident from its series' recent points, with the
// episode shaded from its start to its end (or its latest point while open) and the band frozen
// when it began drawn across it, the value axis clipped to what the unit allows, and returns the
// file's path. It keeps the chart drawn before, if any, when the series' points are no longer
// held (the series was forgotten, or the bot restarted and has not seen it since). The notifier
// calls it from its chart workers, never the detector's tick.
func (b *Bot) drawChart(dir string, inc incident.Incident) string {
	if inc.Source != incident.SourceDetector || b.Detector == nil {
		return inc.ChartPath
	}
	pts, ok := b.Detector.SeriesPoints(inc.Check, inc.Labels)
	if !ok || len(pts) == 0 {
		return inc.ChartPath
	}
	end := inc.LastSeen
	if inc.State == incident.StateResolved {
		end = inc.ResolvedAt
	}
	s := chart.Series{Title: fmt.Sprintf("%s  %s", inc.Check, bot.Labels(inc.Labels)), Unit: inc.Unit, SpanStart: inc.Since, SpanEnd: end}
	if end.Before(inc.Since) {
		s.SpanEnd = time.Time{}
	}
	if inc.Lower <= inc.Upper {
		s.Frozen = &chart.Band{Expected: inc.Expected, Lower: inc.Lower, Upper: inc.Upper}
	}
	if lo, hi, ok := bot.UnitRange(inc.Unit); ok {
		s.Range = &chart.Range{Min: lo, Max: hi}
	}
	for _, h := range pts {
		s.Times = append(s.Times, h.T)
		s.Values = append(s.Values, h.V)
		s.Expected = append(s.Expected, h.Expected)
		s.Lower = append(s.Lower, h.Lower)
		s.Upper = append(s.Upper, h.Upper)
	}
	path := filepath.Join(dir, inc.ID+".png")
	if err := chart.WriteFile(path, s, chart.Options{}); err != nil {
		b.log.Warn("chart not drawn", obs.KeyIncident, inc.ID, obs.KeyErr, err)
		return inc.ChartPath
	}
	abs, err := filepath.Abs(path)
	if err != nil {
		return path
	}
	return abs
}

func (b *Bot) buildDetector() error {
	b.detectorDone = make(chan struct{})
	b.stage = newStage(b, b.detectorDone)
	var specs []detector.CheckSpec
	for _, c := range b.cfg.Checks {
		spec, err := b.checkSpec(c)
		if err != nil {
			return fmt.Errorf("check %s: %w", c.Name, err)
		}
		specs = append(specs, spec)
	}
	// etcd keeps every revision until it is compacted: bound what the models add to it.
	var saveEvery time.Duration
	var storedModels int
	if b.etcd != nil {
		saveEvery, storedModels = b.cfg.Store.Etcd.Models.SaveEvery.D(), b.cfg.Store.Etcd.Models.MaxSeries
	}
	var err error
	b.Detector, err = detector.New(detector.Options{
		Checks: specs, Store: b.Store, LoadModel: model.Load, Logger: b.log, Registerer: b.regr,
		ForgetAfter: b.cfg.Retention.Series.D(),
		SaveEvery:   saveEvery, StoredModels: storedModels,
		OnTick: b.stage.enqueue, Observed: b.Rules.Watches,
	})
	return err
}

func (b *Bot) buildAdapters(ctx context.Context) error {
	if b.cfg.Console.Enabled && b.opts.In != nil && b.opts.Out != nil {
		name := b.cfg.Console.User
		if name == "" {
			name = osUser()
		}
		c, err := console.New(console.Options{In: b.opts.In, Out: b.opts.Out, User: name, Store: b.Store, Logger: b.log})
		if err != nil {
			return err
		}
		b.adapters = append(b.adapters, c)
	}
	return b.buildChatAdapters(ctx)
}

func osUser() string {
	if u, err := user.Current(); err == nil && u.Username != "" {
		return u.Username
	}
	if u := os.Getenv("USER"); u != "" {
		return u
	}
	return "operator"
}

func (b *Bot) buildWeb() error {
	if b.cfg.Listen == "" {
		return nil
	}
	handlers := map[string]http.Handler{}
	if err := b.mountAlertmanager(handlers); err != nil {
		return err
	}
	b.mountChatHTTP(handlers)
	a, err := api.New(api.Options{Store: b.Store, Incidents: b.Incidents, Proposals: b.Proposals, Audit: b.Audit,
		Rules: &rulesService{b: b}, Detector: b.Detector, Logger: b.log, Registerer: b.regr,
		Timeout: b.cfg.Executor.Timeout.D() + 30*time.Second, Pprof: b.cfg.Debug.Pprof})
	if err != nil {
		return fmt.Errorf("api: %w", err)
	}
	maps.Copy(handlers, a.Routes())
	b.apiKeys = a.Keys()
	s, err := api.NewServer(api.ServerOptions{Addr: b.cfg.Listen, Gatherer: b.reg, Ready: b.ready, Handlers: handlers, Logger: b.log})
	if err != nil {
		return err
	}
	b.Web = s
	return nil
}
