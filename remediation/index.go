package remediation

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

// propIndex orders proposals by the time they were made, newest first: every proposal under
// proposal-index/by-time/, and by state under proposal-index/by-state/<state>/. (Not under
// proposals/, where every key is a proposal.) Its entries are written with the proposal (write)
// and deleted with it (Prune).
var propIndex = index.Index{
	Items:  proposalPrefix,
	Time:   "proposal-index/by-time/",
	State:  "proposal-index/by-state/",
	Marker: "proposal-index/version",
}

func entryOf(p Proposal) *index.Entry {
	return &index.Entry{ID: p.ID, At: p.CreatedAt, State: string(p.State)}
}

// indexOps are the index writes of storing p over the copy at rev (0: p is new). The stored
// copy's state is p.stored, as read by Get.
func indexOps(p Proposal, rev uint64) []store.Op {
	if rev == 0 || p.stored == "" {
		return propIndex.Ops(nil, entryOf(p))
	}
	was := entryOf(p)
	was.State = string(p.stored)
	return propIndex.Ops(was, entryOf(p))
}

// PageQuery asks for one page of proposals, newest first.
type PageQuery struct {
	States []State // any of these; none for every proposal
	After  string  // Page.Next of the previous page; "" for the first page
	Limit  int     // the most proposals the page holds, at least 1
}

// Page is one page of proposals, newest first by the time they were made.
type Page struct {
	Proposals []Proposal
	// Next is where the following page starts (PageQuery.After); "" when nothing is left. A page
	// may hold fewer than Limit proposals and still have a Next, when entries of proposals
	// deleted or changed meanwhile were skipped (see index.ScanSlack).
	Next string
}

// ListPage returns one page of proposals, reading only that page: the time-ordered index of each
// state asked for from q.After on, merged, then each proposal. A proposal made after the first
// page was read sorts before it, so following Next never shows one twice nor misses one that was
// there all along (unless it left the states asked for meanwhile).
func (mg *Manager) ListPage(ctx context.Context, q PageQuery) (Page, error) {
	iq := index.Query{After: q.After, Limit: q.Limit}
	for _, s := range q.States {
		if !slices.Contains(States, s) {
			return Page{}, fmt.Errorf("proposal state %q: want one of %v", s, States)
		}
		if !slices.Contains(iq.States, string(s)) {
			iq.States = append(iq.States, string(s))
		}
	}
	ps, next, err := index.Read(ctx, mg.o.Store, propIndex, iq, mg.load,
		func(p Proposal) bool { return len(q.States) == 0 || slices.Contains(q.States, p.State) })
	if err != nil {
		return Page{}, err
	}
	return Page{Proposals: ps, Next: next}, nil
}

// load reads proposal id; false when it is gone. A corrupt proposal is logged and reported gone,
// so one bad value never fails a whole list.
func (mg *Manager) load(ctx context.Context, id string) (Proposal, bool, error) {
	kv, err := mg.o.Store.Get(ctx, proposalPrefix+id)
	if errors.Is(err, store.ErrNotFound) {
		return Proposal{}, false, nil
	}
	if err != nil {
		return Proposal{}, false, err
	}
	p, err := decodeProposal(kv)
	if err != nil {
		mg.log.ErrorContext(ctx, "corrupt proposal skipped", "key", kv.Key, obs.KeyErr, err)
		return Proposal{}, false, nil
	}
	return p, true, nil
}

// decodeProposal reads a stored proposal, remembering the revision and state it was stored with.
func decodeProposal(kv store.KV) (Proposal, error) { return DecodeProposal(kv) }

// DecodeProposal reads a proposal as stored under StorePrefix, with its revision (Rev), as a
// store watch reports it.
func DecodeProposal(kv store.KV) (Proposal, error) {
	var p Proposal
	if err := json.Unmarshal(kv.Value, &p); err != nil {
		return Proposal{}, err
	}
	p.rev, p.stored = kv.Rev, p.State
	return p, nil
}

// EnsureIndex builds the time-ordered index of a store written before it existed, once; see
// index.Index.Ensure. It reports whether it had to, and what it did.
func (mg *Manager) EnsureIndex(ctx context.Context) (bool, index.Stats, error) {
	return propIndex.Ensure(ctx, mg.o.Store, mg.indexItems)
}

// RebuildIndex makes the time-ordered index match the stored proposals, whatever wrote them (a
// replica of an earlier version, a hand edit): see index.Index.Rebuild. It also gives pending
// proposals the expiry entries they lack (counted as written). It reads every proposal.
func (mg *Manager) RebuildIndex(ctx context.Context) (index.Stats, error) {
	// The entries first: a proposal made between the two reads then has its entry written
	// again, the same; one decided meanwhile gets an entry that ExpireDue drops when it is due.
	entries, err := mg.o.Store.List(ctx, expiryPrefix)
	if err != nil {
		return index.Stats{}, err
	}
	items, pending, err := mg.readItems(ctx)
	if err != nil {
		return index.Stats{}, err
	}
	stats, err := propIndex.Rebuild(ctx, mg.o.Store, items)
	if err != nil {
		return stats, err
	}
	n, err := store.WriteAll(ctx, mg.o.Store, expiryMends(pending, entries))
	stats.Written += n
	return stats, err
}

// indexItems reads every stored proposal as the index sees it.
func (mg *Manager) indexItems(ctx context.Context) ([]index.Item, error) {
	items, _, err := mg.readItems(ctx)
	return items, err
}

// readItems reads every stored proposal as the index sees it, and returns the pending ones too.
func (mg *Manager) readItems(ctx context.Context) ([]index.Item, []Proposal, error) {
	kvs, err := mg.o.Store.List(ctx, proposalPrefix)
	if err != nil {
		return nil, nil, err
	}
	var pending []Proposal
	items := make([]index.Item, 0, len(kvs))
	for _, kv := range kvs {
		id := strings.TrimPrefix(kv.Key, proposalPrefix)
		p, err := decodeProposal(kv)
		if err != nil {
			mg.log.WarnContext(ctx, "corrupt proposal left out of the index", "key", kv.Key, obs.KeyErr, err)
			items = append(items, index.Item{Entry: index.Entry{ID: id}, Rev: kv.Rev, Opaque: true})
			continue
		}
		items = append(items, index.Item{Entry: index.Entry{ID: id, At: p.CreatedAt, State: string(p.State)}, Rev: kv.Rev})
		if p.State == StatePending {
			pending = append(pending, p)
		}
	}
	return items, pending, nil
}
