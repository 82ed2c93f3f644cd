package incident

import (
	"context"
	"encoding/json"
	"time"

	"github.com/smartcloudops/smartcloudops/internal/obs"
	"github.com/smartcloudops/smartcloudops/internal/store"
)

// Prune deletes the incidents resolved before cutoff, with their index entries, and returns
// them, so their charts can go too. Open incidents are never pruned, nor is an incident changed while Prune runs; a stored
// incident that cannot be read is kept and logged, so nothing is lost that a person might still
// need to look at.
func (m *Manager) Prune(ctx context.Context, cutoff time.Time) ([]Incident, error) {
	kvs, err := m.o.Store.List(ctx, incPrefix)
	if err != nil {
		return nil, err
	}
	var rs []store.Removal
	var incs []Incident
	for _, kv := range kvs {
		var inc Incident
		if err := json.Unmarshal(kv.Value, &inc); err != nil {
			m.log.WarnContext(ctx, "corrupt incident kept by retention", "key", kv.Key, obs.KeyErr, err)
			continue
		}
		if inc.State != StateResolved || inc.ResolvedAt.IsZero() || !inc.ResolvedAt.Before(cutoff) {
			continue
		}
		ops := append([]store.Op{{Key: kv.Key, Delete: true}}, incIndex.Ops(entryOf(inc), nil)...)
		rs = append(rs, store.Removal{Cmp: store.Cmp{Key: kv.Key, Rev: kv.Rev}, Ops: ops})
		incs = append(incs, inc)
	}
	removed, err := store.Remove(ctx, m.o.Store, rs)
	out := make([]Incident, len(removed))
	for i, j := range removed {
		out[i] = incs[j]
	}
	return out, err
}
