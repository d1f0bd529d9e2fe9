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
#   STORM_RATE [20]         messages published per second, before, through and after the restart
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
RATE=${STORM_RATE:-20}
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
pid_file="$OUT/hub.pid"
limit=$((SUBS + 500))
port_file="$OUT/hub.port"
args=(serve --no-demo --store "$STORE" --data-dir "$data"
  --max-connections "$limit" --max-connections-per-ip "$limit" --drain-period "$DRAIN" --dedup-window 5m)
if [ -n "$ACCEPT_RATE" ]; then args+=(--max-accept-rate "$ACCEPT_RATE"); fi

# The restart, as its own script: the load generator runs it once every subscriber is connected.
# The first start takes a free port (the hub picks it and prints it), every later one the same.
# The hub is started detached (its parent exits at once), so that it can be waited for by pid.
cat >"$OUT/restart.sh" <<EOF
#!/usr/bin/env bash
set -euo pipefail
start() {
  local port=0 log
  if [ -s "$port_file" ]; then port=\$(cat "$port_file"); fi
  log="$OUT/hub-\$(date +%s%N).log"
  ( ulimit -n "\$(ulimit -Hn)"; HERALD_LOG=warn exec "$HERALD_BIN" ${args[*]@Q} --addr "127.0.0.1:\$port" >"\$log" 2>&1 ) &
  echo \$! >"$pid_file"
  for _ in \$(seq 300); do
    if [ "\$port" = 0 ]; then
      port=\$(sed -n 's|^Herald listening on http://127.0.0.1:\([0-9]*\)/.*|\1|p' "\$log")
      port=\${port:-0}
    fi
    if [ "\$port" != 0 ] && curl -fsS "http://127.0.0.1:\$port/healthz" >/dev/null 2>&1; then
      echo "\$port" >"$port_file"
      return 0
    fi
    sleep 0.05
  done
  echo "the hub did not start; its log (\$log) ends with:" >&2
  tail -5 "\$log" >&2
  return 1
}
alive() { [ -e "/proc/\$1" ] && [ "\$(awk '{print \$3}' "/proc/\$1/stat" 2>/dev/null)" != Z ]; }
if [ "\${1:-}" = start ]; then start; exit; fi
old=\$(cat "$pid_file")
kill -TERM "\$old"
while alive "\$old"; do sleep 0.02; done
start
EOF
chmod +x "$OUT/restart.sh"

stop_hub() {
  if [ -f "$pid_file" ]; then kill "$(cat "$pid_file")" 2>/dev/null || true; fi
  rm -rf "$data"
}
trap stop_hub EXIT

ulimit -n "$(ulimit -Hn)" 2>/dev/null || true
"$OUT/restart.sh" start
log "$SUBS SSE subscribers, $RATE msg/s, drain $DRAIN${ACCEPT_RATE:+, accept rate $ACCEPT_RATE}, $STORE store (hub on port $(cat "$port_file"))"
"$HERALD_BIN" bench --url "http://127.0.0.1:$(cat "$port_file")" -n "$SUBS" --rate "$RATE" --publishers 1 \
  --storm "$OUT/restart.sh" --restart-after "$BEFORE" --duration "$AFTER" --pid-file "$pid_file" \
  --sample-every 250ms --source-addrs 8 --connect-concurrency 500 --json "$OUT/storm.json"
log "JSON report and the hubs' logs in $OUT"
