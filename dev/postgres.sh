#!/usr/bin/env bash
# A PostgreSQL 15 private to this checkout, for Directus tests and development.
#
#   dev/postgres.sh install      install Debian's PostgreSQL 15 with apt if it is missing (as root, or with sudo)
#   dev/postgres.sh start        create the cluster (once) and start it on 127.0.0.1:$PG_PORT, wait until it accepts
#   dev/postgres.sh stop         stop it (pg_ctl stop on its own data directory)
#   dev/postgres.sh status       print whether it runs
#   dev/postgres.sh reset        stop it and wipe its data
#   dev/postgres.sh run CMD...   start it unless it runs, bootstrap Directus's template database, run CMD with
#                                DTEST_DB=postgres, and stop it again (also when CMD fails) if this call started it
#   dev/postgres.sh psql ARGS... psql as the cluster's superuser, on database postgres
#   dev/postgres.sh directus-env DATABASE   the DB_* lines of a Directus .env for DATABASE on this cluster
#
# The cluster lives in .directus/pg/ (data/, postgres.log, port, directus.env), listens on loopback TCP only (no Unix
# socket) and is tuned for tests (fsync off: a machine crash can lose it; `reset` and start again).
# PostgreSQL refuses to run as root, so under root the server runs as the `postgres` system user that
# Debian's package creates. The port is $PG_PORT, else the one recorded in .directus/pg/port, else a free
# port derived from the checkout's path (so checkouts side by side do not collide).
set -euo pipefail

here=$(cd "$(dirname "$0")/.." && pwd)
pg_bin=${PG_BIN:-/usr/lib/postgresql/15/bin}
pg_link=$here/.directus/pg
# resolve: the cluster's directory is .directus/pg, or where that links to (see place_pg_dir).
resolve() {
  pg_dir=$pg_link
  if [ -L "$pg_link" ]; then pg_dir=$(readlink -f "$pg_link"); fi
  data=$pg_dir/data
}
resolve
# The superuser Directus and the tests connect as; the cluster listens on loopback only.
pg_user=directus
pg_password=directus-ircd-dev

log() { printf 'postgres.sh: %s\n' "$*" >&2; }

# as_owner CMD...: run CMD as the user owning the cluster (postgres under root, else ourselves).
as_owner() {
  # From /: the postgres user may not be allowed into the working directory.
  if [ "$(id -u)" = 0 ]; then (cd / && runuser -u postgres -- "$@"); else "$@"; fi
}

install() {
  if [ -x "$pg_bin/postgres" ]; then return 0; fi
  local sudo=
  if [ "$(id -u)" != 0 ]; then
    command -v sudo >/dev/null || { log "PostgreSQL 15 is missing and installing it needs root: apt-get install postgresql-15"; exit 1; }
    sudo=sudo
  fi
  log "installing Debian's PostgreSQL 15 with apt"
  $sudo apt-get update -qq
  $sudo env DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends postgresql-15 >/dev/null
  [ -x "$pg_bin/postgres" ] || { log "apt-get install postgresql-15 did not provide $pg_bin/postgres"; exit 1; }
}

port_in_use() { (exec 3<>"/dev/tcp/127.0.0.1/$1") 2>/dev/null; }

# pick_port: $PG_PORT, the recorded port while it is free, or the first free one from a per-checkout base.
pick_port() {
  if [ -n "${PG_PORT:-}" ]; then echo "$PG_PORT"; return; fi
  if [ -f "$pg_dir/port" ] && ! port_in_use "$(cat "$pg_dir/port")"; then cat "$pg_dir/port"; return; fi
  # Below Linux's ephemeral range (32768+), where the tests' Directus ports come from.
  local base=$((25000 + $(printf '%s' "$here" | cksum | cut -d' ' -f1) % 5000)) p
  for p in $(seq "$base" $((base + 50))); do
    if ! port_in_use "$p"; then echo "$p"; return; fi
  done
  log "no free port in $base-$((base + 50)); set PG_PORT"
  exit 1
}

# place_pg_dir: under root the server runs as postgres, which must reach its directory; when it cannot
# reach the checkout (one under /root, say) the cluster lives in /tmp, linked from .directus/pg.
place_pg_dir() {
  if [ -e "$pg_link" ]; then return 0; fi
  mkdir -p "$here/.directus"
  if [ "$(id -u)" = 0 ] && ! runuser -u postgres -- test -x "$here/.directus"; then
    local alt
    alt=${TMPDIR:-/tmp}/directus-ircd-pg-$(printf '%s' "$here" | cksum | cut -d' ' -f1)
    mkdir -p "$alt"
    ln -sfn "$alt" "$pg_link"
    log "the postgres user cannot reach $here/.directus: the cluster lives in $alt"
  fi
  mkdir -p "$pg_link"
  resolve
}

