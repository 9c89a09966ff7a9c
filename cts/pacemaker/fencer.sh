#!/bin/bash
# fencer.sh - drive $AGENT through Pacemaker's fencer (pacemaker-fenced -s,
# stand-alone: no corosync, no CIB) with stonith_admin, and check with
# POWER_STATE_CMD that the device really changed.
#
# Needs: root, AGENT, AGENT_ARGS_GOOD, TARGET_NODE, TARGET_PLUG, POWER_STATE_CMD.
# Optional: AGENT_ARGS_BAD (see lib.sh).
. "$(dirname "$0")/lib.sh"

need_root
need_agent
need_env AGENT_ARGS_GOOD TARGET_NODE TARGET_PLUG POWER_STATE_CMD
need_cmd stonith_admin xmllint
[ -n "$PCMK_DAEMON_DIR" ] || skip_all "pacemaker-fenced not found"
cts_load_args
MAP="pcmk_host_map=$TARGET_NODE:$TARGET_PLUG"

# --- no daemon needed for these two
if fencer_running; then
    skip "fencer-less queries" "a fencer is already running here"
else
    check_output_contains "list-installed without a fencer shows $AGENT" "$AGENT" \
        stonith_admin --list-installed
    grep -qx -- "$AGENT" "$CTS_OUT" || fail "list-installed has a line exactly '$AGENT'"
fi
run stonith_admin --metadata --agent "$AGENT"
if [ "$CTS_RC" -eq 0 ] && xmllint --noout "$CTS_OUT" 2>/dev/null; then
    pass "stonith_admin --metadata gives well-formed XML"
    check_eq "metadata names the agent" "$AGENT" \
        "$(xmllint --xpath 'string(/resource-agent/@name)' "$CTS_OUT" 2>/dev/null)"
else
    fail "stonith_admin --metadata gives well-formed XML" "exit $CTS_RC"
fi
RNG=/usr/share/cluster/relaxng/metadata.rng   # from fence-agents
if [ -f "$RNG" ]; then
    agent_metadata "$CTS_TMP/meta.xml"
    check "agent metadata validates against fence-agents metadata.rng" \
        xmllint --noout --relaxng "$RNG" "$CTS_TMP/meta.xml"
else
    skip "agent metadata validates against fence-agents metadata.rng" "$RNG missing"
fi

# --- stand-alone fencer
fenced_start || { CTS_OUT=/dev/null fail "start pacemaker-fenced -s"; finish; }
pass "start pacemaker-fenced -s (pid $FENCED_PID)"

check "register device cts_dev" \
    stonith_admin --register cts_dev --agent "$AGENT" "${SA_GOOD[@]}" -o "$MAP"
check_output_contains "cts_dev is registered" "cts_dev" stonith_admin --list-registered
check_output_contains "cts_dev can fence $TARGET_NODE" "cts_dev" stonith_admin --list "$TARGET_NODE"
check "monitor cts_dev (--query)" stonith_admin --query cts_dev -t 60

check "unfence $TARGET_NODE (agent action 'on')" stonith_admin --unfence "$TARGET_NODE" -t 120
check_power "device: $TARGET_PLUG is on after --unfence" on
check "fence $TARGET_NODE (agent action 'off')" stonith_admin --fence "$TARGET_NODE" -t 120
check_power "device: $TARGET_PLUG is off after --fence" off
check "unfence $TARGET_NODE again" stonith_admin --unfence "$TARGET_NODE" -t 120
check_power "device: $TARGET_PLUG is on again" on
check "reboot $TARGET_NODE" stonith_admin --reboot "$TARGET_NODE" -t 180
check_power "device: $TARGET_PLUG is on after --reboot" on
if grep -q "Operation 'reboot' \[[0-9]*\] targeting $TARGET_NODE using cts_dev returned 0" "$FENCED_LOG"; then
    pass "fencer log: reboot via cts_dev returned 0"
else
    CTS_OUT=$FENCED_LOG fail "fencer log: reboot via cts_dev returned 0"
fi

# --- dynamic-list: the fencer runs 'list' and parses names.  Pacemaker keeps
# only [A-Za-z0-9_.-] of each name (stops at the first other character),
# splits on whitespace , ; and ignores lines containing "invalid"/"variable".
case "$TARGET_PLUG" in
    *[!A-Za-z0-9_.-]*)
        skip "dynamic-list" "TARGET_PLUG '$TARGET_PLUG' has characters Pacemaker drops from list output" ;;
    *)
        check "register device cts_dyn (pcmk_host_check=dynamic-list)" \
            stonith_admin --register cts_dyn --agent "$AGENT" "${SA_GOOD[@]}" -o "$MAP" \
            -o pcmk_host_check=dynamic-list
        run stonith_admin --list-targets cts_dyn -t 120
        if [ "$CTS_RC" -eq 0 ] && grep -qixF -- "$TARGET_PLUG" "$CTS_OUT"; then
            pass "list output of cts_dyn, as parsed by Pacemaker, has $TARGET_PLUG"
        else
            fail "list output of cts_dyn, as parsed by Pacemaker, has $TARGET_PLUG" "exit $CTS_RC"
        fi
        check_output_contains "cts_dyn can fence $TARGET_NODE (via list)" "cts_dyn" \
            stonith_admin --list "$TARGET_NODE" -t 120
        check "deregister cts_dyn" stonith_admin --deregister cts_dyn ;;
esac

# --- a device with bad options must fail and leave the target alone
if [ ${#ARGS_BAD[@]} -eq 0 ]; then
    skip "bad options" "no AGENT_ARGS_BAD and no password in AGENT_ARGS_GOOD"
else
    check "deregister cts_dev" stonith_admin --deregister cts_dev
    check "register device cts_bad (bad options)" \
        stonith_admin --register cts_bad --agent "$AGENT" "${SA_BAD[@]}" -o "$MAP"
    check_fails "monitor cts_bad fails" stonith_admin --query cts_bad -t 60
    check_fails "fence $TARGET_NODE through cts_bad fails" stonith_admin --fence "$TARGET_NODE" -t 60
    check_power "device: $TARGET_PLUG still on after failed fence" on
    check "deregister cts_bad" stonith_admin --deregister cts_bad
fi

pid=$FENCED_PID
fenced_stop
if kill -0 "$pid" 2>/dev/null; then fail "pacemaker-fenced stopped"; else pass "pacemaker-fenced stopped"; fi
finish
