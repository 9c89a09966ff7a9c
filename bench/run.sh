#!/bin/bash
# The performance promises of issue 10, measured in one run, side by side
# with fence-agents' Python agents from Debian's fence-agents package,
# against VMware's vSphere simulator (cts/vcsim) on 127.0.0.1:
#
#   1. fence_vmware_rest's status against fence-agents' fence_vmware_rest,
#      same simulator and inventory: ours on /api and on /rest, theirs on
#      /rest; plain HTTP and HTTPS with ssl_insecure for both;
#   2. fence_vmware's status over HTTP and over HTTPS with an RSA-2048 and
#      an ECDSA P-256 certificate, verified with cacert, with the system
#      trust store (SSL_CERT_FILE naming Debian's bundle plus the
#      simulators' CAs) and not verified (ssl_insecure): wall time
#      (hyperfine), CPU time (hyperfine and /usr/bin/time); fence-agents'
#      fence_vmware_soap beside it, through bench/peer's WSDL proxy;
#   3. peak RSS (/usr/bin/time -v) of a status by name at 5,000 VMs, HTTP
#      and HTTPS;
#   and, as before, metadata, list and reboot, and the calls each agent
#   makes per action. The comparisons of 1 and 2 run in five rounds of
#   every command of the group, merged (hfi below).
#
#   bench/run.sh            # about 10 minutes on 2 cores
#   BEFORE=old/fence_vmware bench/run.sh
#                           # section 1 also runs that build of ours (a
#                           # "before /api" row), in the same rounds
#
# Writes bench/results/*.json|*.md (hyperfine exports) and
# bench/results/summary.md, and prints the summary; RESULTS=dir writes
# elsewhere. bench/results/vbmc/ belongs to bench/vbmc/run.sh and is left
# alone. Benchmarks, not tests: the summary says whether each promise held
# in this run, and the script fails only when something could not be
# measured.
set -euo pipefail

here=$(cd "$(dirname "$0")" && pwd)
root=$(cd "$here/.." && pwd)
cd "$root"
RESULTS=${RESULTS:-$here/results}
PASS=benchpw
USER_=fenceuser
PLUG=node10
PLUG_PATH=/DC0/vm/node10

. "$here/lib.sh"
need hyperfine "apt-get install hyperfine"
need jq "apt-get install jq"
need cargo "rustup"
need go "apt-get install golang-go"
need openssl "apt-get install openssl"
need dpkg-divert "dpkg"
[ -x /usr/bin/time ] || die "missing: /usr/bin/time (apt-get install time)"
# The interpreter fence-agents' scripts name in their #! line, not a
# python3 earlier on PATH (a pyenv one would lack suds and pycurl).
/usr/bin/python3 -c 'import suds, requests, pycurl' 2>/dev/null ||
    die "missing: python3-suds python3-requests python3-pycurl (apt-get install fence-agents)"
[ -s /etc/ssl/certs/ca-certificates.crt ] || die "missing: /etc/ssl/certs/ca-certificates.crt (apt-get install ca-certificates)"

scratch fence-bench
load() { cut -d' ' -f1-3 /proc/loadavg; }
LOAD_START=$(load)
STARTED=$(date -u +%Y-%m-%dT%H:%MZ)

# ---------------------------------------------------------------------------
log "building"
cargo build --release -q -p fence-vmware -p fence-vmware-esxi
cts/vcsim/build.sh
mkdir -p target/bench
(cd bench/peer && GOPATH=/usr/share/gocode GO111MODULE=off GOPROXY=off GOFLAGS= \
    GOCACHE=${GOCACHE:-$root/target/cts/gocache} go build -o "$root/target/bench/benchpeer" .)
PEER=$root/target/bench/benchpeer
VCSIM=$root/target/cts/vcsim

# Ours, under the names Pacemaker calls.
mkdir -p "$W/rs" "$W/py"
for name in fence_vmware fence_vmware_soap fence_vmware_rest; do
    ln -s "$root/target/release/fence_vmware" "$W/rs/$name"
done
FV=$W/rs/fence_vmware
RS_SOAP=$W/rs/fence_vmware_soap
RS_REST=$W/rs/fence_vmware_rest
# Another build, to compare a change in the same rounds (section 1).
if [ -n "${BEFORE:-}" ]; then
    [ -x "$BEFORE" ] || die "BEFORE=$BEFORE is not an executable"
    mkdir -p "$W/before"
    ln -s "$(readlink -f "$BEFORE")" "$W/before/fence_vmware_rest"
fi

# fence-agents' scripts. While our Debian package is installed (other test
# suites install and remove it) it diverts them to *.fence-agents; ask dpkg
# where they are, and copy them once so that a removal during the run
# cannot move them away.
python_agent() { # name
    local real
    real=$(dpkg-divert --truename "/usr/sbin/$1")
    [ -f "$real" ] && head -c 64 "$real" | grep -q python ||
        die "fence-agents' $1 not found at $real (apt-get install fence-agents)"
    cp "$real" "$W/py/$1"
    chmod 755 "$W/py/$1"
    echo "$real"
}
PY_SOAP_FROM=$(python_agent fence_vmware_soap)
PY_REST_FROM=$(python_agent fence_vmware_rest)
PY_SOAP=$W/py/fence_vmware_soap
PY_REST=$W/py/fence_vmware_rest

"$PEER" wsdl "$W/wsdl" >"$W/wsdl.txt"

