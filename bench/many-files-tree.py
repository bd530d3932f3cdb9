#!/usr/bin/env python3
"""Generate a many-files tree for bench/many-files, deterministically (same N, same bytes).

The recipe, shaped after desktop and developer images (icons, locales, Python and JS sources,
headers), where per-file cost dominates rather than bytes:
- N content paths in directories of 1-400 entries (log-uniform), three to five levels deep
  under usr/share, usr/lib and usr/include.
- Sizes: 70% 32 B-512 B, 25% 512 B-4 KiB, 5% 4-32 KiB (mean ~1.5 KB), text cut from a fixed
  word pool with the path as first line, so every file is distinct and compresses like text.
- 3% symlinks (relative, to a sibling), 1% hard links to an earlier file, 1% files that
  repeat another file's content (the same content object at two paths).
- A dpkg database at var/lib/dpkg: one package per ~100 paths (3,000 at N=300k), grouped
  into source packages of 1-4 binaries, each owning whole directories; 5% of the
  directories belong to no package (caches, generated files).

With SHAPE "small" (the shape issue 15 measured first): every file 60-140 bytes and
1,000 entries per directory, links and the dpkg database as above.

Usage: many-files-tree.py N DIR [mixed|small]   (DIR must not exist; default mixed)
"""
import os
import random
import sys

n, top = int(sys.argv[1]), sys.argv[2]
shape = sys.argv[3] if len(sys.argv) > 3 else "mixed"
if shape not in ("mixed", "small"):
    sys.exit(f"unknown shape {shape!r}: mixed or small")
rng = random.Random(20261201)
words = ("icon theme locale message python module header include config share data index "
         "cache value return import from class def self none true false string object list "
         "gtk glib cairo pango font color size width height layer chunk ostree commit").split()
pool = " ".join(rng.choice(words) for _ in range(200_000)).encode()  # ~1.3 MB of text


def size():
    if shape == "small":
        return rng.randint(60, 140)
    r = rng.random()
    lo, hi = (32, 512) if r < 0.70 else (512, 4096) if r < 0.95 else (4096, 32768)
    return int(lo * (hi / lo) ** rng.random())


os.makedirs(top)
packages = []  # (binary, source, [paths])
made = 0
files = []  # regular files made so far, for hard links and repeats
dirs = 0
roots = ["usr/share/icons", "usr/share/locale", "usr/lib/python3/dist-packages",
         "usr/share/javascript", "usr/include", "usr/share/doc", "usr/lib/x86_64-linux-gnu"]
while made < n:
    dirs += 1
    depth = rng.randint(1, 3)
    rel = os.path.join(rng.choice(roots), *(f"d{rng.randrange(40)}" for _ in range(depth)),
                       f"dir{dirs}")
    path = os.path.join(top, rel)
    os.makedirs(path, exist_ok=True)
    count = min(n - made, 1000 if shape == "small" else int(400 ** rng.random()) + 1)
    owned = rng.random() >= 0.05
    if owned and (not packages or rng.random() < 0.5 or len(packages[-1][2]) > 100):
        pkg = f"pkg{len(packages)}"
        src = packages[-1][1] if packages and rng.random() < 0.4 else f"src{len(packages)}"
        packages.append((pkg, src, []))
    for i in range(count):
        name = f"f{i}.txt"
        p = os.path.join(path, name)
        r = rng.random()
        if r < 0.03 and i > 0:
            os.symlink(f"f{i - 1}.txt", p)
        elif r < 0.04 and files:
            os.link(rng.choice(files), p)
        else:
            if r < 0.05 and files:
                with open(rng.choice(files), "rb") as f:
                    data = f.read()
            else:
                s = size()
                off = rng.randrange(len(pool) - s)
                data = (rel + "/" + name + "\n").encode() + pool[off:off + s]
            with open(p, "wb") as f:
                f.write(data)
            files.append(p)
        if owned:
            packages[-1][2].append("/" + os.path.join(rel, name))
    made += count

info = os.path.join(top, "var/lib/dpkg/info")
os.makedirs(info)
with open(os.path.join(top, "var/lib/dpkg/status"), "w") as st:
    for pkg, src, paths in packages:
        st.write(f"Package: {pkg}\nStatus: install ok installed\nArchitecture: amd64\n"
                 f"Source: {src}\nVersion: 1.0-1\n\n")
        listed = set()
        for p in paths:
            d = os.path.dirname(p)
            while d != "/" and d not in listed:
                listed.add(d)
                d = os.path.dirname(d)
        with open(os.path.join(info, f"{pkg}.list"), "w") as f:
            for d in sorted(listed):
                f.write(d + "\n")
            for p in paths:
                f.write(p + "\n")
print(f"{made} paths, {dirs} leaf directories, {len(packages)} packages", file=sys.stderr)
