package detector

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"maps"
	"math/rand/v2"
	"slices"
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
	// SaveEvery is how often a check writes the model state of its changed series; 0 means one
	// minute. State is also written when Run returns, so only a crash loses learning, and at most
	// this much of it.
	SaveEvery time.Duration
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
		d.checks = append(d.checks, &check{spec: s, d: d, series: map[string]*seriesState{}})
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

// Run schedules every check and blocks until ctx ends, then waits for running ticks.
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
	d.SaveState(context.WithoutCancel(ctx))
	return nil
}

// SaveState writes the model state of every series that changed since its last save.
func (d *Detector) SaveState(ctx context.Context) {
	for _, ch := range d.checks {
		ch.mu.Lock()
		ch.saveStates(ctx)
		ch.mu.Unlock()
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
		out = append(out, found...)
		if err != nil {
			errs = append(errs, fmt.Errorf("check %s: %w", ch.spec.Name, err))
		}
	}
	return out, errs
}

// Tick runs one check now, as its schedule would.
func (d *Detector) Tick(ctx context.Context, name string) ([]Anomaly, error) {
	for _, ch := range d.checks {
		if ch.spec.Name == name {
			return ch.tick(ctx)
		}
	}
	return nil, fmt.Errorf("no check %q", name)
}

// CheckStatus is what `status` and /readyz show about a check.
type CheckStatus struct {
	Name      string
	Up        bool // false while the source fails, or while ticks keep being skipped
	LastTick  time.Time
	LastError string
	Series    int
	Skipped   uint64 // ticks skipped because the previous one still ran
	Anomalous int    // series in an anomalous episode now
	// Warming is how many series are still learning before they score, and WarmupLeft the most
	// points any of them still needs; Interval is the schedule's interval, to turn points into
	// time.
	Warming    int
	WarmupLeft int
	Interval   time.Duration
}

// WarmupETA is how long until every series of the check scores: the most points any series
// still learns, at the schedule's interval.
func (s CheckStatus) WarmupETA() time.Duration { return time.Duration(s.WarmupLeft) * s.Interval }

// Learning describes the check's warm-up, such as "2 series learning, scoring in about 5m20s",
// or is empty once every series scores.
func (s CheckStatus) Learning() string {
	if s.Warming == 0 {
		return ""
	}
	what := "1 series learning"
	if s.Warming > 1 {
		what = fmt.Sprintf("%d series learning", s.Warming)
	}
	return fmt.Sprintf("%s, scoring in about %s", what, s.WarmupETA().Round(time.Second))
}

// WarmingUp is implemented by models that learn from a number of points before they score.
type WarmingUp interface {
	// WarmupLeft is how many more points the model learns before it scores; 0 once it does.
	WarmupLeft() int
}

// Status returns every check's status.
func (d *Detector) Status() []CheckStatus {
	out := make([]CheckStatus, 0, len(d.checks))
	for _, ch := range d.checks {
		ch.mu.Lock()
		st := CheckStatus{Name: ch.spec.Name, Up: ch.failures == 0, LastTick: ch.lastTick, LastError: ch.lastErr,
			Series: len(ch.series), Skipped: ch.skipped.Load()}
		if why := ch.stuck(); why != "" {
			st.Up, st.LastError = false, why
		}
		for _, s := range ch.series {
			if s.ep.Open() {
				st.Anomalous++
			}
		}
		st.Warming, st.WarmupLeft = ch.warming()
		st.Interval = ch.interval()
		ch.mu.Unlock()
		out = append(out, st)
	}
	return out
}

// SeriesPoints returns the recent scored points of one series of a check, oldest first, and
// whether the check has that series.
func (d *Detector) SeriesPoints(check string, labels map[string]string) ([]Scored, bool) {
	for _, ch := range d.checks {
		if ch.spec.Name != check {
			continue
		}
		ch.mu.Lock()
		defer ch.mu.Unlock()
		st, ok := ch.series[Key(labels)]
		if !ok {
			return nil, false
		}
		return st.history(), true
	}
	return nil, false
}

