#!/bin/bash
# run-all.sh - the agents inside real Pacemaker, installed the way an
# administrator installs them: builds the Debian package (make deb), installs it
# (diverting fence-agents' fence_vmware, fence_vmware_soap and
# fence_vmware_rest), checks the
# installation, starts the real peers on loopback (VMware's vSphere
# simulator, the fake ESXi host behind OpenSSH's sshd), runs every
# Pacemaker suite of this directory against each agent, then removes the
# package and checks that fence-agents' files are back.
#
# Ends with one line "N passed, N failed[, N skipped]" over every suite.
# Needs root; without it everything is skipped (and under CI=true that is
# a failure, since CI runs as root).
set -u
HERE=$(cd "$(dirname "$0")" && pwd)
ROOT=$(cd "$HERE/../.." && pwd)
cd "$ROOT"

TOTAL_PASS=0 TOTAL_FAIL=0 TOTAL_SKIP=0
ok() { TOTAL_PASS=$((TOTAL_PASS + 1)); echo "PASS: $1"; }
bad() { TOTAL_FAIL=$((TOTAL_FAIL + 1)); echo "FAIL: $1${2:+ ($2)}"; }
summary() {
    if [ "$TOTAL_SKIP" -gt 0 ]; then
        echo "$TOTAL_PASS passed, $TOTAL_FAIL failed, $TOTAL_SKIP skipped"
    else
        echo "$TOTAL_PASS passed, $TOTAL_FAIL failed"
    fi
}

if [ "$(id -u)" != 0 ]; then
    echo "SKIP: Pacemaker suites (need root: install a package, start daemons)"
    if [ "${CI:-}" = true ]; then bad "Pacemaker suites run under CI"; summary; exit 1; fi
    TOTAL_SKIP=1; summary; exit 0
fi

WORK=$(mktemp -d /tmp/cts-pcmk-all.XXXXXX)
chmod 755 "$WORK"
PKG_INSTALLED=0
# shellcheck source=../peers.sh
. "$ROOT/cts/peers.sh"
KNOWN_MARK="# cts-pacemaker-run-all $$"

cleanup() {
    peers_stop
    if [ -f /etc/ssh/ssh_known_hosts ]; then
        sed -i "/$KNOWN_MARK\$/d" /etc/ssh/ssh_known_hosts
    fi
    [ "$PKG_INSTALLED" = 1 ] && dpkg -r fence-vmware-rs >/dev/null 2>&1
    rm -rf "$WORK"
}
trap cleanup EXIT
trap 'exit 130' INT
trap 'exit 143' TERM

# Run one suite script and add its summary line to the totals.
suite() {
    local name=$1
    shift
    echo "=== $name"
    local out="$WORK/suite.out"
    env "$@" bash "$HERE/${name%% *}.sh" 2>&1 | tee "$out"
    local line p f s
    line=$(grep -E '^[0-9]+ passed, [0-9]+ failed' "$out" | tail -1)
    if [ -z "$line" ]; then
        bad "$name printed no summary"
        return
    fi
    p=$(sed -E 's/^([0-9]+) passed.*/\1/' <<<"$line")
    f=$(sed -E 's/^[0-9]+ passed, ([0-9]+) failed.*/\1/' <<<"$line")
    s=$(sed -nE 's/.*, ([0-9]+) skipped.*/\1/p' <<<"$line")
    TOTAL_PASS=$((TOTAL_PASS + p)) TOTAL_FAIL=$((TOTAL_FAIL + f)) TOTAL_SKIP=$((TOTAL_SKIP + ${s:-0}))
}

# ------------------------------------------------------------ the package
echo "=== Debian package: build and install"
# A package left installed (by the demo) would hide fence-agents' files.
if dpkg-query -W -f='${Status}' fence-vmware-rs 2>/dev/null | grep -q "install ok installed"; then
    echo "# removing the fence-vmware-rs package installed before this run"
    dpkg -r fence-vmware-rs >/dev/null
