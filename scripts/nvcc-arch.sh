#!/usr/bin/env bash
# nvcc for tfhe's CUDA backend when the build machine has no GPU but the target's
# architecture is known (PHIVEIL_CUDA_ARCH, e.g. 90 for an H100/H200). Without a GPU,
# tfhe-cuda-backend's CMake falls back to compute capability 7.0 (sm_70 code plus PTX the
# driver would have to compile at start, and none of the backend's sm_90 paths). This
# wrapper retargets every nvcc call to the named architecture: real sm_XX code, and the
# backend's CUDA_ARCH macro to match. scripts/check-gpu.sh sets it as CUDACXX.
set -euo pipefail
arch="${PHIVEIL_CUDA_ARCH:?PHIVEIL_CUDA_ARCH must name the target compute capability, e.g. 90}"
real="${PHIVEIL_NVCC:?PHIVEIL_NVCC must name the real nvcc}"
args=()
for a in "$@"; do
  a="${a//compute_70,code=\[compute_70,sm_70\]/compute_${arch},code=[sm_${arch}]}"
  a="${a//compute_70/compute_${arch}}"
  a="${a//sm_70/sm_${arch}}"
  a="${a//CUDA_ARCH=700/CUDA_ARCH=${arch}0}"
  args+=("$a")
done
exec "$real" "${args[@]}"