// SeriesHistory is the recent scored points of one series.
type SeriesHistory struct {
	Labels map[string]string
	Points []Scored
}

// History returns the recent scored points of every series of a check.
func (d *Detector) History(name string) []SeriesHistory {
	for _, ch := range d.checks {
		if ch.spec.Name != name {
			continue
		}
		ch.mu.Lock()
		defer ch.mu.Unlock()
		out := make([]SeriesHistory, 0, len(ch.series))
		for _, s := range ch.series {
			out = append(out, SeriesHistory{Labels: maps.Clone(s.labels), Points: s.history()})
		}
		return out
	}
	return nil
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
	series    map[string]*seriesState
	failures  int
	nextTry   time.Time
	lastTick  time.Time
	lastErr   string
	loadedAll bool
	lastSave  time.Time
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

	report := Tick{Check: name, T: ch.lastTick}
	observed := ch.d.o.Observed(name)
	var found []Anomaly
	var maxScore float64
	var points, anomalous int
	spanMoved := false
	for _, s := range batch {
		// The check's labels add to the series' own; a series label of the same name wins, so
		// two series never merge into one.
		labels := maps.Clone(ch.spec.Labels)
		if labels == nil {
			labels = map[string]string{}
		}
		maps.Copy(labels, s.Labels)
		key := Key(labels)
		st, ok := ch.series[key]
		if !ok {
			st = &seriesState{labels: labels, model: ch.spec.Factory(), seenAt: ch.lastTick}
			ch.series[key] = st
		}
		before := st.ep.Since
		r := ch.observe(st, s.Points, observed)
		if len(r.scored) > 0 {
			st.seenAt = ch.lastTick
		}
		// An episode that opened or closed is saved now, not at the next periodic save: after a
		// crash the series must still know it has an incident open, or it would never end.
		spanMoved = spanMoved || !st.ep.Since.Equal(before)
		points += len(r.scored)
		anomalous += r.anomalous
		maxScore = max(maxScore, r.maxScore)
		report.Events = append(report.Events, r.events...)
		for _, e := range r.events {
			if e.Anomaly != nil {
				found = append(found, *e.Anomaly)
			}
		}
		if len(r.seen) > 0 {
			report.Series = append(report.Series, Observation{Labels: st.labels, Points: r.seen})
		}
	}
	ch.d.m.points.WithLabelValues(name).Add(float64(points))
	ch.d.m.anomalies.WithLabelValues(name).Add(float64(anomalous))
	ch.d.m.maxScore.WithLabelValues(name).Set(maxScore)
	if !ch.toldLearning && len(ch.series) > 0 {
		ch.toldLearning = true
		if n, left := ch.warming(); n > 0 {
			st := CheckStatus{Warming: n, WarmupLeft: left, Interval: ch.interval()}
			ch.d.log.InfoContext(ctx, "check learning its series before it scores", obs.KeyCheck, name,
				"series", n, "scoring_in", st.WarmupETA().Round(time.Second).String())
		}
	}
	for _, r := range ch.forget(ctx) {
		report.Events = append(report.Events, Event{Recovery: &r})
	}
	if now := time.Now(); spanMoved || now.Sub(ch.lastSave) >= ch.d.o.SaveEvery {
		ch.saveStates(ctx)
		ch.lastSave = now
	}
	ch.mu.Unlock() // the callback may read the check's state
	if len(report.Events) > 0 || len(report.Series) > 0 {
		ch.d.o.OnTick(ctx, report)
	}
	return found, nil
}

