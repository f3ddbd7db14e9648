#!/usr/bin/env bash
# The whole test suite: formatting, lints, unit and integration tests (real servers on
# loopback, the real clamd, Redis), the HTTP suites once more on the Redis backend, then the
# OpenAPI document against a live core (schemathesis), the browser tests, and each fuzz target
# for a fixed number of runs. Installs missing tools first.
set -euo pipefail
cd "$(dirname "$0")/.."
./scripts/setup.sh
cargo fmt --all -- --check
cargo clippy --all-targets -- -D warnings
cargo test --all-targets
# The same HTTP-level suites again on the Redis backend (a private redis-server per core).
DSX_TEST_BACKEND=redis cargo test --test it -- \
  pipeline:: api_jobs:: job_control:: api_intake:: api_failures:: schedules:: \
  api_connectors:: api_identity:: engines:: tls::
# The OpenAPI document: a standard validator, then schemathesis against a live core.
cargo build --bins
./scripts/schemathesis.sh
# The fuzz targets (fuzz/) from their committed seeds; a crash fails the suite.
./scripts/fuzz.sh --ci
if [ -x tests/ui/run.sh ]; then
  BIN_DIR="${CARGO_TARGET_DIR:-target}/debug" tests/ui/run.sh
fi
