#!/usr/bin/env bash
# The poker table with a crowd: `herald bench --watch` holds 5,000 SSE spectators on the demo
# table's topic for 30 s while its bots play (pace 50 ms: a few dozen events a second), checks
# that each one received every event once and in order, and a spectator page in headless
# Chromium must keep up meanwhile (tests/js/poker-load.test.mjs does the work; the same test runs
# in the suite with 300 spectators for 5 s). Prints the bench's figures (JSON).
#
#   bench/poker.sh
#   POKER_SPECTATORS=10000 POKER_SECONDS=60 POKER_PACE=20ms bench/poker.sh
#
# Needs Node.js with tests/js's packages installed (npm ci there) and Chromium; builds herald in
# release mode into CARGO_TARGET_DIR (target/ by default), or runs HERALD_BIN. Loopback only.
set -euo pipefail
cd "$(dirname "$0")/.."

target=${CARGO_TARGET_DIR:-target}
case "$target" in /*) ;; *) target=$PWD/$target ;; esac
if [ -z "${HERALD_BIN:-}" ]; then
  cargo build --release -p herald --locked >/dev/null
  HERALD_BIN=$target/release/herald
fi
export HERALD_BIN
export POKER_SPECTATORS=${POKER_SPECTATORS:-5000} POKER_SECONDS=${POKER_SECONDS:-30} POKER_PACE=${POKER_PACE:-50ms}
(cd tests/js && node --test poker-load.test.mjs)
cat tests/js/artifacts/poker-load.json
