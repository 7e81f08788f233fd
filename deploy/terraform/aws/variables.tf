variable "name" {
  description = "Prefix of every resource's name (bucket, key alias, database, role)."
  type        = string
  default     = "phiveil"
}

variable "web_origin" {
  description = "The web app's origin (https://…): the only origin the bucket's CORS rule lets PUT and GET presigned objects."
  type        = string
}

variable "vpc_id" {
  description = "The VPC of the relay and its database."
  type        = string
}

variable "db_subnet_ids" {
  description = "Private subnets for the PostgreSQL instance (at least two availability zones)."
  type        = list(string)
}

variable "relay_security_group_id" {
  description = "The relay's security group: the only source the database accepts connections from."
  type        = string
}

variable "relay_service_principal" {
  description = "The AWS service that runs the relay and assumes its role (ecs-tasks.amazonaws.com, ec2.amazonaws.com)."
  type        = string
  default     = "ecs-tasks.amazonaws.com"
}

variable "db_instance_class" {
  description = "RDS instance class."
  type        = string
  default     = "db.t4g.medium"
}

variable "db_allocated_storage_gb" {
  description = "RDS storage in GiB."
  type        = number
  default     = 50
}

variable "db_multi_az" {
  description = "A standby in a second availability zone."
  type        = bool
  default     = true
}

variable "noncurrent_version_days" {
  description = "Days an overwritten or deleted object's previous version is kept."
  type        = number
  default     = 90
}

variable "tags" {
  description = "Tags on every resource."
  type        = map(string)
  default     = {}
}
