#!/usr/bin/env bash
# Runs the web UI tests (docs/reference/UI.md, "Tests"): the static checks, then every end-to-end
# scenario in a headless Debian Chromium driven by playwright-core. Each scenario file starts its
# own DSXA stub and `dsx-connect serve` on free loopback ports with a temporary data dir and
# generated trees (EICAR files are written at run time), and stops them when done.
#
#   BIN_DIR=target/release tests/ui/run.sh          # binaries (default target/debug, repo-relative)
#   tests/ui/run.sh 02-scan.test.mjs                # only some scenario files
#   UI_BENCH_FILES=20000 (default)                  # size of the streaming benchmark
#   DOCS_SCREENSHOTS=0                              # do not refresh docs/screenshots/
#   UI_MIME_SHIM=1                                  # see lib/browser.mjs (never needed with a good core)
#
# Needs: node ≥ 18, npm, /usr/bin/chromium (apt-get install -y chromium). Exits non-zero on any failure.
set -euo pipefail

HERE="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
REPO="$(cd "$HERE/../.." && pwd)"
cd "$REPO"

export BIN_DIR="$(cd "$REPO" && realpath -m "${BIN_DIR:-target/debug}")"
for bin in dsx-connect dsxa-stub; do
  if [[ ! -x "$BIN_DIR/$bin" ]]; then
    echo "run.sh: $BIN_DIR/$bin not found (build it, or set BIN_DIR)" >&2
    exit 2
  fi
done
if [[ ! -x "${CHROMIUM:-/usr/bin/chromium}" ]]; then
  echo "run.sh: ${CHROMIUM:-/usr/bin/chromium} missing (apt-get install -y chromium); the suite never downloads a browser" >&2
  exit 2
fi

if [[ ! -d "$HERE/node_modules/playwright-core" || ! -d "$HERE/node_modules/axe-core" ]]; then
  (cd "$HERE" && PLAYWRIGHT_SKIP_BROWSER_DOWNLOAD=1 npm ci --no-audit --no-fund --loglevel=error)
fi

export UI_TEST_TMP="$(mktemp -d "${TMPDIR:-/tmp}/dsx-ui-e2e.XXXXXX")"
export SCREENSHOT_DIR="${SCREENSHOT_DIR:-$REPO/target/e2e/screenshots}"
mkdir -p "$SCREENSHOT_DIR"

cleanup() {
  local rc=$?
  # Scenario files stop their own servers (also when a runner process dies, see lib/servers.mjs).
  if [[ $rc -ne 0 ]]; then
    mkdir -p "$SCREENSHOT_DIR/logs"
    cp -r "$UI_TEST_TMP/logs/." "$SCREENSHOT_DIR/logs/" 2>/dev/null || true
    echo "run.sh: failed (rc=$rc); screenshots, FAIL-* artifacts and server logs in $SCREENSHOT_DIR" >&2
  fi
  rm -rf "$UI_TEST_TMP"
  exit $rc
}
trap cleanup EXIT

start=$(date +%s)
status=0

echo "== static checks (U-01, U-02, U-04; U-03 below)"
node "$HERE/static-checks.mjs" || status=1

# U-03 needs a running core: a short-lived one with the UI from static/.
echo "== U-03 served headers and content types"
node --input-type=module -e "
  import { startStub, startCore, stopAll } from '$HERE/lib/servers.mjs';
  import { spawnSync } from 'node:child_process';
  const stub = await startStub({ delayMs: 0 });
  const core = await startCore({ trees: [], stub });
  const r = spawnSync(process.execPath, ['$HERE/static-checks.mjs'], { env: { ...process.env, UI_CORE_URL: core.base, UI_ONLY_U03: '1' }, stdio: 'inherit' });
  await stopAll();
  process.exit(r.status ?? 1);
" || status=1

echo "== end-to-end scenarios"
if [[ $# -gt 0 ]]; then
  files=()
  for f in "$@"; do [[ -e "$f" ]] && files+=("$f") || files+=("$HERE/$f"); done
else
  files=("$HERE"/[0-9][0-9]-*.test.mjs)
fi
# One scenario file at a time: the machine has two cores and the scenarios check timings.
node --test --test-concurrency=1 --test-reporter=spec "${files[@]}" || status=1

echo "== run.sh finished in $(( $(date +%s) - start )) s (status $status)"
exit $status
