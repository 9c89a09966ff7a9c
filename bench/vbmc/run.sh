#!/bin/bash
# bench/vbmc/run.sh - virtual BMCs side by side, against one VMware vSphere
# simulator (cts/vcsim): fence_ipmilan -> vmware-vbmc, fence_ipmilan ->
# vbmc4vsphere 0.3.0 (PyPI; pyvmomi and pyghmi), and fence_vmware talking
# to the simulator itself.
#
#   bench/vbmc/run.sh        # about 5 minutes on 2 cores; root (unshare)
#
# 1. Outside: builds our release binaries and the simulator, installs
#    bench/vbmc/requirements.txt (vbmc4vsphere and its dependencies, pinned)
#    into a venv in target/bench/vbmc4vsphere.
# 2. Re-runs itself in network and PID namespaces of its own (unshare; only
#    a loopback): vbmc4vsphere connects to vCenter on port 443 and nothing
#    else (its SmartConnect call leaves the port out), so the simulator
#    listens on 127.0.0.1:443 there, over HTTPS with its own CA. vmware-vbmc
#    and fence_vmware verify that CA; vbmc4vsphere never verifies.
# 3. hyperfine: status and off of a VM whose power tasks end at once, each
#    way; the raw ipmitool commands too, to tell fence_ipmilan's own time
#    from the BMC's.
# 4. The simulator's VM "slow" (3 s power tasks): whether the VM is off at
#    the moment each tool reports the off done, read from the simulator's
#    control endpoint as soon as the tool exits.
# 5. A VM whose host vCenter lost, its last state "off": what each says.
# 6. vCenter logins per IPMI command (the simulator's session counters).
#
# Writes bench/results/vbmc/ (hyperfine exports, summary.md). These are
# measurements, not tests. RESULTS=dir writes elsewhere.
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd)
root=$(cd "$here/../.." && pwd)
cd "$root"
RESULTS=${RESULTS:-$root/bench/results/vbmc}
VENV=$root/target/bench/vbmc4vsphere

. "$root/bench/lib.sh"

if [ -z "${VBMC_BENCH_INSIDE:-}" ]; then
    [ "$(id -u)" = 0 ] || { echo "bench/vbmc/run.sh needs root (unshare --net, port 443)" >&2; exit 1; }
    need hyperfine "apt-get install hyperfine"
    need jq "apt-get install jq"
    need ipmitool "apt-get install ipmitool"
    need curl "apt-get install curl"
    [ -x /usr/sbin/fence_ipmilan ] || { echo "missing: fence_ipmilan (apt-get install fence-agents)" >&2; exit 1; }
    echo "== building" >&2
    cargo build --release -q -p fence-vmware -p vmware-vbmc
    cts/vcsim/build.sh
    if ! cmp -s "$here/requirements.txt" "$VENV/requirements.txt" 2>/dev/null; then
        echo "== vbmc4vsphere into $VENV" >&2
        rm -rf "$VENV"
        /usr/bin/python3 -m venv "$VENV"
        "$VENV/bin/pip" install -q -r "$here/requirements.txt"
        cp "$here/requirements.txt" "$VENV/requirements.txt"
    fi
    mkdir -p "$RESULTS"
    # A PID namespace too: whatever vbmc4vsphere forks ends with the run.
    exec env VBMC_BENCH_INSIDE=1 RESULTS="$RESULTS" unshare --net --pid --fork "$here/run.sh" "$@"
fi

# ------------------------------------------------------------ in the namespace
ip link set lo up
scratch vbmc-bench
# what_it_said: the first line the last command printed on stdout, or else
# its first line on stderr that is not Python 3.11's warning about fence_ipmilan
# importing `pipes`.
what_it_said() {
    local line
    line=$(grep -v '^\s*$' "$W/out" | head -1)
    [ -n "$line" ] || line=$(grep -v -e '^\s*$' -e DeprecationWarning -e '^ *from pipes import' "$W/err" | head -1)
    printf '%s' "$line"
}

VC_USER=fenceuser VC_PASS=bench-vc-pw
SLOW=3
"$root/target/cts/vcsim" -listen 127.0.0.1:443 -control 127.0.0.1:0 -state-dir "$W/sim" \
    -user "$VC_USER" -pass "$VC_PASS" -slow-seconds "$SLOW" >"$W/sim.log" 2>&1 &
