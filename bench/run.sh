#!/bin/bash
# Benchmarks: our fence_vmware (answering as fence_vmware_soap) against
# fence-agents' Python fence_vmware_soap, side by side, same inputs, against
# VMware's vSphere simulator (cts/vcsim) on 127.0.0.1.
#
#   bench/run.sh            # ~4-5 minutes on 2 cores
#
# What it does:
#   1. builds our release binaries, the simulator (cts/vcsim/build.sh) and
#      bench/peer (WSDL generator + WSDL-serving reverse proxy + inventory
#      grower; see bench/peer/main.go for why the proxy exists: suds needs
#      /sdk/vimService.wsdl, which the simulator does not serve);
#   2. starts the simulator (plain HTTP) and two proxies in front of it, one
#      plain HTTP, one HTTPS (self-signed); BOTH agents always go through the
#      same proxy, so the extra hop is the same for both;
#   3. hyperfine: metadata, status, list and reboot, Python vs ours, over
#      HTTP (Python without --ssl, ours --notls) and, for status and reboot,
#      HTTPS (Python --ssl-insecure, i.e. no verification; ours --cacert,
#      i.e. with verification);
#   4. counts SOAP calls per action (simulator's GET /calls before/after one
#      run), bytes on the wire (proxy), peak RSS (/usr/bin/time -v);
#   5. grows the inventory (22 -> 222 -> 1022 VMs) and repeats status;
#   6. writes bench/results/*.json|*.md and bench/results/summary.md, prints
#      the ratios.  Environment: RESULTS=dir to write elsewhere.
set -euo pipefail

here=$(cd "$(dirname "$0")" && pwd)
root=$(cd "$here/.." && pwd)
cd "$root"
RESULTS=${RESULTS:-$here/results}
PASS=benchpw
USER_=fenceuser
PLUG=node10
PY=/usr/bin/python3   # the interpreter Debian's agents run with (not a pyenv one)

need() { command -v "$1" >/dev/null 2>&1 || { echo "missing: $1 ($2)" >&2; exit 1; }; }
need hyperfine "apt-get install hyperfine"
need jq "apt-get install jq"
need cargo "rustup"
need go "apt-get install golang-go"
[ -x /usr/bin/time ] || { echo "missing: /usr/bin/time (apt-get install time)" >&2; exit 1; }
"$PY" -c 'import suds, requests' 2>/dev/null || { echo "missing: python3-suds python3-requests (apt-get install python3-suds python3-requests)" >&2; exit 1; }

W=$(mktemp -d /tmp/fence-bench.XXXXXX)
pids=()
cleanup() {
    local p
    for p in "${pids[@]}"; do kill "$p" 2>/dev/null || true; done
    for p in "${pids[@]}"; do wait "$p" 2>/dev/null || true; done
    rm -rf "$W"
}
trap cleanup EXIT
trap 'exit 130' INT TERM

log() { printf '\n== %s\n' "$*" >&2; }

# ---------------------------------------------------------------------------
log "building"
cargo build --release -q -p fence-vmware -p fence-vmware-esxi
cts/vcsim/build.sh
mkdir -p target/bench
(cd bench/peer && GOPATH=/usr/share/gocode GO111MODULE=off GOPROXY=off GOFLAGS= \
    GOCACHE=${GOCACHE:-$root/target/cts/gocache} go build -o "$root/target/bench/benchpeer" .)
PEER=$root/target/bench/benchpeer
OURS_BIN=$root/target/release/fence_vmware

# The two agents, both called fence_vmware_soap.
mkdir -p "$W/rs" "$W/py"
ln -s "$OURS_BIN" "$W/rs/fence_vmware_soap"
OURS=$W/rs/fence_vmware_soap
# Our own Debian package diverts /usr/sbin/fence_vmware_soap to
# *.fence-agents while it is installed (other test suites install and remove
# it), so take whichever of the two is fence-agents' Python script, once.
for f in /usr/sbin/fence_vmware_soap.fence-agents /usr/sbin/fence_vmware_soap; do
    if [ -f "$f" ] && head -c 64 "$f" 2>/dev/null | grep -q python; then
        cp "$f" "$W/py/fence_vmware_soap"
        break
    fi
