#!/usr/bin/env bash
# The whole test suite: formatting, lints, unit and integration tests (real servers on
# loopback, the real clamd), then the browser tests. Installs missing tools first.
set -euo pipefail
cd "$(dirname "$0")/.."
./scripts/setup.sh
cargo fmt --all -- --check
cargo clippy --all-targets -- -D warnings
cargo test --all-targets
if [ -x tests/ui/run.sh ]; then
  BIN_DIR=target/debug tests/ui/run.sh
fi
