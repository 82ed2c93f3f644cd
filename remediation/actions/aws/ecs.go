package aws

import (
	"context"
	"fmt"
	"math"
	"strings"
	"time"

	sdkaws "github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/ecs"
	ecstypes "github.com/aws/aws-sdk-go-v2/service/ecs/types"

	"github.com/smartcloudops/smartcloudops/remediation"
)

func ecsTarget(p remediation.Params) string {
	return "ecs/" + p.String("cluster") + "/" + p.String("service")
}

// describeService reads one ECS service and checks that it is active.
func (a *Actions) describeService(ctx context.Context, action, target, cluster, service string) (ecstypes.Service, error) {
	out, err := a.ecs.DescribeServices(ctx, &ecs.DescribeServicesInput{Cluster: &cluster, Services: []string{service}})
	if err != nil {
		return ecstypes.Service{}, wrap(action, target, err)
	}
	if len(out.Services) == 0 {
		reason := "MISSING"
		if len(out.Failures) > 0 && out.Failures[0].Reason != nil {
			reason = *out.Failures[0].Reason
		}
		return ecstypes.Service{}, fmt.Errorf("%s %s: ECS service %q not found in cluster %q (%s)", action, target, service, cluster, reason)
	}
	svc := out.Services[0]
	if st := sdkaws.ToString(svc.Status); st != "ACTIVE" {
		return ecstypes.Service{}, fmt.Errorf("%s %s: ECS service %q is %s, not ACTIVE", action, target, service, st)
	}
	return svc, nil
}

// ecsScale is aws.ecs.scale: set an ECS service's desired task count.
type ecsScale struct{ a *Actions }

// Name implements remediation.Action.
func (*ecsScale) Name() string { return "aws.ecs.scale" }

// Schema implements remediation.Action.
func (*ecsScale) Schema() remediation.Schema {
	return remediation.Schema{
		{Name: "cluster", Type: remediation.TypeString, Required: true, Description: "ECS cluster name or ARN"},
		{Name: "service", Type: remediation.TypeString, Required: true, Description: "ECS service name"},
		{Name: "delta", Type: remediation.TypeInt, Description: "change in desired task count (or use desired)"},
		{Name: "desired", Type: remediation.TypeInt, Description: "new desired task count (or use delta)"},
		{Name: "max", Type: remediation.TypeInt, Description: "the rule's upper bound on the task count"},
		{Name: "min", Type: remediation.TypeInt, Description: "the rule's lower bound on the task count"},
	}
}

// Target implements remediation.Action: "ecs/<cluster>/<service>".
func (*ecsScale) Target(p remediation.Params) string { return ecsTarget(p) }

type ecsPlan struct {
	cluster, service string
	running          int32
	plan             plan
}

func (x *ecsScale) plan(ctx context.Context, p remediation.Params) (ecsPlan, error) {
	r := &reader{action: x.Name(), p: p}
	cluster, service := r.str("cluster", true), r.str("service", true)
	s := r.scaling()
	if err := r.err(); err != nil {
		return ecsPlan{}, err
	}
	svc, err := x.a.describeService(ctx, x.Name(), x.Target(p), cluster, service)
	if err != nil {
		return ecsPlan{}, err
	}
	return ecsPlan{cluster: cluster, service: service, running: svc.RunningCount,
		plan: s.apply(int64(svc.DesiredCount), 0, math.MaxInt32, "service's")}, nil
}

func (ep ecsPlan) String() string {
	return ep.plan.describe(ep.cluster+"/"+ep.service, "desired tasks", fmt.Sprintf("%d running", ep.running))
}

// Describe implements remediation.Action, such as "prod/api desired tasks 2 -> 3 (2 running)".
func (x *ecsScale) Describe(ctx context.Context, p remediation.Params) (string, error) {
	ep, err := x.plan(ctx, p)
	if err != nil {
		return "", err
	}
	return ep.String(), nil
}

// Execute implements remediation.Action.
func (x *ecsScale) Execute(ctx context.Context, p remediation.Params) (remediation.Result, error) {
	ep, err := x.plan(ctx, p)
	if err != nil {
		return remediation.Result{}, err
	}
	name := ep.cluster + "/" + ep.service
	if ep.plan.to == ep.plan.from {
		return remediation.Result{Summary: fmt.Sprintf("%s desired tasks unchanged at %d", name, ep.plan.from), Output: ep.String()}, nil
	}
	// An absolute count: the SDK may retry it. Without a clear answer it may still have been set.
	_, err = x.a.ecs.UpdateService(ctx, &ecs.UpdateServiceInput{
		Cluster:      &ep.cluster,
		Service:      &ep.service,
		DesiredCount: sdkaws.Int32(int32(ep.plan.to)),
	})
	if err != nil {
		what := fmt.Sprintf("setting %s desired tasks %d -> %d", name, ep.plan.from, ep.plan.to)
		return remediation.Result{}, callError(x.Name(), x.Target(p), what, err)
	}
	x.a.log.InfoContext(ctx, "task count changed", "action", x.Name(), "target", x.Target(p), "from", ep.plan.from, "to", ep.plan.to)
	return remediation.Result{Summary: fmt.Sprintf("%s desired tasks %d -> %d", name, ep.plan.from, ep.plan.to), Output: ep.String()}, nil
}

