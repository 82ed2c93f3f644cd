package etcd

import (
	"context"
	"crypto/tls"
	"errors"
	"fmt"
	"strconv"
	"strings"
	"time"

	"go.etcd.io/etcd/api/v3/v3rpc/rpctypes"
	clientv3 "go.etcd.io/etcd/client/v3"
	"go.uber.org/zap"

	"github.com/smartcloudops/smartcloudops/internal/store"
)

// Options configures Open. Endpoints, Prefix and Deployment are required; secrets are passed
// already resolved.
type Options struct {
	Endpoints  []string // client URLs, such as https://10.0.0.5:2379
	Prefix     string   // every key lives under it, such as "/smartcloudops/prod/"
	Deployment string   // the name of this deployment; a prefix owned by another is refused
	Username   string
	Password   string
	// CAFile, CertFile and KeyFile configure TLS: the CA that signed the members' certificates
	// and this client's certificate and key. TLS is used when any is set or an endpoint is
	// https.
	CAFile, CertFile, KeyFile string
	// DialTimeout bounds the first contact with the cluster; default 5s.
	DialTimeout time.Duration
	// RequestTimeout bounds each read and write (not watches); default 10s. A cluster without
	// quorum answers store.ErrUnavailable after it.
	RequestTimeout time.Duration
	// CheckOnly checks the prefix without claiming an empty one (nothing is written), for
	// `store check`; Claimed then tells whether the prefix is claimed.
	CheckOnly bool
}

// Store is the etcd store.Store.
type Store struct {
	claimed bool
	c       *clientv3.Client
	prefix  string // P
	kv      string // P + "kv/"
	timeout time.Duration
}

// SchemaVersion is the layout version this build writes under the prefix.
const SchemaVersion = store.SchemaVersion

// listPage is the page size List uses.
const listPage = 1000

// Open connects to etcd and checks the prefix's identity and schema.
func Open(ctx context.Context, o Options) (*Store, error) {
	if err := o.check(); err != nil {
		return nil, err
	}
	if !strings.HasSuffix(o.Prefix, "/") {
		o.Prefix += "/"
	}
	if o.DialTimeout <= 0 {
		o.DialTimeout = 5 * time.Second
	}
	if o.RequestTimeout <= 0 {
		o.RequestTimeout = 10 * time.Second
	}
	cfg := clientv3.Config{
		Endpoints:   o.Endpoints,
		DialTimeout: o.DialTimeout,
		Username:    o.Username,
		Password:    o.Password,
		Logger:      zap.NewNop(),
		// Keep-alive pings notice a dead connection (a partition) within seconds.
		DialKeepAliveTime:    2 * time.Second,
		DialKeepAliveTimeout: 2 * time.Second,
	}
	if o.CAFile != "" || o.CertFile != "" || o.KeyFile != "" || anyHTTPS(o.Endpoints) {
		tc, err := o.tlsConfig()
		if err != nil {
			return nil, err
		}
		cfg.TLS = tc
	}
	c, err := clientv3.New(cfg)
	if err != nil {
		return nil, connectError(o, cfg.TLS, err)
	}
	s := &Store{c: c, prefix: o.Prefix, kv: o.Prefix + "kv/", timeout: o.RequestTimeout}
	if err := s.claim(ctx, o, cfg.TLS); err != nil {
		c.Close()
		return nil, err
	}
	return s, nil
}

func (o Options) check() error {
	var errs []error
	if len(o.Endpoints) == 0 {
		errs = append(errs, errors.New("store.etcd.endpoints: at least one client URL is required"))
	}
	if strings.Trim(o.Prefix, "/") == "" {
		errs = append(errs, errors.New("store.etcd.prefix: required, such as /smartcloudops/prod/ (never the root of the keyspace)"))
	}
	if o.Deployment == "" {
		errs = append(errs, errors.New("store.etcd.deployment: required: the name that tells this deployment's prefix from another's"))
	}
	if (o.Username == "") != (o.Password == "") {
		errs = append(errs, errors.New("store.etcd.username and store.etcd.password: set both or neither"))
	}
	if (o.CertFile == "") != (o.KeyFile == "") {
		errs = append(errs, errors.New("store.etcd.tls.cert_file and store.etcd.tls.key_file: set both or neither"))
	}
	return errors.Join(errs...)
}

