package bot

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"os"
	"sync"

	"github.com/smartcloudops/smartcloudops/internal/incident"
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
	Logger    *slog.Logger
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

// Run renders queued cards until ctx ends, then drains what is queued.
func (n *Notifier) Run(ctx context.Context) error {
	for {
		n.mu.Lock()
		if len(n.order) == 0 {
			n.mu.Unlock()
			select {
			case <-ctx.Done():
				return nil
			case <-n.wake:
				continue
			}
		}
		key := n.order[0]
		n.order = n.order[1:]
		j := n.pending[key]
		delete(n.pending, key)
		n.mu.Unlock()
		jctx, _ := obs.EnsureCorrelation(context.WithoutCancel(ctx))
		if err := n.render(jctx, key, j); err != nil {
			n.log.ErrorContext(jctx, "card not delivered", "card", key, obs.KeyErr, err)
		}
	}
}

// Flush renders everything queued now (for tests and `detect once`).
func (n *Notifier) Flush(ctx context.Context) {
	for {
		n.mu.Lock()
		if len(n.order) == 0 {
			n.mu.Unlock()
			return
		}
		key := n.order[0]
		n.order = n.order[1:]
		j := n.pending[key]
		delete(n.pending, key)
		n.mu.Unlock()
		if err := n.render(ctx, key, j); err != nil {
			n.log.ErrorContext(ctx, "card not delivered", "card", key, obs.KeyErr, err)
		}
	}
}

type cardRecord struct {
	Ref    Ref             `json:"ref"`
	Posted map[string]bool `json:"posted,omitempty"` // proposals whose output went to the thread
}

func (n *Notifier) render(ctx context.Context, key string, j job) error {
	var msg Message
	var sev string
	var labels map[string]string
	var props []remediation.Proposal
	if j.incident != "" {
		inc, err := n.o.Incidents.Get(ctx, j.incident)
		if err != nil {
			return err
		}
		for _, id := range inc.Proposals {
			p, err := n.o.Proposals.Get(ctx, id)
			if err != nil {
				return err
			}
			props = append(props, p)
		}
		msg, sev, labels = IncidentCard(inc, props), inc.Severity, inc.Labels
	} else {
		p, err := n.o.Proposals.Get(ctx, j.proposal)
		if err != nil {
			return err
		}
		props = []remediation.Proposal{p}
		msg, sev = ProposalCard(p), "warning"
	}
	var errs []error
	for _, t := range n.o.Targets {
		if err := n.deliver(ctx, t, key, msg, sev, labels, props); err != nil {
			errs = append(errs, fmt.Errorf("%s: %w", t.Adapter.Name(), err))
		}
	}
	return errors.Join(errs...)
}

func (n *Notifier) deliver(ctx context.Context, t Target, key string, msg Message, sev string, labels map[string]string, props []remediation.Proposal) error {
	rkey := "cards/" + key + "/" + t.Adapter.Name()
	var rec cardRecord
	kv, err := n.o.Store.Get(ctx, rkey)
	switch {
	case errors.Is(err, store.ErrNotFound):
		if msg.Image != nil && msg.Image.Path != "" {
			png, err := os.ReadFile(msg.Image.Path)
			if err != nil {
				n.log.WarnContext(ctx, "chart not attached", "path", msg.Image.Path, obs.KeyErr, err)
			} else {
				img := *msg.Image
				img.PNG = png
				msg.Image = &img
			}
		}
		ref, err := t.Adapter.Post(ctx, t.channel(sev, labels), msg)
		if err != nil {
			return err
		}
		rec.Ref = ref
	case err != nil:
		return err
	default:
		if err := json.Unmarshal(kv.Value, &rec); err != nil {
			return fmt.Errorf("card record %s: %w", rkey, err)
		}
		if err := t.Adapter.Update(ctx, rec.Ref, msg); err != nil {
			return err
		}
	}
	if rec.Posted == nil {
		rec.Posted = map[string]bool{}
	}
	for _, p := range props {
		if !p.State.Final() || p.State == remediation.StatePending || rec.Posted[p.ID] {
			continue
		}
		if p.State == remediation.StateSucceeded || p.State == remediation.StateFailed || p.State == remediation.StateUnknown || p.State == remediation.StateVoid {
			if _, err := t.Adapter.PostThread(ctx, rec.Ref, threadMessage(p)); err != nil {
				return err
			}
		}
		rec.Posted[p.ID] = true
	}
	b, _ := json.Marshal(rec)
	_, err = n.o.Store.Put(ctx, rkey, b)
	return err
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
