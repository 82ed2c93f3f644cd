package bot

import (
	"context"
	"encoding/binary"
	"encoding/json"
	"errors"
	"fmt"
	"hash/maphash"
	"math"
	"slices"
	"strings"
	"time"

	"github.com/smartcloudops/smartcloudops/incident"
	"github.com/smartcloudops/smartcloudops/internal/obs"
	"github.com/smartcloudops/smartcloudops/internal/store"
	"github.com/smartcloudops/smartcloudops/remediation"
)

// cardRecord is what the store keeps of a card on one platform, under recordKey(id). A card's
// own record holds its Ref, its members and the proposals whose output went to its thread; a
// member incident's record names the card it is shown on (Group) and repeats its Ref, so notes
// reach the card by the incident's ID.
type cardRecord struct {
	Ref     Ref      `json:"ref"`
	Group   string   `json:"group,omitempty"`   // member record: the card showing this incident
	Members []string `json:"members,omitempty"` // card record: its incidents, in the order they joined
	// Chunks is how many chunks of memberChunk members follow Members under chunkKey, for a
	// card with more members than one value holds within etcd's limits (a storm's).
	Chunks    int             `json:"member_chunks,omitempty"`
	Posted    map[string]bool `json:"posted,omitempty"` // proposals whose output went to the thread
	Key       string          `json:"key,omitempty"`    // the group key, for a grouped card
	KeyFields []Field         `json:"key_fields,omitempty"`
	Channel   string          `json:"channel,omitempty"`
	Closed    bool            `json:"closed,omitempty"` // every member resolved: no one joins any more
}

func recordKey(key string, t Target) string { return "cards/" + key + "/" + t.Adapter.Name() }

// memberChunk is how many members a card's record holds, and each of its chunks after that: at
// most about 80 KB of IDs a value, so that a storm card of 100,000 members is kept in values and
// transactions within etcd's limits (1.5 MiB), where one list would not fit.
const memberChunk = 5000

// chunkKey is where chunk i (from 1) of the members of the card recorded under rkey is kept.
func chunkKey(rkey string, i int) string { return fmt.Sprintf("%s/members/%06d", rkey, i) }

// recordOps are the writes that store rec under rkey: the record with its first memberChunk
// members, and the chunks of the rest from the one that holds member from on (those before it
// are as stored already); the chunks come first, the record last.
func recordOps(rkey string, rec cardRecord, from int) []store.Op {
	all := rec.Members
	rec.Members, rec.Chunks = all[:min(len(all), memberChunk)], 0
	var ops []store.Op
	for i := 1; i*memberChunk < len(all); i++ {
		rec.Chunks = i
		if (i+1)*memberChunk <= from {
			continue
		}
		b, _ := json.Marshal(all[i*memberChunk : min(len(all), (i+1)*memberChunk)])
		ops = append(ops, store.Op{Key: chunkKey(rkey, i), Value: b})
	}
	b, _ := json.Marshal(rec)
	return append(ops, store.Op{Key: rkey, Value: b})
}

// card is a card on one platform as the notifier works on it. Its record is the truth in the
// store; the rest (what it showed, when it was edited, when it is due) lives in memory and
// starts empty after a restart, which makes the first change after it an immediate edit.
type card struct {
	rkey     string
	t        Target
	id       string // group ID, the proposal's ID for a lone proposal, or an incident's ID for a card from before groups
	proposal string // set for the card of a proposal without incident
	lone     *remediation.Proposal
	rec      cardRecord
	seq      int             // creation order, so cards go out in the order things happened
	fresh    []string        // members whose records are not written yet
	open     map[string]bool // members open now
	shown    map[string]memberSig
	last     *Message // what the card showed after its last post or edit
	lastEdit time.Time
	due      time.Time // when the next post or edit is due; zero when nothing is
	chart    chartState
	loaded   bool // read back from the store: what it shows is not known
	indexed  bool // its open group is recorded in the store
}

func (c *card) posted() bool { return c.rec.Ref != (Ref{}) }

// grouped reports whether the card is a group's card, which others may join while it is open.
func (c *card) grouped() bool { return c.rec.Key != "" || strings.HasPrefix(c.id, "g-") }