# ---------------------------------------------------------------------------
log "starting the simulators and the WSDL proxies"
wait_file() { # file seconds
    local i
    for i in $(seq 1 $(($2 * 10))); do
        [ -s "$1" ] && return 0
        sleep 0.1
    done
    die "timed out waiting for $1"
}
# sim NAME vcsim-options...: a simulator (user fenceuser, vCenter with two
# datacenters) whose state is in $W/NAME.
sim() {
    local name=$1
    shift
    mkdir -p "$W/$name"
    "$VCSIM" -listen 127.0.0.1:0 -control 127.0.0.1:0 -state-dir "$W/$name" \
        -user "$USER_" -pass "$PASS" "$@" >"$W/$name.log" 2>&1 &
    pids+=($!)
}
sim_port() { jq -r .port "$W/$1/ready.json"; }
sim_control() { jq -r .control "$W/$1/ready.json"; }
sim http -plain-http
sim ecdsa -key-type ecdsa
sim rsa -key-type rsa2048
sim http5k -plain-http -extra-vms 5000
sim ecdsa5k -key-type ecdsa -extra-vms 5000
sim rsa5k -key-type rsa2048 -extra-vms 5000
for s in http ecdsa rsa http5k ecdsa5k rsa5k; do wait_file "$W/$s/ready.json" 120; done

# Python's fence_vmware_soap (suds) cannot start without the WSDL, which a
# vCenter serves and the simulator does not: it goes through a proxy that
# serves a generated one (bench/peer/main.go says why and how). The HTTPS
# proxies terminate TLS with their own certificate of each key type.
proxy() { # name upstream-sim proxy-options...
    local name=$1 up=$2
    shift 2
    mkdir -p "$W/$name"
    "$PEER" proxy -upstream "$(jq -r .url "$W/$up/ready.json")" -wsdl "$W/wsdl" \
        -state-dir "$W/$name" "$@" >"$W/$name.log" 2>&1 &
    pids+=($!)
}
proxy px-http http
proxy px-ecdsa http -tls -key-type ecdsa
proxy px-rsa http -tls -key-type rsa2048
proxy px-http5k http5k
for p in px-http px-ecdsa px-rsa px-http5k; do wait_file "$W/$p/proxy.json" 20; done
px_port() { jq -r .port "$W/$1/proxy.json"; }

# Each HTTPS peer must serve the key type it is named after.
leaf_key() { # port -> "rsaEncryption 2048" or "id-ecPublicKey 256"
    openssl s_client -connect "127.0.0.1:$1" </dev/null 2>/dev/null |
        openssl x509 -noout -text |
        awk '/Public Key Algorithm/ { a = $NF } /Public-Key:/ { gsub(/[()]/, "", $2); b = $2 } END { print a, b }'
}
for p in "rsa $(sim_port rsa)" "rsa5k $(sim_port rsa5k)" "px-rsa $(px_port px-rsa)"; do
    set -- $p
    [ "$(leaf_key "$2")" = "rsaEncryption 2048" ] || die "$1 does not serve an RSA-2048 certificate: $(leaf_key "$2")"
done
for p in "ecdsa $(sim_port ecdsa)" "ecdsa5k $(sim_port ecdsa5k)" "px-ecdsa $(px_port px-ecdsa)"; do
    set -- $p
    [ "$(leaf_key "$2")" = "id-ecPublicKey 256" ] || die "$1 does not serve an ECDSA P-256 certificate: $(leaf_key "$2")"
done

# The system trust store of the "system store" runs: Debian's bundle with
# every simulator's CA appended, named by SSL_CERT_FILE as a site that
# installs its vCenter's CA system-wide would have it.
STORE=$W/system-store.pem
cat /etc/ssl/certs/ca-certificates.crt "$W"/{ecdsa,rsa,ecdsa5k,rsa5k}/ca.pem >"$STORE"
STORE_CAS=$(grep -c 'BEGIN CERTIFICATE' "$STORE")

# Argument lists (hyperfine -N splits on blanks; nothing here has blanks).
login() { echo "-a 127.0.0.1 -u $1 -l $USER_ -p $PASS"; }
HTTP=$(sim_port http)
ECDSA=$(sim_port ecdsa)
RSA=$(sim_port rsa)
FV_HTTP="$FV $(login "$HTTP") --notls"
FV_ECDSA_CACERT="$FV $(login "$ECDSA") --cacert $W/ecdsa/ca.pem"
FV_ECDSA_STORE="$FV $(login "$ECDSA") --ssl"
FV_ECDSA_INSECURE="$FV $(login "$ECDSA") --ssl-insecure"
FV_RSA_CACERT="$FV $(login "$RSA") --cacert $W/rsa/ca.pem"
FV_RSA_STORE="$FV $(login "$RSA") --ssl"
FV_RSA_INSECURE="$FV $(login "$RSA") --ssl-insecure"
REST_PY_HTTP="$PY_REST $(login "$HTTP")"
REST_API_HTTP="$RS_REST $(login "$HTTP") --notls --api-path=/api"
REST_REST_HTTP="$RS_REST $(login "$HTTP") --notls --api-path=/rest"
rest_tls() { # sim -> python, ours /api, ours /rest
    REST_PY_TLS="$PY_REST $(login "$1") --ssl-insecure"
    REST_API_TLS="$RS_REST $(login "$1") --ssl-insecure --api-path=/api"
    REST_REST_TLS="$RS_REST $(login "$1") --ssl-insecure --api-path=/rest"
}
SOAP_PY_HTTP="$PY_SOAP $(login "$(px_port px-http)")"
SOAP_RS_HTTP="$RS_SOAP $(login "$(px_port px-http)") --notls"
STATUS="-o status -n $PLUG"

