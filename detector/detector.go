package detector

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"math/rand/v2"
	"sync"
	"sync/atomic"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/robfig/cron/v3"

	"github.com/smartcloudops/smartcloudops/internal/obs"
	"github.com/smartcloudops/smartcloudops/internal/store"
)

// Source returns the points that arrived since its previous call, one Series per label set.
type Source interface {
	Fetch(ctx context.Context, now time.Time) ([]Series, error)
}

// SourceFunc adapts a function to Source.
type SourceFunc func(ctx context.Context, now time.Time) ([]Series, error)

// Fetch calls f.
func (f SourceFunc) Fetch(ctx context.Context, now time.Time) ([]Series, error) { return f(ctx, now) }

// CheckSpec is one configured check: a source scored by a model on a schedule.
type CheckSpec struct {
	Name      string
	Severity  string
	Unit      string
	Labels    map[string]string // added to every series' labels
	Source    Source
	Schedule  cron.Schedule
	Threshold float64 // score that makes an anomaly
	Factory   Factory // a fresh model for each new series
	// MinChange is the least departure from the expected value that opens an episode.
	MinChange MinChange
	// ResolveAfter is how many consecutive normal points end an episode; 0 means
	// DefaultResolveAfter.
	ResolveAfter int
	// RecurWithin is how long after an episode ends a return beyond its band is a recurrence;
	// 0 means DefaultRecurWithin.
	RecurWithin time.Duration
}

func (s CheckSpec) lifecycle() Lifecycle {
	return Lifecycle{Threshold: s.Threshold, MinChange: s.MinChange, ResolveAfter: s.ResolveAfter, RecurWithin: s.RecurWithin}
}

// Options configures a Detector. Logger and Registerer are required.
type Options struct {
	Checks []CheckSpec
	// OnTick is called after every tick of a check that scored a point or changed an episode,
	// outside the check's lock, with the episodes that opened, went on or ended, in order.
	OnTick func(ctx context.Context, t Tick)
	// Observed reports whether a check's ticks carry every series it scored (Tick.Series), for
	// the rules that watch it; nil means none is.
	Observed func(check string) bool
	// Store keeps per-series model state so a restart resumes without warm-up; nil keeps none.
	Store store.Store
	// LoadModel restores a model from its saved state; required with Store.
	LoadModel func(data []byte) (Model, error)
	// SaveEvery is how often the model state of each series that learnt since its last save is
	// written; 0 means one minute. The writes are spread over the interval, a share of the series
	// at each tick, written in the background: a scheduled tick does not wait for them. A series
	// whose episode opened or ended is written at once, before the tick reports it. A crash loses
	// at most this much learning.
	SaveEvery time.Duration
	// SaveOnStop bounds how long Run, once its context ends, goes on writing the state of the
	// series that learnt since their last save (those whose episode moved first, then the
	// longest unsaved); 0 means one second. A series it does not reach loses at most the
	// learning of one SaveEvery.
	SaveOnStop time.Duration
	// StoredModels bounds how many series, over all checks, keep their model in the store; 0
	// means every series. A series beyond it keeps its model in memory only: its episode is still
	// stored when it opens or ends (so an incident it has open still ends after a restart), but
	// after a restart or a failover its model learns again from new points. A store whose history
	// grows with every write (etcd) sets it so the model state stays within the store's quota.
	StoredModels int
	// HistoryPoints is how many recent scored points each series keeps for charts and `rules
	// test`, at 20 bytes a point (24 while its points are not evenly spaced); 0 means
	// DefaultHistoryPoints.
	HistoryPoints int
	// ForgetAfter is how long a series may go without a new point before its check forgets it:
	// its model state leaves memory and the store, and an anomalous span it was in ends with a
	// Recovery marked Stale. Series come and go (pods, instances, label changes), so without it
	// the state of every series ever seen would be kept. 0 keeps every series.
	ForgetAfter time.Duration
	Logger      *slog.Logger
	Registerer  prometheus.Registerer
	Now         func() time.Time
}

// Detector runs checks on their schedules.
type Detector struct {
	o      Options
	log    *slog.Logger
	m      *metrics
	checks []*check
	ready  atomic.Bool
	// stored counts the series whose model is kept in the store (Options.StoredModels).
	stored atomic.Int64
	// overBudget is set once the first series is kept in memory only, for one log line.
	overBudget atomic.Bool
}

