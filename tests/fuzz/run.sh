#!/usr/bin/env bash
# Runs every fuzz target (or those named) for SECONDS each, one after another, and prints each
# target's executions. Inputs that crash land in tests/fuzz/artifacts/TARGET/; copy each into
# tests/fuzz/regressions/TARGET/ with the fix, and `cargo test --test fuzz_regressions` replays it.
#
#   tests/fuzz/run.sh 600                      # build (cargo fuzz, nightly) and run all, 10 min each
#   tests/fuzz/run.sh 60 tick_json file_rows   # two targets, a minute each
#   FUZZ_BIN_DIR=DIR tests/fuzz/run.sh 600     # run prebuilt binaries from DIR (no toolchain needed)
#   FUZZ_JOBS=7 tests/fuzz/run.sh 600          # run the targets in parallel, this many at a time
set -euo pipefail
cd "$(dirname "$0")"
seconds=${1:-600}
shift || true
targets=("$@")
if [ ${#targets[@]} -eq 0 ]; then
    targets=(tick_json news_json control_json file_rows job_config control_body model_answer)
fi
bin_dir=${FUZZ_BIN_DIR:-}
if [ -z "$bin_dir" ]; then
    cargo +nightly fuzz build --fuzz-dir . "${targets[@]/#/}" >/dev/null 2>&1 || cargo +nightly fuzz build --fuzz-dir .
    bin_dir=target/x86_64-unknown-linux-gnu/release
fi
run_one() {
    local t=$1
    mkdir -p "corpus/$t" "artifacts/$t"
    cp -n seeds/"$t"/* "corpus/$t/" 2>/dev/null || true
    # Every regression input is a seed too, so the fuzzer starts from what once crashed.
    cp -n regressions/"$t"/* "corpus/$t/" 2>/dev/null || true
    "$bin_dir/$t" "corpus/$t" -max_total_time="$seconds" -rss_limit_mb=2048 -max_len=65536 \
        -artifact_prefix="artifacts/$t/" -print_final_stats=1 >"artifacts/$t.log" 2>&1 || true
    local execs
    execs=$(grep -o 'stat::number_of_executed_units: *[0-9]*' "artifacts/$t.log" | grep -o '[0-9]*$' || echo '?')
    local crashes
    crashes=$(find "artifacts/$t" -type f | wc -l)
    printf '%-14s %10s executions in %ss, %s crash inputs, corpus %s\n' "$t" "$execs" "$seconds" "$crashes" "$(ls "corpus/$t" | wc -l)"
}
# Leaks are checked, but for the CUDA driver's own load-time allocations (see lsan.supp).
export LSAN_OPTIONS="suppressions=$PWD/lsan.supp:print_suppressions=0"
export -f run_one
export seconds bin_dir
printf '%s\n' "${targets[@]}" | xargs -P "${FUZZ_JOBS:-1}" -I{} bash -c 'run_one {}'
