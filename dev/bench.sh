#!/usr/bin/env bash
# `make bench`: start a private Directus and directus-ircd on free loopback ports, run
# cmd/ircbench against them, print its table and JSON figures, and stop what it started.
#
#   dev/bench.sh [--quick] [--keep] [ircbench flags...]
#
#   --quick  fan-out up to 1,000 clients and shorter blocks (about 2 minutes in all)
#   --keep   keep the work directory (Directus data, daemon config and log) afterwards
#   other arguments go to ircbench, e.g. -phases latency -lat-msgs 500 (see bin/ircbench -h)
#
# Environment: BENCH_DIR (work directory, default a new one under ${TMPDIR:-/tmp}),
# DIRECTUS_ADMIN_EMAIL / DIRECTUS_ADMIN_PASSWORD (the template's admin, default
# admin@example.com / adminpass). Exit status: ircbench's (non-zero only when the harness
# failed, not when a target was missed), or 1 when Directus or the daemon did not start.
set -euo pipefail
here=$(cd "$(dirname "$0")/.." && pwd)
cd "$here"

quick=()
keep=0
pass=()
for a in "$@"; do
  case "$a" in
    --quick|-quick) quick=(-quick) ;;
    --keep) keep=1 ;;
    *) pass+=("$a") ;;
  esac
done

export DIRECTUS_ADMIN_EMAIL=${DIRECTUS_ADMIN_EMAIL:-admin@example.com}
export DIRECTUS_ADMIN_PASSWORD=${DIRECTUS_ADMIN_PASSWORD:-adminpass}
work=${BENCH_DIR:-$(mktemp -d "${TMPDIR:-/tmp}/directus-ircd-bench.XXXXXX")}
mkdir -p "$work"

log() { printf 'bench.sh: %s %s\n' "$(date +%T)" "$*" >&2; }

# free_port: a loopback TCP port nobody listens on (bounded number of tries).
free_port() {
  local p
  for _ in $(seq 1 100); do
    p=$((20000 + RANDOM % 12000))
    if [ -z "$(ss -Htln "sport = :$p" 2>/dev/null)" ]; then echo "$p"; return 0; fi
  done
  log "no free port found"; return 1
}

directus_port=$(free_port)
irc_port=$(free_port)
while [ "$irc_port" = "$directus_port" ]; do irc_port=$(free_port); done
health_port=$(free_port)
while [ "$health_port" = "$directus_port" ] || [ "$health_port" = "$irc_port" ]; do health_port=$(free_port); done
directus_url=http://127.0.0.1:$directus_port
daemon_pid=
bench_pid=
status=0

cleanup() {
  local rc=$?
  trap - EXIT INT TERM
  if [ -n "$bench_pid" ] && kill -0 "$bench_pid" 2>/dev/null; then
    kill -TERM "$bench_pid" 2>/dev/null || true
    wait "$bench_pid" 2>/dev/null || true
  fi
  if [ -n "$daemon_pid" ] && kill -0 "$daemon_pid" 2>/dev/null; then
    kill -TERM "$daemon_pid" 2>/dev/null || true
    for _ in $(seq 1 150); do kill -0 "$daemon_pid" 2>/dev/null || break; sleep 0.1; done
    if kill -0 "$daemon_pid" 2>/dev/null; then
      log "daemon (pid $daemon_pid) did not stop within 15 s; killing it"
      kill -KILL "$daemon_pid" 2>/dev/null || true
    fi
    wait "$daemon_pid" 2>/dev/null || true
  fi
  # dev/directus.sh's pid file names the subshell that started node, and its `stop` kills only
  # that subshell: node itself must be stopped too (found as that subshell's child).
  local dpid node_pids=""
  dpid=$(cat "$work/directus/run/pid" 2>/dev/null || true)
  [ -n "$dpid" ] && node_pids=$(pgrep -P "$dpid" 2>/dev/null || true)
  DIRECTUS_STATE_DIR="$work/directus" DIRECTUS_PORT="$directus_port" dev/directus.sh stop || true
  for p in $node_pids; do
    kill -TERM "$p" 2>/dev/null || true
    for _ in $(seq 1 100); do kill -0 "$p" 2>/dev/null || break; sleep 0.1; done
    kill -0 "$p" 2>/dev/null && kill -KILL "$p" 2>/dev/null || true
  done
  if [ "$keep" = 1 ] || [ "$rc" != 0 ]; then
    log "work directory kept: $work (daemon.log, directus/run/directus.log)"
  else
    rm -rf "$work"
  fi
  exit "$rc"
}
trap cleanup EXIT
trap 'exit 130' INT TERM

