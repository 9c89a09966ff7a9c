#!/bin/bash
# Runs every test of the project on a Debian 12 machine, as root:
# formatting and lints, unit tests, the cluster test suite against real
# peers (OpenSSH sshd, dropbear, VMware's vSphere simulator, Pacemaker's
# stonith_admin, pacemaker-fenced, pcs, corosync), the Debian package and
# the RPM.
# Installs the Debian packages it needs first. Ends with one line
# "N passed, N failed" counting every test of every suite.
set -uo pipefail
cd "$(dirname "$0")"
export CARGO_TERM_COLOR=never
mkdir -p target/cts
log=target/cts/test-run.log
: > "$log"

passed=0
failed=0
failures=()

# A step that is not itself a test suite: counts as one test.
step() {
    local name=$1
    shift
    echo "=== $name"
    if "$@"; then
        passed=$((passed + 1))
    else
        failed=$((failed + 1))
        failures+=("$name")
        echo "--- FAILED: $name"
    fi
}

# Add the counts of the "test result:" lines of cargo test, or of the
# "N passed, N failed" line of a shell suite, to the totals.
count_cargo() {
    local p f
    p=$(awk '/^test result:/ { for (i = 1; i <= NF; i++) if ($(i+1) ~ /^passed;/) s += $i } END { print s + 0 }' "$1")
    f=$(awk '/^test result:/ { for (i = 1; i <= NF; i++) if ($(i+1) ~ /^failed;/) s += $i } END { print s + 0 }' "$1")
    passed=$((passed + p))
    failed=$((failed + f))
}

suite() {
    local name=$1 start=$SECONDS
    shift
    echo "=== $name"
    local out=target/cts/$name.log
    "$@" 2>&1 | tee "$out"
    local rc=${PIPESTATUS[0]}
    local line
    line=$(grep -E '^[0-9]+ passed, [0-9]+ failed' "$out" | tail -1)
    if [ -n "$line" ]; then
        passed=$((passed + $(echo "$line" | sed -E 's/^([0-9]+) passed.*/\1/')))
        failed=$((failed + $(echo "$line" | sed -E 's/^[0-9]+ passed, ([0-9]+) failed.*/\1/')))
    fi
    if [ "$rc" != 0 ]; then
        failures+=("$name")
        [ -z "$line" ] && failed=$((failed + 1))
    fi
    echo "=== $name took $((SECONDS - start)) s"
}

# Every suite named here is required: a missing script is a failure, never
# a silent skip.
required_suite() {
    local name=$1 script=$2
    if [ ! -x "$script" ]; then
        echo "=== $name"
        echo "--- FAILED: $name: $script is missing or not executable"
        failures+=("$name")
        failed=$((failed + 1))
        return
    fi
    suite "$name" "$script"
}

if ! cts/install-deps.sh; then
    echo "0 passed, 1 failed"
    exit 1
fi

step "cargo fmt" cargo fmt --all -- --check
step "cargo clippy" cargo clippy --workspace --all-targets -- -D warnings
step "build" cargo build --workspace --bins
step "build vSphere simulator" cts/vcsim/build.sh

# cargo test includes the fuzz corpus replay (fuzz/tests/replay.rs): every
# committed seed and crash input through its fuzz target's body, on stable.
echo "=== cargo test"
cargo test --workspace --no-fail-fast 2>&1 | tee target/cts/cargo-test.log
rc=${PIPESTATUS[0]}
count_cargo target/cts/cargo-test.log
if [ "$rc" != 0 ]; then
    failures+=("cargo test")
    grep -qE '^test result:' target/cts/cargo-test.log || failed=$((failed + 1))
fi

required_suite debian-package cts/packaging/deb.sh
required_suite rpm-package cts/packaging/rpm.sh
required_suite pacemaker cts/pacemaker/run-all.sh
# vmware-vbmc under Pacemaker's fencer (fence_ipmilan); needs no package,
# takes /run/lock/fence-vmware-cts.lock itself.
required_suite pacemaker-vbmc cts/pacemaker/vbmc.sh

echo
if [ ${#failures[@]} -gt 0 ]; then
    echo "Failed: ${failures[*]}"
fi
echo "$passed passed, $failed failed"
[ "$failed" = 0 ] && [ ${#failures[@]} = 0 ]
