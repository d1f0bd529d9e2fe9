#!/usr/bin/env bash
# Tests the Debian package by installing it: packages the debug build (HERALD_BIN) with
# packaging/build-deb.sh, installs it with dpkg, checks what it installed, runs the installed hub
# as its systemd unit does (user, state directory, open-file limit, MemoryDenyWriteExecute),
# publishes and subscribes through it, directly and through nginx with README.md's proxy settings
# (when nginx is installed), stops it with SIGTERM, starts it again to replay the event from its
# data directory, then purges the package and checks that nothing is left. Needs root and dpkg; it
# leaves the machine as it found it, also on failure.
set -euo pipefail
cd "$(dirname "$0")/../.."

fail() {
  echo "FAIL: $*" >&2
  exit 1
}
step() { echo "-- [${SECONDS}s] $*"; }

# True while process PID runs (not exited, not a zombie waiting to be reaped).
alive() {
  local state
  state=$(sed 's/.*) //' "/proc/$1/stat" 2>/dev/null | cut -d' ' -f1)
  [ -n "$state" ] && [ "$state" != Z ] && [ "$state" != X ]
}

# Runs COMMAND every 0.1 s until it succeeds; fails after SECONDS.
wait_for() { # SECONDS WHAT COMMAND...
  local limit=$1 what=$2 deadline=$((SECONDS + $1))
  shift 2
  until "$@"; do
    [ "$SECONDS" -lt "$deadline" ] || fail "no $what after ${limit}s"
    sleep 0.1
  done
}

# The package's state for dpkg: installed, config-files, ...; empty when dpkg does not know it.
package_state() { dpkg-query -W -f='${db:Status-Status}' herald 2>/dev/null || true; }
package_present() { [ -n "$(package_state)" ] && [ "$(package_state)" != not-installed ]; }

[ "$(id -u)" = 0 ] || fail "this test installs and purges a package: run it as root"
command -v dpkg >/dev/null || fail "this test needs dpkg (a Debian or Ubuntu machine)"
command -v curl >/dev/null || fail "this test needs curl: apt-get install curl"

HERALD_BIN=${HERALD_BIN:-$(cargo metadata --format-version 1 --no-deps --locked |
  sed -n 's/.*"target_directory":"\([^"]*\)".*/\1/p')/debug/herald}
[ -x "$HERALD_BIN" ] || fail "no herald binary at $HERALD_BIN: build it first (cargo build -p herald), or set HERALD_BIN"

# What the package owns must not be there already: the test would purge someone's installation.
if package_present; then
  fail "a herald package is on this machine ($(package_state)): this test installs and purges its own; remove it first (dpkg --purge herald) or run the test on another machine"
fi
for path in /etc/herald /var/lib/herald; do
  [ ! -e "$path" ] || fail "$path exists already: the test's purge would remove it; move it aside first"
done
user_existed=0 group_existed=0
getent passwd herald >/dev/null && user_existed=1
getent group herald >/dev/null && group_existed=1

work=$(mktemp -d)
chmod 755 "$work" # the hub, running as the service user, reads nothing here; its log is opened by root
installed=0 hub_pid= sub_pid= nginx_pid= main_pid=$BASHPID
cleanup() {
  local status=$?
  [ "$BASHPID" = "$main_pid" ] || return 0 # only the test itself cleans up, never a subshell
  if [ -n "$nginx_pid" ] && kill -0 "$nginx_pid" 2>/dev/null; then
    kill -TERM "$nginx_pid" 2>/dev/null || true # nginx's master stops its workers on TERM
    wait "$nginx_pid" 2>/dev/null || true
  fi
  for pid in "$sub_pid" "$hub_pid"; do
    if [ -n "$pid" ] && kill -0 "$pid" 2>/dev/null; then
      kill -KILL "$pid" 2>/dev/null || true
      wait "$pid" 2>/dev/null || true
    fi
  done
  if [ "$status" != 0 ] && [ -s "$work/hub.log" ]; then
    echo "the hub's output:" >&2
    sed 's/^/  /' "$work/hub.log" >&2
  fi
  if [ "$installed" = 1 ] && package_present; then
    dpkg --purge herald >/dev/null 2>&1 || echo "cleanup: dpkg --purge herald failed: run it by hand" >&2
  fi
  if [ "$user_existed" = 0 ] && getent passwd herald >/dev/null; then
    userdel herald || echo "cleanup: userdel herald failed: run it by hand" >&2
  fi
  if [ "$group_existed" = 0 ] && getent group herald >/dev/null; then
    groupdel herald || echo "cleanup: groupdel herald failed: run it by hand" >&2
  fi
  rm -rf "$work"
  exit "$status"
}
trap cleanup EXIT
trap 'exit 130' INT
trap 'exit 143' TERM

