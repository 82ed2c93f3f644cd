package aws

import (
	"context"
	"errors"
	"fmt"
	"strings"

	sdkaws "github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/ec2"
	"github.com/aws/smithy-go"

	"github.com/smartcloudops/smartcloudops/remediation"
)

// ec2Reboot is aws.ec2.reboot: reboot instances.
type ec2Reboot struct{ a *Actions }

// Name implements remediation.Action.
func (*ec2Reboot) Name() string { return "aws.ec2.reboot" }

// Schema implements remediation.Action.
func (*ec2Reboot) Schema() remediation.Schema {
	return remediation.Schema{
		{Name: "instance_ids", Type: remediation.TypeList, Required: true, Description: "EC2 instance IDs, such as i-0abc"},
	}
}

// Target implements remediation.Action: "ec2/<ids joined by commas>".
func (*ec2Reboot) Target(p remediation.Params) string {
	return "ec2/" + strings.Join(p.List("instance_ids"), ",")
}

// maxInstances bounds one call; more than this in a single remediation is more likely a bad
// template than a plan.
const maxInstances = 50

func instanceIDs(r *reader) []string {
	ids := r.list("instance_ids", true)
	if len(ids) > maxInstances {
		r.fail("instance_ids", "%d instances, at most %d per action", len(ids), maxInstances)
	}
	for _, id := range ids {
		if !strings.HasPrefix(id, "i-") || len(id) < 3 {
			r.fail("instance_ids", "%q is not an instance ID (i-...)", id)
		}
	}
	return ids
}

func (x *ec2Reboot) read(p remediation.Params) ([]string, error) {
	r := &reader{action: x.Name(), p: p}
	ids := instanceIDs(r)
	return ids, r.err()
}

// Describe implements remediation.Action. It makes a DryRun call, so the card already shows an
// unknown instance or a missing permission.
func (x *ec2Reboot) Describe(ctx context.Context, p remediation.Params) (string, error) {
	ids, err := x.read(p)
	if err != nil {
		return "", err
	}
	_, err = x.a.ec2.RebootInstances(ctx, &ec2.RebootInstancesInput{InstanceIds: ids, DryRun: sdkaws.Bool(true)})
	var apiErr smithy.APIError
	if err != nil && !(errors.As(err, &apiErr) && apiErr.ErrorCode() == "DryRunOperation") {
		return "", wrap(x.Name(), x.Target(p), err)
	}
	return fmt.Sprintf("reboot %d instance(s): %s", len(ids), strings.Join(ids, ", ")), nil
}

// Execute implements remediation.Action.
func (x *ec2Reboot) Execute(ctx context.Context, p remediation.Params) (remediation.Result, error) {
	ids, err := x.read(p)
	if err != nil {
		return remediation.Result{}, err
	}
	if _, err := x.a.ec2.RebootInstances(ctx, &ec2.RebootInstancesInput{InstanceIds: ids}); err != nil {
		return remediation.Result{}, wrap(x.Name(), x.Target(p), err)
	}
	x.a.log.InfoContext(ctx, "reboot requested", "action", x.Name(), "target", x.Target(p))
	return remediation.Result{Summary: fmt.Sprintf("reboot requested for %s", strings.Join(ids, ", "))}, nil
}
