package app

import (
	"context"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"time"

	"golang.org/x/sync/errgroup"

	"github.com/smartcloudops/smartcloudops/internal/config"
	"github.com/smartcloudops/smartcloudops/internal/leader"
	"github.com/smartcloudops/smartcloudops/internal/obs"
	"github.com/smartcloudops/smartcloudops/internal/store"
	etcdstore "github.com/smartcloudops/smartcloudops/internal/store/etcd"
	"github.com/smartcloudops/smartcloudops/remediation"
)

// errLeadershipLost ends Run when this replica's term as leader ends while it runs: the parts
// that act keep state of their term in memory, so the process stops and its supervisor starts it
// again as a follower, rather than resume them on a term that another replica has since led.
var errLeadershipLost = errors.New("this replica is no longer the leader; stopping so it restarts as a follower")

// openStore opens the store the configuration names: the bbolt file under data_dir (one
// process), or etcd (several replicas). Every component writes through a view that fences the
// writes of a leader's term (store.ContextFenced).
func (b *Bot) openStore(ctx context.Context) error {
	raw := b.opts.Store
	switch {
	case raw != nil:
	case b.cfg.Store.Backend == "etcd":
		o, err := EtcdStoreOptions(ctx, b.cfg, b.secretAt)
		if err != nil {
			return err
		}
		st, err := etcdstore.Open(ctx, o)
		if err != nil {
			return err
		}
		b.etcd = st
		raw = st
	default:
		// etcd's transaction limits apply on one process too, so what works here works on
		// several replicas.
		st, err := store.OpenBolt(filepath.Join(b.cfg.DataDir, "smartcloudops.db"), store.BoltOptions{EtcdLimits: true})
		if err != nil {
			return err
		}
		raw = st
	}
	if b.opts.Store == nil {
		b.closers = append(b.closers, func() {
			if err := raw.Close(); err != nil {
				b.log.Error("closing the store", obs.KeyErr, err)
			}
		})
	}
	b.Store = store.ContextFenced(raw)
	return nil
}

// EtcdStoreOptions maps the store.etcd settings to the etcd store's options, resolving the
// password reference with secret.
func EtcdStoreOptions(ctx context.Context, cfg config.Config, secret func(ctx context.Context, path string, ref config.Secret) (string, error)) (etcdstore.Options, error) {
	e := cfg.Store.Etcd
	pw, err := secret(ctx, "store.etcd.password", e.Password)
	if err != nil {
		return etcdstore.Options{}, err
	}
	return etcdstore.Options{Endpoints: e.Endpoints, Prefix: e.Prefix, Deployment: e.Deployment,
		Username: e.Username, Password: pw, CAFile: e.TLS.CAFile, CertFile: e.TLS.CertFile, KeyFile: e.TLS.KeyFile,
		DialTimeout: e.DialTimeout.D()}, nil
}

// buildElector decides who leads: with etcd, replicas campaign; with bbolt, this process always
// leads. Each term runs the parts that act (runLeader).
func (b *Bot) buildElector() error {
	self := leader.Info{Name: b.replica(), Address: b.cfg.Listen}
	o := leader.Options{Self: self, Registerer: b.regr, OnLead: b.runLeader}
	var err error
	if b.etcd != nil {
		b.elector, err = leader.NewEtcd(leader.EtcdOptions{Options: o, Store: b.etcd, Logger: b.log})
	} else {
		b.elector, err = leader.NewLocal(b.Store, o)
	}
	return err
}

// leading reports whether this replica leads now.
func (b *Bot) leading() bool { return b.elector != nil && b.elector.IsLeader() }

// hourlyGate keeps the executor's hourly limit in the store when replicas share it, so a new
// leader counts what the previous one admitted; one process keeps it in memory.
func (b *Bot) hourlyGate() remediation.Gate {
	if b.cfg.Store.Backend != "etcd" || b.cfg.Executor.MaxPerHour <= 0 {
		return nil
	}
	return hourlyWindow{leader.Window{St: b.Store, Key: "gate/hourly", Limit: b.cfg.Executor.MaxPerHour, Span: time.Hour}}
}

// hourlyWindow is the store-kept hourly limit; its refusal is the person's to read.
type hourlyWindow struct{ w leader.Window }

