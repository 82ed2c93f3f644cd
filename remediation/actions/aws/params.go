package aws

import (
	"context"
	"errors"
	"fmt"
	"strings"

	"github.com/aws/aws-sdk-go-v2/service/autoscaling"
	"github.com/aws/aws-sdk-go-v2/service/ec2"
	"github.com/aws/aws-sdk-go-v2/service/ecs"
	"github.com/aws/aws-sdk-go-v2/service/ssm"

	"github.com/smartcloudops/smartcloudops/remediation"
)

// The AWS calls each action needs; the SDK clients satisfy them.
type (
	autoscalingAPI interface {
		DescribeAutoScalingGroups(context.Context, *autoscaling.DescribeAutoScalingGroupsInput, ...func(*autoscaling.Options)) (*autoscaling.DescribeAutoScalingGroupsOutput, error)
		SetDesiredCapacity(context.Context, *autoscaling.SetDesiredCapacityInput, ...func(*autoscaling.Options)) (*autoscaling.SetDesiredCapacityOutput, error)
	}
	ecsAPI interface {
		DescribeServices(context.Context, *ecs.DescribeServicesInput, ...func(*ecs.Options)) (*ecs.DescribeServicesOutput, error)
		UpdateService(context.Context, *ecs.UpdateServiceInput, ...func(*ecs.Options)) (*ecs.UpdateServiceOutput, error)
	}
	ec2API interface {
		RebootInstances(context.Context, *ec2.RebootInstancesInput, ...func(*ec2.Options)) (*ec2.RebootInstancesOutput, error)
	}
	ssmAPI interface {
		SendCommand(context.Context, *ssm.SendCommandInput, ...func(*ssm.Options)) (*ssm.SendCommandOutput, error)
		ListCommands(context.Context, *ssm.ListCommandsInput, ...func(*ssm.Options)) (*ssm.ListCommandsOutput, error)
		GetCommandInvocation(context.Context, *ssm.GetCommandInvocationInput, ...func(*ssm.Options)) (*ssm.GetCommandInvocationOutput, error)
		CancelCommand(context.Context, *ssm.CancelCommandInput, ...func(*ssm.Options)) (*ssm.CancelCommandOutput, error)
		GetParameter(context.Context, *ssm.GetParameterInput, ...func(*ssm.Options)) (*ssm.GetParameterOutput, error)
	}
)

// reader pulls typed parameters and collects every problem, naming the action and parameter.
type reader struct {
	action string
	p      remediation.Params
	errs   []error
}

func (r *reader) fail(name, format string, args ...any) {
	r.errs = append(r.errs, fmt.Errorf("param %q: "+format, append([]any{name}, args...)...))
}

func (r *reader) has(name string) bool { v, ok := r.p[name]; return ok && v != nil }

func (r *reader) str(name string, required bool) string {
	v, ok := r.p[name]
	if !ok || v == nil {
		if required {
			r.fail(name, "required")
		}
		return ""
	}
	s, ok := v.(string)
	switch {
	case !ok:
		r.fail(name, "is %T, want a string", v)
	case strings.Contains(s, "{{"):
		r.fail(name, "holds an unrendered template %q", s)
	case required && strings.TrimSpace(s) == "":
		r.fail(name, "required")
	}
	return s
}

func (r *reader) int(name string) (int64, bool) {
	v, ok := r.p[name]
	if !ok || v == nil {
		return 0, false
	}
	n, ok := v.(int64)
	if !ok {
		r.fail(name, "is %v (%T), want a whole number", v, v)
		return 0, false
	}
	return n, true
}

func (r *reader) list(name string, required bool) []string {
	v, ok := r.p[name]
	if !ok || v == nil {
		if required {
			r.fail(name, "required")
		}
		return nil
	}
	l, ok := v.([]string)
	if !ok {
		r.fail(name, "is %T, want a list of strings", v)
		return nil
	}
	var out []string
	for _, e := range l {
		if e = strings.TrimSpace(e); e != "" {
			out = append(out, e)
		}
	}
	if required && len(out) == 0 {
		r.fail(name, "must not be empty")
	}
	return out
}

func (r *reader) err() error {
	if len(r.errs) == 0 {
		return nil
	}
	return fmt.Errorf("%s: %w", r.action, errors.Join(r.errs...))
}

