package detector

import (
	"cmp"
	"context"
	"fmt"
	"math"
	"slices"
	"strings"
	"time"

	"github.com/smartcloudops/smartcloudops/internal/obs"
	"github.com/smartcloudops/smartcloudops/internal/store"
)

const statePrefix = "detector/state/"

// loadPage is how many stored series a check reads at a time when it restores its state.
const loadPage = 1024

func (ch *check) stateKey(labels map[string]string) string {
	return statePrefix + ch.spec.Name + "/" + Fingerprint(labels)
}

// loadStates restores the check's series from the store once, before its first tick, a page at
// a time. Until it has, the check does not score: a tick on fresh models would save them over
// the stored state. A record that cannot be decoded is deleted; one whose model this build
// cannot read keeps its place in time and its open span with a fresh model, which the next save
// writes over it. A failed read is taken up where it stopped at the next tick.
func (ch *check) loadStates(ctx context.Context) error {
	ch.mu.Lock()
	done, after := ch.loadedAll, ch.loadAfter
	ch.mu.Unlock()
	if done {
		return nil
	}
	if ch.d.o.Store == nil || ch.d.o.LoadModel == nil {
		ch.mu.Lock()
		ch.loadedAll = true
		ch.mu.Unlock()
		return nil
	}
	prefix := statePrefix + ch.spec.Name + "/"
	for {
		page, err := ch.d.o.Store.ListPage(ctx, prefix, after, loadPage)
		if err != nil {
			return fmt.Errorf("model state not loaded (the check waits for it): %w", err)
		}
		var corrupt []store.Op
		restored := make([]*seriesState, 0, len(page.KVs))
		now := ch.d.o.Now()
		for _, kv := range page.KVs {
			s, err := decodeSaved(kv.Value)
			if err != nil {
				ch.d.log.WarnContext(ctx, "corrupt model state deleted", "key", kv.Key, obs.KeyErr, err)
				corrupt = append(corrupt, store.Op{Key: kv.Key, Delete: true})
				continue
			}
			// A restored series gets the whole ForgetAfter from now to send its next point.
			st := &seriesState{labels: s.Labels, lastT: s.LastT, ep: s.episode(), seenAt: now.UnixNano(), restored: true}
			if len(s.Model) == 0 {
				// Its model was kept in memory only: it learns again, and stays in memory.
				st.model, st.local = ch.spec.Factory(), true
			} else if st.model, err = ch.d.o.LoadModel(s.Model); err != nil {
				ch.d.log.WarnContext(ctx, "model state not usable; the series learns afresh", "key", kv.Key, obs.KeyErr, err)
				st.model, st.dirty = ch.spec.Factory(), true
			}
			restored = append(restored, st)
		}
		ch.mu.Lock()
		for _, st := range restored {
			if st.local {
				ch.d.m.models.WithLabelValues("memory").Inc()
			} else {
				ch.d.stored.Add(1)
				ch.d.m.models.WithLabelValues("store").Inc()
			}
			h := ch.series.hash(st.labels)
			st.savedAt = ch.savePhase(now, h)
			ch.series.add(st, h)
		}
		ch.loadAfter = page.Next
		ch.mu.Unlock()
		if len(corrupt) > 0 {
			if _, err := store.WriteAll(ctx, ch.d.o.Store, corrupt); err != nil {
				ch.d.log.WarnContext(ctx, "corrupt model state not deleted", obs.KeyCheck, ch.spec.Name, obs.KeyErr, err)
			}
		}
		if page.Next == "" {
			break
		}
		after = page.Next
	}
	ch.mu.Lock()
	ch.loadedAll = true
	n := ch.series.len()
	ch.mu.Unlock()
	if n > 0 {
		ch.d.log.InfoContext(ctx, "model state restored", obs.KeyCheck, ch.spec.Name, "series", n)
	}
	return nil
}

