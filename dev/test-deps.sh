#!/usr/bin/env bash
# Installs what the test suite needs beyond Go: Debian's weechat-headless (terminal-client test),
# systemd-analyze (checks the shipped unit),
# chromium (browser test), and playwright-core from npm (drives chromium). Idempotent and quiet
# when everything is present.
set -euo pipefail
here=$(cd "$(dirname "$0")/.." && pwd)

need=()
command -v weechat-headless >/dev/null || need+=(weechat-headless)
command -v chromium >/dev/null || need+=(chromium)
command -v tmux >/dev/null || need+=(tmux)
command -v curl >/dev/null || need+=(curl)
command -v systemd-analyze >/dev/null || need+=(systemd)
if [ ${#need[@]} -gt 0 ]; then
  echo "test-deps.sh: installing Debian packages: ${need[*]}" >&2
  if [ "$(id -u)" -ne 0 ]; then sudo=sudo; else sudo=; fi
  $sudo apt-get update -qq
  DEBIAN_FRONTEND=noninteractive $sudo apt-get install -y -qq --no-install-recommends "${need[@]}" >/dev/null
fi

# playwright-core for the browser test, installed beside the test (examples/webchat/test).
pw=$here/examples/webchat/test
if [ -f "$pw/package.json" ] && [ ! -d "$pw/node_modules/playwright-core" ]; then
  echo "test-deps.sh: installing playwright-core" >&2
  (cd "$pw" && npm install --no-audit --no-fund --loglevel=error)
fi
