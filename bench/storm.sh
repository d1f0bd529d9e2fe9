#!/usr/bin/env bash
# Reconnect storm through a restart: many SSE subscribers connected to a hub with the default
# disk store, one publisher sending at a steady rate, then the hub restarted the way a service
# manager does it (SIGTERM, wait for the process to end, start it again on the same port and
# data directory). Prints how long the subscribers took to be back (each one reconnecting as a
# browser's EventSource does, with Last-Event-ID), the failed attempts, what was lost or
# repeated, and the hub's peak CPU and memory. Not run by CI.
#
#   bench/storm.sh                           # 19,000 subscribers, the default drain (5 s)
#   STORM_DRAIN=0s bench/storm.sh            # every stream cut at once
#   STORM_SUBS=8000 STORM_ACCEPT_RATE=2000/s bench/storm.sh
#
# Settings (defaults in brackets):
#   STORM_SUBS [19000]      SSE subscribers (the hub and the load generator each need one
#                           descriptor per subscriber: mind `ulimit -n`)
#   STORM_DRAIN [5s]        the hub's --drain-period
#   STORM_ACCEPT_RATE []    the hub's --max-accept-rate, e.g. 2000/s (default: unlimited)
#   STORM_RATE [5]          messages published per second, before, through and after the restart
#   STORM_BEFORE [5s]       publishing before the restart
#   STORM_AFTER [30s]       publishing after the restart began
#   STORM_STORE [disk]      the hub's --store
#   STORM_OUT [a temporary directory]   where the JSON report and the hubs' logs go
#   HERALD_BIN              a herald binary to use instead of building target/release/herald
set -euo pipefail
cd "$(dirname "$0")/.."

SUBS=${STORM_SUBS:-19000}
DRAIN=${STORM_DRAIN:-5s}
ACCEPT_RATE=${STORM_ACCEPT_RATE:-}
RATE=${STORM_RATE:-5}
BEFORE=${STORM_BEFORE:-5s}
AFTER=${STORM_AFTER:-30s}
STORE=${STORM_STORE:-disk}
OUT=${STORM_OUT:-$(mktemp -d -t herald-storm.XXXXXX)}
mkdir -p "$OUT"

log() { echo "== $*" >&2; }

if [ -z "${HERALD_BIN:-}" ]; then
  log "building herald (release)"
  cargo build --release -p herald --locked >&2
  HERALD_BIN=$(realpath "${CARGO_TARGET_DIR:-target}/release/herald")
fi

data=$(mktemp -d -t herald-storm-data.XXXXXX)
limit=$((SUBS + 500))
args=(serve --no-demo --store "$STORE" --data-dir "$data" --max-connections "$limit"
  --max-connections-per-ip "$limit" --drain-period "$DRAIN" --dedup-window 5m)
if [ -n "$ACCEPT_RATE" ]; then args+=(--max-accept-rate "$ACCEPT_RATE"); fi
hubctl=$PWD/bench/hubctl.sh

finish() {
  "$hubctl" stop "$OUT" || true
  rm -rf "$data"
}
trap finish EXIT

ulimit -n "$(ulimit -Hn)" 2>/dev/null || true
"$hubctl" init "$OUT" "$HERALD_BIN" "${args[@]}"
"$hubctl" start "$OUT"
port=$(cat "$OUT/hub.port")
log "$SUBS SSE subscribers, $RATE msg/s, drain $DRAIN${ACCEPT_RATE:+, accept rate $ACCEPT_RATE}, $STORE store (hub on port $port)"
"$HERALD_BIN" bench --url "http://127.0.0.1:$port" -n "$SUBS" --rate "$RATE" --publishers 1 \
  --storm "$hubctl restart $OUT" --restart-after "$BEFORE" --duration "$AFTER" --pid-file "$OUT/hub.pid" \
  --sample-every 250ms --source-addrs 8 --connect-concurrency 500 --json "$OUT/storm.json"
log "JSON report and the hubs' logs in $OUT"
