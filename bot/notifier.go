package bot

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"os"
	"sync"

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
	// file's path (the incident's earlier chart when it cannot). It runs for every card the
	// notifier posts or edits, so a resolved card shows the whole episode; never on the
	// detector's tick.
	Chart  func(inc incident.Incident) string
	Logger *slog.Logger
}

// Notifier turns incident and proposal changes into cards: it posts a card once per platform,
// edits it in place as things change, and posts execution output in the card's thread. Changes
// are queued and coalesced — a burst of updates to one incident becomes one edit showing the
// latest state — and a slow platform never blocks the detector or the executor.
type Notifier struct {
	o   NotifierOptions
	log *slog.Logger

	mu      sync.Mutex
	pending map[string]job
	order   []string
	wake    chan struct{}
}

type job struct {
	incident string // card of an incident
	proposal string // card of a proposal without incident
}

// NewNotifier returns a Notifier.
func NewNotifier(o NotifierOptions) (*Notifier, error) {
	if o.Store == nil || o.Incidents == nil || o.Proposals == nil {
		return nil, errors.New("bot: notifier needs Store, Incidents and Proposals")
	}
	if o.Logger == nil {
		o.Logger = obs.Discard()
	}
	return &Notifier{o: o, log: o.Logger.With(obs.KeyComponent, "notifier"), pending: map[string]job{}, wake: make(chan struct{}, 1)}, nil
}

// IncidentChanged queues the incident's card for posting or editing.
func (n *Notifier) IncidentChanged(_ context.Context, inc incident.Incident, _ incident.Change) {
	n.enqueue(inc.ID, job{incident: inc.ID})
}

// ProposalChanged queues the card that shows the proposal.
func (n *Notifier) ProposalChanged(_ context.Context, p remediation.Proposal) {
	if p.Incident != "" {
		n.enqueue(p.Incident, job{incident: p.Incident})
		return
	}
	n.enqueue(p.ID, job{proposal: p.ID})
}

func (n *Notifier) enqueue(key string, j job) {
	n.mu.Lock()
	if _, ok := n.pending[key]; !ok {
		n.order = append(n.order, key)
	}
	n.pending[key] = j
	n.mu.Unlock()
	select {
	case n.wake <- struct{}{}:
	default:
	}
}

// Run renders queued cards until ctx ends. It starts with the cards a previous Flush left
// undelivered.
func (n *Notifier) Run(ctx context.Context) error {
	n.requeue(ctx)
	for {
		batch := n.take()
		if len(batch) == 0 {
			select {
			case <-ctx.Done():
				return nil
			case <-n.wake:
				continue
			}
		}
		jctx, _ := obs.EnsureCorrelation(ctx)
		n.process(jctx, batch)
		if ctx.Err() != nil {
			// Shutdown cut the batch short; Flush delivers it, within its own deadline.
			n.putBack(batch)
			return nil
		}
	}
}

