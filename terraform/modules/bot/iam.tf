# Two roles. The execution role lets ECS pull the image, write logs and inject the secrets. The
# task role is what the bot itself uses: it can mount its EFS access point, read its own SSM
# parameters (for ssm: references in the configuration), and run the remediation actions listed
# in var.enabled_actions, each mapped to the fewest IAM actions it needs.
#
# Rules the statements follow: no wildcard actions; write actions are scoped by ARN and by the
# managed tag (var.managed_tag_key = var.managed_tag_value), so the bot can only change resources
# that carry it; Resource "*" appears only for calls that AWS cannot scope to a resource, and then
# only in this region: read-only ones (Describe*, GetCommandInvocation, ListCommands,
# GetAuthorizationToken) and ssm:CancelCommand, which can only stop a command.

locals {
  managed_tag_condition = {
    test     = "StringEquals"
    variable = "aws:ResourceTag/${var.managed_tag_key}"
    values   = [var.managed_tag_value]
  }
  region_condition = {
    test     = "StringEquals"
    variable = "aws:RequestedRegion"
    values   = [local.region]
  }

  arn_prefix = "arn:${local.partition}"

  # Remediation action => IAM statements. script and webhook run inside the container or call out
  # over HTTPS and need no AWS permissions.
  action_statements = {
    "aws.autoscaling.scale" = [
      {
        sid        = "AutoscalingRead"
        actions    = ["autoscaling:DescribeAutoScalingGroups"]
        resources  = ["*"]
        conditions = [local.region_condition]
      },
      {
        sid        = "AutoscalingSetDesiredCapacity"
        actions    = ["autoscaling:SetDesiredCapacity"]
        resources  = ["${local.arn_prefix}:autoscaling:${local.region}:${local.account_id}:autoScalingGroup:*:autoScalingGroupName/*"]
        conditions = [local.managed_tag_condition]
      },
    ]
    "aws.ecs.scale" = [
      {
        sid        = "EcsScaleRead"
        actions    = ["ecs:DescribeServices"]
        resources  = ["${local.arn_prefix}:ecs:${local.region}:${local.account_id}:service/*/*"]
        conditions = []
      },
      {
        sid        = "EcsScaleUpdateService"
        actions    = ["ecs:UpdateService"]
        resources  = ["${local.arn_prefix}:ecs:${local.region}:${local.account_id}:service/*/*"]
        conditions = [local.managed_tag_condition]
      },
    ]
    "aws.ecs.restart" = [
      {
        sid        = "EcsRestartRead"
        actions    = ["ecs:DescribeServices"]
        resources  = ["${local.arn_prefix}:ecs:${local.region}:${local.account_id}:service/*/*"]
        conditions = []
      },
      {
        sid        = "EcsRestartUpdateService"
        actions    = ["ecs:UpdateService"]
        resources  = ["${local.arn_prefix}:ecs:${local.region}:${local.account_id}:service/*/*"]
        conditions = [local.managed_tag_condition]
      },
    ]
    "aws.ec2.reboot" = [
      {
        sid        = "Ec2RebootInstances"
        actions    = ["ec2:RebootInstances"]
        resources  = ["${local.arn_prefix}:ec2:${local.region}:${local.account_id}:instance/*"]
        conditions = [local.managed_tag_condition]
      },
    ]
    "aws.ssm.run" = [
      {
        sid        = "SsmSendCommandInstances"
        actions    = ["ssm:SendCommand"]
        resources  = ["${local.arn_prefix}:ec2:${local.region}:${local.account_id}:instance/*"]
        conditions = [local.managed_tag_condition]
      },
      {
        sid     = "SsmSendCommandDocuments"
        actions = ["ssm:SendCommand"]
        # AWS-owned documents have no account in their ARN.
        resources = [for d in var.ssm_documents : startswith(d, "AWS-")
          ? "${local.arn_prefix}:ssm:${local.region}::document/${d}"
          : "${local.arn_prefix}:ssm:${local.region}:${local.account_id}:document/${d}"
        ]
        conditions = []
      },
      {
        # GetCommandInvocation follows a command; ListCommands finds one the bot sent, by the
        # proposal ID in its comment, when SendCommand got no clear answer.
        sid        = "SsmReadCommands"
        actions    = ["ssm:GetCommandInvocation", "ssm:ListCommands"]
        resources  = ["*"]
        conditions = [local.region_condition]
      },
      {
        # Stops a command that outlived its timeout. AWS defines no resource type and no
        # condition key for ssm:CancelCommand, so it cannot be scoped to the tagged instances
        # like SendCommand; it is held to this region. It can only stop commands, never start one.
        sid        = "SsmCancelCommand"
        actions    = ["ssm:CancelCommand"]
        resources  = ["*"]
        conditions = [local.region_condition]
      },
    ]
    "script"  = []
    "webhook" = []
  }

  # Two ECS actions share statements; distinct sids keep the document valid.
  remediation_statements = flatten([for a in distinct(var.enabled_actions) : local.action_statements[a]])

  base_task_statements = [
    {
      sid        = "EfsMount"
      actions    = ["elasticfilesystem:ClientMount", "elasticfilesystem:ClientWrite"]
      resources  = [aws_efs_file_system.data.arn]
      conditions = [{ test = "StringEquals", variable = "elasticfilesystem:AccessPointArn", values = [aws_efs_access_point.data.arn] }]
    },
    {
      sid        = "ReadOwnParameters"
      actions    = ["ssm:GetParameter", "ssm:GetParameters"]
      resources  = ["${local.arn_prefix}:ssm:${local.region}:${local.account_id}:parameter${local.parameter_prefix}/*"]
      conditions = []
    },
  ]

  kms_statements = var.kms_key_arn == null ? [] : [
    {
      sid        = "DecryptWithDeploymentKey"
      actions    = ["kms:Decrypt"]
      resources  = [var.kms_key_arn]
      conditions = [{ test = "StringEquals", variable = "kms:ViaService", values = ["ssm.${local.region}.amazonaws.com"] }]
    },
  ]

  task_statements = concat(local.base_task_statements, local.kms_statements, local.remediation_statements)

  execution_statements = concat(
    [
      {
        sid        = "WriteLogs"
        actions    = ["logs:CreateLogStream", "logs:PutLogEvents"]
        resources  = ["${aws_cloudwatch_log_group.this.arn}:*"]
        conditions = []
      },
    ],
    length(local.secrets) == 0 ? [] : [
      {
        sid        = "InjectSecrets"
        actions    = ["ssm:GetParameters"]
        resources  = [for p in aws_ssm_parameter.secret : p.arn]
        conditions = []
      },
    ],
    var.image_repository_arn == null ? [] : [
      {
        sid        = "EcrToken"
        actions    = ["ecr:GetAuthorizationToken"]
        resources  = ["*"]
        conditions = [local.region_condition]
      },
      {
        sid        = "EcrPull"
        actions    = ["ecr:BatchCheckLayerAvailability", "ecr:BatchGetImage", "ecr:GetDownloadUrlForLayer"]
        resources  = [var.image_repository_arn]
        conditions = []
      },
    ],
    local.kms_statements,
  )
}

