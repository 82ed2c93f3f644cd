package alertmanager

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"hash/fnv"
	"log/slog"
	"strconv"
	"sync"
	"sync/atomic"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"golang.org/x/sync/errgroup"

	"github.com/smartcloudops/smartcloudops/internal/obs"
	"github.com/smartcloudops/smartcloudops/internal/store"
)

// inboxPrefix is where accepted notifications wait to be processed.
const inboxPrefix = "alertmanager/inbox/"

// ErrBusy is returned by Accept while more notifications wait than the intake's high-water
// mark: the handler answers 503 and Alertmanager retries later, rather than the bot queueing
// without bound.
var ErrBusy = errors.New("alertmanager: too many notifications waiting to be processed; retry later")

// Defaults of IntakeOptions.
const (
	DefaultHighWater = 20000 // notifications
	DefaultBatch     = 256   // notifications per processing round
	DefaultWorkers   = 2     // processing workers, each with its own groups
)

// Two workers keep both cores of a small machine busy. Each worker writes its part of a round in
// transactions of its own, so more workers split a round's writes into more, smaller commits:
// on the project's 2-core machine a webhook flood was processed at about 1,860 alerts/s with 8
// workers, 2,000 with 4, and 2,080 with 1 or 2.

// maxEntryBytes bounds one stored entry; a notification larger than this is stored in several,
// each with some of its alerts.
const maxEntryBytes = 512 << 10

// IntakeOptions configures an Intake. Store, Logger and Registerer are required.
type IntakeOptions struct {
	Store store.Store
	// Replica names this process in the keys of the entries it writes, so several replicas
	// accepting at once never write the same key. Empty is fine for one process.
	Replica string
	// HighWater is the most notifications waiting to be processed before Accept answers
	// ErrBusy; 0 means DefaultHighWater.
	HighWater int
	// Batch is how many notifications one processing round takes; 0 means DefaultBatch.
	Batch int
	// Workers is how many of a round's groups are processed at once; the notifications of one
	// group always go to the same worker, in order. 0 means DefaultWorkers.
	Workers    int
	Logger     *slog.Logger
	Registerer prometheus.Registerer
	Now        func() time.Time
}

// Entry is one accepted notification waiting to be processed. Key names it for good: an entry
// processed again after a crash has the same Key.
type Entry struct {
	Key     string
	Message *Message
}

// Intake makes a notification durable before it is answered, and has it processed afterwards,
// apart from the request, in order, at least once — and, because processing is idempotent per
// entry key, with its effects exactly once: a client that gives up, a redelivery or a restart
// never loses an accepted alert or evaluates it twice into two proposals.
//
// Accept writes the notification under alertmanager/inbox/ and returns once it is in the store.
// Notifications accepted while another is being written share its transaction (group commit),
// so the intake costs one store commit per burst rather than one per alert. Run, on the one
// process that acts (the leader, with several replicas), takes the oldest waiting entries in
// rounds, hands them to the processing function in workers by group key, deletes those
// processed, and waits for more through a store watch.
type Intake struct {
	o       IntakeOptions
	log     *slog.Logger
	seq     atomic.Uint64
	waiting atomic.Int64 // accepted and not yet processed, as far as this process knows

	mu    sync.Mutex // the turn to write
	qmu   sync.Mutex // guards queue
	queue []*acceptReq

	// held keeps the messages this process accepted while it processes them too (Run), until
	// they are processed, by entry key: a round decodes from the store only what another
	// replica, or the process before a restart, accepted.
	hmu     sync.Mutex
	held    map[string]*Message
	running atomic.Bool

	m *intakeMetrics
}

type intakeMetrics struct {
	depth     prometheus.GaugeFunc
	accepted  prometheus.Counter
	busy      prometheus.Counter
	processed prometheus.Counter
	failed    prometheus.Counter
	commits   prometheus.Counter
}

