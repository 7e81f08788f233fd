#!/usr/bin/env bash
# Builds the npm package `phiveil` from wasm-core: www/pkg/{web,node} (envelope, PII,
# DP, telemetry) and www/pkg/fhe/{web,node} (the same plus TFHE private statistics):
# cargo (wasm32) -> wasm-bindgen (web ESM + Node CommonJS) -> wasm-opt from the npm
# `binaryen` package (Debian's binaryen 108 breaks wasm-bindgen output).
set -euo pipefail
source "$(dirname "$0")/env.sh"
cd "$PHIVEIL_ROOT"
out="$PHIVEIL_ROOT/www/pkg"

# bindgen WASM DIR NAME OPT: web and Node bindings of WASM under DIR/{web,node} as NAME.
bindgen() {
  local wasm="$1" base="$2" name="$3" opt="$4" target dir
  for target in web nodejs; do
    dir="$base/${target/nodejs/node}"
    wasm-bindgen --target "$target" --out-name "$name" --out-dir "$dir" "$wasm"
    if [ -x "$PHIVEIL_ROOT/www/node_modules/.bin/wasm-opt" ]; then
      "$PHIVEIL_ROOT/www/node_modules/.bin/wasm-opt" "$opt" \
        --enable-bulk-memory --enable-sign-ext --enable-mutable-globals \
        --enable-nontrapping-float-to-int --enable-reference-types --enable-multivalue \
        "$dir/${name}_bg.wasm" -o "$dir/${name}_bg.wasm"
    fi
  done
  # The Node build is CommonJS inside an ESM package: mark its folder.
  printf '{ "type": "commonjs" }\n' > "$base/node/package.json"
  log "built $(du -b "$base/web/${name}_bg.wasm" | cut -f1) bytes of wasm ($(gzip -9c "$base/web/${name}_bg.wasm" | wc -c) gzipped) for $name"
}

log "cargo build phiveil-core (wasm32, wasm-release)"
cargo build -p phiveil-core --target wasm32-unknown-unknown --profile wasm-release --lib
rm -rf "$out"
bindgen "$CARGO_TARGET_DIR/wasm32-unknown-unknown/wasm-release/phiveil_core.wasm" "$out" phiveil_core -O3

# tfhe without AVX-512, with its wasm seeder; profile wasm-fhe (no fat LTO over tfhe).
log "cargo build phiveil-core --features fhe (wasm32, wasm-fhe)"
cargo build -p phiveil-core --target wasm32-unknown-unknown --profile wasm-fhe --lib --features fhe
bindgen "$CARGO_TARGET_DIR/wasm32-unknown-unknown/wasm-fhe/phiveil_core.wasm" "$out/fhe" phiveil_fhe -O2
# tfhe's proof workers (wasm-par-mq, feature cross-origin-wasm-api): its worker script
# imports the bundle as its package root ("../../.."), which a bundler resolves; without
# one (the web app loads the bundle as a plain ES module) it must name the file.
# The Node build (CommonJS) cannot load that ES module and has no web workers: there it
# is replaced by a CommonJS stand-in whose functions say so (the pool never starts in
# Node, so nothing calls them).
for f in "$out"/fhe/node/snippets/wasm-par-mq-*/js/worker_helpers.js; do
  cat > "$f" <<'JS'
// phiveil: wasm-par-mq's worker helpers for Node (CommonJS). Proof workers run in
// browsers only; Node proves on one thread.
'use strict';
const browsersOnly = () => { throw new Error('tfhe proof workers run in browsers only'); };
exports.WORKER_NAME = 'wasm_par_mq_worker';
exports.SYNC_EXECUTOR_NAME = 'wasm_par_mq_sync_executor';
exports.getWorkerOrigin = browsersOnly;
exports.createComputeWorker = browsersOnly;
exports.createSyncExecutorWorker = browsersOnly;
JS
done
helpers=$(ls "$out"/fhe/web/snippets/wasm-par-mq-*/js/worker_helpers.js)
sed -i 's|import("\.\./\.\./\.\.")|import("../../../phiveil_fhe.js")|' $helpers
grep -q "phiveil_fhe.js" $helpers || { log "wasm-par-mq's worker script changed: check its bundle import"; exit 1; }

