variable "name" {
  description = "Name of this deployment; prefixes every resource and the SSM parameter path /smartcloudops/<name>/."
  type        = string

  validation {
    condition     = can(regex("^[a-z][a-z0-9-]{1,30}$", var.name))
    error_message = "name must be 2-31 lower-case letters, digits and hyphens, starting with a letter."
  }
}

variable "image" {
  description = "Container image of the bot, with the configuration and rules baked in (see docs/deployment.md), for example 123456789012.dkr.ecr.eu-west-1.amazonaws.com/smartcloudops:1.4.0."
  type        = string

  validation {
    condition     = length(trimspace(var.image)) > 0 && !endswith(var.image, ":latest")
    error_message = "image must be set and pinned to a tag or digest, not :latest."
  }
}

variable "image_repository_arn" {
  description = "ARN of the ECR repository the image is pulled from, so the execution role may pull only from it. Null when the image comes from a public registry."
  type        = string
  default     = null
}

variable "config_path" {
  description = "Path of the configuration file inside the image."
  type        = string
  default     = "/etc/smartcloudops/config.yml"
}

variable "environment" {
  description = "Extra plain environment variables for the container. Never put secrets here; use chat_platforms and extra_secrets."
  type        = map(string)
  default     = {}
}

variable "cpu" {
  description = "Fargate task CPU units."
  type        = number
  default     = 256
}

variable "memory" {
  description = "Fargate task memory in MiB."
  type        = number
  default     = 512
}

variable "cpu_architecture" {
  description = "CPU architecture of the task: X86_64 or ARM64. Must match the image."
  type        = string
  default     = "X86_64"

  validation {
    condition     = contains(["X86_64", "ARM64"], var.cpu_architecture)
    error_message = "cpu_architecture must be X86_64 or ARM64."
  }
}

variable "container_uid" {
  description = "Numeric user and group the container runs as; owns the data directory on EFS."
  type        = number
  default     = 65532
}

variable "vpc_id" {
  description = "VPC the task runs in."
  type        = string
}

variable "subnet_ids" {
  description = "Private subnets for the task and the EFS mount targets (one per availability zone)."
  type        = list(string)

  validation {
    condition     = length(var.subnet_ids) > 0
    error_message = "subnet_ids must name at least one subnet."
  }
}

variable "assign_public_ip" {
  description = "Give the task a public IP. Leave false and reach chat and AWS APIs through a NAT gateway or VPC endpoints."
  type        = bool
  default     = false
}

variable "egress_cidr_blocks" {
  description = "Destinations the bot may reach on HTTPS (443): chat platforms, AWS APIs, webhooks."
  type        = list(string)
  default     = ["0.0.0.0/0"]
}

variable "extra_egress" {
  description = "Further egress rules, for example to a Prometheus on 9090 inside the VPC."
  type = list(object({
    description = string
    port        = number
    cidr_blocks = list(string)
  }))
  default = []
}

variable "additional_security_group_ids" {
  description = "Security groups attached to the task in addition to the module's egress-only group, for example one that lets Prometheus scrape :9090 and Alertmanager reach the webhook."
  type        = list(string)
  default     = []
}

variable "enabled_actions" {
  description = "Remediation actions the bot may run. Each adds the minimal IAM permissions for it to the task role; actions not listed get none."
  type        = list(string)
  default     = []

  validation {
    condition = alltrue([for a in var.enabled_actions : contains([
      "aws.autoscaling.scale", "aws.ecs.scale", "aws.ecs.restart", "aws.ec2.reboot", "aws.ssm.run", "script", "webhook",
    ], a)])
    error_message = "enabled_actions may only contain aws.autoscaling.scale, aws.ecs.scale, aws.ecs.restart, aws.ec2.reboot, aws.ssm.run, script and webhook."
  }
}

variable "managed_tag_key" {
  description = "Tag key that marks AWS resources the bot may change. Write actions are allowed only on resources carrying this tag with managed_tag_value."
  type        = string
  default     = "smartcloudops-managed"
}

variable "managed_tag_value" {
  description = "Value of managed_tag_key on resources the bot may change."
  type        = string
  default     = "true"
}

variable "ssm_documents" {
  description = "SSM documents aws.ssm.run may send. AWS-owned documents are named as is; your own as their name in this account."
  type        = list(string)
  default     = ["AWS-RunShellScript"]
}

variable "chat_platforms" {
  description = "Chat platforms in use; each gets SecureString SSM parameters for its tokens, injected into the container as environment variables."
  type        = list(string)
  default     = ["slack"]

  validation {
    condition     = alltrue([for p in var.chat_platforms : contains(["slack", "discord"], p)])
    error_message = "chat_platforms may only contain slack and discord."
  }
}

variable "extra_secrets" {
  description = "Further secrets as SecureString SSM parameters: map of parameter name (under /smartcloudops/<name>/) to the environment variable it is injected as."
  type        = map(string)
  default     = {}
}

variable "kms_key_arn" {
  description = "Customer managed KMS key for SSM parameters, logs and EFS. Null uses the AWS managed keys."
  type        = string
  default     = null
}

variable "log_retention_days" {
  description = "Days CloudWatch keeps the bot's logs."
  type        = number
  default     = 30

  validation {
    condition     = contains([1, 3, 5, 7, 14, 30, 60, 90, 120, 150, 180, 365, 400, 545, 731, 1096, 1827, 2192, 2557, 2922, 3288, 3653], var.log_retention_days)
    error_message = "log_retention_days must be a value CloudWatch Logs accepts, such as 7, 30, 90 or 365."
  }
}

variable "container_insights" {
  description = "Enable CloudWatch Container Insights on the cluster."
  type        = bool
  default     = true
}

variable "tags" {
  description = "Tags for every resource, on top of the provider's default_tags."
  type        = map(string)
  default     = {}
}
