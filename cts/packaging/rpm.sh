#!/bin/bash
# rpm.sh - the RPM: `make rpm` builds it with rpmbuild from `make dist`'s
# tarball, offline (no network, an empty CARGO_HOME: only the vendored
# crates); rpmlint finds nothing; `rpm -qp` shows the files, symlinks,
# scriptlets, computed dependencies and the Conflicts/Provides/Obsoletes of
# packaging/agents; installed into an empty root (rpm --root --nodeps) its
# programs run there; and Debian's dnf and zypper swap it with
# fence-agents' package and back. Needs root. Ends with "N passed, N failed".
cd "$(dirname "$0")/../.." || exit 1
. cts/packaging/lib.sh
need_root

VERSION=$(cargo_version)
ARCH=$(rpm --eval '%{_arch}')
DIST=fence-vmware-rs-$VERSION
TARBALL=target/dist/$DIST.tar.gz
RPM=target/rpmbuild/RPMS/$ARCH/$DIST-1.$ARCH.rpm
SRPM=target/rpmbuild/SRPMS/$DIST-1.src.rpm

# ------------------------------------------------------------ build
rm -f "$TARBALL" "$RPM" "$SRPM"
timed make-dist make --no-print-directory dist || abort "make dist" "$(tail -3 "$CTS_TMP/make-dist.log")"
pass "make dist writes $TARBALL"
tar -tzf "$TARBALL" >"$CTS_TMP/tarball.list"
for f in Cargo.lock .cargo/config.toml fence-vmware-rs.spec packaging/agents vendor/libc-; do
    grep -q "^$DIST/$f" "$CTS_TMP/tarball.list" && pass "the tarball holds $f" || fail "the tarball holds $f"
done
tar -xzOf "$TARBALL" "$DIST/.cargo/config.toml" | grep -q '^directory = "vendor"$' &&
    pass "the tarball's cargo config points at its vendor directory" ||
    fail "the tarball's cargo config points at its vendor directory"
same "the spec in the tarball has Cargo.toml's version" "Version:        $VERSION" \
    "$(tar -xzOf "$TARBALL" "$DIST/fence-vmware-rs.spec" | grep '^Version:')"

# rpmbuild in a network namespace of its own, with an empty CARGO_HOME: it
# can only build from what the tarball carries. (make rpm runs make dist
# again: it is up to date and needs no network either.)
EMPTY_CARGO_HOME=$CTS_TMP/cargo-home
mkdir -p "$EMPTY_CARGO_HOME"
if timed make-rpm env CARGO_HOME="$EMPTY_CARGO_HOME" unshare --net make --no-print-directory rpm; then
    pass "make rpm builds offline (no network, empty CARGO_HOME)"
else
    abort "make rpm builds offline (no network, empty CARGO_HOME)" "$(tail -3 "$CTS_TMP/make-rpm.log")"
fi
grep -q -- '--offline --frozen' "$CTS_TMP/make-rpm.log" &&
    pass "the spec builds with cargo --offline --frozen" || fail "the spec builds with cargo --offline --frozen"
[ -f "$RPM" ] && [ -f "$SRPM" ] && pass "rpmbuild writes $RPM and the source RPM" || abort "rpmbuild writes $RPM and the source RPM"

# ------------------------------------------------------------ rpmlint
rpmlint -c packaging/rpm/rpmlint.toml "$RPM" "$SRPM" >"$CTS_TMP/rpmlint.out" 2>&1
rpmlint_rc=$?
if [ "$rpmlint_rc" = 0 ] && grep -q ' 0 errors, 0 warnings' "$CTS_TMP/rpmlint.out"; then
    pass "rpmlint reports no error and no warning"
else
    fail "rpmlint reports no error and no warning" "exit $rpmlint_rc: $(grep -E ': (E|W): |errors' "$CTS_TMP/rpmlint.out" | head -4 | tr '\n' ' ')"
fi

# ------------------------------------------------------------ rpm -qp
qp() { rpm -qp "$@" "$RPM" 2>/dev/null; }
same "NAME VERSION RELEASE" "fence-vmware-rs $VERSION 1" "$(qp --qf '%{NAME} %{VERSION} %{RELEASE}')"
same "License" "GPL-2.0-or-later" "$(qp --qf '%{LICENSE}')"
same "Packager is the project's maintainer (the Debian changelog's)" \
    "$(sed -n 's/^ -- \(.*>\)  .*/\1/p' packaging/debian/changelog | head -1)" "$(qp --qf '%{PACKAGER}')"
