//! The old tree as an encoder sees it: its layers merged (whiteouts applied, later layers
//! replacing earlier ones), each regular file's size and sha256, and the lookups the encoder
//! makes: a file holding the same bytes (COPY), and a file similar enough to diff against.
//!
//! Only files every applier can open are candidates (the rule of the format notes): regular,
//! non-empty, world-readable (the Go applier may run unprivileged), a UTF-8 path without
//! `.`/`..` components, and not under `sysroot/ostree/` (a client's ostree repository is not
//! part of the tree it exposes; ostree-format images hard-link the deployed `usr/` names to
//! those objects, and the deployed names are what clients have) or `run/` (composefs-oci
//! empties it).

use crate::tar::{self, Kind, Member};
use sha2::{Digest, Sha256};
use std::collections::{BTreeMap, HashMap};
use std::io::{self, Read};

/// A regular file of the old tree.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SourceFile {
    /// Its path in the merged tree (no leading `/`).
    pub path: String,
    /// Its size.
    pub size: u64,
    /// sha256 of its content.
    pub sha256: [u8; 32],
}

#[derive(Debug, Clone)]
struct Entry {
    /// Size, sha256 and mode of a regular file's content (also for paths that are no
    /// candidates, so that hard links to them inherit it); `None` for the rest.
    file: Option<(u64, [u8; 32], u32)>,
    /// Whether the path can be opened by an applier (see [`openable`]).
    openable: bool,
    layer: usize,
}

impl Entry {
    fn candidate(&self) -> Option<(u64, [u8; 32])> {
        let (size, sha, mode) = self.file?;
        (self.openable && size > 0 && mode & 0o004 != 0).then_some((size, sha))
    }
}

/// What the encoder asks of the old tree.
pub trait Source {
    /// A file holding exactly these bytes, if there is one.
    fn same(&self, sha256: &[u8; 32], size: u64) -> Option<SourceFile>;
    /// A file to diff the new file `path` of `size` bytes against, if one is similar.
    fn similar(&self, path: &str, size: u64) -> Option<SourceFile>;
    /// The content of a file [`Source::similar`] named (`None` if it is not at hand).
    ///
    /// # Errors
    /// Reading it failed.
    fn content(&self, file: &SourceFile) -> io::Result<Option<Vec<u8>>>;
}

/// A file's content held for a moment: in memory up to [`crate::limits::MAX_BUFFERED`],
/// else in an unlinked temporary file, so memory stays bounded whatever a layer holds.
pub(crate) enum Held {
    Memory(Vec<u8>),
    Spilled(std::fs::File),
}

/// Hash what `r` holds (`size` bytes expected), copying it into `held` if given; the sha256
/// and whether all `size` bytes were there.
fn hash_into(
    r: &mut dyn Read,
    size: u64,
    mut held: Option<&mut Held>,
) -> io::Result<([u8; 32], bool)> {
    let mut h = Sha256::new();
    let mut buf = vec![0u8; 1 << 16];
    let mut n = 0u64;
    loop {
        let k = r.read(&mut buf)?;
        if k == 0 {
            break;
        }
        h.update(&buf[..k]);
        n += k as u64;
        match held.as_deref_mut() {
            Some(Held::Memory(v)) => v.extend_from_slice(&buf[..k]),
            Some(Held::Spilled(f)) => io::Write::write_all(f, &buf[..k])?,
            None => {}
        }
    }
    Ok((h.finalize().into(), n == size))
}

impl Held {
    /// A holder for `size` bytes: memory or an unlinked temporary file.
    fn new(size: u64) -> io::Result<Held> {
        Ok(if size <= crate::limits::MAX_BUFFERED {
            Held::Memory(Vec::with_capacity(size as usize))
        } else {
            Held::Spilled(tempfile::tempfile()?)
        })
    }

