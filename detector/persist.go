package detector

import (
	"context"
	"encoding/json"
	"time"

	"github.com/smartcloudops/smartcloudops/internal/obs"
	"github.com/smartcloudops/smartcloudops/internal/store"
)

const statePrefix = "detector/state/"

// savedSeries is a series' streaming state as stored.
type savedSeries struct {
	Labels map[string]string `json:"labels"`
	LastT  time.Time         `json:"last_t"`
	Since  time.Time         `json:"since,omitzero"`
	Model  []byte            `json:"model"`
}

func (ch *check) stateKey(labels map[string]string) string {
	return statePrefix + ch.spec.Name + "/" + Fingerprint(labels)
}

// loadStates restores the check's series from the store once, before its first tick.
func (ch *check) loadStates(ctx context.Context) {
	ch.mu.Lock()
	defer ch.mu.Unlock()
	if ch.loadedAll || ch.d.o.Store == nil || ch.d.o.LoadModel == nil {
		ch.loadedAll = true
		return
	}
	kvs, err := ch.d.o.Store.List(ctx, statePrefix+ch.spec.Name+"/")
	if err != nil {
		ch.d.log.WarnContext(ctx, "model state not loaded; series start fresh", obs.KeyCheck, ch.spec.Name, obs.KeyErr, err)
		return // try again next tick
	}
	ch.loadedAll = true
	for _, kv := range kvs {
		var s savedSeries
		if err := json.Unmarshal(kv.Value, &s); err != nil {
			ch.d.log.WarnContext(ctx, "corrupt model state ignored", "key", kv.Key, obs.KeyErr, err)
			continue
		}
		m, err := ch.d.o.LoadModel(s.Model)
		if err != nil {
			ch.d.log.WarnContext(ctx, "model state not usable; series starts fresh", "key", kv.Key, obs.KeyErr, err)
			continue
		}
		ch.series[Key(s.Labels)] = &seriesState{labels: s.Labels, model: m, lastT: s.LastT, since: s.Since}
	}
	if len(kvs) > 0 {
		ch.d.log.InfoContext(ctx, "model state restored", obs.KeyCheck, ch.spec.Name, "series", len(ch.series))
	}
}

// saveStates writes every series whose model changed this tick, in one transaction. Called with
// ch.mu held.
func (ch *check) saveStates(ctx context.Context) {
	if ch.d.o.Store == nil {
		return
	}
	var ops []store.Op
	for _, st := range ch.series {
		if !st.dirty {
			continue
		}
		b, err := st.model.MarshalBinary()
		if err != nil {
			ch.d.log.WarnContext(ctx, "model state not saved", obs.KeyCheck, ch.spec.Name, obs.KeyErr, err)
			continue
		}
		v, _ := json.Marshal(savedSeries{Labels: st.labels, LastT: st.lastT, Since: st.since, Model: b})
		ops = append(ops, store.Op{Key: ch.stateKey(st.labels), Value: v})
		st.dirty = false
	}
	if len(ops) == 0 {
		return
	}
	if _, err := ch.d.o.Store.Txn(ctx, nil, ops); err != nil {
		ch.d.log.WarnContext(ctx, "model state not saved", obs.KeyCheck, ch.spec.Name, obs.KeyErr, err)
	}
}