step "building the package from $HERALD_BIN"
started=$SECONDS
packaging/build-deb.sh --binary "$HERALD_BIN" --output "$work/herald.deb" --fast >"$work/build.log" 2>&1 ||
  { cat "$work/build.log" >&2; fail "packaging/build-deb.sh failed (its output is above)"; }
echo "   $(du -h "$work/herald.deb" | cut -f1), in $((SECONDS - started))s"

step "installing it with dpkg -i"
installed=1
dpkg -i "$work/herald.deb" >"$work/dpkg.log" 2>&1 || { cat "$work/dpkg.log" >&2; fail "dpkg -i failed (its output is above)"; }
[ "$(package_state)" = installed ] || fail "dpkg says herald is '$(package_state)', not installed"

step "checking what it installed"
version=$(dpkg-query -W -f='${Version}' herald)
/usr/bin/herald --version | grep -qxF "herald ${version%%-*}" ||
  fail "/usr/bin/herald --version says '$(/usr/bin/herald --version)', not the package's version $version"

unit=$(dpkg -L herald | grep '/systemd/system/herald\.service$') || fail "the package installs no herald.service unit"
cmp -s "$unit" packaging/herald.service || fail "$unit differs from packaging/herald.service"
link=/etc/systemd/system/multi-user.target.wants/herald.service
[ -L "$link" ] && [ "$(readlink -f "$link")" = "$(readlink -f "$unit")" ] ||
  fail "the postinst did not enable the unit: $link should link to $unit"
if command -v systemd-analyze >/dev/null; then
  man=no
  command -v man >/dev/null && man=yes
  systemd-analyze verify --man="$man" "$unit" >"$work/verify.log" 2>&1 ||
    { cat "$work/verify.log" >&2; fail "systemd-analyze verify $unit failed (above)"; }
  [ ! -s "$work/verify.log" ] || { cat "$work/verify.log" >&2; fail "systemd-analyze verify $unit warned (above)"; }
else
  echo "   note: no systemd-analyze (Debian package systemd): the unit is not verified"
fi

# The unit's settings, as the hub is started below.
unit_value() { sed -n "s/^$1=//p" "$unit" | tail -n 1; }
exec_start=$(unit_value ExecStart) user=$(unit_value User) group=$(unit_value Group)
state=$(unit_value StateDirectory) state_mode=$(unit_value StateDirectoryMode)
workdir=$(unit_value WorkingDirectory) umask_value=$(unit_value UMask)
nofile=$(unit_value LimitNOFILE) mdwe=$(unit_value MemoryDenyWriteExecute) stop_timeout=$(unit_value TimeoutStopSec)
for setting in exec_start user group state state_mode workdir umask_value nofile stop_timeout; do
  [ -n "${!setting}" ] || fail "$unit sets no $setting (the test reads it to start the hub as the unit does)"
done
case "$exec_start" in [-@+:!]*) fail "ExecStart has a prefix the test does not apply: $exec_start" ;; esac
read -ra argv <<<"$exec_start"
[[ "$nofile" =~ ^[0-9]+$ ]] || fail "LimitNOFILE=$nofile: the test expects one number"
[[ "$stop_timeout" =~ ^[0-9]+s$ ]] || fail "TimeoutStopSec=$stop_timeout: the test expects seconds, e.g. 30s"
# systemd raises the open-file limit itself; a test without CAP_SYS_RESOURCE (in a container) can
# only go up to its own hard limit.
run_nofile=$nofile
if ! prlimit --nofile="$nofile:$nofile" true 2>/dev/null; then
  run_nofile=$(ulimit -Hn)
  [ "$run_nofile" -lt "$nofile" ] || fail "prlimit cannot set the open-file limit to $nofile"
  echo "   note: this machine's hard open-file limit is $run_nofile and the test cannot raise it (no CAP_SYS_RESOURCE): the hub runs with $run_nofile, not the unit's $nofile"
