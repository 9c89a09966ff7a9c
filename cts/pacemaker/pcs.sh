#!/bin/bash
# pcs.sh - pcs's view of $AGENT's metadata, offline: `pcs -f FILE stonith create`
# on a CIB from `cibadmin --empty`, and `pcs stonith describe` (no cluster needed;
# pcs reads metadata through crm_resource --show-metadata stonith:AGENT).
#
# Needs: AGENT, AGENT_ARGS_GOOD, TARGET_NODE, TARGET_PLUG.
# Optional: AGENT_ARGS_DEPRECATED (default: derived from the metadata, each good
# option renamed to the deprecated parameter it obsoletes, e.g. ip= -> ipaddr=).
. "$(dirname "$0")/lib.sh"

need_agent
need_env AGENT_ARGS_GOOD TARGET_NODE TARGET_PLUG
need_cmd pcs cibadmin xmllint
cts_load_args
MAP="pcmk_host_map=$TARGET_NODE:$TARGET_PLUG"
CIB=$CTS_TMP/cib.xml
export CIB_file=$CIB   # belt and braces: nothing below may reach a live CIB

note "$(pcs --version 2>&1 | sed 's/^/pcs /')"
check_output_contains "pcs stonith describe $AGENT" "$AGENT - " pcs stonith describe "$AGENT"
check_output_contains "pcs stonith describe $AGENT --full" "$AGENT - " pcs stonith describe "$AGENT" --full

cibadmin --empty >"$CIB" || { fail "cibadmin --empty"; finish; }

check "create with good options" pcs -f "$CIB" stonith create cts_good "$AGENT" "${ARGS_GOOD[@]}" "$MAP"
grep -qE '^(Warning|Error)' "$CTS_OUT" && fail "create with good options prints no warning"
check_output_contains "the device is in the CIB file" "type=$AGENT" pcs -f "$CIB" stonith config cts_good
check "create with --agent-validation (runs validate-all)" \
    pcs -f "$CIB" stonith create cts_val "$AGENT" "${ARGS_GOOD[@]}" "$MAP" --agent-validation
grep -qF "Validation result from agent" "$CTS_OUT" && fail "--agent-validation: agent reports no problem"

# --- deprecated parameters
agent_metadata "$CTS_TMP/meta.xml"
if [ -n "${AGENT_ARGS_DEPRECATED+set}" ]; then
    read -r -a DEP <<<"$AGENT_ARGS_DEPRECATED"
else
    DEP=()
    for kv in "${ARGS_GOOD[@]}"; do
        k=${kv%%=*} old=$(meta_attr "$CTS_TMP/meta.xml" "${kv%%=*}" obsoletes)
        if [ -n "$old" ] && [ "$(meta_attr "$CTS_TMP/meta.xml" "$old" deprecated)" = 1 ]; then
            DEP+=("$old=${kv#*=}")
        else
            DEP+=("$kv")
        fi
    done
fi
if [ "${DEP[*]}" = "${ARGS_GOOD[*]}" ]; then
    skip "deprecated options" "none of AGENT_ARGS_GOOD has a deprecated alias in the metadata"
else
    check "create with deprecated option names succeeds" \
        pcs -f "$CIB" stonith create cts_dep "$AGENT" "${DEP[@]}" "$MAP"
    for kv in "${DEP[@]}"; do
        k=${kv%%=*}
        [ "$(meta_attr "$CTS_TMP/meta.xml" "$k" deprecated)" = 1 ] || continue
        new=$(meta_params "$CTS_TMP/meta.xml" "@obsoletes='$k'" | head -n1)
        check_last_output_contains "pcs warns that '$k' is deprecated" \
            "Warning: stonith option '$k' is deprecated and should not be used, use '$new' instead"
    done
fi

# --- unknown parameter: error, --force turns it into a warning
check_rc "create with an unknown option is rejected (exit 1)" 1 \
    pcs -f "$CIB" stonith create cts_unknown "$AGENT" "${ARGS_GOOD[@]}" "$MAP" cts_bogus_option=1
check_last_output_contains "rejection names the option" "Error: invalid stonith option 'cts_bogus_option'"
check_last_output_contains "rejection offers --force" "use --force to override"
check "create with an unknown option and --force" \
    pcs -f "$CIB" stonith create cts_unknown "$AGENT" "${ARGS_GOOD[@]}" "$MAP" cts_bogus_option=1 --force
check_last_output_contains "--force leaves a warning" "Warning: invalid stonith option 'cts_bogus_option'"

# --- missing required parameter
required=$(meta_params "$CTS_TMP/meta.xml" "@required='1' and not(@deprecated='1')" |
    grep -vx -e action -e plug -e port)
key=
for kv in "${ARGS_GOOD[@]}"; do grep -qx -- "${kv%%=*}" <<<"$required" && { key=${kv%%=*}; break; }; done
if [ -z "$key" ]; then
    skip "missing required option" "no required option among AGENT_ARGS_GOOD"
else
    opts=(); for kv in "${ARGS_GOOD[@]}"; do [ "${kv%%=*}" = "$key" ] || opts+=("$kv"); done
    check_rc "create without required '$key' is rejected (exit 1)" 1 \
        pcs -f "$CIB" stonith create cts_noreq "$AGENT" "${opts[@]}" "$MAP"
    check_last_output_contains "rejection says '$key' has to be specified" "'$key'"
fi

check_rc "pcs rejects action= for stonith (exit 1)" 1 \
    pcs -f "$CIB" stonith create cts_action "$AGENT" "${ARGS_GOOD[@]}" "$MAP" action=off
check_last_output_contains "... and points to pcmk_off_action" "pcmk_off_action"
finish