# clean VAR=value|- cmd...: cmd without this shell's SSL_CERT_FILE and
# SSL_CERT_DIR, with VAR=value when one is given (the "system store" runs).
clean() {
    local var=$1
    shift
    if [ "$var" = - ]; then
        env -u SSL_CERT_FILE -u SSL_CERT_DIR "$@"
    else
        env -u SSL_CERT_FILE -u SSL_CERT_DIR "$var" "$@"
    fi
}

# Sanity: every command must really work, or its timing means nothing.
check() { # expected-stdout VAR=value|- cmd...
    local want=$1 out
    shift
    out=$(clean "$@" 2>&1) || die "sanity check failed: $*: $out"
    [ "$out" = "$want" ] || die "sanity check: $*: expected \"$want\", got: $out"
}
log "sanity checks"
for c in "$FV_HTTP" "$FV_ECDSA_CACERT" "$FV_ECDSA_INSECURE" "$FV_RSA_CACERT" "$FV_RSA_INSECURE" \
    "$REST_PY_HTTP" "$REST_API_HTTP" "$REST_REST_HTTP" "$SOAP_PY_HTTP" "$SOAP_RS_HTTP"; do
    check "Status: ON" - $c $STATUS
done
for c in "$FV_ECDSA_STORE" "$FV_RSA_STORE"; do
    check "Status: ON" "SSL_CERT_FILE=$STORE" $c $STATUS
    # Without the bundle, the same command must fail: the store is used.
    if clean SSL_CERT_FILE=/etc/ssl/certs/ca-certificates.crt $c $STATUS >/dev/null 2>&1; then
        die "$c verified the simulator without its CA in the system store"
    fi
done
for s in ecdsa rsa; do
    rest_tls "$(sim_port $s)"
    for c in "$REST_PY_TLS" "$REST_API_TLS" "$REST_REST_TLS"; do check "Status: ON" - $c $STATUS; done
    for c in "$PY_SOAP $(login "$(px_port px-$s)") --ssl-insecure" "$RS_SOAP $(login "$(px_port px-$s)") --ssl-insecure"; do
        check "Status: ON" - $c $STATUS
    done
done

# ---------------------------------------------------------------------------
# Results of an earlier run go; bench/vbmc's subdirectory stays.
mkdir -p "$RESULTS"
find "$RESULTS" -maxdepth 1 -type f \( -name '*.json' -o -name '*.md' \) -delete

