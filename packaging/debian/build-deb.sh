#!/bin/bash
# Builds target/debian/fence-vmware-rs_<version>_<arch>.deb from the tree:
# the release binaries, the fence_vmware_soap symlink and the man pages,
# with maintainer scripts that divert Debian fence-agents' fence_vmware and
# fence_vmware_soap while installed and give them back on removal.
set -euo pipefail
cd "$(dirname "$0")/../.."

name=fence-vmware-rs
version=$(sed -n 's/^version = "\(.*\)"/\1/p' Cargo.toml | head -1)
arch=$(dpkg --print-architecture)
stage=target/debian/stage
out=target/debian/${name}_${version}_${arch}.deb

rm -rf "$stage"
make --no-print-directory install DESTDIR="$stage" PREFIX=/usr >/dev/null
gzip -9n "$stage"/usr/share/man/man8/*.8
install -d "$stage/DEBIAN" "$stage/usr/share/doc/$name"
install -m 0644 README.md "$stage/usr/share/doc/$name/README.md"
size=$(du -sk --exclude=DEBIAN "$stage" | cut -f1)

cat > "$stage/DEBIAN/control" <<CONTROL
Package: $name
Version: $version
Architecture: $arch
Maintainer: fence-vmware-rs developers <root@localhost>
Depends: libc6 (>= 2.34), libssl3
Enhances: pacemaker, fence-agents
Section: admin
Priority: optional
Installed-Size: $size
Description: VMware fence agents for Pacemaker, in Rust
 fence_vmware (vSphere API of ESXi and vCenter, also as fence_vmware_soap)
 and fence_vmware_esxi (SSH and vim-cmd). Compatible with the parameters of
 fence-agents' agents of the same names, whose files it diverts while
 installed.
CONTROL
install -m 0755 packaging/debian/preinst packaging/debian/postrm "$stage/DEBIAN/"
dpkg-deb --root-owner-group --build "$stage" "$out" >/dev/null
echo "$out"
