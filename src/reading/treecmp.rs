//! Comparing two directory trees the way a plain image must reproduce its input (`verify`
//! of a `--format plain` image against `--rootfs TREE`): every path with its type, owner,
//! mode, size and content, symlink target, device numbers, xattrs (not `security.selinux`,
//! which plain images leave to deployment) and which paths are one inode. Not times: no time
//! on disk reaches a layer.
//!
//! Both trees are walked together in name order, one directory at a time, so memory does
//! not grow with the tree (only files with several links are remembered, to compare their
//! groups).

use anyhow::{Context, Result};
use std::collections::HashMap;
use std::io::Read;
use std::os::unix::ffi::OsStrExt;
use std::os::unix::fs::MetadataExt;
use std::path::{Path, PathBuf};

/// Differences listed in full before the rest are only counted.
const SHOWN_DIFFERENCES: usize = 20;

/// What the comparison found.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Comparison {
    /// Paths compared (in both trees).
    pub paths: usize,
    /// The first differences, each `PATH: what`.
    pub differences: Vec<String>,
    /// All differences, including those not listed.
    pub total_differences: usize,
}

/// One side of the comparison: a root, and where it keeps `etc` (a tree in the ostree
/// layout has `usr/etc`, which an image shows at `etc`).
struct Side {
    root: PathBuf,
    etc: encapsulate::rootfs::EtcOnDisk,
    /// Inode → first path seen, for files with several links.
    links: HashMap<(u64, u64), String>,
}

impl Side {
    fn new(root: &Path) -> Side {
        Side {
            root: root.to_owned(),
            etc: encapsulate::rootfs::EtcOnDisk::of(root),
            links: HashMap::new(),
        }
    }

    /// Where image path `p` is in this tree (the rule `--rootfs` reads trees by).
    fn disk(&self, p: &str) -> PathBuf {
        self.root.join(self.etc.disk_path(p).as_ref())
    }

    /// The names in the directory at image path `dir`, sorted, as image paths see them.
    fn names(&self, dir: &str) -> Result<Vec<Vec<u8>>> {
        let names = self
            .etc
            .image_names(&self.root, dir)
            .with_context(|| format!("listing {}", self.disk(dir).display()))?;
        Ok(names.into_iter().map(|n| n.as_bytes().to_vec()).collect())
    }

    /// The facts of image path `p`, as one comparable line.
    fn facts(&mut self, p: &str) -> Result<(String, bool)> {
        let path = self.disk(p);
        let md = std::fs::symlink_metadata(&path)
            .with_context(|| format!("reading {}", path.display()))?;
        let ft = md.file_type();
        let what = if ft.is_dir() {
            "directory".to_string()
        } else if ft.is_symlink() {
            let t = std::fs::read_link(&path)?;
            format!("symlink to {}", t.display())
        } else if ft.is_file() {
            let group = if md.nlink() > 1 {
                let first = self
                    .links
                    .entry((md.dev(), md.ino()))
                    .or_insert_with(|| p.to_string());
                format!(", one file with {first}")
            } else {
                String::new()
            };
            format!("file {} bytes sha256:{}{group}", md.len(), file_sha(&path)?)
        } else {
            format!(
                "node {:o} device {}",
                md.mode() & ostree_format::S_IFMT,
                md.rdev()
            )
        };
        let mut xattrs: Vec<(Vec<u8>, Vec<u8>)> = Vec::new();
        for name in xattr::list(&path).with_context(|| format!("xattrs of {}", path.display()))? {
            if name.as_bytes() == ostree_format::SELINUX_XATTR {
                continue;
            }
            if let Some(v) = xattr::get(&path, &name)? {
                xattrs.push((name.as_bytes().to_vec(), v));
            }
        }
        xattrs.sort();
        let xattrs: Vec<String> = xattrs
            .iter()
            .map(|(n, v)| format!("{}={}", String::from_utf8_lossy(n), hex::encode(v)))
            .collect();
        Ok((
            format!(
                "{what}, mode {:o}, owner {}:{}, xattrs [{}]",
                md.mode() & 0o7777,
                md.uid(),
                md.gid(),
                xattrs.join(" ")
            ),
            ft.is_dir(),
        ))
    }
}