fi
fa_sum() { sha256sum "$1" 2>/dev/null | cut -d' ' -f1; }
FA_VMWARE_SUM=$(fa_sum /usr/sbin/fence_vmware)
FA_SOAP_SUM=$(fa_sum /usr/sbin/fence_vmware_soap)
FA_REST_SUM=$(fa_sum /usr/sbin/fence_vmware_rest)
# cts/packaging/deb.sh tests the package itself; here it is only installed.
make --no-print-directory deb >"$WORK/deb.err" 2>&1
DEB=$(tail -1 "$WORK/deb.err")
if [ ! -f "$DEB" ]; then
    bad "build the Debian package" "$(tail -3 "$WORK/deb.err")"
    summary
    exit 1
fi
ok "build the Debian package ($(basename "$DEB"))"
if dpkg -i "$DEB" >"$WORK/dpkg.out" 2>&1; then
    PKG_INSTALLED=1
    ok "dpkg -i installs beside fence-agents"
else
    bad "dpkg -i installs beside fence-agents" "$(tail -3 "$WORK/dpkg.out")"
    summary
    exit 1
fi
want_version=$(sed -n 's/^version = "\(.*\)"/\1/p' Cargo.toml | head -1)
[ "$(/usr/sbin/fence_vmware --version 2>&1)" = "$want_version" ] &&
    ok "/usr/sbin/fence_vmware is ours" || bad "/usr/sbin/fence_vmware is ours"
[ "$(readlink /usr/sbin/fence_vmware_soap)" = fence_vmware ] &&
    ok "fence_vmware_soap is a symlink to fence_vmware" || bad "fence_vmware_soap is a symlink to fence_vmware"
/usr/sbin/fence_vmware_soap -o metadata | grep -q 'resource-agent name="fence_vmware_soap"' &&
    ok "the symlink answers as fence_vmware_soap" || bad "the symlink answers as fence_vmware_soap"
[ "$(readlink /usr/sbin/fence_vmware_rest)" = fence_vmware ] &&
    ok "fence_vmware_rest is a symlink to fence_vmware" || bad "fence_vmware_rest is a symlink to fence_vmware"
/usr/sbin/fence_vmware_rest -o metadata | grep -q 'resource-agent name="fence_vmware_rest"' &&
    ok "the symlink answers as fence_vmware_rest" || bad "the symlink answers as fence_vmware_rest"
[ -x /usr/sbin/fence_vmware_esxi ] && ok "fence_vmware_esxi installed in /usr/sbin" ||
    bad "fence_vmware_esxi installed in /usr/sbin"
for m in fence_vmware fence_vmware_soap fence_vmware_rest fence_vmware_esxi; do
    [ -f "/usr/share/man/man8/$m.8.gz" ] && ok "man page $m.8.gz" || bad "man page $m.8.gz"
done
if [ -n "$FA_VMWARE_SUM" ]; then
    [ "$(fa_sum /usr/sbin/fence_vmware.fence-agents)" = "$FA_VMWARE_SUM" ] &&
        ok "fence-agents' fence_vmware diverted intact" || bad "fence-agents' fence_vmware diverted intact"
    dpkg-divert --list /usr/sbin/fence_vmware | grep -q fence-vmware-rs &&
        ok "dpkg-divert records the diversion" || bad "dpkg-divert records the diversion"
fi

# make install / uninstall into a staging root (PREFIX and DESTDIR).
STAGE=$WORK/stage
if make --no-print-directory install DESTDIR="$STAGE" PREFIX=/opt/fv >"$WORK/make.out" 2>&1; then
    ok "make install DESTDIR=... PREFIX=/opt/fv"
    for f in sbin/fence_vmware sbin/fence_vmware_esxi share/man/man8/fence_vmware.8 \
        share/man/man8/fence_vmware_soap.8 share/man/man8/fence_vmware_rest.8 \
        share/man/man8/fence_vmware_esxi.8; do
        [ -f "$STAGE/opt/fv/$f" ] && ok "installed /opt/fv/$f" || bad "installed /opt/fv/$f"
    done
    [ "$(readlink "$STAGE/opt/fv/sbin/fence_vmware_soap")" = fence_vmware ] &&
        ok "installed the fence_vmware_soap symlink" || bad "installed the fence_vmware_soap symlink"
    [ "$(readlink "$STAGE/opt/fv/sbin/fence_vmware_rest")" = fence_vmware ] &&
        ok "installed the fence_vmware_rest symlink" || bad "installed the fence_vmware_rest symlink"
    make --no-print-directory uninstall DESTDIR="$STAGE" PREFIX=/opt/fv >"$WORK/make.out" 2>&1
    left=$(find "$STAGE" -type f -o -type l | wc -l)
    [ "$left" = 0 ] && ok "make uninstall removes every file" || bad "make uninstall removes every file" "$left left"