# hf NAME "hyperfine options" VAR=value|- label command label command ...
# Both agents of a comparison run in one hyperfine invocation, one after the
# other. By default hyperfine runs each command >= min-runs times and for
# >= 3 s, so ours (milliseconds) gets hundreds of runs.
hf() {
    local name=$1 opts=$2 var=$3
    shift 3
    local args=()
    while [ $# -gt 0 ]; do args+=(-n "$1" "$2"); shift 2; done
    log "hyperfine: $name"
    # shellcheck disable=SC2086
    clean "$var" hyperfine -N --style basic $opts "${args[@]}" \
        --export-json "$RESULTS/$name.json" --export-markdown "$RESULTS/$name.md" >&2
}

# hfi NAME ROUNDS "hyperfine options" VAR=value|- label command ...: the
# group ROUNDS times over, merged into NAME.json (every run's time; mean,
# median, σ, user and system over all of them). One long hyperfine
# measures each command in its own few seconds, and the load other people
# put on this shared machine then differs from one command to the next;
# rounds spread it over all commands alike, which the ratios need.
hfi() {
    local name=$1 rounds=$2 opts=$3
    shift 3
    local i
    for i in $(seq 1 "$rounds"); do
        hf "$name.round$i" "$opts" "$@"
    done
    jq -s '
        def median: sort | if length % 2 == 1 then .[length / 2 | floor] else (.[length / 2 - 1] + .[length / 2]) / 2 end;
        def mean: add / length;
        def sd: mean as $m | map((. - $m) * (. - $m)) | add / (length - 1) | sqrt;
        . as $rounds | {results: [range(0; $rounds[0].results | length) as $k |
            [$rounds[].results[$k]] as $rs | [$rs[].times[]] as $t |
            {command: $rs[0].command, rounds: ($rs | length), times: $t,
             mean: ($t | mean), stddev: ($t | sd), median: ($t | median), min: ($t | min), max: ($t | max),
             user: ([$rs[] | .user * (.times | length)] | add / ($t | length)),
             system: ([$rs[] | .system * (.times | length)] | add / ($t | length))}]}' \
        "$RESULTS/$name".round*.json >"$RESULTS/$name.json"
    rm -f "$RESULTS/$name".round*.json "$RESULTS/$name".round*.md
    jq -r '"| command | median ms | mean ± σ ms | min … max ms | runs |", "|:---|---:|---:|---:|---:|",
        (.results[] | "| \(.command) | \(.median * 1000 | . * 100 | round / 100) | \(.mean * 1000 | . * 100 | round / 100) ± \(.stddev * 1000 | . * 100 | round / 100) | \(.min * 1000 | . * 100 | round / 100) … \(.max * 1000 | . * 100 | round / 100) | \(.times | length) |")' \
        "$RESULTS/$name.json" >"$RESULTS/$name.md"
}
# Per round: at most 100 runs or 3 s of each command, at least 20.
ROUND_OPTS="--warmup 2 --min-runs 20 --max-runs 100"

# 1. fence_vmware_rest against fence-agents' fence_vmware_rest.
# "ours /api list" is no status: it is what the same process costs with
# the Automation API alone (a list opens no vim25 session), three requests
# on one connection like Python's status, to show what vim25 adds.
# before ARGS...: the BEFORE build's row, when there is one.
before() { [ -z "${BEFORE:-}" ] || printf '%s\n' "before /api" "$W/before/fence_vmware_rest $*"; }
mapfile -t BEFORE_ROW < <(before "$(login "$HTTP")" --notls --api-path=/api "$STATUS")
hfi rest-status-http 5 "$ROUND_OPTS" - \
    "python /rest" "$REST_PY_HTTP $STATUS" \
    "ours /api" "$REST_API_HTTP $STATUS" \
    "ours /rest" "$REST_REST_HTTP $STATUS" \
    "ours /api list" "$REST_API_HTTP -o list" \
    "${BEFORE_ROW[@]}"
for s in ecdsa rsa; do
    rest_tls "$(sim_port $s)"
    mapfile -t BEFORE_ROW < <(before "$(login "$(sim_port $s)")" --ssl-insecure --api-path=/api "$STATUS")
    hfi "rest-status-https-$s" 5 "$ROUND_OPTS" - \
        "python /rest" "$REST_PY_TLS $STATUS" \
        "ours /api" "$REST_API_TLS $STATUS" \
        "ours /rest" "$REST_REST_TLS $STATUS" \
        "ours /api list" "$REST_API_TLS -o list" \
        "${BEFORE_ROW[@]}"
done

# 2. fence_vmware over HTTP and HTTPS, straight to the simulators. All
# get SSL_CERT_FILE; only the "system store" runs read it (a client with
# cacert, ssl_insecure or notls never opens it: strace shows no open).
hfi fence_vmware-status 5 "$ROUND_OPTS" "SSL_CERT_FILE=$STORE" \
    "HTTP" "$FV_HTTP $STATUS" \
    "ECDSA cacert" "$FV_ECDSA_CACERT $STATUS" \
    "ECDSA system store" "$FV_ECDSA_STORE $STATUS" \
    "ECDSA ssl_insecure" "$FV_ECDSA_INSECURE $STATUS" \
    "RSA cacert" "$FV_RSA_CACERT $STATUS" \
    "RSA system store" "$FV_RSA_STORE $STATUS" \
    "RSA ssl_insecure" "$FV_RSA_INSECURE $STATUS"

# ... and beside fence-agents' fence_vmware_soap, both through the same
# WSDL proxy with the same options.
hf soap-status-http "--warmup 1 --min-runs 10" - \
    "python" "$SOAP_PY_HTTP $STATUS" \
    "ours" "$SOAP_RS_HTTP $STATUS"
for s in ecdsa rsa; do
    hf "soap-status-https-$s" "--warmup 1 --min-runs 10" - \
        "python" "$PY_SOAP $(login "$(px_port px-$s)") --ssl-insecure $STATUS" \
        "ours" "$RS_SOAP $(login "$(px_port px-$s)") --ssl-insecure $STATUS"
done

# CPU time with /usr/bin/time: one GNU time around N runs in a shell loop
# (its 10 ms resolution divided by N); the loop's own cost is the
# /bin/true row.
declare -a CPU=()
cpu() { # label n VAR=value|- cmd...
    local label=$1 n=$2 var=$3
    shift 3
    clean "$var" /usr/bin/time -f '%e %U %S' -o "$W/cpu.txt" \
        sh -c 'n=$1; shift; i=0; while [ $i -lt $n ]; do "$@" >/dev/null 2>&1 || exit 1; i=$((i + 1)); done' \
        loop "$n" "$@" || die "cpu: $label failed"
    CPU+=("$(awk -v l="$label" -v n="$n" '{ printf "| %s | %d | %.2f | %.2f | %.2f | %.2f |", l, n, $1 * 1000 / n, $2 * 1000 / n, $3 * 1000 / n, ($2 + $3) * 1000 / n }' "$W/cpu.txt")")
}
log "CPU time (/usr/bin/time)"
cpu "/bin/true (the loop itself)" 200 - /bin/true
cpu "fence_vmware HTTP" 200 - $FV_HTTP $STATUS
cpu "fence_vmware ECDSA cacert" 200 - $FV_ECDSA_CACERT $STATUS
cpu "fence_vmware ECDSA system store" 200 "SSL_CERT_FILE=$STORE" $FV_ECDSA_STORE $STATUS
cpu "fence_vmware ECDSA ssl_insecure" 200 - $FV_ECDSA_INSECURE $STATUS
cpu "fence_vmware RSA cacert" 200 - $FV_RSA_CACERT $STATUS
cpu "fence_vmware RSA system store" 200 "SSL_CERT_FILE=$STORE" $FV_RSA_STORE $STATUS
cpu "fence_vmware RSA ssl_insecure" 200 - $FV_RSA_INSECURE $STATUS
cpu "python fence_vmware_soap HTTP" 3 - $SOAP_PY_HTTP $STATUS
cpu "python fence_vmware_soap RSA ssl_insecure" 3 - $PY_SOAP $(login "$(px_port px-rsa)") --ssl-insecure $STATUS
cpu "fence_vmware_rest /api HTTP" 200 - $REST_API_HTTP $STATUS
cpu "python fence_vmware_rest HTTP" 20 - $REST_PY_HTTP $STATUS
rest_tls "$RSA"
cpu "fence_vmware_rest /api RSA ssl_insecure" 200 - $REST_API_TLS $STATUS
cpu "python fence_vmware_rest RSA ssl_insecure" 20 - $REST_PY_TLS $STATUS

# The rest of the old comparison, over plain HTTP through the WSDL proxy.
hf metadata "--warmup 3 --min-runs 20" - \
    "python fence_vmware_soap" "$PY_SOAP -o metadata" \
    "python fence_vmware_rest" "$PY_REST -o metadata" \
    "ours fence_vmware_soap" "$RS_SOAP -o metadata" \
    "ours fence_vmware_rest" "$RS_REST -o metadata" \
    "ours fence_vmware_esxi" "$root/target/release/fence_vmware_esxi -o metadata"
hf list-http "--warmup 1 --min-runs 10" - \
    "python" "$SOAP_PY_HTTP -o list" \
    "ours" "$SOAP_RS_HTTP -o list"
hf reboot-http "--warmup 1 --min-runs 10" - \
    "python" "$SOAP_PY_HTTP -o reboot -n $PLUG" \
    "ours" "$SOAP_RS_HTTP -o reboot -n $PLUG"

# ---------------------------------------------------------------------------
# 3. 5,000 VMs (and the 22 of the simulators above).
HTTP5K=$(sim_port http5k)
ECDSA5K=$(sim_port ecdsa5k)
RSA5K=$(sim_port rsa5k)
vms() { curl -sf "http://$(sim_control "$1")/vm" | jq length; }
VMS=$(vms http)
VMS5K=$(vms http5k)
for s in ecdsa5k rsa5k; do [ "$(vms $s)" = "$VMS5K" ] || die "$s has $(vms $s) VMs, http5k $VMS5K"; done
check "Status: ON" - $FV $(login "$HTTP5K") --notls $STATUS
check "Status: ON" - $FV $(login "$RSA5K") --cacert "$W/rsa5k/ca.pem" $STATUS

hf "status-${VMS5K}vms" "--warmup 2 --min-runs 20" - \
    "fence_vmware by name, HTTP" "$FV $(login "$HTTP5K") --notls $STATUS" \
    "fence_vmware by name, RSA cacert" "$FV $(login "$RSA5K") --cacert $W/rsa5k/ca.pem $STATUS" \
    "fence_vmware by path, HTTP" "$FV $(login "$HTTP5K") --notls -o status -n $PLUG_PATH" \
    "fence_vmware_rest /api, HTTP" "$RS_REST $(login "$HTTP5K") --notls --api-path=/api $STATUS" \
    "python fence_vmware_rest, HTTP" "$PY_REST $(login "$HTTP5K") $STATUS"

# Peak RSS: the highest of three runs.
declare -a RSS=()
rss() { # label vms VAR=value|- cmd...
    local label=$1 n=$2 var=$3
    shift 3
    local i max=0 kib
    for i in 1 2 3; do
        clean "$var" /usr/bin/time -v -o "$W/time.txt" "$@" >"$W/out.txt" 2>&1 ||
            die "rss: $label failed: $(cat "$W/out.txt")"
        kib=$(awk -F': ' '/Maximum resident set size/ { print $2 }' "$W/time.txt")
        [ "$kib" -gt "$max" ] && max=$kib
    done
    RSS+=("| $label | $n | $max | $(awk -v k="$max" 'BEGIN { printf "%.1f", k / 1024 }') |")
}
log "peak RSS"
rss "fence_vmware status by name, HTTP" "$VMS5K" - $FV $(login "$HTTP5K") --notls $STATUS
for s in ECDSA RSA; do
    port=$(sim_port "${s,,}5k")
    rss "fence_vmware status by name, $s cacert" "$VMS5K" - $FV $(login "$port") --cacert "$W/${s,,}5k/ca.pem" $STATUS
    rss "fence_vmware status by name, $s system store" "$VMS5K" "SSL_CERT_FILE=$STORE" $FV $(login "$port") --ssl $STATUS
    rss "fence_vmware status by name, $s ssl_insecure" "$VMS5K" - $FV $(login "$port") --ssl-insecure $STATUS
done
rss "fence_vmware status by path, HTTP" "$VMS5K" - $FV $(login "$HTTP5K") --notls -o status -n $PLUG_PATH
rss "fence_vmware_rest /api status, HTTP" "$VMS5K" - $RS_REST $(login "$HTTP5K") --notls --api-path=/api $STATUS
rss "fence_vmware_rest /api status, RSA ssl_insecure" "$VMS5K" - $RS_REST $(login "$RSA5K") --ssl-insecure --api-path=/api $STATUS
rss "python fence_vmware_rest status, HTTP" "$VMS5K" - $PY_REST $(login "$HTTP5K") $STATUS
rss "python fence_vmware_rest status, RSA ssl_insecure" "$VMS5K" - $PY_REST $(login "$RSA5K") --ssl-insecure $STATUS
rss "python fence_vmware_soap status, HTTP" "$VMS5K" - $PY_SOAP $(login "$(px_port px-http5k)") $STATUS
rss "fence_vmware status by name, HTTP" "$VMS" - $FV_HTTP $STATUS
rss "fence_vmware -o metadata" - - $FV -o metadata
rss "python fence_vmware_soap status, HTTP" "$VMS" - $SOAP_PY_HTTP $STATUS
rss "python fence_vmware_rest status, HTTP" "$VMS" - $REST_PY_HTTP $STATUS

# ---------------------------------------------------------------------------
# Calls of one run: the simulator's GET /calls (vim25) and /rest/calls
# (Automation API) before and after, and the proxy's byte counts.
delta() { # before.json after.json -> "K=v, ..." of the differences
    jq -rn --slurpfile a "$1" --slurpfile b "$2" \
        '$b[0] as $B | $a[0] as $A | [$B | keys[] | select(($B[.] - ($A[.] // 0)) != 0) |
         "\(.)=\($B[.] - ($A[.] // 0))"] | join(", ")'
}
total() { # before.json after.json -> sum of the differences
    jq -rn --slurpfile a "$1" --slurpfile b "$2" '([$b[0][]] | add // 0) - ([$a[0][]] | add // 0)'
}
declare -a CALLS=()
calls() { # label sim proxy-or-"-" cmd...
    local label=$1 s=$2 px=$3 ctl
    shift 3
    ctl=$(sim_control "$s")
    curl -sf "http://$ctl/calls" >"$W/c0.json"
    curl -sf "http://$ctl/rest/calls" >"$W/r0.json"
    [ "$px" = - ] || curl -sf "http://127.0.0.1:$(px_port "$px")/bench/stats" >"$W/s0.json"
    "$@" >/dev/null 2>&1 || die "calls: $label failed"
    curl -sf "http://$ctl/calls" >"$W/c1.json"
    curl -sf "http://$ctl/rest/calls" >"$W/r1.json"
    local wire="– | –"
    if [ "$px" != - ]; then
        curl -sf "http://127.0.0.1:$(px_port "$px")/bench/stats" >"$W/s1.json"
        wire=$(jq -rn --slurpfile a "$W/s0.json" --slurpfile b "$W/s1.json" \
            '"\($b[0].wsdl_gets - $a[0].wsdl_gets) (\(($b[0].wsdl_bytes - $a[0].wsdl_bytes) / 1024 | floor) KiB) | \(($b[0].soap_request_bytes - $a[0].soap_request_bytes) / 1024 | floor) / \(($b[0].soap_response_bytes - $a[0].soap_response_bytes) / 1024 | floor) KiB"')
    fi
    local rest vim
    rest=$(delta "$W/r0.json" "$W/r1.json")
    vim=$(delta "$W/c0.json" "$W/c1.json")
    CALLS+=("| $label | $(total "$W/r0.json" "$W/r1.json") | ${rest:-–} | $(total "$W/c0.json" "$W/c1.json") | ${vim:-–} | $wire |")
}
log "counting calls"
calls "python fence_vmware_rest status" http - $REST_PY_HTTP $STATUS
calls "fence_vmware_rest /api status" http - $REST_API_HTTP $STATUS
calls "fence_vmware_rest /rest status" http - $REST_REST_HTTP $STATUS
calls "fence_vmware_rest /api list" http - $REST_API_HTTP -o list
calls "python fence_vmware_soap status" http px-http $SOAP_PY_HTTP $STATUS
calls "fence_vmware_soap status" http px-http $SOAP_RS_HTTP $STATUS
calls "python fence_vmware_soap list" http px-http $SOAP_PY_HTTP -o list
calls "fence_vmware_soap list" http px-http $SOAP_RS_HTTP -o list
calls "python fence_vmware_soap reboot" http px-http $SOAP_PY_HTTP -o reboot -n $PLUG
calls "fence_vmware_soap reboot" http px-http $SOAP_RS_HTTP -o reboot -n $PLUG
calls "fence_vmware_soap status at $VMS5K VMs" http5k px-http5k $RS_SOAP $(login "$(px_port px-http5k)") --notls $STATUS

