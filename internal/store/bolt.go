package store

import (
	"bytes"
	"context"
	"encoding/binary"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"sync"
	"sync/atomic"
	"time"

	bolt "go.etcd.io/bbolt"
)

// SchemaVersion is the layout version this build writes. Open refuses a file written with a
// newer version, so an old binary never misreads data it does not understand.
const SchemaVersion = 1

var (
	bucketKV   = []byte("kv")
	bucketMeta = []byte("meta")
	metaRev    = []byte("rev")
	metaSchema = []byte("schema")
)

// BoltOptions configures OpenBolt.
type BoltOptions struct {
	// LockTimeout bounds the wait for the file lock held by another process; default 2s.
	LockTimeout time.Duration
	// ReadOnly opens the file with a shared lock for reading, beside a running bot.
	ReadOnly bool
	// EtcdLimits refuses, as etcd does, transactions over MaxTxnOps or MaxTxnBytes and keys
	// written twice in one transaction, so that what works here also works on etcd.
	EtcdLimits bool
}

// Bolt is the embedded Store on a single bbolt file. One process owns the file, so watches are
// served from the writes this process makes.
//
// Transactions that arrive while another commit is being written are committed together, in
// one bbolt transaction with one sync to disk (group commit), each with its own comparisons and
// revision, in arrival order: concurrent writers (the webhook intake, the audit log, incidents)
// share the cost of the sync without waiting for a timer, and a transaction whose comparisons
// fail leaves the others of its group unaffected.
type Bolt struct {
	limits bool
	db     *bolt.DB
	wmu    sync.Mutex // the turn to commit; orders commits with their notification to watchers
	qmu    sync.Mutex // guards queue
	queue  []*boltTxn
	hub    *hub
	syncs  atomic.Uint64 // bbolt transactions committed, each one sync to disk
}

// boltTxn is one transaction waiting for its turn to be committed.
type boltTxn struct {
	fence *Fence
	cmps  []Cmp
	ops   []Op
	// after is the transaction before it in a sequence (TxnSeq): it is written only if after
	// was, and PrevRev in its comparisons is after's revision.
	after *boltTxn
	// set by the commit
	done   bool
	rev    uint64
	err    error
	events []Event
}

// OpenBolt opens (creating if needed) the bbolt file at path and checks its schema version.
func OpenBolt(path string, o BoltOptions) (*Bolt, error) {
	if o.LockTimeout <= 0 {
		o.LockTimeout = 2 * time.Second
	}
	if !o.ReadOnly {
		if err := os.MkdirAll(filepath.Dir(path), 0o750); err != nil {
			return nil, fmt.Errorf("store: create data dir: %w", err)
		}
	}
	db, err := bolt.Open(path, 0o600, &bolt.Options{Timeout: o.LockTimeout, ReadOnly: o.ReadOnly})
	if err != nil {
		if errors.Is(err, bolt.ErrTimeout) {
			return nil, fmt.Errorf("store: %s is %w", path, ErrLocked)
		}
		return nil, fmt.Errorf("store: open %s: %w", path, err)
	}
	if o.ReadOnly {
		err = db.View(func(tx *bolt.Tx) error {
			meta := tx.Bucket(bucketMeta)
			if meta == nil || tx.Bucket(bucketKV) == nil {
				return fmt.Errorf("%w: not a smartcloudops store", ErrSchema)
			}
			if v := meta.Get(metaSchema); len(v) != 8 || binary.BigEndian.Uint64(v) > SchemaVersion {
				return fmt.Errorf("%w: unsupported schema", ErrSchema)
			}
			return nil
		})
		if err != nil {
			db.Close()
			return nil, fmt.Errorf("store: open %s: %w", path, err)
		}
		return newBolt(db, o.EtcdLimits)
	}
	err = db.Update(func(tx *bolt.Tx) error {
		if _, err := tx.CreateBucketIfNotExists(bucketKV); err != nil {
			return err
		}
		meta, err := tx.CreateBucketIfNotExists(bucketMeta)
		if err != nil {
			return err
		}
		v := meta.Get(metaSchema)
		if v == nil {
			return meta.Put(metaSchema, u64(SchemaVersion))
		}
		if len(v) != 8 {
			return fmt.Errorf("%w: unreadable schema marker", ErrSchema)
		}
		if got := binary.BigEndian.Uint64(v); got > SchemaVersion {
			return fmt.Errorf("%w: %s has schema %d, this build reads up to %d", ErrSchema, path, got, SchemaVersion)
		}
		return nil
	})
	if err != nil {
		db.Close()
		return nil, fmt.Errorf("store: open %s: %w", path, err)
	}
	return newBolt(db, o.EtcdLimits)
}

