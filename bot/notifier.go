package bot

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"sync"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/smartcloudops/smartcloudops/incident"
	"github.com/smartcloudops/smartcloudops/internal/obs"
	"github.com/smartcloudops/smartcloudops/internal/store"
	"github.com/smartcloudops/smartcloudops/remediation"
)

// Route sends cards whose severity and labels match to a channel; empty fields match anything.
type Route struct {
	Severity string
	Labels   map[string]string
	Channel  string
}

// Target is one adapter the notifier posts to, with its routing.
type Target struct {
	Adapter        Adapter
	DefaultChannel string
	Routes         []Route
	// EditsImages says the adapter's Update replaces a card's image with the one the message
	// carries (Discord). Where it does not (Slack keeps the chart it posted in the card's
	// thread; the console prints a path), the chart of a finished episode is posted in the
	// card's thread.
	EditsImages bool
}

func (t Target) channel(sev string, labels map[string]string) string {
	for _, r := range t.Routes {
		if r.Severity != "" && r.Severity != sev {
			continue
		}
		ok := true
		for k, v := range r.Labels {
			if labels[k] != v {
				ok = false
				break
			}
		}
		if ok {
			return r.Channel
		}
	}
	return t.DefaultChannel
}

// NotifierOptions configures a Notifier. Store, Incidents and Proposals are required.
type NotifierOptions struct {
	Targets   []Target
	Store     store.Store
	Incidents *incident.Manager
	Proposals *remediation.Manager
	// Chart, when set, draws the chart of an anomaly incident as it is now and returns the
	// file's path (the incident's earlier chart when it cannot). The notifier calls it from its
	// chart workers, never on the detector's tick, for the cards it is about to post or edit
	// (see the package documentation for when).
	Chart func(inc incident.Incident) string
	// ChartWorkers bounds how many charts are drawn at once; default 2.
	ChartWorkers int
	// ChartEvery is the least time between two drawings of the chart of an open episode. The
	// chart is always drawn for a new card and when the episode ends. Zero redraws on every edit.
	ChartEvery time.Duration
	// EditEvery is the least time between two edits of a card for routine changes (a new value
	// or score). Changes of state — a proposal made or decided, a silence, a resolution — are
	// shown at once. Zero edits at once.
	EditEvery time.Duration
	// Group says which incidents share a card.
	Group GroupOptions
	// Now is the clock that paces edits; default time.Now.
	Now        func() time.Time
	Registerer prometheus.Registerer
	Logger     *slog.Logger
}

// Notifier turns incident and proposal changes into cards: incidents that share a group key get
// one card per group and channel, posted once per platform and edited in place as members join
// and things change; execution output goes in the card's thread. Changes are queued and
// coalesced per card — a burst of updates to one incident becomes one edit showing the latest
// state — and a slow platform never blocks the detector or the executor.
type Notifier struct {
	o   NotifierOptions
	log *slog.Logger
	m   *notifierMetrics

	mu      sync.Mutex // guards the queue
	pending map[string]job
	order   []string
	wake    chan struct{}

	work  sync.Mutex // one pass at a time; guards the cards
	cards *cardSet
}

type job struct {
	incident string // card of an incident
	proposal string // card of a proposal without incident
	props    bool   // the incident's proposals changed
	opened   bool   // the incident opened: every proposal of it is reported after that
	// changed holds the incident's proposals as their changes reported them, the latest copy of
	// each, so a card in memory takes them without reading every proposal of its incident back.
	changed []remediation.Proposal
	// inc is the incident as its opening reported it, while no other change of it is queued: a
	// card that is new takes it rather than reading the incident back.
	inc *incident.Incident
	// proposalsOnly says that only the incident's proposals changed, not the incident itself.
	proposalsOnly bool
}

// withLatest returns ps with p in place of its older copy, or added.
func withLatest(ps []remediation.Proposal, p remediation.Proposal) []remediation.Proposal {
	for i, q := range ps {
		if q.ID == p.ID {
			if p.Rev() >= q.Rev() || p.Rev() == 0 {
				ps[i] = p
			}
			return ps
		}
	}
	return append(ps, p)
}

// NewNotifier returns a Notifier.
func NewNotifier(o NotifierOptions) (*Notifier, error) {
	if o.Store == nil || o.Incidents == nil || o.Proposals == nil {
		return nil, errors.New("bot: notifier needs Store, Incidents and Proposals")
	}
	if o.Logger == nil {
		o.Logger = obs.Discard()
	}
	if o.Now == nil {
		o.Now = time.Now
	}
	if o.ChartWorkers <= 0 {
		o.ChartWorkers = 2
	}
	m, err := newNotifierMetrics(o.Registerer, o.Targets)
	if err != nil {
		return nil, err
	}
	n := &Notifier{o: o, log: o.Logger.With(obs.KeyComponent, "notifier"), m: m, pending: map[string]job{}, wake: make(chan struct{}, 1)}
	n.cards = newCardSet()
	return n, nil
}

// IncidentChanged queues the incident's card for posting or editing. It never blocks on chat.
func (n *Notifier) IncidentChanged(_ context.Context, inc incident.Incident, c incident.Change) {
	j := job{incident: inc.ID, opened: c == incident.Opened}
	if c == incident.Opened {
		j.inc = &inc
	}
	n.enqueue(inc.ID, j)
}

// ProposalChanged queues the card that shows the proposal.
func (n *Notifier) ProposalChanged(_ context.Context, p remediation.Proposal) {
	if p.Incident != "" {
		n.enqueue(p.Incident, job{incident: p.Incident, props: true, proposalsOnly: true, changed: []remediation.Proposal{p}})
		return
	}
	n.enqueue(p.ID, job{proposal: p.ID})
}