LOAD_END=$(load)

# ---------------------------------------------------------------------------
# The summary. Timings are shown as "median (mean ± σ)", ratios as
# "median-based (mean-based)": the machine is shared, and other people's
# builds put a long tail on the means that the medians do not follow.
field() { jq -r --arg l "$2" ".results[] | select(.command == \$l) | $3" "$RESULTS/$1.json"; }
mean() { field "$1" "$2" .mean; }
median() { field "$1" "$2" .median; }
ms() { # file label
    field "$1" "$2" '"\(.median * 1000 | . * 10 | round / 10) (\(.mean * 1000 | . * 10 | round / 10) ± \(.stddev * 1000 | . * 10 | round / 10))"'
}
cpu_ms() { field "$1" "$2" '(.user + .system) * 1000 | . * 100 | round / 100'; } # mean user+system
runs() { field "$1" "$2" '.times | length'; }
ratio() { awk -v a="$1" -v b="$2" 'BEGIN { printf "%.1f", a / b }'; }
ratios() { # file slower-label faster-label
    echo "$(ratio "$(median "$1" "$2")" "$(median "$1" "$3")")× ($(ratio "$(mean "$1" "$2")" "$(mean "$1" "$3")")×)"
}
plus() { awk -v a="$1" -v b="$2" 'BEGIN { printf "%+.2f", a - b }'; }
plus_ms() { awk -v a="$1" -v b="$2" 'BEGIN { printf "%+.2f", (a - b) * 1000 }'; }
lowest() { printf '%s\n' "$@" | sort -g | head -1; }
highest() { printf '%s\n' "$@" | sort -g | tail -1; }
verdict() { if awk "BEGIN { exit !($1) }"; then echo "holds"; else echo "**does not hold**"; fi; }

