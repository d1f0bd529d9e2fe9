#!/usr/bin/env bash
# Peer comparison: the same scenarios against Herald, nginx+nchan and Pushpin, in one run, on
# loopback. Writes bench/RESULTS.md (tables) and bench/results.jsonl (every figure).
#
#   sudo bench/run.sh                      # the full run (about half an hour on 2 cores)
#   BENCH_QUICK=1 bench/run.sh             # the same scenarios at a tenth of the size
#
# It installs nginx, libnginx-mod-nchan, pushpin and zurl with apt-get when missing, builds
# herald in release mode, and starts every server itself (configurations from bench/nchan and
# bench/pushpin, written into a temporary directory) on free loopback ports, restarting each
# one before every scenario so memory figures start from a fresh process.
#
# Scenario sizes (defaults in brackets; BENCH_QUICK=1 divides the subscriber and message counts
# by 10):
#   BENCH_BURST_SUBS [10000]  BENCH_BURST_MESSAGES [500]     (a) one topic, burst
#   BENCH_RATE_SUBS [5000]    BENCH_RATE [100] BENCH_RATE_SECONDS [10]   (b) one topic, paced
#   BENCH_IDLE_SUBS [10000]                                  (c) idle connections, memory only
#   BENCH_TOPICS [1000] BENCH_SUBS_PER_TOPIC [10] BENCH_TOPIC_MESSAGES [10000]   (d) many topics
#   BENCH_PUBLISHERS [4]      concurrent publishers in bursts
#   BENCH_PEERS ["herald herald-disk nchan pushpin"]  BENCH_TRANSPORTS ["sse ws long-poll"]
#   (long-poll runs against Herald only: the peers' long-polling differs in kind.)
set -euo pipefail
cd "$(dirname "$0")/.."
ROOT=$PWD

quick=${BENCH_QUICK:-0}
scale() { if [ "$quick" = 1 ]; then echo $(($1 / 10)); else echo "$1"; fi; }
BURST_SUBS=${BENCH_BURST_SUBS:-$(scale 10000)}
BURST_MESSAGES=${BENCH_BURST_MESSAGES:-$(scale 500)}
RATE_SUBS=${BENCH_RATE_SUBS:-$(scale 5000)}
RATE=${BENCH_RATE:-100}
RATE_SECONDS=${BENCH_RATE_SECONDS:-10}
IDLE_SUBS=${BENCH_IDLE_SUBS:-$(scale 10000)}
TOPICS=${BENCH_TOPICS:-$(scale 1000)}
SUBS_PER_TOPIC=${BENCH_SUBS_PER_TOPIC:-10}
TOPIC_MESSAGES=${BENCH_TOPIC_MESSAGES:-$(scale 10000)}
PUBLISHERS=${BENCH_PUBLISHERS:-4}
PEERS=${BENCH_PEERS:-herald herald-disk nchan pushpin}
TRANSPORTS=${BENCH_TRANSPORTS:-sse ws long-poll}


log() { echo "== $*" >&2; }

free_port() { # a loopback port nothing listens on now
  python3 -c 'import socket; s = socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])'
}

