# Build, install and package the agents. `make install` puts the binaries
# where Pacemaker looks for fence agents (/usr/sbin and nowhere else).
PREFIX  ?= /usr
SBINDIR ?= $(PREFIX)/sbin
MANDIR  ?= $(PREFIX)/share/man/man8
# vmware-vbmc's systemd unit and example configuration.
UNITDIR ?= /lib/systemd/system
DOCDIR  ?= $(PREFIX)/share/doc/fence-vmware-rs
DESTDIR ?=
CARGO   ?= cargo

# Every name, binary and symlink comes from packaging/agents (one line per
# program in /usr/sbin), which the .deb, the RPM and the tests read too,
# all through packaging/agents-query.
# AGENTS_LIST=FILE tries another list (the tests add fence_vmware_rest).
AGENTS_LIST ?= packaging/agents
QUERY     = packaging/agents-query
ifneq ($(shell $(QUERY) names $(AGENTS_LIST) >/dev/null && echo ok),ok)
$(error packaging/agents is unreadable or malformed (see the message above))
endif
NAMES    := $(shell $(QUERY) names $(AGENTS_LIST))
BINARIES := $(shell $(QUERY) binaries $(AGENTS_LIST))
LINKS    := $(shell $(QUERY) links $(AGENTS_LIST))
MANPAGES := $(foreach n,$(NAMES),man/$(n).8)

VERSION := $(shell sed -n 's/^version = "\(.*\)"/\1/p' Cargo.toml | head -1)
DIST     = fence-vmware-rs-$(VERSION)
CARGO_TARGET_DIR ?= $(CURDIR)/target
BINDIR   = $(CARGO_TARGET_DIR)/release

.PHONY: all build install install-bin install-links install-man install-unit uninstall \
	deb deb-scripts dist spec rpm check demo fuzz

all: build

build:
	$(CARGO) build --release --locked -p fence-vmware -p fence-vmware-esxi -p vmware-vbmc

# Debian's fence-agents owns /usr/sbin/fence_vmware and fence_vmware_soap;
# overwriting its files behind dpkg's back would be undone by its next
# upgrade. The .deb diverts them properly; a plain install refuses unless
# told otherwise.
install: build
	$(MAKE) --no-print-directory install-bin install-links install-man install-unit
	install -D -m 0644 vmware-vbmc/vmware-vbmc.toml.example $(DESTDIR)$(DOCDIR)/vmware-vbmc.toml.example

install-bin:
	@if [ -z "$(DESTDIR)" ] && [ -z "$(FORCE)" ]; then \
	  for n in $(NAMES); do \
	    if dpkg -S $(SBINDIR)/$$n >/dev/null 2>&1; then \
	      echo "$(SBINDIR)/$$n belongs to a Debian package; install the .deb (make deb) which diverts it, or run make install FORCE=1" >&2; \
	      exit 1; \
	    fi; \
	  done; \
	fi
	install -d $(DESTDIR)$(SBINDIR)
	for b in $(BINARIES); do install -m 0755 $(BINDIR)/$$b $(DESTDIR)$(SBINDIR)/$$b; done

