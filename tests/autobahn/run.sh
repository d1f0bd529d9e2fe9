#!/usr/bin/env bash
# Runs the Autobahn WebSocket conformance cases (1-7, 9, 10, 12, 13: framing, pings, reserved
# bits, opcodes, fragmentation, UTF-8, closing, limits and performance, misc, and
# permessage-deflate with each parameter offer) against the echo endpoint of the hub's WebSocket
# stack, with the kosoku runner (the Autobahn case files on Python 3). Fails on any case that
# does not pass. The venv and the reports (autobahn-reports/) go to the cargo target directory
# ($CARGO_TARGET_DIR, else target/). AUTOBAHN_CASES overrides the case list (e.g. "12.1.* 13.3.*").
set -euo pipefail
cd "$(dirname "$0")/../.."

target=${CARGO_TARGET_DIR:-target}
venv=$target/autobahn-venv
if [ ! -x "$venv/bin/kosoku" ]; then
  python3 -m venv "$venv"
  "$venv/bin/pip" install --quiet --disable-pip-version-check kosoku==0.1.0
fi

binary=${HERALD_BIN:-$target/debug/herald}
log=$(mktemp)
"$binary" serve --addr 127.0.0.1:0 --store memory --no-demo-clock --ws-echo >"$log" 2>&1 &
hub=$!
trap 'kill "$hub" 2>/dev/null || true; rm -f "$log"' EXIT
for _ in $(seq 100); do
  grep -q "listening on" "$log" && break
  sleep 0.1
done
address=$(grep -o 'http://[0-9.:]*' "$log" | head -n 1 | sed 's|http://||')
[ -n "$address" ] || { echo "the hub did not start:"; cat "$log"; exit 1; }

report=$target/autobahn-reports
rm -rf "$report"
cases=()
read -ra patterns <<<"${AUTOBAHN_CASES:-1.* 2.* 3.* 4.* 5.* 6.* 7.* 9.* 10.* 12.* 13.*}"
for c in "${patterns[@]}"; do cases+=(-i "$c"); done
if "$venv/bin/kosoku" -m fuzzingclient "${cases[@]}" -p 2 -o "$report" "ws://$address/ws-echo" >"$report.txt" 2>&1; then
  tail -n 1 "$report.txt"
else
  grep -v 'behavior=OK, behaviorClose=OK' "$report.txt" || true
  echo "Autobahn cases failed; reports in $report/"
  exit 1
fi
