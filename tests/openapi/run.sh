#!/usr/bin/env bash
# Checks the OpenAPI document of the hub's HTTP API (crates/herald-server/assets/openapi.yaml,
# served at /openapi.yaml): validates it with openapi-spec-validator, then starts the built hub
# (HERALD_BIN, default target/debug/herald) on a free loopback port, with a JWT key so the
# authorization paths answer as in production (and a CORS origin, which every request comes
# from, so the CORS headers are checked too), and runs schemathesis against the document the
# hub serves: every operation (that of /openapi.yaml too, which schemathesis leaves out unless a
# filter selects it), valid and invalid requests, OPENAPI_EXAMPLES examples per operation and
# phase (default 25), every check but one (no server error; documented status codes, content
# types, headers and response schemas; invalid data refused; authorization enforced; unsupported
# methods refused with 405 and Allow). Fails on any finding. The tools live in a venv under
# target/openapi-venv/, made once per pinned version.
#
# Left out: positive_data_acceptance, which expects every schema-valid request to succeed. The
# hub refuses some of them by design, for rules an OpenAPI schema cannot state: a subscription
# needs at least one of four optional matcher parameters; a topic must not hold Unicode format
# characters or lie in the hub's reserved namespace; /ws answers only a WebSocket handshake. The
# document lists each of those refusals as a 400, and status_code_conformance checks them.
#
# Event streams never end by themselves: tests/openapi/hooks.py gives every request a token
# that expires a second or two later, and the hub ends a subscription at its token's exp, so
# each streamed response ends and is checked whole. Schemathesis speaks plain HTTP, so it does
# not make WebSocket handshakes: tests/openapi/websocket.py opens a WebSocket on each documented
# path and checks the 101, its headers, and the JSON messages both ways against the document's
# schemas.
set -euo pipefail
cd "$(dirname "$0")/../.."

spec_validator_version=0.9.0
schemathesis_version=4.32.5
venv=target/openapi-venv/openapi-spec-validator-$spec_validator_version-schemathesis-$schemathesis_version
if [ ! -e "$venv/.installed" ]; then
  rm -rf "$venv"
  python3 -m venv "$venv"
  "$venv/bin/pip" install --quiet --disable-pip-version-check \
    "openapi-spec-validator==$spec_validator_version" "schemathesis==$schemathesis_version"
  touch "$venv/.installed"
fi

document=crates/herald-server/assets/openapi.yaml
"$venv/bin/openapi-spec-validator" "$document"

binary=${HERALD_BIN:-target/debug/herald}
key=$(od -An -N32 -tx1 /dev/urandom | tr -d ' \n')
log=$(mktemp)
origin=https://app.example.com
HERALD_JWT_KEY=$key "$binary" serve --addr 127.0.0.1:0 --store memory --no-demo --jwt-query-param --subscriptions \
  --cors-origin "$origin" >"$log" 2>&1 &
hub=$!
trap 'kill "$hub" 2>/dev/null || true; rm -f "$log"' EXIT
for _ in $(seq 100); do
  grep -q "listening on" "$log" && break
  kill -0 "$hub" 2>/dev/null || break
  sleep 0.1
done
address=$(grep 'listening on' "$log" | grep -o 'http://[0-9.:]*' | head -n 1 | sed 's|http://||')
[ -n "$address" ] || { echo "the hub did not start:"; cat "$log"; exit 1; }

# unsupported_method is left out: it sends QUERY, which the hub serves (subscribing with a form
# body) but OpenAPI 3.1 cannot declare; tests/js/query.test.mjs checks QUERY and the 405 (with
# Allow) of the methods the hub does not serve.
# Schemathesis keeps a cache in its working directory: run it in one under target/.
# One worker: with several, hypothesis' generator threads now and then fail inside Python's own
# parser ("AST constructor recursion depth mismatch", a race in CPython 3.11), an error of the
# tool, not of the hub; one worker takes about a minute.
work=target/openapi-run
rm -rf "$work"
mkdir -p "$work"
(cd "$work" && HERALD_OPENAPI_JWT_KEY=$key SCHEMATHESIS_HOOKS=../../tests/openapi/hooks.py \
  "../../$venv/bin/schemathesis" run "http://$address/openapi.yaml" \
  --include-path-regex '^/' \
  --header "Origin: $origin" \
  --checks all --exclude-checks positive_data_acceptance,unsupported_method \
  --max-examples "${OPENAPI_EXAMPLES:-25}" \
  --workers 1 \
  --request-timeout 15 \
  --generation-database none \
  --no-color \
  --report junit --report-dir report) || { echo "schemathesis found problems; the hub's log:"; tail -n 50 "$log"; exit 1; }

HERALD_OPENAPI_JWT_KEY=$key "$venv/bin/python" tests/openapi/websocket.py "$address"
