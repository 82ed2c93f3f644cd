output "cluster_arn" {
  description = "ARN of the ECS cluster."
  value       = module.bot.cluster_arn
}

output "service_name" {
  description = "Name of the ECS service."
  value       = module.bot.service_name
}

output "task_role_arn" {
  description = "Role the bot runs as."
  value       = module.bot.task_role_arn
}

output "security_group_id" {
  description = "The bot's egress-only security group."
  value       = module.bot.security_group_id
}

output "log_group_name" {
  description = "CloudWatch log group with the bot's logs."
  value       = module.bot.log_group_name
}

output "secret_parameter_names" {
  description = "SSM parameters to fill with the chat tokens before the first start."
  value       = module.bot.secret_parameter_names
}

output "task_policy_json" {
  description = "The task role's policy, for review."
  value       = module.bot.task_policy_json
}
