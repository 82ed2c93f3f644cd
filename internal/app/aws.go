package app

import (
	"context"
	"errors"
	"fmt"

	"github.com/smartcloudops/smartcloudops/remediation"
	awsactions "github.com/smartcloudops/smartcloudops/remediation/actions/aws"
)

// buildAWSActions registers the AWS actions when actions.aws.enabled is set. ssm: secret
// references resolve through SSM Parameter Store with the same settings (actions.aws.region
// and endpoint) whether or not the actions are enabled.
func (b *Bot) buildAWSActions(ctx context.Context, add func(remediation.Action)) error {
	b.ssm = b.readSSM
	if !b.cfg.Actions.AWS.Enabled {
		return nil
	}
	acts, err := b.awsClients(ctx)
	if err != nil {
		return err
	}
	for _, a := range acts.All() {
		add(a)
	}
	return nil
}

// awsClients builds the AWS clients from actions.aws once. It makes no AWS calls.
func (b *Bot) awsClients(ctx context.Context) (*awsactions.Actions, error) {
	b.awsMu.Lock()
	defer b.awsMu.Unlock()
	if b.aws != nil {
		return b.aws, nil
	}
	ac := b.cfg.Actions.AWS
	acts, err := awsactions.New(ctx, awsactions.Options{Region: ac.Region, Endpoint: ac.Endpoint, Logger: b.log})
	if err != nil {
		return nil, fmt.Errorf("actions.aws: %w", err)
	}
	b.aws = acts
	return acts, nil
}

// readSSM reads a SecureString for an ssm: reference. Its errors say which region (and
// endpoint) was asked, and leave naming the reference to the caller.
func (b *Bot) readSSM(ctx context.Context, name string) (string, error) {
	acts, err := b.awsClients(ctx)
	if err != nil {
		return "", fmt.Errorf("ssm: references use the AWS settings actions.aws.region and actions.aws.endpoint "+
			"(actions.aws.enabled may stay false): %w", err)
	}
	where := "in region " + acts.Region()
	if ep := b.cfg.Actions.AWS.Endpoint; ep != "" {
		where += " at " + ep
	}
	b.log.InfoContext(ctx, "reading a secret from AWS SSM Parameter Store", "parameter", name, "region", acts.Region())
	v, err := acts.ResolveParameter(ctx, name)
	var ae *awsactions.APIError
	switch {
	case err == nil:
		return v, nil
	case errors.As(err, &ae):
		msg := fmt.Sprintf("AWS %s %s", ae.Code, where)
		if ae.Message != "" {
			msg += ": " + ae.Message
		}
		return "", errors.New(msg)
	case context.Cause(ctx) != nil && !errors.Is(context.Cause(ctx), context.DeadlineExceeded):
		return "", fmt.Errorf("SSM %s: interrupted: %w", where, context.Cause(ctx))
	case errors.Is(err, context.DeadlineExceeded):
		return "", fmt.Errorf("no answer from SSM %s within %s", where, b.secretTimeout())
	}
	return "", fmt.Errorf("SSM %s: %w", where, err)
}