// warming counts the series still learning before they score and the most points any still
// needs. ch.mu must be held.
func (ch *check) warming() (n, left int) {
	for _, s := range ch.series {
		if w, ok := s.model.(WarmingUp); ok {
			if l := w.WarmupLeft(); l > 0 {
				n++
				left = max(left, l)
			}
		}
	}
	return n, left
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

// observedBatch is what one series' batch of points did.
type observedBatch struct {
	scored    []Scored
	seen      []ObservedPoint // for the rules, when the check is observed
	events    []Event
	anomalous int // points at or above the threshold
	maxScore  float64
}

// observe scores new points of one series and moves its episode along. It reports, in order, an
// Anomaly for an episode that opened and for the open episode at the end of the batch (one
// event when they are the same), and a Recovery for each episode that ended.
func (ch *check) observe(st *seriesState, pts []Point, observed bool) observedBatch {
	var r observedBatch
	life := ch.spec.lifecycle()
	var last *Scored
	opened := false
	for _, p := range pts {
		if !Valid(p.V) {
			ch.drop(st, dropNotFinite, p)
			continue
		}
		if !st.lastT.IsZero() && !p.T.After(st.lastT) {
			ch.drop(st, dropNotAfter, p) // a duplicate or out-of-order timestamp
			continue
		}
		st.lastT = p.T
		sc := st.model.Observe(p)
		st.dirty = true
		prev := st.ep
		r.maxScore = max(r.maxScore, sc.Score)
		if sc.Score >= ch.spec.Threshold {
			r.anomalous++
		}
		pt := Scored{Point: p, Score: sc.Score, Expected: sc.Expected, Lower: sc.Lower, Upper: sc.Upper}
		st.push(pt)
		r.scored = append(r.scored, pt)
		switch life.Step(&st.ep, pt, sc.Models) {
		case StepOpened:
			opened, last = true, &r.scored[len(r.scored)-1]
		case StepContinue:
			last = &r.scored[len(r.scored)-1]
		case StepResolved:
			if opened && last != nil {
				// The episode opened and ended inside this batch: report it before its end.
				r.events = append(r.events, Event{Anomaly: ch.anomaly(st, *last, true, prev)})
			}
			r.events = append(r.events, Event{Recovery: &Recovery{Check: ch.spec.Name, Labels: maps.Clone(st.labels), T: p.T, Since: prev.Since}})
			opened, last = false, nil
		}
		if observed {
			r.seen = append(r.seen, st.observed(pt))
		}
	}
	if st.ep.Open() && last != nil {
		r.events = append(r.events, Event{Anomaly: ch.anomaly(st, *last, opened, st.ep)})
	}
	return r
}

// anomaly describes the episode ep of series st as of point p.
func (ch *check) anomaly(st *seriesState, p Scored, opened bool, ep Episode) *Anomaly {
	return &Anomaly{
		Check: ch.spec.Name, Severity: ch.spec.Severity, Unit: ch.spec.Unit, Labels: maps.Clone(st.labels), Opened: opened,
		T: p.T, Value: p.V, Score: p.Score, Peak: ep.Peak, PeakValue: ep.PeakValue,
		Expected: ep.Expected, Lower: ep.Lower, Upper: ep.Upper, Since: ep.Since, Models: slices.Clone(ep.Models),
	}
}

// Reasons a point is not scored, as bits of seriesState.warned and values of the metric's
// reason label.
const (
	dropNotFinite uint8 = 1 << iota
	dropNotAfter
)

// drop counts a point that is not scored and logs the first of each reason for the series, so a
// source that keeps sending NaN or stale timestamps is named once rather than on every tick.
func (ch *check) drop(st *seriesState, reason uint8, p Point) {
	label, msg := "not_finite", "NaN or infinite values are not scored"
	if reason == dropNotAfter {
		label, msg = "not_after_previous", "points whose timestamp is not after the series' latest are not scored"
	}
	ch.d.m.dropped.WithLabelValues(ch.spec.Name, label).Inc()
	if st.warned&reason != 0 {
		return
	}
	st.warned |= reason
	ch.d.log.Warn(msg+"; further ones on this series are only counted in smartcloudops_detector_points_dropped_total",
		obs.KeyCheck, ch.spec.Name, "series", Key(st.labels), "t", p.T, "latest", st.lastT)
}
