#!/usr/bin/env bash
# Headless Chromium and its driver (Debian's packages) for the gallery's browser tests
# (tests/test_gallery_browser.py). Run by .ci/run before the tests; a no-op when both are installed.
set -euo pipefail
if command -v chromium >/dev/null 2>&1 && command -v chromedriver >/dev/null 2>&1; then
  echo "chromium and chromedriver already installed"
  exit 0
fi
SUDO=""
[ "$(id -u)" -eq 0 ] || SUDO="sudo"
export DEBIAN_FRONTEND=noninteractive
$SUDO apt-get update -qq
$SUDO apt-get install -y -qq chromium chromium-driver fonts-dejavu-core >/dev/null
command -v chromium chromedriver
