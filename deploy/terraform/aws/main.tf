# phiveil relay on AWS: the object store (S3), the key (KMS), the metadata database
# (RDS PostgreSQL) and the relay's role, each with only what the relay uses.
#
# The relay stores ESDK ciphertext only (encrypted in browsers); S3's own encryption is
# defence in depth. In brokered mode the relay calls KMS GenerateDataKey and Decrypt
# with each record's encryption context, which the key policy requires.

data "aws_caller_identity" "current" {}
data "aws_partition" "current" {}

locals {
  account_root = "arn:${data.aws_partition.current.partition}:iam::${data.aws_caller_identity.current.account_id}:root"
}

# --- the relay's role ---

data "aws_iam_policy_document" "relay_assume" {
  statement {
    actions = ["sts:AssumeRole"]
    principals {
      type        = "Service"
      identifiers = [var.relay_service_principal]
    }
  }
}

resource "aws_iam_role" "relay" {
  name               = "${var.name}-relay"
  assume_role_policy = data.aws_iam_policy_document.relay_assume.json
  tags               = var.tags
}

data "aws_iam_policy_document" "relay" {
  # Presigned PUTs and GETs are made with the role's credentials; HEAD (the size check
  # at completion) is GetObject's permission.
  statement {
    sid       = "RecordObjects"
    actions   = ["s3:PutObject", "s3:GetObject"]
    resources = ["${aws_s3_bucket.records.arn}/*"]
  }
  # Data keys bound to a record's context (patient, record type).
  statement {
    sid       = "DataKeys"
    actions   = ["kms:GenerateDataKey", "kms:Decrypt"]
    resources = [aws_kms_key.relay.arn]
    condition {
      test     = "ForAllValues:StringEquals"
      variable = "kms:EncryptionContextKeys"
      values   = ["patient", "record_type"]
    }
  }
  # The database password, which RDS keeps in Secrets Manager.
  statement {
    sid       = "DatabasePassword"
    actions   = ["secretsmanager:GetSecretValue"]
    resources = [aws_db_instance.metadata.master_user_secret[0].secret_arn]
  }
}

resource "aws_iam_role_policy" "relay" {
  name   = "${var.name}-relay"
  role   = aws_iam_role.relay.id
  policy = data.aws_iam_policy_document.relay.json
}

# --- the key ---

data "aws_iam_policy_document" "key" {
  # The account administers the key (without this statement a key can lock everyone out).
  statement {
    sid       = "AccountAdministers"
    actions   = ["kms:*"]
    resources = ["*"]
    principals {
      type        = "AWS"
      identifiers = [local.account_root]
    }
  }
  statement {
    sid       = "RelayUsesWithContext"
    actions   = ["kms:GenerateDataKey", "kms:Decrypt"]
    resources = ["*"]
    principals {
      type        = "AWS"
      identifiers = [aws_iam_role.relay.arn]
    }
    condition {
      test     = "Null"
      variable = "kms:EncryptionContext:patient"
      values   = ["false"]
    }
    condition {
      test     = "Null"
      variable = "kms:EncryptionContext:record_type"
      values   = ["false"]
    }
  }
}

resource "aws_kms_key" "relay" {
  description             = "${var.name}: data keys of phiveil records (brokered mode)"
  enable_key_rotation     = true
  rotation_period_in_days = 365
  deletion_window_in_days = 30
  policy                  = data.aws_iam_policy_document.key.json
  tags                    = var.tags
}

resource "aws_kms_alias" "relay" {
  name          = "alias/${var.name}-relay"
  target_key_id = aws_kms_key.relay.key_id
}

# --- the object store ---

resource "aws_s3_bucket" "records" {
  bucket_prefix = "${var.name}-records-"
  tags          = var.tags
}

resource "aws_s3_bucket_versioning" "records" {
  bucket = aws_s3_bucket.records.id
  versioning_configuration {
    status = "Enabled"
  }
}

resource "aws_s3_bucket_server_side_encryption_configuration" "records" {
  bucket = aws_s3_bucket.records.id
  rule {
    apply_server_side_encryption_by_default {
      sse_algorithm = "AES256"
    }
    bucket_key_enabled = true
  }
}

