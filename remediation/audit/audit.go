// Package audit owns the tamper-evident record of everything the bot decides and does, the last
// step of the flow: proposals, approvals, rejections, executions and their results, rule changes
// and refused attempts. Records are appended to the store in a hash chain: each record's hash
// covers its content and the previous record's hash, and a head key holds the last sequence number
// and hash. Verify walks the chain, so any edit, insertion, reordering or deletion of a stored
// record is detected.
package audit

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"strings"
	"sync"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/smartcloudops/smartcloudops/internal/obs"
	"github.com/smartcloudops/smartcloudops/internal/store"
)

const (
	prefix  = "audit/records/"
	headKey = "audit/head"
)

// Record is one audited step.
type Record struct {
	Seq         uint64            `json:"seq"`
	Time        time.Time         `json:"time"`
	Kind        string            `json:"kind"` // e.g. proposal.created, proposal.approved, action.succeeded
	Correlation string            `json:"cid,omitempty"`
	User        string            `json:"user,omitempty"`
	Proposal    string            `json:"proposal,omitempty"`
	Incident    string            `json:"incident,omitempty"`
	Rule        string            `json:"rule,omitempty"`
	RuleVersion string            `json:"rule_version,omitempty"`
	PlanHash    string            `json:"plan_hash,omitempty"`
	Target      string            `json:"target,omitempty"`
	Outcome     string            `json:"outcome,omitempty"`
	Detail      string            `json:"detail,omitempty"`
	Extra       map[string]string `json:"extra,omitempty"`
	PrevHash    string            `json:"prev_hash"`
	Hash        string            `json:"hash"`
}

type head struct {
	Seq  uint64 `json:"seq"`
	Hash string `json:"hash"`
}

// Options configures a Log. Store is required.
type Options struct {
	Store      store.Store
	Logger     *slog.Logger
	Registerer prometheus.Registerer
	Now        func() time.Time
}

// Log appends and verifies audit records.
type Log struct {
	mu      sync.Mutex // the turn to write: held by whoever commits the queued appends
	qmu     sync.Mutex // guards queue
	queue   []*appendReq
	st      store.Store
	log     *slog.Logger
	now     func() time.Time
	records prometheus.Counter
}

// New returns a Log on o.Store.
func New(o Options) (*Log, error) {
	if o.Store == nil {
		return nil, errors.New("audit: Store is required")
	}
	if o.Logger == nil {
		o.Logger = obs.Discard()
	}
	if o.Now == nil {
		o.Now = time.Now
	}
	l := &Log{st: o.Store, log: o.Logger.With(obs.KeyComponent, "audit"), now: o.Now,
		records: prometheus.NewCounter(prometheus.CounterOpts{Name: "smartcloudops_audit_records_total", Help: "Audit records appended."})}
	if o.Registerer != nil {
		o.Registerer.MustRegister(l.records)
	}
	return l, nil
}

// hashOf is the SHA-256 of the record's JSON with Hash empty; PrevHash is part of it.
func hashOf(r Record) string {
	r.Hash = ""
	b, _ := json.Marshal(r)
	sum := sha256.Sum256(b)
	return hex.EncodeToString(sum[:])
}

func recordKey(seq uint64) string { return fmt.Sprintf("%s%020d", prefix, seq) }

// Append adds r to the chain, filling Seq, Time (if zero), the correlation ID from ctx (if
// empty) and the hashes. It retries when another writer appended first.
func (l *Log) Append(ctx context.Context, r Record) (Record, error) {
	r, _, err := l.AppendWith(ctx, r, nil, nil)
	return r, err
}

// AppendWith appends r in the same store transaction as the caller's ops, which apply only if
// the caller's cmps hold: a state change and its audit record are written together or not at
// all. It returns the transaction's revision, or store.ErrConflict when one of the caller's
// cmps no longer holds (the caller then re-reads and decides again).
//
// Appends that arrive while another is being written are committed together, in one
// transaction within etcd's limits (group commit), so concurrent proposals and decisions cost
// one store commit per batch rather than one each. A batch whose comparisons fail is written
// again one append at a time, so one caller's stale condition never fails another's append.
func (l *Log) AppendWith(ctx context.Context, r Record, cmps []store.Cmp, ops []store.Op) (Record, uint64, error) {
	req := &appendReq{ctx: ctx, r: l.fill(ctx, r), cmps: cmps, ops: ops}
	l.enqueue(req)
	return req.r, req.rev, req.err
}

