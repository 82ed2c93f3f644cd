output "cluster_arn" {
  description = "ARN of the ECS cluster."
  value       = aws_ecs_cluster.this.arn
}

output "service_name" {
  description = "Name of the ECS service running the bot."
  value       = aws_ecs_service.this.name
}

output "task_definition_arn" {
  description = "ARN of the current task definition revision."
  value       = aws_ecs_task_definition.this.arn
}

output "task_role_arn" {
  description = "ARN of the role the bot runs as; its policy follows enabled_actions."
  value       = aws_iam_role.task.arn
}

output "execution_role_arn" {
  description = "ARN of the ECS task execution role."
  value       = aws_iam_role.execution.arn
}

output "security_group_id" {
  description = "ID of the bot's egress-only security group."
  value       = aws_security_group.bot.id
}

output "log_group_name" {
  description = "CloudWatch log group with the bot's logs."
  value       = aws_cloudwatch_log_group.this.name
}

output "data_file_system_id" {
  description = "EFS file system holding the bot's data directory."
  value       = aws_efs_file_system.data.id
}

output "secret_parameter_names" {
  description = "SSM parameters to fill with `aws ssm put-parameter --overwrite --type SecureString`, mapped to the environment variable each becomes."
  value       = { for k, p in aws_ssm_parameter.secret : p.name => local.secrets[k] }
}

output "task_policy_json" {
  description = "The task role's policy document, for review."
  value       = data.aws_iam_policy_document.task.json
}
