# Creates the Terraform state bucket and lock table for one account. Run it once, with local
# state, before terraform/production:
#   terraform init && terraform apply -var state_bucket_name=<org>-smartcloudops-terraform-state
# then keep the local terraform.tfstate it writes somewhere safe (or migrate it into the new
# bucket with a backend block and `terraform init -migrate-state`).

terraform {
  required_version = ">= 1.5.0"

  required_providers {
    aws = {
      source  = "hashicorp/aws"
      version = "~> 5.60"
    }
  }
}

variable "region" {
  description = "AWS region for the state bucket and lock table."
  type        = string
  default     = "eu-west-1"
}

variable "state_bucket_name" {
  description = "Globally unique name for the state bucket."
  type        = string
}

variable "lock_table_name" {
  description = "Name of the DynamoDB lock table."
  type        = string
  default     = "smartcloudops-terraform-locks"
}

provider "aws" {
  region = var.region

  default_tags {
    tags = {
      Project   = "smartcloudops"
      Component = "terraform-state"
      ManagedBy = "terraform"
    }
  }
}

module "state" {
  source = "../modules/bootstrap"

  state_bucket_name = var.state_bucket_name
  lock_table_name   = var.lock_table_name
}

output "backend_config" {
  description = "Contents for terraform/production/backend.hcl."
  value       = <<-EOT
    bucket         = "${module.state.state_bucket_name}"
    region         = "${var.region}"
    dynamodb_table = "${module.state.lock_table_name}"
  EOT
}