pids+=($!)
for _ in $(seq 150); do [ -f "$W/sim/ready.json" ] && break; sleep 0.2; done
CONTROL=$(jq -r .control "$W/sim/ready.json")
CA=$W/sim/ca.pem

vm_json() { curl -s -G "http://$CONTROL/vm" --data-urlencode "name=$1"; }
moref() { vm_json "$1" | jq -r '.[0].moref'; }
power() { vm_json "$1" | jq -r '.[0].power'; }
set_power() { curl -s -X POST "http://$CONTROL/vm/power?moref=$(moref "$1")&state=$2" >/dev/null; }
logins() { curl -s "http://$CONTROL/sessions" | jq -r .logins; }
calls() { curl -s "http://$CONTROL/calls" | jq -r ".$1 // 0"; }
# wait_power NAME STATE: until the simulator says so (a task still running
# from the previous run ends first), at most 20 s.
wait_power() {
    local i
    for i in $(seq 100); do [ "$(power "$1")" = "$2" ] && return 0; sleep 0.2; done
    echo "$1 never became $2" >&2
    return 1
}

# ---- vmware-vbmc: endpoints 6230 (node10), 6231 (slow), 6232 (dc1only)
RS_USER=fence RS_PASS=Bench-vbmc-pw-01
install -m 0600 /dev/null "$W/vbmc.toml"
{
    printf '[vcenter]\nip = "127.0.0.1"\nusername = "%s"\npassword = "%s"\ncacert = "%s"\n' \
        "$VC_USER" "$VC_PASS" "$CA"
    port=6230
    for plug in node10 slow dc1only; do
        printf '\n[[vm]]\nplug = "%s"\nlisten_address = "127.0.0.1"\nlisten_port = %s\n' "$plug" "$port"
        printf 'ipmi_username = "%s"\nipmi_password = "%s"\n' "$RS_USER" "$RS_PASS"
        port=$((port + 1))
    done
} >"$W/vbmc.toml"
"$root/target/release/vmware-vbmc" run "$W/vbmc.toml" 2>"$W/vbmc.log" &
pids+=($!)
for _ in $(seq 150); do grep -q "serving 3 virtual" "$W/vbmc.log" && break; sleep 0.2; done
grep -q "serving 3 virtual" "$W/vbmc.log" || { cat "$W/vbmc.log" >&2; exit 1; }

# ---- vbmc4vsphere: endpoints 6240 (node10), 6241 (slow), 6242 (dc1only),
# its defaults for the IPMI user (admin, password); its state in $W/home.
PY_USER=admin PY_PASS=password
export HOME=$W/home
mkdir -p "$HOME"
"$VENV/bin/vsbmcd" --foreground >"$W/vsbmcd.log" 2>&1 &
pids+=($!)
sleep 2
port=6240
for plug in node10 slow dc1only; do
    "$VENV/bin/vsbmc" add "$plug" --port "$port" --viserver 127.0.0.1 \
        --viserver-username "$VC_USER" --viserver-password "$VC_PASS" >/dev/null
    "$VENV/bin/vsbmc" start "$plug" >/dev/null
    port=$((port + 1))
done
sleep 2

rs_ipmitool() { ipmitool -I lanplus -H 127.0.0.1 -p "$1" -U "$RS_USER" -P "$RS_PASS" "${@:2}"; }
py_ipmitool() { ipmitool -I lanplus -H 127.0.0.1 -p "$1" -U "$PY_USER" -P "$PY_PASS" "${@:2}"; }
for p in 6230 6231 6232; do rs_ipmitool "$p" chassis power status >/dev/null; done
for p in 6240 6241 6242; do py_ipmitool "$p" chassis power status >/dev/null; done

