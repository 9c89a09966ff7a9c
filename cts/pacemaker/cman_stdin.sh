#!/bin/bash
# cman_stdin.sh - feed $AGENT stdin the way the legacy cman `fenced` did.
# libfence (cluster 3.x agent.c make_args) writes one key=value a line:
#   1. the attributes of the node's <device> element except name=
#      (typically port=..., and action=... only if configured there),
#   2. nodename=<victim> (unless step 1 had one),
#   3. the attributes of the <fencedevice> element except name=
#      (agent=..., ipaddr=..., login=..., passwd=...).
# No action= line at all means the agent's default (reboot).  The example in
# fence-agents doc/FenceAgentAPI.md shows the same keys in another order and
# with name=<device>; both variants are tested.  '#' lines are ignored, the
# last value of a repeated key wins, unknown keys are ignored.  cman is not
# in Debian 12, so the agent is executed directly.
#
# Needs: AGENT, AGENT_ARGS_GOOD, TARGET_NODE, TARGET_PLUG, POWER_STATE_CMD.
# Optional: AGENT_ARGS_LEGACY (default: AGENT_ARGS_GOOD renamed to the deprecated
# names the metadata lists via obsoletes=, e.g. ip->ipaddr, username->login).
. "$(dirname "$0")/lib.sh"

need_agent
need_env AGENT_ARGS_GOOD TARGET_NODE TARGET_PLUG POWER_STATE_CMD
need_cmd xmllint
cts_load_args
A=/usr/sbin/$AGENT

agent_metadata "$CTS_TMP/meta.xml"
if [ -n "${AGENT_ARGS_LEGACY+set}" ]; then
    read -r -a LEGACY <<<"$AGENT_ARGS_LEGACY"
else
    LEGACY=()
    for kv in "${ARGS_GOOD[@]}"; do
        old=$(meta_attr "$CTS_TMP/meta.xml" "${kv%%=*}" obsoletes)
        LEGACY+=("${old:-${kv%%=*}}=${kv#*=}")
    done
fi
note "legacy device options: ${LEGACY[*]//passw*=*/passw...=***}"

# cman_input ACTION [EXTRA_LINE]: libfence order; ACTION "" = no action= line
cman_input() {
    stdin_lines "port=$TARGET_PLUG"
    [ -n "$1" ] && stdin_lines "action=$1"
    stdin_lines "nodename=$TARGET_NODE" "agent=$AGENT" "${LEGACY[@]}"
    [ -n "${2:-}" ] && printf '%s\n' "$2"
}
# doc_input ACTION: the FenceAgentAPI.md example's order, with name=
doc_input() {
    stdin_lines "agent=$AGENT" "name=cts_dev" "${LEGACY[@]}" \
        "port=$TARGET_PLUG" "action=$1" "nodename=$TARGET_NODE"
}
agent_rc() { # NAME EXPECTED_RC INPUT [run_stdin_nonl]
    ${4:-run_stdin} "$3" "$A"
    [ "$CTS_RC" -eq "$2" ] && pass "$1" || fail "$1" "exit $CTS_RC, expected $2"
}

agent_rc "cman-style on" 0 "$(cman_input on)"
check_power "device: $TARGET_PLUG on" on
agent_rc "cman-style status of a powered-on plug exits 0" 0 "$(cman_input status)"
agent_rc "cman-style off" 0 "$(cman_input off)"
check_power "device: $TARGET_PLUG off" off
agent_rc "cman-style status of a powered-off plug exits 2" 2 "$(cman_input status)"
agent_rc "cman-style monitor exits 0" 0 "$(cman_input monitor)"
agent_rc "cman-style list exits 0" 0 "$(cman_input list)"
grep -qF -- "$TARGET_PLUG" "$CTS_OUT" && pass "list shows $TARGET_PLUG" || fail "list shows $TARGET_PLUG"
agent_rc "cman-style reboot" 0 "$(cman_input reboot)"
check_power "device: $TARGET_PLUG on after reboot" on
agent_rc "FenceAgentAPI.md-style input (with name=): off" 0 "$(doc_input off)"
check_power "device: $TARGET_PLUG off (doc-style input)" off
agent_rc "no action= line: agent default (reboot) from off" 0 "$(cman_input '')"
check_power "device: $TARGET_PLUG on after default action" on

agent_rc "'#' comment lines and unknown keys are ignored" 0 \
    "$(printf '# written by cman fenced\n'; cman_input off 'cts_unknown_key=1')"
check_power "device: $TARGET_PLUG off after commented input" off
agent_rc "last of repeated action= wins (off, then on)" 0 "$(cman_input off 'action=on')"
check_power "device: $TARGET_PLUG on (last action= won)" on
agent_rc "no trailing newline on the last line" 0 "$(cman_input off)" run_stdin_nonl
check_power "device: $TARGET_PLUG off" off
# FenceAgentAPI: nodename= is always sent; port= wins when both are given.
run_stdin "$(stdin_lines "${LEGACY[@]}" action=status "nodename=$TARGET_PLUG")" "$A"
note "status with nodename=$TARGET_PLUG and no port= exits $CTS_RC (informational)"
agent_rc "cman-style on (restore)" 0 "$(cman_input on)"
check_power "device: $TARGET_PLUG on again" on

if [ ${#ARGS_BAD[@]} -gt 0 ]; then
    BAD=()
    for kv in "${ARGS_BAD[@]}"; do
        old=$(meta_attr "$CTS_TMP/meta.xml" "${kv%%=*}" obsoletes); BAD+=("${old:-${kv%%=*}}=${kv#*=}")
    done
    run_stdin "$(stdin_lines "port=$TARGET_PLUG" action=off "nodename=$TARGET_NODE" "agent=$AGENT" "${BAD[@]}")" "$A"
    [ "$CTS_RC" -eq 1 ] && pass "off with bad options exits 1" || fail "off with bad options exits 1" "exit $CTS_RC"
    check_power "device: $TARGET_PLUG still on" on
else
    skip "bad options" "no AGENT_ARGS_BAD and no password in AGENT_ARGS_GOOD"
fi
finish
