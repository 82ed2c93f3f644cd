package remediation

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"strings"
	"testing"
	"testing/synctest"
	"time"

	"github.com/smartcloudops/smartcloudops/internal/obs"
	"github.com/smartcloudops/smartcloudops/internal/store"
	"github.com/smartcloudops/smartcloudops/remediation/audit"
)

// scriptedAction is a test action whose Describe, Execute and Settle do what the test says.
type scriptedAction struct {
	countingAction
	describe func(ctx context.Context) (string, error)
	execute  func(ctx context.Context) (Result, error)
	settle   func(ctx context.Context, id string) (Settlement, error)
	gotID    string // ProposalID seen by Execute
}

func (a *scriptedAction) Schema() Schema {
	return append(a.countingAction.Schema(), Param{Name: "wait", Type: TypeDuration, Default: 10 * time.Minute, RunTime: true})
}

func (a *scriptedAction) Describe(ctx context.Context, p Params) (string, error) {
	if a.describe != nil {
		return a.describe(ctx)
	}
	return a.countingAction.Describe(ctx, p)
}

func (a *scriptedAction) Execute(ctx context.Context, p Params) (Result, error) {
	a.runs.Add(1)
	a.gotID = ProposalID(ctx)
	return a.execute(ctx)
}

// settlingAction is a scriptedAction that implements Settler.
type settlingAction struct{ *scriptedAction }

func (a settlingAction) Settle(ctx context.Context, _ Params, id string, started time.Time) (Settlement, error) {
	if started.IsZero() {
		return Settlement{}, errors.New("no start time")
	}
	return a.settle(ctx, id)
}

func newScripted(t *testing.T, act Action, mut func(*Options)) *fixture {
	return newFixture(t, store.NewMemory(), func(o *Options) {
		o.Actions = func(n string) (Action, bool) { return act, n == "test.scale" }
		if mut != nil {
			mut(o)
		}
	})
}

func auditKinds(t *testing.T, al *audit.Log, proposal string) string {
	t.Helper()
	recs, err := al.List(context.Background(), audit.Filter{Proposal: proposal})
	if err != nil {
		t.Fatal(err)
	}
	var kinds []string
	for _, r := range recs {
		kinds = append(kinds, r.Kind)
	}
	return strings.Join(kinds, " ")
}

// TestExecutorTimeoutRecordsUnknown: an action that reaches the executor's timeout is recorded
// (the write does not use the expired context), as unknown rather than failed, with its audit
// record; the approver gets the outcome, not an error. Time is the bubble's: the timeout fires
// when everything else waits, whatever the machine's load.
func TestExecutorTimeoutRecordsUnknown(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		act := &scriptedAction{execute: func(ctx context.Context) (Result, error) {
			<-ctx.Done() // an action that only stops when the executor stops it
			return Result{}, fmt.Errorf("still waiting: %w", ctx.Err())
		}}
		f := newScripted(t, act, func(o *Options) { o.Timeout = 5 * time.Minute })
		p := f.propose(t, Policy{Roles: []string{"sre"}})
		got, err := f.mg.Approve(context.Background(), p.ID, alice)
		if err != nil {
			t.Fatalf("approve: %v", err)
		}
		f.mg.Wait()
		stored, _ := f.mg.Get(context.Background(), p.ID)
		for _, q := range []Proposal{got, stored} {
			if q.State != StateUnknown || !strings.Contains(q.Error, "executor's timeout (5m0s)") || !strings.Contains(q.Reason, "resolve "+p.ID+" ran|not-run") {
				t.Fatalf("state %s, error %q, reason %q; want unknown, naming the timeout and how to resolve it", q.State, q.Error, q.Reason)
			}
		}
		if kinds := auditKinds(t, f.al, p.ID); !strings.HasSuffix(kinds, "action.started action.unknown") {
			t.Fatalf("audit: %s", kinds)
		}
		if act.gotID != p.ID {
			t.Fatalf("ProposalID in Execute = %q, want %q", act.gotID, p.ID)
		}
	})
}

