# lib.sh - helpers for the Pacemaker-level tests of our fence agents.
# Source it from bash:  . "$(dirname "$0")/lib.sh"
#
# Environment read here (NOTES.md, "Script interface", says how the suites use it):
#   AGENT             agent name, e.g. fence_vmware (must be in /usr/sbin)
#   AGENT_ARGS_GOOD   space-separated key=value device options (no spaces in values)
#   AGENT_ARGS_BAD    options that must make real actions fail (default: GOOD with
#                     password/passwd replaced by a wrong one; empty = skip those tests)
#   TARGET_NODE       cluster node name that maps to TARGET_PLUG (pcmk_host_map)
#   TARGET_PLUG       plug / VM name on the device
#   POWER_STATE_CMD   shell command printing the target's real power state: on|off
#   CTS_KEEP=1        keep the temp dir (logs) after the run
#   CTS_VERBOSE=1     print every command's output, not only on failure
#   CTS_POWER_WAIT    seconds to wait for POWER_STATE_CMD to reach a state (10)
#   CTS_COROSYNC_PORT knet UDP port for cluster.sh (5405)
#   LOCAL_NODE        name of the local cluster node (uname -n)

. "$(dirname "${BASH_SOURCE[0]}")/../harness.sh"
CTS_N=0 CTS_RC=0

# run CMD...: run with stdin from /dev/null, output (stdout+stderr) in $CTS_OUT,
# exit status in $CTS_RC.  run_stdin TEXT CMD... feeds TEXT plus a newline on
# stdin; run_stdin_nonl feeds TEXT without the final newline.
run() {
    CTS_N=$((CTS_N + 1)); CTS_OUT=$CTS_TMP/out.$CTS_N
    { printf '$'; printf ' %q' "$@"; echo; } >"$CTS_TMP/cmd.$CTS_N"
    "$@" </dev/null >"$CTS_OUT" 2>&1; CTS_RC=$?
    [ "${CTS_VERBOSE:-0}" = 1 ] && { cat "$CTS_TMP/cmd.$CTS_N"; sed 's/^/    > /' "$CTS_OUT"; echo "    rc=$CTS_RC"; }
    return 0
}
run_stdin() { CTS_NL='\n' cts_run_stdin "$@"; }
run_stdin_nonl() { CTS_NL= cts_run_stdin "$@"; }
cts_run_stdin() {
    local input=$1; shift
    CTS_N=$((CTS_N + 1)); CTS_OUT=$CTS_TMP/out.$CTS_N
    printf "%s$CTS_NL" "$input" | "$@" >"$CTS_OUT" 2>&1; CTS_RC=$?
    [ "${CTS_VERBOSE:-0}" = 1 ] && { printf '$ %s <<<%q\n' "$*" "$input"; sed 's/^/    > /' "$CTS_OUT"; echo "    rc=$CTS_RC"; }
    return 0
}

# check NAME CMD...              pass if CMD exits 0
# check_fails NAME CMD...        pass if CMD exits non-zero
# check_rc NAME RC CMD...        pass if CMD exits RC
# check_output_contains NAME NEEDLE CMD...   pass if CMD exits 0 and its output
#                                            contains NEEDLE (fixed string)
# check_output_lacks NAME NEEDLE CMD...      pass if output lacks NEEDLE (any rc)
# check_last_output_contains NAME NEEDLE     look at the previous command's output
# check_eq NAME EXPECTED ACTUAL
check()       { local n=$1; shift; run "$@"; [ "$CTS_RC" -eq 0 ] && pass "$n" || fail "$n" "exit $CTS_RC"; }
check_fails() { local n=$1; shift; run "$@"; [ "$CTS_RC" -ne 0 ] && pass "$n" || fail "$n" "exit 0, expected failure"; }
check_rc()    { local n=$1 e=$2; shift 2; run "$@"; [ "$CTS_RC" -eq "$e" ] && pass "$n" || fail "$n" "exit $CTS_RC, expected $e"; }
check_output_contains() {
    local n=$1 s=$2; shift 2; run "$@"
    if [ "$CTS_RC" -ne 0 ]; then fail "$n" "exit $CTS_RC"
    elif grep -qF -- "$s" "$CTS_OUT"; then pass "$n"
    else fail "$n" "output lacks '$s'"; fi
}
check_output_lacks() {
    local n=$1 s=$2; shift 2; run "$@"
    grep -qF -- "$s" "$CTS_OUT" && fail "$n" "output contains '$s'" || pass "$n"
}
check_last_output_contains() {
    grep -qF -- "$2" "$CTS_OUT" && pass "$1" || fail "$1" "output lacks '$2'"
}
check_eq() { [ "$2" = "$3" ] && pass "$1" || CTS_OUT=/dev/null fail "$1" "expected '$2', got '$3'"; }