done
[ -f "$W/py/fence_vmware_soap" ] || { echo "fence-agents' fence_vmware_soap not found (apt-get install fence-agents)" >&2; exit 1; }
chmod 755 "$W/py/fence_vmware_soap"
PYAGENT=$W/py/fence_vmware_soap

"$PEER" wsdl "$W/wsdl" >"$W/wsdl.txt"
cat "$W/wsdl.txt" >&2

# ---------------------------------------------------------------------------
log "starting the simulator and the proxies"
wait_file() { # file seconds
    local i
    for i in $(seq 1 $(($2 * 10))); do
        [ -s "$1" ] && return 0
        sleep 0.1
    done
    echo "timed out waiting for $1" >&2
    return 1
}
mkdir -p "$W/sim" "$W/px-http" "$W/px-tls"
target/cts/vcsim -listen 127.0.0.1:0 -control 127.0.0.1:0 -state-dir "$W/sim" \
    -user "$USER_" -pass "$PASS" -plain-http >"$W/sim.log" 2>&1 &
pids+=($!)
wait_file "$W/sim/ready.json" 60
SIM_URL=$(jq -r .url "$W/sim/ready.json")
CONTROL=$(jq -r .control "$W/sim/ready.json")
"$PEER" proxy -upstream "$SIM_URL" -wsdl "$W/wsdl" -state-dir "$W/px-http" >"$W/px-http.log" 2>&1 &
pids+=($!)
"$PEER" proxy -upstream "$SIM_URL" -wsdl "$W/wsdl" -state-dir "$W/px-tls" -tls >"$W/px-tls.log" 2>&1 &
pids+=($!)
wait_file "$W/px-http/proxy.json" 10
wait_file "$W/px-tls/proxy.json" 10
HPORT=$(jq -r .port "$W/px-http/proxy.json")
TPORT=$(jq -r .port "$W/px-tls/proxy.json")
CA=$W/px-tls/ca.pem

# Argument lists (hyperfine -N splits on blanks; nothing here has blanks).
PY_HTTP="-a 127.0.0.1 -u $HPORT -l $USER_ -p $PASS"
RS_HTTP="-a 127.0.0.1 -u $HPORT -l $USER_ -p $PASS --notls"
PY_TLS="-a 127.0.0.1 -u $TPORT -l $USER_ -p $PASS --ssl-insecure"
RS_TLS="-a 127.0.0.1 -u $TPORT -l $USER_ -p $PASS --ssl --cacert $CA"

# Sanity: both must really work, or the timings mean nothing.
for a in "$PYAGENT $PY_HTTP" "$OURS $RS_HTTP" "$PYAGENT $PY_TLS" "$OURS $RS_TLS"; do
    out=$($a -o status -n $PLUG 2>&1) || { echo "sanity check failed: $a -o status: $out" >&2; exit 1; }
    [ "$out" = "Status: ON" ] || { echo "sanity check: unexpected output of $a: $out" >&2; exit 1; }
done

vm_count() { curl -sf "http://$CONTROL/vm" | jq length; }

# ---------------------------------------------------------------------------
rm -rf "$RESULTS"
mkdir -p "$RESULTS"
declare -a SUMMARY=()