// TestLockWaitTimeoutRecorded: an approved action that never got its target before the timeout
// did not start, so it fails — and that is recorded too.
func TestLockWaitTimeoutRecorded(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		act := &scriptedAction{execute: func(ctx context.Context) (Result, error) { return Result{Summary: "done"}, nil }}
		f := newScripted(t, act, func(o *Options) { o.Timeout = time.Minute })
		unlock, err := f.mg.exec.lock(context.Background(), "asg/web-asg") // another action holds the target
		if err != nil {
			t.Fatal(err)
		}
		defer unlock()
		p := f.propose(t, Policy{Roles: []string{"sre"}})
		got, err := f.mg.Approve(context.Background(), p.ID, alice)
		if err != nil || got.State != StateFailed || !strings.Contains(got.Error, "waiting for another action on asg/web-asg") || act.runs.Load() != 0 {
			t.Fatalf("queued past the timeout: %v, state %s (%s), %d runs", err, got.State, got.Error, act.runs.Load())
		}
		if kinds := auditKinds(t, f.al, p.ID); !strings.HasSuffix(kinds, "proposal.approved action.failed") {
			t.Fatalf("audit: %s", kinds)
		}
	})
}

func TestUncertainOutcomeSettled(t *testing.T) {
	uncertain := func(context.Context) (Result, error) {
		return Result{}, fmt.Errorf("%w: HTTP 500 after the request was sent", ErrOutcomeUnknown)
	}
	tests := []struct {
		name       string
		settle     Settlement
		want       State
		wantKind   string
		wantReason string
	}{
		{"ran", Settlement{Outcome: OutcomeRan, Result: Result{Summary: "command c-1 ran: success"}, Detail: "found command c-1 by its comment"},
			StateSucceeded, "proposal.settled", "the bot found it ran: found command c-1"},
		{"ran and failed", Settlement{Outcome: OutcomeRan, Err: errors.New("exit 1 on i-1"), Detail: "found command c-1"},
			StateFailed, "proposal.settled", "the bot found it ran"},
		{"not run", Settlement{Outcome: OutcomeNotRun, Detail: "no command carries its comment"},
			StateFailed, "proposal.settled", "the bot found it did not run"},
		{"cannot tell", Settlement{Detail: "EC2 keeps no record of reboot requests"},
			StateUnknown, "proposal.unsettled", "the bot cannot tell: EC2 keeps no record"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			act := &scriptedAction{execute: uncertain, settle: func(_ context.Context, id string) (Settlement, error) { return tt.settle, nil }}
			f := newScripted(t, settlingAction{act}, nil)
			p := f.propose(t, Policy{Roles: []string{"sre"}})
			got, err := f.mg.Approve(context.Background(), p.ID, alice)
			if err != nil || got.State != StateUnknown || !strings.Contains(got.Reason, "looking for its effect") {
				t.Fatalf("right after the run: %v, %s (%s)", err, got.State, got.Reason)
			}
			f.mg.Wait()
			got, _ = f.mg.Get(context.Background(), p.ID)
			if got.State != tt.want || !strings.Contains(got.Reason, tt.wantReason) {
				t.Fatalf("settled: state %s, reason %q; want %s, %q", got.State, got.Reason, tt.want, tt.wantReason)
			}
			if tt.want != StateUnknown && (got.Resolution == nil || got.Resolution.By.ID != "bot") {
				t.Fatalf("resolution: %+v", got.Resolution)
			}
			if kinds := auditKinds(t, f.al, p.ID); !strings.HasSuffix(kinds, "action.unknown "+tt.wantKind) {
				t.Fatalf("audit: %s", kinds)
			}
			if act.runs.Load() != 1 {
				t.Fatalf("%d executions", act.runs.Load())
			}
		})
	}
}

