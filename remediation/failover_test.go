package remediation

import (
	"bytes"
	"context"
	"fmt"
	"log/slog"
	"strings"
	"sync"
	"testing"

	"github.com/smartcloudops/smartcloudops/internal/store"
)

// lockedBuffer is a log destination safe for the executor's goroutines.
type lockedBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (l *lockedBuffer) Write(p []byte) (int, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.b.Write(p)
}

func (l *lockedBuffer) String() string {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.b.String()
}

// TestDeposedLeaderLogsTheOutcomeItCouldNotRecord: a leader's term ends (its election key is
// gone, its context ends) while an approved proposal it started from RunApproved runs. The
// outcome write is fenced, so the proposal stays running for the next leader to make unknown,
// and the deposed leader's log says what it saw of the run, naming the proposal.
func TestDeposedLeaderLogsTheOutcomeItCouldNotRecord(t *testing.T) {
	ctx := context.Background()
	raw := store.NewMemory()
	rev, err := raw.Put(ctx, "leader/a", []byte("replica a"))
	if err != nil {
		t.Fatal(err)
	}
	st := store.ContextFenced(raw)
	logs := &lockedBuffer{}
	follower := newFixture(t, st, func(o *Options) { o.Leading = func() bool { return false } })
	leader := newFixture(t, st, func(o *Options) { o.Logger = slog.New(slog.NewJSONHandler(logs, nil)) })
	act := &countingAction{block: make(chan struct{}), started: make(chan struct{}, 1)}
	follower.act, leader.act = act, act
	p := follower.propose(t, Policy{Roles: []string{"sre"}})
	if _, err := follower.mg.Approve(ctx, p.ID, alice); err != nil {
		t.Fatal(err)
	}

	term, endTerm := context.WithCancel(store.WithFence(ctx, store.Fence{Key: "leader/a", Rev: rev}))
	done := make(chan struct{})
	go func() { leader.mg.RunApproved(term); close(done) }()
	<-act.started
	// The lease expires: the election key goes and the term's context ends; then the action ends.
	if err := raw.Delete(ctx, "leader/a"); err != nil {
		t.Fatal(err)
	}
	endTerm()
	<-done
	close(act.block)
	leader.mg.Wait()

	if q, _ := leader.mg.Get(ctx, p.ID); q.State != StateRunning {
		t.Fatalf("after the fenced outcome the proposal is %s; want it left running for the next leader", q.State)
	}
	out := logs.String()
	if !strings.Contains(out, "outcome of an approved proposal not recorded") || !strings.Contains(out, p.ID) ||
		!strings.Contains(out, `"state_seen":"succeeded"`) {
		t.Fatalf("the deposed leader's log does not say what became of %s:\n%s", p.ID, out)
	}
}

// unreadableStore fails every read of one key, as etcd without quorum fails them all.
type unreadableStore struct {
	store.Store
	key string
}

func (u unreadableStore) Get(ctx context.Context, key string) (store.KV, error) {
	if key == u.key {
		return store.KV{}, fmt.Errorf("%w: get %s: etcd did not answer (no quorum, or no member reachable)", store.ErrUnavailable, key)
	}
	return u.Store.Get(ctx, key)
}

// TestApprovalWithTheStoreDownSaysSo: when the pause flag cannot be read the approval is refused
// (a store fault never lets an action through a pause), and the person is told the store did
// not answer, not that someone paused remediation.
func TestApprovalWithTheStoreDownSaysSo(t *testing.T) {
	ctx := context.Background()
	f := newFixture(t, unreadableStore{Store: store.NewMemory(), key: pausedKey}, nil)
	p := f.propose(t, Policy{Roles: []string{"sre"}})
	_, err := f.mg.Approve(ctx, p.ID, alice)
	if err == nil || !strings.Contains(err.Error(), "the store did not answer") || !strings.Contains(err.Error(), "no quorum") ||
		strings.Contains(err.Error(), "remediation is paused") {
		t.Fatalf("approve with the store down: %v; want a refusal saying the store did not answer", err)
	}
	if f.act.runs.Load() != 0 {
		t.Fatal("an action ran while the pause flag could not be read")
	}
}
