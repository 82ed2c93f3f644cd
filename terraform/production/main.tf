provider "aws" {
  region = var.region

  # Every resource the provider creates gets these tags, including those in modules.
  default_tags {
    tags = merge(var.tags, {
      Project     = "smartcloudops"
      Environment = var.environment
      ManagedBy   = "terraform"
    })
  }
}

module "bot" {
  source = "../modules/bot"

  name                 = var.name
  image                = var.image
  image_repository_arn = var.image_repository_arn
  config_path          = var.config_path
  cpu                  = var.cpu
  memory               = var.memory
  cpu_architecture     = var.cpu_architecture

  vpc_id                        = var.vpc_id
  subnet_ids                    = var.subnet_ids
  egress_cidr_blocks            = var.egress_cidr_blocks
  extra_egress                  = var.extra_egress
  additional_security_group_ids = var.additional_security_group_ids

  enabled_actions   = var.enabled_actions
  managed_tag_key   = var.managed_tag_key
  managed_tag_value = var.managed_tag_value
  ssm_documents     = var.ssm_documents

  chat_platforms     = var.chat_platforms
  extra_secrets      = var.extra_secrets
  kms_key_arn        = var.kms_key_arn
  log_retention_days = var.log_retention_days

  tags = { Component = "smartcloudops-bot" }
}
