#!/usr/bin/env bash
# A private PostgreSQL server for the tests, on 127.0.0.1 only (Debian's postgresql,
# installed by setup.sh). Usage: pg.sh start | stop | url
set -euo pipefail
source "$(dirname "$0")/env.sh"
port="${PHIVEIL_PG_PORT:-55432}"
# Outside $HOME: the postgres user cannot enter /root.
pgdir="${PHIVEIL_PG_DIR:-/var/tmp/phiveil-pg}"
data="$pgdir/data"
bin="$(ls -d /usr/lib/postgresql/*/bin 2>/dev/null | sort -V | tail -1)"
[ -n "$bin" ] || { echo "postgresql is not installed (scripts/setup.sh installs it)" >&2; exit 1; }
# initdb and postgres refuse to run as root: run them as the postgres user.
as_pg() { if [ "$(id -u)" = 0 ]; then runuser -u postgres -- "$@"; else "$@"; fi; }
case "${1:-start}" in
  start)
    mkdir -p "$pgdir"
    if [ "$(id -u)" = 0 ]; then chown postgres "$pgdir"; fi
    if [ ! -f "$data/PG_VERSION" ]; then
      as_pg "$bin/initdb" -D "$data" -U postgres --auth=trust -E UTF8 >/dev/null
    fi
    if ! as_pg "$bin/pg_ctl" -D "$data" status >/dev/null 2>&1; then
      as_pg "$bin/pg_ctl" -D "$data" -l "$pgdir/log" -w \
        -o "-c listen_addresses=127.0.0.1 -p $port -k /tmp -c fsync=off -c max_connections=200" start >/dev/null
    fi
    echo "postgres://postgres@127.0.0.1:$port/postgres"
    ;;
  stop)
    as_pg "$bin/pg_ctl" -D "$data" -m fast stop >/dev/null 2>&1 || true
    ;;
  url)
    echo "postgres://postgres@127.0.0.1:$port/postgres"
    ;;
esac
