#!/usr/bin/env bash
# Web app size and speed: builds the app (wasm-release + wasm-opt -Oz, sizes printed by
# build-web.sh) and measures the first page's time to interactive on localhost in
# headless Chromium over N cold loads.
# Usage: bench-web.sh [runs, default 10]
set -euo pipefail
source "$(dirname "$0")/env.sh"
cd "$PHIVEIL_ROOT"
bash scripts/setup.sh
bash scripts/build-web.sh
cargo build -p phiveil-relay --profile serve --locked
PHIVEIL_RELAY_BIN="$CARGO_TARGET_DIR/serve/phiveil-relay" node www/bench/webapp-tti.mjs "${1:-10}"