else
    bad "make install DESTDIR=... PREFIX=/opt/fv" "$(tail -3 "$WORK/make.out")"
fi
# A plain install must not overwrite a file that belongs to a package.
if dpkg -S /usr/sbin/fence_vmware.fence-agents >/dev/null 2>&1 || dpkg -S /usr/sbin/fence_vmware >/dev/null 2>&1; then
    if make --no-print-directory install >"$WORK/make.out" 2>&1; then
        bad "make install refuses to overwrite a packaged /usr/sbin/fence_vmware"
    else
        grep -q "belongs to a Debian package" "$WORK/make.out" &&
            ok "make install refuses to overwrite a packaged /usr/sbin/fence_vmware" ||
            bad "make install refuses to overwrite a packaged /usr/sbin/fence_vmware" "$(tail -2 "$WORK/make.out")"
    fi
fi

# ------------------------------------------------------------ the peers
echo "=== peers"
if ! peers_start "$WORK/peers"; then
    bad "peers start"
    summary
    exit 1
fi
ok "vSphere simulator and fake ESXi host started"
VCPASS=$VC_PASS
# The fencer runs agents as root, with root's known_hosts files.
touch /etc/ssh/ssh_known_hosts
sed "s/\$/ $KNOWN_MARK/" "$ESXI_KNOWN_HOSTS" >>/etc/ssh/ssh_known_hosts

VC_ARGS="ip=127.0.0.1 ipport=$VC_PORT username=fenceuser password=$VCPASS cacert=$VC_CA"
VC=(AGENT=fence_vmware "AGENT_ARGS_GOOD=$VC_ARGS" TARGET_NODE=cts-node2 TARGET_PLUG=node10
    "POWER_STATE_CMD=vc_state node10")
SOAP=(AGENT=fence_vmware_soap "AGENT_ARGS_GOOD=$VC_ARGS" TARGET_NODE=cts-node3 TARGET_PLUG=dc1only
    "POWER_STATE_CMD=vc_state dc1only")
# fence_vmware_rest as distribution guides configure it: ip, username,
# password, ssl_insecure=1 (and pcmk_host_map, which the suites add).
REST_ARGS="ip=127.0.0.1 ipport=$VC_PORT username=fenceuser password=$VCPASS ssl_insecure=1"
REST=(AGENT=fence_vmware_rest "AGENT_ARGS_GOOD=$REST_ARGS" TARGET_NODE=cts-node5
    TARGET_PLUG=DC0_C0_RP0_VM0 "POWER_STATE_CMD=vc_state DC0_C0_RP0_VM0")
ES_ARGS="ip=127.0.0.1 ipport=$ESXI_PORT username=$ESXI_USER identity_file=$ESXI_IDENTITY"
ES=(AGENT=fence_vmware_esxi "AGENT_ARGS_GOOD=$ES_ARGS"
    "AGENT_ARGS_BAD=ip=127.0.0.1 ipport=$ESXI_PORT username=nosuchuser identity_file=$ESXI_IDENTITY"
    TARGET_NODE=cts-node4 TARGET_PLUG=node2 "POWER_STATE_CMD=cat $ESXI_HOST_DIR/state/2")

