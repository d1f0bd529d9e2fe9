#!/usr/bin/env bash
# Herald as two nodes sharing one log, measured from outside: subscribers on node 2, publishes on
# node 1 (`herald bench --url node2 --control node1`), so every event crosses the engine; against
# one node on the embedded disk store in the same run. The hub CPU figures sum both nodes (not
# the engine's). For each engine (redis, nats, and disk alone) it starts the engine (redis-server
# with appendfsync always, nats-server -js) and the nodes on free loopback ports with fresh data,
# runs one burst, and prints the bench's summary.
#
#   bench/cluster.sh                       # 2,000 SSE subscribers x 500 messages, 1 publisher
#   CLUSTER_SUBSCRIBERS=5000 CLUSTER_MESSAGES=1000 CLUSTER_PUBLISHERS=4 bench/cluster.sh
#   CLUSTER_ENGINES="redis" bench/cluster.sh
#
# Needs redis-server and nats-server (Debian packages of the same names); builds herald in
# release mode into CARGO_TARGET_DIR (target/ by default), or runs HERALD_BIN. Loopback only.
set -euo pipefail
cd "$(dirname "$0")/.."

subscribers=${CLUSTER_SUBSCRIBERS:-2000}
messages=${CLUSTER_MESSAGES:-500}
publishers=${CLUSTER_PUBLISHERS:-1}
engines=${CLUSTER_ENGINES:-disk redis nats}
target=${CARGO_TARGET_DIR:-target}
if [ -n "${HERALD_BIN:-}" ]; then
  herald=$HERALD_BIN
else
  cargo build --release -p herald --locked >/dev/null
  herald=$target/release/herald
fi

work=$(mktemp -d)
pids=()
cleanup() {
  for pid in "${pids[@]}"; do kill -9 "$pid" 2>/dev/null || true; wait "$pid" 2>/dev/null || true; done
  rm -rf "$work"
}
trap cleanup EXIT

free_port() {
  python3 -c 'import socket; s = socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])'
}

wait_port() {
  for _ in $(seq 200); do
    (exec 3<>"/dev/tcp/127.0.0.1/$1") 2>/dev/null && return 0
    sleep 0.05
  done
  echo "nothing listens on port $1" >&2
  exit 1
}

# Starts a node with `--store $1`; prints its address.
start_node() {
  local port log
  port=$(free_port)
  log=$work/node-$port.log
  "$herald" serve --addr "127.0.0.1:$port" --store "$1" --data-dir "$work/data-$port" --no-demo \
    --max-connections 100000 --max-connections-per-ip 100000 >"$log" 2>&1 &
  pids+=($!)
  echo "$! 127.0.0.1:$port"
}

for engine in $engines; do
  dir=$work/$engine
  mkdir -p "$dir"
  case $engine in
    disk) store=disk ;;
    redis)
      port=$(free_port)
      redis-server --bind 127.0.0.1 --port "$port" --save '' --appendonly yes --appendfsync always \
        --dir "$dir" >/dev/null &
      pids+=($!)
      wait_port "$port"
      store="redis://127.0.0.1:$port?stream=bench"
      ;;
    nats)
      port=$(free_port)
      nats-server -a 127.0.0.1 -p "$port" -js -sd "$dir" >/dev/null 2>&1 &
      pids+=($!)
      wait_port "$port"
      store="nats://127.0.0.1:$port?stream=bench"
      ;;
    *) echo "unknown engine $engine: use disk, redis or nats" >&2; exit 1 ;;
  esac
  read -r one_pid one < <(start_node "$store")
  wait_port "${one##*:}"
  pid_args=(--pid "$one_pid")
  if [ "$engine" = disk ]; then
    two=$one
  else
    read -r two_pid two < <(start_node "$store")
    wait_port "${two##*:}"
    pid_args+=(--pid "$two_pid")
  fi
  echo "== $engine: $subscribers SSE subscribers on $two, $messages messages published on $one by $publishers publisher(s)"
  "$herald" bench --url "http://$two" --control "http://$one" -n "$subscribers" -m "$messages" \
    --publishers "$publishers" "${pid_args[@]}" --no-progress --log warn
  # This engine's processes end before the next run starts.
  for pid in "${pids[@]}"; do kill -9 "$pid" 2>/dev/null || true; wait "$pid" 2>/dev/null || true; done
  pids=()
done
