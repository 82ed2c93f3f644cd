package aws

import (
	"context"
	"fmt"

	sdkaws "github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/autoscaling"

	"github.com/smartcloudops/smartcloudops/remediation"
)

// asgScale is aws.autoscaling.scale: set an Auto Scaling group's desired capacity.
type asgScale struct{ a *Actions }

// Name implements remediation.Action.
func (*asgScale) Name() string { return "aws.autoscaling.scale" }

// Schema implements remediation.Action.
func (*asgScale) Schema() remediation.Schema {
	return remediation.Schema{
		{Name: "group", Type: remediation.TypeString, Required: true, Description: "Auto Scaling group name"},
		{Name: "delta", Type: remediation.TypeInt, Description: "change in desired capacity, such as 1 or -1 (or use desired)"},
		{Name: "desired", Type: remediation.TypeInt, Description: "new desired capacity (or use delta)"},
		{Name: "max", Type: remediation.TypeInt, Description: "the rule's upper bound on desired capacity"},
		{Name: "min", Type: remediation.TypeInt, Description: "the rule's lower bound on desired capacity"},
	}
}

// Target implements remediation.Action.
func (*asgScale) Target(p remediation.Params) string { return "asg/" + p.String("group") }

type asgPlan struct {
	group    string
	plan     plan
	min, max int64
}

func (x *asgScale) plan(ctx context.Context, p remediation.Params) (asgPlan, error) {
	r := &reader{action: x.Name(), p: p}
	group := r.str("group", true)
	s := r.scaling()
	if err := r.err(); err != nil {
		return asgPlan{}, err
	}
	out, err := x.a.asg.DescribeAutoScalingGroups(ctx, &autoscaling.DescribeAutoScalingGroupsInput{
		AutoScalingGroupNames: []string{group},
	})
	if err != nil {
		return asgPlan{}, wrap(x.Name(), x.Target(p), err)
	}
	if len(out.AutoScalingGroups) == 0 {
		return asgPlan{}, fmt.Errorf("%s %s: Auto Scaling group %q not found in region %s", x.Name(), x.Target(p), group, x.a.regionName())
	}
	g := out.AutoScalingGroups[0]
	cur := int64(sdkaws.ToInt32(g.DesiredCapacity))
	lo, hi := int64(sdkaws.ToInt32(g.MinSize)), int64(sdkaws.ToInt32(g.MaxSize))
	return asgPlan{group: group, plan: s.apply(cur, lo, hi, "group's"), min: lo, max: hi}, nil
}

func (ap asgPlan) String() string {
	return ap.plan.describe(ap.group, "desired", fmt.Sprintf("group min %d, max %d", ap.min, ap.max))
}

// Describe implements remediation.Action, such as "web-asg desired 2 -> 3 (group min 1, max 10)".
func (x *asgScale) Describe(ctx context.Context, p remediation.Params) (string, error) {
	ap, err := x.plan(ctx, p)
	if err != nil {
		return "", err
	}
	return ap.String(), nil
}

// Execute implements remediation.Action. It re-reads the group, and when the new capacity equals
// the current one it changes nothing and says so.
func (x *asgScale) Execute(ctx context.Context, p remediation.Params) (remediation.Result, error) {
	ap, err := x.plan(ctx, p)
	if err != nil {
		return remediation.Result{}, err
	}
	if ap.plan.to == ap.plan.from {
		x.a.log.InfoContext(ctx, "no capacity change needed", "action", x.Name(), "target", x.Target(p), "desired", ap.plan.from)
		return remediation.Result{Summary: fmt.Sprintf("%s desired unchanged at %d", ap.group, ap.plan.from), Output: ap.String()}, nil
	}
	// An absolute value: the SDK may retry it. Without a clear answer it may still have been set,
	// and a second approval of a delta would then scale twice, so the outcome is unknown.
	_, err = x.a.asg.SetDesiredCapacity(ctx, &autoscaling.SetDesiredCapacityInput{
		AutoScalingGroupName: sdkaws.String(ap.group),
		DesiredCapacity:      sdkaws.Int32(int32(ap.plan.to)),
		HonorCooldown:        sdkaws.Bool(false),
	})
	if err != nil {
		what := fmt.Sprintf("setting %s desired %d -> %d", ap.group, ap.plan.from, ap.plan.to)
		return remediation.Result{}, callError(x.Name(), x.Target(p), what, err)
	}
	x.a.log.InfoContext(ctx, "capacity changed", "action", x.Name(), "target", x.Target(p), "from", ap.plan.from, "to", ap.plan.to)
	return remediation.Result{
		Summary: fmt.Sprintf("%s desired %d -> %d", ap.group, ap.plan.from, ap.plan.to),
		Output:  ap.String(),
	}, nil
}
