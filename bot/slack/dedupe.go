package slack

import (
	"container/list"
	"sync"
	"time"
)

// dedupe remembers recently seen keys so a redelivered event is handled once. It holds at
// most max keys, each for ttl; the oldest are forgotten first. Slack retries an event about
// one minute and five minutes after the first delivery, so ttl should exceed five minutes.
type dedupe struct {
	ttl time.Duration
	max int

	mu    sync.Mutex
	order *list.List // of dedupeEntry, oldest first
	keys  map[string]*list.Element
}

type dedupeEntry struct {
	key string
	at  time.Time
}

func newDedupe(ttl time.Duration, max int) *dedupe {
	return &dedupe{ttl: ttl, max: max, order: list.New(), keys: make(map[string]*list.Element, max)}
}

// seen records key at now and reports whether it was already recorded within ttl.
func (d *dedupe) seen(key string, now time.Time) bool {
	d.mu.Lock()
	defer d.mu.Unlock()
	for e := d.order.Front(); e != nil; e = d.order.Front() {
		ent := e.Value.(dedupeEntry)
		if now.Sub(ent.at) < d.ttl && d.order.Len() < d.max {
			break
		}
		d.order.Remove(e)
		delete(d.keys, ent.key)
	}
	if _, ok := d.keys[key]; ok {
		return true
	}
	d.keys[key] = d.order.PushBack(dedupeEntry{key: key, at: now})
	return false
}

// len returns how many keys are remembered.
func (d *dedupe) len() int {
	d.mu.Lock()
	defer d.mu.Unlock()
	return d.order.Len()
}