// schedule makes the card due at most d after its last edit (now when that has passed).
func (c *card) schedule(now time.Time, d time.Duration) {
	at := c.lastEdit.Add(d)
	if at.Before(now) {
		at = now
	}
	if c.due.IsZero() || at.Before(c.due) {
		c.due = at
	}
}

// memberSig is what a card shows of one member, split by how soon a change of it is shown; each
// part is hashed, as a storm card keeps one for each of its thousands of members.
type memberSig struct {
	state     uint64 // open or resolved, severity, title, chart
	proposals uint64 // each proposal with its state and approvals
	silenced  uint64
	routine   uint64 // the latest value, score and alerts
}

func sigOf(it CardItem) memberSig {
	inc := &it.Incident
	var h sigHasher
	h.SetSeed(sigSeed)
	var s memberSig
	h.str(inc.State).str(inc.Severity).str(inc.Title).str(inc.ChartPath)
	s.state = h.sum()
	s.silenced = h.str(inc.Silenced).sum()
	s.routine = h.num(inc.Value).num(inc.Score).num(inc.Peak).num(inc.PeakValue).num(float64(it.alertCount())).sum()
	for _, p := range it.Proposals {
		h.str(p.ID).str(string(p.State)).num(float64(len(p.Approvals)))
	}
	for _, r := range inc.Refusals {
		h.str("refused").str(r.Rule).str(r.Reason)
	}
	s.proposals = h.sum()
	return s
}

// sigHasher hashes the parts of a memberSig without building their text.
type sigHasher struct{ maphash.Hash }

func (h *sigHasher) str(s string) *sigHasher {
	h.WriteString(s)
	h.WriteByte(0)
	return h
}

func (h *sigHasher) num(f float64) *sigHasher {
	var b [8]byte
	binary.LittleEndian.PutUint64(b[:], math.Float64bits(f))
	h.Write(b[:])
	return h
}

// sum returns the hash of what was written since the last sum.
func (h *sigHasher) sum() uint64 {
	v := h.Sum64()
	h.Reset()
	return v
}

// stateEditGap is the least time between two edits of one card for changes of state, so that a
// burst of them (an approval, the run, its result; a rule proposing for every member of a
// storm) becomes one or two edits rather than one each.
const stateEditGap = 2 * time.Second

// cardSet is every card the notifier holds in memory, with the incidents waiting to join one.
type cardSet struct {
	byRecord map[string]*card // by record key
	byMember map[string]*card // by the record key of a member (or of a lone proposal)
	active   map[string]*card // open groups, by activeKey
	// unposted holds the open groups' cards not posted yet, by activeKey: only these can take
	// incidents that have not waited out the group's wait. It may keep cards that were posted
	// since, or replaced; place prunes them.
	unposted  map[string]*card
	waiting   map[string]time.Time // new incidents, by ID, with when they were first seen
	waitOrder []string
	items     map[string]CardItem // the latest incident and proposals of incidents on cards or waiting
	seq       int
}

func newCardSet() *cardSet {
	return &cardSet{byRecord: map[string]*card{}, byMember: map[string]*card{}, active: map[string]*card{},
		unposted: map[string]*card{}, waiting: map[string]time.Time{}, items: map[string]CardItem{}}
}

// process applies a batch of queued changes, gives waiting incidents their cards and makes the
// posts and edits that are due; with force, all of them at once. It reports whether it had
// changes to apply or incidents to place.
func (n *Notifier) process(ctx context.Context, batch []queued, force bool) bool {
	n.work.Lock()
	defer n.work.Unlock()
	now := n.o.Now()
	for _, q := range batch {
		if err := n.apply(ctx, q, now); err != nil {
			n.log.ErrorContext(ctx, "card not rendered", "card", q.key, obs.KeyErr, err)
		}
	}
	placed := n.place(ctx, now, force)
	n.deliverDue(ctx, now, force)
	return len(batch) > 0 || placed
}