fi

entry=$(getent passwd "$user") || fail "the postinst did not create the user $user"
IFS=: read -r _ _ uid _ _ home shell <<<"$entry"
[ "$uid" -lt 1000 ] || fail "$user is not a system user (uid $uid)"
[ "$home" = "/var/lib/$state" ] || fail "$user's home is $home, not its state directory /var/lib/$state"
case "$shell" in */nologin | */false) ;; *) fail "$user can log in (shell $shell)" ;; esac

config=/etc/herald/herald.toml
dpkg-query -W -f='${Conffiles}\n' herald | grep -q "^ $config " || fail "$config is not a conffile of the package"
[ "$(stat -c '%U:%G %a' "$config")" = "root:$group 640" ] ||
  fail "$config is $(stat -c '%U:%G %a' "$config"), not root:$group 640 (the postinst's dpkg-statoverride)"
grep -qxF "data_dir = \"/var/lib/$state\"" "$config" || fail "$config's data_dir is not the unit's state directory /var/lib/$state"
grep -qxF "no_demo = true" "$config" || fail "$config does not turn the demo publishers off"
drain=$(sed -n 's/^drain_period = "\([0-9]*\)s"$/\1/p' "$config")
[ -n "$drain" ] || fail "$config's drain_period is not a number of seconds: the test cannot compare it with TimeoutStopSec"
[ "${stop_timeout%s}" -gt "$drain" ] ||
  fail "TimeoutStopSec=$stop_timeout is not longer than the drain_period of $config (${drain}s): systemd would kill the drain"
setpriv --reuid="$user" --regid="$group" --init-groups /usr/bin/herald check-config "$config" >"$work/check.log" 2>&1 ||
  { cat "$work/check.log" >&2; fail "herald check-config $config, as $user, failed (above)"; }

pages=$(dpkg -L herald | grep '^/usr/share/man/man1/.*\.1\.gz$') || fail "the package installs no manual page"
for page in herald herald-serve herald-check-config; do
  grep -qxF "/usr/share/man/man1/$page.1.gz" <<<"$pages" || fail "the package has no manual page $page(1)"
done
for page in $pages; do
  gzip -t "$page" || fail "$page is not a valid gzip file"
  zcat "$page" | grep -q '^\.TH ' || fail "$page is not a manual page (no .TH line)"
done
if command -v man >/dev/null; then
  [ "$(man -w herald-serve)" = /usr/share/man/man1/herald-serve.1.gz ] || fail "man does not find herald-serve(1)"
  LC_ALL=C MANWIDTH=100 man -P cat -l /usr/share/man/man1/herald-serve.1.gz 2>/dev/null | grep -q -- '--data-dir' ||
    fail "man -l herald-serve.1.gz does not show the --data-dir flag"
else
  echo "   note: no man (Debian package man-db): the pages are checked as gzip files only"
fi

for file in /usr/share/bash-completion/completions/herald /usr/share/zsh/vendor-completions/_herald \
  /usr/share/fish/vendor_completions.d/herald.fish; do
  grep -q check-config "$file" || fail "$file is missing or does not complete herald's commands"
done
bash -c '. /usr/share/bash-completion/completions/herald && complete -p herald' >/dev/null ||
  fail "the bash completion script does not register a completion for herald"
if command -v zsh >/dev/null; then zsh -n /usr/share/zsh/vendor-completions/_herald || fail "_herald is not valid zsh"; fi
if command -v fish >/dev/null; then fish -n /usr/share/fish/vendor_completions.d/herald.fish || fail "herald.fish is not valid fish"; fi
[ -s /usr/share/doc/herald/README.md ] && [ -s /usr/share/doc/herald/copyright ] ||
  fail "the package has no /usr/share/doc/herald/README.md or copyright"

