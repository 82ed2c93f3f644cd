package remediation

import (
	"context"
	"errors"
	"path/filepath"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/testutil"

	"github.com/smartcloudops/smartcloudops/internal/obs"
	"github.com/smartcloudops/smartcloudops/internal/store"
	"github.com/smartcloudops/smartcloudops/remediation/audit"
)

// countingAction counts executions; block, when set, holds Execute until closed, and started,
// when set, receives a value as each execution starts.
type countingAction struct {
	runs    atomic.Int32
	block   chan struct{}
	started chan struct{}
	fail    error
}

func (a *countingAction) Name() string { return "test.scale" }
func (a *countingAction) Schema() Schema {
	return Schema{{Name: "group", Type: TypeString, Required: true}, {Name: "to", Type: TypeInt}}
}
func (a *countingAction) Target(p Params) string { return "asg/" + p.String("group") }
func (a *countingAction) Describe(_ context.Context, p Params) (string, error) {
	return p.String("group") + " -> " + string(rune('0'+p.Int("to"))), nil
}
func (a *countingAction) Execute(ctx context.Context, p Params) (Result, error) {
	a.runs.Add(1)
	if a.started != nil {
		a.started <- struct{}{}
	}
	if a.block != nil {
		select {
		case <-a.block:
		case <-ctx.Done():
			return Result{}, ctx.Err()
		}
	}
	return Result{Summary: "scaled " + p.String("group")}, a.fail
}

type fixture struct {
	st  store.Store
	al  *audit.Log
	act *countingAction
	mg  *Manager
	now time.Time
}

// newFixtureOptions returns Options over st with an audit log and a fixed clock.
func newFixtureOptions(st store.Store) Options {
	al, _ := audit.New(audit.Options{Store: st})
	return Options{Store: st, Audit: al}
}

func newFixture(t *testing.T, st store.Store, mut func(*Options)) *fixture {
	t.Helper()
	f := &fixture{st: st, act: &countingAction{}, now: time.Date(2026, 11, 25, 12, 0, 0, 0, time.UTC)}
	f.al, _ = audit.New(audit.Options{Store: st})
	o := Options{Store: st, Audit: f.al, Now: func() time.Time { return f.now },
		Actions: func(n string) (Action, bool) { return f.act, n == "test.scale" }}
	if mut != nil {
		mut(&o)
	}
	var err error
	if f.mg, err = New(o); err != nil {
		t.Fatal(err)
	}
	return f
}

var (
	alice = Actor{ID: "console:alice", Name: "alice", Roles: []string{"sre"}}
	bob   = Actor{ID: "slack:U2", Name: "bob", Roles: []string{"sre"}}
	eve   = Actor{ID: "slack:U3", Name: "eve", Roles: []string{"viewer"}}
	rule  = Actor{ID: "rule:web-cpu-high", Name: "rule web-cpu-high"}
)

func (f *fixture) propose(t *testing.T, pol Policy) Proposal {
	t.Helper()
	p, err := f.mg.Propose(context.Background(), Request{Action: "test.scale", Params: map[string]any{"group": "web-asg", "to": 3},
		Rule: "web-cpu-high", RuleVersion: "v1", Requester: rule, Policy: pol})
	if err != nil {
		t.Fatal(err)
	}
	return p
}

func TestProposeApproveRuns(t *testing.T) {
	f := newFixture(t, store.NewMemory(), nil)
	p := f.propose(t, Policy{Roles: []string{"sre"}})
	if p.State != StatePending || p.Plan.Description != "web-asg -> 3" || p.Plan.Target != "asg/web-asg" {
		t.Fatalf("proposal: %+v", p)
	}
	got, err := f.mg.Approve(context.Background(), p.ID, alice)
	if err != nil || got.State != StateSucceeded || got.Result != "scaled web-asg" || f.act.runs.Load() != 1 {
		t.Fatalf("approve: %+v %v runs=%d", got, err, f.act.runs.Load())
	}
	if _, err := f.mg.Approve(context.Background(), p.ID, bob); err == nil || !obs.IsUser(err) || !strings.Contains(err.Error(), "already succeeded") {
		t.Fatalf("second approve: %v", err)
	}
	if n, err := f.al.Verify(context.Background()); err != nil || n < 4 {
		t.Fatalf("audit: %d %v", n, err)
	}
}

