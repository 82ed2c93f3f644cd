package store

import (
	"context"
	"errors"
)

// KV is one stored key with its value and the revision of its last write.
type KV struct {
	Key   string
	Value []byte
	Rev   uint64 // > 0 for stored keys
}

// Cmp is a condition of a transaction: Key must be at revision Rev, where 0 means "absent".
type Cmp struct {
	Key string
	Rev uint64
}

// Op is one write of a transaction: a put of Value, or a delete when Delete is set.
type Op struct {
	Key    string
	Value  []byte
	Delete bool
}

// Fence is what a leader's writes carry: the key its election created and the revision it was
// created at. A fenced transaction applies only while that key still exists at that revision, so
// the writes of a leader whose lease expired fail with ErrFenced instead of landing beside the
// new leader's.
type Fence struct {
	Key string
	Rev uint64
}

// IsZero reports whether f is the zero Fence, which no fenced transaction accepts.
func (f Fence) IsZero() bool { return f.Key == "" && f.Rev == 0 }

// Page is one page of a paged listing.
type Page struct {
	KVs []KV
	// Next is the key to pass as after for the following page; empty on the last page.
	Next string
	// Rev is the store's revision when the page was read.
	Rev uint64
}

// EventType says whether an event is a put or a delete.
type EventType int

// The two kinds of change a watch reports.
const (
	EventPut EventType = iota + 1
	EventDelete
)

func (t EventType) String() string {
	switch t {
	case EventPut:
		return "put"
	case EventDelete:
		return "delete"
	}
	return "unknown"
}

// Event is one change seen by a watch. KV.Rev is the revision of the change; a delete has no
// value.
type Event struct {
	Type EventType
	KV   KV
}

// WatchResponse is a group of events in revision order, or the error that ended the watch.
type WatchResponse struct {
	Events []Event
	Err    error
}

// Store keeps the bot's state. Implementations are safe for concurrent use.
type Store interface {
	// Get returns the key, or ErrNotFound.
	Get(ctx context.Context, key string) (KV, error)
	// List returns every key that starts with prefix, in key order.
	List(ctx context.Context, prefix string) ([]KV, error)
	// ListPage returns up to limit keys that start with prefix and sort after the key after
	// ("" for the first page), in key order. Each page is consistent in itself; keys written
	// between pages may or may not appear.
	ListPage(ctx context.Context, prefix, after string, limit int) (Page, error)
	// Put writes the value unconditionally and returns the new revision.
	Put(ctx context.Context, key string, value []byte) (uint64, error)
	// Delete removes the key; deleting an absent key is not an error.
	Delete(ctx context.Context, key string) error
	// Txn applies ops atomically if every cmp holds, and returns the revision of the write;
	// otherwise it changes nothing and returns ErrConflict. It refuses more than MaxTxnOps ops
	// or comparisons (ErrTooManyOps), a key written twice, and writes larger than
	// MaxTxnBytes (ErrTooLarge), before anything is sent.
	Txn(ctx context.Context, cmps []Cmp, ops []Op) (uint64, error)
	// FencedTxn is Txn that applies only while fence holds; when it does not, nothing changes
	// and the error is ErrFenced (checked before the comparisons, so a deposed writer learns
	// it is deposed rather than retrying a conflict). The fence takes one of the MaxTxnOps
	// comparisons.
	FencedTxn(ctx context.Context, fence Fence, cmps []Cmp, ops []Op) (uint64, error)
	// Watch reports every change to keys under prefix from revision fromRev on (0: from the
	// next change), in revision order, until ctx ends; the channel is then closed. A watch
	// that cannot go on (the revision was compacted, the watcher fell too far behind, the store
	// closed) sends one response with Err and closes; the caller lists again and watches from
	// the listing's revision + 1.
	Watch(ctx context.Context, prefix string, fromRev uint64) <-chan WatchResponse
	// Close releases the store.
	Close() error
}

// ErrNoChange, returned by a Modify function, leaves the key as it is.
var ErrNoChange = errors.New("store: no change")

