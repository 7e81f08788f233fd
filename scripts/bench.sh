#!/usr/bin/env bash
# Benchmarks (never part of the test command): criterion natively, then the browser
# benchmark page in headless Chromium, phiveil (wasm) side by side with
# @aws-crypto/client-browser (WebCrypto) in the same run. Prints tables.
set -euo pipefail
source "$(dirname "$0")/env.sh"
cd "$PHIVEIL_ROOT"
bash scripts/setup.sh
(cd www/bench && { { [ -d node_modules ] && npm ls --depth=0 >/dev/null 2>&1; } || npm ci --no-audit --no-fund --loglevel=error; })
log "criterion (native)"
cargo bench -p phiveil-core --bench envelope -- --warm-up-time 1 --measurement-time 3 2>&1 \
  | grep -E '^(esdk|field_level|pii)|time:|thrpt:'
bash scripts/build-wasm.sh
log "browser benchmark (headless Chromium)"
node www/bench/run.mjs --min-ms "${PHIVEIL_BENCH_MS:-1000}" --json "$CARGO_TARGET_DIR/browser-bench.json"
log "PII detection quality vs Presidio (labelled synthetic corpus)"
bash scripts/bench-pii.sh
log "relay load benchmark (wrk, loopback)"
bash scripts/bench-relay.sh
