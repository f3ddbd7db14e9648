#!/usr/bin/env bash
# The web UI under a result burst (issue 6 benchmark): 20,000 results streaming at full scan
# speed into a real Chromium page driven over a bare DevTools pipe (tests/ui/lib/cdp.mjs); reports
# long tasks, frame gaps and DOM rows, and fails when a main-thread task exceeds 100 ms
# (UI_BENCH_MAX_TASK_MS) or the DOM holds more than 500 rows.
#   bench/ui_burst.sh            (release binaries)
set -euo pipefail
cd "$(dirname "$0")/.."
[ -x target/release/dsx-connect ] || cargo build --release --bins
UI_PERF=1 DOCS_SCREENSHOTS=0 BIN_DIR=target/release exec tests/ui/run.sh 08-burst.test.mjs