fn file_sha(path: &Path) -> Result<String> {
    use sha2::{Digest, Sha256};
    let mut f = std::fs::File::open(path).with_context(|| format!("reading {}", path.display()))?;
    let mut h = Sha256::new();
    let mut buf = vec![0u8; 256 * 1024];
    loop {
        let n = f.read(&mut buf)?;
        if n == 0 {
            break;
        }
        h.update(&buf[..n]);
    }
    Ok(hex::encode(h.finalize()))
}

/// Compare `image` (an unpacked image) with `tree`, leaving out the tree paths `prune`
/// (normalized, as `--prune` takes them).
///
/// # Errors
/// A path of either tree that cannot be read.
pub fn compare(image: &Path, tree: &Path, prune: &[String]) -> Result<Comparison> {
    let mut a = Side::new(image);
    let mut b = Side::new(tree);
    let mut out = Comparison::default();
    let mut stack = vec![String::new()];
    let note = |out: &mut Comparison, d: String| {
        out.total_differences += 1;
        if out.differences.len() < SHOWN_DIFFERENCES {
            out.differences.push(d);
        }
    };
    while let Some(dir) = stack.pop() {
        let (na, nb) = (a.names(&dir)?, b.names(&dir)?);
        let (mut i, mut j) = (0, 0);
        while i < na.len() || j < nb.len() {
            let order = match (na.get(i), nb.get(j)) {
                (Some(x), Some(y)) => x.cmp(y),
                (Some(_), None) => std::cmp::Ordering::Less,
                _ => std::cmp::Ordering::Greater,
            };
            let name = match order {
                std::cmp::Ordering::Less => &na[i],
                _ => &nb[j],
            };
            let p = ostree_format::join(&dir, &String::from_utf8_lossy(name));
            let pruned = prune.contains(&p);
            match order {
                std::cmp::Ordering::Less => {
                    i += 1;
                    note(&mut out, format!("{p}: in the image, not in the tree"));
                }
                std::cmp::Ordering::Greater => {
                    j += 1;
                    if !pruned {
                        note(&mut out, format!("{p}: in the tree, not in the image"));
                    }
                }
                std::cmp::Ordering::Equal => {
                    i += 1;
                    j += 1;
                    if pruned {
                        note(&mut out, format!("{p}: pruned, but in the image"));
                        continue;
                    }
                    out.paths += 1;
                    let (fa, dir_a) = a.facts(&p)?;
                    let (fb, dir_b) = b.facts(&p)?;
                    if fa != fb {
                        note(
                            &mut out,
                            format!("{p}: the image has {fa}; the tree has {fb}"),
                        );
                    }
                    if dir_a && dir_b {
                        stack.push(p);
                    }
                }
            }
        }
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn trees_that_differ_are_told_apart_by_path() {
        let t = tempfile::tempdir().expect("tempdir");
        let (a, b) = (t.path().join("a"), t.path().join("b"));
        for r in [&a, &b] {
            std::fs::create_dir_all(r.join("usr/bin")).expect("mkdir");
            std::fs::write(r.join("usr/bin/x"), "same").expect("write");
        }
        std::fs::write(a.join("usr/bin/y"), "only in a").expect("write");
        std::fs::write(b.join("usr/bin/x2"), "one").expect("write");
        std::fs::hard_link(b.join("usr/bin/x2"), b.join("usr/bin/x3")).expect("link");
        std::fs::write(a.join("usr/bin/x2"), "one").expect("write");
        std::fs::write(a.join("usr/bin/x3"), "one").expect("write");
        let c = compare(&a, &b, &[]).expect("compares");
        // x2 and x3 are one file in the tree, two in the image; y is only in the image.
        assert_eq!(c.total_differences, 3, "{:?}", c.differences);
        assert!(c.differences[0].starts_with("usr/bin/x2:"), "{c:?}");
        assert!(c.differences[1].starts_with("usr/bin/x3:"), "{c:?}");
        assert!(
            c.differences[2].starts_with("usr/bin/y: in the image"),
            "{c:?}"
        );
        let same = compare(&a, &a, &[]).expect("compares");
        assert_eq!(same.total_differences, 0);
        assert_eq!(same.paths, 6);
    }
}
