#!/bin/bash
# validate.sh - `stonith_admin --validate` against $AGENT.  No fencer needed:
# stonith_admin execs the agent itself with action=validate-all on stdin plus
# the -o options (pcmk_* ones filtered out) and a dummy target
# (nodename=node1, port=node1).
#
# Needs: AGENT, AGENT_ARGS_GOOD, POWER_STATE_CMD (root only to exec root-only agents).
. "$(dirname "$0")/lib.sh"

need_agent
need_env AGENT_ARGS_GOOD POWER_STATE_CMD
need_cmd stonith_admin xmllint
cts_load_args

fencer_running && note "a fencer is running; --validate does not use it anyway"
before=$(power_state)

check_output_contains "validate good options" "Validation of $AGENT succeeded" \
    stonith_admin --validate --agent "$AGENT" "${SA_GOOD[@]}"
# (Pacemaker 2.1.5 still prints the text result with --quiet; only the status counts)
check "validate --quiet exits 0" stonith_admin --validate --agent "$AGENT" "${SA_GOOD[@]}" --quiet
check_output_contains "validate --output-as=xml says valid=\"true\"" 'valid="true"' \
    stonith_admin --validate --agent "$AGENT" "${SA_GOOD[@]}" --output-as=xml
check "validate with pcmk_host_map (filtered by Pacemaker)" \
    stonith_admin --validate --agent "$AGENT" "${SA_GOOD[@]}" -o "pcmk_host_map=${TARGET_NODE:-n2}:${TARGET_PLUG:-p2}"
check "validate ignores an unknown option (FenceAgentAPI: ignore unknown)" \
    stonith_admin --validate --agent "$AGENT" "${SA_GOOD[@]}" -o cts_unknown_option=1
# like stonith_admin does (it always adds a target; fence-agents' validate-all wants a plug)
run_stdin "$(stdin_lines action=validate-all "${ARGS_GOOD[@]}" "nodename=${TARGET_NODE:-node1}" "port=${TARGET_PLUG:-node1}")" "/usr/sbin/$AGENT"
[ "$CTS_RC" -eq 0 ] && pass "agent itself: action=validate-all on stdin" \
    || fail "agent itself: action=validate-all on stdin" "exit $CTS_RC"

# Drop each required, non-deprecated option we were given: validation must fail.
agent_metadata "$CTS_TMP/meta.xml"
required=$(meta_params "$CTS_TMP/meta.xml" "@required='1' and not(@deprecated='1')" |
    grep -vx -e action -e plug -e port)
n=0
for kv in "${ARGS_GOOD[@]}"; do
    key=${kv%%=*}
    grep -qx -- "$key" <<<"$required" || continue
    n=$((n + 1)); opts=()
    for o in "${ARGS_GOOD[@]}"; do [ "$o" = "$kv" ] || opts+=(-o "$o"); done
    run stonith_admin --validate --agent "$AGENT" "${opts[@]}"
    if [ "$CTS_RC" -ne 0 ] && grep -qF "Validation of $AGENT failed" "$CTS_OUT"; then
        pass "validate without required '$key' fails (exit $CTS_RC)"
    else
        fail "validate without required '$key' fails" "exit $CTS_RC"
    fi
done
[ "$n" -gt 0 ] || skip "validate without a required option" "no required option among AGENT_ARGS_GOOD"

check_fails "validate of a missing agent fails" stonith_admin --validate --agent fence_cts_no_such_agent
check_eq "validation did not change the device's power state" "$before" "$(power_state)"
finish
