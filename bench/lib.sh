# lib.sh - what bench/run.sh and bench/vbmc/run.sh share: failing with a
# reason, checking for a tool, progress lines on stderr, and a scratch
# directory whose background processes end with the run. Source it from
# bash.

die() {
    echo "bench: $*" >&2
    exit 1
}
need() { command -v "$1" >/dev/null 2>&1 || die "missing: $1 ($2)"; }
log() { printf '\n== %s\n' "$*" >&2; }

# scratch NAME: $W, a new directory only root can read, and $pids, where
# the run adds the background processes it starts; on any exit, each is
# stopped and waited for, and $W removed.
scratch() {
    W=$(mktemp -d "/tmp/$1.XXXXXX")
    chmod 700 "$W"
    pids=()
    trap bench_cleanup EXIT
    trap 'exit 130' INT TERM
}
bench_cleanup() {
    local p
    for p in "${pids[@]}"; do kill "$p" 2>/dev/null || true; done
    for p in "${pids[@]}"; do wait "$p" 2>/dev/null || true; done
    rm -rf "$W"
}
