package store

import (
	"bytes"
	"context"
	"encoding/binary"
	"errors"
	"fmt"
	"os"
	"path/filepath"
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
}

// Bolt is the embedded Store on a single bbolt file.
type Bolt struct {
	db *bolt.DB
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
		return &Bolt{db: db}, nil
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
	return &Bolt{db: db}, nil
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
	var out []KV
	err := s.view(ctx, func(b *bolt.Bucket) error {
		c := b.Cursor()
		p := []byte(prefix)
		for k, v := c.Seek(p); k != nil && bytes.HasPrefix(k, p); k, v = c.Next() {
			kv, err := decode(k, v)
			if err != nil {
				return err
			}
			out = append(out, kv)
		}
		return nil
	})
	return out, err
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
	if err := ctx.Err(); err != nil {
		return 0, err
	}
	for _, op := range ops {
		if op.Key == "" {
			return 0, errors.New("store: empty key")
		}
	}
	var rev uint64
	err := s.db.Update(func(tx *bolt.Tx) error {
		b, meta := tx.Bucket(bucketKV), tx.Bucket(bucketMeta)
		for _, c := range cmps {
			raw := b.Get([]byte(c.Key))
			var cur uint64
			if raw != nil {
				if len(raw) < 8 {
					return fmt.Errorf("store: corrupt value at %q", c.Key)
				}
				cur = binary.BigEndian.Uint64(raw[:8])
			}
			if cur != c.Rev {
				return ErrConflict
			}
		}
		if v := meta.Get(metaRev); len(v) == 8 {
			rev = binary.BigEndian.Uint64(v)
		}
		rev++
		for _, op := range ops {
			if op.Delete {
				if err := b.Delete([]byte(op.Key)); err != nil {
					return err
				}
				continue
			}
			val := make([]byte, 8+len(op.Value))
			binary.BigEndian.PutUint64(val, rev)
			copy(val[8:], op.Value)
			if err := b.Put([]byte(op.Key), val); err != nil {
				return err
			}
		}
		return meta.Put(metaRev, u64(rev))
	})
	if errors.Is(err, bolt.ErrDatabaseNotOpen) {
		return 0, ErrClosed
	}
	if err != nil {
		return 0, err
	}
	return rev, nil
}

// Close implements Store.
func (s *Bolt) Close() error { return s.db.Close() }

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
