#!/usr/bin/env bash
# Runs the cargo-fuzz targets of wasm-core for a bounded time each.
# Usage: fuzz.sh [seconds per target, default 30]
# cargo-fuzz needs nightly-only sanitizer flags; this machine has one stable toolchain,
# so RUSTC_BOOTSTRAP=1 unlocks them for this build only.
set -euo pipefail
source "$(dirname "$0")/env.sh"
secs="${1:-30}"
cd "$PHIVEIL_ROOT"
seeds="$PHIVEIL_CACHE/fuzz-seeds"
cargo run -q -p phiveil-core --example fuzz_seeds -- "$seeds"
cd wasm-core/fuzz
export RUSTC_BOOTSTRAP=1 CARGO_TARGET_DIR="$PHIVEIL_CACHE/fuzz-target"
for target in decrypt field_record redact; do
  corpus="$PHIVEIL_CACHE/fuzz-corpus/$target"
  mkdir -p "$corpus"
  log "fuzz $target for ${secs}s"
  logf="$PHIVEIL_CACHE/fuzz-$target.log"
  if ! cargo fuzz run "$target" "$corpus" "$seeds/$target" -- \
      -max_total_time="$secs" -max_len=8192 -print_final_stats=1 >"$logf" 2>&1; then
    tail -60 "$logf" >&2
    echo "fuzz target $target failed (crash input under wasm-core/fuzz/artifacts/$target)" >&2
    exit 1
  fi
  grep -E '^(Done|stat::number_of_executed_units|INFO: seed corpus)' "$logf" || true
done
