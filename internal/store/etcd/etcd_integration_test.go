//go:build integration

package etcd

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"go.etcd.io/etcd/api/v3/v3rpc/rpctypes"
	clientv3 "go.etcd.io/etcd/client/v3"
	"go.uber.org/zap"

	"github.com/smartcloudops/smartcloudops/internal/store"
	"github.com/smartcloudops/smartcloudops/internal/store/storetest"
	"github.com/smartcloudops/smartcloudops/internal/testenv"
)

var prefixSeq atomic.Int64

// freshPrefix returns a prefix no other test uses.
func freshPrefix(t testing.TB) string {
	return fmt.Sprintf("/test/%s/%d/", strings.ReplaceAll(t.Name(), "/", "_"), prefixSeq.Add(1))
}

func open(t testing.TB, o Options) *Store {
	t.Helper()
	if o.Prefix == "" {
		o.Prefix = freshPrefix(t)
	}
	if o.Deployment == "" {
		o.Deployment = "test"
	}
	s, err := Open(context.Background(), o)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { s.Close() })
	return s
}

func rawClient(t testing.TB, eps []string) *clientv3.Client {
	t.Helper()
	c, err := clientv3.New(clientv3.Config{Endpoints: eps, DialTimeout: 5 * time.Second, Logger: zap.NewNop()})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { c.Close() })
	return c
}

func TestIntegrationEtcdConformance(t *testing.T) {
	e := testenv.StartEtcd(t, testenv.EtcdOptions{})
	storetest.Run(t, func(t *testing.T) store.Store { return open(t, Options{Endpoints: e.Endpoints()}) })
}

// TestIntegrationEtcdServerLimits checks against the real server the limits the store enforces
// before sending: etcd 3.4 refuses 129 ops and accepts 128 with 128 comparisons.
func TestIntegrationEtcdServerLimits(t *testing.T) {
	e := testenv.StartEtcd(t, testenv.EtcdOptions{})
	c := rawClient(t, e.Endpoints())
	ctx := context.Background()
	ops := func(n int) []clientv3.Op {
		var out []clientv3.Op
		for i := range n {
			out = append(out, clientv3.OpPut(fmt.Sprintf("/limits/%d", i), "v"))
		}
		return out
	}
	var cmps []clientv3.Cmp
	for i := range store.MaxTxnOps {
		cmps = append(cmps, clientv3.Compare(clientv3.CreateRevision(fmt.Sprintf("/limits/%d", i)), "=", 0))
	}
	if _, err := c.Txn(ctx).If(cmps...).Then(ops(store.MaxTxnOps)...).Commit(); err != nil {
		t.Fatalf("128 comparisons and 128 puts: %v", err)
	}
	if _, err := c.Txn(ctx).Then(ops(store.MaxTxnOps + 1)...).Commit(); !errors.Is(err, rpctypes.ErrTooManyOps) {
		t.Fatalf("129 puts: %v, want etcd's too many operations", err)
	}
	if _, err := c.Put(ctx, "/limits/big", strings.Repeat("x", 1536*1024)); !errors.Is(err, rpctypes.ErrRequestTooLarge) {
		t.Fatalf("a 1.5 MiB value: %v, want etcd's request too large", err)
	}
	// What the store lets through fits.
	s := open(t, Options{Endpoints: e.Endpoints()})
	if _, err := s.Put(ctx, "max", make([]byte, store.MaxTxnBytes-len("max")-64)); err != nil {
		t.Fatalf("the largest value the store accepts: %v", err)
	}
}

