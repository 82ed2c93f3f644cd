variable "region" {
  description = "AWS region to deploy to."
  type        = string
}

variable "environment" {
  description = "Environment name, used in the default tags."
  type        = string
  default     = "production"
}

variable "name" {
  description = "Name of the deployment; prefixes resources and the SSM path /smartcloudops/<name>/."
  type        = string
  default     = "smartcloudops"
}

variable "image" {
  description = "Bot image with configuration and rules baked in, pinned to a tag or digest."
  type        = string
}

variable "image_repository_arn" {
  description = "ECR repository of the image; null for a public registry."
  type        = string
  default     = null
}

variable "config_path" {
  description = "Path of the configuration file inside the image."
  type        = string
  default     = "/etc/smartcloudops/config.yml"
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
  description = "X86_64 or ARM64; must match the image."
  type        = string
  default     = "X86_64"
}

variable "vpc_id" {
  description = "VPC for the bot."
  type        = string
}

variable "subnet_ids" {
  description = "Private subnets for the task and its EFS mount targets."
  type        = list(string)
}

variable "egress_cidr_blocks" {
  description = "Destinations the bot may reach on 443."
  type        = list(string)
  default     = ["0.0.0.0/0"]
}

variable "extra_egress" {
  description = "Further egress rules, such as Prometheus on 9090 inside the VPC."
  type = list(object({
    description = string
    port        = number
    cidr_blocks = list(string)
  }))
  default = []
}

variable "additional_security_group_ids" {
  description = "Extra security groups for the task, for example one admitting Prometheus and Alertmanager on 9090."
  type        = list(string)
  default     = []
}

variable "enabled_actions" {
  description = "Remediation actions the bot may run; each adds only the IAM permissions it needs."
  type        = list(string)
  default     = []
}

variable "managed_tag_key" {
  description = "Tag key marking AWS resources the bot may change."
  type        = string
  default     = "smartcloudops-managed"
}

variable "managed_tag_value" {
  description = "Value of managed_tag_key on resources the bot may change."
  type        = string
  default     = "true"
}

variable "ssm_documents" {
  description = "SSM documents aws.ssm.run may send."
  type        = list(string)
  default     = ["AWS-RunShellScript"]
}

variable "chat_platforms" {
  description = "Chat platforms in use: slack, discord."
  type        = list(string)
  default     = ["slack"]
}

variable "extra_secrets" {
  description = "Further SecureString parameters: name under /smartcloudops/<name>/ => environment variable."
  type        = map(string)
  default     = {}
}

variable "kms_key_arn" {
  description = "Customer managed KMS key for parameters, logs and EFS; null for AWS managed keys."
  type        = string
  default     = null
}

variable "log_retention_days" {
  description = "Days CloudWatch keeps the bot's logs."
  type        = number
  default     = 90
}

variable "tags" {
  description = "Extra default tags for every resource (Project, Environment and ManagedBy are always set)."
  type        = map(string)
  default     = {}
}
