#!/usr/bin/env bash
# The GPU aggregation path (cargo feature `gpu`, tfhe's CUDA backend), not part of the
# test command: CI has no GPU and the CUDA backend takes about 10 minutes to compile on
# 2 cores. In order:
#  1. the CUDA toolkit, if `nvcc` is missing: NVIDIA's CUDA 13.0 compiler, runtime and
#     headers from their Python wheels (`cuda-toolkit` 13.0.3.0, pinned) and cmake, in a
#     virtual environment under the cache folder; nothing is installed system-wide. CUDA
#     13.0 needs an NVIDIA driver of version 580 or later where the GPU is;
#  2. the architecture: tfhe's build detects the GPU of the build machine. Without one
#     it would build for compute capability 7.0 plus PTX that the driver compiles at
#     start, leaving out the backend's Hopper paths; `PHIVEIL_CUDA_ARCH=90` (H100/H200)
#     or `=80` (A100) builds for that GPU instead (`scripts/nvcc-arch.sh`);
#  3. builds the relay with `--features gpu`, starts it on loopback and prints the
#     device it chose (`fhe_device` in its "listening" line), then stops it;
#  4. runs `integer_ops_fold_what_the_blocks_fold` with `--features gpu`: the integer
#     path (the GPU's code) against the blocks path and the plaintext on the CPU and,
#     where a CUDA device is present, on the GPU too; without one, it asserts that the
#     GPU is refused with a typed error before any CUDA call (the CPU fallback);
#  5. `fhe_bench N BATCH gpu`: submissions/min of the 8-field proven study on the CPU
#     (blocks), on the GPU where present, and with the integer operations on the CPU.
# Usage: scripts/check-gpu.sh [submissions=8] [batch=8]
#        scripts/check-gpu.sh pack DIR   build only, and put the test and the benchmark
#          (stripped) with the CUDA runtime into DIR, to run on a GPU machine that has
#          the driver but no Rust or CUDA toolkit: `DIR/run.sh [submissions] [batch]`
#          runs steps 4 and 5 there.
set -euo pipefail
source "$(dirname "$0")/env.sh"
cd "$PHIVEIL_ROOT"
if ! command -v nvcc >/dev/null || ! command -v cmake >/dev/null; then
  cuda_venv="$PHIVEIL_CACHE/cuda-13.0"
  if [ ! -x "$cuda_venv/bin/cmake" ]; then
    log "CUDA 13.0 toolkit (NVIDIA's wheels) and cmake in $cuda_venv"
    python3 -m venv "$cuda_venv"
    "$cuda_venv/bin/pip" install -q 'cuda-toolkit[nvcc,cudart,cccl,crt,nvvm,profiler]==13.0.3.0' 'cmake==4.4.5'
  fi
  cuda="$(echo "$cuda_venv"/lib/python3*/site-packages/nvidia/cu13)"
  # The layout CMake and the linker look for.
  ln -sfn lib "$cuda/lib64"
  ln -sf libcudart.so.13 "$cuda/lib/libcudart.so"
  export PATH="$cuda_venv/bin:$cuda/bin:$PATH" CUDA_PATH="$cuda"
  export LIBRARY_PATH="$cuda/lib${LIBRARY_PATH:+:$LIBRARY_PATH}"
fi
nvcc --version | tail -1
if [ -n "${PHIVEIL_CUDA_ARCH:-}" ]; then
  log "building for compute capability ${PHIVEIL_CUDA_ARCH} (PHIVEIL_CUDA_ARCH)"
  export PHIVEIL_NVCC="$(command -v nvcc)" CUDACXX="$PHIVEIL_ROOT/scripts/nvcc-arch.sh"
fi
# A target folder of its own: other features, and cmake's cache keeps its compiler.
export CARGO_TARGET_DIR="$CARGO_TARGET_DIR-gpu${PHIVEIL_CUDA_ARCH:+-sm$PHIVEIL_CUDA_ARCH}"

if [ "${1:-}" = pack ]; then
  out="${2:?usage: scripts/check-gpu.sh pack DIR}"
  mkdir -p "$out"
  log "building the test and the benchmark with --features gpu"
  cargo build -q -p phiveil-core --example fhe_bench --features gpu --locked
  test_bin="$(cargo test -q --no-run -p phiveil-tests --features gpu --test fhe_stats --locked \
    --message-format=json | python3 -c 'import json,sys
for l in sys.stdin:
    m = json.loads(l)
    if m.get("reason") == "compiler-artifact" and m["target"]["name"] == "fhe_stats" and m.get("executable"):
        print(m["executable"])')"
  strip -o "$out/fhe_bench" "$CARGO_TARGET_DIR/debug/examples/fhe_bench"
  strip -o "$out/fhe_stats" "$test_bin"
  cp -L "$(dirname "$(command -v nvcc)")/../lib/libcudart.so.13" "$out/"
  cat >"$out/run.sh" <<'EOF'
#!/usr/bin/env bash
# Steps 4 and 5 of scripts/check-gpu.sh on a GPU machine, from the packed binaries.
set -uo pipefail
here="$(cd "$(dirname "$0")" && pwd)"
export LD_LIBRARY_PATH="$here${LD_LIBRARY_PATH:+:$LD_LIBRARY_PATH}"
nvidia-smi --query-gpu=name,driver_version,memory.total --format=csv,noheader || true
echo "== integer operations against blocks and the plaintext, and on the GPU"
"$here/fhe_stats" integer_ops --nocapture --test-threads 1
echo "== 8-field proven study: CPU blocks, GPU, CPU integer operations"
"$here/fhe_bench" "${1:-32}" "${2:-32}" gpu
EOF
  chmod +x "$out/run.sh"
  ls -l "$out"
  exit 0
fi

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
