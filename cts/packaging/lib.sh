# lib.sh - what the package suites (deb.sh, rpm.sh) share: results in the
# pacemaker suites' form ("PASS: ...", "FAIL: ... (why)", a final
# "N passed, N failed"), a scratch directory, and facts read from the tree
# (the version in Cargo.toml, the agents in packaging/agents).
# Source it from bash, from the top of the tree.
set -u
TOP=$(pwd)
PKG_NAME=$(basename "$0" .sh)
PKG_PASS=0 PKG_FAIL=0 PKG_FINISHED=0
PKG_TMP=$(mktemp -d "/tmp/cts-packaging-$PKG_NAME.XXXXXX") || exit 1
chmod 755 "$PKG_TMP"
PKG_CLEANUPS=()

at_exit() { PKG_CLEANUPS+=("$*"); }
pkg_on_exit() {
    local rc=$? i
    trap - EXIT INT TERM
    for ((i = ${#PKG_CLEANUPS[@]} - 1; i >= 0; i--)); do eval "${PKG_CLEANUPS[i]}" || true; done
    if [ "$PKG_FINISHED" = 0 ]; then
        echo "FAIL: $PKG_NAME aborted (exit status $rc) before finishing"
        PKG_FAIL=$((PKG_FAIL + 1))
        summary
        rc=1
    fi
    if [ "${CTS_KEEP:-0}" = 1 ]; then echo "# files kept in $PKG_TMP" >&2; else rm -rf "$PKG_TMP"; fi
    exit "$rc"
}
trap pkg_on_exit EXIT
trap 'exit 130' INT
trap 'exit 143' TERM

ok() { PKG_PASS=$((PKG_PASS + 1)); echo "PASS: $1"; }
bad() { PKG_FAIL=$((PKG_FAIL + 1)); echo "FAIL: $1${2:+ ($2)}"; }
# check NAME CMD...: one test, passed when CMD succeeds.
check() {
    local name=$1
    shift
    if "$@" >"$PKG_TMP/check.out" 2>&1; then ok "$name"; else bad "$name" "$(tail -3 "$PKG_TMP/check.out" | tr '\n' ' ')"; fi
}
# same NAME WANT GOT: one test, passed when both texts are equal.
same() {
    if [ "$2" = "$3" ]; then ok "$1"; else bad "$1" "want '$2', got '$3'"; fi
}
summary() { echo "$PKG_PASS passed, $PKG_FAIL failed"; }
finish() {
    PKG_FINISHED=1
    summary
    [ "$PKG_FAIL" = 0 ]
}
# abort WHY: a failure after which nothing else can be tested.
abort() {
    bad "$1" "${2:-}"
    finish
    exit 1
}

# timed LABEL CMD...: run CMD with its output in $PKG_TMP/LABEL.log, and
# say how long it took (the budget of CI is reported from these lines).
timed() {
    local label=$1 start rc
    shift
    start=$(date +%s)
    "$@" >"$PKG_TMP/$label.log" 2>&1
    rc=$?
    echo "# $label took $(($(date +%s) - start)) s"
    return "$rc"
}

need_root() {
    if [ "$(id -u)" != 0 ]; then
        abort "$PKG_NAME runs as root" "it installs packages"
    fi
}

# The one version: the workspace Cargo.toml's.
cargo_version() { sed -n 's/^version = "\(.*\)"/\1/p' Cargo.toml | head -1; }
agents() { "$TOP/packaging/agents-query" "$@"; }
# sorted_words: the words of stdin, sorted, on one line (set comparison).
sorted_words() { tr -s ' \n' '\n\n' | sed '/^$/d' | sort -u | tr '\n' ' ' | sed 's/ $//'; }

# The version checks. Man pages and --version show Cargo.toml's version;
# the metadata cannot: fence-agents' schema
# (/usr/share/cluster/relaxng/metadata.rng) has no place for a version.
check_man_version() { # FILE NAME WHERE: one man page's .TH line names "NAME VERSION"
    local th where=${3:-}
    th=$(case $1 in *.gz) zcat "$1" ;; *) cat "$1" ;; esac | sed -n '/^\.TH /{p;q}')
    case $th in
        *"\"$2 $(cargo_version)\""*) ok "$where$(basename "$1"): .TH names $2 $(cargo_version)" ;;
        *) bad "$where$(basename "$1"): .TH names $2 $(cargo_version)" "$th" ;;
    esac
}
# check_binary_version FILE WHERE: FILE --version prints Cargo.toml's version.
check_binary_version() {
    same "$2 $(basename "$1") --version" "$(cargo_version)" "$("$1" --version 2>&1)"
}
