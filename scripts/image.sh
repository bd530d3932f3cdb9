#!/usr/bin/env bash
# make image: ostree-encap as an OCI image (oci-archive), built by ostree-encap itself.
#
# The root filesystem is Debian 12's own files, taken from this machine's installed packages
# (so no package host is named or fetched here): ostree-encap (release build, stripped),
# skopeo (push, registries) and ostree (`delta`, `mirror`), every shared library they load
# (their `ldd` closure) and the dynamic loader; skopeo's /etc/containers policy and
# registries, CA certificates, os-release, passwd/group for root, /tmp. The packages those
# files come from are recorded in /var/lib/dpkg (their `status` stanzas, and each `.list`
# holding the files taken), so `--sbom` lists them and chunking groups files by package.
# Then `ostree-encap --rootfs TREE --format plain` makes the image: labels name the version
# and the source revision, the creation time is the revision's commit time (or
# SOURCE_DATE_EPOCH), so the same revision on the same package set gives the same digest.
#
# Usage: scripts/image.sh [OUT]   (default target/image/ostree-encap.ociarchive; prints the
#   manifest digest and size). BIN=path uses that binary instead of a release build.
set -euo pipefail
top=$(cd "$(dirname "$0")/.." && pwd)
out=${1:-$top/target/image/ostree-encap.ociarchive}
if [ -z "${BIN:-}" ]; then
  (cd "$top" && cargo build --release --quiet --bin ostree-encap)
  BIN=$top/target/release/ostree-encap
fi
version=$(cd "$top" && cargo pkgid -p ostree-encap | sed 's/.*[#@]//')
revision=$(git -C "$top" rev-parse HEAD 2>/dev/null || echo unknown)
export SOURCE_DATE_EPOCH=${SOURCE_DATE_EPOCH:-$(git -C "$top" log -1 --format=%ct 2>/dev/null || echo 0)}
work=$(mktemp -d "${TMPDIR:-/tmp}/ostree-encap-image.XXXXXX")
trap 'rm -rf "$work"' EXIT
tree=$work/tree
mkdir -p "$tree"/usr/{bin,lib,lib64,sbin} "$tree"/etc "$tree"/var/lib/dpkg/info "$tree"/root
# Merged /usr, as Debian 12 has it.
for d in bin lib lib64 sbin; do ln -s "usr/$d" "$tree/$d"; done
install -d -m 1777 "$tree/tmp" "$tree/var/tmp"
chmod 0700 "$tree/root"

# put HOSTPATH: the file at HOSTPATH (symlinks followed), at the same path in the tree.
put() {
  mkdir -p "$tree$(dirname "$1")"
  cp -L --preserve=mode "$1" "$tree$1"
  echo "$1" >>"$work/files"
}
install -m 0755 "$BIN" "$tree/usr/bin/ostree-encap"
strip "$tree/usr/bin/ostree-encap"
programs=(/usr/bin/skopeo /usr/bin/ostree)
for p in "${programs[@]}"; do put "$p"; done
# The shared libraries, by the paths the loader finds them at.
for p in "$tree/usr/bin/ostree-encap" "${programs[@]}"; do
  ldd "$p" | awk '/=> \// {print $3} /^\t\/[^ ]* \(/ {print $1}'
done | sort -u >"$work/libs"
while read -r lib; do put "$lib"; done <"$work/libs"
for f in /etc/containers/policy.json /etc/containers/registries.conf \
  /etc/ssl/certs/ca-certificates.crt /etc/os-release /usr/lib/os-release; do
  [ -e "$f" ] && put "$f"
done
printf 'root:x:0:0:root:/root:/usr/bin/ostree-encap\n' >"$tree/etc/passwd"
printf 'root:x:0:\n' >"$tree/etc/group"

# The dpkg database of what was taken: each package's stanza, and the files taken from it.
: >"$work/owners"
while read -r f; do
  # dpkg knows a file by the path its package ships (/lib/... or /usr/lib/...).
  for cand in "$f" "$(realpath "$f")" "${f#/usr}"; do
    if pkg=$(dpkg-query -S "$cand" 2>/dev/null | head -1 | cut -d: -f1); then
      printf '%s\t%s\n' "$pkg" "$cand" >>"$work/owners"
      break
    fi
  done
done <"$work/files"
: >"$tree/var/lib/dpkg/status"
for pkg in $(cut -f1 "$work/owners" | sort -u); do
  dpkg-query -s "$pkg" >>"$tree/var/lib/dpkg/status"
  echo >>"$tree/var/lib/dpkg/status"
  awk -F'\t' -v p="$pkg" '$1 == p {print $2}' "$work/owners" | sort -u \
    >"$tree/var/lib/dpkg/info/${pkg%%:*}.list"
done

cat >"$work/config.json" <<EOF
{"Entrypoint": ["/usr/bin/ostree-encap"], "Env": ["PATH=/usr/bin"], "WorkingDir": "/"}
EOF
mkdir -p "$(dirname "$out")"
"$BIN" -q --rootfs "$tree" --format plain --oci-archive "$out" --tag "$version" \
  --config "$work/config.json" \
  --label "org.opencontainers.image.title=ostree-encap" \
  --label "org.opencontainers.image.version=$version" \
  --label "org.opencontainers.image.revision=$revision" \
  --json >"$work/summary.json"
digest=$(python3 -c 'import json,sys; print(json.load(open(sys.argv[1]))["manifest_digest"])' "$work/summary.json")
echo "image $out:$version $digest ($(du -k "$out" | cut -f1) KiB; $(wc -l <"$work/files") files from $(cut -f1 "$work/owners" | sort -u | wc -l) packages)"
