# The bot only makes outbound connections (chat platforms, AWS APIs, the metric source, webhooks),
# so its own security group has egress rules and no ingress at all. To let Prometheus scrape it
# or Alertmanager call its webhook, attach a group of your own through
# var.additional_security_group_ids.

resource "aws_security_group" "bot" {
  name        = "${var.name}-bot"
  description = "smartcloudops ${var.name}: egress only"
  vpc_id      = var.vpc_id
  tags        = merge(var.tags, { Name = "${var.name}-bot" })

  lifecycle {
    create_before_destroy = true
  }
}

resource "aws_vpc_security_group_egress_rule" "https" {
  for_each = toset(var.egress_cidr_blocks)

  security_group_id = aws_security_group.bot.id
  description       = "HTTPS to chat platforms, AWS APIs and webhooks"
  ip_protocol       = "tcp"
  from_port         = 443
  to_port           = 443
  cidr_ipv4         = each.value
  tags              = var.tags
}

resource "aws_vpc_security_group_egress_rule" "efs" {
  security_group_id            = aws_security_group.bot.id
  description                  = "NFS to the data file system"
  ip_protocol                  = "tcp"
  from_port                    = 2049
  to_port                      = 2049
  referenced_security_group_id = aws_security_group.efs.id
  tags                         = var.tags
}

resource "aws_vpc_security_group_egress_rule" "extra" {
  for_each = {
    for pair in flatten([
      for r in var.extra_egress : [for c in r.cidr_blocks : { key = "${r.port}-${c}", rule = r, cidr = c }]
    ]) : pair.key => pair
  }

  security_group_id = aws_security_group.bot.id
  description       = each.value.rule.description
  ip_protocol       = "tcp"
  from_port         = each.value.rule.port
  to_port           = each.value.rule.port
  cidr_ipv4         = each.value.cidr
  tags              = var.tags
}

# The data file system accepts NFS only from the bot.
resource "aws_security_group" "efs" {
  name        = "${var.name}-efs"
  description = "smartcloudops ${var.name}: NFS from the bot"
  vpc_id      = var.vpc_id
  tags        = merge(var.tags, { Name = "${var.name}-efs" })

  lifecycle {
    create_before_destroy = true
  }
}

resource "aws_vpc_security_group_ingress_rule" "efs_from_bot" {
  security_group_id            = aws_security_group.efs.id
  description                  = "NFS from the smartcloudops task"
  ip_protocol                  = "tcp"
  from_port                    = 2049
  to_port                      = 2049
  referenced_security_group_id = aws_security_group.bot.id
  tags                         = var.tags
}
