package store

import (
	"context"
	"errors"
)

// Errors returned by Store implementations.
var (
	// ErrNotFound is returned by Get when the key does not exist.
	ErrNotFound = errors.New("store: key not found")
	// ErrConflict is returned by Txn when a compared key is no longer at the expected revision.
	ErrConflict = errors.New("store: revision conflict")
	// ErrLocked means another process holds the store's file.
	ErrLocked = errors.New("locked by another smartcloudops process")
	// ErrClosed is returned after Close.
	ErrClosed = errors.New("store: closed")
	// ErrSchema is returned by Open when the data was written by an incompatible version.
	ErrSchema = errors.New("store: incompatible schema version")
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

// Store keeps the bot's state. Implementations are safe for concurrent use.
type Store interface {
	// Get returns the key, or ErrNotFound.
	Get(ctx context.Context, key string) (KV, error)
	// List returns every key that starts with prefix, in key order.
	List(ctx context.Context, prefix string) ([]KV, error)
	// Put writes the value unconditionally and returns the new revision.
	Put(ctx context.Context, key string, value []byte) (uint64, error)
	// Delete removes the key; deleting an absent key is not an error.
	Delete(ctx context.Context, key string) error
	// Txn applies ops atomically if every cmp holds, and returns the revision of the write;
	// otherwise it changes nothing and returns ErrConflict.
	Txn(ctx context.Context, cmps []Cmp, ops []Op) (uint64, error)
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

// removeBatch is how many removals share one transaction.
const removeBatch = 256

// Remove applies removals in transactions of up to removeBatch items. A batch whose comparison
// fails is retried item by item, so one item written meanwhile keeps only itself. It returns the
// indexes in rs of the items removed; the error is the first that was not a conflict.
func Remove(ctx context.Context, s Store, rs []Removal) ([]int, error) {
	var removed []int
	for start := 0; start < len(rs); start += removeBatch {
		batch := rs[start:min(len(rs), start+removeBatch)]
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
	}
	return removed, nil
}
