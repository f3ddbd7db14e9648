#!/usr/bin/env bash
# Checks the core's OpenAPI document against the running code: starts the built debug binary
# (embedded defaults, built-in test engine, loopback, a temporary data dir, a built-in
# connector on a small temporary folder that is scanned once so jobs and results exist), validates
# /openapi.json with openapi-spec-validator, then lets schemathesis call every operation with
# generated requests. It fails on any 5xx and on any answer whose status, content type or body
# the document does not describe. Bounded: a few examples per operation, event streams skipped
# (they never end). Honours CARGO_TARGET_DIR; SCHEMATHESIS_EXAMPLES sets the examples per
# operation (default 25).
set -euo pipefail
cd "$(dirname "$0")/.."
bin="${CARGO_TARGET_DIR:-target}/debug/dsx-connect"
[ -x "$bin" ] || { echo "schemathesis.sh: $bin not built (cargo build first)" >&2; exit 1; }
command -v st >/dev/null 2>&1 || { echo "schemathesis.sh: schemathesis (st) missing: run scripts/setup.sh" >&2; exit 1; }
command -v openapi-spec-validator >/dev/null 2>&1 || { echo "schemathesis.sh: openapi-spec-validator missing: run scripts/setup.sh" >&2; exit 1; }

work="$(mktemp -d)"
pid=""
cleanup() {
  if [ -n "$pid" ]; then kill "$pid" 2>/dev/null || true; wait "$pid" 2>/dev/null || true; fi
  rm -rf "$work"
}
trap cleanup EXIT

port="$(python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])')"
base="http://127.0.0.1:$port"
mkdir -p "$work/tree/sub"
for i in 1 2 3; do echo "file $i" >"$work/tree/sub/f$i.txt"; done
DSXCONNECT_HOST=127.0.0.1 DSXCONNECT_PORT="$port" DSXCONNECT_DATA_DIR="$work/data" \
  "$bin" serve --fs "$work/tree" >"$work/core.log" 2>&1 &
pid=$!

deadline=$((SECONDS + 120))
until curl -fsS "$base/dsx-connect/api/v1/readyz" >/dev/null 2>&1; do
  if ! kill -0 "$pid" 2>/dev/null; then echo "the core exited:" >&2; cat "$work/core.log" >&2; exit 1; fi
  if [ $SECONDS -ge $deadline ]; then echo "the core did not become ready" >&2; cat "$work/core.log" >&2; exit 1; fi
  sleep 0.5
done

# One full scan, so the job and result routes answer with data.
api="$base/dsx-connect/api/v1"
uuid=""
until [ -n "$uuid" ]; do
  uuid="$(curl -fsS "$api/connectors/list" | python3 -c 'import json,sys; c=json.load(sys.stdin); print(c[0]["uuid"] if c else "")')"
  if [ -z "$uuid" ] && [ $SECONDS -ge $deadline ]; then echo "the built-in connector did not register" >&2; exit 1; fi
  [ -n "$uuid" ] || sleep 0.5
done
job="$(curl -fsS -X POST "$api/connectors/full_scan/$uuid" | python3 -c 'import json,sys; print(json.load(sys.stdin)["id"])')"
until curl -fsS "$api/scan/jobs/$job" | python3 -c 'import json,sys; sys.exit(json.load(sys.stdin)["status"] != "completed")'; do
  if [ $SECONDS -ge $deadline ]; then echo "the full scan did not complete" >&2; exit 1; fi
  sleep 0.5
done

curl -fsS "$base/openapi.json" -o "$work/openapi.json"
openapi-spec-validator "$work/openapi.json"

status=0
st run "$base/openapi.json" \
  --checks not_a_server_error,status_code_conformance,content_type_conformance,response_schema_conformance \
  --exclude-path-regex '/subscribe/' \
  --phases examples,coverage,fuzzing \
  --max-examples "${SCHEMATHESIS_EXAMPLES:-25}" \
  --request-timeout 30 \
  --workers 2 \
  --generation-deterministic \
  --suppress-health-check all \
  --no-color || status=$?
if ! kill -0 "$pid" 2>/dev/null; then echo "the core died during the run:" >&2; tail -50 "$work/core.log" >&2; exit 1; fi
exit $status
