#!/usr/bin/env bash
# Federated-learning benchmark (not part of the test command: it installs torch):
# phiveil's federated DP-SGD against Flower + Opacus and a non-private scikit-learn
# ceiling, same splits, same seeds, at ε ∈ {1, 3, 8}, δ = 1e-5.
# First, seconds per round through a real relay for 5 clients, split into client
# compute, proof, upload, relay verification and aggregation, owner decryption and
# publishing (tests/examples/fl_round_bench.rs; needs no torch).
#   bash scripts/bench-fl.sh [ROUNDS] [SEEDS]
set -euo pipefail
source "$(dirname "$0")/env.sh"
cd "$PHIVEIL_ROOT"
FL_VENV="$PHIVEIL_CACHE/fl-venv"
if ! "$FL_VENV/bin/python" -c "import flwr, opacus, torch, sklearn" 2>/dev/null; then
  log "installing Flower, Opacus, torch and scikit-learn into $FL_VENV (several GB)"
  [ -x "$FL_VENV/bin/python" ] || python3 -m venv "$FL_VENV"
  "$FL_VENV/bin/pip" install -q --disable-pip-version-check \
    torch==2.9.1 opacus==1.6.0 "flwr[simulation]==1.40.0" scikit-learn==1.9.1
fi
out="$CARGO_TARGET_DIR/fl-bench"
mkdir -p "$out"
log "seconds per round through the relay, 5 clients, $(nproc) cores"
cargo run -q -p phiveil-tests --example fl_round_bench -- 3 | tee "$out/rounds.jsonl"
cargo build -q --release -p phiveil-core --example fl_bench
log "phiveil (federated DP-SGD, distributed discrete Gaussian noise, sums as decrypted)"
"$CARGO_TARGET_DIR/release/examples/fl_bench" "$out/splits.json" "${1:-40}" "${2:-5}" | tee "$out/phiveil.jsonl"
log "scikit-learn ceiling and Flower + Opacus"
"$FL_VENV/bin/python" scripts/fl/flower_compare.py "$out/splits.json" "${2:-5}" | tee "$out/flower.jsonl"