func TestPolicy(t *testing.T) {
	ctx := context.Background()
	f := newFixture(t, store.NewMemory(), nil)
	p := f.propose(t, Policy{Roles: []string{"sre"}, MinApprovers: 2, Expires: time.Hour})
	if _, err := f.mg.Approve(ctx, p.ID, eve); err == nil || !strings.Contains(err.Error(), "needs role sre") {
		t.Fatalf("viewer approved: %v", err)
	}
	got, err := f.mg.Approve(ctx, p.ID, alice)
	if err != nil || got.State != StatePending || len(got.Approvals) != 1 {
		t.Fatalf("first of two: %+v %v", got, err)
	}
	if _, err := f.mg.Approve(ctx, p.ID, alice); err == nil || !strings.Contains(err.Error(), "already approved") {
		t.Fatalf("same approver twice: %v", err)
	}
	if f.act.runs.Load() != 0 {
		t.Fatal("ran before enough approvals")
	}
	if got, err = f.mg.Approve(ctx, p.ID, bob); err != nil || got.State != StateSucceeded {
		t.Fatalf("second approver: %+v %v", got, err)
	}

	// The requester may not approve their own proposal unless the policy allows it.
	mine, _ := f.mg.Propose(ctx, Request{Action: "test.scale", Params: map[string]any{"group": "g"}, Requester: alice, Policy: Policy{Roles: []string{"sre"}}})
	if _, err := f.mg.Approve(ctx, mine.ID, alice); err == nil || !strings.Contains(err.Error(), "requester") {
		t.Fatalf("self approval: %v", err)
	}

	// Expiry.
	old := f.propose(t, Policy{Roles: []string{"sre"}, Expires: time.Minute})
	f.now = f.now.Add(2 * time.Minute)
	if _, err := f.mg.Approve(ctx, old.ID, bob); err == nil || !strings.Contains(err.Error(), "expired") {
		t.Fatalf("expired approve: %v", err)
	}
	if err := f.mg.ExpireDue(ctx); err != nil {
		t.Fatal(err)
	}
	if got, _ := f.mg.Get(ctx, old.ID); got.State != StateExpired {
		t.Fatalf("state after sweep: %s", got.State)
	}
	if _, err := f.mg.Approve(ctx, "p-nope", bob); err == nil || !obs.IsUser(err) {
		t.Fatalf("unknown proposal: %v", err)
	}
}

func TestRacingApprovalsRunOnce(t *testing.T) {
	f := newFixture(t, store.NewMemory(), nil)
	p := f.propose(t, Policy{Roles: []string{"sre"}})
	var wg sync.WaitGroup
	var ok atomic.Int32
	for i := range 50 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			who := Actor{ID: "slack:U" + string(rune('A'+i%26)) + string(rune('a'+i/26)), Name: "x", Roles: []string{"sre"}}
			if _, err := f.mg.Approve(context.Background(), p.ID, who); err == nil {
				ok.Add(1)
			}
		}()
	}
	wg.Wait()
	if f.act.runs.Load() != 1 || ok.Load() != 1 {
		t.Fatalf("runs=%d successful approvals=%d, want 1 and 1", f.act.runs.Load(), ok.Load())
	}
}

