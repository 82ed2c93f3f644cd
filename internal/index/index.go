// Package index keeps the time-ordered indexes of the items the domain stages store, incidents
// (package incident) and proposals (package remediation), so that a list shows one page by
// reading only that page: the index entries from a position on, then each item by its key. It
// sits beside the store (internal/store), under the stages that own the items, and knows nothing
// of an item but its ID, the time it sorts by and its state.
//
// Every item has an entry <Time><pos> whose value is the item's state, where pos (Pos) sorts
// newest first and ends with the item's ID; an index with a State prefix also keeps an entry
// <State><state>/<pos> per item, so a list of one state reads only that state's entries. The
// entries are written in the same transaction as the item (Ops) and deleted with it. Without
// state entries, a list of some states reads the time entries and skips, by their value, those
// of other states without reading the items.
//
// A store written before the index existed gets it at start-up from Ensure, which records the
// index's version under Marker once it is whole; Rebuild, which Ensure runs, also mends an index
// that drifted from its items. Reading trusts no entry blindly: an entry whose item is gone, or
// no longer in the state asked for, is skipped (Read).
package index

import (
	"context"
	"fmt"
	"math"
	"strconv"
	"strings"
	"time"

	"github.com/smartcloudops/smartcloudops/internal/store"
)

// Version is the layout of the index this build writes; Ensure rebuilds an index recorded with
// another version.
const Version = "1"

// Index names where one kind of item and its entries live in the store.
type Index struct {
	Items  string // prefix of the items, followed by the ID: "incidents/by-id/"
	Time   string // prefix of the entries of every item: "incidents/by-time/"
	State  string // prefix of the entries by state, followed by the state and "/": "incidents/by-state/"
	Marker string // key recording the Version of the index the store holds
}

// Entry is what the index records of an item: its ID, the time it sorts by (which never changes)
// and its state.
type Entry struct {
	ID    string
	At    time.Time
	State string
}

// posTimeLen is the length of the time part of a position: 16 hexadecimal digits.
const posTimeLen = 16

// Pos is the position of an item in an index: its time, encoded so that newer times sort first
// as strings, a slash, and its ID, which orders items of the same time. Times before 1970 sort
// as 1970 and times after 2262 as 2262.
func Pos(at time.Time, id string) string {
	var n int64
	switch {
	case at.Unix() < 0:
		n = 0
	case at.Unix() >= math.MaxInt64/int64(time.Second):
		n = math.MaxInt64
	default:
		n = at.UnixNano()
	}
	hex := strconv.FormatUint(uint64(math.MaxInt64-n), 16)
	return strings.Repeat("0", posTimeLen-len(hex)) + hex + "/" + id
}

// maxIDLen bounds the ID in a position read from outside (a cursor).
const maxIDLen = 128

// ValidPos reports whether s is a position as Pos makes them, so a position taken from outside
// (a client's cursor) is never read as anything else.
func ValidPos(s string) bool {
	if len(s) < posTimeLen+2 || s[posTimeLen] != '/' {
		return false
	}
	for _, c := range []byte(s[:posTimeLen]) {
		if (c < '0' || c > '9') && (c < 'a' || c > 'f') {
			return false
		}
	}
	id := s[posTimeLen+1:]
	if len(id) > maxIDLen {
		return false
	}
	for _, c := range []byte(id) {
		if c <= ' ' || c == '/' || c == 0x7f {
			return false
		}
	}
	return true
}

// idOf is the ID at the end of an entry's key or position.
func idOf(key string) string { return key[strings.LastIndexByte(key, '/')+1:] }

func (x Index) timeKey(e Entry) string  { return x.Time + Pos(e.At, e.ID) }
func (x Index) stateKey(e Entry) string { return x.State + e.State + "/" + Pos(e.At, e.ID) }

// Ops are the index writes that go with a change of an item from old to cur, to be written in
// the item's own transaction: old nil for an item being created, cur nil for one being deleted.
// A change that moves neither its time nor its state writes nothing.
func (x Index) Ops(old, cur *Entry) []store.Op {
	var ops []store.Op
	put := func(k, state string) { ops = append(ops, store.Op{Key: k, Value: []byte(state)}) }
	del := func(k string) { ops = append(ops, store.Op{Key: k, Delete: true}) }
	switch {
	case old == nil && cur == nil:
	case old == nil:
		put(x.timeKey(*cur), cur.State)
		if x.State != "" {
			put(x.stateKey(*cur), cur.State)
		}
	case cur == nil:
		del(x.timeKey(*old))
		if x.State != "" {
			del(x.stateKey(*old))
		}
	default:
		was, now := x.timeKey(*old), x.timeKey(*cur)
		if was != now {
			del(was)
		}
		if was != now || old.State != cur.State {
			put(now, cur.State)
		}
		if was, now := x.stateKey(*old), x.stateKey(*cur); x.State != "" && was != now {
			del(was)
			put(now, cur.State)
		}
	}
	return ops
}

