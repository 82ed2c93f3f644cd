//go:build integration

package leader

import (
	"bufio"
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"os"
	"os/exec"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/smartcloudops/smartcloudops/internal/store"
	etcdstore "github.com/smartcloudops/smartcloudops/internal/store/etcd"
	"github.com/smartcloudops/smartcloudops/internal/testenv"
)

// guard bounds every wait, so a broken election fails the test instead of hanging it.
const guard = 60 * time.Second

const testTTL = 3 * time.Second

// replica is one elector with its own connection, as one bot process would have.
type replica struct {
	name  string
	st    *etcdstore.Store
	el    *Etcd
	gains chan store.Fence
	ends  chan string
	stop  context.CancelFunc
	done  chan struct{}
}

// log records the order in which terms start and end across replicas.
type eventLog struct {
	mu     sync.Mutex
	events []string
}

func (l *eventLog) add(s string) {
	l.mu.Lock()
	defer l.mu.Unlock()
	l.events = append(l.events, s)
}

func (l *eventLog) String() string {
	l.mu.Lock()
	defer l.mu.Unlock()
	return strings.Join(l.events, ", ")
}

func startReplica(t *testing.T, name string, endpoints []string, prefix string, log *eventLog) *replica {
	t.Helper()
	st, err := etcdstore.Open(context.Background(), etcdstore.Options{Endpoints: endpoints, Prefix: prefix, Deployment: "test",
		DialTimeout: 2 * time.Second, RequestTimeout: 30 * time.Second})
	if err != nil {
		t.Fatal(err)
	}
	r := &replica{name: name, st: st, gains: make(chan store.Fence, 4), ends: make(chan string, 4), done: make(chan struct{})}
	r.el, err = NewEtcd(EtcdOptions{Store: st, Logger: slog.New(slog.NewTextHandler(io.Discard, nil)), TTL: testTTL, Retry: 200 * time.Millisecond,
		Options: Options{Self: Info{Name: name, Address: name + ":9090"}, Registerer: prometheus.NewRegistry(),
			OnLead: func(ctx context.Context, f store.Fence) {
				log.add(name + " leads")
				r.gains <- f
				<-ctx.Done()
				log.add(name + " stops")
				r.ends <- name
			}}})
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	r.stop = func() { cancel(); <-r.done }
	go func() { defer close(r.done); r.el.Run(ctx) }()
	t.Cleanup(func() { r.stop(); st.Close() })
	return r
}

func wait[T any](t *testing.T, ch <-chan T, what string) T {
	t.Helper()
	select {
	case v := <-ch:
		return v
	case <-time.After(guard):
		t.Fatalf("%s: nothing within %s", what, guard)
	}
	var zero T
	return zero
}

// TestIntegrationLeaderHandover: one of two replicas leads, the other sees who; when the leader
// stops, the other takes over at once (the old one resigned) and the old term's fence is
// refused.
func TestIntegrationLeaderHandover(t *testing.T) {
	e := testenv.StartEtcd(t, testenv.EtcdOptions{})
	var log eventLog
	a := startReplica(t, "a", e.Endpoints(), "/handover/", &log)
	fa := wait(t, a.gains, "a elected")
	b := startReplica(t, "b", e.Endpoints(), "/handover/", &log)
	if !a.el.IsLeader() || b.el.IsLeader() {
		t.Fatal("both or neither lead")
	}
	deadline := time.Now().Add(guard)
	for {
		if info, ok := b.el.Leader(); ok && info.Name == "a" && info.Address == "a:9090" {
			break
		}
		if time.Now().After(deadline) {
			t.Fatal("b never saw a as the leader")
		}
		time.Sleep(20 * time.Millisecond)
	}
	ctx := context.Background()
	if _, err := store.Fenced(a.st, a.el.Fence).Put(ctx, "work", []byte("a")); err != nil {
		t.Fatalf("leader's fenced write: %v", err)
	}
	if _, err := store.Fenced(b.st, b.el.Fence).Put(ctx, "work", []byte("b")); !errors.Is(err, ErrNotLeader) {
		t.Fatalf("follower's fenced write: %v", err)
	}
	a.stop()
	fb := wait(t, b.gains, "b elected after a stopped")
	if fb == fa {
		t.Fatal("the new term has the old fence")
	}
	if _, err := b.st.FencedTxn(ctx, fa, nil, []store.Op{{Key: "work", Value: []byte("late a")}}); !errors.Is(err, store.ErrFenced) {
		t.Fatalf("write with the old term's fence: %v", err)
	}
	if _, err := b.st.FencedTxn(ctx, fb, nil, []store.Op{{Key: "work", Value: []byte("b")}}); err != nil {
		t.Fatalf("write with the new fence: %v", err)
	}
	if got := log.String(); got != "a leads, a stops, b leads" {
		t.Fatalf("terms: %s", got)
	}
}