# The address of the installed configuration, on a free port: 8080 may be taken on this machine,
# so HERALD_ADDR (which wins over the file) replaces the port with 0, and the hub prints the one it
# picked. Nothing else is overridden.
addr=$(sed -n 's/^addr = "\(.*\)"$/\1/p' "$config")
[ -n "$addr" ] || fail "$config sets no addr"
run_addr="${addr%:*}:0"

# MemoryDenyWriteExecute=yes, as the kernel's PR_SET_MDWE (inherited by the hub on exec): it
# refuses a writable and executable mapping, as systemd's filter does. Checked before the exec.
mdwe_exec='
import ctypes, mmap, os, sys
libc = ctypes.CDLL(None, use_errno=True)
if libc.prctl(65, 1, 0, 0, 0) != 0:  # PR_SET_MDWE, PR_MDWE_REFUSE_EXEC_GAIN
    sys.exit("prctl(PR_SET_MDWE): " + os.strerror(ctypes.get_errno()))
try:
    mmap.mmap(-1, 4096, prot=mmap.PROT_READ | mmap.PROT_WRITE | mmap.PROT_EXEC)
    sys.exit("PR_SET_MDWE is set, yet a writable and executable mapping was allowed")
except OSError:
    pass
os.execv(sys.argv[1], sys.argv[1:])
'
wrapper=()
if [ "$mdwe" = yes ]; then
  if command -v python3 >/dev/null && python3 -c "$mdwe_exec" /bin/true 2>"$work/mdwe.log"; then
    wrapper=(python3 -c "$mdwe_exec")
  else
    echo "   note: cannot apply MemoryDenyWriteExecute ($(cat "$work/mdwe.log" 2>/dev/null || echo no python3); the kernel's PR_SET_MDWE needs Linux 6.3): running without it"
  fi
fi

# Starts ExecStart as systemd would: the state directory made, owned by the user; a clean
# environment; the user's uid, gid and groups, no capabilities, no new privileges; the open-file
# limit; the working directory and umask; stdout and stderr to a log.
start_hub() {
  install -d -o "$user" -g "$group" -m "$state_mode" "/var/lib/$state"
  : >"$work/hub.log"
  (
    cd "$workdir"
    umask "$umask_value"
    exec env -i PATH=/usr/bin:/bin HERALD_ADDR="$run_addr" \
      prlimit --nofile="$run_nofile:$run_nofile" -- \
      setpriv --reuid="$user" --regid="$group" --init-groups --no-new-privs --inh-caps=-all --bounding-set=-all -- \
      "${wrapper[@]}" "${argv[@]}"
  ) >"$work/hub.log" 2>&1 &
  hub_pid=$!
  listening() {
    alive "$hub_pid" || fail "the hub exited at start (its output is below)"
    grep -q '^Herald listening on ' "$work/hub.log"
  }
  wait_for 30 "'Herald listening on' line from the hub" listening
  url=$(sed -n 's/^Herald listening on \(http:[^ ]*\) .*/\1/p' "$work/hub.log")
  [ -n "$url" ] || fail "cannot read the hub's address from its start line"
  wait_for 10 "answer from ${url}healthz" curl -sf -o /dev/null "${url}healthz"
  [ "$(curl -sf "${url}healthz")" = ok ] || fail "${url}healthz did not answer ok"
}

# SIGTERM, as `systemctl stop` sends; the hub must exit with 0 within TimeoutStopSec.
stop_hub() {
  kill -TERM "$hub_pid"
  exited() { ! alive "$hub_pid"; }
  wait_for "${stop_timeout%s}" "exit of the hub within TimeoutStopSec=$stop_timeout of SIGTERM" exited
  local status=0
  wait "$hub_pid" || status=$?
  hub_pid=
  [ "$status" = 0 ] || fail "the hub exited with $status on SIGTERM"
  grep -q 'shutting down' "$work/hub.log" || fail "the hub did not log its shutdown"
}

