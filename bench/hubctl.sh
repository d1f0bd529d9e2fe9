#!/usr/bin/env bash
# Starts, restarts and crashes a hub for the storm and soak scripts, the way a service manager
# would, keeping its state in a directory:
#
#   bench/hubctl.sh init DIR HERALD_BIN SERVE_ARG...   # remember the binary and `serve` flags
#   bench/hubctl.sh start DIR      # start; the first start takes a free port, later ones the same
#   bench/hubctl.sh restart DIR    # SIGTERM (the hub drains), wait for it to end, start again
#   bench/hubctl.sh crash DIR      # SIGKILL, wait for it to end, start again
#   bench/hubctl.sh stop DIR       # SIGTERM and wait
#
# DIR/hub.pid holds the running hub's process id and DIR/hub.port its port; each start logs to
# its own DIR/hub-<time>.log. The hub runs detached (its parent shell exits at once), so that
# any process can wait for it by pid.
set -euo pipefail

command=${1:?usage: hubctl.sh init|start|restart|crash|stop DIR}
dir=${2:?the state directory}

alive() { [ -e "/proc/$1" ] && [ "$(awk '{print $3}' "/proc/$1/stat" 2>/dev/null)" != Z ]; }

end() { # signal the running hub and wait until it is gone
  local pid
  pid=$(cat "$dir/hub.pid" 2>/dev/null) || return 0
  kill "-$1" "$pid" 2>/dev/null || true
  while alive "$pid"; do sleep 0.02; done
}

start() {
  local port=0 log bin
  local -a args
  bin=$(cat "$dir/hub.bin")
  mapfile -d '' args <"$dir/hub.args"
  if [ -s "$dir/hub.port" ]; then port=$(cat "$dir/hub.port"); fi
  log="$dir/hub-$(date +%s%N).log"
  : >"$log"
  (
    ulimit -n "$(ulimit -Hn)"
    HERALD_LOG=${HERALD_LOG:-warn} exec "$bin" "${args[@]}" --addr "127.0.0.1:$port" >"$log" 2>&1
  ) &
  echo $! >"$dir/hub.pid"
  for _ in $(seq 600); do
    if [ "$port" = 0 ]; then
      port=$(sed -n 's|^Herald listening on http://127.0.0.1:\([0-9]*\)/.*|\1|p' "$log")
      port=${port:-0}
    fi
    if [ "$port" != 0 ] && curl -fsS "http://127.0.0.1:$port/healthz" >/dev/null 2>&1; then
      echo "$port" >"$dir/hub.port"
      return 0
    fi
    sleep 0.05
  done
  echo "the hub did not start; its log ($log) ends with:" >&2
  tail -5 "$log" >&2
  return 1
}

case $command in
  init)
    mkdir -p "$dir"
    echo "${3:?the herald binary}" >"$dir/hub.bin"
    printf '%s\0' "${@:4}" >"$dir/hub.args"
    rm -f "$dir/hub.port" "$dir/hub.pid"
    ;;
  start) start ;;
  restart) end TERM && start ;;
  crash) end KILL && start ;;
  stop) end TERM ;;
  *)
    echo "unknown command $command (init, start, restart, crash or stop)" >&2
    exit 2
    ;;
esac