// TestIntegrationLeaderPartitioned: the leader is cut off from etcd by a proxy. Its term ends
// before another replica is elected (its lease expires on the server); after the partition
// heals, its late write with the old fence is refused, and it follows.
func TestIntegrationLeaderPartitioned(t *testing.T) {
	e := testenv.StartEtcd(t, testenv.EtcdOptions{})
	proxy := testenv.StartProxy(t, strings.TrimPrefix(e.Endpoints()[0], "http://"))
	var log eventLog
	a := startReplica(t, "a", []string{"http://" + proxy.Addr}, "/partition/", &log)
	fa := wait(t, a.gains, "a elected")
	b := startReplica(t, "b", e.Endpoints(), "/partition/", &log)
	ctx := context.Background()
	if _, err := a.st.FencedTxn(ctx, fa, nil, []store.Op{{Key: "work", Value: []byte("a1")}}); err != nil {
		t.Fatal(err)
	}
	proxy.Partition()
	// A write the leader sends into the partition: it is held, and must not land once b leads.
	inflight := make(chan error, 1)
	go func() {
		_, err := a.st.FencedTxn(ctx, fa, nil, []store.Op{{Key: "work", Value: []byte("a2 in flight")}})
		inflight <- err
	}()
	wait(t, a.ends, "a steps down")
	fb := wait(t, b.gains, "b elected")
	if got := log.String(); got != "a leads, a stops, b leads" {
		t.Fatalf("terms overlapped: %s", got)
	}
	if a.el.IsLeader() {
		t.Fatal("a still says it leads")
	}
	if _, err := b.st.FencedTxn(ctx, fb, nil, []store.Op{{Key: "work", Value: []byte("b1")}}); err != nil {
		t.Fatal(err)
	}
	proxy.Heal()
	if err := wait(t, inflight, "the in-flight write"); err == nil {
		t.Fatal("the deposed leader's in-flight write landed")
	} else if !errors.Is(err, store.ErrFenced) && !errors.Is(err, store.ErrUnavailable) {
		t.Fatalf("in-flight write: %v", err)
	}
	_, err := a.st.FencedTxn(ctx, fa, nil, []store.Op{{Key: "work", Value: []byte("a3 late")}})
	if !errors.Is(err, store.ErrFenced) {
		t.Fatalf("late write after the partition healed: %v, want store.ErrFenced", err)
	}
	if kv, err := b.st.Get(ctx, "work"); err != nil || string(kv.Value) != "b1" {
		t.Fatalf("work = %q, %v; want the new leader's write only", kv.Value, err)
	}
	if !b.el.IsLeader() {
		t.Fatal("b lost the lead when a came back")
	}
}

// TestIntegrationLeaderFailoverAfterSIGKILL measures how long the replicas are without a leader
// when the leader's process is killed: the lease TTL plus a campaign. It logs the figure.
func TestIntegrationLeaderFailoverAfterSIGKILL(t *testing.T) {
	e := testenv.StartEtcd(t, testenv.EtcdOptions{})
	cmd := exec.Command(os.Args[0], "-test.run=^TestHelperElector$")
	cmd.Env = append(os.Environ(), "LEADER_HELPER_ETCD="+e.Endpoints()[0])
	out, err := cmd.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	cmd.Stderr = os.Stderr
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { cmd.Process.Kill(); cmd.Wait() })
	lines := make(chan string)
	go func() {
		sc := bufio.NewScanner(out)
		for sc.Scan() {
			lines <- sc.Text()
		}
		close(lines)
	}()
	for l := range lines {
		if l == "helper leads" {
			break
		}
	}
	var log eventLog
	b := startReplica(t, "b", e.Endpoints(), "/failover/", &log)
	if b.el.IsLeader() {
		t.Fatal("b leads while the helper does")
	}
	killed := time.Now()
	if err := cmd.Process.Signal(syscall.SIGKILL); err != nil {
		t.Fatal(err)
	}
	wait(t, b.gains, "b elected after the leader was killed")
	t.Logf("failover after SIGKILL of the leader: %s (lease TTL %s)", time.Since(killed).Round(time.Millisecond), testTTL)
}

// TestHelperElector is the leader process of TestIntegrationLeaderFailoverAfterSIGKILL.
func TestHelperElector(t *testing.T) {
	ep := os.Getenv("LEADER_HELPER_ETCD")
	if ep == "" {
		t.Skip("runs only as the helper process of TestIntegrationLeaderFailoverAfterSIGKILL")
	}
	st, err := etcdstore.Open(context.Background(), etcdstore.Options{Endpoints: []string{ep}, Prefix: "/failover/", Deployment: "test"})
	if err != nil {
		t.Fatal(err)
	}
	el, err := NewEtcd(EtcdOptions{Store: st, Logger: slog.New(slog.NewTextHandler(io.Discard, nil)), TTL: testTTL,
		Options: Options{Self: Info{Name: "helper"}, Registerer: prometheus.NewRegistry(), OnLead: func(ctx context.Context, _ store.Fence) {
			fmt.Println("helper leads")
			<-ctx.Done()
		}}})
	if err != nil {
		t.Fatal(err)
	}
	el.Run(context.Background()) // until killed
}