// Flush renders everything queued now (for shutdown and tests) until ctx ends. The cards it
// could not deliver by then are stored, and the next Run sends them first; cards are edited to
// their latest state, so sending one again never shows anything twice.
func (n *Notifier) Flush(ctx context.Context) {
	for batch := n.take(); len(batch) > 0; batch = n.take() {
		if ctx.Err() == nil {
			n.process(ctx, batch)
			if ctx.Err() == nil {
				continue
			}
		}
		// Out of time: this batch may be partly undelivered, and the rest is not started.
		n.keep(ctx, append(batch, n.take()...))
		return
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

type queued struct {
	key string
	job job
}

// Bursts: when a pass finds at least groupAt incidents with no card yet for one channel, they
// share grouped cards of up to groupMax incidents each instead of flooding the channel.
const (
	groupAt  = 5
	groupMax = 10
)

// view is what one card shows.
type view struct {
	key    string
	inc    *incident.Incident
	props  []remediation.Proposal
	msg    Message
	sev    string
	labels map[string]string
}

func (n *Notifier) load(ctx context.Context, q queued) (view, error) {
	v := view{key: q.key}
	if q.job.incident != "" {
		inc, err := n.o.Incidents.Get(ctx, q.job.incident)
		if err != nil {
			return v, err
		}
		props, err := n.proposalsOf(ctx, inc)
		if err != nil {
			return v, err
		}
		if n.o.Chart != nil && inc.Source == incident.SourceDetector {
			if path := n.o.Chart(inc); path != inc.ChartPath {
				inc.ChartPath = path
				if _, err := n.o.Incidents.Update(ctx, inc.ID, func(i *incident.Incident) { i.ChartPath = path }); err != nil {
					n.log.WarnContext(ctx, "chart path not recorded", obs.KeyIncident, inc.ID, obs.KeyErr, err)
				}
			}
		}
		v.inc, v.props = &inc, props
		v.msg, v.sev, v.labels = IncidentCard(inc, props), inc.Severity, inc.Labels
		return v, nil
	}
	p, err := n.o.Proposals.Get(ctx, q.job.proposal)
	if err != nil {
		return v, err
	}
	v.props = []remediation.Proposal{p}
	v.msg, v.sev = ProposalCard(p), "warning"
	return v, nil
}

func (n *Notifier) proposalsOf(ctx context.Context, inc incident.Incident) ([]remediation.Proposal, error) {
	return n.o.Proposals.ForIncident(ctx, inc.ID)
}

func (n *Notifier) process(ctx context.Context, batch []queued) {
	var views []view
	for _, q := range batch {
		v, err := n.load(ctx, q)
		if err != nil {
			n.log.ErrorContext(ctx, "card not rendered", "card", q.key, obs.KeyErr, err)
			continue
		}
		views = append(views, v)
	}
	for _, t := range n.o.Targets {
		// Count the new incident cards per channel; channels with a burst get grouped cards.
		fresh := map[string][]view{}
		isNew := make([]bool, len(views))
		muted := make([]bool, len(views))
		for i, v := range views {
			if v.inc != nil && !n.hasCard(ctx, t, v.key) {
				if muteNewCard(v) {
					muted[i] = true
					continue
				}
				isNew[i] = true
				ch := t.channel(v.sev, v.labels)
				fresh[ch] = append(fresh[ch], v)
			}
		}
		var rest []view // in queue order, so cards appear in the order things happened
		grouped := map[string]bool{}
		for i, v := range views {
			if muted[i] {
				continue
			}
			if !isNew[i] {
				rest = append(rest, v)
				continue
			}
			ch := t.channel(v.sev, v.labels)
			vs := fresh[ch]
			if len(vs) < groupAt {
				rest = append(rest, v)
				continue
			}
			if grouped[ch] {
				continue
			}
			grouped[ch] = true
			for j := 0; j < len(vs); j += groupMax {
				if err := n.postGroup(ctx, t, ch, vs[j:min(j+groupMax, len(vs))]); err != nil {
					n.log.ErrorContext(ctx, "grouped card not delivered", obs.KeyPlatform, t.Adapter.Name(), obs.KeyErr, err)
				}
			}
		}
		for _, v := range rest {
			if err := n.deliver(ctx, t, v); err != nil {
				n.log.ErrorContext(ctx, "card not delivered", "card", v.key, obs.KeyPlatform, t.Adapter.Name(), obs.KeyErr, err)
			}
		}
	}
}

// muteNewCard reports whether v, an incident without a card on some platform yet, is to get
// none: a silence mutes an incident's opening. The incident package reports the changes of a
// silenced incident only when it has been reported before; this also covers incidents stored
// before it kept track, and ones silenced before their first card went out. An incident with
// proposals still gets its card, which carries their buttons.
func muteNewCard(v view) bool {
	return v.inc != nil && v.inc.Silenced != "" && len(v.props) == 0
}

type cardRecord struct {
	Ref     Ref             `json:"ref"`
	Group   string          `json:"group,omitempty"`   // the grouped card this incident is shown on
	Members []string        `json:"members,omitempty"` // for a grouped card: its incidents
	Posted  map[string]bool `json:"posted,omitempty"`  // proposals whose output went to the thread
}

func recordKey(key string, t Target) string { return "cards/" + key + "/" + t.Adapter.Name() }

func (n *Notifier) hasCard(ctx context.Context, t Target, key string) bool {
	_, err := n.o.Store.Get(ctx, recordKey(key, t))
	return err == nil
}

func (n *Notifier) getRecord(ctx context.Context, key string) (cardRecord, bool, error) {
	var rec cardRecord
	kv, err := n.o.Store.Get(ctx, key)
	if errors.Is(err, store.ErrNotFound) {
		return rec, false, nil
	}
	if err != nil {
		return rec, false, err
	}
	if err := json.Unmarshal(kv.Value, &rec); err != nil {
		return rec, false, fmt.Errorf("card record %s: %w", key, err)
	}
	return rec, true, nil
}

func (n *Notifier) putRecord(ctx context.Context, key string, rec cardRecord) error {
	b, _ := json.Marshal(rec)
	_, err := n.o.Store.Put(ctx, key, b)
	return err
}

// withPNG reads the chart so the adapter can upload it with a new card.
func (n *Notifier) withPNG(ctx context.Context, m Message) Message {
	if m.Image == nil || m.Image.Path == "" {
		return m
	}
	png, err := os.ReadFile(m.Image.Path)
	if err != nil {
		n.log.WarnContext(ctx, "chart not attached", "path", m.Image.Path, obs.KeyErr, err)
		return m
	}
	img := *m.Image
	img.PNG = png
	m.Image = &img
	return m
}

func (n *Notifier) deliver(ctx context.Context, t Target, v view) error {
	rkey := recordKey(v.key, t)
	rec, ok, err := n.getRecord(ctx, rkey)
	if err != nil {
		return err
	}
	switch {
	case ok && rec.Group != "":
		return n.updateGroup(ctx, t, rec.Group)
	case ok:
		if err := t.Adapter.Update(ctx, rec.Ref, v.msg); err != nil {
			return err
		}
	default:
		ref, err := t.Adapter.Post(ctx, t.channel(v.sev, v.labels), n.withPNG(ctx, v.msg))
		switch {
		case err != nil && errors.Is(err, ErrImageUpload) && ref != (Ref{}):
			// The card is up without its chart. Keep its Ref, or the next change would post
			// a second card with a second set of buttons.
			n.log.WarnContext(ctx, "card posted without its chart", "adapter", t.Adapter.Name(), obs.KeyErr, err)
		case err != nil:
			return err
		}
		rec.Ref = ref
	}
	if err := n.threadOutputs(ctx, t, &rec, v.props); err != nil {
		return err
	}
	return n.putRecord(ctx, rkey, rec)
}

// threadOutputs posts the output of each finished proposal once into the card's thread.
func (n *Notifier) threadOutputs(ctx context.Context, t Target, rec *cardRecord, props []remediation.Proposal) error {
	if rec.Posted == nil {
		rec.Posted = map[string]bool{}
	}
	for _, p := range props {
		if !p.State.Final() || rec.Posted[p.ID] {
			continue
		}
		switch p.State {
		case remediation.StateSucceeded, remediation.StateFailed, remediation.StateUnknown, remediation.StateVoid:
			if _, err := t.Adapter.PostThread(ctx, rec.Ref, threadMessage(p)); err != nil {
				return err
			}
		}
		rec.Posted[p.ID] = true
	}
	return nil
}

// postGroup posts one card for several new incidents.
func (n *Notifier) postGroup(ctx context.Context, t Target, channel string, vs []view) error {
	gid := "group-" + vs[0].key
	msg := GroupCard(items(vs))
	ref, err := t.Adapter.Post(ctx, channel, msg)
	if err != nil {
		return err
	}
	grec := cardRecord{Ref: ref}
	for _, v := range vs {
		grec.Members = append(grec.Members, v.key)
		if err := n.putRecord(ctx, recordKey(v.key, t), cardRecord{Ref: ref, Group: gid}); err != nil {
			return err
		}
	}
	var props []remediation.Proposal
	for _, v := range vs {
		props = append(props, v.props...)
	}
	if err := n.threadOutputs(ctx, t, &grec, props); err != nil {
		return err
	}
	return n.putRecord(ctx, recordKey(gid, t), grec)
}

func items(vs []view) []CardItem {
	out := make([]CardItem, len(vs))
	for i, v := range vs {
		out[i] = CardItem{Incident: *v.inc, Proposals: v.props}
	}
	return out
}

// updateGroup edits a grouped card to show the latest state of all its incidents.
func (n *Notifier) updateGroup(ctx context.Context, t Target, gid string) error {
	gkey := recordKey(gid, t)
	grec, ok, err := n.getRecord(ctx, gkey)
	if err != nil || !ok {
		return err
	}
	var vs []view
	var props []remediation.Proposal
	for _, m := range grec.Members {
		v, err := n.load(ctx, queued{key: m, job: job{incident: m}})
		if err != nil {
			return err
		}
		vs = append(vs, v)
		props = append(props, v.props...)
	}
	if err := t.Adapter.Update(ctx, grec.Ref, GroupCard(items(vs))); err != nil {
		return err
	}
	if err := n.threadOutputs(ctx, t, &grec, props); err != nil {
		return err
	}
	return n.putRecord(ctx, gkey, grec)
}

func threadMessage(p remediation.Proposal) Message {
	title := fmt.Sprintf("%s %s: %s", p.ID, p.State, p.Plan.Summary())
	body := p.Result
	if p.Error != "" {
		body = "error: " + p.Error
	}
	if p.Reason != "" {
		body = p.Reason
	}
	if p.Output != "" {
		body += "\n" + p.Output
	}
	return Message{Title: title, Text: body}
}

// Note posts m in the thread of the card for key (an incident or proposal ID) on every platform
// that shows it. Cards not posted yet get no note.
func (n *Notifier) Note(ctx context.Context, key string, m Message) error {
	var errs []error
	for _, t := range n.o.Targets {
		kv, err := n.o.Store.Get(ctx, "cards/"+key+"/"+t.Adapter.Name())
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
		if _, err := t.Adapter.PostThread(ctx, rec.Ref, m); err != nil {
			errs = append(errs, fmt.Errorf("%s: %w", t.Adapter.Name(), err))
		}
	}
	return errors.Join(errs...)
}
