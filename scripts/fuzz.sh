#!/usr/bin/env bash
# Fuzzes the filter tokenizer and matcher (fuzz/fuzz_targets/filter_tokenizer.rs) for the given
# number of seconds (default 300). Needs cargo-fuzz; uses the nightly toolchain when installed,
# otherwise the stable one with RUSTC_BOOTSTRAP (cargo-fuzz needs unstable sanitizer flags).
set -euo pipefail
cd "$(dirname "$0")/.."
secs="${1:-300}"
command -v cargo-fuzz >/dev/null 2>&1 || cargo install cargo-fuzz --locked
toolchain=()
if rustup toolchain list 2>/dev/null | grep -q '^nightly'; then
  toolchain=(+nightly)
else
  export RUSTC_BOOTSTRAP=1
fi
mkdir -p fuzz/corpus/filter_tokenizer
cargo "${toolchain[@]}" fuzz run filter_tokenizer fuzz/corpus/filter_tokenizer fuzz/seeds -- \
  -max_total_time="$secs" -max_len=512 -timeout=5 -print_final_stats=1
