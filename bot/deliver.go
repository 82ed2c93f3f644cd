package bot

import (
	"cmp"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"reflect"
	"slices"
	"strings"
	"sync"
	"time"

	"github.com/smartcloudops/smartcloudops/incident"
	"github.com/smartcloudops/smartcloudops/internal/obs"
	"github.com/smartcloudops/smartcloudops/internal/store"
	"github.com/smartcloudops/smartcloudops/remediation"
)

// retryAfter is how long a card whose post or edit failed waits before the next try, unless a
// change comes first.
const retryAfter = 30 * time.Second

// threadBatchMax is how many finished proposals one thread reply of a grouped card lists.
const threadBatchMax = 20

// chartState is what a card's chart shows.
type chartState struct {
	of    string    // the incident charted
	at    time.Time // when it was drawn
	seen  time.Time // the incident's latest point then
	final bool      // drawn after the episode ended
}

// delivery is one card about to be posted or edited in a pass.
type delivery struct {
	c     *card
	items []CardItem
	drew  bool // its chart was drawn for this delivery
}

// deliverDue posts and edits the cards that are due (all that have something to show, with
// force), in the order they were created. It draws the charts they need first, on the chart
// workers.
func (n *Notifier) deliverDue(ctx context.Context, now time.Time, force bool) {
	var ds []*delivery
	for _, c := range n.cards.byRecord {
		if !c.due.IsZero() && (force || !now.Before(c.due)) {
			ds = append(ds, &delivery{c: c})
		}
	}
	slices.SortFunc(ds, func(a, b *delivery) int {
		return cmp.Or(a.c.due.Compare(b.c.due), cmp.Compare(a.c.seq, b.c.seq))
	})
	for _, d := range ds {
		d.c.due = time.Time{}
		if d.c.proposal == "" {
			items, err := n.itemsOf(ctx, d.c)
			if err != nil {
				n.log.ErrorContext(ctx, "card not rendered", "card", d.c.id, obs.KeyErr, err)
				d.c.due = now.Add(retryAfter)
				continue
			}
			d.items = items
		}
	}
	n.drawCharts(ctx, ds, now)
	for _, d := range ds {
		if d.c.proposal == "" && d.items == nil {
			continue
		}
		if err := n.deliver(ctx, d, now); err != nil {
			n.log.ErrorContext(ctx, "card not delivered", "card", d.c.id, obs.KeyPlatform, d.c.t.Adapter.Name(), obs.KeyErr, err)
			d.c.due = now.Add(retryAfter)
		}
	}
}

// drawCharts draws, on at most ChartWorkers goroutines, the charts of the cards about to go
// out that need one: the chart of a card's worst member when the card is new, when its worst
// member changed, when that member's episode has ended, and otherwise at most every ChartEvery
// while new points arrive.
func (n *Notifier) drawCharts(ctx context.Context, ds []*delivery, now time.Time) {
	if n.o.Chart == nil {
		return
	}
	type draw struct {
		d    *delivery
		inc  incident.Incident
		path string
	}
	var todo []*draw
	for _, d := range ds {
		w, ok := worst(d.items)
		if !ok || w.Incident.Source != incident.SourceDetector {
			continue
		}
		w, err := n.fill(ctx, w, keptTrimmed)
		if err != nil {
			n.log.WarnContext(ctx, "chart not drawn", "card", d.c.id, obs.KeyIncident, w.Incident.ID, obs.KeyErr, err)
			continue
		}
		inc, st := w.Incident, d.c.chart
		over := inc.State == incident.StateResolved
		if !d.c.posted() || st.of != inc.ID || (over && !st.final) ||
			(!over && now.Sub(st.at) >= n.o.ChartEvery && inc.LastSeen.After(st.seen)) {
			todo = append(todo, &draw{d: d, inc: inc})
		}
	}
	sem := make(chan struct{}, n.o.ChartWorkers)
	var wg sync.WaitGroup
	for _, dr := range todo {
		wg.Add(1)
		sem <- struct{}{}
		go func() {
			defer wg.Done()
			defer func() { <-sem }()
			dr.path = n.o.Chart(dr.inc)
		}()
	}
	wg.Wait()
	for _, dr := range todo {
		n.m.charts.Inc()
		inc := dr.inc
		dr.d.drew = true
		dr.d.c.chart = chartState{of: inc.ID, at: now, seen: inc.LastSeen, final: inc.State == incident.StateResolved}
		if dr.path == inc.ChartPath {
			continue
		}
		path := dr.path
		if _, err := n.o.Incidents.Update(ctx, inc.ID, func(i *incident.Incident) { i.ChartPath = path }); err != nil {
			n.log.WarnContext(ctx, "chart path not recorded", obs.KeyIncident, inc.ID, obs.KeyErr, err)
		}
		n.setChartPath(inc.ID, path)
		for _, d := range ds {
			for i := range d.items {
				if d.items[i].Incident.ID == inc.ID {
					d.items[i].Incident.ChartPath = path
				}
			}
		}
	}
}

