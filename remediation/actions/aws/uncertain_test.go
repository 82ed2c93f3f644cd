package aws

import (
	"context"
	"errors"
	"strings"
	"testing"
	"time"

	"github.com/smartcloudops/smartcloudops/internal/store"
	"github.com/smartcloudops/smartcloudops/remediation"
	"github.com/smartcloudops/smartcloudops/remediation/actions/aws/awsfake"
	"github.com/smartcloudops/smartcloudops/remediation/audit"
)

// effects counts what the fake did: commands sent, deployments started, reboots, capacity writes.
func effects(fake *awsfake.Server) (commands, deployments, reboots, writes int) {
	seen := map[string]bool{}
	for _, inv := range fake.Invocations() {
		seen[inv.CommandID] = true
	}
	svc, _ := fake.Service("prod", "api")
	inst, _ := fake.Instance("i-00000001")
	g, _ := fake.Group("web-asg")
	return len(seen), svc.Deployments - 1, inst.Reboots, g.DesiredCapacityWrites
}

func seed(fake *awsfake.Server) {
	fake.PutGroup(awsfake.Group{Name: "web-asg", Min: 1, Max: 10, Desired: 2})
	fake.PutService(awsfake.Service{Cluster: "prod", Name: "api", Desired: 2, Running: 2, DeployedAt: time.Now().Add(-time.Hour)})
	fake.PutInstance(awsfake.Instance{ID: "i-00000001"})
}

var uncertainCases = []struct {
	action, op string
	raw        map[string]any
}{
	{"aws.ssm.run", "SendCommand", map[string]any{"instance_ids": []any{"i-00000001"}, "commands": []any{"systemctl restart nginx"}}},
	{"aws.ecs.restart", "UpdateService", map[string]any{"cluster": "prod", "service": "api"}},
	{"aws.ec2.reboot", "RebootInstances", map[string]any{"instance_ids": []any{"i-00000001"}}},
	{"aws.autoscaling.scale", "SetDesiredCapacity", map[string]any{"group": "web-asg", "delta": 1}},
}

// TestAmbiguousErrorsActOnce: when AWS acts and then answers 500, or drops the connection, the
// calls that take no client token are not retried (one effect), and every action reports an
// unknown outcome rather than a failure.
func TestAmbiguousErrorsActOnce(t *testing.T) {
	for _, fault := range []string{"500 after the effect", "connection dropped after the effect"} {
		for _, tc := range uncertainCases {
			t.Run(fault+"/"+tc.action, func(t *testing.T) {
				fake, _, acts := setup(t, awsfake.Options{})
				seed(fake)
				if strings.HasPrefix(fault, "500") {
					fake.FailAfterEffect(tc.op, 0)
				} else {
					fake.DropAfterEffect(tc.op, 0)
				}
				act := acts[tc.action]
				_, err := act.Execute(context.Background(), norm(t, act, tc.raw))
				if !errors.Is(err, remediation.ErrOutcomeUnknown) {
					t.Fatalf("err = %v, want ErrOutcomeUnknown", err)
				}
				c, d, r, w := effects(fake)
				want := map[string]int{"SendCommand": c, "UpdateService": d, "RebootInstances": r}[tc.op]
				if tc.op != "SetDesiredCapacity" && (want != 1 || fake.Calls(tc.op) != 1) {
					t.Fatalf("%s: %d effects after %d calls, want exactly one of each", tc.op, want, fake.Calls(tc.op))
				}
				if tc.op == "SetDesiredCapacity" {
					// An absolute value may be retried: every write sets the same capacity.
					if g, _ := fake.Group("web-asg"); g.Desired != 3 || w != fake.Calls(tc.op) {
						t.Fatalf("desired %d after %d writes", g.Desired, w)
					}
					if !strings.Contains(err.Error(), "setting web-asg desired 2 -> 3") {
						t.Fatalf("err %q does not say what to check", err)
					}
				}
			})
		}
	}
}