# The files, less the build-id links rpm adds for every ELF file.
want_files=$( (agents names | sed 's|^|/usr/sbin/|'
    agents names | sed 's|^\(.*\)|/usr/share/man/man8/\1.8.gz|'
    echo /usr/share/doc/$DIST/README.md /usr/share/licenses/$DIST/copyright
    echo /usr/lib/systemd/system/vmware-vbmc.service /usr/share/doc/$DIST/vmware-vbmc.toml.example) | sorted_words)
same "the files are packaging/agents' names, their man pages, README, licence, vmware-vbmc's unit and example" "$want_files" \
    "$(qp -l | grep -v -e '^/usr/lib/\.build-id' -e '^/usr/share/doc/[^/]*$' -e '^/usr/share/licenses/[^/]*$' | sorted_words)"
for link in $(agents links); do
    same "${link%%:*} is a symlink to ${link#*:}" "${link#*:}" \
        "$(qp --qf '[%{FILENAMES} %{FILELINKTOS}\n]' | sed -n "s|^/usr/sbin/${link%%:*} ||p")"
done
for bin in $(agents binaries); do
    same "$bin is a file, mode 0755" "-rwxr-xr-x" "$(qp --qf '[%{FILENAMES} %{FILEMODES:perms}\n]' | sed -n "s|^/usr/sbin/$bin ||p")"
done
# Nothing to divert or register: the package manager's own Conflicts do it.
# (vmware-vbmc's %systemd_* scriptlets exist where systemd-rpm-macros does,
# which a Debian build host has not.)
same "no scriptlets" "" "$(qp --scripts)"
same "vmware-vbmc's unit is the tree's, mode 0644" "$(sha256sum <vmware-vbmc/vmware-vbmc.service) -rw-r--r--" \
    "$(rpm2cpio "$RPM" | cpio -i --quiet --to-stdout ./usr/lib/systemd/system/vmware-vbmc.service | sha256sum) $(qp --qf '[%{FILENAMES} %{FILEMODES:perms}\n]' | sed -n 's|^/usr/lib/systemd/system/vmware-vbmc.service ||p')"

# Requires: exactly what rpm's own ELF dependency generator finds in the
# packaged binaries (plus rpmlib features), nothing written by hand.
EX=$CTS_TMP/extracted
mkdir -p "$EX" && (cd "$EX" && rpm2cpio "$TOP/$RPM" | cpio -idm --quiet)
computed=$(for bin in $(agents binaries); do /usr/lib/rpm/elfdeps --requires "$EX/usr/sbin/$bin"; done | sorted_words)
same "Requires is what elfdeps computes from the binaries" "$computed" \
    "$(qp --requires | grep -v '^rpmlib(' | sorted_words)"
case " $computed " in
    *" libssl.so.3()(64bit) "*) pass "Requires names libssl (libssh2, under fence_vmware_esxi, links OpenSSL)" ;;
    *) fail "Requires names libssl (libssh2, under fence_vmware_esxi, links OpenSSL)" "$computed" ;;
esac
for bin in $(agents binaries); do
    case $(file -b "$EX/usr/sbin/$bin") in
        *"not stripped"*) fail "$bin is stripped" ;;
        *ELF*stripped*) pass "$bin is stripped" ;;
        *) fail "$bin is stripped" "$(file -b "$EX/usr/sbin/$bin")" ;;
    esac
done

# Conflicts/Provides/Obsoletes: for each fence-agents package of
# packaging/agents, and no other.
EVR=$VERSION-1
same "Conflicts" "$(agents rpm | sorted_words)" "$(qp --conflicts | sorted_words)"
same "Provides" "$( (agents rpm | sed "s/\$/ = $EVR/"; echo "fence-vmware-rs = $EVR"; echo "fence-vmware-rs($(rpm --eval '%{_isa}' | tr -d '()')) = $EVR") | sort | tr '\n' ';')" \
    "$(qp --provides | sort | tr '\n' ';')"
same "Obsoletes, versioned below our Provides" "$(agents rpm | sed "s/\$/ < $EVR/" | sort | tr '\n' ';')" \
    "$(qp --obsoletes | sort | tr '\n' ';')"
