#!/usr/bin/env bash
# Builds dsx-connect, drops EICAR test files into examples/sample-tree, and scans the tree with
# the embedded defaults (built-in engine, embedded store) while serving the web UI at
# http://127.0.0.1:8586/. Malicious files are only reported (use --action move to quarantine).
set -euo pipefail
cd "$(dirname "$0")/.."
tree=examples/sample-tree
# The EICAR test string, assembled at run time so no file in the repository holds it as-is.
half1='X5O!P%@AP[4\PZX54(P^)7CC)7}$EICAR'
half2='-STANDARD-ANTIVIRUS-TEST-FILE!$H+H*'
printf '%s%s' "$half1" "$half2" > "$tree/documents/eicar.com"
printf 'prefix %s%s suffix\n' "$half1" "$half2" > "$tree/projects/2025/eicar-in-text.txt"
cargo build --release --bin dsx-connect
exec ./target/release/dsx-connect scan "$tree" --ui "${DSX_DEMO_UI:-127.0.0.1:8586}" "$@"
