# Example values for the production deployment. Copy, adjust, and run
#   terraform plan -var-file=production.tfvars
# Secrets never go here: fill the SSM parameters listed in the secret_parameter_names output.
region      = "eu-west-1"
environment = "production"
name        = "smartcloudops"

image                = "123456789012.dkr.ecr.eu-west-1.amazonaws.com/smartcloudops-deploy:1.0.0"
image_repository_arn = "arn:aws:ecr:eu-west-1:123456789012:repository/smartcloudops-deploy"

vpc_id     = "vpc-0123456789abcdef0"
subnet_ids = ["subnet-0123456789abcdef0", "subnet-0fedcba9876543210"]

extra_egress = [
  {
    description = "Prometheus inside the VPC"
    port        = 9090
    cidr_blocks = ["10.0.0.0/16"]
  },
]

enabled_actions = [
  "aws.autoscaling.scale",
  "aws.ecs.restart",
  "webhook",
]

chat_platforms     = ["slack"]
log_retention_days = 90

tags = {
  Owner      = "platform-team"
  CostCenter = "ops"
}
