package incident

import (
	"context"
	"errors"
	"fmt"

	"github.com/smartcloudops/smartcloudops/detector"
	"github.com/smartcloudops/smartcloudops/internal/obs"
	"github.com/smartcloudops/smartcloudops/internal/store"
)

// maxBatchOps and maxBatchCmps bound one batch's transaction as etcd does (store.MaxTxnOps),
// keeping one comparison spare for a leader's fence.
const (
	maxBatchOps  = store.MaxTxnOps
	maxBatchCmps = store.MaxTxnOps - 1
)

// ApplyTick records the episodes of one detector tick — incidents opened, brought up to date and
// resolved, in the order they happened — in as few store transactions as it can, none over
// store.MaxTxnOps, and reports each change (Options.OnChange) once it is written. A storm of ten
// thousand anomalies in one tick is a few hundred transactions, not ten thousand. It returns the
// incident of every series with an event, by detector.Key of its labels, resolved ones included.
// Events it could not record are counted in the error; the next tick's events for those series
// record them again, as an open episode reports itself on every tick.
func (m *Manager) ApplyTick(ctx context.Context, t detector.Tick) (map[string]Incident, error) {
	if len(t.Events) == 0 {
		return map[string]Incident{}, nil
	}
	silences, err := m.Silences(ctx)
	if err != nil {
		return map[string]Incident{}, fmt.Errorf("incidents of check %s: silences: %w", t.Check, err)
	}
	changes := make([]change, 0, len(t.Events))
	for _, e := range t.Events {
		switch {
		case e.Anomaly != nil:
			a := e.Anomaly
			changes = append(changes, change{fp: AnomalyFingerprint(a.Check, a.Labels), key: detector.Key(a.Labels),
				fn: anomalyChange(*a, silenceFor(silences, a.Labels, a.Check))})
		case e.Recovery != nil:
			r := e.Recovery
			how := ""
			if r.Stale {
				how = ResolutionStale
			}
			changes = append(changes, change{fp: AnomalyFingerprint(r.Check, r.Labels), key: detector.Key(r.Labels), fn: resolveChange(r.T, how)})
		}
	}
	applied, lost, err := m.apply(ctx, changes)
	out := make(map[string]Incident, len(applied))
	for k, a := range applied {
		out[k] = a.inc
	}
	if lost > 0 {
		m.log.ErrorContext(ctx, "incident changes not recorded", obs.KeyCheck, t.Check, "changes", lost, obs.KeyErr, err)
		return out, fmt.Errorf("%d incident changes of check %s not recorded: %w", lost, t.Check, err)
	}
	return out, nil
}

// change is one incident change to apply: fn applied to the incident open for fp; key names the
// result in what apply returns.
type change struct {
	fp, key string
	fn      func(*Incident, bool) bool
	mark    string // written with the change, when it changes something
}

// applied is what one change did: the incident as written, and the change when it is one that is
// reported and audited (an opening or a resolution), or 0.
type applied struct {
	inc     Incident
	audited Change
}

// appliedOf is what the written plan pl did.
func appliedOf(pl plan) applied {
	a := applied{inc: pl.inc}
	if pl.report && pl.change != Updated {
		a.audited = pl.change
	}
	return a
}

// markValue is what a change's mark holds: the incident's ID and, when the change is audited
// (see AlertGroup.Mark), the change after a newline.
func markValue(pl plan) []byte {
	if a := appliedOf(pl); a.audited != 0 {
		return []byte(pl.inc.ID + "\n" + a.audited.String())
	}
	return []byte(pl.inc.ID)
}