# ---------------------------------------------------------------- preconditions
# need_root / need_cmd / need_env: when unmet, every test of the script is
# skipped with the reason, the summary is printed and the script exits 0.
skip_all() {
    skip "$CTS_NAME" "$1"
    finish
}
need_root() { [ "$(id -u)" = 0 ] || skip_all "needs root: starts Pacemaker daemons and execs fence agents as root"; }
need_cmd() {
    local c
    for c; do command -v "$c" >/dev/null 2>&1 || [ -x "$c" ] || skip_all "missing command $c"; done
}
need_env() {
    local v
    for v; do [ -n "${!v:-}" ] || skip_all "environment variable $v is not set"; done
}
need_agent() {
    need_env AGENT
    [ -x "/usr/sbin/$AGENT" ] || skip_all "agent /usr/sbin/$AGENT is not installed"
}

# ---------------------------------------------------------------- agent helpers
# Arrays built from AGENT_ARGS_GOOD / AGENT_ARGS_BAD.
cts_load_args() {
    read -r -a ARGS_GOOD <<<"${AGENT_ARGS_GOOD:-}"
    if [ -n "${AGENT_ARGS_BAD+set}" ]; then
        read -r -a ARGS_BAD <<<"$AGENT_ARGS_BAD"
    else
        ARGS_BAD=(); local kv found=0
        for kv in "${ARGS_GOOD[@]}"; do
            case "$kv" in
                password=*|passwd=*) ARGS_BAD+=("${kv%%=*}=cts-wrong-password"); found=1 ;;
                *) ARGS_BAD+=("$kv") ;;
            esac
        done
        [ "$found" = 1 ] || ARGS_BAD=()
    fi
    SA_GOOD=(); SA_BAD=()
    for kv in "${ARGS_GOOD[@]}"; do SA_GOOD+=(-o "$kv"); done
    for kv in "${ARGS_BAD[@]}"; do SA_BAD+=(-o "$kv"); done
}
# lines KEY=VALUE... : print one per line (agent stdin format)
stdin_lines() { local kv; for kv; do printf '%s\n' "$kv"; done; }

PCMK_DAEMON_DIR=
for d in /usr/lib/pacemaker /usr/libexec/pacemaker; do
    [ -x "$d/pacemaker-fenced" ] && { PCMK_DAEMON_DIR=$d; break; }
done

# agent_metadata FILE: write the agent's own metadata to FILE
agent_metadata() { "/usr/sbin/$AGENT" -o metadata >"$1" 2>/dev/null </dev/null; }
# meta_params FILE XPATH-PREDICATE: names of <parameter> matching, one per line
meta_params() {
    xmllint --xpath "//parameters/parameter[$2]/@name" "$1" 2>/dev/null |
        sed 's/ name="\([^"]*\)"/\1\n/g' | sed '/^$/d'
}
meta_attr() { xmllint --xpath "string(//parameters/parameter[@name='$2']/@$3)" "$1" 2>/dev/null; }

# ---------------------------------------------------------------- power state
power_state() {
    eval "$POWER_STATE_CMD" 2>/dev/null | tr -d '[:space:]' | tr '[:upper:]' '[:lower:]'
}
# wait_power STATE: poll POWER_STATE_CMD for up to CTS_POWER_WAIT seconds
wait_power() {
    local i=0 max=$(( ${CTS_POWER_WAIT:-10} * 5 ))
    while [ "$(power_state)" != "$1" ]; do
        i=$((i + 1)); [ "$i" -ge "$max" ] && return 1; sleep 0.2
    done
}
check_power() { # NAME STATE
    if wait_power "$2"; then pass "$1"; else CTS_OUT=/dev/null; fail "$1" "device says '$(power_state)', expected '$2'"; fi
}

# wait_for SECONDS CMD...: retry CMD (quietly) every 0.5 s until it succeeds
wait_for() {
    local t=$1 i=0; shift
    until "$@" >/dev/null 2>&1 </dev/null; do
        i=$((i + 1)); [ "$i" -ge $((t * 2)) ] && return 1; sleep 0.5
    done
}
# wait_pid_exit PID SECONDS
wait_pid_exit() {
    local i=0
    while kill -0 "$1" 2>/dev/null; do
        i=$((i + 1)); [ "$i" -ge $(($2 * 5)) ] && return 1; sleep 0.2
    done
}
# stop_pid PID SECONDS: TERM, wait, then KILL; reaps it if it is our child
stop_pid() {
    [ -n "$1" ] || return 0
    kill -0 "$1" 2>/dev/null || { wait "$1" 2>/dev/null; return 0; }
    kill -TERM "$1" 2>/dev/null
    wait_pid_exit "$1" "$2" || { echo "# pid $1 ignored SIGTERM for $2 s, killing" >&2; kill -KILL "$1" 2>/dev/null; }
    wait "$1" 2>/dev/null
    return 0
}

