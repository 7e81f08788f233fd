"""Checks the relay's Terraform module (deploy/terraform/aws) for what it promises.

`terraform validate` needs the AWS provider from the Terraform registry, which this
machine's network does not reach; `terraform fmt -check` runs in scripts/check-deploy.sh.
This script parses the module with python-hcl2 (pinned in scripts/env.sh) and checks:

- every `var.X` is declared, every `aws_*.name` / `data.aws_*.name` reference resolves;
- the bucket: versioning enabled, default encryption, every public-access block on,
  bucket-owner-enforced ownership, TLS-only policy, CORS limited to the web origin;
- the key: rotation on, a deletion window, the relay allowed only GenerateDataKey and
  Decrypt with the record context present;
- the database: encrypted, not public, deletion-protected, backups kept, password managed
  by RDS (never in the state), TLS forced, reachable from the relay's group only;
- the relay's role: exactly the actions the relay calls, no wildcard action or resource.

Exits non-zero with every failure listed.
"""

import re
import sys
from pathlib import Path

import hcl2

MODULE = Path(sys.argv[1] if len(sys.argv) > 1 else "deploy/terraform/aws")
RELAY_ACTIONS = {
    "s3:PutObject",
    "s3:GetObject",
    "kms:GenerateDataKey",
    "kms:Decrypt",
    "secretsmanager:GetSecretValue",
}

failures = []


def check(ok, what):
    if not ok:
        failures.append(what)


files = sorted(MODULE.glob("*.tf"))
check(files, f"no .tf files in {MODULE}")
text = "\n".join(f.read_text() for f in files)
parsed = [hcl2.loads(f.read_text()) for f in files]

resources, data, variables = {}, {}, set()
for p in parsed:
    for block in p.get("resource", []):
        for rtype, named in block.items():
            for name, body in named.items():
                resources[(rtype, name)] = body
    for block in p.get("data", []):
        for dtype, named in block.items():
            for name, body in named.items():
                data[(dtype, name)] = body
    for block in p.get("variable", []):
        variables.update(block.keys())

# References resolve.
for v in set(re.findall(r"\bvar\.([a-z_0-9]+)", text)):
    check(v in variables, f"var.{v} is not declared")
for rtype, name in set(re.findall(r"(?<![.\w])(aws_[a-z0-9_]+)\.([a-z0-9_]+)\b", text)):
    if rtype in ("aws_caller_identity", "aws_partition", "aws_iam_policy_document"):
        continue
    check((rtype, name) in resources, f"{rtype}.{name} is referenced but not declared")
for dtype, name in set(re.findall(r"\bdata\.(aws_[a-z0-9_]+)\.([a-z0-9_]+)\b", text)):
    check((dtype, name) in data, f"data.{dtype}.{name} is referenced but not declared")


def one(rtype):
    found = [b for (t, _), b in resources.items() if t == rtype]
    check(len(found) == 1, f"expected one {rtype}, found {len(found)}")
    return found[0] if found else {}


def first(v):
    return v[0] if isinstance(v, list) and v else v


# The bucket.
versioning = first(one("aws_s3_bucket_versioning").get("versioning_configuration"))
check(versioning and versioning.get("status") == "Enabled", "bucket versioning is not Enabled")
sse = first(one("aws_s3_bucket_server_side_encryption_configuration").get("rule"))
default = first(sse.get("apply_server_side_encryption_by_default")) if sse else None
check(default and default.get("sse_algorithm") in ("AES256", "aws:kms", "aws:kms:dsse"),
      "bucket has no default encryption")
pab = one("aws_s3_bucket_public_access_block")
for k in ("block_public_acls", "block_public_policy", "ignore_public_acls", "restrict_public_buckets"):
    check(pab.get(k) is True, f"public access block: {k} is not true")
own = first(one("aws_s3_bucket_ownership_controls").get("rule"))
check(own and own.get("object_ownership") == "BucketOwnerEnforced", "ACLs are not disabled")
cors = first(one("aws_s3_bucket_cors_configuration").get("cors_rule"))
check(cors and cors.get("allowed_origins") == ["${var.web_origin}"], "CORS allows more than the web origin")
check(cors and set(cors.get("allowed_methods", [])) == {"PUT", "GET"}, "CORS allows more than PUT and GET")
bucket_policy = data.get(("aws_iam_policy_document", "records"), {})
tls = [s for s in bucket_policy.get("statement", []) if s.get("effect") == "Deny"
       and any(c.get("variable") == "aws:SecureTransport" for c in s.get("condition", []))]
check(tls, "the bucket policy does not deny requests without TLS")

# The key.
key = one("aws_kms_key")
check(key.get("enable_key_rotation") is True, "KMS key rotation is off")
check(7 <= int(key.get("deletion_window_in_days", 0)) <= 30, "KMS deletion window outside 7-30 days")
key_policy = data.get(("aws_iam_policy_document", "key"), {})
for s in key_policy.get("statement", []):
    principals = [i for p in s.get("principals", []) for i in p.get("identifiers", [])]
    if "kms:*" in s.get("actions", []):
        check(principals == ["${local.account_root}"], "kms:* granted to someone other than the account root")
    else:
        check(set(s.get("actions", [])) <= {"kms:GenerateDataKey", "kms:Decrypt"},
              f"the key policy grants {s.get('actions')} to {principals}")
        conds = {c.get("variable") for c in s.get("condition", [])}
        check({"kms:EncryptionContext:patient", "kms:EncryptionContext:record_type"} <= conds,
              "the relay may use the key without a record's encryption context")

# The database.
db = one("aws_db_instance")
check(db.get("storage_encrypted") is True, "database storage is not encrypted")
check(db.get("publicly_accessible") is False, "the database is publicly accessible")
check(db.get("deletion_protection") is True, "the database has no deletion protection")
check(int(db.get("backup_retention_period", 0)) >= 7, "database backups kept under 7 days")
check(db.get("manage_master_user_password") is True and "password" not in db,
      "the database password is not managed by RDS (it would sit in the Terraform state)")
params = one("aws_db_parameter_group").get("parameter", [])
check(any(p.get("name") == "rds.force_ssl" and str(p.get("value")) == "1" for p in params),
      "the database does not force TLS")
ingress = [b for (t, _), b in resources.items() if t == "aws_vpc_security_group_ingress_rule"]
check(ingress and all("cidr_ipv4" not in r and "cidr_ipv6" not in r
                      and r.get("referenced_security_group_id") == "${var.relay_security_group_id}"
                      for r in ingress),
      "the database accepts connections from more than the relay's security group")

# The relay's role: least privilege.
relay_policy = data.get(("aws_iam_policy_document", "relay"), {})
actions = set()
for s in relay_policy.get("statement", []):
    check(s.get("effect", "Allow") == "Allow", "unexpected Deny in the relay's policy")
    for a in s.get("actions", []):
        check("*" not in a, f"wildcard action {a} in the relay's policy")
        actions.add(a)
    for r in s.get("resources", []):
        check(r != "*" and not r.endswith(":*"), f"wildcard resource {r} in the relay's policy")
check(actions == RELAY_ACTIONS, f"the relay's actions {sorted(actions)} are not exactly {sorted(RELAY_ACTIONS)}")

if failures:
    print("terraform module check failed:")
    for f in failures:
        print(f"  - {f}")
    sys.exit(1)
print(f"terraform module {MODULE}: {len(resources)} resources, {len(data)} data sources, "
      f"{len(variables)} variables; every check passed")
