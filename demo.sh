#!/bin/bash
# The main job, for a newcomer on a fresh Debian 12 machine, as root:
# installs what is missing, builds the agents, installs them as a Debian
# package (beside fence-agents, whose fence_vmware and fence_vmware_soap
# it diverts), starts two devices on 127.0.0.1 — VMware's own vSphere
# simulator (vim25 and the Automation API) and a fake ESXi host behind
# OpenSSH's sshd — and fences VMs through each agent the way an
# administrator would (fence_vmware, fence_vmware_rest, fence_vmware_esxi,
# and fence_ipmilan through the vmware-vbmc daemon), then through
# Pacemaker's fencer (stonith_admin and a standalone pacemaker-fenced).
# Every power change is shown as the device itself reports it.
#
# The agents stay installed afterwards (dpkg -r fence-vmware-rs removes
# them and gives fence-agents' files back); the devices are stopped.
set -euo pipefail
cd "$(dirname "$0")"
ROOT=$PWD

if [ "$(id -u)" != 0 ]; then
    echo "demo.sh needs root: it installs packages, creates a test user, runs sshd and Pacemaker's fencer" >&2
    exit 1
fi

say() { printf '\n\033[1m== %s\033[0m\n' "$*"; }
show() { # show CMD...: print the command, run it, print its exit code
    printf '\n$'
    printf ' %q' "$@"
    printf '\n'
    local rc=0
    "$@" || rc=$?
    printf '  (exit %d)\n' "$rc"
}

say "Installing build and demo dependencies (Debian packages)"
cts/install-deps.sh

say "Building"
cargo build -q --workspace --bins
cts/vcsim/build.sh >/dev/null

say "Installing the agents (Debian package)"
DEB=$(make --no-print-directory deb | tail -1)
dpkg -i "$DEB" >/dev/null
echo "installed $DEB"
ls -l /usr/sbin/fence_vmware /usr/sbin/fence_vmware_soap /usr/sbin/fence_vmware_rest \
    /usr/sbin/fence_vmware_esxi /usr/sbin/vmware-vbmc

WORK=$(mktemp -d /tmp/fence-demo.XXXXXX)
chmod 755 "$WORK"
FENCED_PID=
VBMC_PID=
# shellcheck source=cts/peers.sh
. cts/peers.sh
cleanup() {
    local rc=$?
    set +e
    [ -n "$FENCED_PID" ] && kill "$FENCED_PID" 2>/dev/null && wait "$FENCED_PID" 2>/dev/null
    [ -n "$VBMC_PID" ] && kill "$VBMC_PID" 2>/dev/null && wait "$VBMC_PID" 2>/dev/null
    peers_stop
    rm -rf "$WORK"
    exit "$rc"
}
trap cleanup EXIT

say "Starting the devices on 127.0.0.1"
peers_start "$WORK/peers"
echo "vSphere simulator (vCenter model): https://127.0.0.1:$VC_PORT/sdk, CA $VC_CA"
echo "fake ESXi host (OpenSSH sshd + vim-cmd): 127.0.0.1:$ESXI_PORT"

VC=(--ip 127.0.0.1 --ipport "$VC_PORT" --username "$VC_USER" --password "$VC_PASS" --cacert "$VC_CA")
device() { echo "  device says: $1 is $(vc_state "$1")"; }

say "fence_vmware against the vSphere simulator: VM 'web server 01'"
for action in status off status on reboot; do
    show fence_vmware "${VC[@]}" --plug "web server 01" --action "$action"
    device "web server 01"
done
show fence_vmware "${VC[@]}" --action list
say "A name two VMs share is refused, and nothing is powered"
show fence_vmware "${VC[@]}" --plug dup --action off
echo "  device says: $(curl -s -G "http://$VC_CONTROL/vm" --data-urlencode name=dup | python3 -c 'import json,sys; print(", ".join(v["path"]+" is "+v["power"] for v in json.load(sys.stdin)))')"
say "A certificate nobody trusts is refused"
show fence_vmware --ip 127.0.0.1 --ipport "$VC_PORT" --username "$VC_USER" --password "$VC_PASS" --plug node10 --action status