// admitStored reports whether a new series may keep its model in the store, and counts it if
// so (Options.StoredModels).
func (d *Detector) admitStored() bool {
	if d.o.Store == nil {
		return false
	}
	limit := int64(d.o.StoredModels)
	for {
		n := d.stored.Load()
		if limit > 0 && n >= limit {
			if d.overBudget.CompareAndSwap(false, true) {
				d.log.Warn("model state budget reached: further series keep their models in memory only and learn again after a restart or a failover",
					"stored_models", limit)
			}
			d.m.models.WithLabelValues("memory").Inc()
			return false
		}
		if d.stored.CompareAndSwap(n, n+1) {
			d.m.models.WithLabelValues("store").Inc()
			return true
		}
	}
}

// releaseStored uncounts a forgotten series.
func (d *Detector) releaseStored(st *seriesState) {
	if st.local {
		d.m.models.WithLabelValues("memory").Dec()
		return
	}
	d.stored.Add(-1)
	d.m.models.WithLabelValues("store").Dec()
}

// needsSave reports whether st has state to write: its episode moved, or, when periodic saves
// are asked for and its model is stored, it learnt since its last save.
func (st *seriesState) needsSave(periodic bool) bool {
	if !st.dirty {
		return false
	}
	return st.urgent || (periodic && !st.local)
}

// savePhase is when a series restored at now counts as last saved: a time spread by its hash
// over the save interval before now, so that a check's series come due for their periodic save
// a few at each tick rather than all at once.
func (ch *check) savePhase(now time.Time, h uint64) int64 {
	return now.UnixNano() - int64(h%uint64(ch.d.o.SaveEvery))
}

// pendingSave is a series whose state was marshalled for the store, with what made it due.
type pendingSave struct {
	st     *seriesState
	urgent bool
}

// savingBatch is state marshalled under ch.mu, to be written without it.
type savingBatch struct {
	sts []pendingSave
	ops []store.Op
}

// marshal marshals the state of sts for the store and marks them saved at now. ch.mu must be
// held. A model that cannot be marshalled stays dirty, and is tried again a save interval later.
func (ch *check) marshal(ctx context.Context, sts []*seriesState, now int64) savingBatch {
	var b savingBatch
	for _, st := range sts {
		if st.gone || !st.needsSave(true) {
			continue
		}
		st.savedAt = now
		var m []byte
		if !st.local {
			var err error
			if m, err = st.model.MarshalBinary(); err != nil {
				ch.d.log.WarnContext(ctx, "model state not saved", obs.KeyCheck, ch.spec.Name, obs.KeyErr, err)
				continue
			}
		}
		b.sts = append(b.sts, pendingSave{st: st, urgent: st.urgent})
		b.ops = append(b.ops, store.Op{Key: ch.stateKey(st.labels), Value: encodeSaved(st.labels, st.lastT, st.episode(), m)})
		st.dirty, st.urgent = false, false
	}
	return b
}

// write writes what marshal made; the series whose write failed are due again. ch.saveMu must
// be held, ch.mu must not.
func (ch *check) write(ctx context.Context, b savingBatch) error {
	if len(b.ops) == 0 {
		return nil
	}
	done, err := store.WriteAll(ctx, ch.d.o.Store, b.ops)
	if err == nil {
		return nil
	}
	ch.d.log.WarnContext(ctx, "model state not saved", obs.KeyCheck, ch.spec.Name, "series", len(b.ops)-done, obs.KeyErr, err)
	ch.mu.Lock()
	for _, p := range b.sts[done:] {
		p.st.dirty, p.st.urgent = true, p.st.urgent || p.urgent
	}
	ch.mu.Unlock()
	return err
}

// saveUrgent writes the state of the series whose episode opened or ended, before the tick
// reports it: after a crash a series must still know it has an incident open, or the incident
// would never end.
func (ch *check) saveUrgent(ctx context.Context, sts []*seriesState) {
	if ch.d.o.Store == nil || len(sts) == 0 {
		return
	}
	ch.saveEach(ctx, sts)
}