# ------------------------------------------------------------ the suites
suite "validate fence_vmware" "${VC[@]}"
suite "pcs fence_vmware" "${VC[@]}"
suite "cman_stdin fence_vmware" "${VC[@]}"
suite "fencer fence_vmware" "${VC[@]}"
suite "cluster fence_vmware" "${VC[@]}"
suite "validate fence_vmware_soap" "${SOAP[@]}"
suite "pcs fence_vmware_soap" "${SOAP[@]}"
suite "fencer fence_vmware_soap" "${SOAP[@]}"
suite "validate fence_vmware_rest" "${REST[@]}"
suite "pcs fence_vmware_rest" "${REST[@]}"
suite "fencer fence_vmware_rest" "${REST[@]}"
suite "validate fence_vmware_esxi" "${ES[@]}"
suite "pcs fence_vmware_esxi" "${ES[@]}"
suite "cman_stdin fence_vmware_esxi" "${ES[@]}"
suite "fencer fence_vmware_esxi" "${ES[@]}"

# The Pacemaker configuration of the administrator's notes (seeds/001),
# minus its action=reboot (pcs refuses action= for stonith): old names,
# vmware_type=esx, a datacenter, pcmk_host_list.
echo "=== seed configuration"
CIB=$WORK/seed-cib.xml
cibadmin --empty >"$CIB"
if CIB_file=$CIB pcs -f "$CIB" stonith create fence_vm96 fence_vmware ipaddr=127.0.0.1:"$VC_PORT" \
    login=fenceuser passwd="$VCPASS" vmware_datacenter=DC0 vmware_type=esx port=node10 \
    pcmk_reboot_action=reboot pcmk_host_list="node95 node96" >"$WORK/seed.out" 2>&1; then
    ok "pcs accepts the seed's fence_vmware configuration"
    grep -q "Warning: stonith option 'ipaddr' is deprecated" "$WORK/seed.out" &&
        ok "... warning that ipaddr is deprecated" || bad "... warning that ipaddr is deprecated" "$(cat "$WORK/seed.out")"
else
    bad "pcs accepts the seed's fence_vmware configuration" "$(cat "$WORK/seed.out")"
fi
# The same parameters, as the fencer hands them to the agent.
printf 'ipaddr=127.0.0.1:%s\nlogin=fenceuser\npasswd=%s\nvmware_datacenter=DC0\nvmware_type=esx\nport=node10\nnodename=node96\naction=off\ncacert=%s\n' \
    "$VC_PORT" "$VCPASS" "$VC_CA" | /usr/sbin/fence_vmware >"$WORK/seed-run.out" 2>&1
rc=$?
if [ "$rc" = 0 ] && [ "$(vc_state node10)" = off ]; then
    ok "the seed's parameters fence node10 (device says off)"
else
    bad "the seed's parameters fence node10" "exit $rc, device says $(vc_state node10): $(cat "$WORK/seed-run.out")"
fi

# ------------------------------------------------------------ removal
echo "=== Debian package: removal"
if dpkg --purge fence-vmware-rs >"$WORK/dpkg.out" 2>&1; then
    PKG_INSTALLED=0
    ok "dpkg --purge removes the package"
else
    bad "dpkg --purge removes the package" "$(tail -3 "$WORK/dpkg.out")"
fi
[ ! -e /usr/sbin/fence_vmware_esxi ] && ok "fence_vmware_esxi removed" || bad "fence_vmware_esxi removed"
if [ -n "$FA_VMWARE_SUM" ]; then
    [ "$(fa_sum /usr/sbin/fence_vmware)" = "$FA_VMWARE_SUM" ] &&
        ok "fence-agents' fence_vmware restored" || bad "fence-agents' fence_vmware restored"
    [ "$(fa_sum /usr/sbin/fence_vmware_soap)" = "$FA_SOAP_SUM" ] &&
        ok "fence-agents' fence_vmware_soap restored" || bad "fence-agents' fence_vmware_soap restored"
    [ "$(fa_sum /usr/sbin/fence_vmware_rest)" = "$FA_REST_SUM" ] &&
        ok "fence-agents' fence_vmware_rest restored" || bad "fence-agents' fence_vmware_rest restored"
    dpkg-divert --list | grep -q fence-vmware-rs &&
        bad "no diversion left behind" || ok "no diversion left behind"
fi

summary
[ "$TOTAL_FAIL" = 0 ]