install-links:
	install -d $(DESTDIR)$(SBINDIR)
	for l in $(LINKS); do ln -sfn $${l#*:} $(DESTDIR)$(SBINDIR)/$${l%%:*}; done

install-man:
	install -d $(DESTDIR)$(MANDIR)
	install -m 0644 $(MANPAGES) $(DESTDIR)$(MANDIR)/

# vmware-vbmc's unit, not enabled: the daemon needs its configuration first.
install-unit:
	install -D -m 0644 vmware-vbmc/vmware-vbmc.service $(DESTDIR)$(UNITDIR)/vmware-vbmc.service

uninstall:
	for n in $(NAMES); do rm -f $(DESTDIR)$(SBINDIR)/$$n $(DESTDIR)$(MANDIR)/$$n.8; done
	rm -f $(DESTDIR)$(UNITDIR)/vmware-vbmc.service $(DESTDIR)$(DOCDIR)/vmware-vbmc.toml.example

# The .deb: cargo-deb (pinned in cts/install-deps.sh) reads
# [package.metadata.deb] in agents/vmware/Cargo.toml. It packages the
# release binaries of `make build` (stripping them, and computing Depends
# with dpkg-shlibdeps) plus what the rules below stage from packaging/agents:
# the symlinks and the maintainer scripts with the list of diverted paths.
# Staged like debhelper stages into debian/tmp (cargo-deb warns about
# non-binary sources under target/).
DEB_STAGE = packaging/debian/tmp
deb: build deb-scripts
	rm -rf $(DEB_STAGE)/root
	$(MAKE) --no-print-directory install-links install-man DESTDIR=$(CURDIR)/$(DEB_STAGE)/root PREFIX=/usr
	$(CARGO) deb --locked -p fence-vmware --no-build --output target/debian/

# preinst and postrm divert, then give back, the fence-agents paths that
# packaging/agents names a Debian package for (binary and man page).
deb-scripts:
	rm -rf $(DEB_STAGE)/scripts
	install -d $(DEB_STAGE)/scripts
	diverted=$$($(QUERY) diverted $(AGENTS_LIST) | tr "\n" " "); \
	for s in preinst postrm; do \
	  sed "s|@DIVERTED@|$${diverted% }|" packaging/debian/$$s > $(DEB_STAGE)/scripts/$$s; \
	  chmod 0755 $(DEB_STAGE)/scripts/$$s; \
	done

# The source tarball the RPM is built from: the tracked files of the work
# tree, the crates vendored (rpmbuild builds offline), and the spec with the
# version and the agents of packaging/agents written in. The vendored crates
# are kept between runs (with their times) until Cargo.lock changes, so that
# rpmbuild's own target directory stays fresh for them.
DIST_STAGE = target/package/dist
VENDOR     = target/package/vendor
dist: spec $(VENDOR)/.stamp
	rm -rf $(DIST_STAGE) && install -d $(DIST_STAGE)/$(DIST)
	git ls-files -z | tar --null -T - -cf - | tar -xf - -C $(DIST_STAGE)/$(DIST)
	cp target/package/rpm/fence-vmware-rs.spec $(DIST_STAGE)/$(DIST)/
	cp -a $(VENDOR)/vendor $(VENDOR)/.cargo $(DIST_STAGE)/$(DIST)/
	install -d target/dist
	tar --sort=name --owner=0 --group=0 --numeric-owner \
	  -C $(DIST_STAGE) -czf target/dist/$(DIST).tar.gz $(DIST)
	@echo target/dist/$(DIST).tar.gz

$(VENDOR)/.stamp: Cargo.lock
	rm -rf $(VENDOR) && install -d $(VENDOR)/.cargo
	$(CARGO) vendor --locked --versioned-dirs $(VENDOR)/vendor > $(VENDOR)/.cargo/config.toml.tmp
	sed 's|^directory = .*|directory = "vendor"|' $(VENDOR)/.cargo/config.toml.tmp > $(VENDOR)/.cargo/config.toml
	rm $(VENDOR)/.cargo/config.toml.tmp
	touch $@

spec:
	install -d target/package/rpm
	packaging/rpm/make-spec.sh $(VERSION) packaging/rpm/fence-vmware-rs.spec.in \
	  packaging/debian/changelog $(AGENTS_LIST) > target/package/rpm/fence-vmware-rs.spec

# The RPM, built by rpmbuild from `make dist`'s tarball. On a Debian host
# rpm's database knows none of the BuildRequires, hence --nodeps there, and
# rpm's brp-compress (man pages) needs bash but says #!/bin/sh, which is dash
# there. The Packager is the project's maintainer, as in the .deb (given as
# %packager, not as a spec tag: it names who builds, not what is built).
# The cargo target directory outlives rpmbuild's build tree, so that a
# second run compiles only what changed. (Sharing target/ with `make build`
# does not work: the same crates from two source paths make each other
# stale.)
RPMBUILD_FLAGS ?= $(if $(wildcard /etc/debian_version),--nodeps --define "__brp_compress bash %{_rpmconfigdir}/brp-compress %{?_prefix}")
PACKAGER ?= $(shell sed -n 's/^ -- \(.*>\)  .*/\1/p' packaging/debian/changelog | head -1)
rpm: dist
	rpmbuild -ta $(RPMBUILD_FLAGS) --define "_topdir $(CURDIR)/target/rpmbuild" \
	  $(if $(PACKAGER),--define "packager $(PACKAGER)") \
	  --define "cargo_target_dir $(CURDIR)/target/rpmbuild/cargo" target/dist/$(DIST).tar.gz

check:
	./test.sh

# Fuzzing: each target of fuzz/ (or those in FUZZ_TARGETS) for FUZZ_RUNS
# executions (10^6 by default) with libFuzzer through cargo-fuzz, on the
# stable toolchain; the table of executions, time and coverage is written
# to target/fuzz/results.md. Not run by `make check`, which replays the
# committed corpora and crash inputs instead (fuzz/tests/replay.rs).
fuzz:
	fuzz/run.sh $(FUZZ_TARGETS)

demo:
	./demo.sh
