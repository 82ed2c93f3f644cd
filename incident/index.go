package incident

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"slices"
	"strings"

	"github.com/smartcloudops/smartcloudops/internal/index"
	"github.com/smartcloudops/smartcloudops/internal/obs"
	"github.com/smartcloudops/smartcloudops/internal/store"
)

// incIndex orders incidents by the time they opened, newest first, under incidents/by-time/;
// each entry's value is the incident's state. Its entries are written with the incident (prepare:
// one more write at opening and at resolution) and deleted with it (Prune). The open incidents
// are also known by their fingerprints (fpPrefix), which listOpen reads.
var incIndex = index.Index{
	Items:  incPrefix,
	Time:   "incidents/by-time/",
	Marker: "incidents/index-version",
}

func entryOf(inc Incident) *index.Entry {
	return &index.Entry{ID: inc.ID, At: inc.OpenedAt, State: inc.State}
}

// indexOps are the index writes of a change of an incident from before to after; isNew when it is
// being opened.
func indexOps(before, after Incident, isNew bool) []store.Op {
	if isNew {
		return incIndex.Ops(nil, entryOf(after))
	}
	return incIndex.Ops(entryOf(before), entryOf(after))
}

// PageQuery asks for one page of incidents, newest first.
type PageQuery struct {
	State string // StateOpen or StateResolved; "" for every incident
	After string // Page.Next of the previous page; "" for the first page
	Limit int    // the most incidents the page holds, at least 1
}

// Page is one page of incidents, newest first by the time they opened.
type Page struct {
	Incidents []Incident
	// Next is where the following page starts (PageQuery.After); "" when nothing is left. A page
	// may hold fewer than Limit incidents and still have a Next, when entries of incidents
	// deleted or changed meanwhile were skipped (see index.ScanSlack).
	Next string
}

// ListPage returns one page of incidents, reading only that page: the time-ordered index from
// q.After on, then each incident. An incident opened after the first page was read sorts before
// it, so following Next never shows an incident twice nor misses one that was there all along.
// Resolved incidents are read from the index, skipping the entries of open ones by their value;
// open ones from their fingerprints while there are few of them (see pageOpen).
func (m *Manager) ListPage(ctx context.Context, q PageQuery) (Page, error) {
	iq := index.Query{After: q.After, Limit: q.Limit}
	switch q.State {
	case "":
	case StateOpen:
		if pg, ok, err := m.pageOpen(ctx, q); err != nil || ok {
			return pg, err
		}
		iq.States = []string{q.State}
	case StateResolved:
		iq.States = []string{q.State}
	default:
		return Page{}, fmt.Errorf("incident state %q: want %s, %s or none", q.State, StateOpen, StateResolved)
	}
	incs, next, err := index.Read(ctx, m.o.Store, incIndex, iq, m.load,
		func(inc Incident) bool { return q.State == "" || inc.State == q.State })
	if err != nil {
		return Page{}, err
	}
	return Page{Incidents: incs, Next: next}, nil
}

// openPageMax is how many open incidents pageOpen reads whole. Beyond it, a page of open
// incidents is read from the index: in a storm the open incidents are the newest, at its head.
const openPageMax = 256

// pageOpen answers a page of open incidents from the fingerprints of the open ones, when there
// are at most openPageMax: it reads them all, which costs little, and finds every one however
// long ago it opened, where a scan of the index would pass over the entries of thousands of
// resolved incidents to reach an incident open for weeks. It reports false when there are more.
func (m *Manager) pageOpen(ctx context.Context, q PageQuery) (Page, bool, error) {
	if q.Limit < 1 || (q.After != "" && !index.ValidPos(q.After)) {
		return Page{}, false, nil // let index.Read refuse it
	}
	p, err := m.o.Store.ListPage(ctx, fpPrefix, "", openPageMax)
	if err != nil || p.Next != "" {
		return Page{}, false, err
	}
	type at struct {
		pos string
		inc Incident
	}
	var open []at
	for _, kv := range p.KVs {
		inc, ok, err := m.load(ctx, string(kv.Value))
		if err != nil {
			return Page{}, false, err
		}
		if pos := index.Pos(inc.OpenedAt, inc.ID); ok && inc.State == StateOpen && pos > q.After {
			open = append(open, at{pos, inc})
		}
	}
	slices.SortFunc(open, func(a, b at) int { return strings.Compare(a.pos, b.pos) })
	var pg Page
	for _, o := range open[:min(len(open), q.Limit)] {
		pg.Incidents = append(pg.Incidents, o.inc)
	}
	if len(open) > q.Limit {
		pg.Next = open[q.Limit-1].pos
	}
	return pg, true, nil
}

