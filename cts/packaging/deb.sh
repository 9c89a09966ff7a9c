#!/bin/bash
# deb.sh - the Debian package: `make deb` (cargo-deb) builds it; lintian
# finds nothing (every tag it would report is fixed or overridden with a
# reason); its contents follow packaging/agents; its Depends is what
# dpkg-shlibdeps computes from its binaries; and installing, upgrading,
# removing and purging it diverts fence-agents' files and gives them back
# byte for byte (sha256). Needs root and Debian's fence-agents installed
# (cts/install-deps.sh installs it). Ends with "N passed, N failed".
cd "$(dirname "$0")/../.." || exit 1
. cts/packaging/lib.sh
need_root

VERSION=$(cargo_version)
DEB_VERSION=$VERSION-1
DEB=target/debian/fence-vmware-rs_${DEB_VERSION}_$(dpkg --print-architecture).deb
PKG=fence-vmware-rs

# This suite installs and removes the package; leave the system as found.
was_installed() { dpkg-query -W -f='${Status}' $PKG 2>/dev/null | grep -q "install ok installed"; }
if was_installed; then
    echo "# removing the $PKG package installed before this run"
    dpkg --purge $PKG >/dev/null 2>&1
fi
at_exit 'was_installed && dpkg --purge '$PKG' >/dev/null 2>&1'

# ------------------------------------------------------------ build
rm -f "$DEB"
timed make-deb make --no-print-directory deb || abort "make deb" "$(tail -3 "$CTS_TMP/make-deb.log")"
[ -f "$DEB" ] || abort "make deb writes $DEB" "$(tail -3 "$CTS_TMP/make-deb.log")"
pass "make deb writes $DEB"
grep -q "warning" "$CTS_TMP/make-deb.log" &&
    fail "cargo-deb builds without warnings" "$(grep warning "$CTS_TMP/make-deb.log" | head -2)" ||
    pass "cargo-deb builds without warnings"

# ------------------------------------------------------------ lintian
# Errors and warnings must be fixed or overridden with a reason
# (packaging/debian/lintian-overrides). Informational and pedantic tags are
# shown in the log but do not fail the suite: some of them are read off the
# compiled binaries' bytes (spelling-error-in-binary matched "wtH" in
# fence_vmware_esxi once), so they come and go with code generation.
lintian -E --fail-on error,warning "$DEB" >"$CTS_TMP/lintian.out" 2>&1
lintian_rc=$?
sed -e '/^running with root privileges/d' "$CTS_TMP/lintian.out" >"$CTS_TMP/lintian.tags"
if [ "$lintian_rc" = 0 ] && [ ! -s "$CTS_TMP/lintian.tags" ]; then
    pass "lintian reports no error and no warning"
else
    fail "lintian reports no error and no warning" "exit $lintian_rc: $(head -5 "$CTS_TMP/lintian.tags" | tr '\n' ' ')"
fi
lintian -I -E --pedantic "$DEB" 2>/dev/null | sed -e 's/^/  lintian (not fatal): /'
# The overrides are used: lintian still sees the tags they cover.
lintian -I --pedantic --show-overrides "$DEB" 2>/dev/null | grep -c '^O: ' >"$CTS_TMP/overridden"
same "every lintian override is used" "$(grep -vc '^\(#\|$\)' packaging/debian/lintian-overrides)" "$(cat "$CTS_TMP/overridden")"

# ------------------------------------------------------------ control
field() { dpkg-deb -f "$DEB" "$1"; }
same "Package" "$PKG" "$(field Package)"
same "Version is Cargo.toml's, revision 1" "$DEB_VERSION" "$(field Version)"
changelog_maintainer=$(sed -n 's/^ -- \(.*>\)  .*/\1/p' packaging/debian/changelog | head -1)
same "Maintainer is the changelog's" "$changelog_maintainer" "$(field Maintainer)"
case $(field Maintainer) in
    *localhost* | *root@*) fail "Maintainer is a real address" "$(field Maintainer)" ;;
    *@*.*) pass "Maintainer is a real address" ;;
    *) fail "Maintainer is a real address" "$(field Maintainer)" ;;
esac

# ------------------------------------------------------------ contents
ROOT=$CTS_TMP/root
dpkg-deb -x "$DEB" "$ROOT"
dpkg-deb -e "$DEB" "$CTS_TMP/control"
same "usr/sbin holds exactly packaging/agents' names" "$(agents names | sorted_words)" "$(ls "$ROOT/usr/sbin" | sorted_words)"
for bin in $(agents binaries); do
    f=$ROOT/usr/sbin/$bin
    [ -f "$f" ] && [ ! -L "$f" ] && [ "$(stat -c %a "$f")" = 755 ] &&
        pass "$bin is an executable file" || fail "$bin is an executable file"
    case $(file -b "$f") in
        *"not stripped"*) fail "$bin is stripped" "$(file -b "$f")" ;;
        *ELF*stripped*) pass "$bin is stripped" ;;
        *) fail "$bin is stripped" "$(file -b "$f")" ;;
    esac
    check_binary_version "$f" "the .deb's"
