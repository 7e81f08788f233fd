#!/usr/bin/env bash
# Builds the web app (web-app/, crate phiveil-web) into web-app/dist, the directory
# `phiveil-relay serve --static-dir` serves at /:
#   cargo (wasm32, profile wasm-web: size-optimized) -> wasm-bindgen --target web -> wasm-opt (npm binaryen)
#   + index.html, boot.js, style.css, the TFHE worker and the `phiveil/fhe` web bundle it
#   loads (from www/pkg, so scripts/build-wasm.sh runs first), and the npm package's
#   embedding example at /examples/portal.html.
# PHIVEIL_WEB_PROFILE=dev builds unoptimized (quick, for working on the app).
set -euo pipefail
source "$(dirname "$0")/env.sh"
cd "$PHIVEIL_ROOT"
# Built in a staging folder and swapped in at the end, so a relay already serving the
# previous build (scripts/run.sh) never serves a half-written one.
final="$PHIVEIL_ROOT/web-app/dist"
dist="$PHIVEIL_ROOT/web-app/dist.new"
[ -f www/pkg/fhe/web/phiveil_fhe.js ] || bash scripts/build-wasm.sh

profile="${PHIVEIL_WEB_PROFILE:-wasm-web}"
log "cargo build phiveil-web (wasm32, $profile)"
cargo build -p phiveil-web --target wasm32-unknown-unknown --profile "$profile" --locked
rm -rf "$dist"
mkdir -p "$dist"
wasm-bindgen --target web --no-typescript --out-name phiveil_web --out-dir "$dist" \
  "$CARGO_TARGET_DIR/wasm32-unknown-unknown/${profile/dev/debug}/phiveil-web.wasm"
raw=$(du -b "$dist/phiveil_web_bg.wasm" | cut -f1)
if [ "$profile" != dev ]; then
  "$PHIVEIL_ROOT/www/node_modules/.bin/wasm-opt" -Oz \
    --enable-bulk-memory --enable-sign-ext --enable-mutable-globals \
    --enable-nontrapping-float-to-int --enable-reference-types --enable-multivalue \
    "$dist/phiveil_web_bg.wasm" -o "$dist/phiveil_web_bg.wasm"
fi
cp web-app/static/* "$dist/"
mkdir -p "$dist/fhe" "$dist/pkg" "$dist/examples"
cp -r www/pkg/fhe/web/phiveil_fhe.js www/pkg/fhe/web/phiveil_fhe_bg.wasm www/pkg/fhe/web/snippets "$dist/fhe/"
# The proof pool's coordinator service worker (wasm-par-mq's, BSD-3-Clause-Clear, from
# the crate Cargo.lock pins), served at / so that its scope covers the app and workers.
wpm=$(awk '/^name = "wasm-par-mq"/ { getline; gsub(/[^0-9.]/, ""); print }' Cargo.lock)
cp "$(ls -d "${CARGO_HOME:-$HOME/.cargo}"/registry/src/*/"wasm-par-mq-$wpm" | head -1)/js/coordinator.js" "$dist/coordinator.js"
cp -r www/pkg/web "$dist/pkg/web"
cp www/examples/* "$dist/examples/"
# Precompressed copies: the relay serves *.gz to browsers that accept gzip.
find "$dist" -type f \( -name '*.wasm' -o -name '*.js' -o -name '*.css' -o -name '*.html' \) \
  -exec gzip -9 -k -f {} \;
size=$(du -b "$dist/phiveil_web_bg.wasm" | cut -f1)
gz=$(gzip -9c "$dist/phiveil_web_bg.wasm" | wc -c)
rm -rf "$final.old"
[ -d "$final" ] && mv "$final" "$final.old"
mv "$dist" "$final"
rm -rf "$final.old"
log "web app: $size bytes of wasm after wasm-opt -Oz ($raw before, $gz gzipped) in $final"