// New returns a Detector for the checks in o.
func New(o Options) (*Detector, error) {
	if o.Logger == nil || o.Registerer == nil {
		return nil, errors.New("detector: Logger and Registerer are required")
	}
	if o.Now == nil {
		o.Now = time.Now
	}
	if o.OnTick == nil {
		o.OnTick = func(context.Context, Tick) {}
	}
	if o.Observed == nil {
		o.Observed = func(string) bool { return false }
	}
	if o.SaveEvery <= 0 {
		o.SaveEvery = time.Minute
	}
	if o.SaveOnStop <= 0 {
		o.SaveOnStop = time.Second
	}
	if o.HistoryPoints <= 0 {
		o.HistoryPoints = DefaultHistoryPoints
	}
	d := &Detector{o: o, log: o.Logger.With(obs.KeyComponent, "detector"), m: newMetrics(o.Registerer)}
	seen := map[string]bool{}
	for _, s := range o.Checks {
		if s.Name == "" || s.Source == nil || s.Factory == nil || s.Schedule == nil {
			return nil, fmt.Errorf("detector: check %q needs a name, source, model and schedule", s.Name)
		}
		if seen[s.Name] {
			return nil, fmt.Errorf("detector: check %q is defined twice", s.Name)
		}
		seen[s.Name] = true
		d.checks = append(d.checks, &check{spec: s, d: d, series: newSeriesIndex()})
		// Every series of the check's metrics exists from the start: dashboards and alerts see
		// 0, not "No data", until the first event.
		for _, c := range []*prometheus.CounterVec{d.m.skipped, d.m.sourceErrors, d.m.anomalies, d.m.points, d.m.forgotten} {
			c.WithLabelValues(s.Name)
		}
		d.m.dropped.WithLabelValues(s.Name, "not_finite")
		d.m.dropped.WithLabelValues(s.Name, "not_after_previous")
	}
	return d, nil
}

// Run schedules every check and blocks until ctx ends, then waits for running ticks, which stop
// between batches of series, and for their background saves, which stop between transactions,
// and writes the state of the series that learnt since their last save for at most
// Options.SaveOnStop.
func (d *Detector) Run(ctx context.Context) error {
	for _, t := range d.forgetRemovedChecks(ctx) {
		d.o.OnTick(ctx, t)
	}
	c := cron.New(cron.WithLocation(time.UTC))
	for _, ch := range d.checks {
		c.Schedule(ch.spec.Schedule, cron.FuncJob(func() { ch.scheduled(ctx) }))
	}
	c.Start()
	d.ready.Store(true)
	<-ctx.Done()
	d.ready.Store(false)
	<-c.Stop().Done()
	for _, ch := range d.checks {
		ch.writer.Wait()
	}
	sctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), d.o.SaveOnStop)
	defer cancel()
	d.SaveState(sctx)
	return nil
}

// SaveState writes the model state of every series that learnt since its last save, a
// transaction at a time until ctx ends: first, across every check, those whose episode opened or
// ended, then the longest unsaved.
func (d *Detector) SaveState(ctx context.Context) {
	for _, urgentOnly := range []bool{true, false} {
		for _, ch := range d.checks {
			ch.saveAll(ctx, urgentOnly)
		}
	}
}

// Ready reports whether the checks are scheduled.
func (d *Detector) Ready() bool { return d.ready.Load() || len(d.checks) == 0 }

// RunOnce runs every check once, now, and returns the anomalies found (for `detect once`).
func (d *Detector) RunOnce(ctx context.Context) ([]Anomaly, []error) {
	var out []Anomaly
	var errs []error
	for _, ch := range d.checks {
		found, err := ch.tick(ctx)
		ch.writer.Wait()
		out = append(out, found...)
		if err != nil {
			errs = append(errs, fmt.Errorf("check %s: %w", ch.spec.Name, err))
		}
	}
	return out, errs
}

// Tick runs one check now, as its schedule would, and returns once the saves it started are
// written.
func (d *Detector) Tick(ctx context.Context, name string) ([]Anomaly, error) {
	for _, ch := range d.checks {
		if ch.spec.Name == name {
			found, err := ch.tick(ctx)
			ch.writer.Wait()
			return found, err
		}
	}
	return nil, fmt.Errorf("no check %q", name)
}

// stuckAfter is the number of ticks in a row skipped because the previous one still runs after
// which the check counts as down.
const stuckAfter = 3