same "%changelog: the newest entry is this version" "- $EVR" "$(qp --changelog | head -1 | sed 's/.*> //')"

# Adding fence_vmware_rest is one line of packaging/agents: its tags follow.
sed 's/^# \(fence_vmware_rest .*\)/\1/' packaging/agents >"$CTS_TMP/agents-with-rest"
packaging/rpm/make-spec.sh "$VERSION" packaging/rpm/fence-vmware-rs.spec.in packaging/debian/changelog \
    "$CTS_TMP/agents-with-rest" >"$CTS_TMP/rest.spec"
for tag in "Conflicts:      fence-agents-vmware-rest" "Provides:       fence-agents-vmware-rest = " \
    "Obsoletes:      fence-agents-vmware-rest < "; do
    grep -q "^$tag" "$CTS_TMP/rest.spec" && pass "one more line in packaging/agents: $tag" ||
        fail "one more line in packaging/agents: $tag"
done

# ------------------------------------------------------------ installed into an empty root
IROOT=$CTS_TMP/installroot
mkdir -p "$IROOT"
check "rpm --root DIR --nodeps -i installs the package" rpm --root "$IROOT" --nodeps -i "$RPM"
for bin in $(agents binaries); do
    check_binary_version "$IROOT/usr/sbin/$bin" "installed:"
done
for link in $(agents links); do
    name=${link%%:*}
    "$IROOT/usr/sbin/$name" -o metadata 2>/dev/null | grep -q "<resource-agent name=\"$name\"" &&
        pass "installed: $name (a symlink) answers to its own name" || fail "installed: $name (a symlink) answers to its own name"
done
for name in $(agents names); do
    check_man_version "$IROOT/usr/share/man/man8/$name.8.gz" "$name" "installed: "
done
check "installed: rpm -V finds every file as packaged" rpm --root "$IROOT" -V --nodeps fence-vmware-rs
check "rpm -e removes the package" rpm --root "$IROOT" --nodeps -e fence-vmware-rs
same "removed: /usr/sbin is empty" "" "$(ls -A "$IROOT/usr/sbin" 2>/dev/null)"

# ------------------------------------------------------------ dnf swap, both ways
# RHEL's and Fedora's fence-agents packages cannot be fetched here, so the
# test builds stand-ins: noarch packages with the same names, versions of
# the 4.x series and the same paths (fence-agents-vmware-soap with
# /usr/sbin/fence_vmware_soap, fence-agents-all requiring it without a
# version, as fence-agents.spec does), and one that provides the shared
# libraries our RPM requires. Debian's dnf then plays the administrator.
if ! command -v dnf >/dev/null || ! command -v createrepo_c >/dev/null; then
    abort "dnf and createrepo_c are installed (cts/install-deps.sh)"
fi
SW=$CTS_TMP/swap
mkdir -p "$SW/base" "$SW/ours" "$SW/specs"
standin() { # NAME VERSION [PREAMBLE] [FILES]: build a stand-in noarch RPM into $SW/base
    cat >"$SW/specs/$1.spec" <<SPEC
Name: $1
Version: $2
Release: 1
Summary: Stand-in for the distribution's $1 (cts/packaging/rpm.sh)
License: GPL-2.0-or-later
BuildArch: noarch
$3
%description
Stand-in, built by the test.
%install
for f in $4; do mkdir -p %{buildroot}\$(dirname \$f); echo stand-in > %{buildroot}\$f; done
%files
$(tr ' ' '\n' <<<"$4")
SPEC
    rpmbuild -bb --define "_topdir $SW/top" --define "_rpmdir $SW/base" "$SW/specs/$1.spec" >>"$SW/build.log" 2>&1
}
soap_files="/usr/sbin/fence_vmware_soap /usr/share/man/man8/fence_vmware_soap.8.gz"
libs_provides=$(qp --requires | grep -v '^rpmlib(' | sed 's/^/Provides: /')
standin fence-agents-vmware-soap 4.10.0 "" "$soap_files" &&
    standin fence-agents-all 4.10.0 "Requires: fence-agents-vmware-soap" "" &&
    standin system-libraries 1 "$libs_provides" "" ||
    abort "build the stand-in packages" "$(tail -3 "$SW/build.log")"
