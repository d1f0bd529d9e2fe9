#!/usr/bin/env bash
# Peer comparison: the same scenarios against Herald (memory and disk store), nginx+nchan and a
# naive axum hub (bench/naive-hub), optionally Pushpin, in one run, on loopback; and Herald's
# Bayeux against Faye's own Node.js server (bench/faye). Writes
# RESULTS.md (tables), results.jsonl (every figure) and charts/*.png (the cost curves) into
# bench/, or into BENCH_OUT.
#
#   sudo bench/run.sh                                  # the full run (40 to 60 minutes on 2 cores)
#   BENCH_QUICK=1 BENCH_OUT=/tmp/q bench/run.sh        # every scenario at a tenth of the size
#   BENCH_SCENARIOS="burst-seq curve-subs" BENCH_PEERS="herald axum" bench/run.sh   # a selection
#   BENCH_SCENARIOS=bayeux bench/run.sh                # Herald's Bayeux against Faye only
#
# It installs nginx and libnginx-mod-nchan (and pushpin and zurl, when BENCH_PEERS names
# pushpin) with apt-get when missing, builds herald and naive-hub in release mode (into
# CARGO_TARGET_DIR, by default target/), and starts every server itself (configurations from
# bench/nchan and bench/pushpin, written into a temporary directory) on free loopback ports,
# restarting each one before every run so memory figures start from a fresh process. The Bayeux
# scenario needs Node.js (installed with apt-get when missing) and installs the Faye server's
# npm dependencies with `npm ci` in bench/faye when its node_modules is missing. The charts
# are drawn by bench/charts.py with matplotlib, which it installs from PyPI into a virtual
# environment under the target directory on first use. Each scenario's elapsed time is logged
# and recorded in RESULTS.md.
#
# Scenarios (BENCH_SCENARIOS, all by default, in this order):
#   burst      (a) one topic, burst from BENCH_PUBLISHERS publishers, per transport
#   burst-seq  (a') the same burst from one sequential publisher, per transport: deliveries/s,
#              CPU per delivery, publish time, publish-acknowledgement latency
#   rate       (b) one topic, paced, BENCH_PUBLISHERS publishers, per transport
#   rate-seq   (b') the same pace from one sequential publisher, per transport
#   idle       (c) idle connections, memory only, per transport
#   topics     (d) many topics, burst, per transport
#   publish    (e) publishing with no subscribers: events/s per number of concurrent publishers
#   curve-subs, curve-payload, curve-topics   (f-h) how cost grows with subscribers, payload
#              size and topics (one subscriber each): CPU per delivery and p99 latency per point,
#              SSE, one sequential publisher
#   bayeux     (i) Bayeux, Herald (memory store, /cometd) against Faye's Node.js server (/faye),
#              whatever BENCH_PEERS says: per Bayeux transport (WebSocket, long-polling) a burst
#              from one sequential publisher (deliveries/s, CPU per delivery, latency, loss),
#              then idle connections (memory per client)
#
# Sizes (defaults in brackets; BENCH_QUICK=1 divides the subscriber, topic and message counts by
# 10, payload sizes and publisher counts excepted):
#   BENCH_BURST_SUBS [10000]  BENCH_BURST_MESSAGES [500]
#   BENCH_RATE_SUBS [5000]    BENCH_RATE [100] BENCH_RATE_SECONDS [10]
#   BENCH_IDLE_SUBS [10000]
#   BENCH_TOPICS [1000] BENCH_SUBS_PER_TOPIC [10] BENCH_TOPIC_MESSAGES [10000]
#   BENCH_PUBLISHERS [4]      concurrent publishers in (a), (b) and (d)
#   BENCH_PUBLISH_MESSAGES [20000]  BENCH_PUBLISH_CONCURRENCY ["1 16 64 256"]
#   BENCH_CURVE_SUBS ["1000 5000 10000 19000"]  BENCH_CURVE_MESSAGES [200]
#   BENCH_CURVE_PAYLOADS ["100 4096 65536"]  BENCH_CURVE_PAYLOAD_SUBS [1000] (at 5,000 the 64 KiB
#   point alone is 65 GB through loopback: minutes of parsing per server for the load generator)
#   BENCH_CURVE_TOPICS ["1 100 10000"]  BENCH_CURVE_TOPIC_MESSAGES [10000]
#   BENCH_BAYEUX_SUBS [2000]  BENCH_BAYEUX_MESSAGES [200]  BENCH_BAYEUX_IDLE [2000]
#   BENCH_PEERS ["herald herald-disk nchan axum"]; "pushpin" may be added
#   BENCH_TRANSPORTS ["sse ws long-poll"] (long-poll runs against Herald only, WebSocket not
#   against the naive hub, which has none: their cells read "–")
#   BENCH_OUT [bench]  where RESULTS.md, results.jsonl and charts/ are written
set -euo pipefail
cd "$(dirname "$0")/.."
ROOT=$PWD