declare -a REST_ROWS=() REST_MEDIAN_RATIOS=() REST_MEAN_RATIOS=()
for t in http https-ecdsa https-rsa; do
    f=rest-status-$t
    for d in /api /rest; do
        REST_MEDIAN_RATIOS+=("$(ratio "$(median "$f" "python /rest")" "$(median "$f" "ours $d")")")
        REST_MEAN_RATIOS+=("$(ratio "$(mean "$f" "python /rest")" "$(mean "$f" "ours $d")")")
    done
    REST_ROWS+=("| $t | $(ms "$f" "python /rest") | $(ms "$f" "ours /api") | $(ms "$f" "ours /rest") | $(ratios "$f" "python /rest" "ours /api") | $(ratios "$f" "python /rest" "ours /rest") | $(cpu_ms "$f" "python /rest") / $(cpu_ms "$f" "ours /api") / $(cpu_ms "$f" "ours /rest") | $(ms "$f" "ours /api list") | $(ratios "$f" "python /rest" "ours /api list") |")
done
declare -a BEFORE_ROWS=()
if [ -n "${BEFORE:-}" ]; then
    for t in http https-ecdsa https-rsa; do
        f=rest-status-$t
        BEFORE_ROWS+=("| $t | $(ms "$f" "before /api") | $(ms "$f" "ours /api") | $(ratios "$f" "python /rest" "before /api") | $(ratios "$f" "python /rest" "ours /api") | $(cpu_ms "$f" "before /api") / $(cpu_ms "$f" "ours /api") |")
    done
