#!/usr/bin/env bash
# Install everything ostree-encap needs to build and test on Debian 12, then build it.
# Idempotent; run as root (or with sudo).
set -euo pipefail
cd "$(dirname "$0")/.."

packages=(
  ostree libostree-dev libglib2.0-dev libzstd-dev pkg-config gcc  # build: libostree via the ostree crate
  skopeo umoci                                                      # check and copy images
  libsqlite3-dev                                                    # rpm database reader (rusqlite)
  gnupg attr rpm                                                    # fixtures: signing keys, xattrs, rpm packages
  docker-registry apache2-utils                                     # push tests: loopback registry, htpasswd
  openssl libssl-dev                                                # signing tests: OpenSSL and sigstore-rs (tests/cosign-verifier) check our signatures
  python3-venv                                                      # SBOM tests: the SPDX validator's environment
  buildah                                                           # pipeline tests: the tool's image as a Containerfile stage
)
missing=()
for p in "${packages[@]}"; do
  dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing+=("$p")
done
if ((${#missing[@]})); then
  echo "setup: installing ${missing[*]}" >&2
  export DEBIAN_FRONTEND=noninteractive
  apt-get update -qq
  # Debian's docker-registry package tries to start its service; there may be no init.
  apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
fi
# The SPDX project's validator (tests/sbom.rs), from PyPI, pinned, in the build directory.
if [ ! -x target/spdx-tools/bin/pyspdxtools ]; then
  echo "setup: installing spdx-tools 0.8.3 (SPDX validator) into target/spdx-tools" >&2
  /usr/bin/python3 -m venv target/spdx-tools
  target/spdx-tools/bin/pip install --quiet --disable-pip-version-check 'spdx-tools==0.8.3'
fi
# containers/image's policy check of sigstore signatures (tests/signing.rs): Debian 12's skopeo
# is built with sigstore disabled, Debian 13's is not. Its binary and the libraries it links
# (glibc 2.38+ among them) come from Debian 13's signed archive into target/policy-skopeo, run
# through that glibc's own loader; nothing is installed into the system.
if [ ! -x target/policy-skopeo/bin/skopeo ]; then
  echo "setup: fetching Debian 13's skopeo (sigstore policy checks) into target/policy-skopeo" >&2
  d="$PWD/target/policy-skopeo"
  rm -rf "$d" && mkdir -p "$d/apt/lists/partial" "$d/apt/cache/archives/partial" "$d/debs" "$d/root" "$d/bin"
  # The Debian mirror this machine's own apt sources name (the one serving its suite, in
  # deb822 .sources or one-line .list files): no package host is named here.
  suite=$(. /etc/os-release && echo "${VERSION_CODENAME:-bookworm}")
  mirror=$( {
    cat /etc/apt/sources.list.d/*.sources 2>/dev/null | awk -v s="$suite" '
      /^URIs:/ {u = $2}
      /^Suites:/ {for (i = 2; i <= NF; i++) if ($i == s) {print u; exit}}' || true
    grep -hE "^deb[[:space:]]" /etc/apt/sources.list /etc/apt/sources.list.d/*.list 2>/dev/null \
      | awk -v s="$suite" '$3 == s {print $2; exit}' || true
  } | head -n 1)
  [ -n "$mirror" ] || { echo "setup: no Debian mirror for $suite in the apt sources" >&2; exit 1; }
  echo "deb $mirror trixie main" >"$d/apt/sources.list"
  apt_opts=(-o "Dir::Etc::sourcelist=$d/apt/sources.list" -o Dir::Etc::sourceparts=-
    -o "Dir::State::Lists=$d/apt/lists" -o "Dir::Cache=$d/apt/cache" -o APT::Sandbox::User=root)
  apt-get "${apt_opts[@]}" update -qq
  (cd "$d/debs" && apt-get "${apt_opts[@]}" download -qq \
    skopeo libc6 libgpgme11t64 libassuan9 libgpg-error0 libsqlite3-0)
  for deb in "$d"/debs/*.deb; do dpkg-deb -x "$deb" "$d/root"; done
  rm -rf "$d/apt" "$d/debs"
  cat >"$d/bin/skopeo" <<WRAP
#!/bin/sh
exec "$d/root/usr/lib64/ld-linux-x86-64.so.2" --library-path "$d/root/usr/lib/x86_64-linux-gnu" "$d/root/usr/bin/skopeo" "\$@"
WRAP
  chmod +x "$d/bin/skopeo"
  "$d/bin/skopeo" --version >&2
fi
command -v cargo >/dev/null || { echo "setup: cargo not found; install Rust (rustup) first" >&2; exit 1; }
echo "setup: building ostree-encap (release)" >&2
cargo build --release --quiet -p ostree-encap -p cosa-plugin --bins
