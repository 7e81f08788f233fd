#!/usr/bin/env bash
# The test command: sets up a fresh machine (scripts/setup.sh) and runs every test:
# formatting and lints, native unit/integration tests (including interop with the
# official AWS Encryption SDKs for Python and JavaScript), the same envelope tests on
# the wasm build in headless Chromium, the npm package's Node and Playwright tests, the
# web app end to end in headless Chromium (patient, clinician, operator; screenshots in
# target/screenshots),
# the relay against SQLite and a private PostgreSQL, moto and s3s-fs on 127.0.0.1,
# and a short fuzzing run. Set PHIVEIL_FUZZ_SECS=0 to skip fuzzing.
set -euo pipefail
source "$(dirname "$0")/env.sh"
cd "$PHIVEIL_ROOT"
passed=0
stage() {
  log "$1"
  local t0=$SECONDS
  shift
  "$@"
  passed=$((passed + 1))
  printf '   stage took %ss (%ss since the start)\n' $((SECONDS - t0)) "$SECONDS" >&2
}

stage "setup" bash scripts/setup.sh
log "PostgreSQL on 127.0.0.1 for the relay's metadata tests"
PHIVEIL_PG_URL="$(bash scripts/pg.sh start)"
export PHIVEIL_PG_URL
trap 'bash scripts/pg.sh stop' EXIT
stage "cargo fmt --check" cargo fmt --all -- --check
stage "clippy (native, all targets)" cargo clippy --workspace --all-targets --locked -- -D warnings
stage "clippy (wasm32)" cargo clippy -p phiveil-core --lib --target wasm32-unknown-unknown --locked -- -D warnings
stage "clippy (wasm32, fhe)" cargo clippy -p phiveil-core --lib --features fhe --target wasm32-unknown-unknown --locked -- -D warnings
stage "clippy (wasm32, web app)" cargo clippy -p phiveil-web --target wasm32-unknown-unknown --locked -- -D warnings
stage "cargo test (native, workspace)" cargo test --workspace --locked
stage "deployment files (systemd unit, Terraform module, Dockerfile)" bash scripts/check-deploy.sh
# The wasm stage depends on the browser build Debian ships that day: record it.
log "browser for the wasm and Playwright stages: $("$PHIVEIL_CHROMIUM" --version 2>/dev/null) / $("$CHROMEDRIVER" --version 2>/dev/null | cut -d' ' -f1-2)"
stage "envelope and PII tests on wasm in headless Chromium" \
  cargo test -p phiveil-core --target wasm32-unknown-unknown --test envelope --test pii --locked
stage "build the npm package" bash scripts/build-wasm.sh
stage "build the web app (wasm-opt'd, into web-app/dist)" bash scripts/build-web.sh
stage "npm package: types" bash -c 'cd www && npx tsc -p test/tsconfig.json'
stage "npm package and web app: Node + Chromium tests (against the debug relay binary)" \
  env PHIVEIL_RELAY_BIN="$CARGO_TARGET_DIR/debug/phiveil-relay" bash -c 'cd www && node --test test/*.test.mjs'
if [ "${PHIVEIL_FUZZ_SECS:-20}" != "0" ]; then
  stage "fuzz (${PHIVEIL_FUZZ_SECS:-20}s per target)" bash scripts/fuzz.sh "${PHIVEIL_FUZZ_SECS:-20}"
fi
echo
echo "stages: $passed passed, 0 failed"
