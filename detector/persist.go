package detector

import (
	"context"
	"encoding/json"
	"fmt"
	"math"
	"strings"
	"time"

	"github.com/smartcloudops/smartcloudops/internal/obs"
	"github.com/smartcloudops/smartcloudops/internal/store"
)

const statePrefix = "detector/state/"

// savedSeries is a series' streaming state as stored.
type savedSeries struct {
	Labels map[string]string `json:"labels"`
	LastT  time.Time         `json:"last_t"`
	// Since is the start of the open episode, kept for states written before Episode was.
	Since   time.Time `json:"since,omitzero"`
	Episode *Episode  `json:"episode,omitempty"`
	Model   []byte    `json:"model"`
}

func (ch *check) stateKey(labels map[string]string) string {
	return statePrefix + ch.spec.Name + "/" + Fingerprint(labels)
}

// loadStates restores the check's series from the store once, before its first tick. Until it
// has, the check does not score: a tick on fresh models would save them over the stored state.
// A record that is not JSON is deleted; one whose model this build cannot read keeps its place
// in time and its open span with a fresh model, which the next save writes over it.
func (ch *check) loadStates(ctx context.Context) error {
	ch.mu.Lock()
	defer ch.mu.Unlock()
	if ch.loadedAll || ch.d.o.Store == nil || ch.d.o.LoadModel == nil {
		ch.loadedAll = true
		return nil
	}
	kvs, err := ch.d.o.Store.List(ctx, statePrefix+ch.spec.Name+"/")
	if err != nil {
		return fmt.Errorf("model state not loaded (the check waits for it): %w", err)
	}
	ch.loadedAll = true
	var corrupt []store.Op
	for _, kv := range kvs {
		var s savedSeries
		if err := json.Unmarshal(kv.Value, &s); err != nil || s.Labels == nil {
			ch.d.log.WarnContext(ctx, "corrupt model state deleted", "key", kv.Key, obs.KeyErr, err)
			corrupt = append(corrupt, store.Op{Key: kv.Key, Delete: true})
			continue
		}
		st := &seriesState{labels: s.Labels, lastT: s.LastT, ep: s.episode(), seenAt: ch.d.o.Now()}
		if st.model, err = ch.d.o.LoadModel(s.Model); err != nil {
			ch.d.log.WarnContext(ctx, "model state not usable; the series learns afresh", "key", kv.Key, obs.KeyErr, err)
			st.model, st.dirty = ch.spec.Factory(), true
		}
		// A restored series gets the whole ForgetAfter from now to send its next point.
		ch.series[Key(s.Labels)] = st
	}
	if len(corrupt) > 0 {
		if _, err := store.WriteAll(ctx, ch.d.o.Store, corrupt); err != nil {
			ch.d.log.WarnContext(ctx, "corrupt model state not deleted", obs.KeyCheck, ch.spec.Name, obs.KeyErr, err)
		}
	}
	if len(kvs) > 0 {
		ch.d.log.InfoContext(ctx, "model state restored", obs.KeyCheck, ch.spec.Name, "series", len(ch.series))
	}
	return nil
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
		v, _ := json.Marshal(savedSeries{Labels: st.labels, LastT: st.lastT, Since: st.ep.Since, Episode: st.episode(), Model: b})
		ops = append(ops, store.Op{Key: ch.stateKey(st.labels), Value: v})
		st.dirty = false
	}
	if len(ops) == 0 {
		return
	}
	if _, err := store.WriteAll(ctx, ch.d.o.Store, ops); err != nil {
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
		if st.ep.Open() {
			recs = append(recs, Recovery{Check: ch.spec.Name, Labels: st.labels, T: now, Since: st.ep.Since, Stale: true})
		}
	}
	if len(ops) == 0 {
		return nil
	}
	ch.d.m.forgotten.WithLabelValues(ch.spec.Name).Add(float64(len(ops)))
	ch.d.log.InfoContext(ctx, "series without new points forgotten", obs.KeyCheck, ch.spec.Name,
		"series", len(ops), "silent_for_at_least", after.String())
	if ch.d.o.Store != nil {
		if _, err := store.WriteAll(ctx, ch.d.o.Store, ops); err != nil {
			// The state stays in the store; the next restart restores it and the series is
			// forgotten again ForgetAfter later.
			ch.d.log.WarnContext(ctx, "state of forgotten series not deleted", obs.KeyCheck, ch.spec.Name, obs.KeyErr, err)
		}
	}
	return recs
}

// forgetRemovedChecks deletes the stored state of checks that are no longer configured, once,
// when the detector starts, and returns for each such check a Tick with a Recovery marked Stale
// for each series that was in an episode, so the incidents of a removed or renamed check do not
// stay open. It does nothing unless ForgetAfter is set: with retention.series at 0 everything is
// kept.
func (d *Detector) forgetRemovedChecks(ctx context.Context) []Tick {
	if d.o.Store == nil || d.o.ForgetAfter <= 0 {
		return nil
	}
	kvs, err := d.o.Store.List(ctx, statePrefix)
	if err != nil {
		d.log.WarnContext(ctx, "state of removed checks not looked for", obs.KeyErr, err)
		return nil
	}
	known := map[string]bool{}
	for _, ch := range d.checks {
		known[ch.spec.Name] = true
	}
	var ops []store.Op
	var ticks []Tick
	at := map[string]int{} // check → index in ticks
	removed := map[string]int{}
	for _, kv := range kvs {
		name, _, ok := strings.Cut(strings.TrimPrefix(kv.Key, statePrefix), "/")
		if !ok || known[name] {
			continue
		}
		ops = append(ops, store.Op{Key: kv.Key, Delete: true})
		removed[name]++
		var s savedSeries
		if json.Unmarshal(kv.Value, &s) == nil && !s.Since.IsZero() {
			i, ok := at[name]
			if !ok {
				i = len(ticks)
				at[name] = i
				ticks = append(ticks, Tick{Check: name, T: d.o.Now()})
			}
			ticks[i].Events = append(ticks[i].Events, Event{Recovery: &Recovery{Check: name, Labels: s.Labels, T: d.o.Now(), Since: s.Since, Stale: true}})
		}
	}
	if len(ops) == 0 {
		return nil
	}
	if _, err := store.WriteAll(ctx, d.o.Store, ops); err != nil {
		d.log.WarnContext(ctx, "state of removed checks not deleted", obs.KeyErr, err)
		return nil
	}
	for name, n := range removed {
		d.m.forgotten.WithLabelValues(name).Add(float64(n))
		d.log.InfoContext(ctx, "state of a check no longer configured deleted", obs.KeyCheck, name, "series", n)
	}
	return ticks
}

// episode is the stored episode: the whole of it, or, for states written before it was kept, one
// open since Since with an unknown band (any value counts as back inside it).
func (s savedSeries) episode() Episode {
	switch {
	case s.Episode != nil:
		return *s.Episode
	case s.Since.IsZero():
		return Episode{}
	}
	return Episode{Since: s.Since, Lower: -math.MaxFloat64, Upper: math.MaxFloat64}
}

// episode is the series' episode for saving (open, or ended and still remembered), or nil.
func (s *seriesState) episode() *Episode {
	if !s.ep.stored() {
		return nil
	}
	ep := s.ep
	return &ep
}