// newBolt wraps an open file, starting watches at its current revision.
func newBolt(db *bolt.DB, limits bool) (*Bolt, error) {
	var rev uint64
	err := db.View(func(tx *bolt.Tx) error {
		if v := tx.Bucket(bucketMeta).Get(metaRev); len(v) == 8 {
			rev = binary.BigEndian.Uint64(v)
		}
		return nil
	})
	if err != nil {
		db.Close()
		return nil, fmt.Errorf("store: open %s: %w", db.Path(), err)
	}
	return &Bolt{db: db, hub: newHub(rev), limits: limits}, nil
}

func u64(n uint64) []byte {
	b := make([]byte, 8)
	binary.BigEndian.PutUint64(b, n)
	return b
}

// decode splits a stored value into its revision and the caller's bytes, copying the bytes out
// of bbolt's memory map.
func decode(key, raw []byte) (KV, error) {
	if len(raw) < 8 {
		return KV{}, fmt.Errorf("store: corrupt value at %q", key)
	}
	return KV{Key: string(key), Rev: binary.BigEndian.Uint64(raw[:8]), Value: bytes.Clone(raw[8:])}, nil
}

func (s *Bolt) view(ctx context.Context, fn func(*bolt.Bucket) error) error {
	if err := ctx.Err(); err != nil {
		return err
	}
	err := s.db.View(func(tx *bolt.Tx) error { return fn(tx.Bucket(bucketKV)) })
	if errors.Is(err, bolt.ErrDatabaseNotOpen) {
		return ErrClosed
	}
	return err
}

// Get implements Store.
func (s *Bolt) Get(ctx context.Context, key string) (KV, error) {
	var kv KV
	err := s.view(ctx, func(b *bolt.Bucket) error {
		raw := b.Get([]byte(key))
		if raw == nil {
			return ErrNotFound
		}
		var err error
		kv, err = decode([]byte(key), raw)
		return err
	})
	return kv, err
}

// List implements Store.
func (s *Bolt) List(ctx context.Context, prefix string) ([]KV, error) {
	p, err := s.ListPage(ctx, prefix, "", -1)
	return p.KVs, err
}

// ListPage implements Store. A limit below 1 returns every key.
func (s *Bolt) ListPage(ctx context.Context, prefix, after string, limit int) (Page, error) {
	var page Page
	if err := ctx.Err(); err != nil {
		return page, err
	}
	err := s.db.View(func(tx *bolt.Tx) error {
		if v := tx.Bucket(bucketMeta).Get(metaRev); len(v) == 8 {
			page.Rev = binary.BigEndian.Uint64(v)
		}
		c := tx.Bucket(bucketKV).Cursor()
		p := []byte(prefix)
		k, v := c.Seek(p)
		if after >= prefix {
			k, v = c.Seek([]byte(after))
			if k != nil && string(k) == after {
				k, v = c.Next()
			}
		}
		for ; k != nil && bytes.HasPrefix(k, p); k, v = c.Next() {
			if limit > 0 && len(page.KVs) == limit {
				page.Next = page.KVs[limit-1].Key
				return nil
			}
			kv, err := decode(k, v)
			if err != nil {
				return err
			}
			page.KVs = append(page.KVs, kv)
		}
		return nil
	})
	if errors.Is(err, bolt.ErrDatabaseNotOpen) {
		return Page{}, ErrClosed
	}
	return page, err
}

// Put implements Store.
func (s *Bolt) Put(ctx context.Context, key string, value []byte) (uint64, error) {
	return s.Txn(ctx, nil, []Op{{Key: key, Value: value}})
}

// Delete implements Store.
func (s *Bolt) Delete(ctx context.Context, key string) error {
	_, err := s.Txn(ctx, nil, []Op{{Key: key, Delete: true}})
	return err
}

// Txn implements Store.
func (s *Bolt) Txn(ctx context.Context, cmps []Cmp, ops []Op) (uint64, error) {
	return s.txn(ctx, nil, cmps, ops)
}

