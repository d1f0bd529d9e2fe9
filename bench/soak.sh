#!/usr/bin/env bash
# Soak and chaos: subscribers connect, receive a few events and disconnect, over and over, on
# every transport, while events are published at a steady rate; prints the hub's resident
# memory and open descriptors over time, for each store (each row on standard error as it is
# read, then the whole table). With SOAK_CRASH_EVERY, the hub is also killed with SIGKILL at
# random moments and started again, while a second load checks that nothing is lost: SSE
# subscribers that resume with Last-Event-ID and publishers that retry each event, with an id,
# until it is acknowledged (the hub deduplicates them); it reports the crashes, every event lost
# or repeated, and how long subscribers took to be back. Not run by CI.
#
#   bench/soak.sh                                   # 10 minutes with the disk store, then memory
#   SOAK_DURATION=60m SOAK_STORES=disk bench/soak.sh
#   SOAK_DURATION=60m SOAK_STORES=disk SOAK_CRASH_EVERY=120 bench/soak.sh   # chaos
#
# Settings (defaults in brackets):
#   SOAK_DURATION [10m]   how long each run churns (s, m or h)
#   SOAK_STORES ["disk memory"]   one run per store, each on a fresh hub (and data directory)
#   SOAK_SUBS [500]       subscribers churning at once
#   SOAK_TRANSPORT [mixed]  sse, ws, long-poll, or mixed (each in turn)
#   SOAK_EVENTS [3]       events each connection receives before it disconnects
#   SOAK_RATE [50]        events published per second, SOAK_PAYLOAD [110] bytes each
#   SOAK_PUBLISHERS [16]  concurrent publishers (enough to hold the rate on a busy machine)
#   SOAK_SAMPLE [30s]     how often memory and descriptors are read
#   SOAK_HISTORY [3000]   --history-size and --cache-size of the hub
#   SOAK_CRASH_EVERY []   mean seconds between SIGKILLs (each 0.5 to 1.5 times it); unset: none
#   SOAK_VERIFY_SUBS [100]  resuming SSE subscribers that check every event (with crashes)
#   SOAK_VERIFY_RATE [20]   events per second they check, from 4 retrying publishers
#   SOAK_OUT [a temporary directory]   where the JSON reports and the hubs' logs go
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
CRASH_EVERY=${SOAK_CRASH_EVERY:-}
VERIFY_SUBS=${SOAK_VERIFY_SUBS:-100}
VERIFY_RATE=${SOAK_VERIFY_RATE:-20}
OUT=${SOAK_OUT:-$(mktemp -d -t herald-soak.XXXXXX)}
mkdir -p "$OUT"

log() { echo "== $*" >&2; }

seconds() { # 90s, 10m, 2h -> seconds
  case $1 in
    *h) echo $((${1%h} * 3600)) ;;
    *m) echo $((${1%m} * 60)) ;;
    *s) echo "${1%s}" ;;
    *) echo "$1" ;;
  esac
}

if [ -z "${HERALD_BIN:-}" ]; then
  log "building herald (release)"
  cargo build --release -p herald --locked >&2
  HERALD_BIN=$(realpath "${CARGO_TARGET_DIR:-target}/release/herald")
fi
hubctl=$PWD/bench/hubctl.sh

data=
state=
finish() {
  if [ -n "$state" ]; then "$hubctl" stop "$state" || true; fi
  if [ -n "$data" ]; then rm -rf "$data"; fi
  state=
  data=
}
trap finish EXIT

ulimit -n "$(ulimit -Hn)" 2>/dev/null || true
for store in $STORES; do
  data=$(mktemp -d -t herald-soak-data.XXXXXX)
  state="$OUT/$store"
  "$hubctl" init "$state" "$HERALD_BIN" serve --no-demo --store "$store" --data-dir "$data" \
    --history-size "$HISTORY" --cache-size "$HISTORY" --dedup-window 10m
  "$hubctl" start "$state"
  port=$(cat "$state/hub.port")
  log "$store store: $SUBS subscribers over $TRANSPORT for $DURATION, $RATE events/s (hub on port $port)${CRASH_EVERY:+, SIGKILL about every ${CRASH_EVERY}s}"

  verifier=
  if [ -n "$CRASH_EVERY" ]; then
    # The crashes, run by the verifying load as its "restart": until shortly before the end.
    cat >"$state/crashes.sh" <<EOF
#!/usr/bin/env bash
set -euo pipefail
deadline=\$((\$(date +%s) + $(seconds "$DURATION") - 15))
crashes=0
while :; do
  pause=\$(( $CRASH_EVERY / 2 + RANDOM % ($CRASH_EVERY + 1) ))
  [ \$((\$(date +%s) + pause)) -lt "\$deadline" ] || break
  sleep "\$pause"
  "$hubctl" crash "$state"
  crashes=\$((crashes + 1))
  echo "\$crashes" >"$state/crashes"
  echo "== \$(date +%T) crash \$crashes: hub killed and started again" >&2
done
EOF
    chmod +x "$state/crashes.sh"
    echo 0 >"$state/crashes"
    "$HERALD_BIN" bench --url "http://127.0.0.1:$port" -n "$VERIFY_SUBS" --rate "$VERIFY_RATE" --publishers 4 \
      --topic-prefix verify- --storm "$state/crashes.sh" --restart-after 5s --duration "$DURATION" --pid-file "$state/hub.pid" \
      --sample-every 5s --no-progress --json "$state/verify.json" >"$state/verify.txt" 2>&1 &
    verifier=$!
  fi

  "$HERALD_BIN" bench --churn --duration "$DURATION" --sample-every "$SAMPLE" --url "http://127.0.0.1:$port" \
    -n "$SUBS" --transport "$TRANSPORT" --events-per-connection "$EVENTS" --rate "$RATE" \
    --payload-size "$PAYLOAD" --publishers "$PUBLISHERS" --pid-file "$state/hub.pid" \
    --json "$OUT/soak-$store.json"

  if [ -n "$verifier" ]; then
    status=0
    wait "$verifier" || status=$?
    log "$store store: $(cat "$state/crashes") crashes; what the resuming subscribers saw:"
    cat "$state/verify.txt"
    if [ "$status" != 0 ]; then log "the verifying load failed (status $status)"; fi
  fi
  finish
done
log "JSON reports and the hubs' logs in $OUT"