// NewIntake checks o and returns an Intake.
func NewIntake(o IntakeOptions) (*Intake, error) {
	if o.Store == nil || o.Logger == nil || o.Registerer == nil {
		return nil, errors.New("alertmanager: intake: Store, Logger and Registerer are required")
	}
	if o.HighWater <= 0 {
		o.HighWater = DefaultHighWater
	}
	if o.Batch <= 0 {
		o.Batch = DefaultBatch
	}
	if o.Workers <= 0 {
		o.Workers = DefaultWorkers
	}
	if o.Now == nil {
		o.Now = time.Now
	}
	in := &Intake{o: o, log: o.Logger.With(obs.KeyComponent, "alertmanager.intake"), held: map[string]*Message{}}
	in.m = &intakeMetrics{
		depth: prometheus.NewGaugeFunc(prometheus.GaugeOpts{Name: "smartcloudops_alertmanager_intake_queue",
			Help: "Alertmanager notifications accepted and not yet processed."}, func() float64 { return float64(in.waiting.Load()) }),
		accepted: prometheus.NewCounter(prometheus.CounterOpts{Name: "smartcloudops_alertmanager_intake_accepted_total",
			Help: "Alertmanager notifications made durable and answered 200."}),
		busy: prometheus.NewCounter(prometheus.CounterOpts{Name: "smartcloudops_alertmanager_intake_busy_total",
			Help: "Alertmanager notifications answered 503 because too many were waiting; Alertmanager retries them."}),
		processed: prometheus.NewCounter(prometheus.CounterOpts{Name: "smartcloudops_alertmanager_intake_processed_total",
			Help: "Alertmanager notifications processed: incidents recorded and alert rules evaluated."}),
		failed: prometheus.NewCounter(prometheus.CounterOpts{Name: "smartcloudops_alertmanager_intake_failures_total",
			Help: "Processing rounds that failed; their notifications are processed again."}),
		commits: prometheus.NewCounter(prometheus.CounterOpts{Name: "smartcloudops_alertmanager_intake_commits_total",
			Help: "Store transactions that made accepted notifications durable."}),
	}
	for _, c := range []prometheus.Collector{in.m.depth, in.m.accepted, in.m.busy, in.m.processed, in.m.failed, in.m.commits} {
		if err := o.Registerer.Register(c); err != nil {
			return nil, fmt.Errorf("alertmanager: intake: register metrics: %w", err)
		}
	}
	return in, nil
}

// acceptReq is one notification waiting for its turn to be written.
type acceptReq struct {
	ctx  context.Context
	ops  []store.Op
	m    *Message // the message of ops, when it is one entry
	done bool
	err  error
}

// Busy reports whether Accept would answer ErrBusy now: the notifications accepted and not yet
// processed are at the high-water mark.
func (in *Intake) Busy() bool { return in.waiting.Load() >= int64(in.o.HighWater) }

// Accept makes m durable: when it returns nil, m is in the store and will be processed even if
// the client goes away or the bot restarts. It returns ErrBusy above the high-water mark.
func (in *Intake) Accept(ctx context.Context, m *Message) error {
	if in.Busy() {
		in.m.busy.Inc()
		return ErrBusy
	}
	ops, err := in.entries(m)
	if err != nil {
		return err
	}
	req := &acceptReq{ctx: ctx, ops: ops}
	if len(ops) == 1 {
		req.m = m
	}
	in.qmu.Lock()
	in.queue = append(in.queue, req)
	in.qmu.Unlock()
	in.mu.Lock()
	defer in.mu.Unlock()
	if !req.done {
		in.qmu.Lock()
		batch := in.queue
		in.queue = nil
		in.qmu.Unlock()
		in.commit(batch)
	}
	if req.err == nil {
		in.m.accepted.Inc()
	}
	return req.err
}

