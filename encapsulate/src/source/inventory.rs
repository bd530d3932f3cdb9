//! What a walk of a commit yields: the [`Inventory`] of its content objects with their
//! paths (one sorted vector and one text arena, no map keyed by strings), the commit's
//! metadata, directory metadata and structure, and the statistics read from the objects.

use crate::objread::{Direct, Known, ObjectStat};
use crate::rootfs::TreeFiles;
use layering::Checksum;
use ostree_format as format;
use std::collections::{BTreeMap, HashMap};

/// A typed view of one commit metadata value, enough for labels and `--copymeta`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum MetaValue {
    /// A string (`s`).
    String(String),
    /// A boolean (`b`).
    Bool(bool),
    /// Anything else, printed in GVariant text form with its type.
    Other {
        /// GVariant type string, e.g. `as`.
        type_string: String,
        /// GVariant text form.
        text: String,
    },
}

/// What the image needs to know about the commit, as plain data.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CommitInfo {
    /// Commit checksum.
    pub checksum: String,
    /// Commit timestamp, seconds since the epoch (UTC).
    pub timestamp: u64,
    /// Commit subject line.
    pub subject: String,
    /// Parent commit, if any.
    pub parent: Option<String>,
    /// Commit metadata (`a{sv}`), by key.
    pub metadata: BTreeMap<String, MetaValue>,
    /// Whether detached metadata (signatures) is present.
    pub has_detached_metadata: bool,
}

/// Directory metadata (from a `.dirmeta` object).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DirMeta {
    /// Owner uid.
    pub uid: u32,
    /// Owner gid.
    pub gid: u32,
    /// Full mode including `S_IFDIR`.
    pub mode: u32,
    /// Extended attributes.
    pub xattrs: Vec<(Vec<u8>, Vec<u8>)>,
}

/// One step of the commit layer's structure walk, in stream order.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum StructureEntry {
    /// Write this `.dirtree` object (first occurrence only).
    DirTree(String),
    /// Write this `.dirmeta` object (first occurrence only).
    DirMeta(String),
    /// Write a directory entry at `path` with the metadata of `dirmeta`.
    Directory {
        /// Tar path (already mapped, `usr/etc` → `etc`).
        path: String,
        /// Its dirmeta checksum.
        dirmeta: String,
    },
    /// The tree's top-level `sysroot` directory, with the metadata of `dirmeta`. The ostree
    /// format keeps its repository there and writes the directory itself; the plain format
    /// writes it empty: a booted system mounts its real root there, and bootc's composefs
    /// backend (composefs-boot) needs the directory to make an image bootable.
    Sysroot {
        /// Its dirmeta checksum.
        dirmeta: String,
    },
}

/// The walked tree of a commit: all metadata needed to write layers, no file content.
///
/// Size is proportional to the number of directories and files, never to the bytes in the
/// tree, and kept small per file (trees of a million files must fit in a few hundred MB):
/// content objects are 32-byte checksums in one sorted vector, tree paths one text arena
/// with `u32` offsets, and objects reach their paths by index. About 45 bytes per file plus
/// its path's length.
#[derive(Debug, Clone, Default)]
pub struct Inventory {
    /// Root dirmeta checksum.
    pub root_dirmeta: String,
    /// Structure walk in stream order (starts with the root dirmeta and dirtree objects).
    pub structure: Vec<StructureEntry>,
    /// Dirmeta objects by checksum.
    pub dirmetas: BTreeMap<String, DirMeta>,
    /// Whether the tree has each of [`crate::export::MADE_WHEN_MISSING`] (else the last
    /// layer makes it).
    pub has_always_there: [bool; crate::export::MADE_WHEN_MISSING.len()],
    /// Where each directory's entry is in `structure`, by path: each layer writes the
    /// parents of its files in structure order, and finding them by scanning the whole
    /// structure once per layer was ~3% of a rebuild (65 layers).
    pub(crate) dir_positions: HashMap<String, usize>,
    /// Content objects, sorted, each once.
    pub(super) objects: Vec<Checksum>,
    /// The paths of object `i` are `path_ids[path_start[i]..path_start[i + 1]]`, in walk
    /// order (objects only under a top-level `sysroot` have none).
    pub(super) path_start: Vec<u32>,
    pub(super) path_ids: Vec<u32>,
    /// Tree paths (mapped, `usr/etc` → `etc`) in walk order: path `j` is
    /// `text[ends[j - 1]..ends[j]]`.
    pub(super) text: String,
    pub(super) ends: Vec<u32>,
}

impl Inventory {
    /// Build the content part from `(checksum, path)` pairs (`None`: an object with no
    /// visible path), paths in walk order. Used by the walker and by tests.
    ///
    /// # Errors
    /// More than 4 GiB of path text or 4 G paths (a `u32` offset each).
    pub fn set_content<'a>(
        &mut self,
        entries: impl IntoIterator<Item = (Checksum, Option<&'a str>)>,
    ) -> Result<(), String> {
        let mut walk = Walked::default();
        for (c, p) in entries {
            walk.add(c, p)?;
        }
        self.finish_content(walk);
        Ok(())
    }

