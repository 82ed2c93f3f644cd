package aws

import (
	"context"
	"errors"
	"fmt"
	"regexp"
	"strings"
	"time"

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

// Instance IDs as EC2 and SSM write them: i- with 8 or 17 characters, and for SSM also the
// managed nodes outside EC2, mi- with 17.
var (
	ec2InstanceID = regexp.MustCompile(`^i-(\w{8}|\w{17})$`)
	managedNodeID = regexp.MustCompile(`^mi-\w{17}$`)
)

// instanceIDs reads the instance_ids parameter; managed allows SSM managed nodes (mi-...).
func instanceIDs(r *reader, managed bool) []string {
	ids := r.list("instance_ids", true)
	if len(ids) > maxInstances {
		r.fail("instance_ids", "%d instances, at most %d per action", len(ids), maxInstances)
	}
	want := "an EC2 instance ID such as i-0123456789abcdef0"
	if managed {
		want += " or a managed node ID such as mi-0123456789abcdef0"
	}
	for _, id := range ids {
		if !ec2InstanceID.MatchString(id) && !(managed && managedNodeID.MatchString(id)) {
			r.fail("instance_ids", "%q is not %s (list one ID per entry)", id, want)
		}
	}
	return ids
}

func (x *ec2Reboot) read(p remediation.Params) ([]string, error) {
	r := &reader{action: x.Name(), p: p}
	ids := instanceIDs(r, false)
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

// Execute implements remediation.Action. RebootInstances takes no client token, so it is sent
// once: a reboot retried after EC2 accepted it would reboot twice. Without a clear answer it
// returns remediation.ErrOutcomeUnknown.
func (x *ec2Reboot) Execute(ctx context.Context, p remediation.Params) (remediation.Result, error) {
	ids, err := x.read(p)
	if err != nil {
		return remediation.Result{}, err
	}
	if _, err := x.a.ec2.RebootInstances(ctx, &ec2.RebootInstancesInput{InstanceIds: ids}, x.a.ec2Once); err != nil {
		return remediation.Result{}, callError(x.Name(), x.Target(p), "rebooting "+strings.Join(ids, ", "), err)
	}
	x.a.log.InfoContext(ctx, "reboot requested", "action", x.Name(), "target", x.Target(p))
	return remediation.Result{Summary: fmt.Sprintf("reboot requested for %s", strings.Join(ids, ", "))}, nil
}

// Settle implements remediation.Settler. EC2 keeps no record of a reboot request that could be
// looked up, so it cannot tell and says what a person can check.
func (x *ec2Reboot) Settle(_ context.Context, p remediation.Params, _ string, started time.Time) (remediation.Settlement, error) {
	return remediation.Settlement{Detail: fmt.Sprintf("EC2 keeps no record of reboot requests that the bot could look up; "+
		"see whether %s booted after %s (uptime, or the instance's system log)", strings.Join(p.List("instance_ids"), ", "), started.UTC().Format(time.RFC3339))}, nil
}