data "aws_iam_policy_document" "assume_ecs_tasks" {
  statement {
    sid     = "EcsTasksAssumeRole"
    actions = ["sts:AssumeRole"]

    principals {
      type        = "Service"
      identifiers = ["ecs-tasks.amazonaws.com"]
    }

    condition {
      test     = "StringEquals"
      variable = "aws:SourceAccount"
      values   = [local.account_id]
    }

    condition {
      test     = "ArnLike"
      variable = "aws:SourceArn"
      values   = ["${local.arn_prefix}:ecs:${local.region}:${local.account_id}:*"]
    }
  }
}

data "aws_iam_policy_document" "task" {
  dynamic "statement" {
    for_each = local.task_statements
    iterator = s

    content {
      sid       = s.value.sid
      effect    = "Allow"
      actions   = s.value.actions
      resources = s.value.resources

      dynamic "condition" {
        for_each = s.value.conditions
        iterator = c

        content {
          test     = c.value.test
          variable = c.value.variable
          values   = c.value.values
        }
      }
    }
  }
}

data "aws_iam_policy_document" "execution" {
  dynamic "statement" {
    for_each = local.execution_statements
    iterator = s

    content {
      sid       = s.value.sid
      effect    = "Allow"
      actions   = s.value.actions
      resources = s.value.resources

      dynamic "condition" {
        for_each = s.value.conditions
        iterator = c

        content {
          test     = c.value.test
          variable = c.value.variable
          values   = c.value.values
        }
      }
    }
  }
}

resource "aws_iam_role" "task" {
  name                 = "${var.name}-task"
  description          = "smartcloudops ${var.name}: the bot's own permissions"
  assume_role_policy   = data.aws_iam_policy_document.assume_ecs_tasks.json
  max_session_duration = 3600
  tags                 = var.tags
}

resource "aws_iam_role_policy" "task" {
  name   = "smartcloudops"
  role   = aws_iam_role.task.id
  policy = data.aws_iam_policy_document.task.json
}

resource "aws_iam_role" "execution" {
  name               = "${var.name}-execution"
  description        = "smartcloudops ${var.name}: ECS pulls the image, writes logs and injects secrets"
  assume_role_policy = data.aws_iam_policy_document.assume_ecs_tasks.json
  tags               = var.tags
}

resource "aws_iam_role_policy" "execution" {
  name   = "ecs-execution"
  role   = aws_iam_role.execution.id
  policy = data.aws_iam_policy_document.execution.json
}