// saveDue starts writing, in the background, the state of the series that learnt since their
// last save and were last saved a save interval ago or more: each series about once per
// interval, spread over the ticks in it. A tick writes at most its share of the check's series
// (all of them times the tick's interval over the save interval), oldest saved first, so a
// backlog (after the store failed) drains over a few ticks rather than in one. A series whose
// episode moved and whose write failed is due at once, and first. The next tick does not wait
// for the write, but starts none of its own while it runs; ch.writer says when it is done.
func (ch *check) saveDue(ctx context.Context) {
	if ch.d.o.Store == nil || !ch.writing.CompareAndSwap(false, true) {
		return
	}
	ch.mu.Lock()
	now := ch.d.o.Now().UnixNano()
	every := int64(ch.d.o.SaveEvery)
	var due []*seriesState
	ch.series.each(func(st *seriesState) bool {
		if st.needsSave(now-st.savedAt >= every) {
			due = append(due, st)
		}
		return true
	})
	share := int(math.Ceil(float64(ch.series.len()) * float64(ch.interval()) / float64(every)))
	if len(due) > share {
		slices.SortFunc(due, saveOrder)
		due = due[:share]
	}
	ch.mu.Unlock()
	ch.writer.Add(1)
	go func() {
		defer ch.writer.Done()
		defer ch.writing.Store(false)
		ch.saveEach(ctx, due)
		ch.release()
	}()
}

// saveAll writes the state of every series changed since its last save, or only of those whose
// episode moved, a transaction at a time, those whose episode moved first and then the oldest
// saved, until ctx ends.
func (ch *check) saveAll(ctx context.Context, urgentOnly bool) {
	if ch.d.o.Store == nil {
		return
	}
	ch.mu.Lock()
	var dirty []*seriesState
	ch.series.each(func(st *seriesState) bool {
		if st.needsSave(!urgentOnly) {
			dirty = append(dirty, st)
		}
		return true
	})
	ch.mu.Unlock()
	slices.SortFunc(dirty, saveOrder)
	ch.saveEach(ctx, dirty)
	ch.release()
}

// release drops the pages a save read of a mapped store file from the process's RSS
// (store.ReleaseMapped); a failure costs only memory, so it is logged, once, and the save stands.
func (ch *check) release() {
	if err := store.ReleaseMapped(ch.d.o.Store); err != nil && ch.releaseWarned.CompareAndSwap(false, true) {
		ch.d.log.Warn("the store's mapped pages stay resident after saves", obs.KeyCheck, ch.spec.Name, obs.KeyErr, err)
	}
}

// saveEach writes the state of sts a transaction at a time, each marshalled under ch.mu and
// written without it, until ctx ends or a write fails: the rest stay due. Each transaction
// holds ch.saveMu, so other writes (a tick's episodes) go between two of them. Every
// releaseEvery transactions, the pages of the store file they read are released (release), so
// a long save does not hold its whole span of the file resident until it ends.
func (ch *check) saveEach(ctx context.Context, sts []*seriesState) {
	for i := 1; len(sts) > 0 && ctx.Err() == nil; i++ {
		if i%releaseEvery == 0 {
			ch.release()
		}
		n := min(len(sts), store.MaxTxnOps)
		ch.saveMu.Lock()
		ch.mu.Lock()
		b := ch.marshal(ctx, sts[:n], ch.d.o.Now().UnixNano())
		ch.mu.Unlock()
		err := ch.write(ctx, b)
		ch.saveMu.Unlock()
		if err != nil {
			return
		}
		sts = sts[n:]
	}
}

// releaseEvery is how many transactions of a save go between two releases of the store file's
// mapped pages: about a thousand series' worth of pages stay resident at most.
const releaseEvery = 8

// saveOrder orders series for saving: those whose episode moved first, then the longest
// unsaved.
func saveOrder(a, b *seriesState) int {
	if a.urgent != b.urgent {
		if a.urgent {
			return -1
		}
		return 1
	}
	return cmp.Compare(a.savedAt, b.savedAt)
}

