#!/usr/bin/env bash
# Makes a headless browser available to the operator console's browser tests (tests/OrleansMigrate.Console.Tests):
# installs Debian's chromium with apt-get when /usr/bin/chromium is missing. Playwright launches that binary directly
# (its own browser download needs the internet). The tests never install it themselves: without it they are skipped,
# with the reason. Logs go to stderr.
#   tests/console/setup-chromium.sh
set -Eeuo pipefail
log() { echo "setup-chromium: $*" >&2; }
die() { log "$*"; exit 1; }

chromium=/usr/bin/chromium
if [ ! -x "$chromium" ]; then
    [ "$(id -u)" -eq 0 ] || die "missing $chromium and not root to apt-get install chromium"
    command -v apt-get >/dev/null || die "missing $chromium and apt-get is not available"
    log "installing chromium with apt-get"
    export DEBIAN_FRONTEND=noninteractive
    # A fresh machine has no package lists; update once, then install (bounded: the mirror is local).
    timeout 600 apt-get update -qq >&2 || die "apt-get update failed"
    timeout 900 apt-get install -y -qq --no-install-recommends chromium >&2 || die "apt-get install chromium failed"
fi
"$chromium" --version >&2 || die "$chromium does not run"
