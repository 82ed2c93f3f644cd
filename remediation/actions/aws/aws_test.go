package aws

import (
	"context"
	"errors"
	"io"
	"log/slog"
	"net/http"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/credentials"

	"github.com/smartcloudops/smartcloudops/remediation"
	"github.com/smartcloudops/smartcloudops/remediation/actions/aws/awsfake"
)

// setup starts a fake and returns it with the actions pointed at it, by name.
func setup(t *testing.T, fo awsfake.Options, mutate ...func(*Options)) (*awsfake.Server, *Actions, map[string]remediation.Action) {
	t.Helper()
	fake := awsfake.New(fo)
	t.Cleanup(fake.Close)
	tr := &http.Transport{}
	t.Cleanup(tr.CloseIdleConnections)
	o := Options{
		Region: fake.Region(), Endpoint: fake.URL(), Credentials: fake.Credentials(),
		HTTPClient: &http.Client{Transport: tr}, RetryMaxAttempts: 3, RetryMaxBackoff: time.Millisecond,
		PollInterval: time.Millisecond, Logger: slog.New(slog.NewTextHandler(io.Discard, nil)),
	}
	for _, m := range mutate {
		m(&o)
	}
	a, err := New(context.Background(), o)
	if err != nil {
		t.Fatalf("New: %v", err)
	}
	byName := map[string]remediation.Action{}
	for _, act := range a.All() {
		byName[act.Name()] = act
	}
	return fake, a, byName
}

func norm(t *testing.T, act remediation.Action, raw map[string]any) remediation.Params {
	t.Helper()
	p, err := act.Schema().Normalize(raw)
	if err != nil {
		t.Fatalf("Normalize: %v", err)
	}
	return p
}

func wantAPIError(t *testing.T, err error, code string, mentions ...string) {
	t.Helper()
	var ae *APIError
	if !errors.As(err, &ae) || ae.Code != code {
		t.Fatalf("err = %v, want *APIError with code %s", err, code)
	}
	for _, m := range mentions {
		if !strings.Contains(err.Error(), m) {
			t.Errorf("err %q does not mention %q", err, m)
		}
	}
}

func TestAutoScalingScale(t *testing.T) {
	tests := []struct {
		name        string
		raw         map[string]any
		desired     int32
		wantDesc    string
		wantDesired int32
		wantSet     bool
	}{
		{"delta", map[string]any{"group": "web-asg", "delta": 1}, 2, "web-asg desired 2 -> 3 (group min 1, max 10)", 3, true},
		{"desired", map[string]any{"group": "web-asg", "desired": "5"}, 2, "web-asg desired 2 -> 5 (group min 1, max 10)", 5, true},
		{"capped by rule max", map[string]any{"group": "web-asg", "delta": 4, "max": 4}, 2, "web-asg desired 2 -> 4 (capped from 6 by the rule's max 4; group min 1, max 10)", 4, true},
		{"capped by group max", map[string]any{"group": "web-asg", "delta": 20, "max": 50}, 2, "web-asg desired 2 -> 10 (capped from 22 by the group's max 10; group min 1, max 10)", 10, true},
		{"at rule max", map[string]any{"group": "web-asg", "delta": 1, "max": 4}, 4, "web-asg desired stays 4: already at the rule's max 4 (asked for 5; group min 1, max 10)", 4, false},
		{"at group max", map[string]any{"group": "web-asg", "delta": 1}, 10, "web-asg desired stays 10: already at the group's max 10 (asked for 11; group min 1, max 10)", 10, false},
		{"scale in to group min", map[string]any{"group": "web-asg", "delta": -5}, 3, "web-asg desired 3 -> 1 (capped from -2 by the group's min 1; group min 1, max 10)", 1, true},
		{"above rule max", map[string]any{"group": "web-asg", "delta": 1, "max": 4}, 8, "web-asg desired stays 8: already beyond the rule's max 4, and scaling out never moves it the other way (asked for 9; group min 1, max 10)", 8, false},
		{"below rule min", map[string]any{"group": "web-asg", "delta": -1, "min": 3}, 2, "web-asg desired stays 2: already beyond the rule's min 3, and scaling in never moves it the other way (asked for 1; group min 1, max 10)", 2, false},
		{"rule min", map[string]any{"group": "web-asg", "delta": -2, "min": 2}, 3, "web-asg desired 3 -> 2 (capped from 1 by the rule's min 2; group min 1, max 10)", 2, true},
		{"rule min above group max", map[string]any{"group": "web-asg", "delta": 1, "min": 12}, 2, "web-asg desired 2 -> 10 (capped from 3 by the rule's min 12, held to the group's max 10; group min 1, max 10)", 10, true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			fake, _, acts := setup(t, awsfake.Options{})
			fake.PutGroup(awsfake.Group{Name: "web-asg", Min: 1, Max: 10, Desired: tt.desired})
			act := acts["aws.autoscaling.scale"]
			p := norm(t, act, tt.raw)
			if got := act.Target(p); got != "asg/web-asg" {
				t.Errorf("Target = %q", got)
			}
			desc, err := act.Describe(context.Background(), p)
			if err != nil {
				t.Fatalf("Describe: %v", err)
			}
			if desc != tt.wantDesc {
				t.Errorf("Describe = %q\nwant       %q", desc, tt.wantDesc)
			}
			if fake.Calls("SetDesiredCapacity") != 0 {
				t.Fatal("Describe changed the group")
			}
			res, err := act.Execute(context.Background(), p)
			if err != nil {
				t.Fatalf("Execute: %v", err)
			}
			g, _ := fake.Group("web-asg")
			if g.Desired != tt.wantDesired {
				t.Errorf("desired = %d, want %d", g.Desired, tt.wantDesired)
			}
			if got := fake.Calls("SetDesiredCapacity") == 1; got != tt.wantSet {
				t.Errorf("SetDesiredCapacity called: %v, want %v", got, tt.wantSet)
			}
			if tt.wantSet && g.LastHonorCooldown {
				t.Error("HonorCooldown was true")
			}
			if !tt.wantSet && !strings.Contains(res.Summary, "unchanged") {
				t.Errorf("Summary = %q, want it to say nothing changed", res.Summary)
			}
		})
	}
}

