#!/usr/bin/env bash
# Builds Herald's Debian package: the release binary, then the files generated from it (man pages,
# shell completions, the default /etc/herald/herald.toml), then `cargo deb -p herald --no-build`.
#
#   packaging/build-deb.sh                      # writes target/debian/herald_<version>_<arch>.deb
#   packaging/build-deb.sh --output DIR/        # elsewhere; other options go to `cargo deb`
#   packaging/build-deb.sh --binary FILE ...    # package this herald binary instead of building
#                                               # one (tests/deb/run.sh packages the debug build)
set -euo pipefail
cd "$(dirname "$0")/.."

binary=
output=
cargo_deb_args=()
while [ $# -gt 0 ]; do
  case "$1" in
    --binary) binary="${2:?--binary needs the path of a herald binary}"; shift 2 ;;
    --output) output="${2:?--output needs a file or directory}"; shift 2 ;;
    *) cargo_deb_args+=("$1"); shift ;;
  esac
done

if ! cargo deb --version >/dev/null 2>&1; then
  echo "error: cargo-deb is missing: install it with \`cargo install cargo-deb --locked\`" >&2
  exit 1
fi

# Where cargo puts what it builds (CARGO_TARGET_DIR and the cargo configuration included).
target_dir=$(cargo metadata --format-version 1 --no-deps --locked | sed -n 's/.*"target_directory":"\([^"]*\)".*/\1/p')
if [ -z "$target_dir" ]; then
  echo "error: cannot find the target directory in \`cargo metadata\`'s output" >&2
  exit 1
fi
output="${output:-$target_dir/debian/}"

if [ -n "$binary" ]; then
  if [ ! -x "$binary" ]; then
    echo "error: --binary $binary is not an executable file: build it first (cargo build -p herald)" >&2
    exit 1
  fi
  # cargo-deb takes the binary from <target>/release/: give it a target directory of its own
  # with a link to this one there, so the real release directory is left alone (cargo-deb strips
  # into a copy, never the file itself).
  stage=$(mktemp -d)
  trap 'rm -rf "$stage"' EXIT
  mkdir -p "$stage/release"
  ln -s "$(realpath "$binary")" "$stage/release/herald"
  export CARGO_TARGET_DIR="$stage"
  profile_dir="$stage/release"
else
  cargo build --release -p herald --locked
  profile_dir="$target_dir/release"
fi
herald="$profile_dir/herald"

# The generated files, where the `assets` of crates/herald/Cargo.toml take them
# (`target/release/packaging/...`), made afresh each time so that none is stale.
assets="$profile_dir/packaging"
rm -rf "$assets"
mkdir -p "$assets/man" "$assets/completions"

# Manual pages: herald.1, herald-serve.1, ..., compressed as Debian's policy asks.
"$herald" man --out-dir "$assets/man" >/dev/null
gzip -9n "$assets"/man/*.1

"$herald" completions bash >"$assets/completions/herald"
"$herald" completions zsh >"$assets/completions/_herald"
"$herald" completions fish >"$assets/completions/herald.fish"

# The default configuration: every setting at its default (`herald genconfig`), but the history
# goes to the unit's StateDirectory, and the demo publishers are off (the clock alone would
# publish an event every second into the history, pushing real events out of it).
state_dir=$(sed -n 's/^StateDirectory=//p' packaging/herald.service)
if [ "$state_dir" != herald ]; then
  echo "error: packaging/herald.service should say StateDirectory=herald (the data_dir written below), not '$state_dir'" >&2
  exit 1
fi
genconfig=$("$herald" genconfig)
set_key() { # KEY DEFAULT VALUE: replaces the one line `KEY = DEFAULT` of the generated file
  local line="$1 = $2"
  if [ "$(grep -cxF "$line" <<<"$genconfig")" != 1 ]; then
    echo "error: \`herald genconfig\` no longer prints exactly one line \`$line\`: update packaging/build-deb.sh" >&2
    exit 1
  fi
  genconfig=${genconfig/"$line"/"$1 = $3"}
}
set_key data_dir '"herald-data"' '"/var/lib/herald"'
set_key no_demo false true
{
  echo "# /etc/herald/herald.toml: the configuration of the herald service (herald.service), from the"
  echo "# Debian package. It is \`herald genconfig\`'s file with two changes for a service: data_dir is"
  echo "# /var/lib/herald (the unit's StateDirectory) and the demo publishers are off (no_demo)."
  echo "# After editing it: sudo -u herald herald check-config /etc/herald/herald.toml, then"
  echo "# systemctl restart herald."
  echo "#"
  printf '%s\n' "$genconfig"
} >"$assets/herald.toml"
"$herald" check-config "$assets/herald.toml" >/dev/null

cargo deb -p herald --no-build --locked --output "$output" "${cargo_deb_args[@]}"
