# peers.sh - start and stop the real peers for shell scripts (the Pacemaker
# suites, the demo): VMware's vSphere simulator (cts/vcsim) and the fake
# ESXi host (OpenSSH sshd with the fake vim-cmd, via cts-peer), both on
# 127.0.0.1. Source it, then:
#
#   peers_start DIR   build what is missing, start both, wait until ready;
#                     sets VC_PORT VC_CONTROL VC_USER VC_PASS VC_CA and the
#                     ESXI_* variables of cts-peer's esxi.env
#   peers_stop        stop both and forget their files
#   vc_state NAME     on|off: the VM's power state read from the simulator's
#                     own objects (its control endpoint), not through an agent
#
# Needs root (the fake ESXi host creates a user and runs sshd).

PEERS_DIR= PEERS_VCSIM_PID= PEERS_ESXI_PID=

peers_start() {
    PEERS_DIR=$1
    local root
    root=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
    mkdir -p "$PEERS_DIR/vcsim" "$PEERS_DIR/esxi"
    [ -x "$root/target/cts/vcsim" ] || "$root/cts/vcsim/build.sh" >/dev/null || return 1
    [ -x "$root/target/debug/cts-peer" ] || (cd "$root" && cargo build -q -p cts --bins) || return 1
    VC_USER=fenceuser
    VC_PASS=cts-fence-pw
    "$root/target/cts/vcsim" -listen 127.0.0.1:0 -control 127.0.0.1:0 \
        -state-dir "$PEERS_DIR/vcsim" -user "$VC_USER" -pass "$VC_PASS" \
        >"$PEERS_DIR/vcsim.log" 2>&1 &
    PEERS_VCSIM_PID=$!
    "$root/target/debug/cts-peer" esxi "$PEERS_DIR/esxi" >"$PEERS_DIR/esxi.log" 2>&1 &
    PEERS_ESXI_PID=$!
    local _
    for _ in $(seq 150); do
        [ -f "$PEERS_DIR/vcsim/ready.json" ] && [ -f "$PEERS_DIR/esxi/esxi.env" ] && break
        sleep 0.2
    done
    if [ ! -f "$PEERS_DIR/vcsim/ready.json" ] || [ ! -f "$PEERS_DIR/esxi/esxi.env" ]; then
        tail -5 "$PEERS_DIR/vcsim.log" "$PEERS_DIR/esxi.log" >&2
        return 1
    fi
    VC_PORT=$(peers_json "$PEERS_DIR/vcsim/ready.json" port)
    VC_CONTROL=$(peers_json "$PEERS_DIR/vcsim/ready.json" control)
    VC_CA=$PEERS_DIR/vcsim/ca.pem
    # shellcheck disable=SC1091
    . "$PEERS_DIR/esxi/esxi.env"
    export VC_CONTROL
}

peers_stop() {
    if [ -n "$PEERS_VCSIM_PID" ]; then
        kill "$PEERS_VCSIM_PID" 2>/dev/null && wait "$PEERS_VCSIM_PID" 2>/dev/null
        PEERS_VCSIM_PID=
    fi
    if [ -n "$PEERS_ESXI_PID" ]; then
        touch "$PEERS_DIR/esxi/stop"
        local _
        for _ in $(seq 50); do kill -0 "$PEERS_ESXI_PID" 2>/dev/null || break; sleep 0.2; done
        kill "$PEERS_ESXI_PID" 2>/dev/null
        PEERS_ESXI_PID=
    fi
}

peers_json() {
    python3 -c "import json,sys; print(json.load(open(sys.argv[1]))[sys.argv[2]])" "$@"
}

vc_state() {
    curl -s -G "http://$VC_CONTROL/vm" --data-urlencode "name=$1" |
        python3 -c 'import json,sys; v=json.load(sys.stdin); print("on" if v[0]["power"]=="poweredOn" else "off")'
}
export -f vc_state
