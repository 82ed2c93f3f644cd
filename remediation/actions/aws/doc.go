// Package aws owns the SmartCloudOps remediation actions that change AWS resources through
// aws-sdk-go-v2: aws.autoscaling.scale, aws.ecs.scale, aws.ecs.restart, aws.ec2.reboot and
// aws.ssm.run, plus ResolveParameter for "ssm:/path" secret references in the config.
//
// It sits at the end of the flow (sources → detector → incidents → rules → remediation →
// notifier/bot adapters): the remediation executor calls Describe for the proposal card and dry
// runs, and Execute only after approval. Describe only reads (Describe* APIs, or a DryRun call
// for EC2); Execute re-reads current state and recomputes, since the world may have moved between
// proposal and approval.
//
// Credentials come from the default chain (environment, shared config, SSO, IMDS) unless
// Options.Credentials is set; Options.Endpoint overrides the endpoint of every service, which is
// how tests point the SDK at the loopback fake in package awsfake.
//
// Errors from AWS are returned as *APIError naming the action, the target and the AWS error code.
package aws