    pub(super) fn finish_content(&mut self, walk: Walked) {
        let Walked {
            mut entries,
            text,
            ends,
        } = walk;
        // Path ids grow in walk order, so sorting by (checksum, id) keeps each object's paths
        // in walk order; `NO_PATH` sorts after every real path.
        entries.sort_unstable();
        let mut objects = Vec::new();
        let mut path_start = Vec::new();
        let mut path_ids = Vec::with_capacity(ends.len());
        for (c, id) in entries {
            if objects.last() != Some(&c) {
                objects.push(c);
                path_start.push(path_ids.len() as u32);
            }
            if id != NO_PATH {
                path_ids.push(id);
            }
        }
        path_start.push(path_ids.len() as u32);
        objects.shrink_to_fit();
        path_start.shrink_to_fit();
        self.objects = objects;
        self.path_start = path_start;
        self.path_ids = path_ids;
        self.text = text;
        self.ends = ends;
    }

    /// The content objects, sorted.
    pub fn objects(&self) -> &[Checksum] {
        &self.objects
    }

    /// Where `checksum` is in [`Inventory::objects`].
    pub fn position(&self, checksum: &Checksum) -> Option<usize> {
        self.objects.binary_search(checksum).ok()
    }

    /// Whether the commit has this content object.
    pub fn contains(&self, checksum: &Checksum) -> bool {
        self.position(checksum).is_some()
    }

    /// The tree paths of object `i` (an index into [`Inventory::objects`]), in walk order.
    pub fn paths(&self, i: usize) -> impl ExactSizeIterator<Item = &str> + '_ {
        let next = i.checked_add(1).and_then(|n| self.path_start.get(n));
        let ids = match (self.path_start.get(i), next) {
            (Some(&a), Some(&b)) => &self.path_ids[a as usize..b as usize],
            _ => &[],
        };
        ids.iter().map(|&j| self.path(j))
    }

    /// The first path of object `i` in walk order (the one written first).
    pub fn first_path(&self, i: usize) -> Option<&str> {
        self.paths(i).next()
    }

    /// Path `j` of the arena.
    fn path(&self, j: u32) -> &str {
        let j = j as usize;
        let start = if j == 0 { 0 } else { self.ends[j - 1] as usize };
        &self.text[start..self.ends[j] as usize]
    }

    /// Every tree path that is content, with its object's index: for lookups by path
    /// (package file lists), sorted by path.
    pub fn path_index(&self) -> PathIndex<'_> {
        let mut owner = vec![0u32; self.ends.len()];
        for i in 0..self.objects.len() {
            for &j in &self.path_ids[self.path_start[i] as usize..self.path_start[i + 1] as usize] {
                owner[j as usize] = i as u32;
            }
        }
        let mut sorted: Vec<u32> = (0..self.ends.len() as u32).collect();
        sorted.sort_unstable_by(|&a, &b| self.path(a).cmp(self.path(b)));
        PathIndex {
            inv: self,
            sorted,
            owner,
        }
    }

    /// Number of tree paths that are content (files and symlinks).
    pub fn path_count(&self) -> usize {
        self.path_ids.len()
    }
}

/// What planning needs of every content object: sizes by inventory index, and the
/// serialized xattrs of the few objects that have any.
#[derive(Debug, Default)]
pub(crate) struct ContentStats {
    pub(crate) sizes: Vec<u64>,
    pub(crate) xattrs: Vec<(usize, Vec<u8>)>,
}

/// A size no object can have (objects are far below 16 EiB): not read yet.
pub(super) const UNREAD: u64 = u64::MAX;

/// Stats of `part` (objects `from..` of the inventory) through `stat`, `UNREAD` where it
/// fails, and what the writer can reuse of them.
fn part_stats(
    from: usize,
    part: &[Checksum],
    stat: &(dyn Fn(usize, &Checksum) -> std::io::Result<ObjectStat> + Sync),
) -> (ContentStats, Known) {
    let mut out = ContentStats {
        sizes: Vec::with_capacity(part.len()),
        xattrs: Vec::new(),
    };
    let mut known = Known::default();
    for (i, c) in part.iter().enumerate() {
        match stat(from + i, c) {
            Ok(st) => {
                known.push(Some(&st));
                out.sizes.push(st.size.min(UNREAD - 1));
                if !st.xattrs.is_empty() {
                    out.xattrs.push((i, st.xattrs));
                }
            }
            Err(_) => {
                known.push(None);
                out.sizes.push(UNREAD);
            }
        }
    }
    (out, known)
}