resource "aws_s3_bucket_public_access_block" "records" {
  bucket                  = aws_s3_bucket.records.id
  block_public_acls       = true
  block_public_policy     = true
  ignore_public_acls      = true
  restrict_public_buckets = true
}

resource "aws_s3_bucket_ownership_controls" "records" {
  bucket = aws_s3_bucket.records.id
  rule {
    object_ownership = "BucketOwnerEnforced"
  }
}

data "aws_iam_policy_document" "records" {
  statement {
    sid       = "TlsOnly"
    effect    = "Deny"
    actions   = ["s3:*"]
    resources = [aws_s3_bucket.records.arn, "${aws_s3_bucket.records.arn}/*"]
    principals {
      type        = "*"
      identifiers = ["*"]
    }
    condition {
      test     = "Bool"
      variable = "aws:SecureTransport"
      values   = ["false"]
    }
  }
}

resource "aws_s3_bucket_policy" "records" {
  bucket     = aws_s3_bucket.records.id
  policy     = data.aws_iam_policy_document.records.json
  depends_on = [aws_s3_bucket_public_access_block.records]
}

resource "aws_s3_bucket_cors_configuration" "records" {
  bucket = aws_s3_bucket.records.id
  cors_rule {
    allowed_origins = [var.web_origin]
    allowed_methods = ["PUT", "GET"]
    allowed_headers = ["content-type", "content-length"]
    max_age_seconds = 600
  }
}

resource "aws_s3_bucket_lifecycle_configuration" "records" {
  bucket     = aws_s3_bucket.records.id
  depends_on = [aws_s3_bucket_versioning.records]
  rule {
    id     = "previous-versions"
    status = "Enabled"
    filter {}
    noncurrent_version_expiration {
      noncurrent_days = var.noncurrent_version_days
    }
    abort_incomplete_multipart_upload {
      days_after_initiation = 1
    }
  }
}

# --- the metadata database ---

resource "aws_db_subnet_group" "metadata" {
  name       = "${var.name}-metadata"
  subnet_ids = var.db_subnet_ids
  tags       = var.tags
}

resource "aws_security_group" "metadata" {
  name        = "${var.name}-metadata"
  description = "PostgreSQL for the phiveil relay: reachable from the relay only"
  vpc_id      = var.vpc_id
  tags        = var.tags
}

resource "aws_vpc_security_group_ingress_rule" "metadata_from_relay" {
  security_group_id            = aws_security_group.metadata.id
  referenced_security_group_id = var.relay_security_group_id
  ip_protocol                  = "tcp"
  from_port                    = 5432
  to_port                      = 5432
  description                  = "PostgreSQL from the relay"
}

resource "aws_db_parameter_group" "metadata" {
  name   = "${var.name}-metadata"
  family = "postgres16"
  parameter {
    name  = "rds.force_ssl"
    value = "1"
  }
  tags = var.tags
}

resource "aws_db_instance" "metadata" {
  identifier                          = "${var.name}-metadata"
  engine                              = "postgres"
  engine_version                      = "16"
  instance_class                      = var.db_instance_class
  allocated_storage                   = var.db_allocated_storage_gb
  storage_type                        = "gp3"
  storage_encrypted                   = true
  db_name                             = "phiveil"
  username                            = "phiveil"
  manage_master_user_password         = true
  db_subnet_group_name                = aws_db_subnet_group.metadata.name
  vpc_security_group_ids              = [aws_security_group.metadata.id]
  parameter_group_name                = aws_db_parameter_group.metadata.name
  publicly_accessible                 = false
  multi_az                            = var.db_multi_az
  backup_retention_period             = 14
  deletion_protection                 = true
  skip_final_snapshot                 = false
  final_snapshot_identifier           = "${var.name}-metadata-final"
  auto_minor_version_upgrade          = true
  copy_tags_to_snapshot               = true
  iam_database_authentication_enabled = false
  tags                                = var.tags
}
