package leader

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"strings"
	"sync"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	clientv3 "go.etcd.io/etcd/client/v3"
	"go.etcd.io/etcd/client/v3/concurrency"

	"github.com/smartcloudops/smartcloudops/internal/obs"
	"github.com/smartcloudops/smartcloudops/internal/store"
	etcdstore "github.com/smartcloudops/smartcloudops/internal/store/etcd"
)

// electionPrefix is where the election keys live, as store keys: leader/<lease id in hex>.
const electionPrefix = "leader/"

// EtcdOptions configures NewEtcd. Store and Logger are required.
type EtcdOptions struct {
	Options
	Store  *etcdstore.Store
	Logger *slog.Logger
	// TTL is the session's lease: how long a leader that stopped answering keeps the lead;
	// default 5s, at least 2s. A new leader is elected about TTL after the old one died.
	TTL time.Duration
	// Retry is the wait before campaigning again after the cluster could not be reached;
	// default 1s.
	Retry time.Duration
}

// Etcd elects one leader among the replicas sharing an etcd store.
type Etcd struct {
	o     EtcdOptions
	c     *clientv3.Client
	log   *slog.Logger
	gauge prometheus.Gauge

	mu     sync.Mutex
	fence  store.Fence
	leader Info
	known  bool
}

// NewEtcd returns an Elector campaigning on st's etcd.
func NewEtcd(o EtcdOptions) (*Etcd, error) {
	err := o.Options.check()
	if o.Store == nil || o.Logger == nil {
		err = errors.Join(err, errors.New("leader: EtcdOptions.Store and Logger are required"))
	}
	if err != nil {
		return nil, err
	}
	if o.TTL <= 0 {
		o.TTL = 5 * time.Second
	}
	if o.TTL < 2*time.Second {
		return nil, fmt.Errorf("leader: TTL %s is below etcd's 2s minimum for a lease that outlives a heartbeat", o.TTL)
	}
	if o.Retry <= 0 {
		o.Retry = time.Second
	}
	g, err := newGauge(o.Registerer)
	if err != nil {
		return nil, err
	}
	return &Etcd{o: o, c: o.Store.Client(), log: o.Logger.With(obs.KeyComponent, "leader"), gauge: g}, nil
}

// Run implements Elector: one session after another, until ctx ends.
func (e *Etcd) Run(ctx context.Context) error {
	for ctx.Err() == nil {
		err := e.session(ctx)
		if ctx.Err() != nil {
			break
		}
		e.log.WarnContext(ctx, "leader election interrupted; campaigning again", obs.KeyErr, err)
		select {
		case <-time.After(e.o.Retry):
		case <-ctx.Done():
		}
	}
	return ctx.Err()
}

// session campaigns under one lease, leads if elected, and returns when the lease is lost.
func (e *Etcd) session(ctx context.Context) error {
	sess, err := concurrency.NewSession(e.c, concurrency.WithTTL(int(e.o.TTL.Round(time.Second)/time.Second)), concurrency.WithContext(ctx))
	if err != nil {
		return fmt.Errorf("open an election session: %w", err)
	}
	defer sess.Close() // revokes the lease: the election key goes at once, not after the TTL
	el := concurrency.NewElection(sess, e.o.Store.KeyPrefix()+electionPrefix)

	sctx, cancel := context.WithCancel(ctx)
	defer cancel()
	var wg sync.WaitGroup
	defer wg.Wait()
	defer cancel()
	wg.Go(func() {
		select {
		case <-sess.Done():
			cancel()
		case <-sctx.Done():
		}
	})
	wg.Go(func() { e.observe(sctx, el) })

	if err := el.Campaign(sctx, e.o.Self.encode()); err != nil {
		return fmt.Errorf("campaign: %w", err)
	}
	fence := store.Fence{Key: strings.TrimPrefix(el.Key(), e.o.Store.KeyPrefix()), Rev: uint64(el.Rev())}
	e.lead(sctx, sess, fence)
	// Resign so a follower need not wait for the lease to expire; useless when the session is
	// gone, so it is bounded.
	rctx, rcancel := context.WithTimeout(context.WithoutCancel(ctx), e.o.TTL/2)
	defer rcancel()
	_ = el.Resign(rctx)
	if ctx.Err() != nil {
		return ctx.Err()
	}
	return errors.New("leadership lost: the session's lease expired or the cluster was unreachable")
}

