# lib.sh - what the package suites (deb.sh, rpm.sh) share: cts/harness.sh
# (results, $CTS_TMP, cleanups), checks of commands and texts, and facts
# read from the tree (the version in Cargo.toml, the agents in
# packaging/agents).
# Source it from bash, from the top of the tree.
. "$(dirname "${BASH_SOURCE[0]}")/../harness.sh"
TOP=$(pwd)

# check NAME CMD...: one test, passed when CMD succeeds.
check() {
    local name=$1
    shift
    if "$@" >"$CTS_TMP/check.out" 2>&1; then pass "$name"; else fail "$name" "$(tail -3 "$CTS_TMP/check.out" | tr '\n' ' ')"; fi
}
# same NAME WANT GOT: one test, passed when both texts are equal.
same() {
    if [ "$2" = "$3" ]; then pass "$1"; else fail "$1" "want '$2', got '$3'"; fi
}
# abort WHY: a failure after which nothing else can be tested.
abort() {
    fail "$1" "${2:-}"
    finish
}

# timed LABEL CMD...: run CMD with its output in $CTS_TMP/LABEL.log, and
# say how long it took (the budget of CI is reported from these lines).
timed() {
    local label=$1 start rc
    shift
    start=$(date +%s)
    "$@" >"$CTS_TMP/$label.log" 2>&1
    rc=$?
    echo "# $label took $(($(date +%s) - start)) s"
    return "$rc"
}

need_root() {
    if [ "$(id -u)" != 0 ]; then
        abort "$CTS_NAME runs as root" "it installs packages"
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
        *"\"$2 $(cargo_version)\""*) pass "$where$(basename "$1"): .TH names $2 $(cargo_version)" ;;
        *) fail "$where$(basename "$1"): .TH names $2 $(cargo_version)" "$th" ;;
    esac
}
# check_binary_version FILE WHERE: FILE --version prints Cargo.toml's version.
check_binary_version() {
    same "$2 $(basename "$1") --version" "$(cargo_version)" "$("$1" --version 2>&1)"
}
