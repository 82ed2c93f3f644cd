package store

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"strings"
)

// CopyOptions configures Copy.
type CopyOptions struct {
	// Overwrite copies into a target that already holds keys, replacing those it copies;
	// without it a non-empty target is refused before anything is written.
	Overwrite bool
	// Skip lists prefixes left behind, such as the election keys ("leader/") of the source's
	// process.
	Skip []string
}

// CopyReport says what Copy did.
type CopyReport struct {
	Keys, Bytes, Txns int
}

// ErrTargetNotEmpty is returned by Copy for a target that holds keys, without Overwrite.
var ErrTargetNotEmpty = errors.New("store: the target already holds keys")

// copyPage is how many keys Copy reads at a time.
const copyPage = 1000

// Copy copies every key of src into dst in transactions within etcd's limits, then reads every
// copied key back from dst and compares it. Values too large for one transaction are refused
// before anything is written. Revisions are not kept: each backend numbers its own writes. Both
// stores must be left alone meanwhile (the bot stopped).
func Copy(ctx context.Context, dst, src Store, o CopyOptions) (CopyReport, error) {
	var rep CopyReport
	skip := func(key string) bool {
		for _, p := range o.Skip {
			if strings.HasPrefix(key, p) {
				return true
			}
		}
		return false
	}
	// First pass: everything fits, and the target is empty.
	if !o.Overwrite {
		p, err := dst.ListPage(ctx, "", "", 1)
		if err != nil {
			return rep, fmt.Errorf("read the target: %w", err)
		}
		if len(p.KVs) > 0 {
			return rep, fmt.Errorf("%w (%q, …): copy into an empty one, or overwrite on purpose", ErrTargetNotEmpty, p.KVs[0].Key)
		}
	}
	if err := eachPage(ctx, src, func(kvs []KV) error {
		for _, kv := range kvs {
			if skip(kv.Key) {
				continue
			}
			if err := checkTxn(nil, []Op{{Key: kv.Key, Value: kv.Value}}, 1, true); err != nil {
				return fmt.Errorf("nothing copied: %w", err)
			}
		}
		return nil
	}); err != nil {
		return rep, err
	}
	// Second pass: write, in transactions of whole keys.
	var ops []Op
	var cmps []Cmp
	size := 0
	flush := func() error {
		if len(ops) == 0 {
			return nil
		}
		if _, err := dst.Txn(ctx, cmps, ops); err != nil {
			if errors.Is(err, ErrConflict) {
				err = fmt.Errorf("%w: a key was written to the target while copying; is a bot running on it?", err)
			}
			return fmt.Errorf("copy stopped after %d keys: %w", rep.Keys, err)
		}
		rep.Txns++
		rep.Keys += len(ops)
		ops, cmps, size = ops[:0], cmps[:0], 0
		return nil
	}
	if err := eachPage(ctx, src, func(kvs []KV) error {
		for _, kv := range kvs {
			if skip(kv.Key) {
				continue
			}
			n := len(kv.Key)*2 + len(kv.Value) + 2*opOverhead
			if len(ops) == MaxTxnOps-1 || size+n > MaxTxnBytes {
				if err := flush(); err != nil {
					return err
				}
			}
			ops = append(ops, Op{Key: kv.Key, Value: kv.Value})
			if !o.Overwrite {
				cmps = append(cmps, Cmp{Key: kv.Key, Rev: 0})
			}
			size += n
			rep.Bytes += len(kv.Value)
		}
		return nil
	}); err != nil {
		return rep, err
	}
	if err := flush(); err != nil {
		return rep, err
	}
	// Verify: every key of the source reads back the same from the target.
	checked := 0
	err := eachPage(ctx, src, func(kvs []KV) error {
		for _, kv := range kvs {
			if skip(kv.Key) {
				continue
			}
			got, err := dst.Get(ctx, kv.Key)
			if err != nil {
				return fmt.Errorf("verify %q: %w", kv.Key, err)
			}
			if !bytes.Equal(got.Value, kv.Value) {
				return fmt.Errorf("verify %q: the target holds %d bytes that differ from the source's %d", kv.Key, len(got.Value), len(kv.Value))
			}
			checked++
		}
		return nil
	})
	if err == nil && checked != rep.Keys {
		err = fmt.Errorf("verify: %d keys read back, %d copied: the source changed while copying", checked, rep.Keys)
	}
	return rep, err
}

// eachPage calls fn with every key of s, a page at a time.
func eachPage(ctx context.Context, s Store, fn func([]KV) error) error {
	after := ""
	for {
		p, err := s.ListPage(ctx, "", after, copyPage)
		if err != nil {
			return fmt.Errorf("read the source: %w", err)
		}
		if err := fn(p.KVs); err != nil {
			return err
		}
		if p.Next == "" {
			return nil
		}
		after = p.Next
	}
}
