package app

import (
	"context"
	"fmt"

	"github.com/smartcloudops/smartcloudops/remediation"
	awsactions "github.com/smartcloudops/smartcloudops/remediation/actions/aws"
)

// buildAWSActions registers the AWS actions when actions.aws.enabled is set, and lets ssm:
// secret references resolve through SSM Parameter Store.
func (b *Bot) buildAWSActions(ctx context.Context, add func(remediation.Action)) error {
	ac := b.cfg.Actions.AWS
	if !ac.Enabled {
		return nil
	}
	acts, err := awsactions.New(ctx, awsactions.Options{Region: ac.Region, Endpoint: ac.Endpoint, Logger: b.log})
	if err != nil {
		return fmt.Errorf("actions.aws: %w", err)
	}
	for _, a := range acts.All() {
		add(a)
	}
	b.ssm = acts.ResolveParameter
	return nil
}
