#!/usr/bin/env bash
# Differential-privacy benchmark (not part of the test command): the DP mean error of
# phiveil's exact samplers vs OpenDP on the same data at the same budgets.
set -euo pipefail
source "$(dirname "$0")/env.sh"
cd "$PHIVEIL_ROOT"
if ! "$PHIVEIL_BENCH_VENV/bin/python" -c "import opendp" 2>/dev/null; then
  log "installing OpenDP $OPENDP_VERSION into the benchmark venv"
  [ -x "$PHIVEIL_BENCH_VENV/bin/python" ] || python3 -m venv "$PHIVEIL_BENCH_VENV"
  "$PHIVEIL_BENCH_VENV/bin/pip" install -q --disable-pip-version-check "opendp==$OPENDP_VERSION"
fi
cargo build -q --release -p phiveil-core --example dp_mean
"$PHIVEIL_BENCH_VENV/bin/python" scripts/dp/opendp_compare.py "$CARGO_TARGET_DIR/release/examples/dp_mean" "${1:-2000}"