func anyHTTPS(eps []string) bool {
	for _, ep := range eps {
		if strings.HasPrefix(ep, "https://") {
			return true
		}
	}
	return false
}

const (
	metaDeployment = "meta/deployment"
	metaSchema     = "meta/schema"
)

// claim reads the prefix's identity and schema, and on a wholly empty prefix writes them; the
// first contact with the cluster, so its errors say what to fix.
func (s *Store) claim(ctx context.Context, o Options, tc *tls.Config) error {
	dctx, cancel := context.WithTimeout(ctx, o.DialTimeout+o.RequestTimeout)
	defer cancel()
	dep, sch := s.prefix+metaDeployment, s.prefix+metaSchema
	for attempt := 0; attempt < 3; attempt++ {
		resp, err := s.c.Txn(dctx).Then(clientv3.OpGet(dep), clientv3.OpGet(sch),
			clientv3.OpGet(s.prefix, clientv3.WithPrefix(), clientv3.WithCountOnly())).Commit()
		if err != nil {
			return connectError(o, tc, err)
		}
		depKVs := resp.Responses[0].GetResponseRange().Kvs
		schKVs := resp.Responses[1].GetResponseRange().Kvs
		count := resp.Responses[2].GetResponseRange().Count
		if len(depKVs) == 0 && len(schKVs) == 0 {
			if count > 0 {
				return fmt.Errorf("store.etcd.prefix: %q holds keys (%d) but no deployment identity: it is not a smartcloudops store; choose an empty prefix", s.prefix, count)
			}
			if o.CheckOnly {
				return nil
			}
			put, err := s.c.Txn(dctx).If(
				clientv3.Compare(clientv3.CreateRevision(dep), "=", 0),
				clientv3.Compare(clientv3.CreateRevision(sch), "=", 0),
			).Then(clientv3.OpPut(dep, o.Deployment), clientv3.OpPut(sch, strconv.Itoa(SchemaVersion))).Commit()
			if err != nil {
				return connectError(o, tc, err)
			}
			if put.Succeeded {
				s.claimed = true
				return nil
			}
			continue // another replica claimed it first: check what it wrote
		}
		if len(depKVs) == 0 || len(schKVs) == 0 {
			return fmt.Errorf("store.etcd.prefix: %q has only one of %s and %s: it was changed by hand; restore it or choose another prefix", s.prefix, metaDeployment, metaSchema)
		}
		if got := string(depKVs[0].Value); got != o.Deployment {
			return fmt.Errorf("store.etcd.prefix: %q belongs to deployment %q, not %q (store.etcd.deployment): give each deployment its own prefix", s.prefix, got, o.Deployment)
		}
		n, err := strconv.Atoi(string(schKVs[0].Value))
		if err != nil {
			return fmt.Errorf("%w: store.etcd.prefix: %q has an unreadable schema marker %q", store.ErrSchema, s.prefix, schKVs[0].Value)
		}
		if n > SchemaVersion {
			return fmt.Errorf("%w: store schema %d is newer than this binary's %d: upgrade this replica (upgrade new replicas first, see docs/deployment.md)", store.ErrSchema, n, SchemaVersion)
		}
		s.claimed = true
		return nil
	}
	return errors.New("store.etcd.prefix: the deployment identity kept changing while this replica read it")
}