done
for link in $(agents links); do
    same "${link%%:*} is a symlink to ${link#*:}" "${link#*:}" "$(readlink "$ROOT/usr/sbin/${link%%:*}")"
done
same "man8 holds a page per name" "$(agents names | sed 's/$/.8.gz/' | sorted_words)" "$(ls "$ROOT/usr/share/man/man8" | sorted_words)"
for name in $(agents names); do
    check_man_version "$ROOT/usr/share/man/man8/$name.8.gz" "$name" "the .deb's "
done
# The committed man pages (the -o manpage output that man/ keeps) too.
for name in $(agents names); do
    check_man_version "man/$name.8" "$name" "the tree's man/"
done
# vmware-vbmc's unit and example configuration, as in the tree; the unit is
# not enabled or started by any maintainer script (the daemon needs its
# configuration first).
UNIT=lib/systemd/system/vmware-vbmc.service
EXAMPLE=usr/share/doc/$PKG/vmware-vbmc.toml.example
same "the systemd unit is the tree's, mode 644" "$(sha256sum <vmware-vbmc/vmware-vbmc.service) 644" \
    "$(sha256sum <"$ROOT/$UNIT") $(stat -c %a "$ROOT/$UNIT")"
same "the example configuration is the tree's, mode 644" "$(sha256sum <vmware-vbmc/vmware-vbmc.toml.example) 644" \
    "$(sha256sum <"$ROOT/$EXAMPLE") $(stat -c %a "$ROOT/$EXAMPLE")"
scripts=$(ls "$CTS_TMP/control/"*inst "$CTS_TMP/control/"*rm 2>/dev/null)
[ -n "$scripts" ] && ! grep -l -e systemctl -e deb-systemd -e vmware-vbmc $scripts >/dev/null &&
    pass "no maintainer script enables or starts vmware-vbmc" ||
    fail "no maintainer script enables or starts vmware-vbmc" "$(grep -l -e systemctl -e deb-systemd -e vmware-vbmc $scripts)"
DOC=$ROOT/usr/share/doc/$PKG
same "copyright is DEP-5" "Format: https://www.debian.org/doc/packaging-manuals/copyright-format/1.0/" "$(head -1 "$DOC/copyright")"
grep -q '^License: GPL-2.0+$' "$DOC/copyright" && grep -q '^Files: \*$' "$DOC/copyright" &&
    pass "copyright: every file GPL-2.0+" || fail "copyright: every file GPL-2.0+"
same "changelog.Debian.gz: the newest entry is this version" "$PKG ($DEB_VERSION)" "$(zcat "$DOC/changelog.Debian.gz" | head -1 | cut -d' ' -f1,2)"

# Depends: what dpkg-shlibdeps computes from the packaged binaries, no less
# and no more (it needs a debian/control where it runs).
mkdir -p "$CTS_TMP/shlibs/debian" && : >"$CTS_TMP/shlibs/debian/control"
shlibdeps_args=$(agents binaries | sed "s|^|-e$ROOT/usr/sbin/|")
computed=$(cd "$CTS_TMP/shlibs" && dpkg-shlibdeps -O $shlibdeps_args 2>/dev/null |
    sed -n 's/^shlibs:Depends=//p')
[ -n "$computed" ] && pass "dpkg-shlibdeps computes dependencies ($computed)" || fail "dpkg-shlibdeps computes dependencies"
# cargo-deb leaves libgcc-s1 out on purpose (src/dependencies.rs: -xlibgcc);
# that is sound only while libc6 itself depends on it, as in Debian 12.
same "Depends is dpkg-shlibdeps' own, less libgcc-s1" \
    "$(tr ',' '\n' <<<"$computed" | sed 's/^ *//' | grep -v '^libgcc-s1' | sort | tr '\n' ';')" \
    "$(field Depends | tr ',' '\n' | sed 's/^ *//' | sort | tr '\n' ';')"
dpkg -s libc6 | grep -q '^Depends:.*libgcc-s1' &&
    pass "libc6 depends on libgcc-s1 (cargo-deb may leave it out)" ||
    fail "libc6 depends on libgcc-s1 (cargo-deb may leave it out)" "$(dpkg -s libc6 | grep ^Depends)"

# The maintainer scripts divert exactly packaging/agents' list.
for s in preinst postrm; do
    same "$s diverts packaging/agents' list" "$(agents diverted | sorted_words)" \
        "$(sed -n 's/^ *for f in \(.*\); do$/\1/p' "$CTS_TMP/control/$s" | sorted_words)"
done