// apply takes one queued change: the cards showing it are scheduled for an edit, and an
// incident without a card waits for one.
func (n *Notifier) apply(ctx context.Context, q queued, now time.Time) error {
	cs := n.cards
	if q.job.proposal != "" {
		p, err := n.o.Proposals.Get(ctx, q.job.proposal)
		if err != nil {
			return err
		}
		for _, t := range n.o.Targets {
			c, err := n.cardAt(ctx, t, p.ID, true)
			if err != nil {
				return err
			}
			if c == nil {
				c = n.newCard(t, p.ID, recordKey(p.ID, t), cardRecord{Channel: t.channel(string(SeverityWarning), nil)})
				cs.byMember[c.rkey] = c
			}
			c.proposal, c.lone = p.ID, &p
			gap := time.Duration(0)
			if c.posted() {
				gap = stateEditGap
			}
			c.schedule(now, gap)
		}
		return nil
	}
	it, err := n.reload(ctx, q.job)
	if err != nil {
		return err
	}
	id := it.Incident.ID
	it = n.hold(id, it)
	needs, shown := false, false
	for _, t := range n.o.Targets {
		c, err := n.cardAt(ctx, t, id, false)
		if err != nil {
			return err
		}
		if c != nil {
			n.touch(c, it, now)
			shown = true
			continue
		}
		needs = needs || !muteNewCard(it)
	}
	_, waiting := cs.waiting[id]
	switch {
	case needs && !waiting:
		cs.waiting[id] = now
		cs.waitOrder = append(cs.waitOrder, id)
	case !needs && !shown && !waiting:
		delete(cs.items, id) // muted and on no card: nothing to keep
	}
	return nil
}

// reload reads the incident of j with its proposals. Those held in memory stand, updated with
// the copies j's changes carried; only proposals the incident names and memory lacks are read
// (so a storm's proposals are not each read back as they are made, linked and decided). An
// incident not in memory is read with all its proposals, unless it has just opened: its
// proposals are then all reported after the opening, in j or in a later change. The incident
// itself is read only when j's copy of it, or the one in memory, may be out of date.
func (n *Notifier) reload(ctx context.Context, j job) (CardItem, error) {
	old, ok := n.cards.items[j.incident]
	if (!ok && !j.opened) || (j.props && len(j.changed) == 0) {
		return n.load(ctx, j.incident)
	}
	var it CardItem
	switch {
	case !ok && j.inc != nil:
		it.Incident = *j.inc
	case ok && j.proposalsOnly && current(old.Incident):
		it = old // as it is held: trimmed, or compact
	default:
		var err error
		if it.Incident, err = n.o.Incidents.Get(ctx, j.incident); err != nil {
			return CardItem{}, err
		}
	}
	inc := it.Incident
	props := slices.Clone(old.Proposals)
	for _, p := range j.changed {
		props = withLatest(props, p)
	}
	for _, id := range inc.Proposals {
		if slices.ContainsFunc(props, func(p remediation.Proposal) bool { return p.ID == id }) {
			continue
		}
		p, err := n.o.Proposals.Get(ctx, id)
		if err != nil {
			return CardItem{}, err
		}
		props = append(props, p)
	}
	slices.SortStableFunc(props, func(a, b remediation.Proposal) int { return a.CreatedAt.Compare(b.CreatedAt) })
	it.Proposals = props
	return it, nil
}

// current reports whether an incident held for a card is as stored, but for its proposal links
// and chart path, while no change of it is queued: every change of an incident that is not
// silenced is reported. A refusal is cleared without a report when its rule makes a proposal, so
// an incident that shows one is read again.
func current(inc incident.Incident) bool {
	return inc.Silenced == "" && len(inc.Refusals) == 0
}

// load reads an incident and its proposals.
func (n *Notifier) load(ctx context.Context, id string) (CardItem, error) {
	inc, err := n.o.Incidents.Get(ctx, id)
	if err != nil {
		return CardItem{}, err
	}
	props, err := n.o.Proposals.ForIncident(ctx, id)
	if err != nil {
		return CardItem{}, err
	}
	return CardItem{Incident: inc, Proposals: props}, nil
}

