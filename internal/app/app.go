// Package app wires the flow together and owns the bot's lifecycle: it builds every component
// from the Config — store, detector, incidents, rules, remediation, notifier, chat adapters,
// commands and the HTTP server — connects their callbacks so data moves sources → detector →
// incidents → rules → remediation → notifier → adapters, and runs them in one errgroup until
// the context ends, then shuts down in order: intake first, running actions next (bounded),
// queued cards (bounded; the rest is sent at the next start), the store last. Chat adapters run
// under supervisors that restart them, so no chat platform can stop the bot; every secret the
// bot resolves is redacted from what it logs and shows, and a reload applies rotated secrets.
package app

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"os"
	"path/filepath"
	"runtime"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/collectors"
	promsrc "github.com/smartcloudops/smartcloudops/detector/source/prometheus"
	"golang.org/x/sync/errgroup"

	"github.com/smartcloudops/smartcloudops/alertmanager"
	"github.com/smartcloudops/smartcloudops/api"
	"github.com/smartcloudops/smartcloudops/bot"
	"github.com/smartcloudops/smartcloudops/bot/discord"
	"github.com/smartcloudops/smartcloudops/bot/slack"
	"github.com/smartcloudops/smartcloudops/commands"
	"github.com/smartcloudops/smartcloudops/detector"
	"github.com/smartcloudops/smartcloudops/incident"
	"github.com/smartcloudops/smartcloudops/internal/config"
	"github.com/smartcloudops/smartcloudops/internal/leader"
	"github.com/smartcloudops/smartcloudops/internal/obs"
	"github.com/smartcloudops/smartcloudops/internal/store"
	etcdstore "github.com/smartcloudops/smartcloudops/internal/store/etcd"
	"github.com/smartcloudops/smartcloudops/remediation"
	awsactions "github.com/smartcloudops/smartcloudops/remediation/actions/aws"
	"github.com/smartcloudops/smartcloudops/remediation/audit"
	"github.com/smartcloudops/smartcloudops/rules"
)

// Options configures the bot. Config and Logger are required; In and Out feed the console.
type Options struct {
	Config config.Config
	// Defaults says the configuration is the embedded default: example rules and scripts are
	// extracted under the data dir and used.
	Defaults bool
	Demo     bool // replay the bundled incident instead of watching this machine
	In       io.Reader
	Out      io.Writer
	Logger   *slog.Logger
	Version  string
	Environ  []string
	// ConfigPath is the file the configuration came from; Reload reads it again.
	ConfigPath string
	// Reload asks for the configuration to be reloaded (SIGHUP in main).
	Reload <-chan struct{}
	// Store, when set, is used instead of opening the bbolt file (tests).
	Store store.Store
	// Ready, when set, is called once everything is running (tests).
	Ready func(*Bot)
	// SecretTimeout bounds one secret lookup (an SSM read); defaults to 15s.
	SecretTimeout time.Duration
}

// Bot is a built bot, exposed to tests and the CLI.
type Bot struct {
	opts      Options
	cfg       config.Config
	log       *slog.Logger
	reg       *prometheus.Registry
	regr      *recordingRegisterer // what components register with
	Store     store.Store
	Audit     *audit.Log
	Incidents *incident.Manager
	Proposals *remediation.Manager
	Rules     *rules.Engine
	Detector  *detector.Detector
	Notifier  *bot.Notifier
	Router    *commands.Router
	Web       *api.Server
	apiKeys   *api.Keys // the API's keys, which the admin socket changes (admin.go)
	adapters  []bot.Adapter
	discord   *discord.Adapter
	slack     *slack.Adapter
	links     []*chatLink // one per adapter, set by Run
	chatRetry chatRetry   // zero: defaultChatRetry
	// flushWait bounds the delivery of queued cards at shutdown; zero: defaultFlushWait.
	flushWait time.Duration
	redactor  *obs.Redactor
	amHandler *alertmanager.Handler
	intake    *alertmanager.Intake // the webhook's durable queue; nil without an HTTP listener
	secrets   sync.Map             // config path → the value resolved for it, to notice rotations
	actionsMu sync.RWMutex
	actions   map[string]remediation.Action
	prom      *promsrc.Client
	ssm       config.SSMFunc
	awsMu     sync.Mutex
	aws       *awsactions.Actions // built on first use: by the AWS actions or an ssm: reference
	closers   []func()
	reload    *reloadMetrics
	fileCfg   *config.Config                         // the file as loaded at start, for Reload to compare
	roleMap   atomic.Pointer[map[string]config.Role] // roles of the latest reload; nil: cfg.Roles
	retention *retention
	elector   leader.Elector
	etcd      *etcdstore.Store // the etcd store, when the configuration names one
	led       atomic.Bool      // this process has led: it has cards and incident updates to flush
	// leaderLinks are the chat adapters only the leader runs (a Discord gateway delivers every
	// event to every session, so several replicas would each act on it).
	leaderLinks []*chatLink
	stopRun     func(cause error)
	stage       *stage
	// detectorDone is closed when the detector has stopped, so the stage can finish its queue.
	detectorDone chan struct{}
	runCtx       context.Context // ends when Run stops taking new work
	wg           sync.WaitGroup  // follow-ups (verifications) started by Run's components
}