say "fence_vmware_rest against the simulator's Automation API: VM 'node10'"
REST=(--ip 127.0.0.1 --ipport "$VC_PORT" --username "$VC_USER" --password "$VC_PASS" --cacert "$VC_CA")
for action in status off on; do
    show fence_vmware_rest "${REST[@]}" --plug node10 --action "$action"
    device node10
done
say "fence_vmware_rest refuses a name two VMs share, where fence-agents' agent powered off the first"
show fence_vmware_rest "${REST[@]}" --plug dup --action off

say "vmware-vbmc: an IPMI endpoint for VM 'web server 01', fenced by fence-agents' fence_ipmilan"
install -d -m 0700 "$WORK/vbmc"
IPMI_PW=demo-ipmi-pw-0123
VBMC_PORT=$(python3 -c 'import socket; s=socket.socket(socket.AF_INET, socket.SOCK_DGRAM); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])')
cat > "$WORK/vbmc/vmware-vbmc.toml" <<CONF
[vcenter]
ip = "127.0.0.1"
ipport = $VC_PORT
username = "$VC_USER"
password = "$VC_PASS"
cacert = "$VC_CA"

[[vm]]
plug = "web server 01"
listen_address = "127.0.0.1"
listen_port = $VBMC_PORT
ipmi_username = "fence"
ipmi_password = "$IPMI_PW"
privilege_limit = "operator"
CONF
chmod 0600 "$WORK/vbmc/vmware-vbmc.toml"
show vmware-vbmc check "$WORK/vbmc/vmware-vbmc.toml"
vmware-vbmc run "$WORK/vbmc/vmware-vbmc.toml" >"$WORK/vbmc/log" 2>&1 &
VBMC_PID=$!
sleep 1
IPMI=(--lanplus --ip 127.0.0.1 --ipport "$VBMC_PORT" --username fence --password "$IPMI_PW" --privlvl operator)
for action in status off on; do
    show fence_ipmilan "${IPMI[@]}" --action "$action"
    device "web server 01"
done
kill "$VBMC_PID" && wait "$VBMC_PID" 2>/dev/null || true
VBMC_PID=

ES=(--ip 127.0.0.1 --ipport "$ESXI_PORT" --username "$ESXI_USER" --identity-file "$ESXI_IDENTITY"
    "--ssh-options=$ESXI_SSH_OPTIONS")
esxi_state() { echo "  device says: vmid 2 (node2) is $(cat "$ESXI_HOST_DIR/state/2")"; }
say "fence_vmware_esxi against the fake ESXi host: VM 'node2'"
for action in status off status on reboot; do
    show fence_vmware_esxi "${ES[@]}" --plug node2 --action "$action"
    esxi_state
done
show fence_vmware_esxi "${ES[@]}" --action list-status

say "Through Pacemaker: a standalone fencer, a device mapping node 'cluster-node2' to VM node10"
FENCED=
for f in /usr/lib/pacemaker/pacemaker-fenced /usr/libexec/pacemaker/pacemaker-fenced; do
    [ -x "$f" ] && FENCED=$f && break
done
PCMK_logfile=$WORK/fenced.log PCMK_logfacility=none "$FENCED" -s >/dev/null 2>&1 &
FENCED_PID=$!
for _ in $(seq 50); do stonith_admin --list-registered -t 2 >/dev/null 2>&1 && break; sleep 0.2; done
show stonith_admin --register vcenter --agent fence_vmware -o ip=127.0.0.1 -o "ipport=$VC_PORT" \
    -o "username=$VC_USER" -o "password=$VC_PASS" -o "cacert=$VC_CA" -o "pcmk_host_map=cluster-node2:node10"
show stonith_admin --fence cluster-node2 -t 60
device node10
show stonith_admin --unfence cluster-node2 -t 60
device node10
show stonith_admin --reboot cluster-node2 -t 60
device node10
grep -E "Operation '(off|on|reboot)'.*returned" "$WORK/fenced.log" | sed 's/^/  fencer log: /' || true

say "Done"
echo "The agents stay installed: man fence_vmware, man fence_vmware_rest, man fence_vmware_esxi, man vmware-vbmc;"
echo "'dpkg -r fence-vmware-rs' removes them and gives fence-agents' files back."