/// The handles [`Source::stat_contents`] reads objects through without libostree (object
/// files of a bare-user, bare-user-only or archive repo; a plain tree's files): they may be
/// shared between threads, the repo handle may not.
#[derive(Clone, Copy)]
pub(crate) struct DirectStats<'a> {
    pub(super) tree: Option<&'a TreeFiles>,
    pub(super) direct: Option<&'a Direct>,
}

impl DirectStats<'_> {
    /// Every object of `inv` `UNREAD`: what [`Source::finish_stats`] reads all of.
    pub(crate) fn none(self, inv: &Inventory) -> ContentStats {
        ContentStats {
            sizes: vec![UNREAD; inv.objects().len()],
            xattrs: Vec::new(),
        }
    }

    /// Stats of every content object of `inv` these handles can read, on a few threads (on
    /// trees of many small files planning is mostly these syscalls); `UNREAD` for the rest
    /// (every object when there are no handles, a panicked worker's part). The object files'
    /// handle keeps what the writer can reuse ([`Direct::load_known`]).
    pub(crate) fn run(self, inv: &Inventory) -> ContentStats {
        let objects = inv.objects();
        let mut all = self.none(inv);
        let (tree, direct) = (self.tree, self.direct);
        if tree.is_none() && direct.is_none() {
            return all;
        }
        let stat = |i: usize, c: &Checksum| -> std::io::Result<ObjectStat> {
            match (tree, direct) {
                (Some(t), _) => t.stat(inv.first_path(i).unwrap_or_default()),
                (None, Some(d)) => d.stat(c),
                (None, None) => Err(std::io::ErrorKind::Unsupported.into()),
            }
        };
        let threads = std::thread::available_parallelism()
            .map_or(1, usize::from)
            .min(format::STAT_THREADS);
        let parts: Vec<(usize, (ContentStats, Known))> = if threads > 1
            && objects.len() >= format::PARALLEL_STAT_MIN
        {
            let per = objects.len().div_ceil(threads);
            std::thread::scope(|s| {
                let workers: Vec<_> = objects
                    .chunks(per)
                    .enumerate()
                    .map(|(k, part)| (k * per, s.spawn(move || part_stats(k * per, part, &stat))))
                    .collect();
                workers
                    .into_iter()
                    .filter_map(|(from, w)| w.join().ok().map(|st| (from, st)))
                    .collect()
            })
        } else {
            vec![(0, part_stats(0, objects, &stat))]
        };
        let mut known = Known::none(objects.len());
        for (from, (part, part_known)) in parts {
            all.sizes[from..from + part.sizes.len()].copy_from_slice(&part.sizes);
            all.xattrs
                .extend(part.xattrs.into_iter().map(|(i, x)| (from + i, x)));
            known.fill(from, part_known);
        }
        if let (None, Some(d)) = (tree, direct) {
            d.remember(known);
        }
        all
    }
}

/// Content paths sorted for lookup: 8 bytes per path (a `HashMap<&str, _>` took ~40).
pub struct PathIndex<'a> {
    inv: &'a Inventory,
    sorted: Vec<u32>,
    /// Object index of each path id.
    owner: Vec<u32>,
}

impl<'a> PathIndex<'a> {
    /// The object at tree path `path`.
    pub fn get(&self, path: &str) -> Option<usize> {
        self.sorted
            .binary_search_by(|&j| self.inv.path(j).cmp(path))
            .ok()
            .map(|k| self.owner[self.sorted[k] as usize] as usize)
    }

    /// Paths starting with `prefix`, sorted, with their objects.
    pub fn with_prefix<'p>(
        &'p self,
        prefix: &'p str,
    ) -> impl Iterator<Item = (&'a str, usize)> + 'p {
        let from = self.sorted.partition_point(|&j| self.inv.path(j) < prefix);
        self.sorted[from..]
            .iter()
            .map(|&j| (self.inv.path(j), self.owner[j as usize] as usize))
            .take_while(move |(p, _)| p.starts_with(prefix))
    }
}

/// Path id of an object that has no visible path.
pub(super) const NO_PATH: u32 = u32::MAX;

/// What the walk collects before it is sorted into an [`Inventory`].
#[derive(Default)]
pub(super) struct Walked {
    entries: Vec<(Checksum, u32)>,
    text: String,
    ends: Vec<u32>,
}

impl Walked {
    pub(super) fn add(&mut self, c: Checksum, path: Option<&str>) -> Result<(), String> {
        let id = match path {
            None => NO_PATH,
            Some(p) => {
                self.text.push_str(p);
                let end = u32::try_from(self.text.len())
                    .map_err(|_| "the tree's paths exceed 4 GiB".to_string())?;
                let id = u32::try_from(self.ends.len())
                    .ok()
                    .filter(|&id| id != NO_PATH)
                    .ok_or_else(|| "the tree has more than 4 G paths".to_string())?;
                self.ends.push(end);
                id
            }
        };
        self.entries.push((c, id));
        Ok(())
    }
}
