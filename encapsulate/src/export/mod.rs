//! Writing planned layers as ostree container tar streams.
//!
//! The executor half of parse → plan → execute: given a [`Source`], its [`Inventory`] and one
//! [`LayerPlan`](layering::LayerPlan), it writes that layer's tar stream to any `Write`. Content is streamed object
//! by object; every object's checksum is recomputed on the way through.

use crate::objread::Body;
use crate::source::{Inventory, Source, StructureEntry};
use crate::tarwrite::{Owner, TarWriter};
use crate::EncapError;
use layering::{Checksum, LayerKind};
use ostree_format::checksum::{content_header, ContentHasher, HashingReader};
use ostree_format::{self as format, ObjKind};
use std::io::Write;
use std::sync::atomic::Ordering;

/// Directories every image of ours has (runtimes and ostree's deploy expect them, and a
/// plain tree or an ostree commit may lack them): the layer holding the tree's structure
/// writes each one the tree lacks, root-owned with this mode, after the tree's own. `--base`
/// reads a derived tree without them as keeping the base's, not removing them.
pub const MADE_WHEN_MISSING: [(&str, u32); 2] = [
    ("var", format::DEFAULT_DIR_MODE),
    ("var/tmp", format::VAR_TMP_MODE),
];

mod order;
pub use order::*;

/// What a layer's tar stream holds.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub enum StreamFormat {
    /// The ostree container format: content objects under `sysroot/ostree/repo`, hard-linked
    /// at their paths; the first layer carries the commit and its metadata objects.
    #[default]
    Ostree,
    /// The filesystem itself (`--format plain`, a bootc-style image): each file at its paths
    /// (hard links where the tree has them: a commit's identical files are one object, so
    /// one inode), xattrs as PAX records; the first layer holds every directory.
    Plain,
}

impl StreamFormat {
    /// What the layer key says of the format: a blob of one format is never reused as the
    /// other's.
    fn key(self) -> &'static str {
        match self {
            StreamFormat::Ostree => format::LAYER_STREAM_FORMAT,
            StreamFormat::Plain => format::PLAIN_STREAM_FORMAT,
        }
    }
}

/// What one written layer contained.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct LayerStats {
    /// Content objects written.
    pub content_objects: u64,
    /// Bytes of regular-file content written.
    pub content_bytes: u64,
    /// Metadata objects written (commit, commitmeta, dirtree, dirmeta).
    pub metadata_objects: u64,
}

/// Write the tar stream of `layer` to `out` and return `out` (finished, flushed) with stats.
///
/// `on_object` is called after each content object with its payload size, for progress.
/// `threads` is how many threads may read and tar content objects: a layer of many objects
/// is made in batches by that many workers (see `parallel::pipeline`); the bytes are the same
/// for any number.
///
/// # Errors
/// Missing or corrupt objects (named with checksum and a tree path), I/O errors of `out`.
pub fn write_layer<W: Write>(
    src: &Source,
    inv: &Inventory,
    layer: &OrderedLayer<'_>,
    stream: StreamFormat,
    out: W,
    threads: usize,
    on_object: &mut dyn FnMut(u64),
) -> Result<(W, LayerStats), EncapError> {
    let mut w = LayerWriter {
        src,
        inv,
        stream,
        tar: TarWriter::new(out),
        stats: LayerStats::default(),
    };
    let order = &layer.order;
    match (stream, layer.plan.kind) {
        (StreamFormat::Ostree, LayerKind::Commit) => w.commit_structure()?,
        (StreamFormat::Ostree, LayerKind::Chunk) => {
            w.skeleton()?;
            w.parent_dirs(order)?;
        }
        (StreamFormat::Plain, LayerKind::Commit) => w.plain_structure()?,
        (StreamFormat::Plain, LayerKind::Chunk) => w.parent_dirs(order)?,
    }
    if threads > 1 && order.len() >= format::BATCH_LAYER_MIN_OBJECTS {
        w.batched(order, threads, on_object)?;
    } else {
        w.one_by_one(order, on_object)?;
    }
    let out = w.tar.finish().map_err(|e| io_err("finishing layer", e))?;
    Ok((out, w.stats))
}

