#!/usr/bin/env bash
# Runs Herald's whole test suite: formatting and lints, the Rust unit and end-to-end tests (which
# start the built binary; among them small zero-loss runs of the load generator against Herald and
# the naive axum hub), the peer comparison's report script on made-up results, the Debian package
# (installed and purged; as root), a short run of every fuzz target (FUZZ_SECONDS each, 10 by
# default; FUZZ_SECONDS=0 skips it), the Autobahn WebSocket conformance cases, the OpenAPI document
# checked against the running hub, then the JavaScript end-to-end tests with third-party clients.
set -euo pipefail
cd "$(dirname "$0")/.."
# The binaries the end-to-end steps run: where cargo builds them.
target=${CARGO_TARGET_DIR:-target}
case "$target" in /*) ;; *) target=$PWD/$target ;; esac

echo "== formatting and lints"
cargo fmt --all --check
cargo fmt --manifest-path fuzz/Cargo.toml --all --check
cargo clippy --workspace --all-targets --locked -- -D warnings
cargo clippy -p herald-server --all-targets --features fuzzing --locked -- -D warnings

echo "== packaging and API docs (every published crate packages with its assets and README; docs build without warnings)"
cargo package -p herald-sse -p herald-core -p herald-store -p herald-server -p herald-client -p herald-bench -p herald \
  --allow-dirty --no-verify --locked >/dev/null
RUSTDOCFLAGS="-D warnings" cargo doc --workspace --no-deps --locked --quiet

echo "== Rust tests"
cargo build --workspace --bins --locked
cargo test --workspace --locked
if [ "$(id -u)" = 0 ]; then
  # Mounts a small tmpfs to fill up: needs root.
  cargo test -p herald --locked --test storage_faults -- --ignored
else
  echo "skipping the full-disk test (tests/storage_faults.rs): it needs root to mount a tmpfs"
fi

echo "== the peer comparison's report (bench/results_md.py on made-up results)"
python3 bench/test_results_md.py

echo "== Debian package: built from the debug binary, installed, run as its unit says, purged"
if [ "$(id -u)" != 0 ]; then
  echo "skipping tests/deb/run.sh: it installs and purges a package with dpkg, so it needs root"
elif ! command -v dpkg >/dev/null; then
  echo "skipping tests/deb/run.sh: it needs dpkg (a Debian or Ubuntu machine)"
else
  tests/deb/run.sh
fi

echo "== fuzzing: a short run of every target over its committed corpus"
if [ "${FUZZ_SECONDS:-10}" != 0 ]; then
  scripts/fuzz.sh "${FUZZ_SECONDS:-10}"
else
  echo "skipped (FUZZ_SECONDS=0)"
fi

echo "== Autobahn WebSocket conformance cases"
HERALD_BIN="$target/debug/herald" tests/autobahn/run.sh

echo "== OpenAPI document and schemathesis"
HERALD_BIN="$target/debug/herald" tests/openapi/run.sh

echo "== JavaScript end-to-end tests"
(cd tests/js && npm ci --no-audit --no-fund --loglevel=error && HERALD_BIN="$target/debug/herald" npm test)

echo "== the README's screenshots, taken again (into tests/js/artifacts/screenshots, so the script keeps working)"
(cd tests/js && SCREENSHOTS_DIR=artifacts/screenshots HERALD_BIN="$target/debug/herald" node screenshots.mjs)