// connectError explains a failure of the first contact, naming the setting to look at. gRPC
// reports a refused handshake as a timeout, so a timeout is diagnosed by dialing the endpoints.
func connectError(o Options, tc *tls.Config, err error) error {
	eps := strings.Join(o.Endpoints, ", ")
	msg := err.Error()
	if errors.Is(err, context.DeadlineExceeded) || isUnavailable(err) {
		if derr := diagnose(o, tc); derr != nil {
			return derr
		}
	}
	switch {
	case errors.Is(err, rpctypes.ErrAuthFailed):
		return fmt.Errorf("store.etcd.username/store.etcd.password: etcd at %s refused the credentials of user %q", eps, o.Username)
	case errors.Is(err, rpctypes.ErrUserEmpty), errors.Is(err, rpctypes.ErrInvalidAuthToken):
		return fmt.Errorf("store.etcd.username/store.etcd.password: etcd at %s requires authentication: set both (%v)", eps, err)
	case errors.Is(err, rpctypes.ErrPermissionDenied):
		return fmt.Errorf("store.etcd.username: user %q may not read and write under store.etcd.prefix %q: grant its role readwrite on that prefix (%v)", o.Username, o.Prefix, err)
	case strings.Contains(msg, "x509") || strings.Contains(msg, "tls:") || strings.Contains(msg, "handshake"):
		return fmt.Errorf("store.etcd.tls: TLS with %s failed: check ca_file, cert_file and key_file: %w", eps, err)
	case errors.Is(err, context.DeadlineExceeded) || errors.Is(err, context.Canceled) || isUnavailable(err):
		return fmt.Errorf("%w: store.etcd.endpoints: no etcd member answered at %s within %s (store.etcd.dial_timeout): %v", store.ErrUnavailable, eps, o.DialTimeout, err)
	}
	return fmt.Errorf("store.etcd: first request to %s: %w", eps, err)
}

func isUnavailable(err error) bool {
	for _, e := range []error{rpctypes.ErrNoLeader, rpctypes.ErrTimeout, rpctypes.ErrTimeoutDueToLeaderFail,
		rpctypes.ErrTimeoutDueToConnectionLost, rpctypes.ErrUnhealthy, rpctypes.ErrLeaderChanged, context.DeadlineExceeded} {
		if errors.Is(err, e) {
			return true
		}
	}
	msg := err.Error()
	return strings.Contains(msg, "code = Unavailable") || strings.Contains(msg, "code = DeadlineExceeded") ||
		strings.Contains(msg, "connection refused") || strings.Contains(msg, "context deadline exceeded")
}

// mapErr turns etcd's errors into the store's.
func mapErr(op string, err error) error {
	switch {
	case err == nil:
		return nil
	case errors.Is(err, rpctypes.ErrTooManyOps):
		return fmt.Errorf("%w: %s: %v", store.ErrTooManyOps, op, err)
	case errors.Is(err, rpctypes.ErrRequestTooLarge):
		return fmt.Errorf("%w: %s: %v", store.ErrTooLarge, op, err)
	case errors.Is(err, rpctypes.ErrNoSpace):
		return fmt.Errorf("store: %s: etcd is out of space (its quota alarm is raised): compact, defragment and disarm the alarm (docs/deployment.md): %w", op, err)
	case errors.Is(err, context.Canceled):
		return err
	case isUnavailable(err):
		return fmt.Errorf("%w: %s: etcd did not answer (no quorum, or no member reachable): %v", store.ErrUnavailable, op, err)
	}
	return fmt.Errorf("store: %s: %w", op, err)
}

// rctx bounds one request by the store's request timeout.
func (s *Store) rctx(ctx context.Context) (context.Context, context.CancelFunc) {
	return context.WithTimeout(ctx, s.timeout)
}

// Claimed reports whether the prefix carries this deployment's identity (always, unless opened
// with CheckOnly on an empty prefix).
func (s *Store) Claimed() bool { return s.claimed }

// Prefix returns the configured prefix, ending with "/".
func (s *Store) Prefix() string { return s.prefix }

// Client returns the etcd client, for the leader election that shares the connection.
func (s *Store) Client() *clientv3.Client { return s.c }

// KeyPrefix returns the etcd key under which a store key lives: the prefix plus "kv/". An
// election under KeyPrefix()+"leader/" has store keys "leader/…", usable as store.Fence keys.
func (s *Store) KeyPrefix() string { return s.kv }

func (s *Store) toKV(key []byte, val []byte, rev int64) store.KV {
	return store.KV{Key: strings.TrimPrefix(string(key), s.kv), Value: val, Rev: uint64(rev)}
}