func (n *Notifier) enqueue(key string, j job) {
	n.mu.Lock()
	old, ok := n.pending[key]
	if !ok {
		n.order = append(n.order, key)
	}
	j.props, j.opened = j.props || old.props, j.opened || old.opened
	switch {
	case !ok:
	case j.proposalsOnly:
		j.inc, j.proposalsOnly = old.inc, old.proposalsOnly
	case !old.proposalsOnly:
		j.inc = nil // two changes of the incident queued, maybe reported out of order: read it
	}
	for _, p := range j.changed {
		old.changed = withLatest(old.changed, p)
	}
	j.changed = old.changed
	n.pending[key] = j
	n.mu.Unlock()
	select {
	case n.wake <- struct{}{}:
	default:
	}
}

// Run renders queued cards until ctx ends: it starts with the cards a previous Flush left
// undelivered; each pass applies the queued changes, posts the cards whose group has waited long
// enough and edits those whose next edit is due, then waits for more changes or for the next due
// edit. A delivery that shutdown cuts short stays due, for Flush.
func (n *Notifier) Run(ctx context.Context) error {
	n.requeue(ctx)
	timer := time.NewTimer(time.Hour)
	defer timer.Stop()
	for {
		batch := n.take()
		jctx, _ := obs.EnsureCorrelation(ctx)
		n.process(jctx, batch, false)
		if ctx.Err() != nil {
			return nil
		}
		if n.queued() {
			continue
		}
		var due <-chan time.Time
		if next := n.nextDue(); !next.IsZero() {
			timer.Reset(max(0, next.Sub(n.o.Now())))
			due = timer.C
		}
		select {
		case <-ctx.Done():
			return nil
		case <-n.wake:
		case <-due:
		}
		timer.Stop()
	}
}

// Flush renders everything queued now and makes every pending post and edit at once, whatever
// the group wait and the edit intervals (for shutdown and tests), until ctx ends. The cards it
// could not deliver by then are stored, and the next Run sends them first; cards are edited to
// their latest state, so sending one again never shows anything twice.
func (n *Notifier) Flush(ctx context.Context) {
	for batch := n.take(); ctx.Err() == nil && n.process(ctx, batch, true); batch = n.take() {
	}
	if ctx.Err() == nil {
		n.process(ctx, nil, true) // deliveries that failed in the last pass get one more go
		if ctx.Err() == nil && n.nextDue().IsZero() {
			return
		}
	}
	if left := append(n.take(), n.undelivered()...); len(left) > 0 {
		n.keep(ctx, left)
	}
}

// take removes every queued job, oldest first.
func (n *Notifier) take() []queued {
	n.mu.Lock()
	defer n.mu.Unlock()
	out := make([]queued, len(n.order))
	for i, k := range n.order {
		out[i] = queued{key: k, job: n.pending[k]}
	}
	n.order = n.order[:0]
	clear(n.pending)
	return out
}

func (n *Notifier) queued() bool {
	n.mu.Lock()
	defer n.mu.Unlock()
	return len(n.order) > 0
}

type queued struct {
	key string
	job job
}

// Note posts m in the thread of the card for key (an incident or proposal ID) on every platform
// that shows it. Cards not posted yet get no note.
func (n *Notifier) Note(ctx context.Context, key string, m Message) error {
	var errs []error
	for _, t := range n.o.Targets {
		kv, err := n.o.Store.Get(ctx, recordKey(key, t))
		if errors.Is(err, store.ErrNotFound) {
			continue
		}
		if err != nil {
			errs = append(errs, err)
			continue
		}
		var rec cardRecord
		if err := json.Unmarshal(kv.Value, &rec); err != nil {
			errs = append(errs, err)
			continue
		}
		if rec.Ref == (Ref{}) {
			continue
		}
		if _, err := t.Adapter.PostThread(ctx, rec.Ref, m); err != nil {
			errs = append(errs, fmt.Errorf("%s: %w", t.Adapter.Name(), err))
		}
	}
	return errors.Join(errs...)
}

// Members returns the incidents a grouped card showed at its last post or edit, from the
// store, for the Approve-all button of that card; ok is false when there is no such card.
func (n *Notifier) Members(ctx context.Context, group string) (members []string, ok bool, err error) {
	for _, t := range n.o.Targets {
		rec, found, err := n.getRecord(ctx, recordKey(group, t))
		if err != nil {
			return nil, false, err
		}
		if found && rec.Ref != (Ref{}) {
			return rec.Members, true, nil
		}
	}
	return nil, false, nil
}

// notifierMetrics counts what the notifier sends, by platform.
type notifierMetrics struct {
	sent   *prometheus.CounterVec
	charts prometheus.Counter
}

// Card operations counted by smartcloudops_notifier_cards_total.
const (
	opPost   = "post"
	opEdit   = "edit"
	opThread = "thread"
)

func newNotifierMetrics(reg prometheus.Registerer, targets []Target) (*notifierMetrics, error) {
	m := &notifierMetrics{
		sent: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "smartcloudops_notifier_cards_total",
			Help: "Cards posted, cards edited and thread replies sent by the notifier, by platform and op (post, edit, thread).",
		}, []string{"platform", "op"}),
		charts: prometheus.NewCounter(prometheus.CounterOpts{
			Name: "smartcloudops_notifier_charts_total", Help: "Charts drawn for cards.",
		}),
	}
	for _, t := range targets {
		for _, op := range []string{opPost, opEdit, opThread} {
			m.sent.WithLabelValues(t.Adapter.Name(), op)
		}
	}
	if reg != nil {
		for _, c := range []prometheus.Collector{m.sent, m.charts} {
			if err := reg.Register(c); err != nil {
				return nil, fmt.Errorf("bot: notifier metrics: %w", err)
			}
		}
	}
	return m, nil
}