func TestRestartWhileRunningLeavesUnknown(t *testing.T) {
	ctx := context.Background()
	st := store.NewMemory()
	f := newFixture(t, st, nil)
	f.act.block, f.act.started = make(chan struct{}), make(chan struct{}, 1)
	p := f.propose(t, Policy{Roles: []string{"sre"}})
	done := make(chan Proposal)
	go func() { got, _ := f.mg.Approve(ctx, p.ID, alice); done <- got }()
	<-f.act.started
	// A second process starts on the same store while the first is mid-action.
	g := newFixture(t, st, nil)
	changed, err := g.mg.Recover(ctx)
	if err != nil || len(changed) != 1 || changed[0].State != StateUnknown {
		t.Fatalf("Recover: %+v %v", changed, err)
	}
	close(f.act.block)
	got := <-done
	if got.State != StateUnknown {
		t.Fatalf("the old run overwrote the recovered state: %s", got.State)
	}
	if _, err := g.mg.Approve(ctx, p.ID, bob); err == nil {
		t.Fatal("an unknown proposal was approved again")
	}
	if f.act.runs.Load()+g.act.runs.Load() != 1 {
		t.Fatal("re-run after recovery")
	}
}

func TestPendingSurvivesRestart(t *testing.T) {
	ctx := context.Background()
	path := filepath.Join(t.TempDir(), "s.db")
	st, err := store.OpenBolt(path, store.BoltOptions{})
	if err != nil {
		t.Fatal(err)
	}
	p := newFixture(t, st, nil).propose(t, Policy{Roles: []string{"sre"}})
	st.Close()
	st, err = store.OpenBolt(path, store.BoltOptions{})
	if err != nil {
		t.Fatal(err)
	}
	defer st.Close()
	g := newFixture(t, st, nil)
	if _, err := g.mg.Recover(ctx); err != nil {
		t.Fatal(err)
	}
	got, err := g.mg.Approve(ctx, p.ID, alice)
	if err != nil || got.State != StateSucceeded {
		t.Fatalf("approve after restart: %+v %v", got, err)
	}
}

func TestApprovalVoidWhenRuleChanges(t *testing.T) {
	version := "v1"
	f := newFixture(t, store.NewMemory(), func(o *Options) {
		o.RuleVersion = func(string) (string, bool) { return version, true }
	})
	p := f.propose(t, Policy{Roles: []string{"sre"}})
	version = "v2"
	got, err := f.mg.Approve(context.Background(), p.ID, alice)
	if err != nil || got.State != StateVoid || !strings.Contains(got.Reason, "v1 -> v2") || f.act.runs.Load() != 0 {
		t.Fatalf("void: %+v %v", got, err)
	}
}

func TestDryRunFailureAndPause(t *testing.T) {
	ctx := context.Background()
	f := newFixture(t, store.NewMemory(), func(o *Options) { o.DryRun = true })
	got, _ := f.mg.Approve(ctx, f.propose(t, Policy{Roles: []string{"sre"}}).ID, alice)
	if got.State != StateSucceeded || !strings.HasPrefix(got.Result, "dry run: would run test.scale web-asg -> 3") || f.act.runs.Load() != 0 {
		t.Fatalf("dry run: %+v", got)
	}
	g := newFixture(t, store.NewMemory(), nil)
	g.act.fail = errors.New("boom")
	got, _ = g.mg.Approve(ctx, g.propose(t, Policy{Roles: []string{"sre"}}).ID, alice)
	if got.State != StateFailed || got.Error != "boom" {
		t.Fatalf("failure: %+v", got)
	}
	admin := Actor{ID: "console:root", Name: "root", Roles: []string{"admin"}}
	if err := g.mg.Pause(ctx, alice); err == nil {
		t.Fatal("non-admin paused")
	}
	g.mg.Pause(ctx, admin)
	if _, err := g.mg.Approve(ctx, g.propose(t, Policy{Roles: []string{"sre"}}).ID, alice); err == nil || !strings.Contains(err.Error(), "paused") {
		t.Fatalf("approve while paused: %v", err)
	}
	g.mg.Resume(ctx, admin)
	if paused, _ := g.mg.Paused(ctx); paused {
		t.Fatal("still paused")
	}
}

func TestProposeRefusesBadParams(t *testing.T) {
	f := newFixture(t, store.NewMemory(), nil)
	_, err := f.mg.Propose(context.Background(), Request{Action: "test.scale", Params: map[string]any{"to": "three", "colour": 1}})
	if err == nil || !obs.IsUser(err) || !strings.Contains(err.Error(), `"group": required`) || !strings.Contains(err.Error(), `"colour": unknown`) {
		t.Fatalf("bad params: %v", err)
	}
	if _, err := f.mg.Propose(context.Background(), Request{Action: "nope"}); err == nil || !obs.IsUser(err) {
		t.Fatalf("unknown action: %v", err)
	}
}

