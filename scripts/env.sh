# Shared environment for phiveil's scripts. Source it; do not run it.
# Caches live outside the clone so a warm machine rebuilds only what changed.
export PHIVEIL_CACHE="${PHIVEIL_CACHE:-$HOME/.cache/phiveil}"
export CARGO_TARGET_DIR="${CARGO_TARGET_DIR:-$PHIVEIL_CACHE/target}"
export PHIVEIL_TOOLS="$PHIVEIL_CACHE/tools"
export PHIVEIL_VENV="$PHIVEIL_CACHE/venv"
export PHIVEIL_PYTHON="${PHIVEIL_PYTHON:-$PHIVEIL_VENV/bin/python}"
export PATH="$PHIVEIL_TOOLS/bin:$HOME/.cargo/bin:$PATH"
export CHROMEDRIVER="${CHROMEDRIVER:-/usr/bin/chromedriver}"
export PHIVEIL_CHROMIUM="${PHIVEIL_CHROMIUM:-/usr/bin/chromium}"
# Pinned tool versions (the wasm-bindgen CLI must match the crate exactly).
export WASM_BINDGEN_VERSION="0.2.130"
export PY_ESDK_VERSION="4.0.7"
# The Material Providers Library for Python: the official raw ECDH keyring peer.
export PY_MPL_VERSION="1.11.3"
export CARGO_FUZZ_VERSION="0.13.1"
export MOTO_VERSION="5.2.5"
export FHIR_RESOURCES_VERSION="8.1.0"
export OPENAPI_SPEC_VALIDATOR_VERSION="0.9.0"
export PYTHON_HCL2_VERSION="7.3.1"
export AZURITE_VERSION="3.37.0"
export S3S_FS_VERSION="0.14.1"
PHIVEIL_ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
export PHIVEIL_ROOT
log() { printf '\n== %s\n' "$*" >&2; }
# Benchmark-only Python peers (never installed by the test command).
export PHIVEIL_BENCH_VENV="$PHIVEIL_CACHE/bench-venv"
export PRESIDIO_VERSION="2.2.366"
export PRESIDIO_EVALUATOR_VERSION="0.3.2"
export PHILTER_VERSION="1.0.3"
export FAKER_VERSION="40.54.0"
export OPENDP_VERSION="0.16.0"
export NODE_TFHE_VERSION="${NODE_TFHE_VERSION:-1.7.0}"