// Count returns how many items the index records in state, from its state entries alone (short
// keys and values, no item), so that a gauge of items by state costs a scan of small keys, not
// a read and decoding of every item.
func Count(ctx context.Context, st store.Store, x Index, state string) (int, error) {
	return store.Count(ctx, st, x.State+state+"/")
}

// Query asks for one page of an index, newest first.
type Query struct {
	// States keeps the items in any of these states, read from their state indexes; none reads
	// the index of every item.
	States []string
	// After is the position to continue after (the next position of the previous page); "" starts
	// from the newest item.
	After string
	// Limit is the most items the page holds; at least 1.
	Limit int
}

// ScanSlack is how many more entries than Limit a page examines at most. Entries are skipped when
// their item is in another state, is gone, or is no longer in the state its entry says; when that
// many were skipped, the page ends early, with fewer items (perhaps none) and a next position to
// continue from. Skipping by an entry's value reads no item, so a scan costs little per entry.
const ScanSlack = 10000

// maxBatch bounds how many entries one read of the store returns.
const maxBatch = 1024

// Read returns one page of items and the position to continue after, "" when nothing is left.
// It reads the entries after q.After (the state entries of each of q.States, merged in position
// order, or, without state entries, the time entries of those states), loads each item with
// load, which reports false for an item that is gone (or cannot be read), and keeps it if keep
// accepts it: keep checks what the entry claimed, such as the state, against the item itself.
// An item met twice (it changed state between two reads) is taken once.
func Read[T any](ctx context.Context, st store.Store, x Index, q Query,
	load func(ctx context.Context, id string) (T, bool, error), keep func(T) bool) ([]T, string, error) {
	if q.Limit < 1 {
		return nil, "", fmt.Errorf("index: limit %d: want at least 1", q.Limit)
	}
	if q.After != "" && !ValidPos(q.After) {
		return nil, "", fmt.Errorf("index: %q is not a position", q.After)
	}
	var streams []*stream
	var match map[string]bool // the states to take from time entries; nil: every entry
	switch {
	case len(q.States) == 0:
		streams = append(streams, newStream(x.Time, q.After, q.Limit+1))
	case x.State != "":
		for _, s := range q.States {
			streams = append(streams, newStream(x.State+s+"/", q.After, q.Limit+1))
		}
	default:
		streams = append(streams, newStream(x.Time, q.After, q.Limit+1))
		match = map[string]bool{}
		for _, s := range q.States {
			match[s] = true
		}
	}
	var out []T
	last, scanned := "", 0
	for len(out) < q.Limit {
		e, ok, err := next(ctx, st, streams)
		if err != nil {
			return nil, "", err
		}
		if !ok {
			return out, "", nil
		}
		if scanned == q.Limit+ScanSlack {
			return out, last, nil
		}
		for _, s := range streams {
			if h, ok := s.peek(); ok && h.pos == e.pos {
				s.pop()
			}
		}
		scanned++
		last = e.pos
		if match != nil && !match[e.state] {
			continue
		}
		item, found, err := load(ctx, idOf(e.pos))
		if err != nil {
			return nil, "", err
		}
		if found && keep(item) {
			out = append(out, item)
		}
	}
	if _, more, err := next(ctx, st, streams); err != nil || !more {
		return out, "", err
	}
	return out, last, nil
}

// entry is an index entry as read: its position and the state it records.
type entry struct{ pos, state string }

// stream reads one index prefix a batch at a time, each batch twice the one before.
type stream struct {
	prefix string
	after  string // the key to read after
	batch  int
	buf    []entry // entries read and not yet taken
	done   bool    // nothing left in the store after buf
}

func newStream(prefix, after string, batch int) *stream {
	s := &stream{prefix: prefix, batch: min(batch, maxBatch)}
	if after != "" {
		s.after = prefix + after
	}
	return s
}

func (s *stream) fill(ctx context.Context, st store.Store) error {
	if len(s.buf) > 0 || s.done {
		return nil
	}
	p, err := st.ListPage(ctx, s.prefix, s.after, s.batch)
	if err != nil {
		return fmt.Errorf("read index %s: %w", s.prefix, err)
	}
	for _, kv := range p.KVs {
		s.buf = append(s.buf, entry{pos: strings.TrimPrefix(kv.Key, s.prefix), state: string(kv.Value)})
	}
	if n := len(p.KVs); n > 0 {
		s.after = p.KVs[n-1].Key
	}
	s.done = p.Next == "" || len(p.KVs) == 0
	s.batch = min(2*s.batch, maxBatch)
	return nil
}

func (s *stream) peek() (entry, bool) {
	if len(s.buf) == 0 {
		return entry{}, false
	}
	return s.buf[0], true
}

func (s *stream) pop() { s.buf = s.buf[1:] }

// next is the entry with the smallest position at the head of the streams.
func next(ctx context.Context, st store.Store, streams []*stream) (entry, bool, error) {
	var best entry
	found := false
	for _, s := range streams {
		if err := s.fill(ctx, st); err != nil {
			return entry{}, false, err
		}
		if e, ok := s.peek(); ok && (!found || e.pos < best.pos) {
			best, found = e, true
		}
	}
	return best, found, nil
}
