#!/bin/bash
# Installs what building and testing the agents needs on Debian 12, and
# nothing when it is all there already. Needs root (apt-get).
#
# Rust itself is not installed here: Debian 12's rustc is older than the
# crates need; use rustup's stable toolchain (README, "Requirements").
set -euo pipefail

PACKAGES=(
    # building: ssh2 links libssh2 with OpenSSL; the HTTPS client uses OpenSSL
    build-essential pkg-config libssl-dev make
    # the test peers: OpenSSH's sshd and dropbear, VMware's simulator (govmomi) built with Go
    openssh-server openssh-client dropbear-bin golang-go golang-github-vmware-govmomi-dev
    # Pacemaker's own programs, the cluster stack, pcs, and fence-agents (RelaxNG schema,
    # the Python agents compared against)
    pacemaker pacemaker-cli-utils corosync pcs fence-agents
    # the packages (cts/packaging): lintian; rpmbuild, rpmlint, and dnf and
    # zypper with createrepo_c to swap the RPM with fence-agents' stand-ins
    rpm rpmlint lintian dnf zypper createrepo-c file cpio
    # metadata validation (xmllint), timing (hyperfine), process tools, peak memory (GNU time)
    libxml2-utils hyperfine procps psmisc curl ca-certificates time jq
    # vmware-vbmc: ipmitool as its real peer (fence_ipmilan runs it too), openssl
    # and python3 for the crypto known answers, groff and systemd-analyze for
    # the man page and the unit; vsphere-http: openssl for RSA keys and s_server
    # as a real TLS peer
    ipmitool openssl python3 groff-base systemd
    # the fault matrix (cts/tests/faults.rs): ip, for the loopback of the
    # network namespaces where its name servers answer
    iproute2
)

missing=()
for p in "${PACKAGES[@]}"; do
    if ! dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed"; then
        missing+=("$p")
    fi
done

if [ ${#missing[@]} -gt 0 ]; then
    if [ "$(id -u)" != 0 ]; then
        echo "install-deps: these Debian packages are missing and installing them needs root: ${missing[*]}" >&2
        exit 1
    fi
    echo "install-deps: installing ${missing[*]}"
    export DEBIAN_FRONTEND=noninteractive
    apt-get update -qq
    # Installing pacemaker must not start daemons: there is no init system
    # in CI, and the tests start what they need themselves.
    printf '#!/bin/sh\nexit 101\n' > /usr/sbin/policy-rc.d
    chmod +x /usr/sbin/policy-rc.d
    apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
    rm -f /usr/sbin/policy-rc.d
fi

if ! command -v cargo >/dev/null; then
    echo "install-deps: cargo not found; install Rust >= 1.88 with rustup (see README)" >&2
    exit 1
fi

# cargo-deb builds the .deb (make deb); pinned, so that a new release
# cannot change the package behind the tests' back.
CARGO_DEB_VERSION=3.8.0
if [ "$(cargo deb --version 2>/dev/null)" != "cargo-deb $CARGO_DEB_VERSION" ]; then
    echo "install-deps: installing cargo-deb $CARGO_DEB_VERSION"
    cargo install --quiet --locked cargo-deb --version "$CARGO_DEB_VERSION"
fi