// AppendAll adds rs to the chain in their order, as Append does each, and returns once all are
// in the log: a batch of records (the incidents a tick or a webhook round opened) shares as few
// transactions as etcd's limits allow, without a caller waiting for each. It returns the errors
// of the records that were not appended.
func (l *Log) AppendAll(ctx context.Context, rs []Record) error {
	return l.AppendAllWith(ctx, rs, nil)
}

// AppendAllWith is AppendAll where record i is written in the same transaction as ops(i) (when
// ops is not nil): a change the caller makes because the record is in, such as clearing a
// marker that says it is not, happens with it or not at all.
func (l *Log) AppendAllWith(ctx context.Context, rs []Record, ops func(i int) []store.Op) error {
	if len(rs) == 0 {
		return nil
	}
	reqs := make([]*appendReq, len(rs))
	for i, r := range rs {
		reqs[i] = &appendReq{ctx: ctx, r: l.fill(ctx, r)}
		if ops != nil {
			reqs[i].ops = ops(i)
		}
	}
	l.enqueue(reqs...)
	var errs []error
	for _, req := range reqs {
		if req.err != nil {
			errs = append(errs, req.err)
		}
	}
	return errors.Join(errs...)
}

// fill sets what Append fills in before a record is queued.
func (l *Log) fill(ctx context.Context, r Record) Record {
	if r.Correlation == "" {
		r.Correlation = obs.Correlation(ctx)
	}
	if r.Time.IsZero() {
		r.Time = l.now()
	}
	r.Time = r.Time.UTC().Round(0)
	return r
}

// enqueue queues reqs together and returns once they are committed.
func (l *Log) enqueue(reqs ...*appendReq) {
	l.qmu.Lock()
	l.queue = append(l.queue, reqs...)
	l.qmu.Unlock()
	// Appends from this process take turns for the head; whoever holds the turn writes every
	// append queued by then, reqs among them (all of them: they were queued at once). The
	// compare-and-set still guards against other processes sharing the store.
	l.mu.Lock()
	defer l.mu.Unlock()
	if !reqs[0].done {
		l.qmu.Lock()
		batch := l.queue
		l.queue = nil
		l.qmu.Unlock()
		l.commit(batch)
	}
}

// groupTimeout bounds the transaction of a batch of appends.
const groupTimeout = 30 * time.Second

// appendReq is one append waiting for its turn.
type appendReq struct {
	ctx  context.Context
	r    Record
	cmps []store.Cmp
	ops  []store.Op
	// set by the commit
	done bool
	rev  uint64
	err  error
}

// maxSeq is the most transactions one sequence of appends takes (store.TxnSeq): on the embedded
// store they are written with one sync, up to its group commit's 4,096 writes.
const maxSeq = 32

// commit writes the batch: as many appends per transaction as etcd's limits allow (each record
// writes 2 keys and compares 2), and as many transactions at once as one sequence takes, each
// moving the head on from where the one before it left it; one at a time when a transaction's
// comparisons fail. l.mu must be held.
func (l *Log) commit(batch []*appendReq) {
	for len(batch) > 0 {
		var groups [][]*appendReq
		rest := batch
		for len(rest) > 0 && len(groups) < maxSeq {
			g := nextGroup(rest)
			if len(groups) > 0 && !sameFence(groups[0][0].ctx, g[0].ctx) {
				break
			}
			groups = append(groups, g)
			rest = rest[len(g):]
		}
		if len(groups) == 1 && len(groups[0]) == 1 {
			l.commitOne(groups[0][0])
			batch = rest
			continue
		}
		written, err := l.trySeq(groups)
		if written == len(groups) {
			batch = rest
			continue
		}
		failed := groups[written]
		if !errors.Is(err, store.ErrConflict) {
			// The store failed the sequence there: what it did not write fails with it.
			for _, g := range groups[written:] {
				for _, req := range g {
					req.done = true
					req.err = fmt.Errorf("audit: append %s: %w", req.r.Kind, err)
				}
			}
			batch = rest
			continue
		}
		for _, req := range failed {
			l.commitOne(req)
		}
		// The transactions after the one that failed were not tried: they go again, on the
		// head as it is now.
		var retry []*appendReq
		for _, g := range groups[written+1:] {
			retry = append(retry, g...)
		}
		batch = append(retry, rest...)
	}
}

