// Package incident owns the stage between detection and rules (sources → detector → incident →
// rules → remediation → bot): an anomaly from the detector, or an alert group from Alertmanager
// (package alertmanager, the second intake), becomes an Incident with a fingerprint. Repeats update
// the open incident with that fingerprint instead of opening another; an incident resolves when its
// series is normal again or Alertmanager says its alerts resolved. Silences held in the store mute
// the bot's own anomaly incidents. Changes are reported through Options.OnChange, which the wiring
// connects to the rules and the notifier; this package imports neither.
package incident

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"maps"
	"slices"
	"strings"
	"sync"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/smartcloudops/smartcloudops/internal/obs"
	"github.com/smartcloudops/smartcloudops/internal/store"
)

// Incident sources.
const (
	SourceDetector     = "detector"
	SourceAlertmanager = "alertmanager"
)

// Incident states.
const (
	StateOpen     = "open"
	StateResolved = "resolved"
)

// Incident is something worth a person's attention, with its latest evidence.
type Incident struct {
	ID          string            `json:"id"`
	Fingerprint string            `json:"fingerprint"`
	Source      string            `json:"source"`
	Title       string            `json:"title"`
	Severity    string            `json:"severity"`
	State       string            `json:"state"`
	Labels      map[string]string `json:"labels"`
	Annotations map[string]string `json:"annotations,omitempty"`
	Check       string            `json:"check,omitempty"`
	Unit        string            `json:"unit,omitempty"`
	Value       float64           `json:"value"` // the latest value
	Score       float64           `json:"score"` // the latest score
	Peak        float64           `json:"peak,omitempty"`
	PeakValue   float64           `json:"peak_value,omitempty"` // the value furthest from Expected
	// Expected, Lower and Upper are the band frozen when the anomaly's episode opened: the
	// incident is judged against what was normal then, not against a model that has learnt the
	// anomaly since.
	Expected    float64           `json:"expected"`
	Lower       float64           `json:"lower"`
	Upper       float64           `json:"upper"`
	Models      []string          `json:"models,omitempty"`
	Since       time.Time         `json:"since"`     // start of the anomalous span, or of the first alert
	OpenedAt    time.Time         `json:"opened_at"` // when the bot opened it
	LastSeen    time.Time         `json:"last_seen"`
	ResolvedAt  time.Time         `json:"resolved_at,omitzero"`
	Resolution  string            `json:"resolution,omitempty"` // how it ended, when not by returning to normal
	Updates     int               `json:"updates"`
	GroupKey    string            `json:"group_key,omitempty"`    // Alertmanager's group key
	GroupLabels map[string]string `json:"group_labels,omitempty"` // the labels Alertmanager grouped by
	Alerts      []Alert           `json:"alerts,omitempty"`
	ChartPath   string            `json:"chart_path,omitempty"`
	Silenced    string            `json:"silenced,omitempty"` // ID of the silence muting it
	Proposals   []string          `json:"proposals,omitempty"`
	Refusals    []Refusal         `json:"refusals,omitempty"`   // rules whose proposal could not be made, and why
	Unreported  bool              `json:"unreported,omitempty"` // opened silenced, no change of it reported since: no card shows it
}

// Refusal says why a rule that fired for an incident made no proposal (its target could not be
// described, its system did not answer), so the card shows it rather than nothing.
type Refusal struct {
	Rule   string    `json:"rule"`
	Reason string    `json:"reason"`
	Retry  bool      `json:"retry,omitempty"` // the cause may pass: the rule tries again
	At     time.Time `json:"at"`
}

// Alert is one Alertmanager alert inside an incident.
type Alert struct {
	Fingerprint string            `json:"fingerprint"`
	Status      string            `json:"status"` // firing or resolved
	Labels      map[string]string `json:"labels"`
	Annotations map[string]string `json:"annotations,omitempty"`
	StartsAt    time.Time         `json:"starts_at"`
	EndsAt      time.Time         `json:"ends_at,omitzero"`
}

// Change says what happened to an incident.
type Change int

// Changes.
const (
	Opened Change = iota + 1
	Updated
	Resolved
)

func (c Change) String() string {
	return [...]string{"", "opened", "updated", "resolved"}[c]
}

