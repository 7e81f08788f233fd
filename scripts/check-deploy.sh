#!/usr/bin/env bash
# Checks the deployment files (deploy/) as far as this machine allows:
# - the systemd unit: `systemd-analyze verify` (on a copy pointing at the built relay
#   binary) and its sandboxing rating, `systemd-analyze security --offline`, which must
#   stay at or under 2.0 ("OK");
# - the Terraform module: `terraform fmt -check` where terraform is installed, and
#   tests/peers/terraform_check.py (python-hcl2) for what the module promises;
#   `terraform validate` needs the AWS provider from the Terraform registry, which this
#   machine's network does not reach;
# - the Dockerfile: every file it copies and every script it runs exists (no container
#   engine runs here, so the image is not built);
# - the configuration file: listed and accepted in full by the relay's own unit test
#   (`the_example_file_lists_every_setting_with_its_default`).
set -euo pipefail
source "$(dirname "$0")/env.sh"
cd "$PHIVEIL_ROOT"
bin="${PHIVEIL_RELAY_BIN:-$CARGO_TARGET_DIR/debug/phiveil-relay}"
[ -x "$bin" ] || cargo build -q -p phiveil-relay --locked
tmp="$(mktemp -d)"
trap 'rm -rf "$tmp"' EXIT

if command -v systemd-analyze >/dev/null; then
  sed "s#/usr/local/bin/phiveil-relay#$bin#" deploy/systemd/phiveil-relay.service >"$tmp/phiveil-relay.service"
  (cd "$tmp" && systemd-analyze verify phiveil-relay.service)
  (cd "$tmp" && systemd-analyze security --offline=true --threshold=20 phiveil-relay.service | tail -1)
else
  log "systemd-analyze is not installed: the unit is not checked"
fi

if command -v terraform >/dev/null; then
  TF_CLI_CONFIG_FILE=/dev/null terraform fmt -check -recursive deploy/terraform
  echo "terraform fmt: deploy/terraform is formatted"
else
  log "terraform is not installed: formatting is not checked"
fi
"$PHIVEIL_PYTHON" tests/peers/terraform_check.py deploy/terraform/aws

missing=0
while read -r src; do
  [ -e "$src" ] || { echo "deploy/Dockerfile copies $src, which does not exist"; missing=1; }
done < <(grep -E '^COPY [^-]' deploy/Dockerfile | awk '{print $2}' | grep -v '^\.$')
while read -r s; do
  [ -f "$s" ] || { echo "deploy/Dockerfile runs $s, which does not exist"; missing=1; }
done < <(grep -oE 'scripts/[a-z-]+\.sh' deploy/Dockerfile | sort -u)
[ "$missing" = 0 ]
echo "deploy/Dockerfile: its files and scripts exist (not built: no container engine here)"