// Run builds the bot from o and runs it until ctx ends.
func Run(ctx context.Context, o Options) error {
	b, err := Build(ctx, o)
	if err != nil {
		return err
	}
	// The garbage collector's headroom is the process' to set, not a built bot's: tests that
	// build several bots in one process leave it alone.
	mem := memoryFor(b.cfg.Memory, os.Environ(), os.DirFS("/"))
	mem.apply(b.log)
	tctx, stopTuning := context.WithCancel(ctx)
	var tuner sync.WaitGroup
	tuner.Go(func() { mem.tune(tctx) })
	defer tuner.Wait()
	defer stopTuning()
	return b.Run(ctx)
}

// Registry is the bot's metrics registry.
func (b *Bot) Registry() *prometheus.Registry { return b.reg }

func newRegistry() *prometheus.Registry {
	reg := prometheus.NewRegistry()
	reg.MustRegister(collectors.NewGoCollector(), collectors.NewProcessCollector(collectors.ProcessCollectorOpts{}))
	return reg
}

func registerBuildInfo(reg prometheus.Registerer, version string) {
	info := prometheus.NewGaugeVec(prometheus.GaugeOpts{Name: "smartcloudops_build_info", Help: "Build information; always 1."}, []string{"version", "goversion"})
	info.WithLabelValues(version, runtime.Version()).Set(1)
	reg.MustRegister(info)
}

// demoNotRunning makes sure no other bot holds the demo's store before it is wiped: deleting
// the files of a running demo would leave two bots on one data dir.
func demoNotRunning(db string) error {
	if _, err := os.Stat(db); err != nil {
		return nil // nothing to protect, or nothing the wipe could not also meet
	}
	st, err := store.OpenBolt(db, store.BoltOptions{LockTimeout: 200 * time.Millisecond})
	switch {
	case errors.Is(err, store.ErrLocked):
		return fmt.Errorf("demo: %w; stop the other demo first", err)
	case err != nil:
		return nil // an old or damaged demo store is wiped like any other
	}
	return st.Close()
}

// prepareData makes the data dir, extracts the embedded examples when the default
// configuration is used, and sets up the demo.
func prepareData(o *Options) error {
	cfg := &o.Config
	if o.Demo {
		// The demo keeps its state apart and starts fresh each time, so the replay is new again.
		cfg.DataDir = filepath.Join(cfg.DataDir, "demo")
		if err := demoNotRunning(filepath.Join(cfg.DataDir, "smartcloudops.db")); err != nil {
			return err
		}
		if err := os.RemoveAll(cfg.DataDir); err != nil {
			return fmt.Errorf("reset demo data: %w", err)
		}
	}
	if err := os.MkdirAll(cfg.DataDir, 0o750); err != nil {
		return fmt.Errorf("data dir: %w", err)
	}
	if o.Defaults || o.Demo {
		dir, err := extractExamples(filepath.Join(cfg.DataDir, "defaults"))
		if err != nil {
			return fmt.Errorf("extract the bundled examples: %w", err)
		}
		if len(cfg.Rules.Paths) == 0 || o.Defaults {
			cfg.Rules.Paths = []string{filepath.Join(dir, "rules")}
		}
		if cfg.Actions.Script.Dir == "" || o.Defaults {
			cfg.Actions.Script.Dir = filepath.Join(dir, "actions")
		}
		if o.Demo {
			sched := "@every 1s"
			cfg.Checks = []config.Check{{Name: "demo-cpu", Source: "replay", File: filepath.Join(dir, "demo", "cpu-spike.csv"),
				// The warm-up goes by in about ten seconds; the incident then plays at one point
				// a second, and lasts two minutes: time to read the card and approve.
				Speed: 30, FastForward: 285, Schedule: sched, Model: "default", Severity: "critical", Unit: "%",
				Labels: map[string]string{"asg": "web-asg", "service": "web"}}}
		}
	}
	return nil
}

// defaultFlushWait bounds the delivery of queued cards at shutdown: with chat unreachable,
// what is left is kept and sent at the next start instead of holding the process.
const defaultFlushWait = 10 * time.Second

