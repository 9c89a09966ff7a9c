#!/bin/bash
# Fuzzes every target (or those named) for a number of executions, not a
# time, with libFuzzer through cargo-fuzz on the stable toolchain
# (RUSTC_BOOTSTRAP=1 unlocks the -Z flags cargo-fuzz passes), and writes a
# table of executions, time, coverage and findings per target.
#
#   fuzz/run.sh [TARGET...]          (make fuzz)
#   FUZZ_RUNS=1000000                executions per target
#   FUZZ_SANITIZER=none|address      none by default: the code fuzzed is
#                                    safe Rust, where AddressSanitizer finds
#                                    nothing more and halves the speed
#   FUZZ_JOBS=1                      libFuzzer processes per target (more
#                                    than one: their logs are fuzz-N.log)
#
# New inputs go to target/fuzz/corpus/TARGET (the committed seeds in
# fuzz/corpus/TARGET are read, never written); a failing input is written
# to target/fuzz/artifacts/TARGET/ and must then be committed under
# fuzz/regressions/TARGET/ with its fix (see fuzz/README.md).
set -uo pipefail
cd "$(dirname "$0")/.."

RUNS=${FUZZ_RUNS:-1000000}
SANITIZER=${FUZZ_SANITIZER:-none}
JOBS=${FUZZ_JOBS:-1}
CARGO_FUZZ_VERSION=0.13.1
export RUSTC_BOOTSTRAP=1
# The release profile's thin LTO is for the installed agents; for fifteen
# fuzz binaries it only makes each link slow.
export CARGO_PROFILE_RELEASE_LTO=false CARGO_PROFILE_RELEASE_CODEGEN_UNITS=16

if [ "$(cargo fuzz --version 2>/dev/null)" != "cargo-fuzz $CARGO_FUZZ_VERSION" ]; then
    cargo install --locked cargo-fuzz --version "$CARGO_FUZZ_VERSION" || exit 1
fi

if [ $# -gt 0 ]; then
    targets=("$@")
else
    mapfile -t targets < <(sed -n 's|^path = "fuzz_targets/\(.*\)\.rs"$|\1|p' fuzz/Cargo.toml)
fi

out=target/fuzz
mkdir -p "$out"
results=$out/results.md
build=(--fuzz-dir fuzz --features libfuzzer -s "$SANITIZER" --release --debug-assertions)
cargo fuzz build "${build[@]}" || exit 1

failed=0
for t in "${targets[@]}"; do
    mkdir -p "$out/corpus/$t" "$out/artifacts/$t"
    log=$out/$t.log
    start=$SECONDS
    # Several jobs write their logs to fuzz-N.log in the current
    # directory; one runs in this process, logging to $log.
    parallel=()
    [ "$JOBS" -gt 1 ] && parallel=(-jobs="$JOBS" -workers="$JOBS")
    cargo fuzz run "${build[@]}" "$t" "$out/corpus/$t" "fuzz/corpus/$t" -- \
        -runs="$RUNS" "${parallel[@]}" -timeout=10 \
        -artifact_prefix="$out/artifacts/$t/" -print_final_stats=1 > "$log" 2>&1
    rc=$?
    took=$((SECONDS - start))
    execs=$(sed -n 's/^stat::number_of_executed_units: *//p' "$log" | tail -1)
    speed=$(sed -n 's/^stat::average_exec_per_sec: *//p' "$log" | tail -1)
    cov=$(grep -oE 'cov: [0-9]+ ft: [0-9]+' "$log" | tail -1 | sed 's/cov: \([0-9]*\) ft: \([0-9]*\)/\1\/\2/')
    corpus=$(grep -oE 'corp: [0-9]+/[0-9]+[a-zA-Z]*' "$log" | tail -1 | sed 's/corp: //')
    if [ $rc = 0 ]; then
        result="no failure"
    else
        result="FAILED (see $log, $out/artifacts/$t/)"
        failed=$((failed + 1))
    fi
    echo "| $t | ${execs:-?} | $took | ${speed:-?} | ${cov:-?} | ${corpus:-?} | $result |" | tee "$out/$t.result"
done
# One table of every target's latest run (runs of different targets may
# go on in parallel, each writing its own line).
{
    echo "| target | executions | time (s) | exec/s | coverage (cov/ft) | corpus | result |"
    echo "|---|---|---|---|---|---|---|"
    cat "$out"/*.result
} > "$results"
echo "results: $results"
[ $failed = 0 ]