// keyAction declares idempotency_key and records what it received.
type keyAction struct {
	countingAction
	got Params
}

func (a *keyAction) Schema() Schema {
	return append(a.countingAction.Schema(), Param{Name: IdempotencyParam, Type: TypeString})
}
func (a *keyAction) Execute(ctx context.Context, p Params) (Result, error) {
	a.got = p
	return a.countingAction.Execute(ctx, p)
}

func TestExecutorSetsIdempotencyKey(t *testing.T) {
	act := &keyAction{}
	f := newFixture(t, store.NewMemory(), func(o *Options) {
		o.Actions = func(n string) (Action, bool) { return act, n == "test.scale" }
	})
	p := f.propose(t, Policy{Roles: []string{"sre"}})
	if _, err := f.mg.Approve(context.Background(), p.ID, alice); err != nil {
		t.Fatal(err)
	}
	if act.got.String(IdempotencyParam) != p.ID || act.got.Int("to") != 3 {
		t.Fatalf("params at execution: %v", act.got)
	}
}

// auditFailingStore refuses every transaction that writes an audit record once broken is set.
type auditFailingStore struct {
	*store.Memory
	broken atomic.Bool
}

func (s *auditFailingStore) Txn(ctx context.Context, cmps []store.Cmp, ops []store.Op) (uint64, error) {
	for _, op := range ops {
		if s.broken.Load() && strings.HasPrefix(op.Key, "audit/") {
			return 0, errors.New("disk full")
		}
	}
	return s.Memory.Txn(ctx, cmps, ops)
}

// TestNoActionWithoutAudit: when the audit record of a step cannot be written, the step does
// not happen — the approval fails and the action never runs.
func TestNoActionWithoutAudit(t *testing.T) {
	st := &auditFailingStore{Memory: store.NewMemory()}
	f := newFixture(t, st, nil)
	p := f.propose(t, Policy{Roles: []string{"sre"}})
	st.broken.Store(true)
	if _, err := f.mg.Approve(context.Background(), p.ID, alice); err == nil || !strings.Contains(err.Error(), "disk full") {
		t.Fatalf("approve with a broken audit log: %v", err)
	}
	if got, _ := f.mg.Get(context.Background(), p.ID); got.State != StatePending || f.act.runs.Load() != 0 {
		t.Fatalf("state %s, runs %d: a step happened without its record", got.State, f.act.runs.Load())
	}
}

// TestPauseStopsQueuedAction: an approved action waiting for its target does not start once an
// admin paused remediation.
func TestPauseStopsQueuedAction(t *testing.T) {
	ctx := context.Background()
	approved := make(chan string, 4)
	f := newFixture(t, store.NewMemory(), func(o *Options) {
		o.OnChange = func(_ context.Context, p Proposal) {
			if p.State == StateApproved {
				approved <- p.ID
			}
		}
	})
	f.act.block, f.act.started = make(chan struct{}), make(chan struct{}, 1)
	p1 := f.propose(t, Policy{Roles: []string{"sre"}})
	p2 := f.propose(t, Policy{Roles: []string{"sre"}}) // same target: asg/web-asg
	done1 := make(chan Proposal)
	go func() { got, _ := f.mg.Approve(ctx, p1.ID, alice); done1 <- got }()
	<-f.act.started
	done2 := make(chan Proposal)
	go func() { got, _ := f.mg.Approve(ctx, p2.ID, bob); done2 <- got }()
	for id := range approved { // p2 is approved and waits for the target p1 holds
		if id == p2.ID {
			break
		}
	}
	if err := f.mg.Pause(ctx, Actor{ID: "console:root", Name: "root", Roles: []string{"admin"}}); err != nil {
		t.Fatal(err)
	}
	close(f.act.block)
	<-done1
	got := <-done2
	if got.State != StateFailed || !strings.Contains(got.Error, "paused") || f.act.runs.Load() != 1 {
		t.Fatalf("queued action after pause: state %s (%s), runs %d", got.State, got.Error, f.act.runs.Load())
	}
}