// nextGroup is the appends at the start of batch that one transaction takes: within etcd's
// limits, each key written once, and one fence.
func nextGroup(batch []*appendReq) []*appendReq {
	n, nops, ncmps := 0, 1, 1 // the head key is written and compared once per transaction
	keys := map[string]bool{}
grouping:
	for n < len(batch) {
		o, c := 1+len(batch[n].ops), 1+len(batch[n].cmps)
		if n > 0 && (nops+o > store.MaxTxnOps || ncmps+c > store.MaxTxnOps-1) {
			break
		}
		for _, op := range batch[n].ops {
			if n > 0 && keys[op.Key] {
				break grouping // a key is written once per transaction; the next one takes it
			}
		}
		if n > 0 && !sameFence(batch[0].ctx, batch[n].ctx) {
			break // a leader's fenced appends never share a transaction with unfenced ones
		}
		for _, op := range batch[n].ops {
			keys[op.Key] = true
		}
		nops, ncmps = nops+o, ncmps+c
		n++
	}
	return batch[:n]
}

// trySeq writes groups of appends, a transaction each, as one sequence (store.TxnSeq) and
// returns how many of them were written; the error is that of the first that was not
// (store.ErrConflict when a comparison, the head's or a caller's, no longer held).
func (l *Log) trySeq(groups [][]*appendReq) (int, error) {
	// The batch is everyone's: one caller giving up must not fail the others' appends.
	ctx, cancel := context.WithTimeout(context.WithoutCancel(groups[0][0].ctx), groupTimeout)
	defer cancel()
	h, hrev, err := l.readHead(ctx)
	if err != nil {
		return 0, err
	}
	txns := make([]store.SeqTxn, len(groups))
	records := make([][]Record, len(groups))
	for gi, group := range groups {
		rev := hrev
		if gi > 0 {
			rev = store.PrevRev // the head as the transaction before left it
		}
		cmps := []store.Cmp{{Key: headKey, Rev: rev}}
		var ops []store.Op
		records[gi] = make([]Record, len(group))
		for i, req := range group {
			r := req.r
			r.Seq, r.PrevHash = h.Seq+1, h.Hash
			r.Hash = hashOf(r)
			h = head{Seq: r.Seq, Hash: r.Hash}
			rb, _ := json.Marshal(r)
			cmps = append(cmps, store.Cmp{Key: recordKey(r.Seq), Rev: 0})
			cmps = append(cmps, req.cmps...)
			ops = append(ops, store.Op{Key: recordKey(r.Seq), Value: rb})
			ops = append(ops, req.ops...)
			records[gi][i] = r
		}
		hb, _ := json.Marshal(h)
		ops = append(ops, store.Op{Key: headKey, Value: hb})
		txns[gi] = store.SeqTxn{Cmps: cmps, Ops: ops}
	}
	revs, err := store.TxnSeq(ctx, l.st, txns)
	for gi, rev := range revs {
		for i, req := range groups[gi] {
			req.r, req.rev, req.done = records[gi][i], rev, true
		}
		l.records.Add(float64(len(groups[gi])))
	}
	return len(revs), err
}

// commitOne writes one append on its own, retrying while the chain moves on under it.
func (l *Log) commitOne(req *appendReq) {
	req.done = true
	ctx, r := req.ctx, req.r
	for attempt := 0; ; attempt++ {
		h, hrev, err := l.readHead(ctx)
		if err != nil {
			req.err = err
			return
		}
		r.Seq, r.PrevHash = h.Seq+1, h.Hash
		r.Hash = hashOf(r)
		rb, _ := json.Marshal(r)
		hb, _ := json.Marshal(head{Seq: r.Seq, Hash: r.Hash})
		allCmps := append([]store.Cmp{{Key: headKey, Rev: hrev}, {Key: recordKey(r.Seq), Rev: 0}}, req.cmps...)
		allOps := append([]store.Op{{Key: recordKey(r.Seq), Value: rb}, {Key: headKey, Value: hb}}, req.ops...)
		rev, err := l.st.Txn(ctx, allCmps, allOps)
		if errors.Is(err, store.ErrConflict) {
			// Retry only if the chain moved on; a caller's condition that failed is theirs.
			if now, gerr := l.st.Get(ctx, headKey); (gerr == nil && now.Rev != hrev) || (hrev == 0 && gerr == nil) {
				if attempt < 100 {
					continue
				}
			}
			if len(req.cmps) > 0 {
				req.err = store.ErrConflict
				return
			}
			if attempt < 100 {
				continue
			}
		}
		if err != nil {
			req.err = fmt.Errorf("audit: append %s: %w", r.Kind, err)
			return
		}
		l.records.Inc()
		req.r, req.rev = r, rev
		return
	}
}