// muteNewCard reports whether an incident without a card on some platform yet is to get none:
// a silence mutes an incident's opening. The incident package reports the changes of a silenced
// incident only when it has been reported before; this also covers incidents stored before it
// kept track, and ones silenced before their first card went out. An incident with proposals
// still gets its card, which carries their buttons.
func muteNewCard(it CardItem) bool {
	return it.Incident.Silenced != "" && len(it.Proposals) == 0
}

// touch schedules card c for the change of its member it: at once for a change of state (at
// most every stateEditGap), after the group interval for one that only moves a grouped card's
// counts, and after EditEvery for a new value.
func (n *Notifier) touch(c *card, it CardItem, now time.Time) {
	id := it.Incident.ID
	wasOpen := c.open[id]
	if it.Incident.State == incident.StateOpen {
		c.open[id] = true
	} else {
		delete(c.open, id)
	}
	if !c.posted() {
		c.schedule(now, 0)
		return
	}
	old, known := c.shown[id]
	s := sigOf(it)
	single := len(c.rec.Members) <= 1
	switch {
	case !known && c.loaded:
		c.schedule(now, 0)
	case !known:
		c.schedule(now, n.o.Group.Interval)
	case old.proposals != s.proposals || old.silenced != s.silenced:
		c.schedule(now, stateEditGap)
	case wasOpen && len(c.open) == 0:
		c.schedule(now, stateEditGap) // the whole card is over
	case old.state != s.state && single:
		c.schedule(now, stateEditGap)
	case old.state != s.state:
		c.schedule(now, n.o.Group.Interval)
	case old.routine != s.routine:
		c.schedule(now, n.o.EditEvery)
	}
}

// place gives the incidents that have waited Group.Wait (all of them with force) their cards:
// each joins the open card of its group key in its channel, or starts one. As in Alertmanager,
// the wait is the group's: incidents still waiting whose key matches a card about to be posted
// go out on it too, so a storm that arrives over a few ticks starts one card.
func (n *Notifier) place(ctx context.Context, now time.Time, force bool) bool {
	cs := n.cards
	ready := 0
	for _, id := range cs.waitOrder {
		if !force && now.Before(cs.waiting[id].Add(n.o.Group.Wait)) {
			break // waitOrder is in arrival order
		}
		ready++
	}
	if ready == 0 {
		return false
	}
	placed := map[string]bool{}
	for _, id := range cs.waitOrder[:ready] {
		n.placeOne(ctx, id, now, false)
		placed[id] = true
	}
	// The others join a card only if it is still to be posted: a pass with none such (most
	// passes of a flood, whose group card went out long ago) leaves them waiting without
	// looking at each, which would make every pass cost as much as all that wait.
	for ak, c := range cs.unposted {
		if c.posted() || cs.active[ak] != c {
			delete(cs.unposted, ak)
		}
	}
	if len(cs.unposted) > 0 {
		for _, id := range cs.waitOrder[ready:] {
			if n.placeOne(ctx, id, now, true) {
				placed[id] = true
			}
		}
	}
	rest := cs.waitOrder[:0]
	for _, id := range cs.waitOrder {
		if placed[id] {
			delete(cs.waiting, id)
		} else {
			rest = append(rest, id)
		}
	}
	cs.waitOrder = rest
	return true
}

