# The bot's data directory (the bbolt store: rules, proposals, incidents, model state and the
# audit log) lives on an encrypted EFS file system, so it survives task replacement.

resource "aws_efs_file_system" "data" {
  creation_token = "${var.name}-data"
  encrypted      = true
  kms_key_id     = var.kms_key_arn

  lifecycle_policy {
    transition_to_ia = "AFTER_30_DAYS"
  }

  tags = merge(var.tags, { Name = "${var.name}-data" })
}

resource "aws_efs_backup_policy" "data" {
  file_system_id = aws_efs_file_system.data.id

  backup_policy {
    status = "ENABLED"
  }
}

resource "aws_efs_mount_target" "data" {
  for_each = toset(var.subnet_ids)

  file_system_id  = aws_efs_file_system.data.id
  subnet_id       = each.value
  security_groups = [aws_security_group.efs.id]
}

resource "aws_efs_access_point" "data" {
  file_system_id = aws_efs_file_system.data.id

  posix_user {
    uid = var.container_uid
    gid = var.container_uid
  }

  root_directory {
    path = "/smartcloudops"

    creation_info {
      owner_uid   = var.container_uid
      owner_gid   = var.container_uid
      permissions = "0700"
    }
  }

  tags = var.tags
}
