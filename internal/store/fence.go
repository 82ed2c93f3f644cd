package store

import (
	"context"
	"errors"
)

var errZeroFence = errors.New("store: a fenced write needs a fence (the election key and its revision)")

// FenceFunc returns the fence of the current leadership term, or an error (such as the elector's
// "not the leader") when this process does not lead.
type FenceFunc func() (Fence, error)

// Fenced returns a view of s whose every write carries the fence of the current term: Put,
// Delete and Txn become FencedTxn, and fail with ErrFenced once the term is over or with
// fence's error while this process does not lead. Reads and watches pass through. The parts
// that run only on the leader (checks, rules, the executor, the notifier, audit appends) write
// through such a view; what any replica writes (a click, a command, a webhook) does not.
func Fenced(s Store, fence FenceFunc) Store { return &fenced{Store: s, fence: fence} }

type fenced struct {
	Store
	fence FenceFunc
}

func (f *fenced) Put(ctx context.Context, key string, value []byte) (uint64, error) {
	return f.Txn(ctx, nil, []Op{{Key: key, Value: value}})
}

func (f *fenced) Delete(ctx context.Context, key string) error {
	_, err := f.Txn(ctx, nil, []Op{{Key: key, Delete: true}})
	return err
}

func (f *fenced) Txn(ctx context.Context, cmps []Cmp, ops []Op) (uint64, error) {
	fence, err := f.fence()
	if err != nil {
		return 0, err
	}
	return f.Store.FencedTxn(ctx, fence, cmps, ops)
}
