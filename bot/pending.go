package bot

import (
	"context"
	"encoding/json"
	"strings"
	"time"

	"github.com/smartcloudops/smartcloudops/internal/obs"
)

// pendingPrefix is where Flush keeps the cards it could not deliver before shutdown.
const pendingPrefix = "notifier/pending/"

// storeTimeout bounds the store writes of keep, which run after the shutdown deadline.
const storeTimeout = 5 * time.Second

type pendingJob struct {
	Incident string `json:"incident,omitempty"`
	Proposal string `json:"proposal,omitempty"`
}

// keep stores the jobs a shutdown left undelivered, for requeue at the next start.
func (n *Notifier) keep(ctx context.Context, left []queued) {
	sctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), storeTimeout)
	defer cancel()
	kept := 0
	for _, q := range left {
		b, _ := json.Marshal(pendingJob{Incident: q.job.incident, Proposal: q.job.proposal})
		if _, err := n.o.Store.Put(sctx, pendingPrefix+q.key, b); err != nil {
			n.log.ErrorContext(sctx, "undelivered card not kept for the next start", "card", q.key, obs.KeyErr, err)
			continue
		}
		kept++
	}
	n.log.WarnContext(sctx, "shutdown deadline reached before every card was delivered; they are sent at the next start", "cards", kept)
}

// requeue queues the cards an earlier shutdown left undelivered, and forgets them.
func (n *Notifier) requeue(ctx context.Context) {
	kvs, err := n.o.Store.List(ctx, pendingPrefix)
	if err != nil {
		n.log.ErrorContext(ctx, "cards left undelivered at the last shutdown not read", obs.KeyErr, err)
		return
	}
	for _, kv := range kvs {
		var j pendingJob
		if err := json.Unmarshal(kv.Value, &j); err == nil && (j.Incident != "" || j.Proposal != "") {
			n.enqueue(strings.TrimPrefix(kv.Key, pendingPrefix), job{incident: j.Incident, proposal: j.Proposal})
		}
		if err := n.o.Store.Delete(ctx, kv.Key); err != nil {
			n.log.ErrorContext(ctx, "undelivered card record not removed", "card", kv.Key, obs.KeyErr, err)
		}
	}
	if len(kvs) > 0 {
		n.log.InfoContext(ctx, "sending the cards left undelivered at the last shutdown", "cards", len(kvs))
	}
}

// putBack queues batch again ahead of what was queued since it was taken.
func (n *Notifier) putBack(batch []queued) {
	n.mu.Lock()
	defer n.mu.Unlock()
	order := make([]string, 0, len(batch)+len(n.order))
	for _, q := range batch {
		if _, newer := n.pending[q.key]; !newer {
			n.pending[q.key] = q.job
			order = append(order, q.key)
		}
	}
	n.order = append(order, n.order...)
}

// undelivered lists, as jobs to queue again, the incidents and proposals of the cards that still
// have a post or an edit due, and of the incidents still waiting for a card.
func (n *Notifier) undelivered() []queued {
	n.work.Lock()
	defer n.work.Unlock()
	var out []queued
	seen := map[string]bool{}
	add := func(key string, j job) {
		if !seen[key] {
			seen[key] = true
			out = append(out, queued{key: key, job: j})
		}
	}
	for _, id := range n.cards.waitOrder {
		if _, ok := n.cards.waiting[id]; ok {
			add(id, job{incident: id})
		}
	}
	for _, c := range n.cards.byRecord {
		if c.due.IsZero() {
			continue
		}
		if c.proposal != "" {
			add(c.proposal, job{proposal: c.proposal})
			continue
		}
		for _, m := range c.rec.Members {
			add(m, job{incident: m})
		}
	}
	return out
}
