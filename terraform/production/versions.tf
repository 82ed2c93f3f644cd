terraform {
  required_version = ">= 1.5.0"

  required_providers {
    aws = {
      source  = "hashicorp/aws"
      version = "~> 5.60"
    }
  }

  # State in S3 with locking in DynamoDB; both come from terraform/bootstrap. The values below
  # are defaults; point them at your account's bucket and table at init time with
  #   terraform init -backend-config=backend.hcl
  # where backend.hcl sets bucket, region and dynamodb_table (see backend.hcl.example).
  backend "s3" {
    key            = "smartcloudops/production/terraform.tfstate"
    bucket         = "smartcloudops-terraform-state"
    region         = "eu-west-1"
    dynamodb_table = "smartcloudops-terraform-locks"
    encrypt        = true
  }
}