// Options configures a Manager. Store is required.
type Options struct {
	Store store.Store
	// OnChange is called after an incident is opened, updated or resolved, unless it is silenced.
	// A silence mutes an incident's opening and its updates, but once an incident has been
	// reported the start or end of its silence and its resolution are reported too, so that what
	// was posted about it never goes stale. See reportable.
	OnChange   func(ctx context.Context, inc Incident, c Change)
	Logger     *slog.Logger
	Registerer prometheus.Registerer
	Now        func() time.Time
	// WriteEvery is how often Run writes the routine updates of open anomaly incidents (a new
	// value, score and last-seen time from a series that stays anomalous) to the store, all in one
	// transaction; until then they are kept in memory and every read sees them. Changes that
	// matter — opening, resolving, severity, silence, the parts that fired, proposals — are
	// written at once. Default 15s; a crash loses at most this much of the routine updates.
	WriteEvery time.Duration
	// ProposalsOf names the proposals made for an incident, from the proposals' own index
	// (remediation writes it with each proposal), so that making a proposal does not rewrite its
	// incident. An incident read through the Manager lists them in Proposals after those it
	// records itself (stores written before the index was the source). Nil lists only those.
	ProposalsOf func(ctx context.Context, id string) ([]string, error)
}

// Manager keeps incidents in the store.
type Manager struct {
	o      Options
	log    *slog.Logger
	opened *prometheus.CounterVec
	mu     sync.Mutex // serialises every write of incidents; the store CAS guards across processes

	// pending holds, by ID, open incidents whose latest routine update is not yet in the store.
	// It is guarded by mu.
	pending map[string]Incident
}

// StorePrefix is where incidents are stored, one key per incident ID; a watch on it sees every
// incident written by any replica.
const StorePrefix = incPrefix

const (
	incPrefix = "incidents/by-id/"
	fpPrefix  = "incidents/open/" // fingerprint → ID of the open incident
)

// New returns a Manager.
func New(o Options) (*Manager, error) {
	if o.Store == nil {
		return nil, errors.New("incident: Store is required")
	}
	if o.Logger == nil {
		o.Logger = obs.Discard()
	}
	if o.Now == nil {
		o.Now = time.Now
	}
	if o.OnChange == nil {
		o.OnChange = func(context.Context, Incident, Change) {}
	}
	if o.WriteEvery <= 0 {
		o.WriteEvery = 15 * time.Second
	}
	m := &Manager{o: o, log: o.Logger.With(obs.KeyComponent, "incident"),
		pending: map[string]Incident{},
		opened:  prometheus.NewCounterVec(prometheus.CounterOpts{Name: "smartcloudops_incidents_opened_total", Help: "Incidents opened, by source."}, []string{"source"})}
	m.opened.WithLabelValues(SourceDetector) // 0, not "No data", before the first incident
	m.opened.WithLabelValues(SourceAlertmanager)
	if o.Registerer != nil {
		o.Registerer.MustRegister(m.opened, prometheus.NewGaugeFunc(prometheus.GaugeOpts{
			Name: "smartcloudops_incidents_open", Help: "Incidents open now."}, func() float64 {
			ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
			defer cancel()
			kvs, err := o.Store.List(ctx, fpPrefix)
			if err != nil {
				return -1
			}
			return float64(len(kvs))
		}))
	}
	return m, nil
}

// newID is a random incident ID. Four bytes keep IDs short enough to type while a storm of ten
// thousand incidents rarely draws the same one twice (the store refuses a duplicate anyway).
func newID() string {
	var b [4]byte
	_, _ = rand.Read(b[:])
	return "inc-" + hex.EncodeToString(b[:])
}

// plan is one change of one incident, worked out but not yet written.
type plan struct {
	fp      string
	inc     Incident
	change  Change
	report  bool
	routine bool // a routine update held in memory: nothing to write now
	cmps    []store.Cmp
	ops     []store.Op
}

// upsert opens the incident for fp, or updates the open one, with fn applied; it returns the
// incident, the change, and whether the change is to be reported (see reportable). isNew tells
// fn which case it is in.
func (m *Manager) upsert(ctx context.Context, fp string, fn func(inc *Incident, isNew bool) (changed bool)) (Incident, Change, bool, error) {
	m.mu.Lock()
	defer m.mu.Unlock()
	pl, err := m.writeOne(ctx, fp, fn, "")
	if err != nil {
		return pl.inc, 0, false, err
	}
	return pl.inc, pl.change, pl.report, nil
}

