#!/usr/bin/env bash
# Regenerates the web app's screenshots (every view, desktop and 360 px) into
# target/screenshots (or $PHIVEIL_SCREENSHOTS) by running its end-to-end test.
set -euo pipefail
source "$(dirname "$0")/env.sh"
cd "$PHIVEIL_ROOT"
bash scripts/setup.sh
bash scripts/build-web.sh
cargo build -p phiveil-relay --locked
shots="${PHIVEIL_SCREENSHOTS:-$PHIVEIL_ROOT/target/screenshots}"
rm -rf "$shots"
cd www
PHIVEIL_SCREENSHOTS="$shots" PHIVEIL_RELAY_BIN="$CARGO_TARGET_DIR/debug/phiveil-relay" node --test test/webapp.test.mjs
echo "screenshots in $shots"