    /// Hash `size` bytes of `r` and hold them; the flag says whether all `size` bytes were
    /// there (a stream may be cut inside a member).
    pub(crate) fn take(r: &mut dyn Read, size: u64) -> io::Result<(Held, [u8; 32], bool)> {
        let mut held = Held::new(size)?;
        let (sha, whole) = hash_into(r, size, Some(&mut held))?;
        Ok((held, sha, whole))
    }

    /// As [`Held::take`], holding the bytes only when `hold` (else they are only hashed).
    fn read(r: &mut dyn Read, size: u64, hold: bool) -> io::Result<(Option<Held>, [u8; 32], bool)> {
        if hold {
            let (held, sha, whole) = Held::take(r, size)?;
            return Ok((Some(held), sha, whole));
        }
        let (sha, whole) = hash_into(r, size, None)?;
        Ok((None, sha, whole))
    }

    /// The held bytes, from the start.
    pub(crate) fn reader(&mut self) -> io::Result<Box<dyn Read + '_>> {
        Ok(match self {
            Held::Memory(v) => Box::new(&v[..]),
            Held::Spilled(f) => {
                io::Seek::seek(f, io::SeekFrom::Start(0))?;
                Box::new(&*f)
            }
        })
    }
}

/// The merged old tree; build with [`SourceIndex::add_layer`] for each layer in order, then
/// [`SourceIndex::finish`].
#[derive(Debug, Default)]
pub struct SourceIndex {
    tree: BTreeMap<String, Entry>,
    layers: usize,
    by_content: HashMap<([u8; 32], u64), String>,
    by_base: HashMap<String, Vec<String>>,
    by_stem: HashMap<String, Vec<String>>,
}

/// A basename without its digits: `libfoo.so.1.2` and `libfoo.so.1.3`, or
/// `vmlinuz-6.1.0-18-amd64` and `vmlinuz-6.1.0-20-amd64`, have the same stem.
pub fn stem(basename: &str) -> String {
    basename.chars().filter(|c| !c.is_ascii_digit()).collect()
}

/// Whether a member's path can be a source at all (see the module docs).
pub fn openable(m: &Member) -> bool {
    m.utf8
        && !m.path.is_empty()
        && m.path.len() <= crate::limits::MAX_PATH
        && !m
            .path
            .split('/')
            .any(|c| c.is_empty() || c == "." || c == "..")
        && !m.path.starts_with("sysroot/ostree/")
        && !m.path.starts_with("run/")
}

/// Sizes close enough to be worth a diff (the Go encoder's rule).
pub fn similar_size(a: u64, b: u64) -> bool {
    use crate::limits::{SIMILAR_RATIO, SIMILAR_SMALL};
    (a < SIMILAR_SMALL && b < SIMILAR_SMALL)
        || (a <= b.saturating_mul(SIMILAR_RATIO) && b <= a.saturating_mul(SIMILAR_RATIO))
}

/// Compressed files whose content changes wholesale with any change: not worth a diff.
fn diffable(path: &str) -> bool {
    ![".xz", ".bz2", ".gz", ".zst", ".lz4"]
        .iter()
        .any(|s| path.ends_with(s))
}

impl SourceIndex {
    /// An empty tree.
    pub fn new() -> Self {
        Self::default()
    }

