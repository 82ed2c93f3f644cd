package store

import (
	"bytes"
	"context"
	"errors"
	"sort"
	"strings"
	"sync"
)

// Memory is a Store held in memory, for tests and for `--demo` runs that should leave nothing
// behind. It has the same revision and transaction semantics as Bolt.
type Memory struct {
	mu     sync.RWMutex
	rev    uint64
	data   map[string]KV
	closed bool
}

// NewMemory returns an empty in-memory Store.
func NewMemory() *Memory { return &Memory{data: map[string]KV{}} }

// Get implements Store.
func (m *Memory) Get(ctx context.Context, key string) (KV, error) {
	if err := ctx.Err(); err != nil {
		return KV{}, err
	}
	m.mu.RLock()
	defer m.mu.RUnlock()
	if m.closed {
		return KV{}, ErrClosed
	}
	kv, ok := m.data[key]
	if !ok {
		return KV{}, ErrNotFound
	}
	kv.Value = bytes.Clone(kv.Value)
	return kv, nil
}

// List implements Store.
func (m *Memory) List(ctx context.Context, prefix string) ([]KV, error) {
	if err := ctx.Err(); err != nil {
		return nil, err
	}
	m.mu.RLock()
	defer m.mu.RUnlock()
	if m.closed {
		return nil, ErrClosed
	}
	var out []KV
	for k, kv := range m.data {
		if strings.HasPrefix(k, prefix) {
			kv.Value = bytes.Clone(kv.Value)
			out = append(out, kv)
		}
	}
	sort.Slice(out, func(i, j int) bool { return out[i].Key < out[j].Key })
	return out, nil
}

// Put implements Store.
func (m *Memory) Put(ctx context.Context, key string, value []byte) (uint64, error) {
	return m.Txn(ctx, nil, []Op{{Key: key, Value: value}})
}

// Delete implements Store.
func (m *Memory) Delete(ctx context.Context, key string) error {
	_, err := m.Txn(ctx, nil, []Op{{Key: key, Delete: true}})
	return err
}

// Txn implements Store.
func (m *Memory) Txn(ctx context.Context, cmps []Cmp, ops []Op) (uint64, error) {
	if err := ctx.Err(); err != nil {
		return 0, err
	}
	for _, op := range ops {
		if op.Key == "" {
			return 0, errors.New("store: empty key")
		}
	}
	m.mu.Lock()
	defer m.mu.Unlock()
	if m.closed {
		return 0, ErrClosed
	}
	for _, c := range cmps {
		if m.data[c.Key].Rev != c.Rev {
			return 0, ErrConflict
		}
	}
	m.rev++
	for _, op := range ops {
		if op.Delete {
			delete(m.data, op.Key)
			continue
		}
		m.data[op.Key] = KV{Key: op.Key, Value: bytes.Clone(op.Value), Rev: m.rev}
	}
	return m.rev, nil
}

// Close implements Store.
func (m *Memory) Close() error {
	m.mu.Lock()
	defer m.mu.Unlock()
	m.closed = true
	return nil
}