// forget drops the series that have sent no new point for Options.ForgetAfter from memory, and
// returns a Recovery marked Stale for each that was in an anomalous span, so its incident does
// not stay open forever, with the deletes of their stored state for deleteForgotten. Called with
// ch.mu held.
func (ch *check) forget(ctx context.Context) ([]Recovery, []store.Op) {
	after := ch.d.o.ForgetAfter
	if after <= 0 {
		return nil, nil
	}
	now := ch.d.o.Now()
	nowNs := now.UnixNano()
	var ops []store.Op
	var recs []Recovery
	ch.series.each(func(st *seriesState) bool {
		if nowNs-st.seenAt < int64(after) {
			return true
		}
		ch.series.remove(st)
		st.gone = true
		ch.d.releaseStored(st)
		ops = append(ops, store.Op{Key: ch.stateKey(st.labels), Delete: true})
		if st.ep.Open() {
			recs = append(recs, Recovery{Check: ch.spec.Name, Labels: st.labels, T: now, Since: st.ep.Since, Stale: true})
		}
		return true
	})
	if len(ops) == 0 {
		return nil, nil
	}
	ch.d.m.forgotten.WithLabelValues(ch.spec.Name).Add(float64(len(ops)))
	ch.d.log.InfoContext(ctx, "series without new points forgotten", obs.KeyCheck, ch.spec.Name,
		"series", len(ops), "silent_for_at_least", after.String())
	if ch.d.o.Store == nil {
		return recs, nil
	}
	return recs, ops
}

// deleteForgotten deletes the stored state of forgotten series, after any save of them
// marshalled before they were forgotten.
func (ch *check) deleteForgotten(ctx context.Context, ops []store.Op) {
	if len(ops) == 0 {
		return
	}
	ch.saveMu.Lock()
	defer ch.saveMu.Unlock()
	if _, err := store.WriteAll(ctx, ch.d.o.Store, ops); err != nil {
		// The state stays in the store; the next restart restores it and the series is
		// forgotten again ForgetAfter later.
		ch.d.log.WarnContext(ctx, "state of forgotten series not deleted", obs.KeyCheck, ch.spec.Name, obs.KeyErr, err)
	}
}

// forgetRemovedChecks deletes the stored state of checks that are no longer configured, once,
// when the detector starts, and returns for each such check a Tick with a Recovery marked Stale
// for each series that was in an episode, so the incidents of a removed or renamed check do not
// stay open. It does nothing unless ForgetAfter is set: with retention.series at 0 everything is
// kept. It reads the store a page at a time and skips over the state of the checks it has.
func (d *Detector) forgetRemovedChecks(ctx context.Context) []Tick {
	if d.o.Store == nil || d.o.ForgetAfter <= 0 {
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
	after := ""
	for {
		page, err := d.o.Store.ListPage(ctx, statePrefix, after, loadPage)
		if err != nil {
			d.log.WarnContext(ctx, "state of removed checks not looked for", obs.KeyErr, err)
			return nil
		}
		skipped := false
		for _, kv := range page.KVs {
			name, _, ok := strings.Cut(strings.TrimPrefix(kv.Key, statePrefix), "/")
			if ok && known[name] {
				// Everything of a known check sorts before this bound: go on after it.
				after, skipped = statePrefix+name+"/\xff", true
				break
			}
			if !ok {
				continue
			}
			ops = append(ops, store.Op{Key: kv.Key, Delete: true})
			removed[name]++
			if s, err := decodeSaved(kv.Value); err == nil && !s.episode().Since.IsZero() {
				i, ok := at[name]
				if !ok {
					i = len(ticks)
					at[name] = i
					ticks = append(ticks, Tick{Check: name, T: d.o.Now()})
				}
				ticks[i].Events = append(ticks[i].Events, Event{Recovery: &Recovery{Check: name, Labels: s.Labels, T: d.o.Now(), Since: s.episode().Since, Stale: true}})
			}
		}
		if skipped {
			continue
		}
		if page.Next == "" {
			break
		}
		after = page.Next
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

// episode is the series' episode for saving (open, or ended and still remembered), or nil.
func (s *seriesState) episode() *Episode {
	if !s.ep.stored() {
		return nil
	}
	ep := s.ep
	return &ep
}