init_cluster() {
  if [ -f "$data/PG_VERSION" ]; then return 0; fi
  place_pg_dir
  if [ "$(id -u)" = 0 ]; then
    chown postgres: "$pg_dir"
    runuser -u postgres -- test -w "$pg_dir" ||
      { log "the postgres user cannot write $pg_dir"; exit 1; }
  fi
  rm -rf "$data"
  local pwfile=$pg_dir/pwfile
  printf '%s\n' "$pg_password" > "$pwfile"
  [ "$(id -u)" = 0 ] && chown postgres: "$pwfile"
  log "creating the cluster in $data"
  as_owner "$pg_bin/initdb" -D "$data" -U "$pg_user" --pwfile="$pwfile" --auth-local=trust \
    --auth-host=scram-sha-256 --encoding=UTF8 --locale=C.UTF-8 > "$pg_dir/initdb.log" 2>&1 ||
    { rm -f "$pwfile"; cat "$pg_dir/initdb.log" >&2; exit 1; }
  rm -f "$pwfile"
  # Tests only: durability traded for speed; enough connections for a few Directus pools at once.
  cat >> "$data/postgresql.conf" <<'CONF'
listen_addresses = '127.0.0.1'
unix_socket_directories = ''
max_connections = 300
fsync = off
synchronous_commit = off
full_page_writes = off
CONF
}

running() { [ -f "$data/PG_VERSION" ] && as_owner "$pg_bin/pg_ctl" -D "$data" status >/dev/null 2>&1; }

start() {
  install
  init_cluster
  if running; then log "already running on port $(cat "$pg_dir/port")"; return 0; fi
  local port; port=$(pick_port)
  echo "$port" > "$pg_dir/port"
  write_conn
  # -w: wait until it accepts connections; -t: at most 60 s.
  as_owner "$pg_bin/pg_ctl" -D "$data" -l "$pg_dir/postgres.log" -o "-p $port" -w -t 60 start >/dev/null ||
    { tail -20 "$pg_dir/postgres.log" >&2; log "PostgreSQL did not start"; exit 1; }
  log "running on 127.0.0.1:$port (data $data, log $pg_dir/postgres.log)"
}

stop() {
  if running; then
    as_owner "$pg_bin/pg_ctl" -D "$data" -m fast -w -t 60 stop >/dev/null
    log "stopped"
  fi
}

psql_() {
  PGPASSWORD=$pg_password PGOPTIONS="-c client_min_messages=warning" "$pg_bin/psql" -X -q -v ON_ERROR_STOP=1 -h 127.0.0.1 -p "$(cat "$pg_dir/port")" \
    -U "$pg_user" -d postgres "$@"
}

# write_conn: how Directus reaches the cluster, as .env lines without DB_DATABASE; internal/dtest reads it.
write_conn() {
  cat > "$pg_dir/directus.env" <<ENV
DB_CLIENT=pg
DB_HOST=127.0.0.1
DB_PORT=$(cat "$pg_dir/port")
DB_USER=$pg_user
DB_PASSWORD=$pg_password
ENV
}

directus_env() { cat "$pg_dir/directus.env"; echo "DB_DATABASE=$1"; }

run() {
  if ! running; then
    start
    trap stop EXIT
    # Without these an interrupted run would exit without the EXIT trap on some shells' paths.
    trap 'exit 130' INT
    trap 'exit 143' TERM
  fi
  DIRECTUS_DB=postgres "$here/dev/directus.sh" template
  DTEST_DB=postgres "$@"
}

# main, called on the last line: bash has then read the whole file, so editing it during a long `run`
# (a git pull, say) cannot change what the running script does next.
main() {
  case "${1:-}" in
    install) install ;;
    start) start ;;
    stop) stop ;;
    status) if running; then echo "running port $(cat "$pg_dir/port")"; else echo stopped; exit 1; fi ;;
    reset) stop; rm -rf "$pg_dir" "$pg_link"; log "data wiped" ;;
    run) shift; [ $# -gt 0 ] || { echo "usage: $0 run CMD..." >&2; exit 2; }; run "$@" ;;
    psql) shift; psql_ "$@" ;;
    directus-env) [ -n "${2:-}" ] || { echo "usage: $0 directus-env DATABASE" >&2; exit 2; }; directus_env "$2" ;;
    *) echo "usage: $0 install|start|stop|status|reset|run CMD...|psql ARGS...|directus-env DATABASE" >&2; exit 2 ;;
  esac
}
main "$@"; exit