// entries encodes m as the store ops of its entries: one, or several for a notification too
// large for one value, each with some of its alerts.
func (in *Intake) entries(m *Message) ([]store.Op, error) {
	b, err := json.Marshal(m)
	if err != nil {
		return nil, fmt.Errorf("alertmanager: intake: encode: %w", err)
	}
	if len(b) <= maxEntryBytes || len(m.Alerts) <= 1 {
		return []store.Op{{Key: in.nextKey(), Value: b}}, nil
	}
	half := *m
	half.Alerts = m.Alerts[:len(m.Alerts)/2]
	first, err := in.entries(&half)
	if err != nil {
		return nil, err
	}
	half.Alerts = m.Alerts[len(m.Alerts)/2:]
	rest, err := in.entries(&half)
	return append(first, rest...), err
}

// nextKey names a new entry: the time it was accepted (so keys sort in arrival order), this
// replica and a sequence number.
func (in *Intake) nextKey() string {
	return fmt.Sprintf("%s%020d-%s-%010d", inboxPrefix, in.o.Now().UnixNano(), in.o.Replica, in.seq.Add(1))
}

// acceptTimeout bounds the transaction that makes a batch of notifications durable.
const acceptTimeout = 30 * time.Second

// commit writes the queued notifications in as few transactions as etcd's limits allow. in.mu
// must be held.
func (in *Intake) commit(batch []*acceptReq) {
	for len(batch) > 0 {
		n, nops, size := 0, 0, 0
		for n < len(batch) {
			b := 0
			for _, op := range batch[n].ops {
				b += len(op.Key) + len(op.Value) + 16
			}
			if n > 0 && (nops+len(batch[n].ops) > store.MaxTxnOps || size+b > store.MaxTxnBytes) {
				break
			}
			nops, size = nops+len(batch[n].ops), size+b
			n++
		}
		group := batch[:n]
		batch = batch[n:]
		var ops []store.Op
		for _, r := range group {
			ops = append(ops, r.ops...)
		}
		// The transaction is every waiting client's: one that gives up must not fail the others.
		ctx, cancel := context.WithTimeout(context.WithoutCancel(group[0].ctx), acceptTimeout)
		_, err := store.WriteAll(ctx, in.o.Store, ops)
		cancel()
		in.m.commits.Inc()
		for _, r := range group {
			r.done, r.err = true, err
			if err == nil {
				in.waiting.Add(int64(len(r.ops)))
				in.hold(r)
			}
		}
	}
}

// hold keeps the message of an accepted request for its round. Up to HighWater are kept (the
// rest are read back from the store), so memory stays bounded whatever the rounds do.
func (in *Intake) hold(r *acceptReq) {
	if r.m == nil || !in.running.Load() {
		return
	}
	in.hmu.Lock()
	if len(in.held) < in.o.HighWater {
		in.held[r.ops[0].Key] = r.m
	}
	in.hmu.Unlock()
}

// message returns the message of a waiting entry: the one this process accepted, or the stored
// one decoded.
func (in *Intake) message(kv store.KV) (*Message, error) {
	in.hmu.Lock()
	m, ok := in.held[kv.Key]
	in.hmu.Unlock()
	if ok {
		return m, nil
	}
	m = &Message{}
	if err := json.Unmarshal(kv.Value, m); err != nil {
		return nil, err
	}
	return m, nil
}

// forget drops the held messages of entries deleted from the store.
func (in *Intake) forget(dels []store.Op) {
	in.hmu.Lock()
	for _, op := range dels {
		delete(in.held, op.Key)
	}
	in.hmu.Unlock()
}

// Process handles one round of entries, oldest first within each group. It must be idempotent
// per entry Key: an entry is processed again when the round fails or the process stops before
// the entry is deleted. An error has the whole round processed again.
type Process func(ctx context.Context, entries []Entry) error