// TestRateLimitSlotNotLeakedByConflicts: racing approvals of one proposal take one slot.
func TestRateLimitSlotNotLeakedByConflicts(t *testing.T) {
	ctx := context.Background()
	f := newFixture(t, store.NewMemory(), func(o *Options) { o.MaxPerHour = 2 })
	p := f.propose(t, Policy{Roles: []string{"sre"}})
	var wg sync.WaitGroup
	for _, who := range []Actor{alice, bob, alice, bob} {
		wg.Add(1)
		go func() { defer wg.Done(); f.mg.Approve(ctx, p.ID, who) }()
	}
	wg.Wait()
	q := f.propose(t, Policy{Roles: []string{"sre"}})
	q2 := f.propose(t, Policy{Roles: []string{"sre"}})
	if got, err := f.mg.Approve(ctx, q.ID, alice); err != nil || got.State != StateSucceeded {
		t.Fatalf("second action of the hour: %+v %v", got.State, err)
	}
	if _, err := f.mg.Approve(ctx, q2.ID, alice); err == nil || !strings.Contains(err.Error(), "rate limit") {
		t.Fatalf("third action of the hour: %v", err)
	}
}

// waitAction takes a duration and a list, the types that JSON does not keep.
type waitAction struct {
	countingAction
	got Params
}

func (a *waitAction) Schema() Schema {
	return Schema{{Name: "group", Type: TypeString, Required: true}, {Name: "wait", Type: TypeDuration, Default: 5 * time.Minute},
		{Name: "hosts", Type: TypeList}, {Name: "to", Type: TypeInt}}
}
func (a *waitAction) Execute(ctx context.Context, p Params) (Result, error) {
	a.got = p
	return a.countingAction.Execute(ctx, p)
}

// TestTypedParamsSurviveTheStore proposes, stores and reloads a plan with a duration, a list and
// an integer: the approval still covers it and the action gets its types back.
func TestTypedParamsSurviveTheStore(t *testing.T) {
	act := &waitAction{}
	st, err := store.OpenBolt(filepath.Join(t.TempDir(), "p.db"), store.BoltOptions{})
	if err != nil {
		t.Fatal(err)
	}
	defer st.Close()
	f := newFixture(t, st, func(o *Options) { o.Actions = func(n string) (Action, bool) { return act, n == "test.scale" } })
	p, err := f.mg.Propose(context.Background(), Request{Action: "test.scale", Requester: rule, Policy: Policy{Roles: []string{"sre"}},
		Params: map[string]any{"group": "g", "hosts": []any{"a", "b"}, "to": 3}})
	if err != nil {
		t.Fatal(err)
	}
	got, err := f.mg.Approve(context.Background(), p.ID, alice)
	if err != nil || got.State != StateSucceeded {
		t.Fatalf("approve: %s %s %v", got.State, got.Reason, err)
	}
	if act.got.Duration("wait") != 5*time.Minute || len(act.got.List("hosts")) != 2 || act.got.Int("to") != 3 {
		t.Fatalf("params at execution: %#v", act.got)
	}
}

// TestKeyOwnerCountsAsThePerson: an API key owned by the requester cannot approve their
// proposal, nor count as a second approver beside its owner.
func TestKeyOwnerCountsAsThePerson(t *testing.T) {
	ctx := context.Background()
	f := newFixture(t, store.NewMemory(), nil)
	key := Actor{ID: "api:alice-laptop", Name: "api key alice-laptop", Roles: []string{"sre"}, Owner: alice.ID}
	mine, _ := f.mg.Propose(ctx, Request{Action: "test.scale", Params: map[string]any{"group": "g"}, Requester: alice, Policy: Policy{Roles: []string{"sre"}}})
	if _, err := f.mg.Approve(ctx, mine.ID, key); err == nil || !strings.Contains(err.Error(), "requester") {
		t.Fatalf("the requester's own key approved: %v", err)
	}
	two := f.propose(t, Policy{Roles: []string{"sre"}, MinApprovers: 2})
	if _, err := f.mg.Approve(ctx, two.ID, alice); err != nil {
		t.Fatal(err)
	}
	if _, err := f.mg.Approve(ctx, two.ID, key); err == nil || !strings.Contains(err.Error(), "already approved") {
		t.Fatalf("a key counted as a second approver beside its owner: %v", err)
	}
}

