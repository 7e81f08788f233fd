#!/usr/bin/env bash
# Load benchmark of the relay (loopback only, bounded: BENCH_SECS, default 10 s, per
# endpoint and backend), SQLite and PostgreSQL side by side in one run, with wrk from
# Debian: data-key issuance and presigned-upload creation (each writes an audit row;
# presign also a pending record in the same transaction), then two replicas sharing
# one PostgreSQL database. Prints requests/s, latency percentiles and the ratios.
# Not part of the test command. The PostgreSQL server is scripts/pg.sh's (fsync off,
# as in the tests: this measures the relay's data layer, not the disk).
set -euo pipefail
source "$(dirname "$0")/env.sh"
cd "$PHIVEIL_ROOT"
command -v wrk >/dev/null || { apt-get install -y -qq wrk >/dev/null; }
# BENCH_RELAY_BIN: measure another build (an earlier release) the same way.
if [ -n "${BENCH_RELAY_BIN:-}" ]; then
  bin="$BENCH_RELAY_BIN"
else
  cargo build -q --profile serve -p phiveil-relay
  bin="$CARGO_TARGET_DIR/serve/phiveil-relay"
fi
work="$(mktemp -d)"
pids=()
cleanup() { for p in "${pids[@]}"; do kill "$p" 2>/dev/null || true; done; rm -rf "$work"; }
trap cleanup EXIT
pg_admin="$(bash scripts/pg.sh start)"
dur="${BENCH_SECS:-10}"
conns="${BENCH_CONNS:-32}"
pw="steady lantern 4711 orbit"
results="$work/results"
: > "$results"

# start_relay NAME PORT [DATABASE_URL]: one relay; a second call with the same
# NAME shares its data directory (key files, object store) as replicas would.
start_relay() {
  local name=$1 port=$2 url=${3:-}
  local dir="$work/$name"
  mkdir -p "$dir"
  local db=()
  [ -n "$url" ] && db=(--database-url "$url")
  if [ ! -f "$dir/.user" ]; then
    PHIVEIL_PASSWORD="$pw" "$bin" --data-dir "$dir" "${db[@]}" create-user --username bench --role patient >/dev/null
    touch "$dir/.user"
  fi
  # The presign benchmark leaves every upload pending: lift the per-patient cap.
  PHIVEIL_LOG=warn "$bin" --data-dir "$dir" "${db[@]}" serve --listen "127.0.0.1:$port" --key-mode brokered \
    --max-pending-records-per-patient 1000000000 --max-connections-per-source 1024 &
  pids+=($!)
  for _ in $(seq 200); do curl -s "http://127.0.0.1:$port/healthz" >/dev/null && return; sleep 0.1; done
  echo "relay $name did not start" >&2; exit 1
}

login() { # PORT -> sets BENCH_TOKEN, patient
  local out
  out=$(curl -s -X POST "http://127.0.0.1:$1/v1/auth/login" -H 'content-type: application/json' \
    -d "{\"username\":\"bench\",\"password\":\"$pw\"}")
  BENCH_TOKEN=$(printf '%s' "$out" | python3 -c 'import json,sys; print(json.load(sys.stdin)["token"])')
  patient=$(printf '%s' "$out" | python3 -c 'import json,sys; print(json.load(sys.stdin)["pseudonym"])')
  export BENCH_TOKEN
}

body_for() { # ENDPOINT -> sets path, BENCH_BODY
  case $1 in
    data-key) path=/v1/keys/data-key; BENCH_BODY="{\"context\":{\"patient\":\"$patient\",\"record_type\":\"vitals\"}}" ;;
    presign) path=/v1/records; BENCH_BODY='{"record_type":"vitals","size":4096,"content_type":"application/octet-stream"}' ;;
  esac
  export BENCH_BODY
}

