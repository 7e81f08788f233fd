#!/usr/bin/env bash
# The run command: builds the relay and runs it on embedded defaults (SQLite, local
# object store, embedded KMS in ./phiveil-data or $PHIVEIL_DATA_DIR; no cloud account)
# on 127.0.0.1, serving the web app at / (and the npm package's embedding example at
# /examples/portal.html).
#
# The relay comes first: it listens (API, /healthz) as soon as its own build is done,
# while the wasm builds (npm package with its TFHE bundle, then the web app) go on
# beside it. Until the web app is built, / answers with a page that says so and reloads
# itself. On a warm machine everything is built already and the web app is there at once.
# Usage: run.sh [port, default 8080]
set -euo pipefail
source "$(dirname "$0")/env.sh"
cd "$PHIVEIL_ROOT"
started=$SECONDS
cargo build --profile serve -p phiveil-relay --locked
port="${1:-${PORT:-8080}}"
data="${PHIVEIL_DATA_DIR:-$PHIVEIL_ROOT/phiveil-data}"
bin="$CARGO_TARGET_DIR/serve/phiveil-relay"
dist="$PHIVEIL_ROOT/web-app/dist"
if [ ! -f "$data/relay.sqlite3" ]; then
  pw="$(head -c 18 /dev/urandom | base64)"
  PHIVEIL_PASSWORD="$pw" "$bin" --data-dir "$data" create-user --username operator --role operator
  log "first operator: username 'operator', password '$pw' (shown once)"
fi
if [ ! -f "$dist/index.html" ]; then
  mkdir -p "$dist"
  cat >"$dist/index.html" <<'HTML'
<!doctype html>
<html lang="en"><head><meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<meta http-equiv="refresh" content="15">
<title>phiveil is starting</title></head>
<body style="font-family: system-ui, sans-serif; max-width: 36rem; margin: 3rem auto; padding: 0 1rem">
<h1>phiveil is building its web app</h1>
<p>The relay is up. This is the first start on this machine, so the web app is still being
compiled (a few minutes more on a small machine). This page reloads by itself.</p>
</body></html>
HTML
fi
"$bin" --data-dir "$data" serve --listen "127.0.0.1:$port" --static-dir "$dist" &
relay=$!
trap 'kill "$relay" 2>/dev/null || true' INT TERM EXIT
for _ in $(seq 1 200); do
  (exec 3<>"/dev/tcp/127.0.0.1/$port") 2>/dev/null && break
  kill -0 "$relay" 2>/dev/null || { wait "$relay"; exit 1; }
  sleep 0.1
done
log "relay listening on http://127.0.0.1:$port/ after $((SECONDS - started)) s (Ctrl-C stops)"
# Incremental: on a warm machine these only check that nothing changed.
bash scripts/setup.sh --run
bash scripts/build-wasm.sh
bash scripts/build-web.sh
log "web app on http://127.0.0.1:$port/  —  embedding example: http://127.0.0.1:$port/examples/portal.html (ready after $((SECONDS - started)) s; Ctrl-C stops)"
wait "$relay"
