#!/usr/bin/env bash
# Runs the cargo-fuzz (libFuzzer) targets in fuzz/, one after the other, each for a set time,
# starting from the committed seed corpus in fuzz/corpus/<target>/.
#
#   scripts/fuzz.sh                     every target, 60 s each
#   scripts/fuzz.sh 30                  every target, 30 s each
#   scripts/fuzz.sh 30 sse_parse jwt    those targets, 30 s each
#   FUZZ_SECONDS=30 scripts/fuzz.sh sse_parse jwt
#
# Settings (environment):
#   FUZZ_SECONDS    time per target, in seconds (default 60; a number as first argument wins)
#   FUZZ_GROW=1     run on the committed corpus itself, keeping the inputs that reach new code;
#                   then minimize it to a small set that covers the same edges:
#                     cargo fuzz cmin TARGET fuzz/corpus/TARGET -- -use_counters=0 -set_cover_merge=1
#                   By default each run works on a scratch copy and leaves fuzz/corpus/ as it is.
#   FUZZ_SANITIZER  address (default) or none: none builds without AddressSanitizer and runs
#                   about twice as many executions; Rust's own checks still catch what safe
#                   code gets wrong.
#   FUZZ_RUNS       stop a target after this many executions, if that comes before its time
#   FUZZ_TIMEOUT    seconds one input may take before it counts as a hang (default 10)
#   CARGO_TARGET_DIR  where the instrumented build goes (cargo's default otherwise)
#
# For each target it prints the executions and executions per second from libFuzzer's final
# statistics. It exits non-zero if any target crashed (or hung), naming the input that did it,
# saved under fuzz/artifacts/<target>/; `cargo fuzz run TARGET THAT_FILE` replays it.
#
# Needs cargo-fuzz (`cargo install cargo-fuzz --locked`) and a C++ compiler for libFuzzer. On a
# stable toolchain the script sets RUSTC_BOOTSTRAP=1 for the nightly-only flags cargo-fuzz
# passes to rustc.
set -euo pipefail
cd "$(dirname "$0")/.."

seconds="${FUZZ_SECONDS:-60}"
if [[ $# -gt 0 && "$1" =~ ^[0-9]+$ ]]; then
  seconds="$1"
  shift
fi
sanitizer="${FUZZ_SANITIZER:-address}"
timeout="${FUZZ_TIMEOUT:-10}"

if ! cargo fuzz --version >/dev/null 2>&1; then
  echo "scripts/fuzz.sh: cargo-fuzz is not installed; install it with:" >&2
  echo "    cargo install cargo-fuzz --locked" >&2
  exit 2
fi
export RUSTC_BOOTSTRAP=1

all_targets=$(cargo fuzz list)
if [[ $# -gt 0 ]]; then
  targets=("$@")
  for target in "${targets[@]}"; do
    if ! grep -qx "$target" <<<"$all_targets"; then
      echo "scripts/fuzz.sh: no fuzz target named $target; there are: $(echo $all_targets)" >&2
      exit 2
    fi
  done
else
  mapfile -t targets <<<"$all_targets"
fi

echo "== building the fuzz targets (sanitizer: $sanitizer)"
cargo fuzz build --sanitizer "$sanitizer"

scratch=$(mktemp -d)
trap 'rm -rf "$scratch"' EXIT
failed=()
summary=()
for target in "${targets[@]}"; do
  corpus="fuzz/corpus/$target"
  mkdir -p "$corpus"
  if [[ "${FUZZ_GROW:-0}" != 1 ]]; then
    mkdir -p "$scratch/$target"
    cp -R "$corpus/." "$scratch/$target/"
    corpus="$scratch/$target"
  fi
  options=(-max_total_time="$seconds" -timeout="$timeout" -print_final_stats=1)
  if [[ -n "${FUZZ_RUNS:-}" ]]; then
    options+=(-runs="$FUZZ_RUNS")
  fi
  if [[ -f "fuzz/dicts/$target.dict" ]]; then
    options+=(-dict="fuzz/dicts/$target.dict")
  fi
  log="$scratch/$target.log"
  echo "== $target: $seconds s from $(find "$corpus" -type f | wc -l) inputs"
  status=0
  cargo fuzz run --sanitizer "$sanitizer" "$target" "$corpus" -- "${options[@]}" >"$log" 2>&1 || status=$?
  runs=$(sed -n 's/^stat::number_of_executed_units: *//p' "$log" | tail -n 1)
  rate=$(sed -n 's/^stat::average_exec_per_sec: *//p' "$log" | tail -n 1)
  if [[ $status -ne 0 ]]; then
    # What went wrong (a panic, a sanitizer report, a hang or running out of memory), with the
    # start of its backtrace; the whole log is long.
    first=$(grep -n -m 1 -E "panicked at|==ERROR|ALARM: working|out-of-memory|deadly signal" "$log" | cut -d: -f1)
    sed -n "${first:-1},+40p" "$log"
    artifact=$(sed -n 's/.*Test unit written to \(.*\)$/\1/p' "$log" | tail -n 1)
    echo "!! $target FAILED (exit $status): input saved as ${artifact:-<none: see the log above>}"
    failed+=("$target")
    summary+=("$(printf '%-14s %12s runs %8s exec/s  FAILED %s' "$target" "${runs:-?}" "${rate:-?}" "${artifact:-}")")
  else
    echo "   ${runs:-?} runs, ${rate:-?} exec/s"
    summary+=("$(printf '%-14s %12s runs %8s exec/s' "$target" "${runs:-?}" "${rate:-?}")")
  fi
done

echo "== fuzzing summary ($seconds s per target, sanitizer: $sanitizer)"
printf '%s\n' "${summary[@]}"
if [[ ${#failed[@]} -gt 0 ]]; then
  echo "fuzzing found failures in: ${failed[*]}" >&2
  exit 1
fi