// FencedTxn implements Store. The fence key's revision stands for its creation revision: fence
// keys are written once.
func (s *Bolt) FencedTxn(ctx context.Context, fence Fence, cmps []Cmp, ops []Op) (uint64, error) {
	if fence.IsZero() {
		return 0, errZeroFence
	}
	return s.txn(ctx, &fence, cmps, ops)
}

// revAt returns the revision of key in b, 0 when absent.
func revAt(b *bolt.Bucket, key string) (uint64, error) {
	raw := b.Get([]byte(key))
	if raw == nil {
		return 0, nil
	}
	if len(raw) < 8 {
		return 0, fmt.Errorf("store: corrupt value at %q", key)
	}
	return binary.BigEndian.Uint64(raw[:8]), nil
}

func (s *Bolt) txn(ctx context.Context, fence *Fence, cmps []Cmp, ops []Op) (uint64, error) {
	if err := ctx.Err(); err != nil {
		return 0, err
	}
	extra := 0
	if fence != nil {
		extra = 1
	}
	if err := checkTxn(cmps, ops, extra, s.limits); err != nil {
		return 0, err
	}
	t := &boltTxn{fence: fence, cmps: cmps, ops: ops}
	s.submit(t)
	return t.rev, t.err
}

// submit queues ts together and returns once they are committed: whoever holds the turn commits
// every transaction queued by then, ts among them (all of them: they were queued at once).
func (s *Bolt) submit(ts ...*boltTxn) {
	s.qmu.Lock()
	s.queue = append(s.queue, ts...)
	s.qmu.Unlock()
	s.wmu.Lock()
	defer s.wmu.Unlock()
	if !ts[len(ts)-1].done {
		s.qmu.Lock()
		group := s.queue
		s.queue = nil
		s.qmu.Unlock()
		s.commit(group)
	}
}

// maxGroupOps bounds the writes of one group commit, so that one bbolt transaction's dirty
// pages stay a few megabytes; the rest of the queue goes in the next.
const maxGroupOps = 4096

// commit writes the queued transactions, as many per bbolt transaction as maxGroupOps allows.
// When a group cannot be written (bbolt refuses a key or value), its transactions are written
// one at a time, so only the faulty one fails. s.wmu must be held.
func (s *Bolt) commit(queue []*boltTxn) {
	for len(queue) > 0 {
		n, nops := 1, len(queue[0].ops)
		for n < len(queue) && nops+len(queue[n].ops) <= maxGroupOps {
			nops += len(queue[n].ops)
			n++
		}
		group := queue[:n]
		queue = queue[n:]
		err := s.write(group)
		if err != nil && len(group) > 1 {
			for _, t := range group {
				if err := s.write([]*boltTxn{t}); err != nil {
					t.err = err
				}
			}
		} else if err != nil {
			group[0].err = err
		}
		for _, t := range group {
			t.done = true
			if t.err == nil && t.rev != 0 {
				s.hub.publish(t.rev, t.events)
			}
			t.events = nil
		}
	}
}

// write commits group in one bbolt transaction: each of its transactions whose fence and
// comparisons hold gets the next revision and its writes; the others get ErrFenced or
// ErrConflict. An error returned means nothing of the group was written.
func (s *Bolt) write(group []*boltTxn) error {
	for _, t := range group {
		t.rev, t.err, t.events = 0, nil, nil
	}
	err := s.db.Update(func(tx *bolt.Tx) error {
		b, meta := tx.Bucket(bucketKV), tx.Bucket(bucketMeta)
		var rev uint64
		if v := meta.Get(metaRev); len(v) == 8 {
			rev = binary.BigEndian.Uint64(v)
		}
		for _, t := range group {
			ok, err := holds(b, t)
			if err != nil {
				return err
			}
			if !ok {
				continue
			}
			rev++
			if err := apply(b, t, rev); err != nil {
				return err
			}
		}
		return meta.Put(metaRev, u64(rev))
	})
	if errors.Is(err, bolt.ErrDatabaseNotOpen) {
		err = ErrClosed
	}
	if err == nil {
		s.syncs.Add(1)
	}
	if err != nil {
		for _, t := range group {
			t.rev, t.err, t.events = 0, nil, nil
		}
	}
	return err
}