func TestAutoScalingErrors(t *testing.T) {
	fake, _, acts := setup(t, awsfake.Options{})
	fake.PutGroup(awsfake.Group{Name: "web-asg", Min: 1, Max: 10, Desired: 2})
	act := acts["aws.autoscaling.scale"]
	ctx := context.Background()

	_, err := act.Execute(ctx, remediation.Params{"group": "nope", "delta": int64(1)})
	if err == nil || !strings.Contains(err.Error(), `Auto Scaling group "nope" not found`) {
		t.Errorf("unknown group: %v", err)
	}
	_, err = act.Execute(ctx, remediation.Params{"group": "web-asg", "delta": int64(1), "desired": int64(3)})
	if err == nil || !strings.Contains(err.Error(), "exactly one of") {
		t.Errorf("both delta and desired: %v", err)
	}
	_, err = act.Execute(ctx, remediation.Params{"group": "web-asg"})
	if err == nil || !strings.Contains(err.Error(), "exactly one of") {
		t.Errorf("neither delta nor desired: %v", err)
	}

	fake.DenyAccess("SetDesiredCapacity")
	_, err = act.Execute(ctx, remediation.Params{"group": "web-asg", "delta": int64(1)})
	wantAPIError(t, err, "AccessDenied", "aws.autoscaling.scale", "asg/web-asg")
	var ae *APIError
	if errors.As(err, &ae) && !ae.AccessDenied() {
		t.Error("AccessDenied() = false")
	}
	fake.ClearFaults()

	fake.Inject("SetDesiredCapacity", awsfake.Fault{Code: "ValidationError", Message: "New SetDesiredCapacity value 3 is above max value 2"})
	_, err = act.Execute(ctx, remediation.Params{"group": "web-asg", "delta": int64(1)})
	wantAPIError(t, err, "ValidationError", "above max value")
	fake.ClearFaults()

	// Throttled twice, then the SDK's retries get through.
	fake.Throttle("DescribeAutoScalingGroups", 2)
	if _, err := act.Execute(ctx, remediation.Params{"group": "web-asg", "delta": int64(1)}); err != nil {
		t.Errorf("throttled twice then retried: %v", err)
	}
	// Throttled beyond the retry budget.
	fake.Throttle("DescribeAutoScalingGroups", 10)
	_, err = act.Describe(ctx, remediation.Params{"group": "web-asg", "delta": int64(1)})
	wantAPIError(t, err, "Throttling")
	if errors.As(err, &ae) && !ae.Throttled() {
		t.Error("Throttled() = false")
	}
}

