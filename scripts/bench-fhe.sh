#!/usr/bin/env bash
# TFHE private-statistics benchmark (not part of the test command), one run, in order:
#  1. patient side in wasm, Node, one thread: phiveil/fhe vs Zama's node-tfhe (npm,
#     pinned NODE_TFHE_VERSION, installed into the cache) — key-ceremony steps and an
#     8×8-bit proven list, same parameters, same public key and CRS;
#  2. relay aggregation of an 8-field study with proofs verified, submissions per minute:
#     phiveil's Aggregator with the proven encoding, with the checked encoding (the
#     design before it), and a minimal loop on tfhe-rs's high-level API (all checked
#     against the plaintext totals); and the relay as deployed for the proven encoding:
#     proofs checked when uploads complete, the worker folding those bytes unchecked.
#     tfhe is built as in the test profile (opt-level 2, no debug assertions; see
#     Cargo.toml).
#  3. the patient's proof in headless Chromium with 1 and 2 proof workers (the web app's
#     TFHE worker; tfhe's cross-origin worker pool), the speedup and the 4-worker
#     projection (www/bench/fhe-workers.mjs; needs the web app built).
# Usage: scripts/bench-fhe.sh [submissions=32] [batch=32 (the relay's default)]
set -euo pipefail
source "$(dirname "$0")/env.sh"
cd "$PHIVEIL_ROOT"
peer="$PHIVEIL_CACHE/bench-npm/node-tfhe-$NODE_TFHE_VERSION"
if [ ! -f "$peer/node_modules/node-tfhe/package.json" ]; then
  log "installing node-tfhe $NODE_TFHE_VERSION into $peer"
  mkdir -p "$peer"
  (cd "$peer" && npm init -y >/dev/null && npm install --no-audit --no-fund "node-tfhe@$NODE_TFHE_VERSION" >/dev/null)
fi
[ -f www/pkg/fhe/node/phiveil_fhe.js ] || bash scripts/build-wasm.sh
log "patient side in wasm (Node): phiveil/fhe vs node-tfhe $NODE_TFHE_VERSION"
(cd www && NODE_TFHE_DIR="$peer" node bench/fhe-node.mjs)
log "relay aggregation (native, $(nproc) cores): phiveil vs a minimal tfhe-rs loop"
cargo run -q -p phiveil-core --example fhe_bench --features fhe -- "${1:-32}" "${2:-32}"
log "patient's proof in headless Chromium: 1 and 2 proof workers"
[ -f web-app/dist/coordinator.js ] || bash scripts/build-web.sh
cargo build -q -p phiveil-relay --locked
(cd www && PHIVEIL_RELAY_BIN="$CARGO_TARGET_DIR/debug/phiveil-relay" node bench/fhe-workers.mjs "${FHE_RUNS:-3}")
