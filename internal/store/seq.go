package store

import (
	"context"
	"errors"
	"math"
)

// PrevRev, as the Rev of a Cmp in a transaction of a sequence (TxnSeq), stands for the revision
// the transaction before it in the sequence was written at: "the key is as the one before left
// it". It has no meaning in the sequence's first transaction, nor outside a sequence.
const PrevRev = math.MaxUint64

// SeqTxn is one transaction of a sequence.
type SeqTxn struct {
	Cmps []Cmp
	Ops  []Op
}

// errBrokenSeq is why a transaction of a sequence is not written after the one before it was not.
var errBrokenSeq = errors.New("store: the transaction before it in the sequence was not written")

// sequencer is a Store that writes a sequence of transactions at once: the embedded store puts
// them in one bbolt transaction, with one sync to disk, where one at a time would take a sync
// each.
type sequencer interface {
	txnSeq(ctx context.Context, fence *Fence, txns []SeqTxn) ([]uint64, error)
}

// TxnSeq writes txns in their order, each as Txn would (each within etcd's limits on its own),
// and each only if every one before it was written; PrevRev in a transaction's comparisons is
// the revision the one before it was written at. It returns the revisions of those written, in
// order, and the error of the first one that was not (ErrConflict when its comparisons failed);
// none after it is written. A writer that must chain its transactions (the audit log, whose
// every transaction moves its head on from where the one before left it) so has them written
// together, where it would otherwise wait for each one's commit before it can make the next.
func TxnSeq(ctx context.Context, s Store, txns []SeqTxn) ([]uint64, error) {
	return txnSeq(ctx, s, nil, txns)
}

func txnSeq(ctx context.Context, s Store, fence *Fence, txns []SeqTxn) ([]uint64, error) {
	if sq, ok := s.(sequencer); ok {
		return sq.txnSeq(ctx, fence, txns)
	}
	revs := make([]uint64, 0, len(txns))
	var prev uint64
	for i, t := range txns {
		cmps := t.Cmps
		if i > 0 {
			cmps = withPrev(cmps, prev)
		}
		var rev uint64
		var err error
		if fence != nil {
			rev, err = s.FencedTxn(ctx, *fence, cmps, t.Ops)
		} else {
			rev, err = s.Txn(ctx, cmps, t.Ops)
		}
		if err != nil {
			return revs, err
		}
		revs = append(revs, rev)
		prev = rev
	}
	return revs, nil
}

// withPrev is cmps with PrevRev replaced by rev.
func withPrev(cmps []Cmp, rev uint64) []Cmp {
	out := cmps
	for i, c := range cmps {
		if c.Rev != PrevRev {
			continue
		}
		if &out[0] == &cmps[0] {
			out = append([]Cmp(nil), cmps...)
		}
		out[i].Rev = rev
	}
	return out
}

func (f *ctxFenced) txnSeq(ctx context.Context, fence *Fence, txns []SeqTxn) ([]uint64, error) {
	if fc, ok := FenceOf(ctx); ok && fence == nil {
		fence = &fc
	}
	return txnSeq(ctx, f.Store, fence, txns)
}

func (f *fenced) txnSeq(ctx context.Context, fence *Fence, txns []SeqTxn) ([]uint64, error) {
	fc, err := f.fence()
	if err != nil {
		return nil, err
	}
	return txnSeq(ctx, f.Store, &fc, txns)
}

// txnSeq queues the sequence at once, so that it goes in one group commit (or, past
// maxGroupOps, in consecutive ones), each transaction linked to the one before it.
func (s *Bolt) txnSeq(ctx context.Context, fence *Fence, txns []SeqTxn) ([]uint64, error) {
	if err := ctx.Err(); err != nil {
		return nil, err
	}
	if fence != nil && fence.IsZero() {
		return nil, errZeroFence
	}
	extra := 0
	if fence != nil {
		extra = 1
	}
	ts := make([]*boltTxn, len(txns))
	for i, t := range txns {
		if err := checkTxn(t.Cmps, t.Ops, extra, s.limits); err != nil {
			return nil, err
		}
		ts[i] = &boltTxn{fence: fence, cmps: t.Cmps, ops: t.Ops}
		if i > 0 {
			ts[i].after = ts[i-1]
		}
	}
	if len(ts) == 0 {
		return nil, nil
	}
	s.submit(ts...)
	revs := make([]uint64, 0, len(ts))
	for _, t := range ts {
		if t.err != nil {
			if errors.Is(t.err, errBrokenSeq) {
				continue // an error before it is the one to report
			}
			return revs, t.err
		}
		revs = append(revs, t.rev)
	}
	return revs, nil
}
