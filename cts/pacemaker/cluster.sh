#!/bin/bash
# cluster.sh - a real one-node Pacemaker cluster (corosync 3, knet on
# 127.0.0.1, no systemd) whose CIB also lists TARGET_NODE, a node that never
# joins.  With startup-fencing=true the cluster fences the unseen node on its
# own through a stonith resource of $AGENT (stonith-action=off), and the test
# checks the device really powered TARGET_PLUG off.  Then it drives
# unfence/reboot through the cluster's fencer.  Everything is stopped by PID.
#
# Needs: root, AGENT, AGENT_ARGS_GOOD, TARGET_NODE, TARGET_PLUG, POWER_STATE_CMD.
# Optional: LOCAL_NODE (uname -n), CTS_COROSYNC_PORT (5405),
#   CTS_FENCE_WAIT (seconds to wait for the startup fencing, 120),
#   CTS_HOST_CHECK (pcmk_host_check of the device, e.g. dynamic-list; default
#   unset = Pacemaker's default, static-list via pcmk_host_map).
. "$(dirname "$0")/lib.sh"

need_root
need_agent
need_env AGENT_ARGS_GOOD TARGET_NODE TARGET_PLUG POWER_STATE_CMD
need_cmd corosync corosync-quorumtool pacemakerd cibadmin stonith_admin crm_mon crm_resource xmllint ss
[ "$TARGET_NODE" != "$LOCAL_NODE" ] || skip_all "TARGET_NODE must differ from the local node name $LOCAL_NODE"
id hacluster >/dev/null 2>&1 || skip_all "no hacluster user"
cts_load_args
FENCE_WAIT=${CTS_FENCE_WAIT:-120}

# The target must start powered on, or the test proves nothing.
run_stdin "$(stdin_lines "${ARGS_GOOD[@]}" "port=$TARGET_PLUG" "nodename=$TARGET_NODE" action=on)" "/usr/sbin/$AGENT"
[ "$CTS_RC" -eq 0 ] && pass "power $TARGET_PLUG on before the cluster starts" \
    || fail "power $TARGET_PLUG on before the cluster starts" "exit $CTS_RC"
check_power "device: $TARGET_PLUG is on" on

# --- CIB: properties, the never-joining node, the stonith resource
nv() { printf '          <nvpair id="%s" name="%s" value="%s"/>\n' "$1" "$2" "$(xml_escape "$3")"; }
{
    cat <<EOF
$(cibadmin --empty | head -n1)
  <configuration>
    <crm_config>
      <cluster_property_set id="cib-bootstrap-options">
EOF
    nv opt-stonith-enabled stonith-enabled true
    nv opt-startup-fencing startup-fencing true
    nv opt-stonith-action stonith-action off
    nv opt-stonith-timeout stonith-timeout 60s
    nv opt-dc-deadtime dc-deadtime 2s
    nv opt-no-quorum-policy no-quorum-policy ignore
    # lets the controller give up its shutdown quickly when fencing keeps failing
    nv opt-shutdown-escalation shutdown-escalation 20s
    cat <<EOF
      </cluster_property_set>
    </crm_config>
    <nodes>
      <node id="2" uname="$(xml_escape "$TARGET_NODE")" type="member"/>
    </nodes>
    <resources>
      <primitive id="cts_fence" class="stonith" type="$(xml_escape "$AGENT")">
        <instance_attributes id="cts_fence-ia">
EOF
    i=0
    for kv in "${ARGS_GOOD[@]}"; do i=$((i + 1)); nv "cts_fence-ia-$i" "${kv%%=*}" "${kv#*=}"; done
    nv cts_fence-ia-map pcmk_host_map "$TARGET_NODE:$TARGET_PLUG"
    [ -n "${CTS_HOST_CHECK:-}" ] && nv cts_fence-ia-check pcmk_host_check "$CTS_HOST_CHECK"
    cat <<EOF
        </instance_attributes>
        <operations>
          <op id="cts_fence-monitor-60s" name="monitor" interval="60s"/>
        </operations>
      </primitive>
    </resources>
    <constraints/>
  </configuration>
  <status/>
</cib>
EOF
} >"$CTS_TMP/cib.xml"
check "CIB is well-formed" xmllint --noout "$CTS_TMP/cib.xml"