func TestIntegrationEtcdOpenRefusals(t *testing.T) {
	e := testenv.StartEtcd(t, testenv.EtcdOptions{})
	ctx := context.Background()
	c := rawClient(t, e.Endpoints())
	count := func(prefix string) int64 {
		resp, err := c.Get(ctx, prefix, clientv3.WithPrefix(), clientv3.WithCountOnly())
		if err != nil {
			t.Fatal(err)
		}
		return resp.Count
	}
	for _, tc := range []struct {
		name  string
		setup func(prefix string)
		o     Options
		want  []string
		is    error
	}{
		{name: "unreachable", o: Options{Endpoints: []string{fmt.Sprintf("http://127.0.0.1:%d", testenv.FreePort(t))}, DialTimeout: 300 * time.Millisecond, RequestTimeout: 300 * time.Millisecond},
			want: []string{"store.etcd.endpoints", "connection refused"}, is: store.ErrUnavailable},
		{name: "another deployment", setup: func(p string) { open(t, Options{Endpoints: e.Endpoints(), Prefix: p, Deployment: "staging"}) },
			o: Options{Deployment: "prod"}, want: []string{"store.etcd.prefix", `belongs to deployment "staging", not "prod"`, "store.etcd.deployment"}},
		{name: "newer schema", setup: func(p string) {
			open(t, Options{Endpoints: e.Endpoints(), Prefix: p})
			if _, err := c.Put(ctx, p+metaSchema, "99"); err != nil {
				t.Fatal(err)
			}
		}, want: []string{"store schema 99 is newer than this binary's 1: upgrade this replica"}, is: store.ErrSchema},
		{name: "foreign keys", setup: func(p string) {
			if _, err := c.Put(ctx, p+"something/else", "x"); err != nil {
				t.Fatal(err)
			}
		}, want: []string{"store.etcd.prefix", "holds keys (1) but no deployment identity"}},
		{name: "missing settings", o: Options{Endpoints: []string{}, Prefix: "/", Deployment: "", Username: "u", CertFile: "c"},
			want: []string{"store.etcd.endpoints", "store.etcd.prefix", "store.etcd.deployment", "store.etcd.password", "store.etcd.tls.key_file"}},
		{name: "unreadable CA", o: Options{CAFile: "/nonexistent/ca.pem"}, want: []string{"store.etcd.tls.ca_file", "/nonexistent/ca.pem"}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			o := tc.o
			if o.Endpoints == nil {
				o.Endpoints = e.Endpoints()
			}
			if o.Prefix == "" {
				o.Prefix = freshPrefix(t)
			}
			if o.Deployment == "" && tc.name != "missing settings" {
				o.Deployment = "test"
			}
			if tc.setup != nil {
				tc.setup(o.Prefix)
			}
			before := count(o.Prefix)
			s, err := Open(ctx, o)
			if err == nil {
				s.Close()
				t.Fatal("Open succeeded")
			}
			t.Logf("refused: %v", err)
			for _, w := range tc.want {
				if !strings.Contains(err.Error(), w) {
					t.Errorf("error %q does not say %q", err, w)
				}
			}
			if tc.is != nil && !errors.Is(err, tc.is) {
				t.Errorf("error %v is not %v", err, tc.is)
			}
			if after := count(o.Prefix); after != before {
				t.Errorf("a refused Open wrote: %d keys under the prefix, %d before", after, before)
			}
		})
	}
}

func TestIntegrationEtcdAuth(t *testing.T) {
	e := testenv.StartEtcd(t, testenv.EtcdOptions{})
	ctx := context.Background()
	c := rawClient(t, e.Endpoints())
	for _, step := range []func() error{
		func() error { _, err := c.UserAdd(ctx, "root", "rootpw"); return err },
		func() error { _, err := c.UserGrantRole(ctx, "root", "root"); return err },
		func() error { _, err := c.AuthEnable(ctx); return err },
	} {
		if err := step(); err != nil {
			t.Fatal(err)
		}
	}
	o := Options{Endpoints: e.Endpoints(), Prefix: freshPrefix(t), Deployment: "test", DialTimeout: 2 * time.Second}
	for _, tc := range []struct {
		user, pw string
		want     string
	}{
		{"root", "wrong", `store.etcd.username/store.etcd.password: etcd at ` + e.Endpoints()[0] + ` refused the credentials of user "root"`},
		{"", "", "requires authentication"},
	} {
		o.Username, o.Password = tc.user, tc.pw
		_, err := Open(ctx, o)
		t.Logf("user %q: %v", tc.user, err)
		if err == nil || !strings.Contains(err.Error(), tc.want) {
			t.Errorf("user %q: %v, want %q", tc.user, err, tc.want)
		}
	}
	o.Username, o.Password = "root", "rootpw"
	s := open(t, o)
	if _, err := s.Put(ctx, "k", []byte("v")); err != nil {
		t.Fatalf("write with good credentials: %v", err)
	}
}

func TestIntegrationEtcdTLS(t *testing.T) {
	e := testenv.StartEtcd(t, testenv.EtcdOptions{TLS: true})
	ctx := context.Background()
	f := e.TLS
	o := Options{Endpoints: e.Endpoints(), Prefix: freshPrefix(t), Deployment: "test", CAFile: f.CAFile, CertFile: f.CertFile, KeyFile: f.KeyFile,
		DialTimeout: 2 * time.Second, RequestTimeout: 2 * time.Second}
	s := open(t, o)
	if _, err := s.Put(ctx, "k", []byte("v")); err != nil {
		t.Fatalf("write over TLS: %v", err)
	}
	bad := o
	bad.CertFile, bad.KeyFile = f.OtherCertFile, f.OtherKeyFile
	_, err := Open(ctx, bad)
	t.Logf("another CA's client certificate: %v", err)
	if err == nil || !strings.Contains(err.Error(), "store.etcd.tls") {
		t.Errorf("a client certificate of another CA: %v, want an error naming store.etcd.tls", err)
	}
	bad = o
	bad.CAFile = f.OtherCertFile // a certificate, but not the CA that signed the server's
	_, err = Open(ctx, bad)
	t.Logf("the wrong CA: %v", err)
	if err == nil || !strings.Contains(err.Error(), "store.etcd.tls") {
		t.Errorf("the wrong CA: %v, want an error naming store.etcd.tls", err)
	}
}