# wrk_run LABEL THREADS CONNS URL: runs wrk, records "LABEL rps p99_ms non2xx".
wrk_run() {
  local label=$1 t=$2 c=$3 url=$4 out
  out=$(wrk -t"$t" -c"$c" -d"${dur}s" --latency -s scripts/bench/post.lua "$url")
  printf '%s\n' "$out" | grep -E 'Requests/sec|Latency|50%|90%|99%|Non-2xx|requests in' | sed "s|^|  [$label] |"
  # One file per run: two runs may finish at once.
  python3 - "$label" <<PY > "$results.${label//\//-}"
import re, sys
out = """$out"""
rps = float(re.search(r"Requests/sec:\s+([\d.]+)", out).group(1))
m = re.search(r"\s99%\s+([\d.]+)(us|ms|s)\b", out)
p99 = float(m.group(1)) * {"us": 0.001, "ms": 1.0, "s": 1000.0}[m.group(2)]
bad = re.search(r"Non-2xx or 3xx responses:\s+(\d+)", out)
print(sys.argv[1], rps, p99, bad.group(1) if bad else 0)
PY
}

pg_db() { # NAME -> a fresh database URL
  python3 - "$pg_admin" "$1" <<'PY'
import subprocess, sys
admin, name = sys.argv[1], sys.argv[2]
subprocess.run(["psql", admin, "-q", "-c", f"DROP DATABASE IF EXISTS {name}", "-c", f"CREATE DATABASE {name}"], check=True)
print(admin.rsplit("/", 1)[0] + "/" + name)
PY
}

port=$((${BENCH_PORT:-18080}))
sqlite_port=$port; pg_port=$((port + 1)); rep_a=$((port + 2)); rep_b=$((port + 3))
start_relay sqlite "$sqlite_port"
start_relay postgres "$pg_port" "$(pg_db phiveil_bench_one)"
for ep in data-key presign; do
  for backend in sqlite postgres; do
    p=$sqlite_port; [ "$backend" = postgres ] && p=$pg_port
    login "$p"; body_for "$ep"
    log "wrk $ep on $backend: 2 threads, $conns connections, ${dur}s"
    wrk_run "$ep/$backend" 2 "$conns" "http://127.0.0.1:$p$path"
  done
done
kill "${pids[@]}" 2>/dev/null || true; wait 2>/dev/null || true; pids=()

# Two replicas on one PostgreSQL database, loaded at once (half the connections each).
url="$(pg_db phiveil_bench_two)"
start_relay replicas "$rep_a" "$url"
start_relay replicas "$rep_b" "$url"
login "$rep_a"; body_for data-key
log "wrk data-key on two PostgreSQL replicas at once: 1 thread, $((conns / 2)) connections each, ${dur}s"
wrk_run "data-key/replica-a" 1 $((conns / 2)) "http://127.0.0.1:$rep_a$path" &
w1=$!
wrk_run "data-key/replica-b" 1 $((conns / 2)) "http://127.0.0.1:$rep_b$path" &
w2=$!
wait "$w1" "$w2"

cat "$results".* > "$results"
python3 - "$results" <<'PY'
import sys
r = {}
for line in open(sys.argv[1]):
    label, rps, p99, bad = line.split()
    r[label] = (float(rps), float(p99), int(bad))
print()
print("| endpoint | SQLite req/s | PostgreSQL req/s | PostgreSQL / SQLite | SQLite p99 ms | PostgreSQL p99 ms |")
print("|---|---:|---:|---:|---:|---:|")
for ep in ("data-key", "presign"):
    s, p = r[f"{ep}/sqlite"], r[f"{ep}/postgres"]
    print(f"| {ep} | {s[0]:.0f} | {p[0]:.0f} | {p[0] / s[0]:.2f} | {s[1]:.1f} | {p[1]:.1f} |")
a, b = r["data-key/replica-a"], r["data-key/replica-b"]
one = r["data-key/postgres"][0]
print()
print(f"two PostgreSQL replicas, data-key: {a[0]:.0f} + {b[0]:.0f} = {a[0] + b[0]:.0f} req/s "
      f"({(a[0] + b[0]) / one:.2f}x one replica; p99 {a[1]:.1f} / {b[1]:.1f} ms)")
bad = sum(v[2] for v in r.values())
print(f"non-2xx responses in all runs: {bad}")
PY