// Get implements store.Store.
func (s *Store) Get(ctx context.Context, key string) (store.KV, error) {
	ctx, cancel := s.rctx(ctx)
	defer cancel()
	resp, err := s.c.Get(ctx, s.kv+key)
	if err != nil {
		return store.KV{}, mapErr("get "+key, err)
	}
	if len(resp.Kvs) == 0 {
		return store.KV{}, store.ErrNotFound
	}
	kv := resp.Kvs[0]
	return s.toKV(kv.Key, kv.Value, kv.ModRevision), nil
}

// ListPage implements store.Store. A limit below 1 is taken as 1000.
func (s *Store) ListPage(ctx context.Context, prefix, after string, limit int) (store.Page, error) {
	return s.listPage(ctx, prefix, after, limit, 0)
}

func (s *Store) listPage(ctx context.Context, prefix, after string, limit int, rev int64) (store.Page, error) {
	if limit < 1 {
		limit = listPage
	}
	ctx, cancel := s.rctx(ctx)
	defer cancel()
	from := s.kv + prefix
	if after >= prefix {
		from = s.kv + after + "\x00"
	}
	opts := []clientv3.OpOption{clientv3.WithRange(clientv3.GetPrefixRangeEnd(s.kv + prefix)), clientv3.WithLimit(int64(limit))}
	if rev > 0 {
		opts = append(opts, clientv3.WithRev(rev))
	}
	resp, err := s.c.Get(ctx, from, opts...)
	if err != nil {
		return store.Page{}, mapErr("list "+prefix, err)
	}
	page := store.Page{Rev: uint64(resp.Header.Revision)}
	for _, kv := range resp.Kvs {
		page.KVs = append(page.KVs, s.toKV(kv.Key, kv.Value, kv.ModRevision))
	}
	if resp.More && len(page.KVs) > 0 {
		page.Next = page.KVs[len(page.KVs)-1].Key
	}
	return page, nil
}

// List implements store.Store: pages read at the revision of the first, so the listing is one
// consistent snapshot.
func (s *Store) List(ctx context.Context, prefix string) ([]store.KV, error) {
	var out []store.KV
	var rev int64
	after := ""
	for {
		p, err := s.listPage(ctx, prefix, after, listPage, rev)
		if err != nil {
			return nil, err
		}
		if rev == 0 {
			rev = int64(p.Rev)
		}
		out = append(out, p.KVs...)
		if p.Next == "" {
			return out, nil
		}
		after = p.Next
	}
}

// Put implements store.Store.
func (s *Store) Put(ctx context.Context, key string, value []byte) (uint64, error) {
	return s.Txn(ctx, nil, []store.Op{{Key: key, Value: value}})
}

// Delete implements store.Store.
func (s *Store) Delete(ctx context.Context, key string) error {
	_, err := s.Txn(ctx, nil, []store.Op{{Key: key, Delete: true}})
	return err
}

// Txn implements store.Store.
func (s *Store) Txn(ctx context.Context, cmps []store.Cmp, ops []store.Op) (uint64, error) {
	return s.txn(ctx, nil, cmps, ops)
}

// FencedTxn implements store.Store: the fence is a comparison of the election key's
// CreateRevision.
func (s *Store) FencedTxn(ctx context.Context, fence store.Fence, cmps []store.Cmp, ops []store.Op) (uint64, error) {
	if fence.IsZero() {
		return 0, errors.New("store: a fenced write needs a fence (the election key and its revision)")
	}
	return s.txn(ctx, &fence, cmps, ops)
}