// apply applies changes in order, in as few transactions of at most store.MaxTxnOps writes and
// comparisons as it can, and reports each once written. The transactions go to the store as
// sequences (store.TxnSeq) of up to maxSeqBatches, which the embedded store commits with one
// sync each: a round of hundreds of changes waits for one or two commits, not one per batch. It
// returns what each did by key, how many changes could not be recorded and the first reason.
func (m *Manager) apply(ctx context.Context, changes []change) (map[string]applied, int, error) {
	type step struct {
		pl plan
		c  change
	}
	var (
		out     = make(map[string]applied, len(changes))
		batch   []step
		sealed  [][]step // batches ready to be written, in order
		inBatch = map[string]bool{}
		ncmps   int
		nops    int
		done    []plan // written (or held as routine updates), to report in order
		lost    int
		first   error
	)
	fail := func(err error) {
		lost++
		if first == nil {
			first = err
		}
	}
	// seal closes the batch being filled: it is written with the next flush.
	seal := func() {
		if len(batch) > 0 {
			sealed = append(sealed, batch)
			batch = nil
		}
		ncmps, nops = 0, 0
	}
	// again writes the steps of a batch that was not written each on its own, read afresh.
	again := func(steps []step) {
		for _, s := range steps {
			pl, err := m.writeOne(ctx, s.c.fp, s.c.fn, s.c.mark)
			if err != nil {
				fail(err)
				continue
			}
			out[s.c.key] = appliedOf(pl)
			done = append(done, pl)
		}
	}
	m.mu.Lock()
	// flush writes the sealed batches, a transaction each, as one sequence. If someone wrote one
	// of a batch's incidents meanwhile, the batch is written again one change at a time, as are
	// those after it, which the sequence did not try.
	flush := func() {
		seal()
		if len(sealed) == 0 {
			return
		}
		txns := make([]store.SeqTxn, len(sealed))
		for i, b := range sealed {
			var t store.SeqTxn
			for _, s := range b {
				t.Cmps = append(t.Cmps, s.pl.cmps...)
				t.Ops = append(t.Ops, s.pl.ops...)
			}
			txns[i] = t
		}
		revs, err := store.TxnSeq(ctx, m.o.Store, txns)
		for _, b := range sealed[:len(revs)] {
			for _, s := range b {
				m.committed(ctx, s.pl)
				out[s.c.key] = appliedOf(s.pl)
				done = append(done, s.pl)
			}
		}
		for _, b := range sealed[len(revs):] {
			if errors.Is(err, store.ErrConflict) {
				again(b)
				continue
			}
			for range b {
				fail(err)
			}
		}
		sealed = sealed[:0]
		clear(inBatch)
	}
	for _, c := range changes {
		if inBatch[c.fp] {
			flush() // the incident must be read back as the writes before leave it
		}
		pl, ok, err := m.prepare(ctx, c.fp, c.fn)
		if err != nil {
			fail(err)
			continue
		}
		if !ok {
			continue
		}
		if c.mark != "" && !pl.routine {
			pl.ops = append(pl.ops, store.Op{Key: c.mark, Value: markValue(pl)})
		}
		if pl.routine {
			m.pending[pl.inc.ID] = clone(pl.inc)
			out[c.key] = appliedOf(pl)
			done = append(done, pl)
			continue
		}
		if ncmps+len(pl.cmps) > maxBatchCmps || nops+len(pl.ops) > maxBatchOps {
			seal()
			if len(sealed) == maxSeqBatches {
				flush()
			}
		}
		batch = append(batch, step{pl: pl, c: c})
		inBatch[c.fp] = true
		ncmps += len(pl.cmps)
		nops += len(pl.ops)
	}
	flush()
	m.mu.Unlock()
	for _, pl := range done {
		m.notify(ctx, pl.inc, pl.change, pl.report)
	}
	return out, lost, first
}

// maxSeqBatches is how many batches' transactions apply writes as one sequence: on the embedded
// store, up to its group commit's 4,096 writes.
const maxSeqBatches = 32

// writeOne prepares and writes one change on its own, retrying on conflicts. m.mu must be held.
func (m *Manager) writeOne(ctx context.Context, fp string, fn func(*Incident, bool) bool, mark string) (plan, error) {
	for attempt := 0; ; attempt++ {
		pl, ok, err := m.prepare(ctx, fp, fn)
		if err != nil || !ok {
			return pl, err
		}
		if pl.routine {
			m.pending[pl.inc.ID] = clone(pl.inc)
			return pl, nil
		}
		if mark != "" {
			pl.ops = append(pl.ops, store.Op{Key: mark, Value: markValue(pl)})
		}
		_, err = m.o.Store.Txn(ctx, pl.cmps, pl.ops)
		if errors.Is(err, store.ErrConflict) && attempt < 20 {
			continue
		}
		if err != nil {
			return pl, err
		}
		m.committed(ctx, pl)
		return pl, nil
	}
}

// silenceFor is the ID of the first silence in ss that mutes the series, or "".
func silenceFor(ss []Silence, labels map[string]string, check string) string {
	for _, s := range ss {
		if s.matches(labels, check) {
			return s.ID
		}
	}
	return ""
}