    /// Apply one layer (an uncompressed tar) on top of what is there. `keep` is asked for
    /// every candidate file (path, size); when it says yes the file's content is handed to
    /// `store` with its size and sha256, so that a later diff or apply has it at hand. The
    /// deployed names of an ostree object (hard links right after it) are asked too: the
    /// last file's content is held (in memory up to [`crate::limits::MAX_BUFFERED`], else in
    /// an unlinked temporary file) until the next file.
    ///
    /// # Errors
    /// Reading the layer failed, or `store` failed.
    pub fn add_layer<R: Read>(
        &mut self,
        layer: R,
        keep: &dyn Fn(&str, u64) -> bool,
        store: &mut dyn FnMut(&SourceFile, &mut dyn Read) -> io::Result<()>,
    ) -> io::Result<()> {
        let n = self.layers;
        self.layers += 1;
        // The last regular file: its content, and whether it was stored already.
        let mut pending: Option<(SourceFile, Held, bool)> = None;
        tar::walk(layer, |m, content| {
            let base = m.basename();
            if let Some(hidden) = base.strip_prefix(".wh.") {
                let dir = m.path[..m.path.len() - base.len()].trim_end_matches('/');
                if hidden == ".wh..opq" {
                    // Opaque: what earlier layers had under the directory is gone.
                    let prefix = if dir.is_empty() {
                        String::new()
                    } else {
                        format!("{dir}/")
                    };
                    let gone: Vec<String> = self
                        .tree
                        .range(prefix.clone()..)
                        .take_while(|(k, _)| k.starts_with(&prefix))
                        .filter(|(_, e)| e.layer < n)
                        .map(|(k, _)| k.clone())
                        .collect();
                    for k in gone {
                        self.tree.remove(&k);
                    }
                } else {
                    let target = if dir.is_empty() {
                        hidden.to_string()
                    } else {
                        format!("{dir}/{hidden}")
                    };
                    self.remove(&target);
                }
                return Ok(());
            }
            let is_openable = openable(m);
            let file = match m.kind {
                Kind::Regular => {
                    pending = None;
                    let wanted = is_openable && m.size > 0 && keep(&m.path, m.size);
                    // Held when it may be stored: wanted now, or an object whose deployed
                    // names may be wanted next.
                    let hold = wanted || (!is_openable && m.size > 0);
                    let (held, sha256, whole) = Held::read(content, m.size, hold)?;
                    // A short member is hashed as it is, never stored.
                    let held = held.filter(|_| whole);
                    let f = SourceFile {
                        path: m.path.clone(),
                        size: m.size,
                        sha256,
                    };
                    if let Some(mut held) = held {
                        if wanted {
                            store(&f, &mut held.reader()?)?;
                        }
                        pending = Some((f, held, wanted));
                    }
                    Some((m.size, sha256, m.mode))
                }
                // A hard link names the same content as its target (and its mode).
                Kind::HardLink => {
                    let file = self.tree.get(&m.link).and_then(|e| e.file);
                    if let Some((f, held, done)) = pending.as_mut() {
                        if !*done && f.path == m.link && is_openable && keep(&m.path, f.size) {
                            let named = SourceFile {
                                path: m.path.clone(),
                                ..f.clone()
                            };
                            store(&named, &mut held.reader()?)?;
                            *done = true;
                        }
                    }
                    file
                }
                _ => None,
            };
            if m.kind == Kind::Directory {
                // A directory replacing a file: the file is gone; one over a directory keeps
                // what is under it.
                if self.tree.get(&m.path).is_some_and(|e| e.file.is_some()) {
                    self.tree.remove(&m.path);
                }
            } else {
                self.remove(&m.path);
            }
            self.tree.insert(
                m.path.clone(),
                Entry {
                    file,
                    openable: is_openable,
                    layer: n,
                },
            );
            Ok(())
        })
    }

    /// Remove a path and everything under it.
    fn remove(&mut self, path: &str) {
        self.tree.remove(path);
        let prefix = format!("{path}/");
        let gone: Vec<String> = self
            .tree
            .range(prefix.clone()..)
            .take_while(|(k, _)| k.starts_with(&prefix))
            .map(|(k, _)| k.clone())
            .collect();
        for k in gone {
            self.tree.remove(&k);
        }
    }

    /// Build the lookups; call once after the last layer.
    pub fn finish(&mut self) {
        self.by_content.clear();
        self.by_base.clear();
        self.by_stem.clear();
        // BTreeMap order: the first path in byte order wins, the same on every run.
        for (path, e) in &self.tree {
            let Some((size, sha)) = e.candidate() else {
                continue;
            };
            self.by_content
                .entry((sha, size))
                .or_insert_with(|| path.clone());
            let base = tar::basename(path);
            self.by_base
                .entry(base.to_string())
                .or_default()
                .push(path.clone());
            self.by_stem
                .entry(stem(base))
                .or_default()
                .push(path.clone());
        }
    }

