# Chat tokens and other secrets are SecureString parameters under /smartcloudops/<name>/. Terraform
# creates them with a placeholder and never reads or overwrites the value afterwards, so secrets
# stay out of variables and state: set them with `aws ssm put-parameter --overwrite`. ECS injects
# them into the container as environment variables, which the configuration references as
# env:NAME.

locals {
  platform_secrets = {
    slack = {
      slack_bot_token = "SLACK_BOT_TOKEN"
      slack_app_token = "SLACK_APP_TOKEN"
    }
    discord = {
      discord_bot_token = "DISCORD_BOT_TOKEN"
    }
  }

  # Parameter name (under /smartcloudops/<name>/) => environment variable.
  secrets = merge(
    merge([for p in var.chat_platforms : local.platform_secrets[p]]...),
    var.extra_secrets,
  )

  parameter_prefix = "/smartcloudops/${var.name}"
}

resource "aws_ssm_parameter" "secret" {
  for_each = local.secrets

  name        = "${local.parameter_prefix}/${each.key}"
  description = "smartcloudops ${var.name}: ${each.value}"
  type        = "SecureString"
  key_id      = var.kms_key_arn
  value       = "unset"
  tags        = var.tags

  lifecycle {
    ignore_changes = [value]
  }
}
