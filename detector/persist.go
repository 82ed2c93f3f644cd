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
		// A restored series gets the whole ForgetAfter from now to send its next point.
		ch.series[Key(s.Labels)] = &seriesState{labels: s.Labels, model: m, lastT: s.LastT, since: s.Since, seenAt: ch.d.o.Now()}
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

// forget drops the series that have sent no new point for Options.ForgetAfter, from memory and
// from the store, and returns a Recovery marked Stale for each that was in an anomalous span, so
// its incident does not stay open forever. Called with ch.mu held.
func (ch *check) forget(ctx context.Context) []Recovery {
	after := ch.d.o.ForgetAfter
	if after <= 0 {
		return nil
	}
	now := ch.d.o.Now()
	var ops []store.Op
	var recs []Recovery
	for key, st := range ch.series {
		if now.Sub(st.seenAt) < after {
			continue
		}
		delete(ch.series, key)
		ops = append(ops, store.Op{Key: ch.stateKey(st.labels), Delete: true})
		if !st.since.IsZero() {
			recs = append(recs, Recovery{Check: ch.spec.Name, Labels: st.labels, T: now, Since: st.since, Stale: true})
		}
	}
	if len(ops) == 0 {
		return nil
	}
	ch.d.m.forgotten.WithLabelValues(ch.spec.Name).Add(float64(len(ops)))
	ch.d.log.InfoContext(ctx, "series without new points forgotten", obs.KeyCheck, ch.spec.Name,
		"series", len(ops), "silent_for_at_least", after.String())
	if ch.d.o.Store != nil {
		if _, err := ch.d.o.Store.Txn(ctx, nil, ops); err != nil {
			// The state stays in the store; the next restart restores it and the series is
			// forgotten again ForgetAfter later.
			ch.d.log.WarnContext(ctx, "state of forgotten series not deleted", obs.KeyCheck, ch.spec.Name, obs.KeyErr, err)
		}
	}
	return recs
}
