#!/usr/bin/env bash
# Quick start: set up the machine, make a small demo commit with the ostree CLI, encapsulate
# it, verify it, and show what skopeo sees. Output goes to ./demo (or $1).
set -euo pipefail
cd "$(dirname "$0")/.."
scripts/setup.sh
out=$(realpath -m "${1:-demo}")
rm -rf "$out"; mkdir -p "$out/tree/usr/bin" "$out/tree/usr/etc" "$out/tree/usr/lib/modules/6.1.0-demo"
printf '#!/bin/sh\necho hello from ostree-encap\n' > "$out/tree/usr/bin/hello"; chmod 755 "$out/tree/usr/bin/hello"
echo demo > "$out/tree/usr/etc/hostname"
head -c 2000000 /dev/zero | tr '\0' 'k' > "$out/tree/usr/lib/modules/6.1.0-demo/vmlinuz"
ostree --repo="$out/repo" init --mode=archive
commit=$(ostree --repo="$out/repo" commit --branch=demo/x86_64/stable --tree=dir="$out/tree" \
  --subject="ostree-encap demo" --timestamp=2025-01-01T00:00:00Z \
  --add-metadata-string=version=1.0 --bootable)
echo "demo commit: $commit"
bin=target/release/ostree-encap
set -x
$bin --repo "$out/repo" --ref demo/x86_64/stable --oci-dir "$out/oci" --tag stable
$bin verify --oci-dir "$out/oci" --tag stable --repo "$out/repo"
skopeo inspect "oci:$out/oci:stable"