# --- start
orig_cib=$(ls -A /var/lib/pacemaker/cib 2>/dev/null)
t0=$(date +%s)
if cluster_start "$CTS_TMP/cib.xml"; then
    pass "corosync (pid $CS_PID) and pacemakerd (pid $PCMKD_PID) up in $(( $(date +%s) - t0 )) s"
else
    CTS_OUT=$PCMK_LOG fail "start corosync + pacemakerd" "see $CLUSTER_DIR (set CTS_KEEP=1)"
    finish
fi
CS=$CS_PID PD=$PCMKD_PID

# --- the cluster fences the unseen node by itself
fenced_ok() { stonith_admin --history "$TARGET_NODE" 2>/dev/null | grep -qF "off of $TARGET_NODE successful"; }
startup_fenced=0
if wait_for "$FENCE_WAIT" fenced_ok; then
    startup_fenced=1
    pass "cluster fenced unseen $TARGET_NODE by itself, $(( $(date +%s) - CLUSTER_T0 )) s after pacemakerd start"
else
    CTS_OUT=$PCMK_LOG fail "cluster fenced unseen $TARGET_NODE within $FENCE_WAIT s"
fi
check_power "device: $TARGET_PLUG is off after startup fencing" off
check_output_contains "fence history (xml) records success" 'status="success"' \
    stonith_admin --history "$TARGET_NODE" --output-as=xml
check_last_output_contains "... of action off" 'action="off"'

stonith_started() { crm_resource --locate --resource cts_fence 2>/dev/null | grep -q "is running on"; }
if wait_for $([ "$startup_fenced" = 1 ] && echo 60 || echo 5) stonith_started; then pass "stonith resource cts_fence started (agent monitor ok)"
else run crm_mon -1; fail "stonith resource cts_fence started"; fi
check_output_lacks "crm_mon shows no UNCLEAN node" "UNCLEAN" crm_mon -1

# --- fencing requests through the cluster's fencer
if [ "$startup_fenced" = 0 ]; then
    skip "unfence/reboot through the cluster" "startup fencing already failed"
else
check "unfence $TARGET_NODE through the cluster" stonith_admin --unfence "$TARGET_NODE" -t 120
check_power "device: $TARGET_PLUG is on after unfence" on
check "reboot $TARGET_NODE through the cluster" stonith_admin --reboot "$TARGET_NODE" -t 180
check_power "device: $TARGET_PLUG is on after reboot" on
# (plain --history shows one "last" event; with several in the same second it
# may not be the newest, so look at all of them)
check_output_contains "history --verbose records the reboot" "reboot of $TARGET_NODE successful" \
    stonith_admin --history "$TARGET_NODE" --verbose
check_last_output_contains "history --verbose records the unfencing" "unfencing of $TARGET_NODE successful"
fi

# --- stop and check nothing is left
kids=$PCMK_CHILDREN
t1=$(date +%s)
cluster_stop
note "cluster stopped in $(( $(date +%s) - t1 )) s"
left=
for p in $CS $PD $kids; do alive "$p" && left="$left $p"; done
check_eq "no corosync/pacemaker process left" "" "$left"
cts_run_cleanups   # puts /var/lib/pacemaker back
shm=$(ls /dev/shm 2>/dev/null | grep -E "^qb-(.*-)?($(echo $CS $kids | tr ' ' '|'))-" || true)
check_eq "no /dev/shm/qb-* files of our daemons" "" "$shm"
check_eq "CIB directory restored" "$orig_cib" "$(ls -A /var/lib/pacemaker/cib)"
finish