// Run processes waiting entries until ctx ends: the oldest first, Batch at a time, in Workers
// by group key; processed entries are deleted. When none wait it watches the store for new
// ones (accepted by this process or another replica).
func (in *Intake) Run(ctx context.Context, process Process) error {
	in.running.Store(true)
	defer func() {
		in.running.Store(false)
		in.hmu.Lock()
		clear(in.held)
		in.hmu.Unlock()
	}()
	if err := in.countWaiting(ctx); err != nil && ctx.Err() == nil {
		in.log.WarnContext(ctx, "waiting notifications not counted", obs.KeyErr, err)
	}
	backoff := time.Second
	for ctx.Err() == nil {
		page, err := in.o.Store.ListPage(ctx, inboxPrefix, "", in.o.Batch)
		if err != nil {
			if ctx.Err() == nil {
				in.log.ErrorContext(ctx, "waiting notifications not read; trying again", obs.KeyErr, err)
				sleep(ctx, backoff)
				backoff = min(2*backoff, 30*time.Second)
			}
			continue
		}
		if len(page.KVs) == 0 {
			in.waitForEntries(ctx, page.Rev)
			continue
		}
		if err := in.round(ctx, page.KVs, process); err != nil {
			in.m.failed.Inc()
			if ctx.Err() == nil {
				in.log.ErrorContext(ctx, "notifications not processed; trying again", "entries", len(page.KVs), obs.KeyErr, err)
				sleep(ctx, backoff)
				backoff = min(2*backoff, 30*time.Second)
			}
			continue
		}
		backoff = time.Second
	}
	return nil
}

// round processes one page of entries in workers and deletes those processed.
func (in *Intake) round(ctx context.Context, kvs []store.KV, process Process) error {
	parts := make([][]Entry, in.o.Workers)
	var bad []store.Op
	for _, kv := range kvs {
		m, err := in.message(kv)
		if err != nil {
			// Nothing can be done with it; keeping it would stop the intake for good.
			in.log.ErrorContext(ctx, "unreadable notification dropped", "key", kv.Key, obs.KeyErr, err)
			bad = append(bad, store.Op{Key: kv.Key, Delete: true})
			continue
		}
		h := fnv.New32a()
		h.Write([]byte(m.GroupKey))
		w := int(h.Sum32() % uint32(in.o.Workers))
		parts[w] = append(parts[w], Entry{Key: kv.Key, Message: m})
	}
	g, gctx := errgroup.WithContext(ctx)
	done := make([]bool, len(parts))
	for i, p := range parts {
		if len(p) == 0 {
			continue
		}
		g.Go(func() error {
			if err := process(gctx, p); err != nil {
				return fmt.Errorf("worker %d: %w", i, err)
			}
			done[i] = true
			return nil
		})
	}
	err := g.Wait()
	dels := bad
	for i, p := range parts {
		if !done[i] {
			continue
		}
		for _, e := range p {
			dels = append(dels, store.Op{Key: e.Key, Delete: true})
		}
	}
	n, derr := store.WriteAll(context.WithoutCancel(ctx), in.o.Store, dels)
	in.forget(dels[:n])
	in.waiting.Add(-int64(n))
	in.m.processed.Add(float64(n - len(bad)))
	return errors.Join(err, derr)
}

// waitForEntries returns when an entry may have been written after revision rev, or ctx ends.
func (in *Intake) waitForEntries(ctx context.Context, rev uint64) {
	wctx, cancel := context.WithCancel(ctx)
	defer cancel()
	for resp := range in.o.Store.Watch(wctx, inboxPrefix, rev+1) {
		if resp.Err != nil {
			sleep(ctx, time.Second) // compacted or cut off: list again
			return
		}
		for _, e := range resp.Events {
			if e.Type == store.EventPut {
				return
			}
		}
	}
}

// countWaiting sets the waiting count from the store, for the high-water mark after a restart.
func (in *Intake) countWaiting(ctx context.Context) error {
	n, err := store.Count(ctx, in.o.Store, inboxPrefix)
	if err != nil {
		return err
	}
	in.waiting.Store(int64(n))
	if n > 0 {
		in.log.InfoContext(ctx, "processing notifications accepted before the restart", "entries", strconv.Itoa(n))
	}
	return nil
}

func sleep(ctx context.Context, d time.Duration) {
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-ctx.Done():
	case <-t.C:
	}
}
