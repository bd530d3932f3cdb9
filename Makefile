# Build and install ostree-encap. Honours DESTDIR and PREFIX (and the usual *DIR overrides).
PREFIX ?= /usr
BINDIR ?= $(PREFIX)/bin
LIBDIR ?= $(PREFIX)/lib
LIBEXECDIR ?= $(PREFIX)/libexec
MANDIR ?= $(PREFIX)/share/man
DATADIR ?= $(PREFIX)/share
CARGO ?= cargo
# Where `all` puts the binaries, and where the man pages and completions are generated
# (build output, never the source tree).
BUILDDIR ?= target/release
DOCSDIR ?= $(BUILDDIR)/docs

.PHONY: all install install-files check test image
all:
	$(CARGO) build --release -p ostree-encap -p cosa-plugin --bins

install: all install-files

# Install what is already built in BUILDDIR; builds nothing (tests/install.rs uses this).
install-files:
	install -D -m 0755 $(BUILDDIR)/ostree-encap $(DESTDIR)$(BINDIR)/ostree-encap
	# coreos-assembler runs `cosa VERB` as /usr/lib/coreos-assembler/cmd-VERB.
	install -D -m 0755 $(BUILDDIR)/cmd-buildextend-container $(DESTDIR)$(LIBDIR)/coreos-assembler/cmd-buildextend-container
	install -D -m 0755 $(BUILDDIR)/cmd-buildextend-container-manifest $(DESTDIR)$(LIBDIR)/coreos-assembler/cmd-buildextend-container-manifest
	# `ostree encap ...` runs libexec/libostree/ext/ostree-encap with "encap" as first argument.
	install -d $(DESTDIR)$(LIBEXECDIR)/libostree/ext
	ln -sfn $(BINDIR)/ostree-encap $(DESTDIR)$(LIBEXECDIR)/libostree/ext/ostree-encap
	rm -rf $(DOCSDIR)
	$(BUILDDIR)/ostree-encap generate-docs --man-dir $(DOCSDIR)/man1 --completions-dir $(DOCSDIR)/completions
	install -D -m 0644 -t $(DESTDIR)$(MANDIR)/man1 $(DOCSDIR)/man1/*.1
	install -D -m 0644 $(DOCSDIR)/completions/ostree-encap $(DESTDIR)$(DATADIR)/bash-completion/completions/ostree-encap
	install -D -m 0644 $(DOCSDIR)/completions/_ostree-encap $(DESTDIR)$(DATADIR)/zsh/site-functions/_ostree-encap
	install -D -m 0644 $(DOCSDIR)/completions/ostree-encap.fish $(DESTDIR)$(DATADIR)/fish/vendor_completions.d/ostree-encap.fish

# The fast tier: fmt, clippy, unit tests, integration tests that need only the ostree CLI.
check:
	scripts/check.sh

# The full suite CI runs (interop with ostree-ext, skopeo, umoci, the registry, install).
test:
	scripts/test.sh

# The tool as an OCI image, made by itself from this machine's Debian 12 files
# (target/image/ostree-encap.ociarchive; scripts/image.sh says what is in it).
image:
	scripts/image.sh