step "running $exec_start as $user (open files: $run_nofile, MemoryDenyWriteExecute=${mdwe:-no}; HERALD_ADDR=$run_addr replaces addr = \"$addr\")"
start_hub
[ "$(stat -c %U "/proc/$hub_pid")" = "$user" ] || fail "the hub runs as $(stat -c %U "/proc/$hub_pid"), not $user"
grep -Eq "^Max open files +$run_nofile +$run_nofile +files" "/proc/$hub_pid/limits" ||
  fail "the hub's open-file limit is not $run_nofile: $(grep 'Max open files' "/proc/$hub_pid/limits")"
grep -q '^CapEff:[[:space:]]*0*$' "/proc/$hub_pid/status" || fail "the hub has capabilities: $(grep CapEff "/proc/$hub_pid/status")"

step "a publish and an SSE subscription through it"
topic="https://example.com/deb-test/$$"
curl -sN --max-time 60 --get --data-urlencode "match=$topic" "${url}.well-known/mercure" >"$work/sse" 2>&1 &
sub_pid=$!
subscribed() {
  alive "$sub_pid" || fail "the subscription ended at once: $(cat "$work/sse")"
  grep -q '^retry:' "$work/sse"
}
wait_for 10 "opening frame (retry:) on the event stream" subscribed
id=$(curl -sf -d "topic=$topic" -d 'data=installed from the package' "${url}.well-known/mercure") ||
  fail "the publish was refused"
[[ "$id" == urn:uuid:* ]] || fail "the publish answered '$id', not an event id"
delivered() { grep -qxF "id: $id" "$work/sse" && grep -qxF "data: installed from the package" "$work/sse"; }
wait_for 10 "event $id on the event stream" delivered
kill "$sub_pid" 2>/dev/null || true
wait "$sub_pid" 2>/dev/null || true
sub_pid=

# README.md's nginx settings (its `map` block and its `location /` block, as written) in a server
# of the test's own, on a free port, in front of the hub.
proxy_test() {
  local snippet map_block location_block port proxy proxied_id
  snippet=$(awk '/^```nginx$/ { on = 1; next } on && /^```$/ { exit } on' README.md)
  map_block=$(awk '/^map / { on = 1 } on { print } on && /^}$/ { exit }' <<<"$snippet")
  location_block=$(awk '/^    location \/ \{$/ { on = 1 } on { print } on && /^    }$/ { exit }' <<<"$snippet")
  [ -n "$map_block" ] && [ -n "$location_block" ] ||
    fail "cannot find the map block and the 'location / {' block of README.md's nginx snippet"
  grep -q '^ *proxy_pass http://127\.0\.0\.1:8080;' <<<"$location_block" ||
    fail "README.md's nginx snippet no longer says proxy_pass http://127.0.0.1:8080: update tests/deb/run.sh"
  location_block=${location_block/http:\/\/127.0.0.1:8080/${url%/}}
  port=$(python3 -c 'import socket; s = socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])')
  mkdir -p "$work/nginx"
  {
    echo "worker_processes 1;"
    echo "pid $work/nginx/nginx.pid;"
    echo "error_log $work/nginx/error.log notice;"
    echo "events { worker_connections 64; }"
    echo "http {"
    echo "    access_log off;"
    echo "    client_body_temp_path $work/nginx/body;"
    echo "    proxy_temp_path $work/nginx/proxy;"
    echo "$map_block"
    echo "    server {"
    echo "        listen 127.0.0.1:$port;"
    echo "$location_block"
    echo "    }"
    echo "}"
  } >"$work/nginx/nginx.conf"
  nginx -t -q -p "$work/nginx" -c "$work/nginx/nginx.conf" 2>"$work/nginx/test.log" ||
    { cat "$work/nginx/test.log" >&2; fail "nginx refuses README.md's settings (above)"; }
  nginx -p "$work/nginx" -c "$work/nginx/nginx.conf" -g 'daemon off;' >"$work/nginx/out.log" 2>&1 &
  nginx_pid=$!
  proxy="http://127.0.0.1:$port/"
  nginx_up() {
    alive "$nginx_pid" || fail "nginx exited at start: $(cat "$work/nginx/out.log" "$work/nginx/error.log" 2>/dev/null)"
    curl -sf -o /dev/null "${proxy}healthz"
  }
  wait_for 10 "answer from ${proxy}healthz through nginx" nginx_up

  # An event stream through nginx: the opening frame and the event must arrive while the response
  # is still open; a buffering proxy would hold them until the stream ends.
  curl -sN --max-time 60 --get --data-urlencode "match=$topic" "${proxy}.well-known/mercure" >"$work/proxied-sse" 2>&1 &
  sub_pid=$!
  proxied_subscribed() {
    alive "$sub_pid" || fail "the stream through nginx ended at once: $(cat "$work/proxied-sse")"
    grep -q '^retry:' "$work/proxied-sse"
  }
  wait_for 10 "opening frame of the event stream through nginx (is nginx buffering it?)" proxied_subscribed
  proxied_id=$(curl -sf -d "topic=$topic" -d 'data=through nginx' "${proxy}.well-known/mercure") ||
    fail "the publish through nginx was refused"
  proxied_delivered() { grep -qxF "id: $proxied_id" "$work/proxied-sse" && grep -qxF "data: through nginx" "$work/proxied-sse"; }
  wait_for 10 "event $proxied_id on the event stream through nginx (is nginx buffering it?)" proxied_delivered
  alive "$sub_pid" || fail "the stream through nginx ended with its event: nginx buffered it"
  kill "$sub_pid" 2>/dev/null || true
  wait "$sub_pid" 2>/dev/null || true
  sub_pid=

  # A WebSocket through nginx, from a page of the proxy's origin: upgraded, and a ping answered.
  python3 tests/deb/ws-ping.py 127.0.0.1 "$port" >/dev/null || fail "no WebSocket round trip through nginx (above)"

  kill -TERM "$nginx_pid"
  wait "$nginx_pid" 2>/dev/null || true
  nginx_pid=
}
if command -v nginx >/dev/null && command -v python3 >/dev/null; then
  step "the same through nginx with README.md's proxy settings, and a WebSocket"
  proxy_test