    /// The candidate file at `path`.
    pub fn get(&self, path: &str) -> Option<SourceFile> {
        let (size, sha256) = self.tree.get(path)?.candidate()?;
        Some(SourceFile {
            path: path.to_string(),
            size,
            sha256,
        })
    }

    /// Number of candidate files.
    pub fn len(&self) -> usize {
        self.tree
            .values()
            .filter(|e| e.candidate().is_some())
            .count()
    }

    /// Whether there is no candidate file.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// A file holding exactly these bytes.
    pub fn same(&self, sha256: &[u8; 32], size: u64) -> Option<SourceFile> {
        self.get(self.by_content.get(&(*sha256, size))?)
    }

    /// The file to diff a new file against: the same path, else the same basename, else the
    /// same stem; of several, the one closest in size (then the first path). Sizes must be
    /// similar and the file must not be compressed.
    pub fn similar(&self, path: &str, size: u64) -> Option<SourceFile> {
        if !diffable(path) {
            return None;
        }
        if let Some(f) = self.get(path).filter(|f| similar_size(f.size, size)) {
            return Some(f);
        }
        let base = tar::basename(path);
        let pick = |paths: Option<&Vec<String>>| {
            paths?
                .iter()
                .filter_map(|p| self.get(p))
                .filter(|f| similar_size(f.size, size))
                .min_by_key(|f| f.size.abs_diff(size))
        };
        pick(self.by_base.get(base)).or_else(|| pick(self.by_stem.get(&stem(base))))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::tests::tar;

    #[test]
    fn layers_merge_with_whiteouts_and_lookups_find_candidates() {
        let mut idx = SourceIndex::new();
        let mut stored = Vec::new();
        let l1 = tar(&[
            ("usr/lib/libx.so.1.2", b"library one two"),
            ("usr/bin/tool", b"tool contents"),
            ("usr/share/gone/a", b"will be whited out"),
            ("usr/share/opq/b", b"opaque dir child"),
            ("sysroot/ostree/repo/objects/aa/bb.file", b"object"),
        ]);
        let l2 = tar(&[
            ("usr/share/.wh.gone", b""),
            ("usr/share/opq/.wh..wh..opq", b""),
            ("usr/share/opq/c", b"new child"),
        ]);
        for l in [&l1, &l2] {
            idx.add_layer(&l[..], &|p, _| p.ends_with("tool"), &mut |f, c| {
                let mut v = Vec::new();
                c.read_to_end(&mut v)?;
                stored.push((f.path.clone(), v));
                Ok(())
            })
            .unwrap();
        }
        idx.finish();
        assert_eq!(
            stored,
            vec![("usr/bin/tool".to_string(), b"tool contents".to_vec())]
        );
        assert!(idx.get("usr/share/gone/a").is_none());
        assert!(idx.get("usr/share/opq/b").is_none());
        assert!(idx.get("usr/share/opq/c").is_some());
        assert!(idx.get("sysroot/ostree/repo/objects/aa/bb.file").is_none());
        assert_eq!(idx.len(), 3);
        let tool = idx.get("usr/bin/tool").unwrap();
        assert_eq!(idx.same(&tool.sha256, tool.size), Some(tool.clone()));
        assert_eq!(
            idx.similar("usr/bin/tool", 20).unwrap().path,
            "usr/bin/tool"
        );
        assert_eq!(
            idx.similar("opt/other/tool", 20).unwrap().path,
            "usr/bin/tool"
        );
        assert_eq!(
            idx.similar("usr/lib/libx.so.1.3", 20).unwrap().path,
            "usr/lib/libx.so.1.2"
        );
        assert!(idx.similar("usr/lib/libx.so.1.3.gz", 20).is_none());
        assert!(
            idx.similar("usr/bin/tool", 10 << 20).is_none(),
            "sizes too far apart"
        );
    }
}
