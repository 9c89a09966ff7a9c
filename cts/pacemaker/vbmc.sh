#!/bin/bash
# vbmc.sh - Pacemaker's fencer fences a VM through vmware-vbmc: the
# stand-alone pacemaker-fenced runs fence-agents' fence_ipmilan (lanplus,
# privlvl=operator) against the daemon, which fronts VMware's vSphere
# simulator on 127.0.0.1; after every fencing action the VM's power state is
# read from the simulator's control endpoint. Needs no package of ours: the
# daemon is the tree's build (VBMC=path to use another), fence_ipmilan is
# fence-agents'.
#
# Pacemaker's fencer is system-wide: the whole run holds
# /run/lock/fence-vmware-cts.lock (and lib.sh's lock on /var/lib/pacemaker).
# Ends with "N passed, N failed[, N skipped]".
if [ -z "${CTS_VBMC_LOCKED:-}" ] && [ "$(id -u)" = 0 ]; then
    export CTS_VBMC_LOCKED=1
    exec flock -w "${CTS_LOCK_WAIT:-600}" /run/lock/fence-vmware-cts.lock "$0" "$@"
fi
. "$(dirname "$0")/lib.sh"
ROOT=$(cd "$(dirname "$0")/../.." && pwd)
# shellcheck source=../peers.sh
. "$ROOT/cts/peers.sh"   # vc_state, peers_json

need_root
need_cmd stonith_admin curl python3 /usr/sbin/fence_ipmilan /usr/bin/ipmitool
[ -n "$PCMK_DAEMON_DIR" ] || skip_all "pacemaker-fenced not found"

NODE=cts-vbmc-node
PLUG=node10
IPMI_USER=fence
IPMI_PASSWORD=Cts-vbmc-pw-0123   # 16 bytes, the shortest the daemon accepts
VC_USER=fenceuser VC_PASS=cts-fence-pw

# ------------------------------------------------------------ the simulator
[ -x "$ROOT/target/cts/vcsim" ] || "$ROOT/cts/vcsim/build.sh" >/dev/null ||
    { CTS_OUT=/dev/null fail "build the vSphere simulator"; finish; }
"$ROOT/target/cts/vcsim" -listen 127.0.0.1:0 -control 127.0.0.1:0 -state-dir "$CTS_TMP/vcsim" \
    -user "$VC_USER" -pass "$VC_PASS" >"$CTS_TMP/vcsim.log" 2>&1 &
VCSIM_PID=$!
at_exit stop_pid "$VCSIM_PID" 10
wait_for 30 test -f "$CTS_TMP/vcsim/ready.json" ||
    { CTS_OUT=$CTS_TMP/vcsim.log fail "the vSphere simulator starts"; finish; }
VC_PORT=$(peers_json "$CTS_TMP/vcsim/ready.json" port)
VC_CONTROL=$(peers_json "$CTS_TMP/vcsim/ready.json" control)
export VC_CONTROL
pass "the vSphere simulator runs on 127.0.0.1:$VC_PORT"
sessions() { curl -s "http://$VC_CONTROL/sessions" | python3 -c 'import json,sys; v=json.load(sys.stdin); print(v["logins"], v["logouts"], v["active"])'; }
vm_moref() { curl -s -G "http://$VC_CONTROL/vm" --data-urlencode "name=$1" | python3 -c 'import json,sys; print(json.load(sys.stdin)[0]["moref"])'; }
power_calls() { curl -s "http://$VC_CONTROL/calls" | python3 -c 'import json,sys; v=json.load(sys.stdin); print(v.get("PowerOffVM_Task", 0) + v.get("PowerOnVM_Task", 0))'; }

# ------------------------------------------------------------ the daemon
VBMC=${VBMC:-$ROOT/target/debug/vmware-vbmc}
[ -x "$VBMC" ] || (cd "$ROOT" && cargo build -q -p vmware-vbmc) ||
    { CTS_OUT=/dev/null fail "build vmware-vbmc"; finish; }
free_udp_port() { python3 -c 'import socket; s=socket.socket(socket.AF_INET, socket.SOCK_DGRAM); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])'; }
PORT=$(free_udp_port)
DUP_PORT=$(free_udp_port)
CONF=$CTS_TMP/vmware-vbmc.toml
install -m 0600 /dev/null "$CONF"
cat >"$CONF" <<EOF
[vcenter]
ip = "127.0.0.1"
ipport = $VC_PORT
username = "$VC_USER"
password = "$VC_PASS"
cacert = "$CTS_TMP/vcsim/ca.pem"

[[vm]]
plug = "$PLUG"
listen_address = "127.0.0.1"
listen_port = $PORT
ipmi_username = "$IPMI_USER"
ipmi_password = "$IPMI_PASSWORD"
privilege_limit = "operator"

[[vm]]
plug = "dup"
listen_address = "127.0.0.1"
listen_port = $DUP_PORT
ipmi_username = "$IPMI_USER"
ipmi_password = "$IPMI_PASSWORD"
privilege_limit = "operator"
EOF
VBMC_LOG=$CTS_TMP/vmware-vbmc.log
"$VBMC" run "$CONF" </dev/null >/dev/null 2>"$VBMC_LOG" &
VBMC_PID=$!
at_exit stop_pid "$VBMC_PID" 15
if wait_for 30 grep -q "serving 2 virtual machine" "$VBMC_LOG"; then
    pass "vmware-vbmc serves $PLUG on 127.0.0.1:$PORT"