// load reads incident id, the routine update held in memory first; false when it is gone. A
// corrupt incident is logged and reported gone, so one bad value never fails a whole list.
func (m *Manager) load(ctx context.Context, id string) (Incident, bool, error) {
	m.mu.Lock()
	p, ok := m.pending[id]
	m.mu.Unlock()
	if ok {
		inc := clone(p)
		return inc, true, m.withProposals(ctx, &inc)
	}
	kv, err := m.o.Store.Get(ctx, incPrefix+id)
	if errors.Is(err, store.ErrNotFound) {
		return Incident{}, false, nil
	}
	if err != nil {
		return Incident{}, false, err
	}
	var inc Incident
	if err := json.Unmarshal(kv.Value, &inc); err != nil {
		m.log.ErrorContext(ctx, "corrupt incident skipped", "key", kv.Key, obs.KeyErr, err)
		return Incident{}, false, nil
	}
	return inc, true, m.withProposals(ctx, &inc)
}

// listOpen returns the open incidents, newest first, from the fingerprints of the open ones,
// which are written with the incidents themselves: a few reads, however many are stored.
func (m *Manager) listOpen(ctx context.Context) ([]Incident, error) {
	kvs, err := m.o.Store.List(ctx, fpPrefix)
	if err != nil {
		return nil, err
	}
	out := make([]Incident, 0, len(kvs))
	for _, kv := range kvs {
		inc, ok, err := m.load(ctx, string(kv.Value))
		if err != nil {
			return nil, err
		}
		if ok && inc.State == StateOpen {
			out = append(out, inc)
		}
	}
	slices.SortFunc(out, func(a, b Incident) int {
		if c := b.OpenedAt.Compare(a.OpenedAt); c != 0 {
			return c
		}
		return strings.Compare(a.ID, b.ID)
	})
	return out, nil
}

// EnsureIndex builds the time-ordered index of a store written before it existed, once; see
// index.Index.Ensure. It reports whether it had to, and what it did.
func (m *Manager) EnsureIndex(ctx context.Context) (bool, index.Stats, error) {
	return incIndex.Ensure(ctx, m.o.Store, m.indexItems)
}

// RebuildIndex makes the time-ordered index match the stored incidents, whatever wrote them (a
// replica of an earlier version, a hand edit): see index.Index.Rebuild. It reads every incident.
func (m *Manager) RebuildIndex(ctx context.Context) (index.Stats, error) {
	items, err := m.indexItems(ctx)
	if err != nil {
		return index.Stats{}, err
	}
	return incIndex.Rebuild(ctx, m.o.Store, items)
}

// indexItems reads every stored incident as the index sees it.
func (m *Manager) indexItems(ctx context.Context) ([]index.Item, error) {
	kvs, err := m.o.Store.List(ctx, incPrefix)
	if err != nil {
		return nil, err
	}
	items := make([]index.Item, 0, len(kvs))
	for _, kv := range kvs {
		id := strings.TrimPrefix(kv.Key, incPrefix)
		var inc Incident
		if err := json.Unmarshal(kv.Value, &inc); err != nil {
			m.log.WarnContext(ctx, "corrupt incident left out of the index", "key", kv.Key, obs.KeyErr, err)
			items = append(items, index.Item{Entry: index.Entry{ID: id}, Rev: kv.Rev, Opaque: true})
			continue
		}
		items = append(items, index.Item{Entry: index.Entry{ID: id, At: inc.OpenedAt, State: inc.State}, Rev: kv.Rev})
	}
	return items, nil
}
