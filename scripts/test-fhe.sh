#!/usr/bin/env bash
# The long TFHE scenario (50 patients with proofs, aggregation, release, decryption):
# ~9 minutes on 2 cores, so the test command runs the same flow with a small cohort and
# this script runs the full one.
set -euo pipefail
source "$(dirname "$0")/env.sh"
cd "$PHIVEIL_ROOT"
cargo test -p phiveil-tests --test fhe_stats --locked -- --ignored --nocapture