quick=${BENCH_QUICK:-0}
scale() { if [ "$quick" = 1 ]; then echo $(($1 / 10)); else echo "$1"; fi; }
scale_list() { local n out=""; for n in $1; do out+="$(scale "$n") "; done; echo "${out% }"; }
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
PUBLISH_MESSAGES=${BENCH_PUBLISH_MESSAGES:-$(scale 20000)}
PUBLISH_CONCURRENCY=${BENCH_PUBLISH_CONCURRENCY:-1 16 64 256}
CURVE_SUBS=${BENCH_CURVE_SUBS:-$(scale_list "1000 5000 10000 19000")}
CURVE_MESSAGES=${BENCH_CURVE_MESSAGES:-$(scale 200)}
CURVE_PAYLOADS=${BENCH_CURVE_PAYLOADS:-100 4096 65536}
CURVE_PAYLOAD_SUBS=${BENCH_CURVE_PAYLOAD_SUBS:-$(scale 1000)}
CURVE_TOPICS=${BENCH_CURVE_TOPICS:-$(scale_list "1 100 10000" | sed 's/^0 /1 /')}
CURVE_TOPIC_MESSAGES=${BENCH_CURVE_TOPIC_MESSAGES:-$(scale 10000)}
BAYEUX_SUBS=${BENCH_BAYEUX_SUBS:-$(scale 2000)}
BAYEUX_MESSAGES=${BENCH_BAYEUX_MESSAGES:-$(scale 200)}
BAYEUX_IDLE=${BENCH_BAYEUX_IDLE:-$(scale 2000)}
# The Bayeux scenario's peers, whatever BENCH_PEERS says.
BAYEUX_PEERS="herald faye"
PEERS=${BENCH_PEERS:-herald herald-disk nchan axum}
TRANSPORTS=${BENCH_TRANSPORTS:-sse ws long-poll}
ALL_SCENARIOS="burst burst-seq rate rate-seq idle topics publish curve-subs curve-payload curve-topics bayeux"
SCENARIOS=${BENCH_SCENARIOS:-$ALL_SCENARIOS}
OUT=${BENCH_OUT:-bench}
TARGET_DIR=${CARGO_TARGET_DIR:-$ROOT/target}
BIN=$TARGET_DIR/release

log() { echo "== $*" >&2; }
die() { echo "bench/run.sh: $*" >&2; exit 1; }

for s in $SCENARIOS; do
  [[ " $ALL_SCENARIOS " == *" $s "* ]] || die "unknown scenario '$s' in BENCH_SCENARIOS; choose from: $ALL_SCENARIOS"
done
for p in $PEERS; do
  case $p in herald | herald-disk | nchan | axum | pushpin) ;; *) die "unknown peer '$p' in BENCH_PEERS; choose from: herald herald-disk nchan axum pushpin" ;; esac
done
for t in $TRANSPORTS; do
  case $t in sse | ws | long-poll) ;; *) die "unknown transport '$t' in BENCH_TRANSPORTS; choose from: sse ws long-poll" ;; esac
done
selected() { [[ " $SCENARIOS " == *" $1 "* ]]; }
# The Bayeux scenario has peers of its own: alone, it needs none of BENCH_PEERS installed or built.
[ -z "$(echo " $SCENARIOS " | sed 's/ bayeux / /g' | tr -d ' ')" ] && PEERS=""
has_peer() { [[ " $PEERS " == *" $1 "* ]]; }

free_port() { # a loopback port nothing listens on now
  python3 -c 'import socket; s = socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])'
}