fn io_err(what: &str, e: std::io::Error) -> EncapError {
    EncapError::Io {
        what: what.to_string(),
        source: e,
    }
}

/// A worker's piece of a layer's tar stream.
#[derive(Default)]
struct Batch {
    /// The tar bytes of the batch's objects, except those left to the writer.
    bytes: Vec<u8>,
    /// Objects left to the writer (too big to hold): where in `bytes` each goes, and its
    /// place in the batch.
    left: Vec<(usize, usize)>,
    /// Payload size of each object of the batch (`None`: left to the writer).
    sizes: Vec<Option<u64>>,
    stats: LayerStats,
}

struct LayerWriter<'a, W: Write> {
    src: &'a Source,
    inv: &'a Inventory,
    stream: StreamFormat,
    tar: TarWriter<W>,
    stats: LayerStats,
}

impl<W: Write> LayerWriter<'_, W> {
    /// Content objects in `order` on this thread, with a read-ahead helper for cold caches.
    fn one_by_one(
        &mut self,
        order: &[Placed<'_>],
        on_object: &mut dyn FnMut(u64),
    ) -> Result<(), EncapError> {
        let files = self.src.content_files();
        let at = crate::prefetch::Position::default();
        std::thread::scope(|s| {
            // Stops the helper however this closure ends, errors included.
            let _stop = at.stop_on_drop();
            // Read-ahead is advice: without the helper thread the layer is the same, only
            // slower on a cold cache.
            // (A plain tree was just read by the scan: its files are in the page cache.)
            if let Some((objects, suffix)) = &files {
                let _ = std::thread::Builder::new()
                    .name("prefetch".into())
                    .spawn_scoped(s, || crate::prefetch::run(objects, suffix, order, &at));
            }
            for (i, o) in order.iter().enumerate() {
                at.reached.store(i, Ordering::Relaxed);
                let size = self.content_object(*o, None)?.unwrap_or_default();
                on_object(size);
            }
            Ok(())
        })
    }

    /// Content objects in `order`, read and tarred in batches by `threads` workers (each with
    /// its own repository handle) into memory, written out here in order. Objects bigger than
    /// [`format::BATCH_INLINE_MAX`] are left by the workers for this thread to stream, so
    /// memory stays bounded by the batches in flight whatever the files are.
    fn batched(
        &mut self,
        order: &[Placed<'_>],
        threads: usize,
        on_object: &mut dyn FnMut(u64),
    ) -> Result<(), EncapError> {
        let mut workers = Vec::with_capacity(threads);
        for _ in 0..threads {
            workers.push((self.src.reopen()?, TarWriter::new(Vec::new())));
        }
        let pieces: Vec<&[Placed<'_>]> = order.chunks(format::BATCH_OBJECTS).collect();
        let free: std::sync::Mutex<Vec<Vec<u8>>> = std::sync::Mutex::new(Vec::new());
        let inv = self.inv;
        let stream = self.stream;
        parallel::pipeline::run(
            workers,
            pieces.len(),
            format::BATCH_WINDOW_PER_THREAD * threads,
            |(src, tar), i| {
                if let Some(buf) = free.lock().ok().and_then(|mut f| f.pop()) {
                    *tar.get_mut() = buf;
                }
                let mut w = LayerWriter {
                    src: &*src,
                    inv,
                    stream,
                    tar: std::mem::replace(tar, TarWriter::new(Vec::new())),
                    stats: LayerStats::default(),
                };
                let mut batch = Batch::default();
                for (k, o) in pieces[i].iter().enumerate() {
                    // Past the batch's byte budget, files are left to the writer too.
                    let room = if w.tar.get_mut().len() >= format::BATCH_BYTES {
                        0
                    } else {
                        format::BATCH_INLINE_MAX
                    };
                    match w.content_object(*o, Some(room))? {
                        Some(size) => batch.sizes.push(Some(size)),
                        None => {
                            batch.left.push((w.tar.get_mut().len(), k));
                            batch.sizes.push(None);
                        }
                    }
                }
                batch.stats = w.stats;
                *tar = w.tar;
                batch.bytes = std::mem::take(tar.get_mut());
                Ok(batch)
            },
            |i, mut batch| {
                let mut from = 0;
                let mut left = batch.left.iter().peekable();
                for (k, size) in batch.sizes.iter().enumerate() {
                    let size = match size {
                        Some(size) => *size,
                        None => {
                            let at = left.next().map_or(from, |&(at, _)| at);
                            self.write_bytes(&batch.bytes[from..at])?;
                            from = at;
                            self.content_object(pieces[i][k], None)?.unwrap_or_default()
                        }
                    };
                    on_object(size);
                }
                self.write_bytes(&batch.bytes[from..])?;
                self.stats.content_objects += batch.stats.content_objects;
                self.stats.content_bytes += batch.stats.content_bytes;
                batch.bytes.clear();
                if let Ok(mut f) = free.lock() {
                    f.push(std::mem::take(&mut batch.bytes));
                }
                Ok(())
            },
            || EncapError::Io {
                what: "a layer worker thread failed".into(),
                source: std::io::Error::other("worker panicked"),
            },
        )
    }

    fn write_bytes(&mut self, bytes: &[u8]) -> Result<(), EncapError> {
        self.tar.raw(bytes).map_err(|e| io_err("writing layer", e))
    }

    fn skeleton(&mut self) -> Result<(), EncapError> {
        let dir = Owner::root(format::DEFAULT_DIR_MODE);
        let e = |e| io_err("writing repo skeleton", e);
        for d in format::SKELETON_HEAD {
            self.tar.dir(d.as_bytes(), dir).map_err(e)?;
        }
        for i in 0..=0xffu32 {
            let d = format!("{}{i:02x}", format::OBJECTS_PREFIX);
            self.tar.dir(d.as_bytes(), dir).map_err(e)?;
        }
        for d in format::SKELETON_TAIL {
            self.tar.dir(d.as_bytes(), dir).map_err(e)?;
        }
        self.tar
            .file_bytes(
                format::REPO_CONFIG_PATH.as_bytes(),
                Owner::root(format::DEFAULT_FILE_MODE),
                format::REPO_CONFIG,
            )
            .map_err(e)
    }

    fn metadata_object(
        &mut self,
        kind: ObjKind,
        checksum: &str,
        data: &[u8],
    ) -> Result<(), EncapError> {
        let path = format::object_path(kind, checksum);
        self.tar
            .file_bytes(
                path.as_bytes(),
                Owner::root(format::DEFAULT_FILE_MODE),
                data,
            )
            .map_err(|e| io_err(&format!("writing {path}"), e))?;
        self.stats.metadata_objects += 1;
        Ok(())
    }

    fn directory(&mut self, path: &str, dirmeta: &str) -> Result<(), EncapError> {
        let meta = self
            .inv
            .dirmetas
            .get(dirmeta)
            .ok_or_else(|| EncapError::MissingObject {
                repo: self.src.repo_path.display().to_string(),
                kind: ObjKind::DirMeta,
                checksum: dirmeta.into(),
                path: path.into(),
            })?;
        let records = pax_xattrs(&meta.xattrs);
        let e = |e| io_err(&format!("writing directory {path}"), e);
        self.tar.pax(&records).map_err(e)?;
        self.tar
            .dir(
                path.as_bytes(),
                Owner {
                    uid: meta.uid,
                    gid: meta.gid,
                    mode: meta.mode & 0o7777,
                },
            )
            .map_err(e)
    }

    fn commit_structure(&mut self) -> Result<(), EncapError> {
        let root = self.inv.root_dirmeta.clone();
        self.directory(format::ROOT_DIR_PATH, &root)?;
        self.skeleton()?;
        let commit = self.src.commit.clone();
        let commit_bytes = self.src.commit_variant.data().to_vec();
        let actual = ostree_format::checksum::sha256_hex(&commit_bytes);
        if actual != commit {
            return Err(EncapError::ChecksumMismatch {
                kind: ObjKind::Commit,
                checksum: commit,
                actual,
                path: "(commit)".into(),
            });
        }
        self.metadata_object(ObjKind::Commit, &commit, &commit_bytes)?;
        if let Some(detached) = &self.src.detached {
            let data = detached.data().to_vec();
            self.metadata_object(ObjKind::CommitMeta, &commit, &data)?;
        }
        for entry in &self.inv.structure {
            match entry {
                StructureEntry::DirTree(c) => {
                    let v = self.src.load_metadata(ObjKind::DirTree, c, "(dirtree)")?;
                    self.metadata_object(ObjKind::DirTree, c, v.data())?;
                }
                StructureEntry::DirMeta(c) => {
                    let v = self.src.load_metadata(ObjKind::DirMeta, c, "(dirmeta)")?;
                    self.metadata_object(ObjKind::DirMeta, c, v.data())?;
                }
                StructureEntry::Directory { path, dirmeta } => self.directory(path, dirmeta)?,
                // The skeleton above wrote it, as the repository's.
                StructureEntry::Sysroot { .. } => {}
            }
        }
        for ((path, mode), there) in MADE_WHEN_MISSING.iter().zip(self.inv.has_always_there) {
            if !there {
                self.tar
                    .dir(path.as_bytes(), Owner::root(*mode))
                    .map_err(|e| io_err(&format!("writing {path}"), e))?;
            }
        }
        Ok(())
    }

    /// Chunk layers repeat the parent directories of their paths, with the real metadata, so
    /// that a runtime unpacking layers one by one never has to invent directory metadata
    /// (rpm-ostree's "format version 2").
    fn parent_dirs(&mut self, objects: &[Placed<'_>]) -> Result<(), EncapError> {
        for (path, meta) in parent_dirs(self.inv, objects) {
            self.directory(path, meta)?;
        }
        Ok(())
    }

    /// Write one content object and its hardlinks; returns its payload size. Long (~85
    /// lines) because the tar entries of one object (xattrs link, content, hardlinks) must be
    /// written in this order with the checksum checked between them; splitting it would pass
    /// the half-written state around.
    ///
    /// With `inline_max`, a regular file bigger than that is not written: `None` is returned
    /// and nothing of the object is in the stream.
    fn content_object(
        &mut self,
        obj: Placed<'_>,
        inline_max: Option<u64>,
    ) -> Result<Option<u64>, EncapError> {
        if self.stream == StreamFormat::Plain {
            return self.plain_object(obj, inline_max);
        }
        let inv = self.inv;
        let sum = obj.sum;
        let at = obj.at.ok_or_else(|| EncapError::Plan {
            reason: format!("content object {sum} is not part of the commit"),
        })?;
        let shown_path = inv.first_path(at).unwrap_or("(sysroot)");
        let hex = sum.hex();
        let checksum = &*hex;
        let Some((obj, owner)) = self.load(at, sum, shown_path, inline_max)? else {
            return Ok(None);
        };
        let xattr_list = ostree_format::checksum::xattr_entries_of(&obj.xattrs);
        let records = pax_xattrs(&xattr_list);
        let obj_path = format::object_path(ObjKind::File, checksum);
        let e = |e| io_err(&format!("writing object {checksum} ({shown_path})"), e);

        self.tar
            .file_bytes(
                format::object_path(ObjKind::FileXattrsLink, checksum).as_bytes(),
                Owner::root(format::DEFAULT_FILE_MODE),
                &obj.xattrs,
            )
            .map_err(e)?;
        self.tar.pax(&records).map_err(e)?;

        let is_regular = matches!(obj.body, Body::Regular { .. });
        let mode = obj.mode;
        let size = self.checked_entry(obj_path.as_bytes(), owner, obj, sum, shown_path)?;
        if is_regular {
            self.stats.content_bytes += size;
        }
        self.stats.content_objects += 1;

        let is_empty_file = (mode & format::S_IFMT) == format::S_IFREG && size == 0;
        for path in inv.paths(at) {
            if is_empty_file {
                // Importers and runtimes handle a plain empty file better than a link into
                // the repo that a later layer could modify.
                self.tar.pax(&records).map_err(e)?;
                self.tar
                    .file_bytes(path.as_bytes(), owner, &[])
                    .map_err(e)?;
            } else {
                self.tar
                    .hardlink(path.as_bytes(), owner, obj_path.as_bytes())
                    .map_err(e)?;
            }
        }
        Ok(Some(size))
    }

    /// Content object `sum`, object `at` of the inventory (read at `path`, which also names
    /// it in errors), and the tar owner of its entries; `None` for a regular file bigger
    /// than `inline_max`.
    fn load(
        &self,
        at: usize,
        sum: &Checksum,
        path: &str,
        inline_max: Option<u64>,
    ) -> Result<Option<(crate::objread::FileObject, Owner)>, EncapError> {
        let obj = self.src.load_content_at(at, sum, path)?;
        if let (Body::Regular { size, .. }, Some(max)) = (&obj.body, inline_max) {
            if *size > max {
                return Ok(None);
            }
        }
        let owner = Owner {
            uid: obj.uid,
            gid: obj.gid,
            mode: obj.mode & 0o7777,
        };
        Ok(Some((obj, owner)))
    }

    /// Write `obj` as the tar entry `entry` (a file with its content, or a symlink), hashing
    /// it on the way, and check it against `sum` (`shown` names it in errors); returns its
    /// payload size. Nothing of an object that fails the check is trusted: the caller stops.
    fn checked_entry(
        &mut self,
        entry: &[u8],
        owner: Owner,
        obj: crate::objread::FileObject,
        sum: &Checksum,
        shown: &str,
    ) -> Result<u64, EncapError> {
        let hex = sum.hex();
        let checksum = &*hex;
        let e = |e| io_err(&format!("writing object {checksum} ({shown})"), e);
        let (size, hasher) = match obj.body {
            Body::Regular {
                size,
                reader,
                exact,
            } => {
                let header = content_header(obj.uid, obj.gid, obj.mode, "", &obj.xattrs);
                let mut hasher = ContentHasher::new(&header);
                let mut reader = HashingReader::new(reader, &mut hasher);
                self.tar
                    .file_from(entry, owner, size, &mut reader, !exact)
                    .map_err(|err| match err {
                        crate::tarwrite::CopyError::Source(err) => EncapError::Corrupt {
                            kind: ObjKind::File,
                            checksum: checksum.into(),
                            path: shown.into(),
                            reason: err.to_string(),
                        },
                        crate::tarwrite::CopyError::Output(err) => e(err),
                    })?;
                (size, hasher)
            }
            Body::Symlink(target) => {
                let header = content_header(obj.uid, obj.gid, obj.mode, &target, &obj.xattrs);
                self.tar
                    .symlink(entry, owner, target.as_bytes())
                    .map_err(e)?;
                (0, ContentHasher::new(&header))
            }
        };
        let actual = hasher.finish();
        if actual != checksum {
            return Err(EncapError::ChecksumMismatch {
                kind: ObjKind::File,
                checksum: checksum.into(),
                actual,
                path: shown.into(),
            });
        }
        Ok(size)
    }

    /// The plain format's first layer: every directory of the tree, parents first, with its
    /// metadata (so empty directories exist and each has its owner, mode and xattrs once).
    fn plain_structure(&mut self) -> Result<(), EncapError> {
        let root = self.inv.root_dirmeta.clone();
        self.directory(format::ROOT_DIR_PATH, &root)?;
        for entry in &self.inv.structure {
            match entry {
                StructureEntry::Directory { path, dirmeta } => self.directory(path, dirmeta)?,
                StructureEntry::Sysroot { dirmeta } => {
                    self.directory(format::SYSROOT_DIR, dirmeta)?
                }
                _ => {}
            }
        }
        // Device nodes and FIFOs, which only a plain image holds (a `--rootfs` tree's).
        for n in &self.src.specials {
            let ty = match n.mode & format::S_IFMT {
                format::S_IFCHR => tar::EntryType::Char,
                format::S_IFBLK => tar::EntryType::Block,
                _ => tar::EntryType::Fifo,
            };
            let owner = Owner {
                uid: n.uid,
                gid: n.gid,
                mode: n.mode & 0o7777,
            };
            let xattrs = ostree_format::checksum::xattr_entries_of(&n.xattrs);
            let e = |e| io_err(&format!("writing {}", n.path), e);
            self.tar.pax(&pax_xattrs(&xattrs)).map_err(e)?;
            self.tar
                .node(n.path.as_bytes(), owner, ty, n.rdev.0, n.rdev.1)
                .map_err(e)?;
        }
        Ok(())
    }

    /// One content object in the plain format: a file (or symlink) at the first path of
    /// each group of its paths that are one file (one inode: always one group for a commit,
    /// as a checkout has it; as the tree has them for `--rootfs`), the others hard links to
    /// it. Every copy written is checked against the checksum. Returns the payload size; with
    /// `inline_max`, `None` (nothing written) for a regular file bigger than that.
    fn plain_object(
        &mut self,
        obj: Placed<'_>,
        inline_max: Option<u64>,
    ) -> Result<Option<u64>, EncapError> {
        let inv = self.inv;
        let sum = obj.sum;
        let at = obj.at.ok_or_else(|| EncapError::Plan {
            reason: format!("content object {sum} is not part of the commit"),
        })?;
        let paths: Vec<&str> = inv.paths(at).collect();
        if paths.is_empty() {
            return Err(EncapError::Plan {
                reason: format!(
                    "content object {sum} has no path outside /sysroot: a plain image cannot hold it"
                ),
            });
        }
        let leaders = self.src.link_leaders(&paths);
        let mut size = None;
        let mut owner = Owner::root(0);
        for (k, path) in paths.iter().enumerate() {
            let leader = leaders.get(k).copied().unwrap_or(k);
            if leader != k {
                // The link's header carries the file's owner and mode, as the file's own does:
                // an extractor that applies them to the link applies them to the same inode.
                let e = |e| io_err(&format!("writing {path}"), e);
                self.tar
                    .hardlink(path.as_bytes(), owner, paths[leader].as_bytes())
                    .map_err(e)?;
                continue;
            }
            let written = self.plain_file(at, sum, path, if k == 0 { inline_max } else { None })?;
            match written {
                None => return Ok(None),
                Some((n, o)) => {
                    size = Some(n);
                    owner = o;
                }
            }
        }
        self.stats.content_objects += 1;
        if let Some(n) = size {
            self.stats.content_bytes += n;
        }
        Ok(size)
    }

    /// The file of content object `sum` read at `path`, written there, checked; returns its
    /// size and owner.
    fn plain_file(
        &mut self,
        at: usize,
        sum: &Checksum,
        path: &str,
        inline_max: Option<u64>,
    ) -> Result<Option<(u64, Owner)>, EncapError> {
        let hex = sum.hex();
        let checksum = &*hex;
        let Some((obj, owner)) = self.load(at, sum, path, inline_max)? else {
            return Ok(None);
        };
        let xattr_list = ostree_format::checksum::xattr_entries_of(&obj.xattrs);
        let records = pax_xattrs(&xattr_list);
        let e = |e| io_err(&format!("writing {path} (object {checksum})"), e);
        self.tar.pax(&records).map_err(e)?;
        let size = self.checked_entry(path.as_bytes(), owner, obj, sum, path)?;
        Ok(Some((size, owner)))
    }
}

/// PAX records for xattrs, minus `security.selinux` (see [`format::SELINUX_XATTR`]).
fn pax_xattrs(xattrs: &[(Vec<u8>, Vec<u8>)]) -> Vec<(Vec<u8>, &[u8])> {
    xattrs
        .iter()
        .filter(|(name, _)| ostree_format::trim_nul(name) != format::SELINUX_XATTR)
        .map(|(name, value)| {
            let mut key = format::PAX_XATTR_PREFIX.to_vec();
            key.extend_from_slice(ostree_format::trim_nul(name));
            (key, value.as_slice())
        })
        .collect()
}

#[cfg(test)]
mod tests;
