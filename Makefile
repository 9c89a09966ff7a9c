# Build, install and package the agents. `make install` puts the binaries
# where Pacemaker looks for fence agents (/usr/sbin and nowhere else).
PREFIX  ?= /usr
SBINDIR ?= $(PREFIX)/sbin
MANDIR  ?= $(PREFIX)/share/man/man8
DESTDIR ?=
CARGO   ?= cargo
BINDIR   = target/release

AGENTS   = fence_vmware fence_vmware_esxi
SYMLINKS = fence_vmware_soap
MANPAGES = man/fence_vmware.8 man/fence_vmware_soap.8 man/fence_vmware_esxi.8

.PHONY: all build install uninstall deb check demo

all: build

build:
	$(CARGO) build --release -p fence-vmware -p fence-vmware-esxi

# Debian's fence-agents owns /usr/sbin/fence_vmware and fence_vmware_soap;
# overwriting its files behind dpkg's back would be undone by its next
# upgrade. The .deb diverts them properly; a plain install refuses unless
# told otherwise.
install: build
	@if [ -z "$(DESTDIR)" ] && [ -z "$(FORCE)" ] && \
	    dpkg -S $(SBINDIR)/fence_vmware >/dev/null 2>&1; then \
	  echo "$(SBINDIR)/fence_vmware belongs to a Debian package; install the .deb (make deb) which diverts it, or run make install FORCE=1" >&2; \
	  exit 1; \
	fi
	install -d $(DESTDIR)$(SBINDIR) $(DESTDIR)$(MANDIR)
	for a in $(AGENTS); do install -m 0755 $(BINDIR)/$$a $(DESTDIR)$(SBINDIR)/$$a; done
	ln -sf fence_vmware $(DESTDIR)$(SBINDIR)/fence_vmware_soap
	install -m 0644 $(MANPAGES) $(DESTDIR)$(MANDIR)/

uninstall:
	for a in $(AGENTS) $(SYMLINKS); do rm -f $(DESTDIR)$(SBINDIR)/$$a; done
	for m in $(MANPAGES); do rm -f $(DESTDIR)$(MANDIR)/$$(basename $$m); done

deb: build
	packaging/debian/build-deb.sh

check:
	./test.sh

demo:
	./demo.sh