FIL=/usr/sbin/fence_ipmilan
FV=$root/target/release/fence_vmware
rs_fil() { echo "$FIL --ip 127.0.0.1 --ipport $1 --username $RS_USER --password $RS_PASS --lanplus --action $2"; }
py_fil() { echo "$FIL --ip 127.0.0.1 --ipport $1 --username $PY_USER --password $PY_PASS --lanplus --action $2"; }
fv() { echo "$FV --ip 127.0.0.1 --username $VC_USER --password $VC_PASS --ssl --cacert $CA --plug $1 --action $2"; }
rs_ipmi() { echo "ipmitool -I lanplus -H 127.0.0.1 -p $1 -U $RS_USER -P $RS_PASS chassis power $2"; }
py_ipmi() { echo "ipmitool -I lanplus -H 127.0.0.1 -p $1 -U $PY_USER -P $PY_PASS chassis power $2"; }

# ------------------------------------------------------------ timings
HF=(hyperfine -N --warmup 1 --min-runs 10 --style basic)
log "status of node10 (on)"
"${HF[@]}" --export-json "$RESULTS/status.json" --export-markdown "$RESULTS/status.md" \
    -n "fence_ipmilan -> vmware-vbmc" "$(rs_fil 6230 status)" \
    -n "fence_ipmilan -> vbmc4vsphere" "$(py_fil 6240 status)" \
    -n "fence_vmware" "$(fv node10 status)" \
    -n "ipmitool -> vmware-vbmc" "$(rs_ipmi 6230 status)" \
    -n "ipmitool -> vbmc4vsphere" "$(py_ipmi 6240 status)"

log "off of node10 (on before each run; its power task ends at once)"
ON="curl -s -X POST http://$CONTROL/vm/power?moref=$(moref node10)&state=poweredOn"
"${HF[@]}" --prepare "$ON" --export-json "$RESULTS/off.json" --export-markdown "$RESULTS/off.md" \
    -n "fence_ipmilan -> vmware-vbmc" "$(rs_fil 6230 off)" \
    -n "fence_ipmilan -> vbmc4vsphere" "$(py_fil 6240 off)" \
    -n "fence_vmware" "$(fv node10 off)" \
    -n "ipmitool -> vmware-vbmc" "$(rs_ipmi 6230 off)" \
    -n "ipmitool -> vbmc4vsphere" "$(py_ipmi 6240 off)"
set_power node10 poweredOn

# ------------------------------------------------------------ verified?
log "off of slow ($SLOW s power tasks): the VM's state when success is reported"
RUNS=5
SUMMARY=$W/slow.tsv
: >"$SUMMARY"
slow_case() { # LABEL COMMAND...
    local label=$1 i start end rc state ms
    shift
    for i in $(seq "$RUNS"); do
        wait_power slow poweredOff 2>/dev/null || true
        set_power slow poweredOn
        wait_power slow poweredOn
        start=$(date +%s%N)
        "$@" >"$W/out" 2>"$W/err" && rc=0 || rc=$?
        end=$(date +%s%N)
        state=$(power slow)
        ms=$(( (end - start) / 1000000 ))
        printf '%s\t%s\t%s\t%s\t%s\n' "$label" "$rc" "$state" "$ms" "$(what_it_said)" >>"$SUMMARY"
    done
}
# shellcheck disable=SC2046
slow_case "ipmitool power off -> vmware-vbmc" $(rs_ipmi 6231 off)
# shellcheck disable=SC2046
slow_case "ipmitool power off -> vbmc4vsphere" $(py_ipmi 6241 off)
# shellcheck disable=SC2046
slow_case "fence_ipmilan off -> vmware-vbmc" $(rs_fil 6231 off)
# shellcheck disable=SC2046
slow_case "fence_ipmilan off -> vbmc4vsphere" $(py_fil 6241 off)
# shellcheck disable=SC2046
slow_case "fence_vmware off" $(fv slow off)
wait_power slow poweredOff || true

# ------------------------------------------------------------ a lost host
log "dc1only: its host disconnected, its last state poweredOff"
DC1=$(moref dc1only)
HOST=$(vm_json dc1only | jq -r '.[0].host')
set_power dc1only poweredOff
curl -s -X POST "http://$CONTROL/host/connection?moref=$HOST&state=disconnected" >/dev/null
curl -s -X POST "http://$CONTROL/vm/connection?moref=$DC1&state=disconnected" >/dev/null
STALE=$W/stale.tsv
: >"$STALE"
stale_case() { # LABEL COMMAND...
    local label=$1 rc
    shift
    "$@" >"$W/out" 2>"$W/err" && rc=0 || rc=$?
    printf '%s\t%s\t%s\n' "$label" "$rc" "$(what_it_said)" >>"$STALE"
}
# shellcheck disable=SC2046
{
    stale_case "fence_ipmilan status -> vmware-vbmc" $(rs_fil 6232 status)
    stale_case "fence_ipmilan status -> vbmc4vsphere" $(py_fil 6242 status)
    stale_case "fence_vmware status" $(fv dc1only status)
    stale_case "fence_ipmilan off -> vmware-vbmc" $(rs_fil 6232 off)
    stale_case "fence_ipmilan off -> vbmc4vsphere" $(py_fil 6242 off)
    stale_case "fence_vmware off" $(fv dc1only off)
}

