#!/usr/bin/env bash
# Installs what the build, the tests and the benchmarks need on a fresh machine of
# this kind (Debian 12, Rust via rustup, Node 20, Python 3.11). Idempotent: each step
# is skipped when what it installs is already there.
# Usage: setup.sh [--run]   (--run: only what the run command needs)
set -euo pipefail
source "$(dirname "$0")/env.sh"
mkdir -p "$PHIVEIL_CACHE" "$PHIVEIL_TOOLS"
mode="${1:-full}"

log "rust targets and components"
rustup target list --installed | grep -qx wasm32-unknown-unknown || rustup target add wasm32-unknown-unknown
if ! cargo clippy --version >/dev/null 2>&1 || ! cargo fmt --version >/dev/null 2>&1; then
  rustup component add clippy rustfmt
fi

log "wasm-bindgen-cli $WASM_BINDGEN_VERSION"
if [ "$(wasm-bindgen --version 2>/dev/null)" != "wasm-bindgen $WASM_BINDGEN_VERSION" ]; then
  # Not --locked: its lockfile wants a crate version the registry mirror refuses.
  cargo install wasm-bindgen-cli --version "$WASM_BINDGEN_VERSION" --root "$PHIVEIL_TOOLS"
fi

log "npm packages (www)"
(cd "$PHIVEIL_ROOT/www" && { { [ -d node_modules ] && npm ls --depth=0 >/dev/null 2>&1; } || npm ci --no-audit --no-fund --loglevel=error; })

[ "$mode" = "--run" ] && exit 0

log "Debian packages: chromium + chromium-driver (browser tests), postgresql (relay metadata tests), openssl (the HTTPS webhook test's certificates)"
if ! command -v chromium >/dev/null || ! command -v chromedriver >/dev/null || ! ls /usr/lib/postgresql/*/bin/initdb >/dev/null 2>&1 || ! command -v openssl >/dev/null; then
  export DEBIAN_FRONTEND=noninteractive
  apt-get update -qq
  apt-get install -y -qq chromium chromium-driver postgresql openssl >/dev/null
fi

log "python peer: aws-encryption-sdk $PY_ESDK_VERSION"
if ! "$PHIVEIL_PYTHON" -c "import aws_encryption_sdk, sys; sys.exit(aws_encryption_sdk.__version__ != '$PY_ESDK_VERSION')" 2>/dev/null; then
  python3 -m venv "$PHIVEIL_VENV"
  "$PHIVEIL_VENV/bin/pip" install -q --disable-pip-version-check "aws-encryption-sdk==$PY_ESDK_VERSION"
fi

log "python peer: aws-cryptographic-material-providers $PY_MPL_VERSION (raw ECDH keyring)"
if ! "$PHIVEIL_PYTHON" -c "from importlib.metadata import version; import sys; sys.exit(version('aws-cryptographic-material-providers') != '$PY_MPL_VERSION')" 2>/dev/null; then
  "$PHIVEIL_VENV/bin/pip" install -q --disable-pip-version-check "aws-cryptographic-material-providers==$PY_MPL_VERSION"
fi

log "fhir.resources $FHIR_RESOURCES_VERSION (FHIR validity peer)"
if ! "$PHIVEIL_PYTHON" -c "import fhir.resources, sys; sys.exit(fhir.resources.__version__ != '$FHIR_RESOURCES_VERSION')" 2>/dev/null; then
  "$PHIVEIL_VENV/bin/pip" install -q --disable-pip-version-check "fhir.resources==$FHIR_RESOURCES_VERSION"
fi

log "openapi-spec-validator $OPENAPI_SPEC_VALIDATOR_VERSION (checks the relay's OpenAPI 3.1 document)"
if ! "$PHIVEIL_PYTHON" -c "from importlib.metadata import version; import sys; sys.exit(version('openapi-spec-validator') != '$OPENAPI_SPEC_VALIDATOR_VERSION')" 2>/dev/null; then
  "$PHIVEIL_VENV/bin/pip" install -q --disable-pip-version-check "openapi-spec-validator==$OPENAPI_SPEC_VALIDATOR_VERSION"
fi

log "python-hcl2 $PYTHON_HCL2_VERSION (parses the Terraform module for scripts/check-deploy.sh)"
if ! "$PHIVEIL_PYTHON" -c "from importlib.metadata import version; import sys; sys.exit(version('python-hcl2') != '$PYTHON_HCL2_VERSION')" 2>/dev/null; then
  "$PHIVEIL_VENV/bin/pip" install -q --disable-pip-version-check "python-hcl2==$PYTHON_HCL2_VERSION"
fi

log "moto $MOTO_VERSION (AWS KMS + S3 on 127.0.0.1 for the relay tests)"
if ! "$PHIVEIL_PYTHON" -c "import moto, sys; sys.exit(moto.__version__ != '$MOTO_VERSION')" 2>/dev/null; then
  "$PHIVEIL_VENV/bin/pip" install -q --disable-pip-version-check "moto[server]==$MOTO_VERSION"
fi

log "azurite $AZURITE_VERSION (the Azure Storage emulator, replica store on 127.0.0.1)"
if [ "$(cat "$PHIVEIL_TOOLS/azurite/version" 2>/dev/null)" != "$AZURITE_VERSION" ]; then
  mkdir -p "$PHIVEIL_TOOLS/azurite"
  # Its own package.json, so npm installs here and not into a project further up.
  echo '{"private": true}' >"$PHIVEIL_TOOLS/azurite/package.json"
  (cd "$PHIVEIL_TOOLS/azurite" && npm install --no-audit --no-fund --loglevel=error --save-exact "azurite@$AZURITE_VERSION" >/dev/null)
  echo "$AZURITE_VERSION" >"$PHIVEIL_TOOLS/azurite/version"
fi

log "s3s-fs $S3S_FS_VERSION (strict SigV4 S3 on 127.0.0.1)"
if [ ! -x "$PHIVEIL_TOOLS/bin/s3s-fs" ]; then
  cargo install s3s-fs --version "$S3S_FS_VERSION" --features binary --locked --root "$PHIVEIL_TOOLS"
fi

log "cargo-fuzz $CARGO_FUZZ_VERSION"
if [ "$(cargo fuzz --version 2>/dev/null)" != "cargo-fuzz $CARGO_FUZZ_VERSION" ]; then
  cargo install cargo-fuzz --version "$CARGO_FUZZ_VERSION" --locked --root "$PHIVEIL_TOOLS"
fi
