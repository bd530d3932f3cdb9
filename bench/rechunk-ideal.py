#!/usr/bin/env python3
"""The ideal download of an update between two plain trees, for bench/rechunk: gzip -6 of
every regular file of NEW whose content is not that of the file at the same path in OLD
(new or changed files), summed, each file once (a file hard-linked under several names is
one file to send); symlinks, directories and /dev /proc /sys /run /tmp left out.
What any layer-based image must at least send, and what chunkers are compared against.

Usage: rechunk-ideal.py OLD NEW   -> "N changed files, RAW MB raw, ideal GZ MB gzip", and the
ideal in bytes on a second line.
"""
import os, sys, zlib, hashlib
a, b = sys.argv[1], sys.argv[2]
skip = ("dev", "proc", "sys", "run", "tmp")
def digest(p):
    h = hashlib.sha256()
    with open(p, "rb") as f:
        for chunk in iter(lambda: f.read(1 << 20), b""):
            h.update(chunk)
    return h.digest()
n = raw = gz = 0
seen = set()  # (device, inode) of the files counted
for root, dirs, files in os.walk(b):
    rel = os.path.relpath(root, b)
    if rel.split(os.sep)[0] in skip:
        dirs[:] = []
        continue
    for name in files:
        pb = os.path.join(root, name)
        if os.path.islink(pb) or not os.path.isfile(pb):
            continue
        st = os.lstat(pb)
        if (st.st_dev, st.st_ino) in seen:
            continue
        pa = os.path.join(a, rel, name)
        if os.path.isfile(pa) and not os.path.islink(pa) and os.path.getsize(pa) == os.path.getsize(pb) and digest(pa) == digest(pb):
            continue
        seen.add((st.st_dev, st.st_ino))
        data = open(pb, "rb").read()
        c = zlib.compressobj(6, zlib.DEFLATED, 31)
        gz += len(c.compress(data) + c.flush())
        raw += len(data); n += 1
print(f"{n} changed files, {raw/1e6:.2f} MB raw, ideal {gz/1e6:.2f} MB gzip")
print(gz)