// ecsRestart is aws.ecs.restart: force a new deployment, which replaces every task.
type ecsRestart struct{ a *Actions }

// Name implements remediation.Action.
func (*ecsRestart) Name() string { return "aws.ecs.restart" }

// Schema implements remediation.Action.
func (*ecsRestart) Schema() remediation.Schema {
	return remediation.Schema{
		{Name: "cluster", Type: remediation.TypeString, Required: true, Description: "ECS cluster name or ARN"},
		{Name: "service", Type: remediation.TypeString, Required: true, Description: "ECS service name"},
	}
}

// Target implements remediation.Action: "ecs/<cluster>/<service>".
func (*ecsRestart) Target(p remediation.Params) string { return ecsTarget(p) }

func (x *ecsRestart) read(p remediation.Params) (string, string, error) {
	r := &reader{action: x.Name(), p: p}
	cluster, service := r.str("cluster", true), r.str("service", true)
	return cluster, service, r.err()
}

// Describe implements remediation.Action, such as
// "force a new deployment of prod/api, replacing its 3 running tasks".
func (x *ecsRestart) Describe(ctx context.Context, p remediation.Params) (string, error) {
	cluster, service, err := x.read(p)
	if err != nil {
		return "", err
	}
	svc, err := x.a.describeService(ctx, x.Name(), x.Target(p), cluster, service)
	if err != nil {
		return "", err
	}
	return fmt.Sprintf("force a new deployment of %s/%s, replacing its %d running tasks (desired %d)",
		cluster, service, svc.RunningCount, svc.DesiredCount), nil
}

// Execute implements remediation.Action. A forced deployment is not idempotent, so UpdateService
// is sent once; without a clear answer it returns remediation.ErrOutcomeUnknown and Settle looks
// for the deployment.
func (x *ecsRestart) Execute(ctx context.Context, p remediation.Params) (remediation.Result, error) {
	cluster, service, err := x.read(p)
	if err != nil {
		return remediation.Result{}, err
	}
	out, err := x.a.ecs.UpdateService(ctx, &ecs.UpdateServiceInput{
		Cluster: &cluster, Service: &service, ForceNewDeployment: true,
	}, x.a.ecsOnce)
	if err != nil {
		return remediation.Result{}, callError(x.Name(), x.Target(p), "forcing a new deployment of "+cluster+"/"+service, err)
	}
	var deployment string
	var lines []string
	if out.Service != nil {
		lines, deployment = deploymentLines(out.Service.Deployments)
	}
	x.a.log.InfoContext(ctx, "new deployment forced", "action", x.Name(), "target", x.Target(p), "deployment", deployment)
	summary := fmt.Sprintf("%s/%s: new deployment started", cluster, service)
	if deployment != "" {
		summary += " (" + deployment + ")"
	}
	return remediation.Result{Summary: summary, Output: strings.Join(lines, "\n")}, nil
}

// deploymentLines describes deployments, one a line, and names the primary one.
func deploymentLines(ds []ecstypes.Deployment) (lines []string, primary string) {
	for _, d := range ds {
		lines = append(lines, fmt.Sprintf("deployment %s: %s, %d/%d running, rollout %s",
			sdkaws.ToString(d.Id), sdkaws.ToString(d.Status), d.RunningCount, d.DesiredCount, d.RolloutState))
		if sdkaws.ToString(d.Status) == "PRIMARY" {
			primary = sdkaws.ToString(d.Id)
		}
	}
	return lines, primary
}

// Settle implements remediation.Settler: a deployment of the service created since the
// proposal started means the forced deployment took effect; none means it did not.
func (x *ecsRestart) Settle(ctx context.Context, p remediation.Params, _ string, started time.Time) (remediation.Settlement, error) {
	cluster, service, err := x.read(p)
	if err != nil {
		return remediation.Settlement{}, err
	}
	svc, err := x.a.describeService(ctx, x.Name(), x.Target(p), cluster, service)
	if err != nil {
		return remediation.Settlement{}, err
	}
	since := started.Add(-settleSkew)
	lines, _ := deploymentLines(svc.Deployments)
	for _, d := range svc.Deployments {
		if d.CreatedAt != nil && !d.CreatedAt.Before(since) {
			id := sdkaws.ToString(d.Id)
			return remediation.Settlement{Outcome: remediation.OutcomeRan,
				Result: remediation.Result{Summary: fmt.Sprintf("%s/%s: new deployment started (%s)", cluster, service, id), Output: strings.Join(lines, "\n")},
				Detail: fmt.Sprintf("ECS shows deployment %s of %s/%s, created %s, after the request", id, cluster, service, d.CreatedAt.UTC().Format(time.RFC3339))}, nil
		}
	}
	return remediation.Settlement{Outcome: remediation.OutcomeNotRun,
		Detail: fmt.Sprintf("ECS shows no deployment of %s/%s created since %s: no new deployment was started", cluster, service, since.UTC().Format(time.RFC3339))}, nil
}
