# Build and install ostree-encap. Honours DESTDIR and PREFIX (and the usual *DIR overrides).
PREFIX ?= /usr
BINDIR ?= $(PREFIX)/bin
LIBDIR ?= $(PREFIX)/lib
LIBEXECDIR ?= $(PREFIX)/libexec
MANDIR ?= $(PREFIX)/share/man
DATADIR ?= $(PREFIX)/share
CARGO ?= cargo

.PHONY: all install check test
all:
	$(CARGO) build --release -p ostree-encap -p cosa-plugin --bins

install: all
	install -D -m 0755 target/release/ostree-encap $(DESTDIR)$(BINDIR)/ostree-encap
	# coreos-assembler runs `cosa VERB` as /usr/lib/coreos-assembler/cmd-VERB.
	install -D -m 0755 target/release/cmd-buildextend-container $(DESTDIR)$(LIBDIR)/coreos-assembler/cmd-buildextend-container
	# `ostree encap ...` runs libexec/libostree/ext/ostree-encap with "encap" as first argument.
	install -d $(DESTDIR)$(LIBEXECDIR)/libostree/ext
	ln -sfn $(BINDIR)/ostree-encap $(DESTDIR)$(LIBEXECDIR)/libostree/ext/ostree-encap
	rm -rf target/docs
	target/release/ostree-encap generate-docs --man-dir target/docs/man1 --completions-dir target/docs/completions
	install -D -m 0644 -t $(DESTDIR)$(MANDIR)/man1 target/docs/man1/*.1
	install -D -m 0644 target/docs/completions/ostree-encap $(DESTDIR)$(DATADIR)/bash-completion/completions/ostree-encap
	install -D -m 0644 target/docs/completions/_ostree-encap $(DESTDIR)$(DATADIR)/zsh/site-functions/_ostree-encap
	install -D -m 0644 target/docs/completions/ostree-encap.fish $(DESTDIR)$(DATADIR)/fish/vendor_completions.d/ostree-encap.fish

# The fast tier: fmt, clippy, unit tests, integration tests that need only the ostree CLI.
check:
	scripts/check.sh

# The full suite CI runs (interop with ostree-ext, skopeo, umoci, the registry, install).
test:
	scripts/test.sh