func TestBadSignatureRejected(t *testing.T) {
	tests := []struct {
		name   string
		creds  func(*awsfake.Server) *Options
		action string
		raw    map[string]any
		code   string
	}{
		{"asg wrong secret", nil, "aws.autoscaling.scale", map[string]any{"group": "web-asg", "delta": 1}, "SignatureDoesNotMatch"},
		{"ecs wrong secret", nil, "aws.ecs.restart", map[string]any{"cluster": "prod", "service": "api"}, "InvalidSignatureException"},
		{"ec2 wrong secret", nil, "aws.ec2.reboot", map[string]any{"instance_ids": []any{"i-00000001"}}, "AuthFailure"},
		{"ssm wrong secret", nil, "aws.ssm.run", map[string]any{"instance_ids": []any{"i-00000001"}, "commands": []any{"uptime"}}, "InvalidSignatureException"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			fake, _, acts := setup(t, awsfake.Options{}, func(o *Options) {
				o.Credentials = credentials.NewStaticCredentialsProvider(awsfake.TestAccessKeyID, "wrong-secret", "")
			})
			fake.PutGroup(awsfake.Group{Name: "web-asg", Min: 1, Max: 10, Desired: 2})
			fake.PutService(awsfake.Service{Cluster: "prod", Name: "api", Desired: 2, Running: 2})
			fake.PutInstance(awsfake.Instance{ID: "i-00000001"})
			act := acts[tt.action]
			_, err := act.Execute(context.Background(), norm(t, act, tt.raw))
			wantAPIError(t, err, tt.code, tt.action)
			if g, _ := fake.Group("web-asg"); g.Desired != 2 || g.DesiredCapacityWrites != 0 {
				t.Error("a request with a bad signature changed state")
			}
			if inst, _ := fake.Instance("i-00000001"); inst.Reboots != 0 {
				t.Error("a request with a bad signature rebooted an instance")
			}
		})
	}
	t.Run("unknown access key", func(t *testing.T) {
		_, _, acts := setup(t, awsfake.Options{}, func(o *Options) {
			o.Credentials = credentials.NewStaticCredentialsProvider("AKIDUNKNOWN", awsfake.TestSecretAccessKey, "")
		})
		_, err := acts["aws.ecs.restart"].Execute(context.Background(), remediation.Params{"cluster": "prod", "service": "api"})
		wantAPIError(t, err, "UnrecognizedClientException")
	})
}

func TestECS(t *testing.T) {
	fake, _, acts := setup(t, awsfake.Options{})
	fake.PutService(awsfake.Service{Cluster: "prod", Name: "api", Desired: 2, Running: 2})
	ctx := context.Background()

	scale := acts["aws.ecs.scale"]
	p := norm(t, scale, map[string]any{"cluster": "prod", "service": "api", "delta": 3, "max": 4})
	if got := scale.Target(p); got != "ecs/prod/api" {
		t.Errorf("Target = %q", got)
	}
	desc, err := scale.Describe(ctx, p)
	if want := "prod/api desired tasks 2 -> 4 (capped from 5 by the rule's max 4; 2 running)"; err != nil || desc != want {
		t.Errorf("Describe = %q, %v; want %q", desc, err, want)
	}
	if _, err := scale.Execute(ctx, p); err != nil {
		t.Fatal(err)
	}
	if svc, _ := fake.Service("prod", "api"); svc.Desired != 4 {
		t.Errorf("desired = %d, want 4", svc.Desired)
	}
	res, err := scale.Execute(ctx, p)
	if err != nil || fake.Calls("UpdateService") != 1 || !strings.Contains(res.Summary, "unchanged at 4") {
		t.Errorf("at max: %+v, %v, %d UpdateService calls", res, err, fake.Calls("UpdateService"))
	}

	restart := acts["aws.ecs.restart"]
	rp := norm(t, restart, map[string]any{"cluster": "prod", "service": "api"})
	if desc, err := restart.Describe(ctx, rp); err != nil || !strings.Contains(desc, "force a new deployment of prod/api") {
		t.Errorf("Describe = %q, %v", desc, err)
	}
	res, err = restart.Execute(ctx, rp)
	if err != nil || !strings.Contains(res.Summary, "new deployment started (ecs-svc/2)") {
		t.Errorf("restart = %+v, %v", res, err)
	}
	if svc, _ := fake.Service("prod", "api"); svc.Deployments != 2 {
		t.Errorf("deployments = %d, want 2", svc.Deployments)
	}

	_, err = restart.Execute(ctx, remediation.Params{"cluster": "nope", "service": "api"})
	wantAPIError(t, err, "ClusterNotFoundException", "ecs/nope/api")
	_, err = restart.Execute(ctx, remediation.Params{"cluster": "prod", "service": "nope"})
	wantAPIError(t, err, "ServiceNotFoundException")
	if _, err = scale.Describe(ctx, remediation.Params{"cluster": "prod", "service": "nope", "delta": int64(1)}); err == nil || !strings.Contains(err.Error(), `ECS service "nope" not found`) {
		t.Errorf("unknown service: %v", err)
	}
	fake.DenyAccess("UpdateService")
	_, err = restart.Execute(ctx, rp)
	wantAPIError(t, err, "AccessDeniedException", "aws.ecs.restart", "ecs/prod/api")
}