// holds reports whether t's fence and comparisons hold in b, setting t.err when they do not.
func holds(b *bolt.Bucket, t *boltTxn) (bool, error) {
	cmps := t.cmps
	if t.after != nil {
		if t.after.rev == 0 {
			t.err = errBrokenSeq
			return false, nil
		}
		cmps = withPrev(cmps, t.after.rev)
	}
	if t.fence != nil {
		cur, err := revAt(b, t.fence.Key)
		if err != nil {
			return false, err
		}
		if cur != t.fence.Rev {
			t.err = ErrFenced
			return false, nil
		}
	}
	for _, c := range cmps {
		cur, err := revAt(b, c.Key)
		if err != nil {
			return false, err
		}
		if cur != c.Rev {
			t.err = ErrConflict
			return false, nil
		}
	}
	return true, nil
}

// apply writes t's ops at rev and keeps their events for the watchers.
func apply(b *bolt.Bucket, t *boltTxn, rev uint64) error {
	t.rev = rev
	t.events = make([]Event, 0, len(t.ops))
	for _, op := range t.ops {
		if op.Delete {
			if b.Get([]byte(op.Key)) == nil {
				continue
			}
			if err := b.Delete([]byte(op.Key)); err != nil {
				return err
			}
			t.events = append(t.events, Event{Type: EventDelete, KV: KV{Key: op.Key, Rev: rev}})
			continue
		}
		val := make([]byte, 8+len(op.Value))
		binary.BigEndian.PutUint64(val, rev)
		copy(val[8:], op.Value)
		if err := b.Put([]byte(op.Key), val); err != nil {
			return fmt.Errorf("store: write %q: %w", op.Key, err)
		}
		t.events = append(t.events, Event{Type: EventPut, KV: KV{Key: op.Key, Value: val[8:], Rev: rev}})
	}
	return nil
}

// Watch implements Store.
func (s *Bolt) Watch(ctx context.Context, prefix string, fromRev uint64) <-chan WatchResponse {
	return s.hub.watch(ctx, prefix, fromRev)
}

// Close implements Store.
func (s *Bolt) Close() error {
	s.hub.close()
	return s.db.Close()
}

// Check verifies the file's internal consistency (free pages, page references).
func (s *Bolt) Check() error {
	return s.db.View(func(tx *bolt.Tx) error {
		var errs []error
		for err := range tx.Check() {
			errs = append(errs, err)
		}
		return errors.Join(errs...)
	})
}

// Space reports the size of the file and how many of its bytes are free pages. bbolt reuses free
// pages for later writes but never gives them back to the file system: a file that held much
// more than it holds now (after retention deleted many incidents, or many series were
// forgotten) keeps its size until CompactBolt rewrites it, with the bot stopped.
func (s *Bolt) Space() (size, free int64, err error) {
	err = s.db.View(func(tx *bolt.Tx) error {
		size = tx.Size()
		return nil
	})
	if errors.Is(err, bolt.ErrDatabaseNotOpen) {
		return 0, 0, ErrClosed
	}
	return size, int64(s.db.Stats().FreeAlloc), err
}

// CompactBolt rewrites the bbolt file at path into a fresh file without its free pages, then
// puts it in place of the old one; the bot must be stopped. It returns the sizes before and
// after.
func CompactBolt(path string) (before, after int64, err error) {
	src, err := bolt.Open(path, 0o600, &bolt.Options{Timeout: 2 * time.Second, ReadOnly: true})
	if err != nil {
		if errors.Is(err, bolt.ErrTimeout) {
			return 0, 0, fmt.Errorf("store: %s is %w", path, ErrLocked)
		}
		return 0, 0, fmt.Errorf("store: open %s: %w", path, err)
	}
	defer src.Close()
	tmp := path + ".compact"
	_ = os.Remove(tmp)
	dst, err := bolt.Open(tmp, 0o600, &bolt.Options{Timeout: 2 * time.Second})
	if err != nil {
		return 0, 0, fmt.Errorf("store: create %s: %w", tmp, err)
	}
	if err := bolt.Compact(dst, src, 64<<20); err != nil {
		dst.Close()
		os.Remove(tmp)
		return 0, 0, fmt.Errorf("store: compact %s: %w", path, err)
	}
	if err := dst.Close(); err != nil {
		os.Remove(tmp)
		return 0, 0, err
	}
	st, err := os.Stat(path)
	if err != nil {
		return 0, 0, err
	}
	nt, err := os.Stat(tmp)
	if err != nil {
		return 0, 0, err
	}
	if err := os.Rename(tmp, path); err != nil {
		os.Remove(tmp)
		return 0, 0, fmt.Errorf("store: replace %s: %w", path, err)
	}
	return st.Size(), nt.Size(), nil
}