// scaling is a requested capacity change with the rule's bounds.
type scaling struct {
	delta, desired   int64
	hasDelta         bool
	ruleMin, ruleMax int64
	hasMin, hasMax   bool
}

func (r *reader) scaling() scaling {
	var s scaling
	s.delta, s.hasDelta = r.int("delta")
	desired, hasDesired := r.int("desired")
	s.desired = desired
	if s.hasDelta == hasDesired {
		r.errs = append(r.errs, errors.New(`exactly one of params "delta" and "desired" is required`))
	}
	if hasDesired && desired < 0 {
		r.fail("desired", "%d is negative", desired)
	}
	s.ruleMin, s.hasMin = r.int("min")
	s.ruleMax, s.hasMax = r.int("max")
	if s.hasMin && s.ruleMin < 0 {
		r.fail("min", "%d is negative", s.ruleMin)
	}
	if s.hasMax && s.ruleMax < 0 {
		r.fail("max", "%d is negative", s.ruleMax)
	}
	if s.hasMin && s.hasMax && s.ruleMin > s.ruleMax {
		r.errs = append(r.errs, fmt.Errorf(`param "min" %d is above param "max" %d`, s.ruleMin, s.ruleMax))
	}
	return s
}

// plan is the outcome of applying a scaling request to the current capacity.
type plan struct {
	from, to  int64
	wanted    int64  // before clamping
	limitedBy string // why to differs from wanted, such as "the rule's max 5"; "" if it does not
	held      bool   // a relative change whose bounds pointed the other way: to is from
}

// apply computes the new capacity within the rule's bounds and then within [lo, hi], the
// resource's own bounds, which always win: a rule min above the resource's max gives its max.
func (s scaling) apply(current, lo, hi int64, what string) plan {
	p := plan{from: current, wanted: s.desired}
	if s.hasDelta {
		p.wanted = current + s.delta
	}
	p.to = p.wanted
	if s.hasMax && p.to > s.ruleMax {
		p.to, p.limitedBy = s.ruleMax, fmt.Sprintf("the rule's max %d", s.ruleMax)
	}
	if s.hasMin && p.to < s.ruleMin {
		p.to, p.limitedBy = s.ruleMin, fmt.Sprintf("the rule's min %d", s.ruleMin)
	}
	if p.to > hi {
		by := fmt.Sprintf("the %s max %d", what, hi)
		if p.limitedBy != "" {
			by = p.limitedBy + ", held to " + by
		}
		p.to, p.limitedBy = hi, by
	}
	if p.to < lo {
		by := fmt.Sprintf("the %s min %d", what, lo)
		if p.limitedBy != "" {
			by = p.limitedBy + ", held to " + by
		}
		p.to, p.limitedBy = lo, by
	}
	if s.hasDelta && (s.delta > 0 && p.to < p.from || s.delta < 0 && p.to > p.from) {
		// Someone moved the capacity past a bound since the proposal was made: a scale-out
		// that would now lower it, or a scale-in that would raise it, does nothing instead.
		p.to, p.held = p.from, true
	}
	return p
}

// describe renders the plan for name, with extra context such as the group's bounds.
func (p plan) describe(name, field, bounds string) string {
	switch {
	case p.held:
		dir := "out"
		if p.wanted < p.from {
			dir = "in"
		}
		return fmt.Sprintf("%s %s stays %d: already beyond %s, and scaling %s never moves it the other way (asked for %d; %s)", name, field, p.from, p.limitedBy, dir, p.wanted, bounds)
	case p.to == p.from && p.limitedBy != "":
		return fmt.Sprintf("%s %s stays %d: already at %s (asked for %d; %s)", name, field, p.from, p.limitedBy, p.wanted, bounds)
	case p.to == p.from:
		return fmt.Sprintf("%s %s stays %d: already there (%s)", name, field, p.from, bounds)
	case p.limitedBy != "":
		return fmt.Sprintf("%s %s %d -> %d (capped from %d by %s; %s)", name, field, p.from, p.to, p.wanted, p.limitedBy, bounds)
	default:
		return fmt.Sprintf("%s %s %d -> %d (%s)", name, field, p.from, p.to, bounds)
	}
}
