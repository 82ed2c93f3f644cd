package remediation

import (
	"context"
	"encoding/json"
	"time"

	"github.com/smartcloudops/smartcloudops/internal/obs"
	"github.com/smartcloudops/smartcloudops/internal/store"
)

// EndedAt is when the proposal last changed: the latest of its creation, decision, start and
// finish times, and for an expired proposal its expiry.
func (p Proposal) EndedAt() time.Time {
	t := p.CreatedAt
	for _, u := range []time.Time{p.DecidedAt, p.StartedAt, p.FinishedAt} {
		if u.After(t) {
			t = u
		}
	}
	if p.State == StateExpired && p.ExpiresAt.After(t) {
		t = p.ExpiresAt
	}
	return t
}

// Prune deletes the proposals in a final state that ended before cutoff, with their index
// entries, and returns how many. Proposals that may still change (pending, approved, running)
// are never pruned, nor is a proposal written while Prune runs; one that cannot be read is kept
// and logged. The audit log keeps every step of a pruned proposal.
func (mg *Manager) Prune(ctx context.Context, cutoff time.Time) (int, error) {
	kvs, err := mg.o.Store.List(ctx, proposalPrefix)
	if err != nil {
		return 0, err
	}
	var rs []store.Removal
	for _, kv := range kvs {
		var p Proposal
		if err := json.Unmarshal(kv.Value, &p); err != nil {
			mg.log.WarnContext(ctx, "corrupt proposal kept by retention", "key", kv.Key, obs.KeyErr, err)
			continue
		}
		if !p.State.Final() || !p.EndedAt().Before(cutoff) {
			continue
		}
		ops := []store.Op{{Key: kv.Key, Delete: true}}
		if p.Incident != "" {
			ops = append(ops, store.Op{Key: byIncidentPrefix + p.Incident + "/" + p.ID, Delete: true})
		}
		if p.Dedup != "" {
			for _, key := range dedupKeys(p.Dedup) {
				ops = append(ops, store.Op{Key: key, Delete: true})
			}
		}
		ops = append(ops, propIndex.Ops(entryOf(p), nil)...)
		rs = append(rs, store.Removal{Cmp: store.Cmp{Key: kv.Key, Rev: kv.Rev}, Ops: ops})
	}
	removed, err := store.Remove(ctx, mg.o.Store, rs)
	return len(removed), err
}