install_peers() {
  local missing=()
  if has_peer nchan; then
    command -v nginx >/dev/null || missing+=(nginx)
    [ -e /usr/lib/nginx/modules/ngx_nchan_module.so ] || missing+=(libnginx-mod-nchan)
  fi
  if has_peer pushpin; then
    command -v pushpin >/dev/null || missing+=(pushpin)
    command -v zurl >/dev/null || missing+=(zurl)
  fi
  if selected bayeux; then
    command -v node >/dev/null || missing+=(nodejs)
    command -v npm >/dev/null || missing+=(npm)
  fi
  command -v curl >/dev/null || missing+=(curl)
  command -v python3 >/dev/null || missing+=(python3)
  if [ ${#missing[@]} -gt 0 ]; then
    [ "$(id -u)" = 0 ] || die "${missing[*]} missing: run as root so that apt-get can install them, or install them yourself"
    log "installing ${missing[*]}"
    apt-get update -q
    # Install only; the packages' own services are not started.
    DEBIAN_FRONTEND=noninteractive RUNLEVEL=1 apt-get install -y -q "${missing[@]}"
  fi
  if selected bayeux && [ ! -d bench/faye/node_modules ]; then
    log "installing the Faye server's dependencies (npm ci in bench/faye)"
    (cd bench/faye && npm ci --no-audit --no-fund) >&2
  fi
}

TMP=$(mktemp -d /tmp/herald-bench.XXXXXX)
SERVER_PID=""
CHILD_PIDS=""
STOP_SIGNAL=TERM
ORIGIN_PID=""

gone() { ! kill -0 "$1" 2>/dev/null || [ "$(awk '{print $3}' "/proc/$1/stat" 2>/dev/null)" = Z ]; }

stop_server() {
  if [ -n "$SERVER_PID" ] && kill -0 "$SERVER_PID" 2>/dev/null; then
    kill -"$STOP_SIGNAL" "$SERVER_PID" 2>/dev/null || true
    for _ in $(seq 1 100); do gone "$SERVER_PID" && break; sleep 0.1; done
    kill -KILL "$SERVER_PID" 2>/dev/null || true
    wait "$SERVER_PID" 2>/dev/null || true
  fi
  # Services a runner started, should they outlive it; then wait until every one is gone, so
  # the next server starts on an idle machine.
  for pid in $CHILD_PIDS; do
    if grep -qaE 'nginx|condure|zurl|pushpin' "/proc/$pid/cmdline" 2>/dev/null; then kill -KILL "$pid" || true; fi
  done
  for pid in $CHILD_PIDS; do
    for _ in $(seq 1 100); do gone "$pid" && break; sleep 0.05; done
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

wait_for() { # URL: until it answers (any status)
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
      HERALD_LOG=warn "$BIN/herald" serve --addr "127.0.0.1:$port" --no-demo-clock \
        "${store[@]}" --max-connections 30000 --max-connections-per-ip 30000 >"$dir/out.log" 2>&1 &
      SERVER_PID=$!
      wait_for "http://127.0.0.1:$port/healthz"
      PIDS="--pid $SERVER_PID"
      TARGET_FLAGS=(--target herald --url "http://127.0.0.1:$port")
      ;;
    axum)
      "$BIN/naive-hub" --addr "127.0.0.1:$port" >"$dir/out.log" 2>&1 &
      SERVER_PID=$!
      wait_for "http://127.0.0.1:$port/.well-known/mercure"
      PIDS="--pid $SERVER_PID"
      # It speaks Herald's URLs and publish format.
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
    faye)
      node bench/faye/server.mjs "$port" >"$dir/out.log" 2>&1 &
      SERVER_PID=$!
      wait_for "http://127.0.0.1:$port/"
      PIDS="--pid $SERVER_PID"
      TARGET_FLAGS=(--target faye --url "http://127.0.0.1:$port")
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
      # The runner and its services (condure, zurl, pushpin-proxy, pushpin-handler).
      children 4
      # Fewer connections at once: the proxy answers 502 when the origin falls behind.
      TARGET_FLAGS=(--target pushpin --url "http://127.0.0.1:$port" --control "http://127.0.0.1:$control"
        --connect-concurrency 50)
      ;;
  esac
  if ! kill -0 "$SERVER_PID" 2>/dev/null; then
    echo "$peer did not start:" >&2
    cat "$dir"/*.log >&2 || true
    return 1
  fi
}

# Why peer $1 sits out transport $2, if it does.
skip_reason() {
  if [ "$2" = long-poll ] && [[ $1 != herald* ]]; then echo "long-polling runs against Herald only"; fi
  if [ "$2" = ws ] && [ "$1" = axum ]; then echo "the naive hub has no WebSocket"; fi
}

# record NAME PEER TRANSPORT POINT WALL_SECONDS JSON_FILE: one line of results.jsonl.
record() {
  python3 - "$@" >>"$RESULTS_JSONL" <<'EOF'
import json, sys
name, peer, transport, point, wall, path = sys.argv[1:7]
record = json.load(open(path))
record.update(scenario=name, peer=peer, transport=transport, wall_seconds=round(float(wall), 1))
if point:
    record["point"] = int(point)
print(json.dumps(record))
EOF
}

# run_scenario NAME TRANSPORT POINT FLAGS...: one `herald bench` run against every peer (those
# of RUN_PEERS when set, else BENCH_PEERS), each freshly started. POINT is the x value of a
# curve's point (empty outside curves).
run_scenario() {
  local name=$1 transport=$2 point=$3 began=$SECONDS
  shift 3
  for peer in ${RUN_PEERS:-$PEERS}; do
    local out="$TMP/$name-$transport-$point-$peer.json" reason started=$SECONDS
    reason=$(skip_reason "$peer" "$transport")
    if [ -n "$reason" ]; then
      python3 -c 'import json, sys; print(json.dumps({"skipped": sys.argv[1]}))' "$reason" >"$out"
      record "$name" "$peer" "$transport" "$point" 0 "$out"
      continue
    fi
    log "$name / $transport${point:+ / $point} / $peer"
    # shellcheck disable=SC2086 # PIDS is a list of flags
    if ! start_server "$peer"; then
      echo '{"error": "the server did not start"}' >"$out"
    elif ! "$BIN/herald" bench "${TARGET_FLAGS[@]}" --transport "$transport" $PIDS \
      --source-addrs 8 --no-progress --json "$out" "$@" >&2; then
      echo '{"error": "the load generator failed"}' >"$out"
    fi
    stop_server
    record "$name" "$peer" "$transport" "$point" $((SECONDS - started)) "$out"
  done
  log "$name / $transport${point:+ / $point}: $((SECONDS - began)) s"
}

# The largest number of subscribers one run opens, and whether one process may hold them: the
# load generator opens one descriptor per subscriber, and so does every server.
max_subs=0
for n in "$BURST_SUBS" "$RATE_SUBS" "$IDLE_SUBS" $((TOPICS * SUBS_PER_TOPIC)) $CURVE_SUBS "$CURVE_PAYLOAD_SUBS" $CURVE_TOPICS \
  "$BAYEUX_SUBS" "$BAYEUX_IDLE"; do
  [ "$n" -gt "$max_subs" ] && max_subs=$n
done
ulimit -n "$(ulimit -Hn)"
if [ "$(ulimit -n)" != unlimited ] && [ "$(ulimit -n)" -lt $((max_subs + 400)) ]; then
  die "up to $max_subs subscribers in one run need an open-file limit of at least $((max_subs + 400)); the hard limit is $(ulimit -Hn): raise it (as root: ulimit -Hn, or /etc/security/limits.conf) or lower the sizes (e.g. BENCH_CURVE_SUBS)"
fi

install_peers
LOAD_BEFORE=$(cut -d' ' -f1-3 /proc/loadavg)
builds=(-p herald)
has_peer axum && builds+=(-p naive-hub)
log "building (release): ${builds[*]}"
cargo build --release "${builds[@]}" --locked >&2

if has_peer pushpin; then
  ORIGIN_PORT=$(free_port)
  python3 bench/pushpin/origin.py "$ORIGIN_PORT" &
  ORIGIN_PID=$!
fi

RESULTS_JSONL="$TMP/results.jsonl"
: >"$RESULTS_JSONL"
RATE_MESSAGES=$((RATE * RATE_SECONDS))
RUN_STARTED=$SECONDS
for scenario in $SCENARIOS; do
  case $scenario in
    burst | burst-seq | rate | rate-seq | idle | topics)
      pubs=$PUBLISHERS
      [[ $scenario == *-seq ]] && pubs=1
      for transport in $TRANSPORTS; do
        case $scenario in
          burst | burst-seq) run_scenario "$scenario" "$transport" "" -n "$BURST_SUBS" -m "$BURST_MESSAGES" --publishers "$pubs" ;;
          rate | rate-seq) run_scenario "$scenario" "$transport" "" -n "$RATE_SUBS" -m "$RATE_MESSAGES" --rate "$RATE" --publishers "$pubs" ;;
          idle) run_scenario idle "$transport" "" -n "$IDLE_SUBS" --idle ;;
          topics) run_scenario topics "$transport" "" -n $((TOPICS * SUBS_PER_TOPIC)) --topics "$TOPICS" -m "$TOPIC_MESSAGES" --publishers "$pubs" ;;
        esac
      done
      ;;
    publish)
      for c in $PUBLISH_CONCURRENCY; do
        run_scenario publish sse "$c" --publish-only -m "$PUBLISH_MESSAGES" --publishers "$c"
      done
      ;;
    curve-subs)
      for n in $CURVE_SUBS; do run_scenario curve-subs sse "$n" -n "$n" -m "$CURVE_MESSAGES" --publishers 1; done
      ;;
    curve-payload)
      for size in $CURVE_PAYLOADS; do
        run_scenario curve-payload sse "$size" -n "$CURVE_PAYLOAD_SUBS" -m "$CURVE_MESSAGES" --payload-size "$size" --publishers 1
      done
      ;;
    curve-topics)
      for t in $CURVE_TOPICS; do
        run_scenario curve-topics sse "$t" -n "$t" --topics "$t" -m "$CURVE_TOPIC_MESSAGES" --publishers 1
      done
      ;;
    bayeux)
      for transport in bayeux-ws bayeux-long-poll; do
        RUN_PEERS=$BAYEUX_PEERS run_scenario bayeux "$transport" "" -n "$BAYEUX_SUBS" -m "$BAYEUX_MESSAGES" --publishers 1
      done
      for transport in bayeux-ws bayeux-long-poll; do
        RUN_PEERS=$BAYEUX_PEERS run_scenario bayeux-idle "$transport" "" -n "$BAYEUX_IDLE" --idle
      done
      ;;
  esac
done
log "all scenarios: $((SECONDS - RUN_STARTED)) s"

mkdir -p "$OUT"
cp "$RESULTS_JSONL" "$OUT/results.jsonl"
written="$OUT/RESULTS.md and $OUT/results.jsonl"
if selected publish || selected curve-subs || selected curve-payload || selected curve-topics; then
  log "drawing the charts"
  python3 bench/charts.py "$OUT/results.jsonl" --out "$OUT/charts" >&2
  written+=", charts in $OUT/charts/"
fi
versions() {
  echo "herald $(git -C "$ROOT" rev-parse --short HEAD) ($("$BIN/herald" --version), $(rustc --version))"
  if has_peer axum; then
    echo "naive-hub (bench/naive-hub): $(cargo tree -p naive-hub --depth 1 -e normal --prefix none 2>/dev/null | grep -E '^(axum|tokio) ' | tr '\n' ' ')"
  fi
  if has_peer nchan; then
    nginx -v 2>&1
    dpkg-query -W -f='${Package} ${Version}\n' libnginx-mod-nchan 2>/dev/null
  fi
  if has_peer pushpin; then dpkg-query -W -f='${Package} ${Version}\n' pushpin condure zurl 2>/dev/null; fi
  if selected bayeux; then
    echo "Faye (bench/faye): npm faye $(node -p 'require("./bench/faye/node_modules/faye/package.json").version'), Node.js $(node --version)"
  fi
}
python3 bench/results_md.py "$OUT/results.jsonl" \
  --cpu "$(grep -m1 'model name' /proc/cpuinfo | cut -d: -f2- | sed 's/^ //')" \
  --cores "$(nproc)" --kernel "$(uname -sr)" --os "$(sed -n 's/^PRETTY_NAME="\{0,1\}\([^"]*\)"\{0,1\}$/\1/p' /etc/os-release)" \
  --versions "$(versions)" --load-before "$LOAD_BEFORE" --load-after "$(cut -d' ' -f1-3 /proc/loadavg)" \
  --quick "$quick" \
  --sizes "burst: $BURST_SUBS subscribers, $BURST_MESSAGES messages; rate: $RATE_SUBS subscribers, $RATE msg/s for ${RATE_SECONDS} s; idle: $IDLE_SUBS; topics: $TOPICS × $SUBS_PER_TOPIC subscribers, $TOPIC_MESSAGES messages; $PUBLISHERS publishers (one in the -seq scenarios); publish-only: $PUBLISH_MESSAGES messages from $PUBLISH_CONCURRENCY publishers; curves: $CURVE_SUBS subscribers × $CURVE_MESSAGES messages, payloads $CURVE_PAYLOADS B at $CURVE_PAYLOAD_SUBS subscribers, topics $CURVE_TOPICS × 1 subscriber with $CURVE_TOPIC_MESSAGES messages; Bayeux: $BAYEUX_SUBS subscribers × $BAYEUX_MESSAGES messages from one publisher, $BAYEUX_IDLE idle" \
  >"$OUT/RESULTS.md"
log "wrote $written"
