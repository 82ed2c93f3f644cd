package index

import (
	"context"
	"errors"
	"fmt"
	"maps"

	"github.com/smartcloudops/smartcloudops/internal/store"
)

// Item is a stored item as Rebuild sees it: its entry and the store revision it was read at.
type Item struct {
	Entry
	Rev uint64
	// Opaque marks a stored item that could not be read (its value is corrupt): its entries, if
	// it has any, are left as they are.
	Opaque bool
}

// Stats says what Rebuild did.
type Stats struct {
	Items   int // items read
	Written int // entries written: missing, or recording another state
	Removed int // entries deleted
	// Skipped counts the items (or IDs of entries without an item) left as they were because
	// they were written while Rebuild ran; their writer keeps their entries.
	Skipped int
}

func (s Stats) String() string {
	return fmt.Sprintf("%d items, %d entries written, %d removed, %d skipped", s.Items, s.Written, s.Removed, s.Skipped)
}

// entries are the keys and values of an item's entries.
func (x Index) entries(e Entry) map[string]string {
	out := map[string]string{x.timeKey(e): e.State}
	if x.State != "" {
		out[x.stateKey(e)] = e.State
	}
	return out
}

// Rebuild makes the index hold exactly the entries of items, which must be every stored item
// with the revision it was read at: it writes the entries that are missing or record another
// state, and deletes the others (of items gone, or of a state an item has left). Each item's fix
// applies only while the item is still at the revision read (an item deleted, only while it is
// still absent), in transactions of at most store.MaxTxnOps writes, so an item changed meanwhile
// keeps the entries its writer gave it and is counted as skipped. Run again, it finds nothing to
// do; interrupted, it leaves every transaction it made, and a second run does the rest.
func (x Index) Rebuild(ctx context.Context, st store.Store, items []Item) (Stats, error) {
	stats := Stats{Items: len(items)}
	rev := make(map[string]uint64, len(items))
	want := make(map[string]string, 2*len(items)) // entry key → the state it records
	opaque := map[string]bool{}
	for _, it := range items {
		rev[it.ID] = it.Rev
		if it.Opaque {
			opaque[it.ID] = true
			continue
		}
		maps.Copy(want, x.entries(it.Entry))
	}
	fixes := map[string]*store.Removal{}
	var order []string
	fix := func(id string) *store.Removal {
		f, ok := fixes[id]
		if !ok {
			f = &store.Removal{Cmp: store.Cmp{Key: x.Items + id, Rev: rev[id]}}
			fixes[id] = f
			order = append(order, id)
		}
		return f
	}
	have := make(map[string]bool, 2*len(items))
	prefixes := []string{x.Time}
	if x.State != "" {
		prefixes = append(prefixes, x.State)
	}
	for _, prefix := range prefixes {
		kvs, err := st.List(ctx, prefix)
		if err != nil {
			return stats, fmt.Errorf("read index %s: %w", prefix, err)
		}
		for _, kv := range kvs {
			state, ok := want[kv.Key]
			if ok && string(kv.Value) == state {
				have[kv.Key] = true
				continue
			}
			id := idOf(kv.Key)
			if ok || opaque[id] {
				continue // written below with the state it should record; or left alone
			}
			f := fix(id)
			f.Ops = append(f.Ops, store.Op{Key: kv.Key, Delete: true})
		}
	}
	for _, it := range items {
		if it.Opaque {
			continue
		}
		for k, state := range x.entries(it.Entry) {
			if !have[k] {
				f := fix(it.ID)
				f.Ops = append(f.Ops, store.Op{Key: k, Value: []byte(state)})
			}
		}
	}
	rs := make([]store.Removal, len(order))
	for i, id := range order {
		rs[i] = *fixes[id]
	}
	// store.Remove applies each item's writes only while its comparison holds, batched within
	// etcd's limits and retried one by one after a conflict: what a fix needs, puts included.
	done, err := store.Remove(ctx, st, rs)
	for _, i := range done {
		for _, op := range rs[i].Ops {
			if op.Delete {
				stats.Removed++
			} else {
				stats.Written++
			}
		}
	}
	if err != nil {
		return stats, fmt.Errorf("write index: %w", err)
	}
	stats.Skipped = len(rs) - len(done)
	return stats, nil
}

// ensureAttempts bounds how often Ensure rebuilds while items keep changing under it.
const ensureAttempts = 5

// Ensure builds the index of a store that lacks it, or holds another Version of it, and then
// records Version under Marker; with the marker in place it does nothing and reports false. list
// returns every stored item. When items were written while it ran it rebuilds again, so the
// marker is written only over a whole index; if items never stop changing, it leaves the marker
// unwritten (the next start tries again) and says so in Stats.Skipped.
func (x Index) Ensure(ctx context.Context, st store.Store, list func(context.Context) ([]Item, error)) (bool, Stats, error) {
	kv, err := st.Get(ctx, x.Marker)
	switch {
	case err == nil && string(kv.Value) == Version:
		return false, Stats{}, nil
	case err != nil && !errors.Is(err, store.ErrNotFound):
		return false, Stats{}, fmt.Errorf("read %s: %w", x.Marker, err)
	}
	var total Stats
	for range ensureAttempts {
		items, err := list(ctx)
		if err != nil {
			return true, total, err
		}
		s, err := x.Rebuild(ctx, st, items)
		total.Items = s.Items
		total.Written += s.Written
		total.Removed += s.Removed
		total.Skipped = s.Skipped
		if err != nil {
			return true, total, err
		}
		if s.Skipped == 0 {
			if _, err := st.Put(ctx, x.Marker, []byte(Version)); err != nil {
				return true, total, fmt.Errorf("write %s: %w", x.Marker, err)
			}
			return true, total, nil
		}
	}
	return true, total, nil
}