func TestResolve(t *testing.T) {
	ctx := context.Background()
	act := &scriptedAction{execute: func(context.Context) (Result, error) {
		return Result{}, fmt.Errorf("%w: connection reset", ErrOutcomeUnknown)
	}}
	f := newScripted(t, act, nil)
	operator := Actor{ID: "slack:U9", Name: "olga", Roles: []string{RoleOperator}}
	p := f.propose(t, Policy{Roles: []string{"sre"}})
	if got, _ := f.mg.Approve(ctx, p.ID, alice); got.State != StateUnknown || !strings.Contains(got.Reason, "resolve "+p.ID) {
		t.Fatalf("without a settler: %s (%s)", got.State, got.Reason)
	}
	if _, err := f.mg.Reject(ctx, p.ID, alice, "no"); err == nil || !strings.Contains(err.Error(), "resolve "+p.ID+" ran|not-run") {
		t.Fatalf("reject of an unknown proposal: %v", err)
	}
	refusals := []struct {
		who           Actor
		outcome, note string
		want          string
	}{
		{eve, OutcomeRan, "checked", "needs role operator"},
		{operator, "maybe", "checked", `outcome "maybe"`},
		{operator, OutcomeRan, "  ", "say how you know"},
		{operator, OutcomeRan, strings.Repeat("x", MaxNoteLen+1), "over 1000 bytes"},
	}
	for _, r := range refusals {
		if _, err := f.mg.Resolve(ctx, p.ID, r.who, r.outcome, r.note); err == nil || !obs.IsUser(err) || !strings.Contains(err.Error(), r.want) {
			t.Fatalf("Resolve(%s, %s, %q) = %v, want a user error with %q", r.who.Name, r.outcome, r.note, err, r.want)
		}
	}
	got, err := f.mg.Resolve(ctx, p.ID, operator, OutcomeNotRun, "desired capacity is still 2")
	if err != nil || got.State != StateFailed || got.Resolution == nil || got.Resolution.By.ID != operator.ID ||
		!strings.Contains(got.Error, "did not run (olga says: desired capacity is still 2)") {
		t.Fatalf("resolve: %v, %+v", err, got)
	}
	if _, err := f.mg.Resolve(ctx, p.ID, operator, OutcomeRan, "again"); err == nil || !strings.Contains(err.Error(), "is already failed; only an unknown proposal") {
		t.Fatalf("second resolve: %v", err)
	}
	kinds := auditKinds(t, f.al, p.ID)
	if strings.Count(kinds, "proposal.resolve_refused") != 5 || !strings.Contains(kinds, "action.unknown proposal.reject_refused") ||
		!strings.Contains(kinds, "proposal.resolved") {
		t.Fatalf("audit: %s", kinds)
	}
	if act.runs.Load() != 1 {
		t.Fatal("resolving ran the action")
	}
	// A person who resolved first wins over a late settlement.
	if _, err := f.mg.closeUnknown(ctx, p.ID, Resolution{Outcome: OutcomeRan, By: botActor}, nil, nil, "proposal.settled"); !errors.Is(err, errNoChange) {
		t.Fatalf("late settlement: %v", err)
	}
}