# fencer_running: is any fencer (standalone or cluster) answering?
fencer_running() { stonith_admin --list-registered -t 2 >/dev/null 2>&1 </dev/null; }

# cts_lock: the fencer's IPC name (stonith-ng), /var/lib/pacemaker/cib and the
# knet port are host-wide, so fencer.sh and cluster.sh take a host-wide lock
# (flock on the /var/lib/pacemaker directory: nothing is created) for the run.
cts_lock() {
    [ -n "${CTS_LOCKED:-}" ] && return 0
    exec 9</var/lib/pacemaker || return 1
    flock -w "${CTS_LOCK_WAIT:-600}" 9 || { echo "# could not lock /var/lib/pacemaker within ${CTS_LOCK_WAIT:-600} s" >&2; return 1; }
    CTS_LOCKED=1
}

# ---------------------------------------------------------------- standalone fencer
FENCED_PID=
# fenced_start: run pacemaker-fenced -s (stand-alone, no CIB, no corosync) in the
# background, log to $CTS_TMP/fenced.log, stop it on exit.
fenced_start() {
    cts_lock || return 1
    if fencer_running; then
        echo "# a fencer is already running (cluster up?), not starting another" >&2
        return 1
    fi
    FENCED_LOG=$CTS_TMP/fenced.log
    PCMK_logfile=$FENCED_LOG PCMK_logfacility=none PCMK_debug=${CTS_PCMK_DEBUG:-no} \
        "$PCMK_DAEMON_DIR/pacemaker-fenced" -s </dev/null >"$CTS_TMP/fenced.out" 2>&1 &
    FENCED_PID=$!
    at_exit fenced_stop
    wait_for 15 fencer_running || { echo "# pacemaker-fenced did not come up" >&2; return 1; }
}
fenced_stop() {
    [ -n "$FENCED_PID" ] || return 0
    stop_pid "$FENCED_PID" 15
    FENCED_PID=
}