func (n *Notifier) setChartPath(id, path string) {
	if it, ok := n.cards.items[id]; ok {
		it.Incident.ChartPath = path
		n.cards.items[id] = it
	}
}

// message is what card c shows now.
func (n *Notifier) message(ctx context.Context, d *delivery) (Message, []remediation.Proposal, error) {
	c := d.c
	if c.proposal != "" {
		if c.lone == nil {
			p, err := n.o.Proposals.Get(ctx, c.proposal)
			if err != nil {
				return Message{}, nil, err
			}
			c.lone = &p
		}
		return ProposalCard(*c.lone), []remediation.Proposal{*c.lone}, nil
	}
	var finished []remediation.Proposal // for the thread
	for _, it := range d.items {
		for _, p := range it.Proposals {
			if p.State.Final() {
				finished = append(finished, p)
			}
		}
	}
	if len(d.items) == 1 {
		it, err := n.fill(ctx, d.items[0], keptWhole)
		if err != nil {
			return Message{}, nil, err
		}
		return IncidentCard(it.Incident, it.Proposals), finished, nil
	}
	// d.items is this delivery's own list: its members are filled in place.
	order := worstFirst(d.items)
	n.fillShown(ctx, c, d.items, order)
	return groupCard(Group{ID: c.id, Key: c.rec.KeyFields, Items: d.items}, order), finished, nil
}

// fillShown fills (see fill), in place, what grouped card c shows in full of its members items,
// listed in order (see worstFirst): its worst groupShown members, and the first proposal of each
// plan it offers to approve all at once. A member that cannot be filled is shown as kept, and the
// failure logged.
func (n *Notifier) fillShown(ctx context.Context, c *card, items []CardItem, order []int) {
	for _, i := range order[:min(len(order), groupShown)] {
		it, err := n.fill(ctx, items[i], keptTrimmed)
		if err != nil {
			n.log.WarnContext(ctx, "card member shown as kept in memory", "card", c.id, obs.KeyIncident, items[i].Incident.ID, obs.KeyErr, err)
			continue
		}
		items[i] = it
	}
	for _, o := range planOffers(items, order) {
		props := slices.Clone(items[o.item].Proposals)
		if err := n.fillProposal(ctx, &props[o.proposal]); err != nil {
			n.log.WarnContext(ctx, "plan of an offer to approve all shown as kept in memory", "card", c.id, obs.KeyProposal, props[o.proposal].ID, obs.KeyErr, err)
			continue
		}
		items[o.item].Proposals = props
	}
}