// TestSafeRetries: a throttled SendCommand, forced deployment or reboot was not acted on, so it
// is retried, and acts once.
func TestSafeRetries(t *testing.T) {
	for _, tc := range uncertainCases[:3] {
		t.Run(tc.action, func(t *testing.T) {
			fake, _, acts := setup(t, awsfake.Options{CompleteAfterPolls: 1})
			seed(fake)
			fake.Throttle(tc.op, 2)
			act := acts[tc.action]
			if _, err := act.Execute(context.Background(), norm(t, act, tc.raw)); err != nil {
				t.Fatalf("throttled twice: %v", err)
			}
			if c, d, r, _ := effects(fake); c+d+r != 1 || fake.Calls(tc.op) != 3 {
				t.Fatalf("%d effects after %d calls", c+d+r, fake.Calls(tc.op))
			}
		})
	}
	// A 4xx is a clear refusal: failed, not unknown.
	fake, _, acts := setup(t, awsfake.Options{})
	seed(fake)
	fake.DenyAccess("SendCommand")
	act := acts["aws.ssm.run"]
	_, err := act.Execute(context.Background(), norm(t, act, uncertainCases[0].raw))
	if err == nil || errors.Is(err, remediation.ErrOutcomeUnknown) || fake.Calls("SendCommand") != 1 {
		t.Fatalf("access denied: %v after %d calls", err, fake.Calls("SendCommand"))
	}
}

// TestSettleUnknownProposals runs approved proposals through the Manager against the fake:
// AWS acts, then answers 500; the proposal is unknown at once, and the settle step finds the
// SSM command by its comment, the ECS deployment it started, or says it cannot tell for EC2.
// When nothing was done (the connection dropped before the effect), SSM and ECS settle on
// "not run".
func TestSettleUnknownProposals(t *testing.T) {
	tests := []struct {
		idx        int
		before     bool // the fault comes before the effect
		want       remediation.State
		wantReason string
		wantResult string
	}{
		{0, false, remediation.StateSucceeded, "the bot found it ran: SSM has command", "ran 1 command(s) on i-00000001: success"},
		{1, false, remediation.StateSucceeded, "the bot found it ran: ECS shows deployment ecs-svc/2", "prod/api: new deployment started (ecs-svc/2)"},
		{2, false, remediation.StateUnknown, "EC2 keeps no record of reboot requests", ""},
		{0, true, remediation.StateFailed, "did not run: SSM has no command with the comment", ""},
		{1, true, remediation.StateFailed, "did not run: ECS shows no deployment of prod/api", ""},
	}
	for _, tt := range tests {
		tc := uncertainCases[tt.idx]
		name := tc.action
		if tt.before {
			name += " not run"
		}
		t.Run(name, func(t *testing.T) {
			fake, _, acts := setup(t, awsfake.Options{CompleteAfterPolls: 1})
			seed(fake)
			if tt.before {
				fake.Inject(tc.op, awsfake.Fault{Drop: true, Times: 1})
			} else {
				fake.FailAfterEffect(tc.op, 1)
			}
			st := store.NewMemory()
			al, _ := audit.New(audit.Options{Store: st})
			mg, err := remediation.New(remediation.Options{Store: st, Audit: al,
				Actions: func(n string) (remediation.Action, bool) { a, ok := acts[n]; return a, ok }})
			if err != nil {
				t.Fatal(err)
			}
			ctx := context.Background()
			p, err := mg.Propose(ctx, remediation.Request{Action: tc.action, Params: tc.raw,
				Requester: remediation.Actor{ID: "rule:r", Name: "rule r"}, Policy: remediation.Policy{Roles: []string{"sre"}}})
			if err != nil {
				t.Fatal(err)
			}
			got, err := mg.Approve(ctx, p.ID, remediation.Actor{ID: "slack:U1", Name: "alice", Roles: []string{"sre"}})
			if err != nil || got.State != remediation.StateUnknown {
				t.Fatalf("approve: %v, state %s (%s)", err, got.State, got.Error)
			}
			mg.Wait()
			got, _ = mg.Get(ctx, p.ID)
			if got.State != tt.want || !strings.Contains(got.Reason+" "+got.Error, tt.wantReason) || !strings.Contains(got.Result, tt.wantResult) {
				t.Fatalf("settled: state %s, reason %q, error %q, result %q; want %s with %q", got.State, got.Reason, got.Error, got.Result, tt.want, tt.wantReason)
			}
			if tt.want == remediation.StateUnknown && !strings.Contains(got.Reason, "resolve "+p.ID+" ran|not-run") {
				t.Fatalf("reason %q does not say how to resolve it", got.Reason)
			}
			if c, d, r, _ := effects(fake); (tt.before && c+d+r != 0) || (!tt.before && c+d+r != 1) {
				t.Fatalf("%d effects", c+d+r)
			}
			if tc.op == "SendCommand" && !tt.before {
				if inv := fake.Invocations(); len(inv) != 1 || inv[0].Status != "Success" {
					t.Fatalf("invocations: %+v", inv)
				}
			}
		})
	}
}