# Adding fence_vmware_rest is one line of packaging/agents: its diversion
# follows (its binary and man page arrive with the agent itself).
sed 's/^# \(fence_vmware_rest .*\)/\1/' packaging/agents >"$CTS_TMP/agents-with-rest"
if make --no-print-directory -s deb-scripts DEB_STAGE="$CTS_TMP/rest" AGENTS_LIST="$CTS_TMP/agents-with-rest" >"$CTS_TMP/rest.log" 2>&1; then
    grep -q '/usr/sbin/fence_vmware_rest /usr/share/man/man8/fence_vmware_rest.8.gz' "$CTS_TMP/rest/scripts/preinst" &&
        pass "one more line in packaging/agents: fence_vmware_rest is diverted" ||
        fail "one more line in packaging/agents: fence_vmware_rest is diverted" "$(grep 'for f' "$CTS_TMP/rest/scripts/preinst")"
else
    fail "one more line in packaging/agents: fence_vmware_rest is diverted" "$(tail -2 "$CTS_TMP/rest.log")"
fi

# ------------------------------------------------------------ install, upgrade, remove, purge
dpkg -s fence-agents >/dev/null 2>&1 || abort "fence-agents is installed (cts/install-deps.sh)"
declare -A FA_SUM
for f in $(agents diverted); do
    [ -f "$f" ] || abort "fence-agents ships $f" "missing before installing"
    FA_SUM[$f]=$(sha256sum <"$f")
done

# diverted_intact WHEN: each fence-agents path is diverted by us and its
# file sits intact at PATH.fence-agents.
diverted_intact() {
    local f fails=
    for f in $(agents diverted); do
        [ "$(dpkg-divert --listpackage "$f")" = $PKG ] || fails+=" $f:not-diverted"
        [ "$(dpkg-divert --truename "$f")" = "$f.fence-agents" ] || fails+=" $f:truename"
        [ -f "$f.fence-agents" ] && [ "$(sha256sum <"$f.fence-agents")" = "${FA_SUM[$f]}" ] || fails+=" $f.fence-agents:checksum"
    done
    [ -z "$fails" ] && pass "$1: fence-agents' files diverted intact" || fail "$1: fence-agents' files diverted intact" "$fails"
}
# ours_in_place WHEN: /usr/sbin and man8 hold this package's files.
ours_in_place() {
    local name fails=
    for name in $(agents binaries); do
        [ "$(/usr/sbin/$name --version 2>&1)" = "$VERSION" ] || fails+=" $name"
    done
    for link in $(agents links); do
        [ "$(readlink "/usr/sbin/${link%%:*}")" = "${link#*:}" ] || fails+=" ${link%%:*}"
    done
    for name in $(agents names); do
        zcat "/usr/share/man/man8/$name.8.gz" | grep -q "\"$name $VERSION\"" || fails+=" $name.8.gz"
    done
    cmp -s vmware-vbmc/vmware-vbmc.service "/$UNIT" || fails+=" /$UNIT"
    [ -z "$fails" ] && pass "$1: our programs and man pages in place" || fail "$1: our programs and man pages in place" "$fails"
}
# restored WHEN: no diversion of ours is left, fence-agents' files are back
# byte for byte, and nothing of ours remains.
restored() {
    local f fails=
    dpkg-divert --list | grep -q "by $PKG\$" && fails+=" diversions-left"
    for f in $(agents diverted); do
        [ -f "$f" ] && [ "$(sha256sum <"$f")" = "${FA_SUM[$f]}" ] || fails+=" $f:checksum"
        [ -e "$f.fence-agents" ] && fails+=" $f.fence-agents:left"
    done
    for name in $(agents names); do
        dpkg -S "/usr/sbin/$name" >/dev/null 2>&1 || [ ! -e "/usr/sbin/$name" ] || fails+=" /usr/sbin/$name:left"
    done
    dpkg -S "/$UNIT" >/dev/null 2>&1 || [ ! -e "/$UNIT" ] || fails+=" /$UNIT:left"
    [ -z "$fails" ] && pass "$1: fence-agents' files restored (sha256)" || fail "$1: fence-agents' files restored (sha256)" "$fails"
}

check "dpkg -i installs beside fence-agents" dpkg -i "$DEB"
diverted_intact "installed"
ours_in_place "installed"
check "dpkg -i again (upgrade path) succeeds" dpkg -i "$DEB"
diverted_intact "upgraded"
ours_in_place "upgraded"
check "dpkg -r removes the package" dpkg -r $PKG
restored "removed"
check "dpkg --purge after dpkg -r succeeds" dpkg --purge $PKG
restored "removed, then purged"
check "dpkg -i installs again" dpkg -i "$DEB"
diverted_intact "reinstalled"
check "dpkg --purge removes the package at once" dpkg --purge $PKG
restored "purged"

finish