func TestEC2Reboot(t *testing.T) {
	fake, _, acts := setup(t, awsfake.Options{})
	fake.PutInstance(awsfake.Instance{ID: "i-0aaa0aaa"})
	fake.PutInstance(awsfake.Instance{ID: "i-0bbb0bbb"})
	act := acts["aws.ec2.reboot"]
	ctx := context.Background()
	p := norm(t, act, map[string]any{"instance_ids": []any{"i-0aaa0aaa", "i-0bbb0bbb"}})
	if got := act.Target(p); got != "ec2/i-0aaa0aaa,i-0bbb0bbb" {
		t.Errorf("Target = %q", got)
	}
	desc, err := act.Describe(ctx, p)
	if err != nil || desc != "reboot 2 instance(s): i-0aaa0aaa, i-0bbb0bbb" {
		t.Errorf("Describe = %q, %v", desc, err)
	}
	if inst, _ := fake.Instance("i-0aaa0aaa"); inst.Reboots != 0 {
		t.Fatal("Describe rebooted an instance")
	}
	if _, err := act.Execute(ctx, p); err != nil {
		t.Fatal(err)
	}
	for _, id := range []string{"i-0aaa0aaa", "i-0bbb0bbb"} {
		if inst, _ := fake.Instance(id); inst.Reboots != 1 {
			t.Errorf("%s rebooted %d times", id, inst.Reboots)
		}
	}
	_, err = act.Describe(ctx, remediation.Params{"instance_ids": []string{"i-0aaa0aaa", "i-0ccc0ccc"}})
	wantAPIError(t, err, "InvalidInstanceID.NotFound", "i-0ccc0ccc")
	_, err = act.Execute(ctx, remediation.Params{"instance_ids": []string{"web-1"}})
	if err == nil || !strings.Contains(err.Error(), `"web-1" is not an EC2 instance ID`) {
		t.Errorf("bad id: %v", err)
	}
	fake.DenyAccess("RebootInstances")
	_, err = act.Execute(ctx, p)
	wantAPIError(t, err, "UnauthorizedOperation", "ec2/i-0aaa0aaa,i-0bbb0bbb")
}