// check is one CheckSpec with its per-series state.
type check struct {
	spec    CheckSpec
	d       *Detector
	running atomic.Bool
	skipped atomic.Uint64
	// skippedInRow counts the ticks skipped since a tick last finished; at stuckAfter the check
	// counts as down, as a stuck source or callback would otherwise never show.
	skippedInRow atomic.Uint32
	tickStarted  atomic.Int64 // Unix nanoseconds when the running tick started

	mu        sync.Mutex
	series    *seriesIndex
	failures  int
	nextTry   time.Time
	lastTick  time.Time
	lastErr   string
	loadedAll bool
	loadAfter string // the last key restored, while the restore is not done
	// saveMu orders the check's writes of model state, so that a record marshalled before its
	// series was forgotten is written before the series' delete, never after it. Taken before mu.
	saveMu sync.Mutex
	// writer is the background write of a tick's periodic saves, while writing is set.
	writer        sync.WaitGroup
	writing       atomic.Bool
	releaseWarned atomic.Bool // a failure to release the store's mapped pages was logged
	// toldLearning is set once the check has logged how long its series learn before scoring.
	toldLearning bool
}

// scheduled is the cron job: jitter, no overlap, backoff while the source fails.
func (ch *check) scheduled(ctx context.Context) {
	if !ch.running.CompareAndSwap(false, true) {
		ch.skipped.Add(1)
		ch.d.m.skipped.WithLabelValues(ch.spec.Name).Inc()
		if ch.skippedInRow.Add(1) >= stuckAfter {
			ch.d.m.up.WithLabelValues(ch.spec.Name).Set(0)
		}
		return
	}
	ch.tickStarted.Store(time.Now().UnixNano())
	defer func() {
		ch.skippedInRow.Store(0)
		ch.running.Store(false)
	}()
	now := ch.d.o.Now()
	interval := ch.spec.Schedule.Next(now).Sub(now)
	if j := min(interval/10, 5*time.Second); j > 0 {
		select {
		case <-time.After(rand.N(j)): // #nosec G404 -- scheduling jitter, not a secret
		case <-ctx.Done():
			return
		}
	}
	ch.mu.Lock()
	wait := ch.nextTry.After(ch.d.o.Now())
	ch.mu.Unlock()
	if wait {
		return
	}
	ctx, _ = obs.EnsureCorrelation(obs.WithCorrelation(ctx, ""))
	if _, err := ch.tick(ctx); err != nil && ctx.Err() == nil {
		ch.d.log.WarnContext(ctx, "check failed", obs.KeyCheck, ch.spec.Name, obs.KeyErr, err)
	}
}

// stuck says why the check counts as down while its ticks keep being skipped, or is empty.
func (ch *check) stuck() string {
	n := ch.skippedInRow.Load()
	if n < stuckAfter {
		return ""
	}
	return fmt.Sprintf("the tick started at %s is still running; %d ticks skipped since",
		time.Unix(0, ch.tickStarted.Load()).UTC().Format(time.RFC3339), n)
}

// tickChunk is how many series a tick scores at a time under its check's lock: between chunks
// readers (status, charts) have their turn, and a tick whose context ended stops.
const tickChunk = 1024

// tickRun is what a tick gathered so far.
type tickRun struct {
	report    Tick
	observed  bool
	found     []Anomaly
	maxScore  float64
	points    int
	anomalous int
	moved     []*seriesState // series whose episode opened or ended
}