cp "$RPM" "$SW/ours/"
createrepo_c -q "$SW/base" && createrepo_c -q "$SW/ours" || abort "createrepo_c"
cat >"$SW/dnf.conf" <<CONF
[main]
gpgcheck=0
reposdir=/dev/null
cachedir=$SW/cache
install_weak_deps=0
[base]
name=stand-ins for the distribution
baseurl=file://$SW/base
[ours]
name=fence-vmware-rs
baseurl=file://$SW/ours
CONF
DROOT=$SW/root
dnfr() { dnf -y -c "$SW/dnf.conf" --installroot="$DROOT" --releasever=1 --setopt=tsflags=noscripts "$@" >>"$SW/dnf.log" 2>&1; }
installed() { rpm --root "$DROOT" -qa --qf '%{NAME}\n' | grep -v '^system-libraries$' | sorted_words; }
owner() { rpm --root "$DROOT" -qf --qf '%{NAME}\n' /usr/sbin/fence_vmware_soap 2>&1; }
THEIRS="fence-agents-all fence-agents-vmware-soap"
OURS="fence-agents-all fence-vmware-rs"

dnfr --disablerepo=ours install system-libraries fence-agents-all
same "dnf: fence-agents-all brings fence-agents-vmware-soap" "$(sorted_words <<<"$THEIRS")" "$(installed)"
dnfr install fence-vmware-rs
same "dnf install without --allowerasing changes nothing (Conflicts)" "$(sorted_words <<<"$THEIRS")" "$(installed)"
dnfr swap fence-agents-vmware-soap fence-vmware-rs
same "dnf swap fence-agents-vmware-soap fence-vmware-rs" "$(sorted_words <<<"$OURS")" "$(installed)"
same "... /usr/sbin/fence_vmware_soap is ours" "fence-vmware-rs" "$(owner)"
dnfr upgrade
same "... dnf upgrade keeps ours" "$(sorted_words <<<"$OURS")" "$(installed)"
dnfr swap fence-vmware-rs fence-agents-vmware-soap
same "dnf swap fence-vmware-rs fence-agents-vmware-soap goes back" "$(sorted_words <<<"$THEIRS")" "$(installed)"
same "... /usr/sbin/fence_vmware_soap is fence-agents'" "fence-agents-vmware-soap" "$(owner)"
dnfr upgrade
same "... dnf upgrade does not swap ours in again" "$(sorted_words <<<"$THEIRS")" "$(installed)"
dnfr install --allowerasing fence-vmware-rs
same "dnf install --allowerasing fence-vmware-rs replaces theirs" "$(sorted_words <<<"$OURS")" "$(installed)"

# The same with SUSE's zypper (Debian packages it too), on the same
# repositories: it proposes removing the conflicting package, which
# --force-resolution accepts.
command -v zypper >/dev/null || abort "zypper is installed (cts/install-deps.sh)"
DROOT=$SW/zroot
zyp() { zypper --root "$DROOT" --non-interactive --no-gpg-checks "$@" >>"$SW/zypper.log" 2>&1; }
zyp addrepo -G "file://$SW/base" base && zyp addrepo -G "file://$SW/ours" ours && zyp refresh ||
    abort "zypper adds the repositories" "$(tail -3 "$SW/zypper.log")"
zyp install system-libraries fence-agents-all
same "zypper: fence-agents-all brings fence-agents-vmware-soap" "$(sorted_words <<<"$THEIRS")" "$(installed)"
zyp install fence-vmware-rs
same "zypper install --non-interactive changes nothing (Conflicts)" "$(sorted_words <<<"$THEIRS")" "$(installed)"
grep -q "Solution 1: deinstallation of fence-agents-vmware-soap" "$SW/zypper.log" &&
    pass "... and proposes removing fence-agents-vmware-soap" || fail "... and proposes removing fence-agents-vmware-soap"
zyp install --force-resolution fence-vmware-rs
same "zypper install --force-resolution fence-vmware-rs" "$(sorted_words <<<"$OURS")" "$(installed)"
zyp install --force-resolution fence-agents-vmware-soap
same "zypper install --force-resolution fence-agents-vmware-soap goes back" "$(sorted_words <<<"$THEIRS")" "$(installed)"
zyp update
same "... zypper update does not swap ours in again" "$(sorted_words <<<"$THEIRS")" "$(installed)"

finish