func TestSSMRun(t *testing.T) {
	fake, _, acts := setup(t, awsfake.Options{
		CompleteAfterPolls: 3, InvocationLag: 1,
		CommandResult: func(inst string, cmds []string) awsfake.CommandResult {
			if inst == "i-0000dead" {
				return awsfake.CommandResult{Status: "Failed", Stderr: "nginx: not found", ResponseCode: 127}
			}
			return awsfake.CommandResult{Status: "Success", Stdout: "ok: " + strings.Join(cmds, " && ")}
		},
	})
	fake.PutInstance(awsfake.Instance{ID: "i-00000001"})
	fake.PutInstance(awsfake.Instance{ID: "i-00000002"})
	fake.PutInstance(awsfake.Instance{ID: "i-0000dead"})
	act := acts["aws.ssm.run"]
	ctx := context.Background()
	p := norm(t, act, map[string]any{"instance_ids": []any{"i-00000001", "i-00000002"}, "commands": []any{"systemctl restart nginx"}})
	if desc, _ := act.Describe(ctx, p); desc != "run AWS-RunShellScript on i-00000001, i-00000002 (timeout 5m0s): systemctl restart nginx" {
		t.Errorf("Describe = %q", desc)
	}
	res, err := act.Execute(ctx, p)
	if err != nil {
		t.Fatalf("Execute: %v", err)
	}
	for _, want := range []string{"== i-00000001: Success (exit 0) ==\nok: systemctl restart nginx", "== i-00000002: Success"} {
		if !strings.Contains(res.Output, want) {
			t.Errorf("Output lacks %q:\n%s", want, res.Output)
		}
	}
	if n := fake.Calls("GetCommandInvocation"); n < 2*5 {
		t.Errorf("%d polls, want at least 10 (lag 1 + 3 in progress + final, per instance)", n)
	}

	res, err = act.Execute(ctx, norm(t, act, map[string]any{"instance_ids": []any{"i-00000001", "i-0000dead"}, "commands": []any{"nginx -s reload"}}))
	if err == nil || !strings.Contains(err.Error(), "i-0000dead Failed (exit 127)") || !strings.Contains(res.Output, "nginx: not found") {
		t.Errorf("failed instance: %v\n%s", err, res.Output)
	}

	_, err = act.Execute(ctx, norm(t, act, map[string]any{"instance_ids": []any{"i-00000404"}, "commands": []any{"uptime"}}))
	wantAPIError(t, err, "InvalidInstanceId", "ssm/i-00000404")

	_, err = act.Execute(ctx, norm(t, act, map[string]any{"instance_ids": []any{"i-00000001"}, "commands": []any{"uptime"}, "document": "Nope"}))
	wantAPIError(t, err, "InvalidDocument")
}

func TestSSMTimeoutCancels(t *testing.T) {
	fake, _, acts := setup(t, awsfake.Options{CompleteAfterPolls: 1 << 30}, func(o *Options) { o.PollInterval = 5 * time.Millisecond })
	fake.PutInstance(awsfake.Instance{ID: "i-00000001"})
	act := acts["aws.ssm.run"]
	_, err := act.Execute(context.Background(), norm(t, act, map[string]any{"instance_ids": []any{"i-00000001"}, "commands": []any{"sleep 999"}, "timeout": "50ms"}))
	if !errors.Is(err, context.DeadlineExceeded) || !strings.Contains(err.Error(), "cancelled") {
		t.Fatalf("err = %v, want a cancelled timeout", err)
	}
	invs := fake.Invocations()
	if len(invs) != 1 || invs[0].Status != "Cancelled" || fake.Calls("CancelCommand") != 1 {
		t.Errorf("invocations = %+v, CancelCommand calls %d", invs, fake.Calls("CancelCommand"))
	}
}

func TestResolveParameter(t *testing.T) {
	fake, a, _ := setup(t, awsfake.Options{})
	fake.PutParameter(awsfake.Parameter{Name: "/smartcloudops/slack-token", Value: "xoxb-secret", Type: "SecureString"})
	for _, name := range []string{"/smartcloudops/slack-token", "ssm:/smartcloudops/slack-token"} {
		v, err := a.ResolveParameter(context.Background(), name)
		if err != nil || v != "xoxb-secret" {
			t.Errorf("ResolveParameter(%q) = %q, %v", name, v, err)
		}
	}
	_, err := a.ResolveParameter(context.Background(), "/missing")
	wantAPIError(t, err, "ParameterNotFound", "ssm:/missing")
	fake.DenyAccess("GetParameter")
	_, err = a.ResolveParameter(context.Background(), "/smartcloudops/slack-token")
	wantAPIError(t, err, "AccessDeniedException")
}

func TestNewValidation(t *testing.T) {
	_, err := New(context.Background(), Options{Endpoint: "localhost:4566", PollInterval: -1})
	for _, want := range []string{"Logger is required", "Endpoint", "must not be negative"} {
		if err == nil || !strings.Contains(err.Error(), want) {
			t.Errorf("err = %v, want it to mention %q", err, want)
		}
	}
}

