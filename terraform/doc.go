// Package terraform holds the Terraform that runs SmartCloudOps on AWS and the Go test that
// enforces its rules; it contains no Go code of its own beyond that test.
//
// The Terraform sits at the far end of the flow: it provides the place where the smartcloudops
// binary runs (ECS Fargate), the state it keeps (EFS for the data directory), the secrets it
// reads (SSM parameters) and, through the task role, the exact AWS permissions the remediation
// actions (the last stage: sources → detector → incidents → rules → remediation) may use.
//
// Layout:
//
//   - modules/bot: the bot on ECS Fargate: cluster, task definition, service, task role whose
//     policy follows the enabled_actions variable, execution role, SecureString SSM parameters
//     for the chat tokens, CloudWatch log group, egress-only security group, EFS data volume.
//   - modules/bootstrap: the Terraform state bucket (versioned, encrypted, public access
//     blocked, TLS only) and the DynamoDB lock table.
//   - bootstrap: the root configuration that applies modules/bootstrap once per account.
//   - production: the root configuration for the bot, with the S3 backend and DynamoDB locking,
//     provider default_tags and an example production.tfvars.
//
// terraform_test.go parses every .tf file with hashicorp/hcl and checks the rules that keep the
// deployment safe: the production backend is S3 with a lock table and encryption; every
// taggable resource is tagged; IAM statements name no wildcard actions and use Resource "*" only
// under a condition (and, without a tag condition, only for read-only calls); the bot's security
// group has no ingress; the state bucket is versioned, encrypted and not public.
// scripts/check-terraform.sh adds `terraform fmt` and `terraform validate` where terraform is
// installed.
package terraform