// TestExecutorDryRunHoldsOlderProposals: a bot restarted with the executor's dry run on does
// not execute a proposal made before the restart, when the plan was not a dry run.
func TestExecutorDryRunHoldsOlderProposals(t *testing.T) {
	st := store.NewMemory()
	before := newFixture(t, st, nil)
	p := before.propose(t, Policy{Roles: []string{"sre"}})
	if p.Plan.DryRun {
		t.Fatal("the proposal was made as a dry run")
	}
	after := newFixture(t, st, func(o *Options) { o.DryRun = true })
	got, err := after.mg.Approve(context.Background(), p.ID, alice)
	if err != nil {
		t.Fatal(err)
	}
	if n := after.act.runs.Load(); n != 0 || got.State != StateSucceeded || !strings.HasPrefix(got.Result, "dry run:") {
		t.Fatalf("%d runs, state %s, result %q; want no run and a dry-run result", n, got.State, got.Result)
	}
}

// TestApprovalBoundToPlan: an approval that names a plan hash counts only for that plan.
func TestApprovalBoundToPlan(t *testing.T) {
	f := newFixture(t, store.NewMemory(), nil)
	p := f.propose(t, Policy{Roles: []string{"sre"}})
	if _, err := f.mg.ApprovePlan(context.Background(), p.ID, "0123456789abcdef", alice); err == nil || !strings.Contains(err.Error(), "not the plan 0123456789abcdef you were shown") {
		t.Fatalf("approval of another plan: %v", err)
	}
	if n := f.act.runs.Load(); n != 0 {
		t.Fatalf("ran %d times on an approval of another plan", n)
	}
	got, err := f.mg.ApprovePlan(context.Background(), p.ID, p.PlanHash, alice)
	if err != nil || got.State != StateSucceeded || f.act.runs.Load() != 1 {
		t.Fatalf("approval of the plan shown: %v, state %s, %d runs", err, got.State, f.act.runs.Load())
	}
}

// TestActionCountersStartAtZero: every known action's execution counters are exported at 0
// before it first runs, so an alert on their increase fires on the first failure.
func TestActionCountersStartAtZero(t *testing.T) {
	reg := prometheus.NewRegistry()
	newFixture(t, store.NewMemory(), func(o *Options) {
		o.Registerer, o.ActionNames = reg, []string{"test.scale", "webhook"}
	})
	if n := testutil.CollectAndCount(reg, "smartcloudops_actions_total"); n != 8 {
		t.Fatalf("%d action counter series before any run, want 2 actions × 4 outcomes", n)
	}
}

// TestDedupProposesOnce: requests with the same Dedup key, one after the other or at once, make
// one proposal, and retention forgets the key with the proposal.
func TestDedupProposesOnce(t *testing.T) {
	ctx := context.Background()
	f := newFixture(t, store.NewMemory().WithEtcdLimits(), nil)
	req := Request{Action: "test.scale", Params: map[string]any{"group": "web-asg", "to": 3},
		Rule: "web-cpu-high", RuleVersion: "v1", Requester: rule, Policy: Policy{Roles: []string{"sre"}}, Dedup: "outbox/1/web-cpu-high/abc"}
	var wg sync.WaitGroup
	ids := make([]string, 8)
	for i := range ids {
		wg.Add(1)
		go func() {
			defer wg.Done()
			p, err := f.mg.Propose(ctx, req)
			if err != nil {
				t.Error(err)
			}
			ids[i] = p.ID
		}()
	}
	wg.Wait()
	for _, id := range ids {
		if id != ids[0] || id == "" {
			t.Fatalf("proposals %v, want one", ids)
		}
	}
	all, err := f.mg.List(ctx)
	if err != nil || len(all) != 1 {
		t.Fatalf("%d proposals stored (%v), want 1", len(all), err)
	}
	recs, _ := f.al.List(ctx, audit.Filter{})
	created := 0
	for _, r := range recs {
		if r.Kind == "proposal.created" {
			created++
		}
	}
	if created != 1 {
		t.Fatalf("%d proposal.created records, want 1", created)
	}
	other := req
	other.Dedup = "outbox/2/web-cpu-high/abc"
	if p, err := f.mg.Propose(ctx, other); err != nil || p.ID == ids[0] {
		t.Fatalf("another key: %+v %v, want a proposal of its own", p, err)
	}
}