// placeOne puts incident id on its card on every platform; with onlyUnposted, only where its
// group's card is not posted yet, reporting whether it did so everywhere it needs a card.
func (n *Notifier) placeOne(ctx context.Context, id string, now time.Time, onlyUnposted bool) bool {
	cs := n.cards
	it, ok := cs.items[id]
	if !ok {
		return true
	}
	type spot struct {
		t  Target
		ak string
		c  *card
	}
	var spots []spot
	shown := false
	for _, t := range n.o.Targets {
		if onlyUnposted && !muteNewCard(it) {
			// Every pass asks this of every incident still waiting: look for a group card not
			// posted yet, in memory as a rule, before the store for a card of its own. Without one
			// it waits on, as it would below.
			key, _ := groupKey(n.o.Group.By, it)
			if c, err := n.activeCard(ctx, t, activeKey(t.Adapter.Name(), t.channel(it.Incident.Severity, it.Incident.Labels), key)); err == nil && (c == nil || c.posted()) {
				return false
			}
		}
		if c, err := n.cardAt(ctx, t, id, false); err != nil || c != nil {
			if err != nil {
				n.log.ErrorContext(ctx, "card not found", obs.KeyIncident, id, obs.KeyErr, err)
			}
			shown = true
			continue
		}
		if muteNewCard(it) {
			continue
		}
		ch := t.channel(it.Incident.Severity, it.Incident.Labels)
		key, fields := groupKey(n.o.Group.By, it)
		ak := activeKey(t.Adapter.Name(), ch, key)
		c, err := n.activeCard(ctx, t, ak)
		if err != nil {
			n.log.ErrorContext(ctx, "group card not found; starting a new one", obs.KeyIncident, id, obs.KeyErr, err)
		}
		if onlyUnposted && (c == nil || c.posted()) {
			return false
		}
		if c == nil {
			gid := newGroupID()
			c = n.newCard(t, gid, recordKey(gid, t), cardRecord{Key: key, KeyFields: fields, Channel: ch})
			cs.active[ak], cs.unposted[ak] = c, c
		}
		spots = append(spots, spot{t, ak, c})
	}
	if len(spots) == 0 && !shown {
		delete(cs.items, id) // silenced before its card went out
	}
	for _, s := range spots {
		s.c.rec.Members = append(s.c.rec.Members, id)
		s.c.fresh = append(s.c.fresh, id)
		cs.byMember[recordKey(id, s.t)] = s.c
		n.touch(s.c, it, now)
	}
	if len(spots) > 0 {
		n.hold(id, it) // compact, if the card it joined is a storm's
	}
	return true
}

func (n *Notifier) newCard(t Target, id, rkey string, rec cardRecord) *card {
	n.cards.seq++
	c := &card{rkey: rkey, t: t, id: id, rec: rec, seq: n.cards.seq, open: map[string]bool{}, shown: map[string]memberSig{}}
	n.cards.byRecord[rkey] = c
	return c
}

// cardAt returns the card that shows subject (an incident, or a proposal without incident when
// lone) on t: from memory, or read back from the store; nil when there is none.
func (n *Notifier) cardAt(ctx context.Context, t Target, subject string, lone bool) (*card, error) {
	mkey := recordKey(subject, t)
	if c, ok := n.cards.byMember[mkey]; ok {
		return c, nil
	}
	rec, ok, err := n.getRecord(ctx, mkey)
	if err != nil || !ok {
		return nil, err
	}
	if rec.Group == "" {
		if !lone && len(rec.Members) == 0 {
			rec.Members = []string{subject} // a card from before groups
		}
		return n.readBack(ctx, t, subject, mkey, rec, lone)
	}
	gkey := recordKey(rec.Group, t)
	if c, ok := n.cards.byRecord[gkey]; ok {
		n.cards.byMember[mkey] = c
		return c, nil
	}
	grec, ok, err := n.getRecord(ctx, gkey)
	if err != nil || !ok {
		return nil, err
	}
	return n.readBack(ctx, t, rec.Group, gkey, grec, false)
}

// activeCard returns the open card of a group key and channel on t, if any.
func (n *Notifier) activeCard(ctx context.Context, t Target, ak string) (*card, error) {
	if c, ok := n.cards.active[ak]; ok {
		return c, nil
	}
	kv, err := n.o.Store.Get(ctx, ak)
	if errors.Is(err, store.ErrNotFound) {
		return nil, nil
	}
	if err != nil {
		return nil, err
	}
	gid := string(kv.Value)
	gkey := recordKey(gid, t)
	if c, ok := n.cards.byRecord[gkey]; ok {
		return c, nil
	}
	rec, ok, err := n.getRecord(ctx, gkey)
	if err != nil || !ok || rec.Closed {
		return nil, err
	}
	return n.readBack(ctx, t, gid, gkey, rec, false)
}