log "building bin/directus-ircd and bin/ircbench"
mkdir -p bin
go build -trimpath -o bin/directus-ircd ./cmd/directus-ircd
go build -trimpath -o bin/ircbench ./cmd/ircbench

log "starting a private Directus on $directus_url (state in $work/directus)"
DIRECTUS_STATE_DIR="$work/directus" DIRECTUS_PORT="$directus_port" dev/directus.sh start

log "provisioning it (directus-ircd setup)"
bin/directus-ircd setup -url "$directus_url" -config "$work/daemon.yaml" > "$work/setup.log" 2>&1 ||
  { cat "$work/setup.log" >&2; log "setup failed"; exit 1; }

# ircbench starts first: its event clock must be Directus's first subscription, so that
# Directus serves it before the daemon's and fan-out can be timed from the Directus event.
# Once the clock is subscribed it waits for the daemon (its /readyz, before subscribing its
# direct receiver, which must come after the daemon) and reads the daemon's /metrics.
log "starting ircbench ${quick[*]} ${pass[*]}"
rm -f "$work/ircbench.ready"
bin/ircbench -irc "127.0.0.1:$irc_port" -directus "$directus_url" -health "http://127.0.0.1:$health_port" \
  -ready-file "$work/ircbench.ready" \
  ${quick[@]+"${quick[@]}"} ${pass[@]+"${pass[@]}"} &
bench_pid=$!
for _ in $(seq 1 600); do
  [ -e "$work/ircbench.ready" ] && break
  kill -0 "$bench_pid" 2>/dev/null || break
  sleep 0.2
done
if [ ! -e "$work/ircbench.ready" ]; then
  wait "$bench_pid" 2>/dev/null || true
  bench_pid=
  log "ircbench did not get ready (see above)"; exit 1
fi

# The daemon: guests on (fan-out clients cost Directus nothing), no history replay on JOIN,
# flood control and per-IP limit out of the way, warnings only in the log. It needs one file
# descriptor per IRC client.
log "starting directus-ircd on 127.0.0.1:$irc_port"
(
  ulimit -Sn 20000 2>/dev/null || ulimit -Sn "$(ulimit -Hn)"
  exec env \
    DIRECTUS_IRCD_SERVER_LISTEN="127.0.0.1:$irc_port" \
    DIRECTUS_IRCD_HEALTH_LISTEN="127.0.0.1:$health_port" \
    DIRECTUS_IRCD_SERVER_MAX_CLIENTS=20000 \
    DIRECTUS_IRCD_SERVER_MAX_CLIENTS_PER_IP=20000 \
    DIRECTUS_IRCD_SERVER_FLOOD_RATE=100000 \
    DIRECTUS_IRCD_SERVER_FLOOD_BURST=100000 \
    DIRECTUS_IRCD_LOGIN_GUESTS=true \
    DIRECTUS_IRCD_LOGIN_GUESTS_MAY_POST=true \
    DIRECTUS_IRCD_CHANNEL_HISTORY=0 \
    DIRECTUS_IRCD_LOG_LEVEL=warn \
    DIRECTUS_IRCD_LOG_FORMAT=json \
    bin/directus-ircd run -config "$work/daemon.yaml"
) > "$work/daemon.log" 2>&1 &
daemon_pid=$!
log "daemon pid $daemon_pid"

wait "$bench_pid" || status=$?
bench_pid=

if ! kill -0 "$daemon_pid" 2>/dev/null; then
  log "the daemon died during the run; last log lines:"
  tail -20 "$work/daemon.log" >&2
  status=1
fi
if grep -q '"level":"error"' "$work/daemon.log" 2>/dev/null; then
  log "the daemon logged $(grep -c '"level":"error"' "$work/daemon.log") errors, e.g.:"
  grep '"level":"error"' "$work/daemon.log" | head -3 >&2
fi
exit "$status"
