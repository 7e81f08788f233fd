#!/usr/bin/env bash
# The GPU aggregation path (cargo feature `gpu`, tfhe's CUDA backend), not part of the
# test command: CI has no GPU and the CUDA backend takes about 11 minutes to compile on
# 2 cores. In order:
#  1. installs the CUDA toolkit if `nvcc` is missing: Debian's nvidia-cuda-toolkit
#     (CUDA 11.8, from Debian's non-free component, added for this install only) with
#     cmake; nvcc 11.8 takes GCC ≤ 11, so the host compiler is g++-11;
#  2. builds the relay with `--features gpu`, starts it on loopback and prints the
#     device it chose (`fhe_device` in its "listening" line), then stops it;
#  3. runs `integer_ops_fold_what_the_blocks_fold` with `--features gpu`: the integer
#     path (the GPU's code) against the blocks path and the plaintext on the CPU and,
#     where a CUDA device is present, on the GPU too; without one, it asserts that the
#     GPU is refused with a typed error before any CUDA call (the CPU fallback);
#  4. `fhe_bench N BATCH gpu`: submissions/min of the 8-field proven study on the CPU
#     (blocks), on the GPU where present, and with the integer operations on the CPU.
# Usage: scripts/check-gpu.sh [submissions=8] [batch=8]
set -euo pipefail
source "$(dirname "$0")/env.sh"
cd "$PHIVEIL_ROOT"
if ! command -v nvcc >/dev/null || ! command -v g++-11 >/dev/null || ! command -v cmake >/dev/null; then
  log "Debian packages: nvidia-cuda-toolkit (non-free), g++-11, cmake"
  sources="$(mktemp --suffix=.sources)"
  # The machine's own Debian sources, with contrib and non-free added, for this install.
  sed -E 's/^Components: .*/Components: main contrib non-free/' /etc/apt/sources.list.d/debian.sources >"$sources"
  export DEBIAN_FRONTEND=noninteractive
  apt_src=(-o "Dir::Etc::sourcelist=$sources" -o "Dir::Etc::sourceparts=-")
  apt-get "${apt_src[@]}" update -qq
  apt-get "${apt_src[@]}" install -y -qq --no-install-recommends nvidia-cuda-toolkit g++-11 cmake >/dev/null
  rm -f "$sources"
fi
export CC=gcc-11 CXX=g++-11 CUDAHOSTCXX=g++-11
# A target folder of its own: other features, and cmake's cache keeps its compiler.
export CARGO_TARGET_DIR="$CARGO_TARGET_DIR-gpu"
if [ -e /proc/driver/nvidia/version ]; then log "NVIDIA driver: $(head -1 /proc/driver/nvidia/version)"; else log "no NVIDIA driver here: the CPU fallback is what runs"; fi
log "relay with --features gpu: its device at start"
cargo build -q -p phiveil-relay --features gpu --locked
data="$(mktemp -d)"
"$CARGO_TARGET_DIR/debug/phiveil-relay" --data-dir "$data" serve --listen 127.0.0.1:0 >"$data/log" 2>&1 &
relay=$!
for _ in $(seq 120); do grep -q "listening" "$data/log" && break; sleep 0.5; done
kill "$relay" 2>/dev/null || true
wait "$relay" 2>/dev/null || true
sed 's/\x1b\[[0-9;]*m//g' "$data/log" | grep -o "fhe_device=[a-z]*" || { cat "$data/log"; exit 1; }
rm -rf "$data"
log "integer operations against blocks and the plaintext (and the GPU where present)"
cargo test -q -p phiveil-tests --features gpu --test fhe_stats --locked integer_ops -- --nocapture
log "8-field proven study: CPU blocks, GPU, CPU integer operations"
cargo run -q -p phiveil-core --example fhe_bench --features gpu --locked -- "${1:-8}" "${2:-8}" gpu