// TestSSMPollingBacksOff: status checks throttled beyond the SDK's retries do not end the wait;
// the action backs off and keeps polling until the command finishes.
func TestSSMPollingBacksOff(t *testing.T) {
	fake, _, acts := setup(t, awsfake.Options{CompleteAfterPolls: 1})
	seed(fake)
	fake.Throttle("GetCommandInvocation", 7) // more than the 3 attempts of one call
	act := acts["aws.ssm.run"]
	res, err := act.Execute(context.Background(), norm(t, act, uncertainCases[0].raw))
	if err != nil || !strings.Contains(res.Summary, "success") {
		t.Fatalf("throttled polling: %v, %+v", err, res)
	}
}

// TestSSMCancelFailureSaid: when the command outlives its timeout and the cancel is refused, the
// error says the command may still be running instead of "cancelled".
func TestSSMCancelFailureSaid(t *testing.T) {
	fake, _, acts := setup(t, awsfake.Options{CompleteAfterPolls: 1 << 30}, func(o *Options) { o.PollInterval = 5 * time.Millisecond })
	seed(fake)
	fake.DenyAccess("CancelCommand")
	act := acts["aws.ssm.run"]
	_, err := act.Execute(context.Background(), norm(t, act, map[string]any{"instance_ids": []any{"i-00000001"}, "commands": []any{"sleep 999"}, "timeout": "50ms"}))
	if err == nil || !strings.Contains(err.Error(), "could not cancel it") || !strings.Contains(err.Error(), "AccessDeniedException") ||
		!strings.Contains(err.Error(), "may still be running") || strings.Contains(err.Error(), "cancelled it") {
		t.Fatalf("err = %v", err)
	}
}

// TestInstanceIDs: each list entry must be one instance ID; SSM also takes managed nodes.
func TestInstanceIDs(t *testing.T) {
	tests := []struct {
		action string
		id     string
		ok     bool
	}{
		{"aws.ec2.reboot", "i-0123456789abcdef0", true},
		{"aws.ec2.reboot", "i-00000001 i-00000002", false},
		{"aws.ec2.reboot", "mi-0123456789abcdef0", false},
		{"aws.ssm.run", "mi-0123456789abcdef0", true},
		{"aws.ssm.run", "i-1", false},
	}
	for _, tt := range tests {
		r := &reader{action: tt.action, p: remediation.Params{"instance_ids": []string{tt.id}}}
		instanceIDs(r, tt.action == "aws.ssm.run")
		err := r.err()
		if (err == nil) != tt.ok || (err != nil && !strings.Contains(err.Error(), "list one ID per entry")) {
			t.Errorf("%s %q: err = %v, want ok %v", tt.action, tt.id, err, tt.ok)
		}
	}
}

// TestDescribeUnavailable: a throttled or failing Describe is marked unavailable, a missing
// group is not.
func TestDescribeUnavailable(t *testing.T) {
	fake, _, acts := setup(t, awsfake.Options{})
	seed(fake)
	act := acts["aws.autoscaling.scale"]
	fake.Throttle("DescribeAutoScalingGroups", 10)
	if _, err := act.Describe(context.Background(), remediation.Params{"group": "web-asg", "delta": int64(1)}); !errors.Is(err, remediation.ErrUnavailable) {
		t.Fatalf("throttled: %v", err)
	}
	fake.ClearFaults()
	if _, err := act.Describe(context.Background(), remediation.Params{"group": "nope", "delta": int64(1)}); err == nil || errors.Is(err, remediation.ErrUnavailable) {
		t.Fatalf("unknown group: %v", err)
	}
}