// prepare reads the incident open for fp (or starts a new one), applies fn and works out what
// to write. It reports false when fn changed nothing. m.mu must be held.
func (m *Manager) prepare(ctx context.Context, fp string, fn func(inc *Incident, isNew bool) (changed bool)) (plan, bool, error) {
	pl := plan{fp: fp}
	isNew := false
	idkv, err := m.o.Store.Get(ctx, fpPrefix+fp)
	switch {
	case errors.Is(err, store.ErrNotFound):
		isNew = true
		pl.inc = Incident{ID: newID(), Fingerprint: fp, State: StateOpen, OpenedAt: m.o.Now().UTC()}
		pl.cmps = []store.Cmp{{Key: fpPrefix + fp, Rev: 0}, {Key: incPrefix + pl.inc.ID, Rev: 0}}
	case err != nil:
		return pl, false, err
	default:
		kv, err := m.o.Store.Get(ctx, incPrefix+string(idkv.Value))
		if err != nil {
			return pl, false, fmt.Errorf("open incident %s: %w", idkv.Value, err)
		}
		// The routine update held in memory is newer than the stored incident.
		if p, ok := m.pending[string(idkv.Value)]; ok {
			pl.inc = clone(p)
		} else if err := json.Unmarshal(kv.Value, &pl.inc); err != nil {
			return pl, false, fmt.Errorf("incident %s is corrupt: %w", idkv.Value, err)
		}
		pl.cmps = []store.Cmp{{Key: fpPrefix + fp, Rev: idkv.Rev}, {Key: incPrefix + pl.inc.ID, Rev: kv.Rev}}
	}
	before := clone(pl.inc)
	if !fn(&pl.inc, isNew) {
		return pl, false, nil // nothing changed, or nothing to open (such as the end of an unknown incident)
	}
	pl.change = Updated
	switch {
	case pl.inc.State == StateResolved:
		pl.change = Resolved
	case isNew:
		pl.change = Opened
	}
	pl.report = reportable(before, pl.inc, pl.change, isNew)
	pl.inc.Unreported = !pl.report && (isNew || before.Unreported)
	if !isNew && routine(before, pl.inc) {
		pl.routine = true
		return pl, true, nil
	}
	pl.ops = []store.Op{{Key: incPrefix + pl.inc.ID, Value: mustJSON(pl.inc)}}
	switch pl.change {
	case Resolved:
		pl.ops = append(pl.ops, store.Op{Key: fpPrefix + fp, Delete: true})
	case Opened:
		pl.ops = append(pl.ops, store.Op{Key: fpPrefix + fp, Value: []byte(pl.inc.ID)})
	}
	// The time-ordered index (index.go) changes with the incident, in the same transaction: one
	// write more at opening and at resolution, none otherwise.
	pl.ops = append(pl.ops, indexOps(before, pl.inc, isNew)...)
	return pl, true, nil
}

// committed finishes a plan whose writes are in the store. m.mu must be held.
func (m *Manager) committed(ctx context.Context, pl plan) {
	delete(m.pending, pl.inc.ID)
	if pl.change == Opened {
		m.opened.WithLabelValues(pl.inc.Source).Inc()
		m.log.InfoContext(ctx, "incident opened", obs.KeyIncident, pl.inc.ID, "title", pl.inc.Title)
	}
}

func mustJSON(v any) []byte {
	b, err := json.Marshal(v)
	if err != nil {
		panic(fmt.Sprintf("incident: marshal: %v", err)) // only plain data is marshalled
	}
	return b
}

// notify reports a change that reportable let through.
func (m *Manager) notify(ctx context.Context, inc Incident, c Change, report bool) {
	if c == 0 || !report {
		return
	}
	m.o.OnChange(ctx, inc, c)
}

// reportable says whether change c, which made inc of old (a new incident when isNew), is
// reported through Options.OnChange. An incident that is not silenced reports every change. A
// silence mutes an incident's opening and its updates while it lasts; but once the incident has
// been reported, and so has a card, the start, change or end of its silence and its resolution
// are reported, or the card would show it open, with a Silence button, forever. An incident that
// opened silenced stays quiet, its resolution included, until a change of it is reported: there
// is no card to update.
func reportable(old, inc Incident, c Change, isNew bool) bool {
	switch {
	case c == 0:
		return false
	case inc.Silenced == "":
		return true
	case isNew || old.Unreported:
		return false
	}
	return c == Resolved || old.Silenced != inc.Silenced
}

