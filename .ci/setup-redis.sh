#!/usr/bin/env bash
# Debian's redis-server for the store's tests (tests/_redis.py starts it on a free loopback port with
# persistence off; nothing runs as a service). Run by .ci/run before the tests; a no-op when installed.
set -euo pipefail
if command -v redis-server >/dev/null 2>&1; then
  echo "redis-server already installed: $(redis-server --version)"
  exit 0
fi
SUDO=""
[ "$(id -u)" -eq 0 ] || SUDO="sudo"
export DEBIAN_FRONTEND=noninteractive
$SUDO apt-get update -qq
$SUDO apt-get install -y -qq --no-install-recommends redis-server >/dev/null
# The package may start a system service; the tests start their own servers and need none.
$SUDO systemctl disable --now redis-server >/dev/null 2>&1 || true
redis-server --version
