output "bucket" {
  description = "The records bucket: the relay's --s3-bucket."
  value       = aws_s3_bucket.records.bucket
}

output "kms_key_arn" {
  description = "The key: the relay's --kms-key-id (brokered mode)."
  value       = aws_kms_key.relay.arn
}

output "relay_role_arn" {
  description = "The role the relay runs as."
  value       = aws_iam_role.relay.arn
}

output "database_endpoint" {
  description = "host:port of the PostgreSQL instance, for the relay's --database-url (user phiveil, database phiveil, sslmode=require)."
  value       = aws_db_instance.metadata.endpoint
}

output "database_password_secret_arn" {
  description = "The Secrets Manager secret holding the database password."
  value       = aws_db_instance.metadata.master_user_secret[0].secret_arn
}
