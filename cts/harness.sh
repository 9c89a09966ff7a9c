# harness.sh - what every shell suite of the cts shares (cts/pacemaker/*.sh
# and cts/packaging/*.sh, through their lib.sh): results as "PASS: ...",
# "FAIL: ... (why)" and "SKIP: ... (why)" lines and one last line
# "N passed, N failed" (what run-all.sh and test.sh add up); a scratch
# directory, $CTS_TMP; cleanups run in reverse order on any exit; and a
# suite that stops before `finish` counted as failed, so that a crash can
# never read as a pass.
# Source it from bash. `fail` shows the tail of $CTS_OUT, the output of
# the command that failed, when a suite keeps one there.
set -u
CTS_NAME=$(basename "$0" .sh)
CTS_PASS=0 CTS_FAIL=0 CTS_SKIP=0 CTS_FINISHED=0
CTS_OUT=/dev/null
CTS_TMP=$(mktemp -d "/tmp/cts-$CTS_NAME.XXXXXX") || exit 1
chmod 755 "$CTS_TMP"   # pacemaker daemons running as hacluster write logs below it
CTS_CLEANUPS=()

# ---------------------------------------------------------------- cleanup
# at_exit CMD...: run CMD (eval'd) on exit, in reverse registration order.
at_exit() { CTS_CLEANUPS+=("$*"); }
cts_run_cleanups() {
    local i
    for ((i = ${#CTS_CLEANUPS[@]} - 1; i >= 0; i--)); do
        eval "${CTS_CLEANUPS[i]}" || true
    done
    CTS_CLEANUPS=()
}
cts_on_exit() {
    local rc=$?
    trap - EXIT INT TERM
    cts_run_cleanups
    if [ "$CTS_FINISHED" = 0 ]; then
        echo "FAIL: $CTS_NAME aborted (exit status $rc) before finishing"
        CTS_FAIL=$((CTS_FAIL + 1))
        cts_summary
        rc=1
    fi
    if [ "${CTS_KEEP:-0}" = 1 ]; then echo "# files kept in $CTS_TMP" >&2; else rm -rf "$CTS_TMP"; fi
    exit "$rc"
}
trap cts_on_exit EXIT
trap 'exit 130' INT
trap 'exit 143' TERM

# ---------------------------------------------------------------- results
cts_summary() {
    if [ "$CTS_SKIP" -gt 0 ]; then
        echo "$CTS_PASS passed, $CTS_FAIL failed, $CTS_SKIP skipped"
    else
        echo "$CTS_PASS passed, $CTS_FAIL failed"
    fi
}
# finish: clean up, print the one summary line, exit 1 if anything failed.
finish() {
    cts_run_cleanups
    CTS_FINISHED=1
    cts_summary
    [ "$CTS_FAIL" -eq 0 ] && exit 0 || exit 1
}
pass() { CTS_PASS=$((CTS_PASS + 1)); echo "PASS: $1"; }
fail() {
    CTS_FAIL=$((CTS_FAIL + 1)); echo "FAIL: $1${2:+ ($2)}"
    [ -s "$CTS_OUT" ] && tail -n 15 "$CTS_OUT" | sed 's/^/    | /'
    return 0
}
skip() { CTS_SKIP=$((CTS_SKIP + 1)); echo "SKIP: $1 ($2)"; }
note() { echo "# $*"; }