// routine reports whether the change from old to inc is a routine update of an open anomaly
// incident: new evidence from a series that stays anomalous, which may wait for the next
// batched write.
func routine(old, inc Incident) bool {
	return inc.Source == SourceDetector && inc.State == StateOpen && old.State == StateOpen &&
		old.Severity == inc.Severity && old.Silenced == inc.Silenced && old.Unreported == inc.Unreported &&
		old.Title == inc.Title &&
		old.ChartPath == inc.ChartPath && slices.Equal(old.Models, inc.Models) &&
		slices.Equal(old.Proposals, inc.Proposals)
}

// clone copies an incident so that later changes to either copy do not reach the other.
func clone(inc Incident) Incident {
	inc.Labels = maps.Clone(inc.Labels)
	inc.Annotations = maps.Clone(inc.Annotations)
	inc.GroupLabels = maps.Clone(inc.GroupLabels)
	inc.Models = slices.Clone(inc.Models)
	inc.Proposals = slices.Clone(inc.Proposals)
	inc.Refusals = slices.Clone(inc.Refusals)
	inc.Alerts = slices.Clone(inc.Alerts)
	return inc
}

// Run writes the routine updates held in memory every Options.WriteEvery until ctx ends. Call
// Flush after the producers of incidents have stopped to write the last ones.
func (m *Manager) Run(ctx context.Context) error {
	t := time.NewTicker(m.o.WriteEvery)
	defer t.Stop()
	for {
		select {
		case <-ctx.Done():
			return nil
		case <-t.C:
			if err := m.Flush(ctx); err != nil && ctx.Err() == nil {
				m.log.ErrorContext(ctx, "incident updates not written; will retry", obs.KeyErr, err)
			}
		}
	}
}

// Flush writes every routine update held in memory, in as few transactions as the store takes.
func (m *Manager) Flush(ctx context.Context) error {
	m.mu.Lock()
	defer m.mu.Unlock()
	if len(m.pending) == 0 {
		return nil
	}
	ids := slices.Sorted(maps.Keys(m.pending))
	ops := make([]store.Op, len(ids))
	for i, id := range ids {
		ops[i] = store.Op{Key: incPrefix + id, Value: mustJSON(m.pending[id])}
	}
	n, err := store.WriteAll(ctx, m.o.Store, ops)
	for _, id := range ids[:n] {
		delete(m.pending, id)
	}
	if err != nil {
		return fmt.Errorf("write %d incident updates: %w", len(ops)-n, err)
	}
	return nil
}

// flushOne writes the routine update held for incident id, if any. m.mu must be held.
func (m *Manager) flushOne(ctx context.Context, id string) error {
	inc, ok := m.pending[id]
	if !ok {
		return nil
	}
	if _, err := m.o.Store.Txn(ctx, nil, []store.Op{{Key: incPrefix + id, Value: mustJSON(inc)}}); err != nil {
		return fmt.Errorf("write incident %s: %w", id, err)
	}
	delete(m.pending, id)
	return nil
}

// Get returns an incident by ID.
func (m *Manager) Get(ctx context.Context, id string) (Incident, error) {
	m.mu.Lock()
	p, ok := m.pending[id]
	m.mu.Unlock()
	if ok {
		inc := clone(p)
		return inc, m.withProposals(ctx, &inc)
	}
	kv, err := m.o.Store.Get(ctx, incPrefix+id)
	if errors.Is(err, store.ErrNotFound) {
		return Incident{}, obs.UserErrorf("no incident %q (see `incidents`)", id)
	}
	if err != nil {
		return Incident{}, err
	}
	var inc Incident
	if err := json.Unmarshal(kv.Value, &inc); err != nil {
		return Incident{}, fmt.Errorf("incident %s is corrupt: %w", id, err)
	}
	return inc, m.withProposals(ctx, &inc)
}