else
    CTS_OUT=$VBMC_LOG fail "vmware-vbmc serves $PLUG on 127.0.0.1:$PORT"
    finish
fi

# ------------------------------------------------------------ the fencer
fenced_start || { CTS_OUT=/dev/null fail "start pacemaker-fenced -s"; finish; }
pass "start pacemaker-fenced -s (pid $FENCED_PID)"
IPMI_ARGS=(-o ip=127.0.0.1 -o "ipport=$PORT" -o "username=$IPMI_USER" -o lanplus=1 -o privlvl=operator)
check "register fence_ipmilan device vbmc_dev for $NODE" \
    stonith_admin --register vbmc_dev --agent fence_ipmilan "${IPMI_ARGS[@]}" \
    -o "password=$IPMI_PASSWORD" -o "pcmk_host_list=$NODE"
check_output_contains "vbmc_dev can fence $NODE" "vbmc_dev" stonith_admin --list "$NODE"
check "monitor vbmc_dev (--query)" stonith_admin --query vbmc_dev -t 60

POWER_STATE_CMD="vc_state $PLUG"
check_power "device: $PLUG is on before fencing" on
check "fence $NODE (off)" stonith_admin --fence "$NODE" -t 120
check_eq "the simulator says $PLUG is off as soon as the fencer reports" off "$(vc_state "$PLUG")"
check "unfence $NODE (on)" stonith_admin --unfence "$NODE" -t 120
check_eq "the simulator says $PLUG is on" on "$(vc_state "$PLUG")"
check "reboot $NODE" stonith_admin --reboot "$NODE" -t 180
check_eq "the simulator says $PLUG is on after the reboot" on "$(vc_state "$PLUG")"
if grep -q "Operation 'reboot' \[[0-9]*\] targeting $NODE using vbmc_dev returned 0" "$FENCED_LOG"; then
    pass "fencer log: reboot via vbmc_dev returned 0"
else
    CTS_OUT=$FENCED_LOG fail "fencer log: reboot via vbmc_dev returned 0"
fi
check_output_contains "the daemon verified the off" "power down for user 'fence'" \
    grep "the VM is verified off" "$VBMC_LOG"

# A VM vCenter has lost (its host disconnected; its last state "off"):
# fencing fails, never succeeds on the stale state.
MOREF=$(vm_moref "$PLUG")
HOST=$(curl -s -G "http://$VC_CONTROL/vm" --data-urlencode "moref=$MOREF" | python3 -c 'import json,sys; print(json.load(sys.stdin)[0]["host"])')
curl -s -X POST "http://$VC_CONTROL/vm/power?moref=$MOREF&state=poweredOff" >/dev/null
curl -s -X POST "http://$VC_CONTROL/host/connection?moref=$HOST&state=disconnected" >/dev/null
curl -s -X POST "http://$VC_CONTROL/vm/connection?moref=$MOREF&state=disconnected" >/dev/null
before=$(power_calls)
check_fails "fencing $NODE fails while vCenter cannot vouch for $PLUG" stonith_admin --fence "$NODE" -t 60
check_eq "nothing was powered" "$before" "$(power_calls)"
check_output_contains "the daemon says why" "its connection state is disconnected" cat "$VBMC_LOG"
curl -s -X POST "http://$VC_CONTROL/vm/connection?moref=$MOREF&state=connected" >/dev/null
curl -s -X POST "http://$VC_CONTROL/host/connection?moref=$HOST&state=connected" >/dev/null
curl -s -X POST "http://$VC_CONTROL/vm/power?moref=$MOREF&state=poweredOn" >/dev/null

# A wrong IPMI password, and an endpoint whose plug names two VMs: both fail.
check "deregister vbmc_dev" stonith_admin --deregister vbmc_dev
check "register vbmc_bad (wrong IPMI password)" \
    stonith_admin --register vbmc_bad --agent fence_ipmilan "${IPMI_ARGS[@]}" \
    -o "password=Cts-wrong-pw-0123" -o "pcmk_host_list=$NODE"
check_fails "fence $NODE through vbmc_bad fails" stonith_admin --fence "$NODE" -t 60
check_power "device: $PLUG still on after the failed fence" on
check "deregister vbmc_bad" stonith_admin --deregister vbmc_bad
check "register vbmc_dup (plug dup names two VMs)" \
    stonith_admin --register vbmc_dup --agent fence_ipmilan -o ip=127.0.0.1 -o "ipport=$DUP_PORT" \
    -o "username=$IPMI_USER" -o lanplus=1 -o privlvl=operator -o "password=$IPMI_PASSWORD" \
    -o "pcmk_host_list=cts-vbmc-dup"
check_fails "fence cts-vbmc-dup through vbmc_dup fails" stonith_admin --fence cts-vbmc-dup -t 60
check_eq "no VM was powered for dup" "$before" "$(power_calls)"
check "deregister vbmc_dup" stonith_admin --deregister vbmc_dup

# One vCenter login for everything the fencer did; a logout on SIGTERM.
check_eq "one vCenter login, still open" "1 0 1" "$(sessions)"
fenced_stop
stop_pid "$VBMC_PID" 15
check_eq "vmware-vbmc logged out on SIGTERM" "1 1 0" "$(sessions)"
finish