// lead holds one term: it runs OnLead until the session ends, the lease stops being renewed,
// or ctx ends, and returns once OnLead has.
func (e *Etcd) lead(ctx context.Context, sess *concurrency.Session, fence store.Fence) {
	tctx, endTerm := context.WithCancel(ctx)
	defer endTerm()
	e.mu.Lock()
	e.fence, e.leader, e.known = fence, e.o.Self, true
	e.mu.Unlock()
	e.gauge.Set(1)
	e.log.InfoContext(ctx, "this replica leads", "replica", e.o.Self.Name, "election_key", fence.Key, "revision", fence.Rev)

	done := make(chan struct{})
	go func() {
		defer close(done)
		e.o.OnLead(tctx, fence)
	}()
	e.watchdog(tctx, sess)
	// The term is over: say so before anything else, so no new fenced write starts.
	e.mu.Lock()
	e.fence, e.leader, e.known = store.Fence{}, Info{}, false
	e.mu.Unlock()
	e.gauge.Set(0)
	endTerm()
	<-done
	e.log.WarnContext(ctx, "this replica no longer leads", "replica", e.o.Self.Name)
}

// watchdog returns when the term must end: the session is gone, ctx ended, or no renewal of the
// lease was seen for two thirds of its TTL. The last ends the term before etcd can expire the
// lease and elect another leader, as long as a renewal's round trip stays under a third of the
// TTL; past that, the fence still refuses the late writes.
func (e *Etcd) watchdog(ctx context.Context, sess *concurrency.Session) {
	kctx, cancel := context.WithCancel(ctx)
	defer cancel()
	ka, err := e.c.KeepAlive(kctx, sess.Lease())
	if err != nil {
		return
	}
	limit := e.o.TTL * 2 / 3
	timer := time.NewTimer(limit)
	defer timer.Stop()
	for {
		select {
		case _, ok := <-ka:
			if !ok {
				return
			}
			timer.Reset(limit)
		case <-timer.C:
			e.log.WarnContext(ctx, "the leader's lease was not renewed in time; stepping down", "for", limit.String())
			return
		case <-sess.Done():
			return
		case <-ctx.Done():
			return
		}
	}
}

// observe follows who leads, for Leader on every replica.
func (e *Etcd) observe(ctx context.Context, el *concurrency.Election) {
	for ctx.Err() == nil {
		for resp := range el.Observe(ctx) {
			if len(resp.Kvs) == 0 {
				continue
			}
			info := decodeInfo(resp.Kvs[0].Value)
			e.mu.Lock()
			if e.fence.IsZero() {
				e.leader, e.known = info, true
			}
			e.mu.Unlock()
		}
		select {
		case <-time.After(e.o.Retry):
		case <-ctx.Done():
		}
	}
}

// IsLeader implements Elector.
func (e *Etcd) IsLeader() bool {
	e.mu.Lock()
	defer e.mu.Unlock()
	return !e.fence.IsZero()
}

// Leader implements Elector: this replica while it leads, otherwise the leader last observed.
func (e *Etcd) Leader() (Info, bool) {
	e.mu.Lock()
	defer e.mu.Unlock()
	return e.leader, e.known
}

// Fence implements Elector.
func (e *Etcd) Fence() (store.Fence, error) {
	e.mu.Lock()
	defer e.mu.Unlock()
	if e.fence.IsZero() {
		return store.Fence{}, ErrNotLeader
	}
	return e.fence, nil
}
