#!/bin/sh
# Build the vSphere simulator wrapper (main.go) offline, against the govmomi
# source packaged by Debian (golang-github-vmware-govmomi-dev), in GOPATH mode.
#
#   cts/vcsim/build.sh            -> target/cts/vcsim
#   OUT=/some/path cts/vcsim/build.sh
set -eu

here=$(cd "$(dirname "$0")" && pwd)
OUT=${OUT:-"$here/../../target/cts/vcsim"}
case "$OUT" in
    /*) ;;
    *) OUT="$PWD/$OUT" ;;
esac
mkdir -p "$(dirname "$OUT")"

if [ -z "${GOCACHE:-}" ]; then
    if [ -n "${HOME:-}" ] && mkdir -p "$HOME/.cache/go-build" 2>/dev/null && [ -w "$HOME/.cache/go-build" ]; then
        GOCACHE="$HOME/.cache/go-build"
    else
        GOCACHE="$here/../../target/cts/gocache"
        mkdir -p "$GOCACHE"
    fi
    export GOCACHE
fi
# Never reach for the network: everything comes from /usr/share/gocode.
export GOPROXY=off GOFLAGS=

cd "$here"
GOPATH=/usr/share/gocode GO111MODULE=off go build -o "$OUT" .