else
  echo "   note: no nginx (Debian package nginx-light) or python3: README.md's proxy settings are not tested"
fi

step "SIGTERM: a clean exit, and the history on disk"
stop_hub
files=$(find "/var/lib/$state" -type f | wc -l)
[ "$files" -gt 0 ] || fail "the hub wrote nothing in /var/lib/$state"
strays=$(find "/var/lib/$state" ! -user "$user")
[ -z "$strays" ] || fail "files in /var/lib/$state not owned by $user: $strays"
start_hub
replay=$(curl -sf --get --data-urlencode "match=$topic" -d transport=poll -d last_event_id=earliest \
  "${url}.well-known/mercure") ||
  fail "polling the restarted hub failed"
grep -qF "\"id\":\"$id\"" <<<"$replay" || fail "the restarted hub does not replay $id from /var/lib/$state: $replay"
stop_hub

step "dpkg --purge: nothing left behind"
dpkg --purge herald >"$work/dpkg.log" 2>&1 || { cat "$work/dpkg.log" >&2; fail "dpkg --purge herald failed (above)"; }
! package_present || fail "dpkg still lists herald after the purge ($(package_state))"
for path in /usr/bin/herald "$unit" "$link" /etc/herald /var/lib/herald; do
  [ ! -e "$path" ] && [ ! -L "$path" ] || fail "$path is still there after the purge"
done
! dpkg-statoverride --list "$config" >/dev/null || fail "the purge left the dpkg-statoverride of $config"
leftovers=$(find /etc /var/lib/dpkg/info /var/lib/systemd /usr/lib/systemd /usr/share/man /usr/share/doc \
  /usr/share/bash-completion /usr/share/zsh /usr/share/fish -name '*herald*' 2>/dev/null || true)
[ -z "$leftovers" ] || fail "the purge left: $leftovers"
echo "   the package's user $user stays after a purge, as Debian does for system users; the test removes it"
echo "ok: the Debian package installs, runs as its unit says, and purges cleanly"