fi
MIN_REST_MEDIAN=$(lowest "${REST_MEDIAN_RATIOS[@]}")
MIN_REST_MEAN=$(lowest "${REST_MEAN_RATIOS[@]}")

declare -a TLS_ROWS=() MEDIAN_DELTAS=() MEAN_DELTAS=()
HTTP_CPU=$(cpu_ms fence_vmware-status HTTP)
TLS_ROWS+=("| HTTP | $(ms fence_vmware-status HTTP) | – | $HTTP_CPU | – | $(runs fence_vmware-status HTTP) |")
f=fence_vmware-status
for l in "ECDSA cacert" "ECDSA system store" "ECDSA ssl_insecure" "RSA cacert" "RSA system store" "RSA ssl_insecure"; do
    dm=$(plus_ms "$(median "$f" "$l")" "$(median fence_vmware-status HTTP)")
    da=$(plus_ms "$(mean "$f" "$l")" "$(mean fence_vmware-status HTTP)")
    MEDIAN_DELTAS+=("$dm")
    MEAN_DELTAS+=("$da")
    c=$(cpu_ms "$f" "$l")
    TLS_ROWS+=("| HTTPS $l | $(ms "$f" "$l") | $dm ($da) | $c | $(plus "$c" "$HTTP_CPU") | $(runs "$f" "$l") |")
done
MAX_DELTA_MEDIAN=$(highest "${MEDIAN_DELTAS[@]}")
MAX_DELTA_MEAN=$(highest "${MEAN_DELTAS[@]}")

declare -a SOAP_ROWS=()
for t in http https-ecdsa https-rsa; do
    f=soap-status-$t
    SOAP_ROWS+=("| $t | $(ms "$f" python) | $(ms "$f" ours) | $(cpu_ms "$f" python) | $(cpu_ms "$f" ours) | $(ratios "$f" python ours) |")
done

MAX_RSS=$(printf '%s\n' "${RSS[@]}" | awk -F' \\| ' -v n="$VMS5K" '$1 ~ /fence_vmware status by name/ && $2 == n { if ($3 > m) m = $3 } END { print m + 0 }')