// readHead returns the chain's head and the revision of its key (0 for an empty chain).
func (l *Log) readHead(ctx context.Context) (head, uint64, error) {
	var h head
	kv, err := l.st.Get(ctx, headKey)
	switch {
	case errors.Is(err, store.ErrNotFound):
		return h, 0, nil
	case err != nil:
		return h, 0, fmt.Errorf("audit: read head: %w", err)
	}
	if err := json.Unmarshal(kv.Value, &h); err != nil {
		return h, 0, fmt.Errorf("audit: corrupt head: %w", err)
	}
	return h, kv.Rev, nil
}

// Filter selects records for List; zero fields match everything.
type Filter struct {
	Since    time.Time
	Proposal string
	Rule     string
	Target   string
	// Match, when set, matches the rule, target, proposal or incident of a record.
	Match string
	Limit int // the most recent Limit records; 0 for all
}

func (f Filter) ok(r Record) bool {
	if !f.Since.IsZero() && r.Time.Before(f.Since) {
		return false
	}
	if f.Proposal != "" && r.Proposal != f.Proposal {
		return false
	}
	if f.Rule != "" && r.Rule != f.Rule {
		return false
	}
	if f.Target != "" && r.Target != f.Target {
		return false
	}
	if m := f.Match; m != "" && r.Rule != m && r.Target != m && r.Proposal != m && r.Incident != m && !strings.HasPrefix(r.Target, m+"/") {
		return false
	}
	return true
}

// List returns the records that match f, oldest first.
func (l *Log) List(ctx context.Context, f Filter) ([]Record, error) {
	kvs, err := l.st.List(ctx, prefix)
	if err != nil {
		return nil, fmt.Errorf("audit: list: %w", err)
	}
	var out []Record
	for _, kv := range kvs {
		var r Record
		if err := json.Unmarshal(kv.Value, &r); err != nil {
			return nil, fmt.Errorf("audit: record %s is corrupt: %w", kv.Key, err)
		}
		if f.ok(r) {
			out = append(out, r)
		}
	}
	if f.Limit > 0 && len(out) > f.Limit {
		out = out[len(out)-f.Limit:]
	}
	return out, nil
}

// Verify checks the whole chain and returns the number of records checked. Any break — a record
// whose hash does not match its content, a missing or extra sequence number, a record whose
// previous hash is not its predecessor's, or a head that does not match the last record — is an
// error naming the first bad record.
func (l *Log) Verify(ctx context.Context) (int, error) {
	kvs, err := l.st.List(ctx, prefix)
	if err != nil {
		return 0, fmt.Errorf("audit: list: %w", err)
	}
	var h head
	hkv, err := l.st.Get(ctx, headKey)
	switch {
	case errors.Is(err, store.ErrNotFound):
		if len(kvs) > 0 {
			return 0, errors.New("audit: the chain head is missing but records exist")
		}
		return 0, nil
	case err != nil:
		return 0, fmt.Errorf("audit: read head: %w", err)
	}
	if err := json.Unmarshal(hkv.Value, &h); err != nil {
		return 0, fmt.Errorf("audit: corrupt head: %w", err)
	}
	prev := ""
	for i, kv := range kvs {
		var r Record
		if err := json.Unmarshal(kv.Value, &r); err != nil {
			return i, fmt.Errorf("audit: record %s is not valid JSON: %w", kv.Key, err)
		}
		want := uint64(i + 1)
		switch {
		case kv.Key != recordKey(r.Seq):
			return i, fmt.Errorf("audit: record stored at %s claims seq %d", kv.Key, r.Seq)
		case r.Seq != want:
			return i, fmt.Errorf("audit: record %d is missing (found %d next)", want, r.Seq)
		case r.PrevHash != prev:
			return i, fmt.Errorf("audit: record %d does not follow record %d (chain broken)", r.Seq, r.Seq-1)
		case hashOf(r) != r.Hash:
			return i, fmt.Errorf("audit: record %d was altered (hash mismatch)", r.Seq)
		}
		prev = r.Hash
	}
	if h.Seq != uint64(len(kvs)) || h.Hash != prev {
		return len(kvs), fmt.Errorf("audit: the head names record %d but the chain ends at %d (records removed from the end?)", h.Seq, len(kvs))
	}
	return len(kvs), nil
}

// sameFence reports whether two appends' contexts carry the same fence (or none).
func sameFence(a, b context.Context) bool {
	fa, oka := store.FenceOf(a)
	fb, okb := store.FenceOf(b)
	return oka == okb && fa == fb
}
