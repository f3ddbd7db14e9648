#!/usr/bin/env bash
# Checks the core's OpenAPI document against the running code, with the built debug binary on
# loopback (embedded defaults, built-in test engine, temporary data dirs):
#  1. authentication off, a built-in connector on a small temporary folder that is scanned once
#     (so jobs and results exist): /openapi.json must pass openapi-spec-validator, then
#     schemathesis calls every operation except the event streams (they never end);
#  2. authentication on, with an admin API token: schemathesis calls the sign-in and admin
#     routes (users, tokens, connector credentials, audit), which answer 404 with it off.
# Fails on any 5xx and on any answer whose status, content type or body the document does not
# describe. Bounded: SCHEMATHESIS_EXAMPLES examples per operation (default 25). Honours
# CARGO_TARGET_DIR.
set -euo pipefail
cd "$(dirname "$0")/.."
bin="$(realpath "${CARGO_TARGET_DIR:-target}")/debug/dsx-connect"
[ -x "$bin" ] || { echo "schemathesis.sh: $bin not built (cargo build first)" >&2; exit 1; }
command -v st >/dev/null 2>&1 || { echo "schemathesis.sh: schemathesis (st) missing: run scripts/setup.sh" >&2; exit 1; }
command -v openapi-spec-validator >/dev/null 2>&1 || { echo "schemathesis.sh: openapi-spec-validator missing: run scripts/setup.sh" >&2; exit 1; }

work="$(mktemp -d)"
pid=""
stop_core() {
  if [ -n "$pid" ]; then kill "$pid" 2>/dev/null || true; wait "$pid" 2>/dev/null || true; fi
  pid=""
}
trap 'stop_core; rm -rf "$work"' EXIT

# start_core NAME ARGS...: starts `serve ARGS` with data dir $work/NAME (environment from the
# caller) and waits until it is ready; sets $base and $api.
start_core() {
  local name=$1; shift
  local port
  port="$(python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])')"
  base="http://127.0.0.1:$port"
  api="$base/dsx-connect/api/v1"
  DSXCONNECT_HOST=127.0.0.1 DSXCONNECT_PORT="$port" DSXCONNECT_DATA_DIR="$work/$name" \
    "$bin" serve "$@" >"$work/$name.log" 2>&1 &
  pid=$!
  deadline=$((SECONDS + 120))
  until curl -fsS "$api/readyz" >/dev/null 2>&1; do
    if ! kill -0 "$pid" 2>/dev/null; then echo "the core exited:" >&2; cat "$work/$name.log" >&2; exit 1; fi
    if [ $SECONDS -ge $deadline ]; then echo "the core did not become ready" >&2; cat "$work/$name.log" >&2; exit 1; fi
    sleep 0.5
  done
}

# run_st NAME ARGS...: schemathesis against the running core; fails the script on failures.
run_st() {
  local name=$1; shift
  local status=0
  st run "$base/openapi.json" \
    --checks not_a_server_error,status_code_conformance,content_type_conformance,response_schema_conformance \
    --phases examples,coverage,fuzzing \
    --max-examples "${SCHEMATHESIS_EXAMPLES:-25}" \
    --request-timeout 30 \
    --generation-deterministic \
    --suppress-health-check all \
    --no-color "$@" || status=$?
  if ! kill -0 "$pid" 2>/dev/null; then echo "the core died during the run:" >&2; tail -50 "$work/$name.log" >&2; exit 1; fi
  [ $status -eq 0 ] || { echo "schemathesis ($name) failed" >&2; exit $status; }
}

# 1. Authentication off.
mkdir -p "$work/tree/sub"
for i in 1 2 3; do echo "file $i" >"$work/tree/sub/f$i.txt"; done
start_core open --fs "$work/tree"
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
run_st open --workers 2 --exclude-path-regex '/subscribe/'
stop_core

# 2. Authentication on: the sign-in and admin routes with an admin token. Revoking tokens is
# left out (schemathesis reuses ids it has seen, and would revoke its own credential).
export DSXCONNECT_AUTH__ENABLED=true DSXCONNECT_AUTH__ENROLLMENT_TOKEN_FILE="$work/enroll"
head -c 32 /dev/urandom | base64 >"$work/enroll"
token="$(DSXCONNECT_DATA_DIR="$work/auth" "$bin" token create --name schemathesis --role admin 2>/dev/null | grep -o 'dsx_[A-Za-z0-9_-]*' | head -1)"
[ -n "$token" ] || { echo "could not create an API token" >&2; exit 1; }
start_core auth
curl -fsS -H "Authorization: Bearer $token" "$base/openapi.json" -o "$work/openapi-auth.json"
openapi-spec-validator "$work/openapi-auth.json"
run_st auth -H "Authorization: Bearer $token" \
  --include-path-regex '/(admin/(users|tokens|connectors|audit)|auth/)' \
  --exclude-operation-id delete_dsx_connect_api_v1_admin_tokens__id_