func (ch *check) tick(ctx context.Context) ([]Anomaly, error) {
	start := time.Now()
	name := ch.spec.Name
	defer func() { ch.d.m.tick.WithLabelValues(name).Observe(time.Since(start).Seconds()) }()
	err := ch.loadStates(ctx)
	var batch []Series
	if err == nil {
		batch, err = ch.spec.Source.Fetch(ctx, ch.d.o.Now())
	}
	ch.mu.Lock()
	ch.lastTick = ch.d.o.Now()
	if err != nil {
		defer ch.mu.Unlock()
		ch.failures++
		ch.lastErr = err.Error()
		ch.nextTry = ch.d.o.Now().Add(ch.backoff())
		ch.d.m.sourceErrors.WithLabelValues(name).Inc()
		ch.d.m.up.WithLabelValues(name).Set(0)
		return nil, err
	}
	if ch.failures > 0 {
		ch.d.log.InfoContext(ctx, "check source answers again", obs.KeyCheck, name, "failed_ticks", ch.failures)
	}
	ch.failures, ch.lastErr, ch.nextTry = 0, "", time.Time{}
	ch.d.m.up.WithLabelValues(name).Set(1)
	t := tickRun{report: Tick{Check: name, T: ch.lastTick}, observed: ch.d.o.Observed(name)}
	ch.mu.Unlock()

	scored := 0
	for scored < len(batch) && err == nil {
		if err = ctx.Err(); err != nil {
			break
		}
		end := min(scored+tickChunk, len(batch))
		ch.mu.Lock()
		for _, s := range batch[scored:end] {
			ch.score(&t, s)
		}
		ch.mu.Unlock()
		scored = end
	}

	ch.mu.Lock()
	ch.d.m.points.WithLabelValues(name).Add(float64(t.points))
	ch.d.m.anomalies.WithLabelValues(name).Add(float64(t.anomalous))
	ch.d.m.maxScore.WithLabelValues(name).Set(t.maxScore)
	if !ch.toldLearning && ch.series.len() > 0 {
		ch.toldLearning = true
		if n, left := ch.warming(); n > 0 {
			st := CheckStatus{Warming: n, WarmupLeft: left, Interval: ch.interval()}
			ch.d.log.InfoContext(ctx, "check learning its series before it scores", obs.KeyCheck, name,
				"series", n, "scoring_in", st.WarmupETA().Round(time.Second).String())
		}
	}
	var forgotten []store.Op
	if err == nil {
		var recs []Recovery
		recs, forgotten = ch.forget(ctx)
		for _, r := range recs {
			t.report.Events = append(t.report.Events, Event{Recovery: &r})
		}
	}
	ch.mu.Unlock()
	if err != nil {
		// Stopping: the series whose episode moved are written first by SaveState.
		err = fmt.Errorf("tick stopped after %d of %d series: %w", scored, len(batch), err)
	} else {
		ch.deleteForgotten(ctx, forgotten)
		ch.saveUrgent(ctx, t.moved)
	}
	if len(t.report.Events) > 0 || len(t.report.Series) > 0 {
		ch.d.o.OnTick(ctx, t.report)
	}
	if err == nil {
		ch.saveDue(ctx)
	}
	return t.found, err
}

// score scores the new points of one series of the check's batch. ch.mu must be held.
func (ch *check) score(t *tickRun, s Series) {
	// The check's labels add to the series' own; a series label of the same name wins, so two
	// series never merge into one. A known series is found without building that label set.
	st, h := ch.series.find(ch.spec.Labels, s.Labels)
	if st == nil {
		// A new series has never been saved: it is due at once (savedAt 0), and from then on
		// once a SaveEvery, at a tick of its own.
		st = &seriesState{labels: mergeLabels(ch.spec.Labels, s.Labels), model: ch.spec.Factory(), seenAt: t.report.T.UnixNano()}
		st.local = !ch.d.admitStored()
		ch.series.add(st, h)
	} else if st.restored {
		// find checked that the source's labels, with the check's, are the series' own: when
		// they need no merging, the series keeps the source's map and the decoded one goes.
		st.restored = false
		if s.Labels != nil && hasAll(s.Labels, ch.spec.Labels) {
			st.labels = s.Labels
		}
	}
	before := st.ep.Since
	r := ch.observe(st, s.Points, t.observed)
	if r.scored > 0 {
		st.seenAt = t.report.T.UnixNano()
	}
	// An episode that opened or closed is saved before the tick reports it, not at the series'
	// next periodic save: after a crash the series must still know it has an incident open, or
	// it would never end.
	if !st.ep.Since.Equal(before) {
		st.urgent = true
		t.moved = append(t.moved, st)
	}
	t.points += r.scored
	t.anomalous += r.anomalous
	t.maxScore = max(t.maxScore, r.maxScore)
	t.report.Events = append(t.report.Events, r.events...)
	for _, e := range r.events {
		if e.Anomaly != nil {
			t.found = append(t.found, *e.Anomaly)
		}
	}
	if len(r.seen) > 0 {
		t.report.Series = append(t.report.Series, Observation{Labels: st.labels, Points: r.seen})
	}
}

// interval is the time between the check's next two ticks.
func (ch *check) interval() time.Duration {
	next := ch.spec.Schedule.Next(ch.d.o.Now())
	return ch.spec.Schedule.Next(next).Sub(next)
}

// backoff is how long a failing check waits before its next try: doubling from one second, but
// never longer than half its schedule's interval, so that once the source is back the check
// scores again within one interval. ch.mu must be held.
func (ch *check) backoff() time.Duration {
	return min(time.Duration(1<<min(ch.failures, 10))*time.Second, 5*time.Minute, max(ch.interval()/2, time.Millisecond))
}