// TestApprovalOnAFollowerRunsOnTheLeader: a replica that does not lead records the approval and
// runs nothing; the leader's RunApproved starts it, once, even with the approval seen twice.
func TestApprovalOnAFollowerRunsOnTheLeader(t *testing.T) {
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	st := store.NewMemory()
	follower := newFixture(t, st, func(o *Options) { o.Leading = func() bool { return false } })
	leader := newFixture(t, st, nil)
	leader.act = follower.act // one target system
	p := follower.propose(t, Policy{Roles: []string{"sre"}})
	got, err := follower.mg.Approve(ctx, p.ID, alice)
	if err != nil || got.State != StateApproved || follower.act.runs.Load() != 0 {
		t.Fatalf("approve on a follower: %+v %v runs=%d, want approved and nothing run", got, err, follower.act.runs.Load())
	}
	done := make(chan struct{})
	go func() { leader.mg.RunApproved(ctx); close(done) }()
	deadline := time.Now().Add(10 * time.Second)
	for {
		q, _ := leader.mg.Get(ctx, p.ID)
		if q.State == StateSucceeded {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("the leader did not run the approved proposal: %s", q.State)
		}
		time.Sleep(5 * time.Millisecond)
	}
	// A proposal approved while the leader watches runs too.
	p2 := follower.propose(t, Policy{Roles: []string{"sre"}})
	if _, err := follower.mg.Approve(ctx, p2.ID, alice); err != nil {
		t.Fatal(err)
	}
	for {
		q, _ := leader.mg.Get(ctx, p2.ID)
		if q.State == StateSucceeded {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("the leader did not run the proposal approved while it watched: %s", q.State)
		}
		time.Sleep(5 * time.Millisecond)
	}
	cancel()
	<-done
	leader.mg.Wait()
	if n := follower.act.runs.Load(); n != 2 {
		t.Fatalf("%d runs for two approvals", n)
	}
}

// TestRecoverKeepsFreshApprovals: after a restart an approval younger than its policy's expiry
// stays approved for RunApproved; an older one fails; a running one becomes unknown.
func TestRecoverKeepsFreshApprovals(t *testing.T) {
	ctx := context.Background()
	f := newFixture(t, store.NewMemory(), func(o *Options) { o.Leading = func() bool { return false } })
	fresh := f.propose(t, Policy{Roles: []string{"sre"}, Expires: time.Hour})
	stale := f.propose(t, Policy{Roles: []string{"sre"}, Expires: time.Minute})
	for _, p := range []Proposal{fresh, stale} {
		if _, err := f.mg.Approve(ctx, p.ID, alice); err != nil {
			t.Fatal(err)
		}
	}
	f.now = f.now.Add(10 * time.Minute)
	if _, err := f.mg.Recover(ctx); err != nil {
		t.Fatal(err)
	}
	if q, _ := f.mg.Get(ctx, fresh.ID); q.State != StateApproved {
		t.Errorf("a fresh approval after a restart: %s, want approved", q.State)
	}
	if q, _ := f.mg.Get(ctx, stale.ID); q.State != StateFailed {
		t.Errorf("an approval older than its expiry after a restart: %s, want failed", q.State)
	}
}