func TestParamErrors(t *testing.T) {
	_, _, acts := setup(t, awsfake.Options{})
	tests := []struct {
		action string
		p      remediation.Params
		want   string
	}{
		{"aws.autoscaling.scale", remediation.Params{"delta": int64(1)}, `param "group": required`},
		{"aws.autoscaling.scale", remediation.Params{"group": "{{ .labels.asg }}", "delta": int64(1)}, "unrendered template"},
		{"aws.autoscaling.scale", remediation.Params{"group": "g", "delta": int64(1), "min": int64(5), "max": int64(2)}, `"min" 5 is above`},
		{"aws.ecs.scale", remediation.Params{"cluster": "c", "service": "s", "desired": int64(-1)}, "negative"},
		{"aws.ec2.reboot", remediation.Params{"instance_ids": []string{}}, "must not be empty"},
		{"aws.ssm.run", remediation.Params{"instance_ids": []string{"i-00000001"}}, `param "commands": required`},
		{"aws.ssm.run", remediation.Params{"instance_ids": []string{"i-00000001"}, "commands": []string{"x"}, "timeout": 24 * time.Hour}, "outside"},
	}
	for _, tt := range tests {
		t.Run(tt.action+" "+tt.want, func(t *testing.T) {
			_, err := acts[tt.action].Execute(context.Background(), tt.p)
			if err == nil || !strings.Contains(err.Error(), tt.want) || !strings.HasPrefix(err.Error(), tt.action) {
				t.Errorf("err = %v, want it to start with %s and mention %q", err, tt.action, tt.want)
			}
		})
	}
}

func TestConcurrentExecute(t *testing.T) {
	fake, _, acts := setup(t, awsfake.Options{CompleteAfterPolls: 1})
	const n = 40
	fake.PutGroup(awsfake.Group{Name: "web-asg", Min: 0, Max: 1000, Desired: 0})
	fake.PutService(awsfake.Service{Cluster: "prod", Name: "api", Desired: 1, Running: 1})
	fake.PutInstance(awsfake.Instance{ID: "i-00000001"})
	var wg sync.WaitGroup
	errs := make(chan error, 4*n)
	for range n {
		wg.Go(func() {
			_, err := acts["aws.autoscaling.scale"].Execute(context.Background(), remediation.Params{"group": "web-asg", "desired": int64(5)})
			errs <- err
		})
		wg.Go(func() {
			_, err := acts["aws.ecs.restart"].Execute(context.Background(), remediation.Params{"cluster": "prod", "service": "api"})
			errs <- err
		})
		wg.Go(func() {
			_, err := acts["aws.ec2.reboot"].Execute(context.Background(), remediation.Params{"instance_ids": []string{"i-00000001"}})
			errs <- err
		})
		wg.Go(func() {
			_, err := acts["aws.ssm.run"].Execute(context.Background(), remediation.Params{"instance_ids": []string{"i-00000001"}, "commands": []string{"uptime"}})
			errs <- err
		})
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		if err != nil {
			t.Error(err)
		}
	}
	if svc, _ := fake.Service("prod", "api"); svc.Deployments != n+1 {
		t.Errorf("deployments = %d, want %d", svc.Deployments, n+1)
	}
	if inst, _ := fake.Instance("i-00000001"); inst.Reboots != n {
		t.Errorf("reboots = %d, want %d", inst.Reboots, n)
	}
	if g, _ := fake.Group("web-asg"); g.Desired != 5 {
		t.Errorf("desired = %d", g.Desired)
	}
}

func BenchmarkAutoScalingScale(b *testing.B) {
	fake := awsfake.New(awsfake.Options{})
	defer fake.Close()
	fake.PutGroup(awsfake.Group{Name: "web-asg", Min: 0, Max: 1 << 30, Desired: 0})
	a, err := New(context.Background(), Options{Region: fake.Region(), Endpoint: fake.URL(), Credentials: fake.Credentials(),
		Logger: slog.New(slog.NewTextHandler(io.Discard, nil))})
	if err != nil {
		b.Fatal(err)
	}
	act := a.All()[0]
	p := remediation.Params{"group": "web-asg", "delta": int64(1)}
	for b.Loop() {
		if _, err := act.Execute(context.Background(), p); err != nil {
			b.Fatal(err)
		}
	}
}