// Modify reads key, lets fn compute its new value from the old one (nil when absent) and writes
// it only if nobody wrote the key in between, retrying with a fresh read otherwise. It returns
// the new revision; when fn returns ErrNoChange nothing is written and Modify returns 0, nil.
func Modify(ctx context.Context, s Store, key string, fn func(old []byte) ([]byte, error)) (uint64, error) {
	for attempt := 0; ; attempt++ {
		var old []byte
		var rev uint64
		kv, err := s.Get(ctx, key)
		switch {
		case errors.Is(err, ErrNotFound):
		case err != nil:
			return 0, err
		default:
			old, rev = kv.Value, kv.Rev
		}
		val, err := fn(old)
		if errors.Is(err, ErrNoChange) {
			return 0, nil
		}
		if err != nil {
			return 0, err
		}
		nrev, err := s.Txn(ctx, []Cmp{{Key: key, Rev: rev}}, []Op{{Key: key, Value: val}})
		if errors.Is(err, ErrConflict) && attempt < 100 {
			continue
		}
		return nrev, err
	}
}

// Removal is one item to remove: its deletes (Ops) apply only while Cmp holds, so an item written
// after it was chosen for removal is kept.
type Removal struct {
	Cmp Cmp
	Ops []Op
}

// Remove applies removals in transactions that stay within MaxTxnOps ops and comparisons,
// keeping one comparison spare for a fence. A batch whose comparison fails is retried item by
// item, so one item written meanwhile keeps only itself. It returns the indexes in rs of the
// items removed; the error is the first that was not a conflict.
func Remove(ctx context.Context, s Store, rs []Removal) ([]int, error) {
	var removed []int
	for start := 0; start < len(rs); {
		end, nops := start, 0
		for end < len(rs) && end-start < MaxTxnOps-1 && nops+len(rs[end].Ops) <= MaxTxnOps {
			nops += len(rs[end].Ops)
			end++
		}
		if end == start { // one item with more deletes than a transaction holds
			end = start + 1
		}
		batch := rs[start:end]
		var cmps []Cmp
		var ops []Op
		for _, r := range batch {
			cmps = append(cmps, r.Cmp)
			ops = append(ops, r.Ops...)
		}
		_, err := s.Txn(ctx, cmps, ops)
		if err == nil {
			for i := range batch {
				removed = append(removed, start+i)
			}
			start = end
			continue
		}
		if !errors.Is(err, ErrConflict) {
			return removed, err
		}
		for i, r := range batch {
			_, err := s.Txn(ctx, []Cmp{r.Cmp}, r.Ops)
			switch {
			case err == nil:
				removed = append(removed, start+i)
			case !errors.Is(err, ErrConflict):
				return removed, err
			}
		}
		start = end
	}
	return removed, nil
}

// WriteAll applies ops unconditionally in as few transactions as etcd accepts: at most
// MaxTxnOps writes and MaxTxnBytes each, so one call may write many thousands of keys (saved
// model state, routine updates). Unlike one Txn it is not atomic as a whole: each transaction
// is, and a failure leaves the earlier ones applied. It returns how many ops were applied.
//
// The transactions go to the store as sequences (TxnSeq) of up to writeAllSeq, so the embedded
// store writes each sequence in one commit, with one sync, where one at a time would wait for a
// sync each.
func WriteAll(ctx context.Context, s Store, ops []Op) (int, error) {
	done := 0
	for done < len(ops) {
		var txns []SeqTxn
		end := done
		for end < len(ops) && len(txns) < writeAllSeq {
			start, size := end, 0
			for end < len(ops) && end-start < MaxTxnOps {
				n := len(ops[end].Key) + len(ops[end].Value) + opOverhead
				if end > start && size+n > MaxTxnBytes {
					break
				}
				size += n
				end++
			}
			txns = append(txns, SeqTxn{Ops: ops[start:end]})
		}
		revs, err := TxnSeq(ctx, s, txns)
		for _, t := range txns[:len(revs)] {
			done += len(t.Ops)
		}
		if err != nil {
			return done, err
		}
	}
	return done, nil
}

// Count returns how many keys start with prefix, reading them a page of countPage at a time, so
// that counting a large prefix never holds all of it in memory at once.
func Count(ctx context.Context, s Store, prefix string) (int, error) {
	n, after := 0, ""
	for {
		page, err := s.ListPage(ctx, prefix, after, countPage)
		if err != nil {
			return n, err
		}
		n += len(page.KVs)
		if page.Next == "" {
			return n, nil
		}
		after = page.Next
	}
}

// countPage is how many keys Count reads at once.
const countPage = 1000

// writeAllSeq is how many transactions of a WriteAll go to the store as one sequence: on the
// embedded store, up to its group commit's 4,096 writes.
const writeAllSeq = 32