// List returns incidents, newest first; only open ones unless all is set. Every stored incident
// is read for all; ListPage reads one page.
func (m *Manager) List(ctx context.Context, all bool) ([]Incident, error) {
	if !all {
		return m.listOpen(ctx)
	}
	kvs, err := m.o.Store.List(ctx, incPrefix)
	if err != nil {
		return nil, err
	}
	m.mu.Lock()
	pending := make(map[string]Incident, len(m.pending))
	for id, p := range m.pending {
		pending[id] = clone(p)
	}
	m.mu.Unlock()
	var out []Incident
	for _, kv := range kvs {
		var inc Incident
		if p, ok := pending[strings.TrimPrefix(kv.Key, incPrefix)]; ok {
			inc = p
		} else if err := json.Unmarshal(kv.Value, &inc); err != nil {
			m.log.ErrorContext(ctx, "corrupt incident skipped", "key", kv.Key, obs.KeyErr, err)
			continue
		}
		if err := m.withProposals(ctx, &inc); err != nil {
			return nil, err
		}
		out = append(out, inc)
	}
	slices.SortFunc(out, func(a, b Incident) int { return b.OpenedAt.Compare(a.OpenedAt) })
	return out, nil
}

// Update applies fn to a stored incident (for example to record a chart path or a proposal).
func (m *Manager) Update(ctx context.Context, id string, fn func(inc *Incident)) (Incident, error) {
	m.mu.Lock()
	defer m.mu.Unlock()
	var inc Incident
	err := m.modify(ctx, id, func(i *Incident) { fn(i); inc = *i })
	return inc, err
}

// modify reads, changes and writes back one incident, retrying on conflicts; m.mu must be held.
func (m *Manager) modify(ctx context.Context, id string, fn func(inc *Incident)) error {
	var inc Incident
	if err := m.flushOne(ctx, id); err != nil {
		return err
	}
	_, err := store.Modify(ctx, m.o.Store, incPrefix+id, func(old []byte) ([]byte, error) {
		if old == nil {
			return nil, obs.UserErrorf("no incident %q (see `incidents`)", id)
		}
		inc = Incident{}
		if err := json.Unmarshal(old, &inc); err != nil {
			return nil, fmt.Errorf("incident %s is corrupt: %w", id, err)
		}
		fn(&inc)
		return mustJSON(inc), nil
	})
	return err
}

// UpdateMany applies fns, by incident ID, to stored incidents in as few transactions as
// etcd's limits allow (a burst of proposals each recorded on its incident costs one commit, not
// one each). An incident written by someone else meanwhile is updated again on its own. It
// returns the IDs it could not update, with the first reason; an unknown ID is one of them.
func (m *Manager) UpdateMany(ctx context.Context, fns map[string]func(inc *Incident)) ([]string, error) {
	m.mu.Lock()
	defer m.mu.Unlock()
	ids := slices.Sorted(maps.Keys(fns))
	var failed []string
	var first error
	fail := func(id string, err error) {
		failed = append(failed, id)
		if first == nil {
			first = err
		}
	}
	for len(ids) > 0 {
		n := min(len(ids), maxBatchCmps)
		batch := ids[:n]
		ids = ids[n:]
		var cmps []store.Cmp
		var ops []store.Op
		var again []string
		for _, id := range batch {
			if err := m.flushOne(ctx, id); err != nil {
				fail(id, err)
				continue
			}
			kv, err := m.o.Store.Get(ctx, incPrefix+id)
			if errors.Is(err, store.ErrNotFound) {
				fail(id, obs.UserErrorf("no incident %q (see `incidents`)", id))
				continue
			}
			if err != nil {
				fail(id, err)
				continue
			}
			var inc Incident
			if err := json.Unmarshal(kv.Value, &inc); err != nil {
				fail(id, fmt.Errorf("incident %s is corrupt: %w", id, err))
				continue
			}
			fns[id](&inc)
			cmps = append(cmps, store.Cmp{Key: kv.Key, Rev: kv.Rev})
			ops = append(ops, store.Op{Key: kv.Key, Value: mustJSON(inc)})
			again = append(again, id)
		}
		if len(ops) == 0 {
			continue
		}
		_, err := m.o.Store.Txn(ctx, cmps, ops)
		if errors.Is(err, store.ErrConflict) {
			// One of them changed meanwhile: each on its own, as Update does.
			for _, id := range again {
				if err := m.modify(ctx, id, fns[id]); err != nil {
					fail(id, err)
				}
			}
			continue
		}
		if err != nil {
			for _, id := range again {
				fail(id, err)
			}
		}
	}
	return failed, first
}

func cloneLabels(l map[string]string) map[string]string {
	if l == nil {
		return map[string]string{}
	}
	return maps.Clone(l)
}