# ---------------------------------------------------------------- one-node cluster
# cluster_start CIB_XML_FILE: corosync (knet on 127.0.0.1) + pacemakerd.
# The CIB is installed as /var/lib/pacemaker/cib/cib.xml; whatever was in
# /var/lib/pacemaker/{cib,pengine,blackbox} is moved aside and put back on exit.
CS_PID= PCMKD_PID= PCMK_CHILDREN= CTS_RUN_CRM_EXISTED=1 CLUSTER_DIR=$CTS_TMP/cluster PCMK_LOG=/dev/null
CTS_COROSYNC_PORT=${CTS_COROSYNC_PORT:-5405}
LOCAL_NODE=${LOCAL_NODE:-$(uname -n)}
cluster_start() {
    local cib=$1 d
    cts_lock || return 1
    if pgrep -x corosync >/dev/null || pgrep -x pacemakerd >/dev/null || fencer_running; then
        echo "# corosync/pacemaker already running here, refusing to start a test cluster" >&2
        return 1
    fi
    if ss -Hlun 2>/dev/null | awk '{print $4}' | grep -q ":$CTS_COROSYNC_PORT\$"; then
        echo "# UDP port $CTS_COROSYNC_PORT busy (set CTS_COROSYNC_PORT)" >&2
        return 1
    fi
    CLUSTER_DIR=$CTS_TMP/cluster
    mkdir -p "$CLUSTER_DIR/corosync-state" "$CTS_TMP/backup"
    chmod 755 "$CLUSTER_DIR"
    cat >"$CLUSTER_DIR/corosync.conf" <<EOF
totem {
    version: 2
    cluster_name: cts$$
    transport: knet
    crypto_cipher: none
    crypto_hash: none
    token: 1000
    interface {
        linknumber: 0
        mcastport: $CTS_COROSYNC_PORT
    }
}
nodelist {
    node {
        ring0_addr: 127.0.0.1
        name: $LOCAL_NODE
        nodeid: 1
    }
}
quorum {
    provider: corosync_votequorum
}
logging {
    to_logfile: yes
    logfile: $CLUSTER_DIR/corosync.log
    to_syslog: no
    to_stderr: no
    timestamp: on
}
system {
    state_dir: $CLUSTER_DIR/corosync-state
}
EOF
    # Keep the host's pacemaker state aside; restore it on exit.
    for d in cib pengine blackbox; do
        mkdir -p "$CTS_TMP/backup/$d"
        if [ -d "/var/lib/pacemaker/$d" ]; then
            find "/var/lib/pacemaker/$d" -mindepth 1 -maxdepth 1 -exec mv -t "$CTS_TMP/backup/$d" {} +
        else
            install -d -o hacluster -g haclient -m 750 "/var/lib/pacemaker/$d"
        fi
    done
    at_exit cluster_restore_state
    [ -d /run/crm ] && CTS_RUN_CRM_EXISTED=1 || CTS_RUN_CRM_EXISTED=0
    install -o hacluster -g haclient -m 0600 "$cib" /var/lib/pacemaker/cib/cib.xml
    install -o hacluster -g haclient -m 0660 /dev/null "$CLUSTER_DIR/pacemaker.log"
    PCMK_LOG=$CLUSTER_DIR/pacemaker.log

    corosync -f -c "$CLUSTER_DIR/corosync.conf" </dev/null >"$CLUSTER_DIR/corosync.out" 2>&1 &
    CS_PID=$!
    at_exit cluster_stop
    wait_for 30 corosync-quorumtool -s || { echo "# corosync not quorate after 30 s" >&2; return 1; }
    CLUSTER_T0=$(date +%s)
    PCMK_logfile=$PCMK_LOG PCMK_logfacility=none PCMK_debug=${CTS_PCMK_DEBUG:-no} \
        pacemakerd </dev/null >"$CLUSTER_DIR/pacemakerd.out" 2>&1 &
    PCMKD_PID=$!
    wait_for 30 fencer_running || { echo "# pacemaker-fenced not answering after 30 s" >&2; return 1; }
    PCMK_CHILDREN=$(ps -o pid= --ppid "$PCMKD_PID" | tr '\n' ' ')
}
# alive PID: exists and is not a zombie
alive() { local st; st=$(ps -o stat= -p "$1" 2>/dev/null); [ -n "$st" ] && [ "${st#Z}" = "$st" ]; }
# cluster_stop: pacemakerd first (it stops its children in order), then corosync.
# If pacemakerd hangs (e.g. the controller waits on a fencing that cannot
# succeed), KILL its children first, then pacemakerd, so it reaps them.
cluster_stop() {
    local p i
    if [ -n "$PCMKD_PID" ]; then
        PCMK_CHILDREN=$(echo $PCMK_CHILDREN $(ps -o pid= --ppid "$PCMKD_PID" 2>/dev/null) | tr ' ' '\n' | sort -un | tr '\n' ' ')
        kill -TERM "$PCMKD_PID" 2>/dev/null
        if ! wait_pid_exit "$PCMKD_PID" "${CTS_PCMK_STOP_WAIT:-60}"; then
            echo "# pacemakerd $PCMKD_PID still running after ${CTS_PCMK_STOP_WAIT:-60} s, killing its children and it" >&2
            for p in $PCMK_CHILDREN; do alive "$p" && kill -KILL "$p"; done
            sleep 1
            kill -KILL "$PCMKD_PID" 2>/dev/null
        fi
        wait "$PCMKD_PID" 2>/dev/null
        for p in $PCMK_CHILDREN; do   # only if pacemakerd died without stopping them
            alive "$p" && { echo "# killing leftover pacemaker child $p" >&2; kill -KILL "$p"; }
        done
        [ -n "${PCMK_CHILDREN// /}" ] && for i in 1 2 3 4 5 6 7 8 9 10; do   # let init reap orphaned zombies
            for p in $PCMK_CHILDREN; do kill -0 "$p" 2>/dev/null && break; done || break
            sleep 0.5
        done
        PCMKD_PID=
    fi
    if [ -n "$CS_PID" ]; then
        stop_pid "$CS_PID" 30
        # libqb leaves these only on unclean exits; remove ours only
        rm -rf /dev/shm/qb-*-"$CS_PID"-* /dev/shm/qb-"$CS_PID"-* /dev/shm/qb-corosync-"$CS_PID"-*
        for p in $PCMK_CHILDREN; do rm -rf /dev/shm/qb-*-"$p"-* /dev/shm/qb-"$p"-*; done
        CS_PID=
    fi
}
cluster_restore_state() {
    local d
    for d in cib pengine blackbox; do
        find "/var/lib/pacemaker/$d" -mindepth 1 -maxdepth 1 -exec rm -rf {} +
        find "$CTS_TMP/backup/$d" -mindepth 1 -maxdepth 1 -exec mv -t "/var/lib/pacemaker/$d" {} +
    done
    [ "$CTS_RUN_CRM_EXISTED" = 1 ] || rm -rf /run/crm
}

# xml_escape STRING
xml_escape() { printf '%s' "$1" | sed -e 's/&/\&amp;/g' -e 's/</\&lt;/g' -e 's/>/\&gt;/g' -e 's/"/\&quot;/g'; }
