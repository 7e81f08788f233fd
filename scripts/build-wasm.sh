#!/usr/bin/env bash
# Builds the npm package `phiveil` (www/pkg/{web,node}) from wasm-core:
# cargo (wasm32, profile wasm-release) -> wasm-bindgen (web ESM + Node CommonJS)
# -> wasm-opt from the npm `binaryen` package (Debian's binaryen 108 breaks
# wasm-bindgen output).
set -euo pipefail
source "$(dirname "$0")/env.sh"
cd "$PHIVEIL_ROOT"
log "cargo build phiveil-core (wasm32, wasm-release)"
cargo build -p phiveil-core --target wasm32-unknown-unknown --profile wasm-release --lib
wasm="$CARGO_TARGET_DIR/wasm32-unknown-unknown/wasm-release/phiveil_core.wasm"
out="$PHIVEIL_ROOT/www/pkg"
rm -rf "$out"
for target in web nodejs; do
  dir="$out/${target/nodejs/node}"
  wasm-bindgen --target "$target" --out-dir "$dir" "$wasm"
  if [ -x "$PHIVEIL_ROOT/www/node_modules/.bin/wasm-opt" ]; then
    "$PHIVEIL_ROOT/www/node_modules/.bin/wasm-opt" -O3 \
      --enable-bulk-memory --enable-sign-ext --enable-mutable-globals \
      --enable-nontrapping-float-to-int --enable-reference-types --enable-multivalue \
      "$dir/phiveil_core_bg.wasm" -o "$dir/phiveil_core_bg.wasm"
  fi
done
# The Node build is CommonJS inside an ESM package: mark its folder.
printf '{ "type": "commonjs" }\n' > "$out/node/package.json"
log "built $(du -b "$out/web/phiveil_core_bg.wasm" | cut -f1) bytes of wasm ($(gzip -9c "$out/web/phiveil_core_bg.wasm" | wc -c) gzipped)"

# The second bundle, `phiveil/fhe`: everything above plus TFHE private statistics
# (tfhe without AVX-512, with its wasm seeder), profile wasm-fhe (no fat LTO over tfhe).
log "cargo build phiveil-core --features fhe (wasm32, wasm-fhe)"
cargo build -p phiveil-core --target wasm32-unknown-unknown --profile wasm-fhe --lib --features fhe
wasm="$CARGO_TARGET_DIR/wasm32-unknown-unknown/wasm-fhe/phiveil_core.wasm"
for target in web nodejs; do
  dir="$out/fhe/${target/nodejs/node}"
  wasm-bindgen --target "$target" --out-name phiveil_fhe --out-dir "$dir" "$wasm"
  if [ -x "$PHIVEIL_ROOT/www/node_modules/.bin/wasm-opt" ]; then
    "$PHIVEIL_ROOT/www/node_modules/.bin/wasm-opt" -O2 \
      --enable-bulk-memory --enable-sign-ext --enable-mutable-globals \
      --enable-nontrapping-float-to-int --enable-reference-types --enable-multivalue \
      "$dir/phiveil_fhe_bg.wasm" -o "$dir/phiveil_fhe_bg.wasm"
  fi
done
printf '{ "type": "commonjs" }\n' > "$out/fhe/node/package.json"
log "built $(du -b "$out/fhe/web/phiveil_fhe_bg.wasm" | cut -f1) bytes of FHE wasm ($(gzip -9c "$out/fhe/web/phiveil_fhe_bg.wasm" | wc -c) gzipped)"
