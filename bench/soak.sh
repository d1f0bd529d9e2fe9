#!/usr/bin/env bash
# Churn soak: subscribers connect, receive a few events and disconnect, over and over, while
# events are published at a steady rate; prints the hub's resident memory and open descriptors
# over time, for each store (each row on standard error as it is read, then the whole table).
# Not run by CI.
#
#   bench/soak.sh                               # 10 minutes with the disk store, then the memory store
#   SOAK_DURATION=2m SOAK_STORES=disk bench/soak.sh
#
# Settings (defaults in brackets):
#   SOAK_DURATION [10m]   how long each run churns
#   SOAK_STORES ["disk memory"]   one run per store, each on a fresh hub (and data directory)
#   SOAK_SUBS [500]       subscribers churning at once
#   SOAK_TRANSPORT [mixed]  sse, ws, long-poll, or mixed (each in turn)
#   SOAK_EVENTS [3]       events each connection receives before it disconnects
#   SOAK_RATE [50]        events published per second, SOAK_PAYLOAD [110] bytes each
#   SOAK_PUBLISHERS [16]  concurrent publishers (enough to hold the rate on a busy machine)
#   SOAK_SAMPLE [30s]     how often memory and descriptors are read
#   SOAK_HISTORY [3000]   --history-size and --cache-size of the hub
#   SOAK_OUT [a temporary directory]   where the JSON reports and the hub's logs go
#   HERALD_BIN            a herald binary to use instead of building target/release/herald
set -euo pipefail
cd "$(dirname "$0")/.."

DURATION=${SOAK_DURATION:-10m}
STORES=${SOAK_STORES:-disk memory}
SUBS=${SOAK_SUBS:-500}
TRANSPORT=${SOAK_TRANSPORT:-mixed}
EVENTS=${SOAK_EVENTS:-3}
RATE=${SOAK_RATE:-50}
PAYLOAD=${SOAK_PAYLOAD:-110}
PUBLISHERS=${SOAK_PUBLISHERS:-16}
SAMPLE=${SOAK_SAMPLE:-30s}
HISTORY=${SOAK_HISTORY:-3000}
OUT=${SOAK_OUT:-$(mktemp -d -t herald-soak.XXXXXX)}
mkdir -p "$OUT"

log() { echo "== $*" >&2; }

if [ -z "${HERALD_BIN:-}" ]; then
  log "building herald (release)"
  cargo build --release -p herald --locked >&2
  HERALD_BIN=${CARGO_TARGET_DIR:-target}/release/herald
fi

free_port() { # a loopback port nothing listens on now
  python3 -c 'import socket; s = socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])'
}

HUB_PID=
stop_hub() {
  if [ -n "$HUB_PID" ] && kill -0 "$HUB_PID" 2>/dev/null; then
    kill "$HUB_PID" && wait "$HUB_PID" 2>/dev/null || true
  fi
  HUB_PID=
}
trap stop_hub EXIT

ulimit -n "$(ulimit -Hn)" 2>/dev/null || true
for store in $STORES; do
  port=$(free_port)
  data=$(mktemp -d -t herald-soak-data.XXXXXX)
  log "$store store: $SUBS subscribers over $TRANSPORT for $DURATION, $RATE events/s (hub on port $port)"
  HERALD_LOG=warn "$HERALD_BIN" serve --addr "127.0.0.1:$port" --no-demo --store "$store" --data-dir "$data" \
    --history-size "$HISTORY" --cache-size "$HISTORY" >"$OUT/hub-$store.log" 2>&1 &
  HUB_PID=$!
  for _ in $(seq 100); do
    curl -fsS "http://127.0.0.1:$port/healthz" >/dev/null 2>&1 && break
    sleep 0.1
  done
  "$HERALD_BIN" bench --churn --duration "$DURATION" --sample-every "$SAMPLE" --url "http://127.0.0.1:$port" \
    -n "$SUBS" --transport "$TRANSPORT" --events-per-connection "$EVENTS" --rate "$RATE" \
    --payload-size "$PAYLOAD" --publishers "$PUBLISHERS" --pid "$HUB_PID" \
    --json "$OUT/soak-$store.json"
  stop_hub
  rm -rf "$data"
done
log "JSON reports and hub logs in $OUT"
