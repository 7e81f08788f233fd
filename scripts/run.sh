#!/usr/bin/env bash
# The run command: sets up what it needs, builds the npm package from wasm-core, the
# web app and the relay, and runs the relay on embedded defaults (SQLite, local object
# store, embedded KMS in ./phiveil-data or $PHIVEIL_DATA_DIR; no cloud account),
# serving the web app at / (and the npm package's embedding example at
# /examples/portal.html) on 127.0.0.1.
# Usage: run.sh [port, default 8080]
set -euo pipefail
source "$(dirname "$0")/env.sh"
cd "$PHIVEIL_ROOT"
bash scripts/setup.sh --run
bash scripts/build-wasm.sh
bash scripts/build-web.sh
cargo build --profile serve -p phiveil-relay
port="${1:-${PORT:-8080}}"
data="${PHIVEIL_DATA_DIR:-$PHIVEIL_ROOT/phiveil-data}"
bin="$CARGO_TARGET_DIR/serve/phiveil-relay"
if [ ! -f "$data/relay.sqlite3" ]; then
  pw="$(head -c 18 /dev/urandom | base64)"
  PHIVEIL_PASSWORD="$pw" "$bin" --data-dir "$data" create-user --username operator --role operator
  log "first operator: username 'operator', password '$pw' (shown once)"
fi
log "web app on http://127.0.0.1:$port/  —  embedding example: http://127.0.0.1:$port/examples/portal.html (Ctrl-C stops)"
exec "$bin" --data-dir "$data" serve --listen "127.0.0.1:$port" --static-dir "$PHIVEIL_ROOT/web-app/dist"
