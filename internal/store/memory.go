package store

import (
	"bytes"
	"context"
	"sort"
	"strings"
	"sync"
)

// Memory is a Store held in memory, for tests and for `--demo` runs that should leave nothing
// behind. It has the same revision, transaction, fence and watch semantics as Bolt.
type Memory struct {
	limits bool
	mu     sync.RWMutex
	rev    uint64
	data   map[string]KV
	closed bool
	hub    *hub
}

// NewMemory returns an empty in-memory Store.
func NewMemory() *Memory { return &Memory{data: map[string]KV{}, hub: newHub(0)} }

// WithEtcdLimits makes m refuse, as etcd does, transactions over MaxTxnOps or MaxTxnBytes and
// keys written twice in one transaction; call it before first use. It returns m.
func (m *Memory) WithEtcdLimits() *Memory {
	m.limits = true
	return m
}

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
	p, err := m.ListPage(ctx, prefix, "", -1)
	return p.KVs, err
}

// ListPage implements Store. A limit below 1 returns every key.
func (m *Memory) ListPage(ctx context.Context, prefix, after string, limit int) (Page, error) {
	if err := ctx.Err(); err != nil {
		return Page{}, err
	}
	m.mu.RLock()
	defer m.mu.RUnlock()
	if m.closed {
		return Page{}, ErrClosed
	}
	var keys []string
	for k := range m.data {
		if strings.HasPrefix(k, prefix) && k > after {
			keys = append(keys, k)
		}
	}
	sort.Strings(keys)
	page := Page{Rev: m.rev}
	if limit > 0 && len(keys) > limit {
		keys = keys[:limit]
		page.Next = keys[limit-1]
	}
	for _, k := range keys {
		kv := m.data[k]
		kv.Value = bytes.Clone(kv.Value)
		page.KVs = append(page.KVs, kv)
	}
	return page, nil
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
	return m.txn(ctx, nil, cmps, ops)
}

// FencedTxn implements Store. The fence key's revision stands for its creation revision: fence
// keys are written once.
func (m *Memory) FencedTxn(ctx context.Context, fence Fence, cmps []Cmp, ops []Op) (uint64, error) {
	if fence.IsZero() {
		return 0, errZeroFence
	}
	return m.txn(ctx, &fence, cmps, ops)
}

func (m *Memory) txn(ctx context.Context, fence *Fence, cmps []Cmp, ops []Op) (uint64, error) {
	if err := ctx.Err(); err != nil {
		return 0, err
	}
	extra := 0
	if fence != nil {
		extra = 1
	}
	if err := checkTxn(cmps, ops, extra, m.limits); err != nil {
		return 0, err
	}
	m.mu.Lock()
	defer m.mu.Unlock()
	if m.closed {
		return 0, ErrClosed
	}
	if fence != nil && m.data[fence.Key].Rev != fence.Rev {
		return 0, ErrFenced
	}
	for _, c := range cmps {
		if m.data[c.Key].Rev != c.Rev {
			return 0, ErrConflict
		}
	}
	m.rev++
	events := make([]Event, 0, len(ops))
	for _, op := range ops {
		if op.Delete {
			if _, ok := m.data[op.Key]; ok {
				delete(m.data, op.Key)
				events = append(events, Event{Type: EventDelete, KV: KV{Key: op.Key, Rev: m.rev}})
			}
			continue
		}
		kv := KV{Key: op.Key, Value: bytes.Clone(op.Value), Rev: m.rev}
		m.data[op.Key] = kv
		events = append(events, Event{Type: EventPut, KV: KV{Key: op.Key, Value: bytes.Clone(op.Value), Rev: m.rev}})
	}
	m.hub.publish(m.rev, events)
	return m.rev, nil
}

// Watch implements Store.
func (m *Memory) Watch(ctx context.Context, prefix string, fromRev uint64) <-chan WatchResponse {
	return m.hub.watch(ctx, prefix, fromRev)
}

// Close implements Store.
func (m *Memory) Close() error {
	m.mu.Lock()
	defer m.mu.Unlock()
	m.closed = true
	m.hub.close()
	return nil
}