# bench NAME "hyperfine options" PY-ARGS RS-ARGS
# By default hyperfine runs each command >= min-runs times AND >= 3 s, so our
# agent (milliseconds) gets hundreds of runs and Python (seconds) min-runs.
bench() {
    local name=$1 opts=$2 pyargs=$3 rsargs=$4
    log "hyperfine: $name"
    # shellcheck disable=SC2086
    hyperfine -N --style basic $opts \
        -n "python $name" "$PYAGENT $pyargs" \
        -n "ours $name" "$OURS $rsargs" \
        --export-json "$RESULTS/$name.json" --export-markdown "$RESULTS/$name.md" >&2
    local py rs
    py=$(jq '.results[0].mean' "$RESULTS/$name.json")
    rs=$(jq '.results[1].mean' "$RESULTS/$name.json")
    SUMMARY+=("$(awk -v n="$name" -v p="$py" -v r="$rs" -v v="$(vm_count)" \
        'BEGIN { printf "| %s | %d | %.1f | %.1f | %.0f× |", n, v, p*1000, r*1000, p/r }')")
}

bench metadata "--warmup 3 --min-runs 20" "-o metadata" "-o metadata"
bench status-http "--warmup 1 --min-runs 10" "$PY_HTTP -o status -n $PLUG" "$RS_HTTP -o status -n $PLUG"
bench status-https "--warmup 1 --min-runs 10" "$PY_TLS -o status -n $PLUG" "$RS_TLS -o status -n $PLUG"
bench list-http "--warmup 1 --min-runs 10" "$PY_HTTP -o list" "$RS_HTTP -o list"
bench reboot-http "--warmup 1 --min-runs 10" "$PY_HTTP -o reboot -n $PLUG" "$RS_HTTP -o reboot -n $PLUG"
bench reboot-https "--warmup 1 --min-runs 5" "$PY_TLS -o reboot -n $PLUG" "$RS_TLS -o reboot -n $PLUG"

# fence_vmware_esxi: no Python counterpart in Debian's fence-agents; only its
# start-up cost, for reference.
log "hyperfine: esxi-metadata (ours only)"
hyperfine -N --style basic --warmup 3 -n "ours fence_vmware_esxi metadata" \
    "$root/target/release/fence_vmware_esxi -o metadata" \
    --export-json "$RESULTS/esxi-metadata.json" --export-markdown "$RESULTS/esxi-metadata.md" >&2

# ---------------------------------------------------------------------------
# SOAP calls, bytes and WSDL fetches of one run: simulator's /calls and the
# proxy's /bench/stats, before and after.
delta() { # before.json after.json -> "K=v, ..." of the differences
    jq -rn --slurpfile a "$1" --slurpfile b "$2" \
        '$b[0] as $B | $a[0] as $A | [$B | keys[] | select(($B[.] - ($A[.] // 0)) != 0) |
         "\(.)=\($B[.] - ($A[.] // 0))"] | join(", ")'
}
declare -a CALLS=()
count_calls() { # label proxyport cmd...
    local label=$1 port=$2
    shift 2
    curl -sf "http://$CONTROL/calls" >"$W/c0.json"
    curl -sfk "$([ "$port" = "$TPORT" ] && echo https || echo http)://127.0.0.1:$port/bench/stats" >"$W/s0.json"
    "$@" >/dev/null 2>&1 || true
    curl -sf "http://$CONTROL/calls" >"$W/c1.json"
    curl -sfk "$([ "$port" = "$TPORT" ] && echo https || echo http)://127.0.0.1:$port/bench/stats" >"$W/s1.json"
    local soap total bytes
    soap=$(delta "$W/c0.json" "$W/c1.json")
    total=$(jq -rn --slurpfile a "$W/c0.json" --slurpfile b "$W/c1.json" \
        '[$b[0] | to_entries[] | .value] as $bv | [$a[0] | to_entries[] | .value] as $av | ($bv | add // 0) - ($av | add // 0)')
    bytes=$(jq -rn --slurpfile a "$W/s0.json" --slurpfile b "$W/s1.json" \
        '"\($b[0].wsdl_gets - $a[0].wsdl_gets) (\(($b[0].wsdl_bytes - $a[0].wsdl_bytes) / 1024 | floor) KiB) | \(($b[0].soap_request_bytes - $a[0].soap_request_bytes) / 1024 | floor) / \(($b[0].soap_response_bytes - $a[0].soap_response_bytes) / 1024 | floor) KiB"')
    CALLS+=("| $label | $(vm_count) | $total | $soap | $bytes |")
}
calls_round() {
    count_calls "python status" "$HPORT" $PYAGENT $PY_HTTP -o status -n $PLUG
    count_calls "ours status" "$HPORT" $OURS $RS_HTTP -o status -n $PLUG
}
log "counting SOAP calls"
calls_round
count_calls "python list" "$HPORT" $PYAGENT $PY_HTTP -o list
count_calls "ours list" "$HPORT" $OURS $RS_HTTP -o list
count_calls "python reboot" "$HPORT" $PYAGENT $PY_HTTP -o reboot -n $PLUG
count_calls "ours reboot" "$HPORT" $OURS $RS_HTTP -o reboot -n $PLUG