// deliver posts or edits one card, posts what belongs in its thread and records it.
func (n *Notifier) deliver(ctx context.Context, d *delivery, now time.Time) error {
	c, t := d.c, d.c.t
	msg, props, err := n.message(ctx, d)
	if err != nil {
		return err
	}
	over := c.proposal == "" && len(c.open) == 0
	switch {
	case !c.posted():
		ref, err := t.Adapter.Post(ctx, c.rec.Channel, n.withPNG(ctx, msg))
		switch {
		case err != nil && errors.Is(err, ErrImageUpload) && ref != (Ref{}):
			// The card is up without its chart. Keep its Ref, or the next change would post
			// a second card with a second set of buttons.
			n.log.WarnContext(ctx, "card posted without its chart", obs.KeyPlatform, t.Adapter.Name(), obs.KeyErr, err)
		case err != nil:
			return err
		}
		n.m.sent.WithLabelValues(t.Adapter.Name(), opPost).Inc()
		c.rec.Ref = ref
		c.fresh = slices.Clone(c.rec.Members)
	case d.drew || c.last == nil || !reflect.DeepEqual(msg, *c.last):
		edit := msg
		if d.drew {
			edit = n.withPNG(ctx, msg)
		}
		if err := t.Adapter.Update(ctx, c.rec.Ref, edit); err != nil {
			return err
		}
		n.m.sent.WithLabelValues(t.Adapter.Name(), opEdit).Inc()
		if d.drew && over && !t.EditsImages && c.chart.final {
			n.finalChart(ctx, c, msg)
		}
	}
	c.last, c.lastEdit, c.loaded = &msg, now, false
	for _, it := range d.items {
		c.shown[it.Incident.ID] = sigOf(it)
	}
	if err := n.threadOutputs(ctx, c, props); err != nil {
		return err
	}
	return n.record(ctx, c, over)
}

// finalChart posts the chart of a finished episode in the card's thread, for platforms whose
// edits cannot replace a card's image.
func (n *Notifier) finalChart(ctx context.Context, c *card, msg Message) {
	if msg.Image == nil {
		return
	}
	m := n.withPNG(ctx, Message{Text: "The whole episode: " + strings.TrimPrefix(msg.Title, "Resolved: "), Image: msg.Image})
	if _, err := c.t.Adapter.PostThread(ctx, c.rec.Ref, m); err != nil {
		n.log.WarnContext(ctx, "final chart not posted", "card", c.id, obs.KeyPlatform, c.t.Adapter.Name(), obs.KeyErr, err)
		return
	}
	n.m.sent.WithLabelValues(c.t.Adapter.Name(), opThread).Inc()
}

// record writes the records of members that joined since, then the card's record and its place
// among the open groups in one transaction. The members of a storm's card may be thousands:
// theirs are written first, in transactions within etcd's limits; a member record is only ever
// written with the same content, so one left by a stop before the card's own is harmless. A
// group whose members are all resolved is closed: new incidents of its key start a new card,
// and it leaves memory.
func (n *Notifier) record(ctx context.Context, c *card, over bool) error {
	members := make([]store.Op, 0, len(c.fresh))
	for _, m := range c.fresh {
		if m == c.id {
			continue // a card from before groups is its own member's record
		}
		b, _ := json.Marshal(cardRecord{Ref: c.rec.Ref, Group: c.id})
		members = append(members, store.Op{Key: recordKey(m, c.t), Value: b})
	}
	if _, err := store.WriteAll(ctx, n.o.Store, members); err != nil {
		return fmt.Errorf("record the members of card %s: %w", c.id, err)
	}
	ops := make([]store.Op, 0, 2)
	closing := over && c.grouped() && !c.rec.Closed
	if closing {
		c.rec.Closed = true
	}
	ak := ""
	if c.rec.Key != "" {
		ak = activeKey(c.t.Adapter.Name(), c.rec.Channel, c.rec.Key)
	}
	switch {
	case ak != "" && closing:
		ops = append(ops, store.Op{Key: ak, Delete: true})
	case ak != "" && !c.rec.Closed && !c.indexed:
		ops = append(ops, store.Op{Key: ak, Value: []byte(c.id)})
	}
	// A storm card's members beyond the record's own go in chunks before it; only the chunks
	// that members joined since the last record changed are written again.
	rops := recordOps(c.rkey, c.rec, len(c.rec.Members)-len(c.fresh))
	if _, err := store.WriteAll(ctx, n.o.Store, rops[:len(rops)-1]); err != nil {
		return fmt.Errorf("record the members of card %s: %w", c.id, err)
	}
	ops = append(ops, rops[len(rops)-1])
	if _, err := n.o.Store.Txn(ctx, nil, ops); err != nil {
		return fmt.Errorf("record card %s: %w", c.id, err)
	}
	c.fresh, c.indexed = nil, ak != "" && !c.rec.Closed
	if closing || (over && !c.grouped()) || (c.lone != nil && c.lone.State.Final()) {
		n.forget(c)
	}
	return nil
}

