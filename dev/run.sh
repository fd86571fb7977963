#!/usr/bin/env bash
# `make run`: a local Directus with demo users, the guide's web chat page, and the daemon in
# the foreground. Ctrl-C stops all three.
#   IRC_PORT (6667), DIRECTUS_PORT (8055), WEBCHAT_PORT (8080), DIRECTUS_STATE_DIR, RUN_DIR
set -euo pipefail
here=$(cd "$(dirname "$0")/.." && pwd)
cd "$here"
irc_port=${IRC_PORT:-6667}
export DIRECTUS_PORT=${DIRECTUS_PORT:-8055}
web_port=${WEBCHAT_PORT:-8080}
run_dir=${RUN_DIR:-$here/run}
directus_url=http://127.0.0.1:$DIRECTUS_PORT
mkdir -p "$run_dir" bin

web_pid=
daemon_pid=
status=0
# cleanup stops what this script started, the daemon first (it says goodbye to its IRC clients
# while Directus is still there), however the script ends: Ctrl-C, a TERM to this script
# alone (a supervisor, `kill`), or an error. It can run twice (stop request, then EXIT).
cleanup() {
  if [ -n "$daemon_pid" ]; then
    kill -TERM "$daemon_pid" 2>/dev/null || true
    wait "$daemon_pid" 2>/dev/null || status=$?
    daemon_pid=
  fi
  if [ -n "$web_pid" ]; then
    kill "$web_pid" 2>/dev/null || true
    web_pid=
  fi
  dev/directus.sh stop || true
}
trap cleanup EXIT
# A stop request is the normal end of `make run`: exit with the daemon's own status after its
# graceful shutdown (0), as when the daemon alone gets Ctrl-C.
trap 'cleanup; exit "$status"' INT TERM

dev/directus.sh start
# The daemon as `make build` builds it, stamped with the version and commit it logs at start.
make --no-print-directory build
go build -o bin/webchat ./examples/webchat

# setup keeps the bridge token in the config. The local daemon is the token's only user, so
# when the config is gone but Directus's state is not, setup may replace the token.
rotate=()
[ -f "$run_dir/directus-ircd.yaml" ] || rotate=(-rotate-token)
DIRECTUS_ADMIN_EMAIL=${DIRECTUS_ADMIN_EMAIL:-admin@example.com} \
DIRECTUS_ADMIN_PASSWORD=${DIRECTUS_ADMIN_PASSWORD:-adminpass} \
  bin/directus-ircd setup -url "$directus_url" -demo-users -config "$run_dir/directus-ircd.yaml" "${rotate[@]}"

bin/webchat -listen "127.0.0.1:$web_port" -directus "$directus_url" > "$run_dir/webchat.log" 2>&1 &
web_pid=$!

cat <<MSG

  directus-ircd is starting.
    IRC:       127.0.0.1:$irc_port  channel #chat   (no TLS)
    Web chat:  http://127.0.0.1:$web_port/   (log in as bob@example.com / bobpass)
    Directus:  $directus_url/admin             (admin@example.com / adminpass)
  Demo users: alice, bob, carol @example.com with passwords alicepass, bobpass, carolpass.

  WeeChat:  /server add local 127.0.0.1/$irc_port -sasl_mechanism=plain -sasl_username=alice -sasl_password=alicepass
            (WeeChat 4 also needs -notls: this server speaks plain TCP)
            /connect local      then   /join #chat
  irssi:    /connect 127.0.0.1 $irc_port alice:alicepass      then   /join #chat
  Ctrl-C stops the daemon, the web page server and Directus.

MSG
# In the background with `wait`, so that a signal to this script runs cleanup at once rather
# than after the daemon has exited on its own (which a TERM to the script alone never causes).
DIRECTUS_IRCD_SERVER_LISTEN=127.0.0.1:$irc_port DIRECTUS_IRCD_LOG_FORMAT=${DIRECTUS_IRCD_LOG_FORMAT:-console} \
  bin/directus-ircd run -config "$run_dir/directus-ircd.yaml" &
daemon_pid=$!
wait "$daemon_pid" || status=$?
daemon_pid=
exit "$status"
