#!/usr/bin/env bash
# Load benchmark of the relay on embedded defaults (loopback only, bounded: 10 s per
# endpoint): data-key issuance and presigned-upload creation, with wrk from Debian.
# Prints requests/s and latency percentiles. Not part of the test command.
set -euo pipefail
source "$(dirname "$0")/env.sh"
cd "$PHIVEIL_ROOT"
command -v wrk >/dev/null || { apt-get install -y -qq wrk >/dev/null; }
cargo build -q --release -p phiveil-relay
bin="$CARGO_TARGET_DIR/release/phiveil-relay"
dir="$(mktemp -d)"
port="${BENCH_PORT:-18080}"
trap 'kill "$pid" 2>/dev/null || true; rm -rf "$dir"' EXIT
PHIVEIL_PASSWORD="steady lantern 4711 orbit" "$bin" --data-dir "$dir" create-user --username bench --role patient >/dev/null
# The presign benchmark leaves every upload pending: lift the per-patient cap.
PHIVEIL_LOG=warn "$bin" --data-dir "$dir" serve --listen "127.0.0.1:$port" --max-pending-records-per-patient 1000000000 &
pid=$!
for _ in $(seq 100); do curl -s "http://127.0.0.1:$port/healthz" >/dev/null && break; sleep 0.1; done
login=$(curl -s -X POST "http://127.0.0.1:$port/v1/auth/login" -H 'content-type: application/json' \
  -d '{"username":"bench","password":"steady lantern 4711 orbit"}')
export BENCH_TOKEN=$(printf '%s' "$login" | python3 -c 'import json,sys; print(json.load(sys.stdin)["token"])')
patient=$(printf '%s' "$login" | python3 -c 'import json,sys; print(json.load(sys.stdin)["pseudonym"])')
dur="${BENCH_SECS:-10}"
for ep in data-key presign; do
  case $ep in
    data-key) path=/v1/keys/data-key; export BENCH_BODY="{\"context\":{\"patient\":\"$patient\",\"record_type\":\"vitals\"}}" ;;
    presign) path=/v1/records; export BENCH_BODY='{"record_type":"vitals","size":4096,"content_type":"application/octet-stream"}' ;;
  esac
  conns="${BENCH_CONNS:-32}"
  log "wrk $ep: 2 threads, $conns connections, ${dur}s"
  wrk -t2 -c"$conns" -d"${dur}s" --latency -s scripts/bench/post.lua "http://127.0.0.1:$port$path" \
    | grep -E 'Requests/sec|Latency|50%|90%|99%|Non-2xx|requests in'
done