// withPNG reads the chart so the adapter can upload it with the card.
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

// threadOutputs posts the output of each finished proposal once into the card's thread; a
// grouped card gets one reply per edit for all the proposals that finished since the last.
func (n *Notifier) threadOutputs(ctx context.Context, c *card, props []remediation.Proposal) error {
	if c.rec.Posted == nil {
		c.rec.Posted = map[string]bool{}
	}
	var done []remediation.Proposal
	for _, p := range props {
		if !p.State.Final() || c.rec.Posted[postedKey(p)] {
			continue
		}
		switch p.State {
		case remediation.StateSucceeded, remediation.StateFailed, remediation.StateUnknown, remediation.StateVoid:
			done = append(done, p)
		default:
			c.rec.Posted[postedKey(p)] = true
		}
	}
	if len(done) == 0 {
		return nil
	}
	for i := range done {
		if err := n.fillProposal(ctx, &done[i]); err != nil {
			return err
		}
	}
	var msgs []Message
	if len(c.rec.Members) <= 1 || len(done) == 1 {
		for _, p := range done {
			msgs = append(msgs, threadMessage(p))
		}
	} else {
		msgs = append(msgs, threadSummary(done))
	}
	for _, m := range msgs {
		if _, err := c.t.Adapter.PostThread(ctx, c.rec.Ref, m); err != nil {
			return err
		}
		n.m.sent.WithLabelValues(c.t.Adapter.Name(), opThread).Inc()
	}
	for _, p := range done {
		c.rec.Posted[postedKey(p)] = true
	}
	return nil
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

// threadSummary is one reply for several finished proposals of a grouped card: a line each,
// up to threadBatchMax.
func threadSummary(ps []remediation.Proposal) Message {
	count := map[remediation.State]int{}
	var lines []string
	for i, p := range ps {
		count[p.State]++
		if i == threadBatchMax {
			lines = append(lines, fmt.Sprintf("… and %d more; see `proposals all`", len(ps)-threadBatchMax))
		}
		if i >= threadBatchMax {
			continue
		}
		what := p.Result
		if p.Error != "" {
			what = "error: " + p.Error
		}
		if p.Reason != "" {
			what = p.Reason
		}
		lines = append(lines, fmt.Sprintf("%s %s: %s — %s", p.ID, p.State, p.Plan.Summary(), firstLine(what)))
	}
	var parts []string
	for _, s := range remediation.States {
		if c := count[s]; c > 0 {
			parts = append(parts, fmt.Sprintf("%d %s", c, s))
		}
	}
	return Message{Title: fmt.Sprintf("%d proposals finished: %s", len(ps), strings.Join(parts, ", ")), Text: strings.Join(lines, "\n")}
}

func firstLine(s string) string {
	s, _, _ = strings.Cut(s, "\n")
	return s
}

// postedKey names what the thread has been told of a proposal's end: its outcome, and once more
// when an unknown outcome was settled later (by the bot or a person), so the settling reaches
// the thread too.
func postedKey(p remediation.Proposal) string {
	if p.Resolution != nil && p.State != remediation.StateUnknown {
		return p.ID + ":settled"
	}
	return p.ID
}
