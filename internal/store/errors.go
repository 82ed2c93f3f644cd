package store

import (
	"errors"
	"fmt"
)

// Errors returned by Store implementations.
var (
	// ErrNotFound is returned by Get when the key does not exist.
	ErrNotFound = errors.New("store: key not found")
	// ErrConflict is returned by Txn when a compared key is no longer at the expected revision.
	ErrConflict = errors.New("store: revision conflict")
	// ErrFenced is returned by FencedTxn when the writer's election key no longer exists at its
	// creation revision: the writer is not the leader any more and its write was refused.
	ErrFenced = errors.New("store: fenced: this replica is no longer the leader")
	// ErrLocked means another process holds the store's file.
	ErrLocked = errors.New("locked by another smartcloudops process")
	// ErrClosed is returned after Close.
	ErrClosed = errors.New("store: closed")
	// ErrSchema is returned by Open when the data was written by an incompatible version.
	ErrSchema = errors.New("store: incompatible schema version")
	// ErrTooManyOps is returned by Txn for more than MaxTxnOps ops or comparisons.
	ErrTooManyOps = errors.New("store: too many operations in one transaction")
	// ErrTooLarge is returned by Txn when a value or the whole transaction exceeds MaxTxnBytes.
	ErrTooLarge = errors.New("store: transaction too large")
	// ErrCompacted ends a watch whose start revision is no longer kept (or whose watcher fell
	// too far behind): list again and watch from the listing's revision + 1.
	ErrCompacted = errors.New("store: watch revision no longer available")
	// ErrUnavailable means the store cannot serve the request now: no etcd member answers, or
	// the cluster has no leader (quorum lost). The request may be retried later.
	ErrUnavailable = errors.New("store: unavailable")
)

// MaxTxnOps is the most ops, and separately the most comparisons, one transaction may carry:
// etcd's default --max-txn-ops, which counts the larger of the two lists.
const MaxTxnOps = 128

// MaxTxnBytes bounds the bytes of keys and values one transaction carries. etcd refuses requests
// over its --max-request-bytes (1.5 MiB by default); the 64 KiB kept back cover the key prefix
// and the request's framing.
const MaxTxnBytes = 1536*1024 - 64*1024

// opOverhead is what a key costs in a request beyond its bytes (framing, revision fields).
const opOverhead = 16

// checkTxn refuses an empty key and, with limits, a transaction that etcd would refuse: too
// many ops or comparisons, a key written twice, or too many bytes. extraCmps counts comparisons
// the backend adds (a fence).
func checkTxn(cmps []Cmp, ops []Op, extraCmps int, limits bool) error {
	if !limits {
		for _, op := range ops {
			if op.Key == "" {
				return errors.New("store: empty key")
			}
		}
		return nil
	}
	if n := len(cmps) + extraCmps; n > MaxTxnOps {
		return fmt.Errorf("%w: %d comparisons, at most %d (etcd's --max-txn-ops); split the transaction", ErrTooManyOps, n, MaxTxnOps)
	}
	if len(ops) > MaxTxnOps {
		return fmt.Errorf("%w: %d writes, at most %d (etcd's --max-txn-ops); split the transaction", ErrTooManyOps, len(ops), MaxTxnOps)
	}
	size := 0
	for _, c := range cmps {
		size += len(c.Key) + opOverhead
	}
	seen := make(map[string]struct{}, len(ops))
	for _, op := range ops {
		if op.Key == "" {
			return errors.New("store: empty key")
		}
		if _, dup := seen[op.Key]; dup {
			return fmt.Errorf("store: key %q is written twice in one transaction", op.Key)
		}
		seen[op.Key] = struct{}{}
		n := len(op.Key) + len(op.Value) + opOverhead
		if n > MaxTxnBytes {
			return fmt.Errorf("%w: the value of %q is %d bytes; at most %d fit in one transaction (etcd's request limit)", ErrTooLarge, op.Key, len(op.Value), MaxTxnBytes-len(op.Key)-opOverhead)
		}
		size += n
	}
	if size > MaxTxnBytes {
		return fmt.Errorf("%w: %d writes of %d bytes in all; at most %d fit in one transaction (etcd's request limit); split it", ErrTooLarge, len(ops), size, MaxTxnBytes)
	}
	return nil
}

// CheckTxn applies etcd's limits to a transaction, as every backend with limits does before
// sending it; extraCmps counts the comparisons the backend adds (a fence). For backends.
func CheckTxn(cmps []Cmp, ops []Op, extraCmps int) error { return checkTxn(cmps, ops, extraCmps, true) }
