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

type fenceKey struct{}

// WithFence returns a context whose writes through a ContextFenced store carry fence: the
// context of a leadership term, handed to the parts that run only on the leader.
func WithFence(ctx context.Context, fence Fence) context.Context {
	return context.WithValue(ctx, fenceKey{}, fence)
}

// FenceOf returns the fence ctx carries, if any.
func FenceOf(ctx context.Context) (Fence, bool) {
	f, ok := ctx.Value(fenceKey{}).(Fence)
	return f, ok
}

// ContextFenced returns a view of s whose writes are fenced by the fence their context carries
// (WithFence), and plain when it carries none. One store serves both kinds of writer: what the
// leader's parts write within their term fails with ErrFenced once the term is over, while what
// any replica writes for a click, a command or a webhook needs no term.
func ContextFenced(s Store) Store { return &ctxFenced{Store: s} }

type ctxFenced struct{ Store }

func (f *ctxFenced) Put(ctx context.Context, key string, value []byte) (uint64, error) {
	if fence, ok := FenceOf(ctx); ok {
		return f.Store.FencedTxn(ctx, fence, nil, []Op{{Key: key, Value: value}})
	}
	return f.Store.Put(ctx, key, value)
}

func (f *ctxFenced) Delete(ctx context.Context, key string) error {
	if fence, ok := FenceOf(ctx); ok {
		_, err := f.Store.FencedTxn(ctx, fence, nil, []Op{{Key: key, Delete: true}})
		return err
	}
	return f.Store.Delete(ctx, key)
}

func (f *ctxFenced) Txn(ctx context.Context, cmps []Cmp, ops []Op) (uint64, error) {
	if fence, ok := FenceOf(ctx); ok {
		return f.Store.FencedTxn(ctx, fence, cmps, ops)
	}
	return f.Store.Txn(ctx, cmps, ops)
}

// Unwrap returns the store under the view.
func (f *ctxFenced) Unwrap() Store { return f.Store }