func (s *Store) txn(ctx context.Context, fence *store.Fence, cmps []store.Cmp, ops []store.Op) (uint64, error) {
	extra := 0
	if fence != nil {
		extra = 1
	}
	if err := store.CheckTxn(cmps, ops, extra); err != nil {
		return 0, err
	}
	conds := make([]clientv3.Cmp, 0, len(cmps)+extra)
	if fence != nil {
		conds = append(conds, clientv3.Compare(clientv3.CreateRevision(s.kv+fence.Key), "=", int64(fence.Rev)))
	}
	for _, c := range cmps {
		if c.Rev == 0 {
			conds = append(conds, clientv3.Compare(clientv3.CreateRevision(s.kv+c.Key), "=", 0))
		} else {
			conds = append(conds, clientv3.Compare(clientv3.ModRevision(s.kv+c.Key), "=", int64(c.Rev)))
		}
	}
	puts := make([]clientv3.Op, 0, len(ops))
	for _, op := range ops {
		if op.Delete {
			puts = append(puts, clientv3.OpDelete(s.kv+op.Key))
		} else {
			puts = append(puts, clientv3.OpPut(s.kv+op.Key, string(op.Value)))
		}
	}
	var orElse []clientv3.Op
	if fence != nil {
		orElse = append(orElse, clientv3.OpGet(s.kv+fence.Key, clientv3.WithKeysOnly()))
	}
	rctx, cancel := s.rctx(ctx)
	defer cancel()
	resp, err := s.c.Txn(rctx).If(conds...).Then(puts...).Else(orElse...).Commit()
	if err != nil {
		return 0, mapErr(fmt.Sprintf("transaction of %d writes", len(ops)), err)
	}
	if resp.Succeeded {
		return uint64(resp.Header.Revision), nil
	}
	if fence != nil {
		kvs := resp.Responses[0].GetResponseRange().Kvs
		if len(kvs) == 0 || kvs[0].CreateRevision != int64(fence.Rev) {
			return 0, store.ErrFenced
		}
	}
	return 0, store.ErrConflict
}

// Watch implements store.Store. The watch requires the member to have a leader: a member cut
// off from its quorum ends the watch with store.ErrUnavailable instead of going quiet.
func (s *Store) Watch(ctx context.Context, prefix string, fromRev uint64) <-chan store.WatchResponse {
	out := make(chan store.WatchResponse)
	opts := []clientv3.OpOption{clientv3.WithPrefix()}
	if fromRev > 0 {
		opts = append(opts, clientv3.WithRev(int64(fromRev)))
	}
	wctx, cancel := context.WithCancel(clientv3.WithRequireLeader(ctx))
	wch := s.c.Watch(wctx, s.kv+prefix, opts...)
	go func() {
		defer close(out)
		defer cancel()
		for {
			var resp clientv3.WatchResponse
			var ok bool
			select {
			case resp, ok = <-wch:
			case <-ctx.Done():
				return
			}
			if !ok {
				if ctx.Err() == nil {
					s.send(ctx, out, store.WatchResponse{Err: fmt.Errorf("%w: watch of %q ended", store.ErrUnavailable, prefix)})
				}
				return
			}
			if err := resp.Err(); err != nil {
				if resp.CompactRevision > 0 {
					err = fmt.Errorf("%w: watch of %q from revision %d, compacted up to %d", store.ErrCompacted, prefix, fromRev, resp.CompactRevision)
				} else {
					err = mapErr("watch "+prefix, err)
				}
				s.send(ctx, out, store.WatchResponse{Err: err})
				return
			}
			if len(resp.Events) == 0 {
				continue
			}
			wr := store.WatchResponse{Events: make([]store.Event, 0, len(resp.Events))}
			for _, ev := range resp.Events {
				e := store.Event{Type: store.EventPut, KV: s.toKV(ev.Kv.Key, ev.Kv.Value, ev.Kv.ModRevision)}
				if ev.Type == clientv3.EventTypeDelete {
					e.Type, e.KV.Value = store.EventDelete, nil
				}
				wr.Events = append(wr.Events, e)
			}
			if !s.send(ctx, out, wr) {
				return
			}
		}
	}()
	return out
}

func (s *Store) send(ctx context.Context, out chan<- store.WatchResponse, r store.WatchResponse) bool {
	select {
	case out <- r:
		return true
	case <-ctx.Done():
		return false
	}
}

// Close implements store.Store.
func (s *Store) Close() error { return s.c.Close() }