{
    echo "# bench/run.sh results"
    echo
    echo "Generated $STARTED by bench/run.sh at $(git -C "$root" rev-parse --short HEAD)$(git -C "$root" diff --quiet HEAD -- . ':!bench/results' 2>/dev/null || echo ' (with uncommitted changes)')."
    echo "Machine: $(awk -F': ' '/model name/ { print $2; exit }' /proc/cpuinfo), $(nproc) CPUs, $(awk '/MemTotal/ { printf "%.0f GiB", $2 / 1048576 }' /proc/meminfo) RAM; load average $LOAD_START at the start, $LOAD_END at the end."
    echo "Versions: $(rustc --version), $(hyperfine --version), fence-agents $(dpkg-query -W -f='${Version}' fence-agents), $(/usr/bin/python3 --version), python3-pycurl $(dpkg-query -W -f='${Version}' python3-pycurl), python3-suds $(dpkg-query -W -f='${Version}' python3-suds), govmomi $(dpkg-query -W -f='${Version}' golang-github-vmware-govmomi-dev), $(go version | cut -d' ' -f3)."
    echo "fence-agents' agents copied from $PY_SOAP_FROM and $PY_REST_FROM; ours: target/release/fence_vmware under each name."
    echo "Simulators: $VMS VMs (vCenter, 2 datacenters), and $VMS5K VMs with -extra-vms 5000. System store: $STORE_CAS CAs (Debian's bundle and the simulators' CAs)."
    echo "WSDL served to Python's fence_vmware_soap: $(cat "$W/wsdl.txt")"
    echo
    echo "## 1. REST status: fence_vmware_rest vs fence-agents' fence_vmware_rest ($VMS VMs)"
    echo
    echo "Wall time, ms, median (mean ± σ) (hyperfine); ratios on medians (on means). HTTPS: ssl_insecure for all."
    echo
    echo "| transport | python /rest | ours /api | ours /rest | python / ours /api | python / ours /rest | CPU ms, python / ours /api / ours /rest | ours /api, -o list (no vim25) | python / that |"
    echo "|---|---:|---:|---:|---:|---:|---:|---:|---:|"
    printf '%s\n' "${REST_ROWS[@]}"
    echo
    echo "Lowest ratio of the status runs: ${MIN_REST_MEDIAN}× on medians, ${MIN_REST_MEAN}× on means (promise: at least 20×): on medians $(verdict "$MIN_REST_MEDIAN >= 20"), on means $(verdict "$MIN_REST_MEAN >= 20")."
    echo
    if [ -n "${BEFORE:-}" ]; then
        echo "### The BEFORE build ($BEFORE) in the same rounds, status on /api"
        echo
        echo "| transport | before ms | ours ms | python / before | python / ours | CPU ms, before / ours |"
        echo "|---|---:|---:|---:|---:|---:|"
        printf '%s\n' "${BEFORE_ROWS[@]}"
        echo
    fi
    echo "## 2. fence_vmware status, HTTPS vs HTTP ($VMS VMs, straight to the simulators)"
    echo
    echo "| transport | wall ms, median (mean ± σ) | wall − HTTP ms, median (mean) | CPU ms (user+sys, mean) | CPU − HTTP ms | runs |"
    echo "|---|---:|---:|---:|---:|---:|"
    printf '%s\n' "${TLS_ROWS[@]}"
    echo
    echo "Largest HTTPS − HTTP: ${MAX_DELTA_MEDIAN} ms on medians, ${MAX_DELTA_MEAN} ms on means (promise: within 10 ms): on medians $(verdict "$MAX_DELTA_MEDIAN <= 10"), on means $(verdict "$MAX_DELTA_MEAN <= 10")."
    echo
    echo "### Beside fence-agents' fence_vmware_soap (through the WSDL proxy, both with the same options; HTTPS: ssl_insecure)"
    echo
    echo "| transport | python wall ms | ours wall ms | python CPU ms | ours CPU ms | python / ours, medians (means) |"
    echo "|---|---:|---:|---:|---:|---:|"
    printf '%s\n' "${SOAP_ROWS[@]}"
    echo
    echo "### CPU time by /usr/bin/time (one GNU time around N runs in a sh loop), per run"
    echo
    echo "| command (status) | N | wall ms | user ms | sys ms | user+sys ms |"
    echo "|---|---:|---:|---:|---:|---:|"
    printf '%s\n' "${CPU[@]}"
    echo
    echo "## 3. Peak RSS (/usr/bin/time -v, highest of 3 runs)"
    echo
    echo "| run | VMs | max RSS KiB | MiB |"
    echo "|---|---:|---:|---:|"
    printf '%s\n' "${RSS[@]}"
    echo
    echo "Highest fence_vmware status by name at $VMS5K VMs: $MAX_RSS KiB (promise: at most 10 MiB = 10240 KiB): $(verdict "$MAX_RSS <= 10240")."
    echo
    echo "### Wall time at $VMS5K VMs (hyperfine)"
    echo
    echo "| command | ms, median (mean ± σ) |"
    echo "|---|---:|"
    for l in "fence_vmware by name, HTTP" "fence_vmware by name, RSA cacert" "fence_vmware by path, HTTP" \
        "fence_vmware_rest /api, HTTP" "python fence_vmware_rest, HTTP"; do
        echo "| $l | $(ms "status-${VMS5K}vms" "$l") |"
    done
    echo
    echo "## Other actions, over plain HTTP ($VMS VMs; SOAP through the WSDL proxy)"
    echo
    echo "| benchmark | python ms, median (mean ± σ) | ours ms | python / ours, medians (means) |"
    echo "|---|---:|---:|---:|"
    for a in soap rest; do
        echo "| -o metadata, fence_vmware_$a | $(ms metadata "python fence_vmware_$a") | $(ms metadata "ours fence_vmware_$a") | $(ratios metadata "python fence_vmware_$a" "ours fence_vmware_$a") |"
    done
    for b in list-http reboot-http; do
        echo "| -o ${b%-http}, fence_vmware_soap | $(ms "$b" python) | $(ms "$b" ours) | $(ratios "$b" python ours) |"
    done
    echo "| -o metadata, fence_vmware_esxi (ours only) | – | $(ms metadata "ours fence_vmware_esxi") | – |"
    echo
    echo "## Calls of one run"
    echo
    echo "| run | REST calls | REST by call | vim25 calls | vim25 by method | WSDL GETs | SOAP KiB sent / received |"
    echo "|---|---:|---|---:|---|---|---|"
    printf '%s\n' "${CALLS[@]}"
} >"$RESULTS/summary.md"

log "summary ($RESULTS/summary.md)"
cat "$RESULTS/summary.md"