// Run runs every component until ctx ends, then shuts down in order. A chat adapter's failure
// never ends it: each adapter is supervised and restarted (see chatLink).
func (b *Bot) Run(ctx context.Context) error {
	defer b.close()
	runCtx, stopIntake := context.WithCancelCause(ctx)
	defer stopIntake(nil)
	b.runCtx, b.stopRun = runCtx, stopIntake
	if b.chatRetry == (chatRetry{}) {
		b.chatRetry = defaultChatRetry
	}
	if b.flushWait == 0 {
		b.flushWait = defaultFlushWait
	}
	stopped := context.AfterFunc(ctx, func() {
		b.log.Warn("stop requested; shutting down", "cause", context.Cause(ctx),
			"actions_wait", actionsWait, "cards_wait", b.flushWait)
	})
	defer stopped()
	b.links = make([]*chatLink, len(b.adapters))
	b.leaderLinks = nil
	var everywhere []*chatLink
	for i, a := range b.adapters {
		b.links[i] = newChatLink(a, b.log, b.chatRetry, b.redact)
		if a.Name() == "discord" {
			b.leaderLinks = append(b.leaderLinks, b.links[i])
		} else {
			everywhere = append(everywhere, b.links[i])
		}
	}
	g, gctx := errgroup.WithContext(runCtx)
	b.serveAdmin(gctx, g)
	// The parts that act run on the leader only, for the length of its term (runLeader).
	g.Go(func() error { return b.elector.Run(gctx) })
	if b.opts.Reload != nil {
		g.Go(func() error { return b.reloadLoop(gctx) })
	}
	if b.Web != nil {
		g.Go(func() error { return b.Web.Run(gctx) })
	}
	for _, l := range everywhere {
		g.Go(func() error { l.run(gctx, b.handle); return nil })
	}
	if b.opts.Ready != nil {
		go func() {
			for !b.Detector.Ready() && gctx.Err() == nil {
				time.Sleep(10 * time.Millisecond)
			}
			if gctx.Err() == nil {
				b.opts.Ready(b)
			}
		}()
	}
	b.log.InfoContext(ctx, "smartcloudops running", "data_dir", b.cfg.DataDir, "checks", len(b.cfg.Checks), "rules", len(b.Rules.Rules()), "listen", b.cfg.Listen)
	err := g.Wait()
	// Intake has stopped. Let actions that are running finish, within a bound.
	done := make(chan struct{})
	go func() { b.Proposals.Wait(); close(done) }()
	select {
	case <-done:
	case <-time.After(actionsWait):
		b.log.Warn("actions still running at shutdown; they will show as unknown after the next start")
	}
	b.wg.Wait()
	lost := errors.Is(context.Cause(runCtx), errLeadershipLost)
	if b.led.Load() && !lost {
		// What the leader held in memory: routine incident updates and cards not yet delivered.
		// A deposed leader leaves them to the new one.
		if ferr := b.Incidents.Flush(context.WithoutCancel(ctx)); ferr != nil {
			b.log.Error("latest incident updates not written at shutdown", "err", ferr)
		}
		fctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), b.flushWait)
		b.Notifier.Flush(fctx)
		cancel()
	}
	if errors.Is(err, context.Canceled) {
		err = nil
	}
	if lost {
		err = errLeadershipLost
	}
	b.log.Info("smartcloudops stopped")
	return err
}

// actionsWait bounds the wait for running actions at shutdown.
const actionsWait = 30 * time.Second

func (b *Bot) close() {
	for i := len(b.closers) - 1; i >= 0; i-- {
		b.closers[i]()
	}
}

// ready reports whether the bot can serve: the store answers and the checks are scheduled.
// Degraded checks and chat adapters that are not connected are listed in the detail but do not
// make the bot unready: restarting it would not bring a failing Prometheus back or fix a
// refused token. The detail never shows a secret.
func (b *Bot) ready() (string, error) {
	detail, err := b.readiness()
	return b.redact(detail), err
}

func (b *Bot) readiness() (string, error) {
	if _, err := b.Store.Get(context.Background(), "ready/probe"); err != nil && !errors.Is(err, store.ErrNotFound) {
		return "", fmt.Errorf("store: %w", err)
	}
	var lines []string
	if b.etcd != nil {
		lines = append(lines, "leader: "+b.leaderStatus())
	}
	if !b.leading() {
		return strings.Join(lines, "\n"), nil // a follower serves HTTP and chat; checks run on the leader
	}
	if !b.Detector.Ready() {
		return "", errors.New("checks not scheduled yet")
	}
	var down, learning []string
	for _, s := range b.Detector.Status() {
		if !s.Up {
			down = append(down, s.Name+": "+s.LastError)
		}
		if l := s.Learning(); l != "" {
			learning = append(learning, s.Name+": "+l)
		}
	}
	if len(down) > 0 {
		lines = append(lines, "degraded checks: "+strings.Join(down, "; "))
	}
	if len(learning) > 0 {
		lines = append(lines, "learning: "+strings.Join(learning, "; "))
	}
	if chat := b.chatDown(); len(chat) > 0 {
		lines = append(lines, "chat not connected: "+strings.Join(chat, "; "))
	}
	return strings.Join(lines, "\n"), nil
}
