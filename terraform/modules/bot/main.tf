# The smartcloudops bot on ECS Fargate: one task (the bbolt store has a single writer), state on
# EFS, logs in CloudWatch, secrets from SSM Parameter Store, and a task role that allows exactly
# the remediation actions in var.enabled_actions.

data "aws_partition" "current" {}
data "aws_region" "current" {}
data "aws_caller_identity" "current" {}

locals {
  partition  = data.aws_partition.current.partition
  region     = data.aws_region.current.name
  account_id = data.aws_caller_identity.current.account_id

  container_name = "smartcloudops"
  listen_port    = 9090
  data_dir       = "/data"
}

resource "aws_ecs_cluster" "this" {
  name = var.name

  setting {
    name  = "containerInsights"
    value = var.container_insights ? "enabled" : "disabled"
  }

  tags = var.tags
}

resource "aws_cloudwatch_log_group" "this" {
  name              = "/smartcloudops/${var.name}"
  retention_in_days = var.log_retention_days
  kms_key_id        = var.kms_key_arn
  tags              = var.tags
}

resource "aws_ecs_task_definition" "this" {
  family                   = var.name
  requires_compatibilities = ["FARGATE"]
  network_mode             = "awsvpc"
  cpu                      = var.cpu
  memory                   = var.memory
  execution_role_arn       = aws_iam_role.execution.arn
  task_role_arn            = aws_iam_role.task.arn

  runtime_platform {
    operating_system_family = "LINUX"
    cpu_architecture        = var.cpu_architecture
  }

  volume {
    name = "data"

    efs_volume_configuration {
      file_system_id     = aws_efs_file_system.data.id
      transit_encryption = "ENABLED"

      authorization_config {
        access_point_id = aws_efs_access_point.data.id
        iam             = "ENABLED"
      }
    }
  }

  container_definitions = jsonencode([
    {
      name      = local.container_name
      image     = var.image
      essential = true
      command   = ["serve", "--config", var.config_path]
      user      = "${var.container_uid}:${var.container_uid}"

      readonlyRootFilesystem = true
      stopTimeout            = 30
      linuxParameters        = { initProcessEnabled = true }

      portMappings = [{ containerPort = local.listen_port, protocol = "tcp" }]

      environment = [for k in sort(keys(var.environment)) : { name = k, value = var.environment[k] }]
      secrets = [for p in sort(keys(local.secrets)) : {
        name      = local.secrets[p]
        valueFrom = aws_ssm_parameter.secret[p].arn
      }]

      mountPoints = [{ sourceVolume = "data", containerPath = local.data_dir, readOnly = false }]

      logConfiguration = {
        logDriver = "awslogs"
        options = {
          awslogs-group         = aws_cloudwatch_log_group.this.name
          awslogs-region        = local.region
          awslogs-stream-prefix = "bot"
        }
      }
    }
  ])

  tags = var.tags
}

resource "aws_ecs_service" "this" {
  name            = var.name
  cluster         = aws_ecs_cluster.this.id
  task_definition = aws_ecs_task_definition.this.arn
  launch_type     = "FARGATE"
  desired_count   = 1

  # One writer at a time: the old task stops before the new one starts, so two tasks never hold
  # the bbolt file or run the executor together.
  deployment_minimum_healthy_percent = 0
  deployment_maximum_percent         = 100

  deployment_circuit_breaker {
    enable   = true
    rollback = true
  }

  network_configuration {
    subnets          = var.subnet_ids
    security_groups  = concat([aws_security_group.bot.id], var.additional_security_group_ids)
    assign_public_ip = var.assign_public_ip
  }

  enable_execute_command = false
  propagate_tags         = "SERVICE"
  tags                   = var.tags

  depends_on = [aws_efs_mount_target.data]
}