# Peak RSS of one status run (and of metadata: the bare process).
declare -a RSS=()
rss() { # label cmd...
    local label=$1
    shift
    /usr/bin/time -v "$@" >/dev/null 2>"$W/time.txt" || true
    RSS+=("| $label | $(vm_count) | $(awk -F': ' '/Maximum resident set size/ {print $2}' "$W/time.txt") |")
}
rss_round() {
    rss "python status" $PYAGENT $PY_HTTP -o status -n $PLUG
    rss "ours status" $OURS $RS_HTTP -o status -n $PLUG
}
log "peak RSS"
rss "python metadata" $PYAGENT -o metadata
rss "ours metadata" $OURS -o metadata
rss_round
rss "python reboot" $PYAGENT $PY_HTTP -o reboot -n $PLUG
rss "ours reboot" $OURS $RS_HTTP -o reboot -n $PLUG

# ---------------------------------------------------------------------------
# A bigger inventory: per status, each agent reads every VM's properties.
for add in 200 800; do
    log "growing the inventory by $add VMs"
    "$PEER" grow -url "$SIM_URL" -user "$USER_" -pass "$PASS" -n $add
    n=$(vm_count)
    bench "status-http-${n}vms" "--warmup 1 --min-runs 5" "$PY_HTTP -o status -n $PLUG" "$RS_HTTP -o status -n $PLUG"
    calls_round
    rss_round
done

# ---------------------------------------------------------------------------
{
    echo "# bench/run.sh results"
    echo
    echo "Generated $(date -u +%Y-%m-%dT%H:%MZ) by bench/run.sh at $(git -C "$root" rev-parse --short HEAD)."
    echo "WSDL served to the Python agent: $(cat "$W/wsdl.txt")"
    echo
    echo "## Mean wall time (hyperfine), Python fence_vmware_soap vs ours"
    echo
    echo "| benchmark | VMs | Python ms | ours ms | Python/ours |"
    echo "|---|---:|---:|---:|---:|"
    printf '%s\n' "${SUMMARY[@]}"
    echo
    echo "fence_vmware_esxi -o metadata (ours only): $(jq '.results[0].mean * 1000 | . * 100 | round / 100' "$RESULTS/esxi-metadata.json") ms"
    echo
    echo "## SOAP calls of one run (simulator GET /calls), WSDL fetches and bytes (proxy)"
    echo
    echo "| run | VMs | SOAP calls | by method | WSDL GETs | SOAP KiB sent / received |"
    echo "|---|---:|---:|---|---|---|"
    printf '%s\n' "${CALLS[@]}"
    echo
    echo "## Peak RSS (/usr/bin/time -v), KiB"
    echo
    echo "| run | VMs | max RSS KiB |"
    echo "|---|---:|---:|"
    printf '%s\n' "${RSS[@]}"
} >"$RESULTS/summary.md"

log "summary ($RESULTS/summary.md)"
cat "$RESULTS/summary.md"
