#!/usr/bin/env bash
# Fuzzes the targets in fuzz/ (fuzz_targets/*.rs): the filter language (filter_tokenizer) and
# location decoding with path confinement (location_confine).
#   scripts/fuzz.sh [SECONDS]   each target for SECONDS (default 300), growing fuzz/corpus/
#   scripts/fuzz.sh --ci        each target for its fixed number of runs from the committed seeds
#                               only (the test suite); a crash fails with the input in
#                               fuzz/artifacts/
# Needs cargo-fuzz (scripts/setup.sh installs it). Uses the nightly toolchain when installed,
# otherwise the stable one with RUSTC_BOOTSTRAP (cargo-fuzz needs unstable sanitizer flags).
set -euo pipefail
cd "$(dirname "$0")/../fuzz"
command -v cargo-fuzz >/dev/null 2>&1 || cargo install cargo-fuzz --locked
toolchain=()
if rustup toolchain list 2>/dev/null | grep -q '^nightly'; then
  toolchain=(+nightly)
else
  export RUSTC_BOOTSTRAP=1
fi
# Runs per target in --ci mode: about 15 s each on the 2-core machine.
declare -A ci_runs=([filter_tokenizer]=300000 [location_confine]=200000)
mode="${1:-300}"
scratch="$(mktemp -d)"
trap 'rm -rf "$scratch"' EXIT
for target in filter_tokenizer location_confine; do
  if [ "$mode" = "--ci" ]; then
    corpus="$scratch/$target"
    mkdir -p "$corpus"
    limit=(-runs="${ci_runs[$target]}")
  else
    corpus="corpus/$target"
    mkdir -p "$corpus"
    limit=(-max_total_time="$mode" -print_final_stats=1)
  fi
  echo "fuzz: $target (${limit[*]})"
  cargo "${toolchain[@]}" fuzz run -O "$target" "$corpus" "seeds/$target" -- \
    "${limit[@]}" -max_len=512 -timeout=5
done