func (h hourlyWindow) Admit(ctx context.Context, now time.Time) error {
	err := h.w.Admit(ctx, now)
	var limit *leader.LimitError
	if errors.As(err, &limit) {
		return obs.UserErrorf("%v", limit)
	}
	return err
}

func (h hourlyWindow) Release(ctx context.Context, at time.Time) error { return h.w.Release(ctx, at) }

// runLeader runs, for one term, the parts only the leader runs: the checks and the incident
// stage, the rules, the executor, the notifier, the webhook's processing, reconciliation and
// retention. Their writes carry the term's fence, so a deposed leader's late writes fail. When
// the term ends before the bot stops, Run stops with errLeadershipLost.
func (b *Bot) runLeader(ctx context.Context, fence store.Fence) {
	ctx = store.WithFence(ctx, fence)
	b.led.Store(true)
	b.log.InfoContext(ctx, "leading: checks, rules, the executor and the notifier run here")
	// An action left running by a leader that stopped may have acted: unknown, never re-run.
	if recovered, err := b.Proposals.Recover(ctx); err != nil {
		b.log.ErrorContext(ctx, "proposals left by the previous leader not recovered", obs.KeyErr, err)
	} else {
		for _, p := range recovered {
			b.log.WarnContext(ctx, "proposal interrupted by a restart or a failover", obs.KeyProposal, p.ID, "state", p.State)
		}
	}
	g, gctx := errgroup.WithContext(ctx)
	g.Go(func() error {
		defer close(b.detectorDone)
		return b.Detector.Run(gctx)
	})
	g.Go(func() error { return b.stage.run(gctx) })
	if b.intake != nil {
		g.Go(func() error { return b.intake.Run(gctx, b.processAlerts) })
	}
	g.Go(func() error { return b.Notifier.Run(gctx) })
	g.Go(func() error { return b.Rules.Run(gctx) })
	if b.etcd != nil {
		// Replicas: what another replica writes (a decision, a silence, a rule switched off)
		// reaches the leader through the store.
		g.Go(func() error { return b.Notifier.Follow(gctx) })
		g.Go(func() error { return b.Rules.FollowEnabled(gctx) })
	}
	g.Go(func() error { return b.Proposals.Run(gctx, 15*time.Second) })
	g.Go(func() error { return b.Proposals.RunApproved(gctx) })
	g.Go(func() error { return b.Incidents.Run(gctx) })
	g.Go(func() error { return b.retention.run(gctx) })
	if r := b.newReconciler(); r != nil {
		g.Go(func() error { return r.run(gctx) })
	}
	for _, l := range b.leaderLinks {
		g.Go(func() error { l.run(gctx, b.handle); return nil })
	}
	_ = g.Wait()
	if b.runCtx.Err() == nil {
		b.log.ErrorContext(ctx, "leadership lost", "replica", b.replica())
		b.stopRun(errLeadershipLost)
	}
}

// leaderStatus says who leads, for /readyz and `status`.
func (b *Bot) leaderStatus() string {
	if b.elector == nil {
		return ""
	}
	if b.elector.IsLeader() {
		return "this replica leads (" + b.replica() + ")"
	}
	if who, ok := b.elector.Leader(); ok {
		if who.Address != "" {
			return fmt.Sprintf("%s leads (%s); this replica (%s) follows", who.Name, who.Address, b.replica())
		}
		return fmt.Sprintf("%s leads; this replica (%s) follows", who.Name, b.replica())
	}
	return "no leader elected yet; this replica (" + b.replica() + ") follows"
}

// OpenEtcdStore opens the etcd store a configuration names, for the commands that work beside
// running replicas (apikey, audit, rules sync): etcd serves many clients at once, so they need
// no bot to go through. Secret references resolve from this process's environment and files.
func OpenEtcdStore(ctx context.Context, cfg config.Config) (*etcdstore.Store, error) {
	o, err := EtcdStoreOptions(ctx, cfg, func(ctx context.Context, path string, ref config.Secret) (string, error) {
		v, err := ref.Resolve(ctx, os.LookupEnv, nil)
		if err != nil {
			return "", fmt.Errorf("%s: %w", path, err)
		}
		return v.Reveal(), nil
	})
	if err != nil {
		return nil, err
	}
	return etcdstore.Open(ctx, o)
}

// replicaLeader says who leads, for `status`, when replicas share an etcd store.
func (b *Bot) replicaLeader() string {
	if b.etcd == nil {
		return ""
	}
	return b.leaderStatus()
}
