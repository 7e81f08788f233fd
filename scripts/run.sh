#!/usr/bin/env bash
# The run command: sets up what it needs, builds the npm package from wasm-core and
# serves the patient-portal embedding example on localhost (no cloud account).
# Usage: run.sh [port, default 8080]
set -euo pipefail
source "$(dirname "$0")/env.sh"
bash "$PHIVEIL_ROOT/scripts/setup.sh" --run
bash "$PHIVEIL_ROOT/scripts/build-wasm.sh"
port="${1:-${PORT:-8080}}"
log "open http://127.0.0.1:$port/examples/portal.html (Ctrl-C stops)"
exec node "$PHIVEIL_ROOT/www/scripts/serve.mjs" "$port" "$PHIVEIL_ROOT/www"