install_peers() {
  local missing=()
  command -v nginx >/dev/null || missing+=(nginx)
  [ -e /usr/lib/nginx/modules/ngx_nchan_module.so ] || missing+=(libnginx-mod-nchan)
  command -v pushpin >/dev/null || missing+=(pushpin)
  command -v zurl >/dev/null || missing+=(zurl)
  command -v curl >/dev/null || missing+=(curl)
  command -v python3 >/dev/null || missing+=(python3)
  if [ ${#missing[@]} -gt 0 ]; then
    log "installing ${missing[*]}"
    apt-get update -q
    # Install only; the packages' own services are not started.
    DEBIAN_FRONTEND=noninteractive RUNLEVEL=1 apt-get install -y -q "${missing[@]}"
  fi
}

TMP=$(mktemp -d /tmp/herald-bench.XXXXXX)
SERVER_PID=""
CHILD_PIDS=""
STOP_SIGNAL=TERM
ORIGIN_PID=""

stop_server() {
  if [ -n "$SERVER_PID" ] && kill -0 "$SERVER_PID" 2>/dev/null; then
    kill -"$STOP_SIGNAL" "$SERVER_PID" 2>/dev/null || true
    for _ in $(seq 1 100); do kill -0 "$SERVER_PID" 2>/dev/null || break; sleep 0.1; done
    kill -KILL "$SERVER_PID" 2>/dev/null || true
    wait "$SERVER_PID" 2>/dev/null || true
  fi
  # Services a runner started, should they outlive it.
  for pid in $CHILD_PIDS; do
    if grep -qaE 'nginx|condure|zurl|pushpin' "/proc/$pid/cmdline" 2>/dev/null; then kill -KILL "$pid" || true; fi
  done
  SERVER_PID=""
  CHILD_PIDS=""
}

cleanup() {
  stop_server
  if [ -n "$ORIGIN_PID" ]; then kill "$ORIGIN_PID" 2>/dev/null || true; wait "$ORIGIN_PID" 2>/dev/null || true; fi
  rm -rf "$TMP"
}
trap cleanup EXIT

wait_for() { # URL: until it answers
  for _ in $(seq 1 200); do
    if curl -s -o /dev/null -m 1 "$1"; then return 0; fi
    sleep 0.1
  done
  echo "no answer from $1" >&2
  return 1
}

# Waits until SERVER_PID has $1 child processes (nginx's workers, Pushpin's services); sets
# CHILD_PIDS, and PIDS to the --pid flags of the server and its children.
children() {
  for _ in $(seq 1 100); do
    CHILD_PIDS=$(pgrep -P "$SERVER_PID" | tr '\n' ' ' || true)
    [ "$(echo "$CHILD_PIDS" | wc -w)" -ge "$1" ] && break
    sleep 0.1
  done
  PIDS="--pid $SERVER_PID $(for p in $CHILD_PIDS; do echo "--pid $p"; done | tr '\n' ' ')"
}

# Starts peer $1; sets SERVER_PID, PIDS (the --pid flags) and TARGET_FLAGS.
start_server() {
  local peer=$1 dir="$TMP/$1" port
  port=$(free_port)
  rm -rf "$dir" && mkdir -p "$dir"
  STOP_SIGNAL=TERM
  case $peer in
    herald | herald-disk)
      local store=(--store memory)
      [ "$peer" = herald-disk ] && store=(--store disk --data-dir "$dir/data")
      # Connection limits raised above the scenarios' sizes (defaults: 10,000, and 256 per address).
      HERALD_LOG=warn "$ROOT/target/release/herald" serve --addr "127.0.0.1:$port" --no-demo-clock \
        "${store[@]}" --max-connections 30000 --max-connections-per-ip 30000 >"$dir/out.log" 2>&1 &
      SERVER_PID=$!
      wait_for "http://127.0.0.1:$port/healthz"
      PIDS="--pid $SERVER_PID"
      TARGET_FLAGS=(--target herald --url "http://127.0.0.1:$port")
      ;;
    nchan)
      sed -e "s|@DIR@|$dir|g" -e "s|@PORT@|$port|g" bench/nchan/nginx.conf >"$dir/nginx.conf"
      nginx -c "$dir/nginx.conf" -e "$dir/error.log" >"$dir/out.log" 2>&1 &
      SERVER_PID=$!
      wait_for "http://127.0.0.1:$port/"
      children 2
      TARGET_FLAGS=(--target nchan --url "http://127.0.0.1:$port")
      ;;
    pushpin)
      local control
      control=$(free_port)
      mkdir -p "$dir/run" "$dir/log"
      sed -e "s|@DIR@|$dir|g" -e "s|@PORT@|$port|g" -e "s|@CONTROL_PORT@|$control|g" \
        bench/pushpin/pushpin.conf >"$dir/pushpin.conf"
      sed -e "s|@ORIGIN_PORT@|$ORIGIN_PORT|g" bench/pushpin/routes >"$dir/routes"
      (cd "$dir" && exec pushpin --config "$dir/pushpin.conf") >"$dir/out.log" 2>&1 &
      SERVER_PID=$!
      STOP_SIGNAL=INT # the runner stops its services on SIGINT
      wait_for "http://127.0.0.1:$control/"
      wait_for "http://127.0.0.1:$port/"
      sleep 1
      # The runner and its services (condure, zurl, pushpin-proxy, pushpin-handler).
      children 4
      # Fewer connections at once: the proxy answers 502 when the origin falls behind.
      TARGET_FLAGS=(--target pushpin --url "http://127.0.0.1:$port" --control "http://127.0.0.1:$control"
        --connect-concurrency 50)
      ;;
    *) echo "unknown peer $peer" >&2; return 1 ;;
  esac
  if ! kill -0 "$SERVER_PID" 2>/dev/null; then
    echo "$peer did not start:" >&2
    cat "$dir"/*.log >&2 || true
    return 1
  fi
}

# run_scenario NAME TRANSPORT FLAGS...: against every peer, each freshly started.
run_scenario() {
  local name=$1 transport=$2
  shift 2
  for peer in $PEERS; do
    if [ "$transport" = long-poll ] && [[ $peer != herald* ]]; then continue; fi
    log "$name / $transport / $peer"
    local out="$TMP/$name-$transport-$peer.json"
    if ! start_server "$peer"; then
      echo '{"error": "the server did not start"}' >"$out"
    # shellcheck disable=SC2086 # PIDS is a list of flags
    elif ! "$ROOT/target/release/herald" bench "${TARGET_FLAGS[@]}" --transport "$transport" $PIDS \
      --source-addrs 8 --no-progress --json "$out" "$@" >&2; then
      echo '{"error": "the load generator failed"}' >"$out"
    fi
    python3 - "$name" "$peer" "$transport" "$out" >>"$RESULTS_JSONL" <<'EOF'
import json, sys
name, peer, transport, path = sys.argv[1:5]
record = json.load(open(path))
record.update(scenario=name, peer=peer, transport=transport)
print(json.dumps(record))
EOF
    stop_server
    sleep 2
  done
}

install_peers
LOAD_BEFORE=$(cut -d' ' -f1-3 /proc/loadavg)
ulimit -n "$(ulimit -Hn)"
log "building herald (release)"
cargo build --release -p herald --locked >&2

ORIGIN_PORT=$(free_port)
python3 bench/pushpin/origin.py "$ORIGIN_PORT" &
ORIGIN_PID=$!

RESULTS_JSONL="$TMP/results.jsonl"
: >"$RESULTS_JSONL"
RATE_MESSAGES=$((RATE * RATE_SECONDS))
for transport in $TRANSPORTS; do
  run_scenario burst "$transport" -n "$BURST_SUBS" -m "$BURST_MESSAGES" --publishers "$PUBLISHERS"
  run_scenario rate "$transport" -n "$RATE_SUBS" -m "$RATE_MESSAGES" --rate "$RATE" --publishers "$PUBLISHERS"
  run_scenario idle "$transport" -n "$IDLE_SUBS" --idle
  run_scenario topics "$transport" -n $((TOPICS * SUBS_PER_TOPIC)) --topics "$TOPICS" -m "$TOPIC_MESSAGES" \
    --publishers "$PUBLISHERS"
done

cp "$RESULTS_JSONL" bench/results.jsonl
versions() {
  echo "herald $(git -C "$ROOT" rev-parse --short HEAD) ($("$ROOT/target/release/herald" --version), $(rustc --version))"
  nginx -v 2>&1
  dpkg-query -W -f='${Package} ${Version}\n' libnginx-mod-nchan pushpin condure zurl 2>/dev/null
}
python3 bench/results_md.py bench/results.jsonl \
  --cpu "$(grep -m1 'model name' /proc/cpuinfo | cut -d: -f2- | sed 's/^ //')" \
  --cores "$(nproc)" --kernel "$(uname -sr)" --os "$(. /etc/os-release && echo "$PRETTY_NAME")" \
  --versions "$(versions)" --load-before "$LOAD_BEFORE" --load-after "$(cut -d' ' -f1-3 /proc/loadavg)" \
  --sizes "burst: $BURST_SUBS subscribers, $BURST_MESSAGES messages; rate: $RATE_SUBS subscribers, $RATE msg/s for ${RATE_SECONDS} s; idle: $IDLE_SUBS; topics: $TOPICS × $SUBS_PER_TOPIC subscribers, $TOPIC_MESSAGES messages; $PUBLISHERS publishers" \
  >bench/RESULTS.md
log "wrote bench/RESULTS.md and bench/results.jsonl"