// TestDescribeRefused: when the action cannot describe the plan, no proposal is stored, the
// refusal is audited with its reason and returned as a user-safe *RefusedError; a Describe that
// does not answer is cut off by DescribeTimeout.
func TestDescribeRefused(t *testing.T) {
	ctx := context.Background()
	tests := []struct {
		name        string
		describe    func(ctx context.Context) (string, error)
		reason      string
		unavailable bool
	}{
		{"unknown target", func(context.Context) (string, error) {
			return "", errors.New(`test.scale asg/web-asg: Auto Scaling group "web-asg" not found`)
		}, `Auto Scaling group "web-asg" not found`, false},
		{"throttled", func(context.Context) (string, error) {
			return "", fmt.Errorf("%w: test.scale asg/web-asg: AWS Throttling: Rate exceeded", ErrUnavailable)
		}, "Rate exceeded", true},
		{"hung", func(ctx context.Context) (string, error) {
			<-ctx.Done()
			return "", ctx.Err()
		}, "test.scale asg/web-asg: no answer within 10ms while reading the target; try again later", true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			synctest.Test(t, func(t *testing.T) {
				act := &scriptedAction{describe: tt.describe}
				f := newScripted(t, act, func(o *Options) { o.DescribeTimeout = 10 * time.Millisecond })
				_, err := f.mg.Propose(ctx, Request{Action: "test.scale", Params: map[string]any{"group": "web-asg"},
					Rule: "web-cpu-high", Incident: "inc-1", Requester: rule})
				var re *RefusedError
				if !errors.As(err, &re) || !obs.IsUser(err) || !strings.Contains(re.Reason, tt.reason) || re.Unavailable != tt.unavailable ||
					re.Rule != "web-cpu-high" || re.Incident != "inc-1" || re.Target != "asg/web-asg" {
					t.Fatalf("err = %#v, want a RefusedError with %q (unavailable %v)", err, tt.reason, tt.unavailable)
				}
				if ps, _ := f.mg.List(ctx); len(ps) != 0 {
					t.Fatalf("%d proposals stored", len(ps))
				}
				recs, _ := f.al.List(ctx, audit.Filter{})
				if len(recs) != 1 || recs[0].Kind != "proposal.refused" || recs[0].Rule != "web-cpu-high" || recs[0].Incident != "inc-1" ||
					!strings.Contains(recs[0].Detail, tt.reason) {
					t.Fatalf("audit: %+v", recs)
				}
			})
		})
	}
}

// TestRunTimeLimitedByExecutor: a run-time parameter longer than the executor's timeout is
// refused when proposed, and a longer default is shortened to it.
func TestRunTimeLimitedByExecutor(t *testing.T) {
	act := &scriptedAction{execute: func(context.Context) (Result, error) { return Result{Summary: "ok"}, nil }}
	f := newScripted(t, act, func(o *Options) { o.Timeout = 5 * time.Minute })
	_, err := f.mg.Propose(context.Background(), Request{Action: "test.scale", Params: map[string]any{"group": "g", "wait": "1h"}, Requester: alice})
	if err == nil || !obs.IsUser(err) || !strings.Contains(err.Error(), `param "wait": 1h0m0s is longer than executor.timeout (5m0s)`) {
		t.Fatalf("long run time: %v", err)
	}
	p, err := f.mg.Propose(context.Background(), Request{Action: "test.scale", Params: map[string]any{"group": "g"}, Requester: alice})
	if err != nil || p.Plan.Params.Duration("wait") != 5*time.Minute {
		t.Fatalf("default: %v %v", err, p.Plan.Params)
	}
	lookup := LimitRunTime(func(string) (Schema, bool) { return act.Schema(), true }, time.Minute)
	s, _ := lookup("test.scale")
	if _, err := s.Normalize(map[string]any{"group": "g", "wait": "2m"}); err == nil || !strings.Contains(err.Error(), "executor.timeout (1m0s)") {
		t.Fatalf("LimitRunTime: %v", err)
	}
	if _, err := act.Schema().Normalize(map[string]any{"group": "g", "wait": "2h"}); err != nil {
		t.Fatalf("the unlimited schema refused: %v", err)
	}
}

// TestMayBeApprovedNeverMissesAnApproval: the executor's watch skips stored proposals without
// decoding them only when they cannot be approved; whatever the parameters hold, an approved
// proposal is never skipped, and one that merely names the state in a parameter is decoded.
func TestMayBeApprovedNeverMissesAnApproval(t *testing.T) {
	params := []Params{nil, {"state": "approved"}, {"note": `"state":"approved"`}, {"x": map[string]any{"state": "pending"}}}
	for _, st := range States {
		for _, ps := range params {
			p := Proposal{ID: "p-1", State: st, Plan: Plan{Action: "script", Params: ps, Description: `say "state":"x"`}}
			b, err := json.Marshal(p)
			if err != nil {
				t.Fatal(err)
			}
			got := mayBeApproved(b)
			if st == StateApproved && !got {
				t.Errorf("approved proposal with params %v skipped: %s", ps, b)
			}
			if st != StateApproved && got && ps["state"] == nil {
				t.Errorf("%s proposal with params %v not skipped: %s", st, ps, b)
			}
		}
	}
}