# ------------------------------------------------------------ logins
log "vCenter logins for 10 ipmitool status commands"
before=$(logins)
for _ in $(seq 10); do rs_ipmitool 6230 chassis power status >/dev/null; done
RS_LOGINS=$(($(logins) - before))
before=$(logins)
for _ in $(seq 10); do py_ipmitool 6240 chassis power status >/dev/null; done
PY_LOGINS=$(($(logins) - before))

# ------------------------------------------------------------ summary
mean_ms() { jq -r --arg n "$2" '.results[] | select(.command == $n) | "\(.mean * 1000 | . * 10 | round / 10) ± \(.stddev * 1000 | . * 10 | round / 10)"' "$RESULTS/$1.json"; }
{
    echo "# vmware-vbmc, vbmc4vsphere, fence_vmware (bench/vbmc/run.sh)"
    echo
    echo "Machine: $(grep -m1 'model name' /proc/cpuinfo | cut -d: -f2 | sed 's/^ //'), nproc $(nproc)."
    echo "Commit $(git -C "$root" rev-parse --short HEAD 2>/dev/null || echo '?'); vbmc4vsphere $(grep '^vbmc4vsphere==' "$here/requirements.txt" | cut -d= -f3), pyvmomi $(grep '^pyvmomi==' "$here/requirements.txt" | cut -d= -f3); fence-agents $(dpkg-query -W -f='${Version}' fence-agents 2>/dev/null); ipmitool $(dpkg-query -W -f='${Version}' ipmitool 2>/dev/null)."
    echo
    echo "## Mean wall time (ms)"
    echo
    echo "| way | status of node10 | off of node10 |"
    echo "|---|---:|---:|"
    for n in "fence_ipmilan -> vmware-vbmc" "fence_ipmilan -> vbmc4vsphere" "fence_vmware" \
        "ipmitool -> vmware-vbmc" "ipmitool -> vbmc4vsphere"; do
        echo "| $n | $(mean_ms status "$n") | $(mean_ms off "$n") |"
    done
    echo
    echo "## Off of the VM \"slow\" ($SLOW s power tasks), $RUNS runs each"
    echo
    echo "| way | exit codes | state read at once after the tool returned | mean ms | what it said |"
    echo "|---|---|---|---:|---|"
    awk -F'\t' '{ k = $1; if (!(k in n)) order[++m] = k; n[k]++; rc[k] = rc[k] (rc[k] == "" ? "" : ",") $2;
                  st[k, $3]++; ms[k] += $4; line[k] = $5 }
        END { for (i = 1; i <= m; i++) { k = order[i]; s = "";
                  for (key in st) { split(key, p, SUBSEP); if (p[1] == k) s = s (s == "" ? "" : ", ") p[2] " ×" st[key] }
                  printf "| %s | %s | %s | %d | `%s` |\n", k, rc[k], s, ms[k] / n[k], line[k] } }' "$SUMMARY"
    echo
    echo "## A VM whose host vCenter lost (its last state poweredOff)"
    echo
    echo "| way | exit code | what it said |"
    echo "|---|---:|---|"
    awk -F'\t' '{ printf "| %s | %s | `%s` |\n", $1, $2, $3 }' "$STALE"
    echo
    echo "## vCenter logins for 10 ipmitool status commands"
    echo
    echo "| BMC | logins |"
    echo "|---|---:|"
    echo "| vmware-vbmc | $RS_LOGINS |"
    echo "| vbmc4vsphere | $PY_LOGINS |"
} >"$RESULTS/summary.md"
cat "$RESULTS/summary.md"