// readBack makes a card of a stored record, with its members' latest state.
func (n *Notifier) readBack(ctx context.Context, t Target, id, rkey string, rec cardRecord, lone bool) (*card, error) {
	c := n.newCard(t, id, rkey, rec)
	c.loaded, c.indexed = true, rec.Key != ""
	if lone {
		c.proposal = id
		n.cards.byMember[rkey] = c
	}
	for _, m := range rec.Members {
		n.cards.byMember[recordKey(m, t)] = c
		it, err := n.item(ctx, m)
		if err != nil {
			return nil, err
		}
		if it.Incident.State == incident.StateOpen {
			c.open[m] = true
		}
	}
	if rec.Key != "" && !rec.Closed {
		ak := activeKey(t.Adapter.Name(), rec.Channel, rec.Key)
		n.cards.active[ak] = c
		if !c.posted() {
			n.cards.unposted[ak] = c
		}
	}
	return c, nil
}

// item returns the latest incident and proposals of a member, from memory or the store.
func (n *Notifier) item(ctx context.Context, id string) (CardItem, error) {
	if it, ok := n.cards.items[id]; ok {
		return it, nil
	}
	it, err := n.load(ctx, id)
	if err != nil {
		return it, err
	}
	return n.hold(id, it), nil
}

// nextDue is when the next incident has waited long enough or the next card is due; zero when
// nothing is.
func (n *Notifier) nextDue() time.Time {
	n.work.Lock()
	defer n.work.Unlock()
	var next time.Time
	if len(n.cards.waitOrder) > 0 {
		next = n.cards.waiting[n.cards.waitOrder[0]].Add(n.o.Group.Wait)
	}
	for _, c := range n.cards.byRecord {
		if !c.due.IsZero() && (next.IsZero() || c.due.Before(next)) {
			next = c.due
		}
	}
	return next
}

// forget drops a finished card from memory; a later change reads it back from the store.
func (n *Notifier) forget(c *card) {
	cs := n.cards
	delete(cs.byRecord, c.rkey)
	if c.proposal != "" {
		delete(cs.byMember, c.rkey)
	}
	for _, m := range c.rec.Members {
		mkey := recordKey(m, c.t)
		if cs.byMember[mkey] == c {
			delete(cs.byMember, mkey)
		}
		if _, waiting := cs.waiting[m]; !waiting && !n.shownElsewhere(m, c) {
			delete(cs.items, m)
		}
	}
	for k, a := range cs.active {
		if a == c {
			delete(cs.active, k)
		}
	}
}

// shownElsewhere reports whether incident m is on a card in memory other than c (on another
// platform).
func (n *Notifier) shownElsewhere(m string, c *card) bool {
	for _, t := range n.o.Targets {
		if o, ok := n.cards.byMember[recordKey(m, t)]; ok && o != c {
			return true
		}
	}
	return false
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
	for i := 1; i <= rec.Chunks; i++ {
		kv, err := n.o.Store.Get(ctx, chunkKey(key, i))
		if err != nil {
			return rec, false, fmt.Errorf("card record %s, members chunk %d of %d: %w", key, i, rec.Chunks, err)
		}
		var more []string
		if err := json.Unmarshal(kv.Value, &more); err != nil {
			return rec, false, fmt.Errorf("card record %s, members chunk %d of %d: %w", key, i, rec.Chunks, err)
		}
		rec.Members = append(rec.Members, more...)
	}
	rec.Chunks = 0
	return rec, true, nil
}

// items returns the card's members with their latest state, reading back those not in memory.
func (n *Notifier) itemsOf(ctx context.Context, c *card) ([]CardItem, error) {
	out := make([]CardItem, 0, len(c.rec.Members))
	for _, m := range c.rec.Members {
		it, err := n.item(ctx, m)
		if err != nil {
			return nil, err
		}
		out = append(out, it)
	}
	return out, nil
}

// worst is the member a card's chart shows: the one that most needs a person.
func worst(items []CardItem) (CardItem, bool) {
	if len(items) == 0 {
		return CardItem{}, false
	}
	w := 0
	for i := 1; i < len(items); i++ {
		if worse(&items[i].Incident, &items[w].Incident) > 0 {
			w = i
		}
	}
	return items[w], true
}
