//! Reading ostree container tar streams back the way an importer does, and checking them.
//!
//! [`StreamVerifier`] takes the decompressed layers in image order and checks, without a
//! repository: entry order (commit first, detached metadata second, xattrs right before each
//! content object; with [`StreamVerifier::strict`], also content objects in path order as
//! this tool writes them: `encapsulate::export::stream_order`), object names, every object's recomputed
//! checksum, that chunk layers carry no metadata and no object twice, and finally that the
//! commit's tree is complete and every tree path in the stream (hardlink, empty file,
//! directory) matches the tree.

use ostree::gio;
use ostree::prelude::*;
use ostree_format::checksum::variant_of;
use ostree_format::checksum::{content_header, sha256_hex, ContentHasher};
use ostree_format::trim_nul;
use ostree_format::{self as format, parse_object_path, ObjKind, S_IFLNK, S_IFREG};
use std::collections::{BTreeMap, HashMap, HashSet};
use std::io::Read;

/// What is wrong with an image's ostree content.
#[derive(Debug, thiserror::Error)]
pub enum VerifyError {
    /// A problem with one tar entry.
    #[error("layer {layer}: {path}: {reason}")]
    Entry {
        /// Layer index in the manifest.
        layer: usize,
        /// Entry path.
        path: String,
        /// What is wrong.
        reason: String,
    },
    /// A problem with the stream as a whole (unreadable tar, missing commit).
    #[error("layer {layer}: {reason}")]
    Layer {
        /// Layer index.
        layer: usize,
        /// What is wrong.
        reason: String,
    },
    /// The tree the commit describes does not match what the layers hold.
    #[error("tree check: {0}")]
    Tree(String),
}

/// Result of a successful check.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct VerifiedCommit {
    /// Commit checksum, recomputed.
    pub commit: String,
    /// The commit object's bytes.
    pub commit_bytes: Vec<u8>,
    /// The detached metadata bytes, if present.
    pub commitmeta: Option<Vec<u8>>,
    /// Content objects checked.
    pub content_objects: usize,
    /// Metadata objects checked (dirtree + dirmeta).
    pub metadata_objects: usize,
    /// Tree paths (files, symlinks, directories) matched against the stream.
    pub paths: usize,
    /// Where the regular files of the layers given to [`StreamVerifier::locate_layers`] are
    /// (not written into the repository), by content checksum.
    pub located: HashMap<String, Located>,
}

/// Where a verified regular file's bytes are in an uncompressed layer stream, with what its
/// `.filez` header needs: an importer that serves objects on request keeps only this.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Located {
    /// Layer index.
    pub layer: usize,
    /// Offset of the content in the layer's uncompressed tar stream.
    pub offset: u64,
    /// Content length.
    pub size: u64,
    /// Owner.
    pub uid: u32,
    /// Group.
    pub gid: u32,
    /// Mode with the file type bits.
    pub mode: u32,
    /// Serialized `a(ayay)` xattrs, shared by the objects that have the same.
    pub xattrs: std::sync::Arc<[u8]>,
}

#[derive(Debug, Clone, PartialEq, Eq)]
struct Owned {
    uid: u32,
    gid: u32,
    mode: u32,
}

/// How a tree path appeared in the stream.
#[derive(Debug, Clone, PartialEq, Eq)]
enum PathEntry {
    Link(String),
    EmptyFile(Owned),
}

/// Incremental checker; feed layers in order, then call [`StreamVerifier::finish`].
#[derive(Default)]
pub struct StreamVerifier {
    commit: Option<(String, Vec<u8>)>,
    commitmeta: Option<Vec<u8>>,
    dirtrees: HashMap<String, Vec<u8>>,
    dirmetas: HashMap<String, Vec<u8>>,
    /// Content objects: owner/mode (with file type bits) and whether it is an empty regular file.
    content: HashMap<String, (Owned, bool)>,
    paths: HashMap<String, PathEntry>,
    dirs: HashMap<String, Owned>,
    /// Where verified objects are written, when importing.
    sink: Option<ostree::Repo>,
    /// Require this tool's own stream order (content objects in path order), on top of
    /// what every valid ostree container image satisfies.
    strict: bool,
    /// Bytes of metadata objects and xattrs blobs held, against `format::MAX_METADATA_TOTAL`.
    held: u64,
    /// Layers whose regular files are located, not written (by layer index).
    locate: Vec<bool>,
    located: HashMap<String, Located>,
    /// Distinct xattrs of located objects, stored once.
    xattr_sets: HashSet<std::sync::Arc<[u8]>>,
}

struct LayerState {
    layer: usize,
    objects_seen: usize,
    xattr_blobs: HashMap<String, Vec<u8>>,
    pending_xattrs: Option<(String, Vec<u8>)>,
    /// The last content object whose first path has not been seen yet: its order key is
    /// (that path, checksum), or ("", checksum) if another object comes first (content kept
    /// only under a top-level `sysroot`, which has no paths in the stream).
    awaiting_path: Option<String>,
    /// Order key of the previous content object of this layer.
    last_key: Option<(String, String)>,
    /// Whether to require this tool's path order (see [`StreamVerifier::strict`]).
    strict: bool,
    written_here: HashSet<String>,
}

impl LayerState {
    /// The object awaiting its first path gets `path` as its order key, which must come
    /// after the previous object's.
    fn order(&mut self, path: &str) -> Result<(), VerifyError> {
        let Some(checksum) = self.awaiting_path.take() else {
            return Ok(());
        };
        let key = (path.to_string(), checksum);
        if !self.strict {
            return Ok(());
        }
        if let Some(last) = &self.last_key {
            if *last >= key {
                return Err(err(
                    self.layer,
                    &format::object_path(ObjKind::File, &key.1),
                    &format!(
                        "content objects are not in path order: first path {:?} after {:?} ({})",
                        key.0, last.0, last.1
                    ),
                ));
            }
        }
        self.last_key = Some(key);
        Ok(())
    }
}

impl StreamVerifier {
    /// A fresh verifier.
    pub fn new() -> Self {
        Self::default()
    }

    /// A verifier that also writes every object, once verified, into `repo` (which must be in
    /// a transaction). The commit and its detached metadata are written by
    /// [`StreamVerifier::finish`], only after the whole tree checked out, so a failed import
    /// never leaves a commit that looks complete.
    pub fn importing_into(repo: ostree::Repo) -> Self {
        StreamVerifier {
            sink: Some(repo),
            ..Self::default()
        }
    }

    /// When importing, leave the regular files of the layers marked here out of the
    /// repository and record where they are ([`VerifiedCommit::located`]); they are still
    /// checked like every other object. Metadata, symlinks and the commit are written.
    pub fn locate_layers(mut self, which: Vec<bool>) -> Self {
        self.locate = which;
        self
    }

    /// Also require the stream order this tool writes: content objects in path order
    /// (`export::stream_order`). Other valid writers (ostree-ext, rpm-ostree) use checksum
    /// order, so this is for images known to be ours.
    pub fn strict(mut self, on: bool) -> Self {
        self.strict = on;
        self
    }

    /// Check one decompressed layer stream.
    ///
    /// # Errors
    /// The first problem found, naming the layer and entry.
    pub fn layer(&mut self, layer: usize, reader: impl Read) -> Result<(), VerifyError> {
        let mut ar = tar::Archive::new(crate::targuard::TarGuard::new(reader));
        let entries = ar.entries().map_err(|e| VerifyError::Layer {
            layer,
            reason: format!("not a tar stream: {e}"),
        })?;
        let mut st = LayerState {
            layer,
            objects_seen: 0,
            xattr_blobs: HashMap::new(),
            pending_xattrs: None,
            awaiting_path: None,
            last_key: None,
            strict: self.strict,
            written_here: HashSet::new(),
        };
        let mut first = true;
        for entry in entries {
            let entry = entry.map_err(|e| VerifyError::Layer {
                layer,
                reason: format!("reading tar: {e}"),
            })?;
            let raw = entry.path_bytes().into_owned();
            let path = String::from_utf8(raw).map_err(|e| VerifyError::Layer {
                layer,
                reason: format!("non-UTF-8 path {:?}", String::from_utf8_lossy(e.as_bytes())),
            })?;
            if first && layer == 0 {
                let is_root = entry.header().entry_type() == tar::EntryType::Directory
                    && (path == "./" || path == ".");
                if !is_root {
                    return Err(err(
                        layer,
                        &path,
                        "the commit layer must start with the root directory entry ./",
                    ));
                }
            }
            first = false;
            self.entry(&mut st, entry, path)?;
        }
        st.order("")?;
        if let Some((c, _)) = st.pending_xattrs {
            return Err(err(
                layer,
                &format::object_path(ObjKind::FileXattrsLink, &c),
                "xattrs not followed by their content object",
            ));
        }
        if layer == 0 && self.commit.is_none() {
            return Err(VerifyError::Layer {
                layer,
                reason: "no commit object in the commit layer".into(),
            });
        }
        Ok(())
    }

    fn entry<R: Read>(
        &mut self,
        st: &mut LayerState,
        mut entry: tar::Entry<'_, R>,
        path: String,
    ) -> Result<(), VerifyError> {
        let layer = st.layer;
        let header = entry.header().clone();
        let ty = header.entry_type();
        let owner = owned(&header).map_err(|r| err(layer, &path, &r))?;
        let clean = path
            .trim_start_matches("./")
            .trim_end_matches('/')
            .to_string();
        // What a runtime unpacks must stay inside the image root and name each file once:
        // no absolute names, no `..`, no empty or `.` components (`a//b`, `a/./b`).
        if path.starts_with('/')
            || (!clean.is_empty()
                && clean
                    .split('/')
                    .any(|c| c.is_empty() || c == "." || c == ".."))
        {
            return Err(err(
                layer,
                &path,
                "path is absolute or has empty, . or .. components",
            ));
        }

        if let Some(rest) = clean.strip_prefix(format::REPO_PREFIX) {
            if ty == tar::EntryType::Directory || rest == "config" {
                return Ok(());
            }
            let Some((checksum, kind)) = parse_object_path(&clean) else {
                return Err(err(
                    layer,
                    &clean,
                    "unexpected entry inside the embedded repo",
                ));
            };
            return self.object(st, &mut entry, &clean, checksum, kind, owner, ty);
        }
        if format::SKELETON_HEAD[..3].contains(&clean.as_str()) {
            return Ok(());
        }
        let size = header.size().unwrap_or(1);
        self.tree_entry(st, &mut entry, clean, owner, ty, size)
    }

    /// An entry of the image's root tree (outside the embedded repo): a directory, a
    /// hardlink to a content object this layer wrote, or an empty file; each path once.
    fn tree_entry<R: Read>(
        &mut self,
        st: &mut LayerState,
        entry: &mut tar::Entry<'_, R>,
        clean: String,
        owner: Owned,
        ty: tar::EntryType,
        size: u64,
    ) -> Result<(), VerifyError> {
        let layer = st.layer;
        match ty {
            tar::EntryType::Directory => {
                // Chunk layers repeat parent directories, always with the same metadata; an
                // entry that disagrees would win or lose depending on the unpacker.
                if let Some(prev) = self.dirs.get(&clean) {
                    if *prev != owner {
                        return Err(err(
                            layer,
                            &clean,
                            &format!(
                                "directory entry appears again as {owner:?}, earlier as {prev:?}"
                            ),
                        ));
                    }
                } else {
                    self.dirs.insert(clean, owner);
                }
            }
            tar::EntryType::Link => {
                let target = entry
                    .link_name_bytes()
                    .map(|t| String::from_utf8_lossy(&t).into_owned())
                    .unwrap_or_default();
                let target = target.trim_start_matches("./").to_string();
                let Some((c, ObjKind::File)) = parse_object_path(&target) else {
                    return Err(err(
                        layer,
                        &clean,
                        &format!("hardlink to {target}, which is not a content object"),
                    ));
                };
                if !st.written_here.contains(&c) {
                    return Err(err(layer, &clean, &format!("hardlink to content object {c}, which this layer has not written before it")));
                }
                self.record_path(st, clean, PathEntry::Link(c))?;
            }
            tar::EntryType::Regular => {
                if size != 0 {
                    return Err(err(layer, &clean, "non-empty regular file outside the repo (content must be a hardlink to its object)"));
                }
                self.record_path(st, clean, PathEntry::EmptyFile(owner))?;
            }
            other => {
                return Err(err(
                    layer,
                    &clean,
                    &format!("unexpected {other:?} entry outside the repo"),
                ));
            }
        }
        Ok(())
    }

    /// A path of the image's tree, as a hardlink or an empty file: in stream order, once.
    fn record_path(
        &mut self,
        st: &mut LayerState,
        clean: String,
        entry: PathEntry,
    ) -> Result<(), VerifyError> {
        st.order(&clean)?;
        if self.paths.contains_key(&clean) {
            return Err(err(st.layer, &clean, "path appears twice"));
        }
        self.paths.insert(clean, entry);
        Ok(())
    }

    /// Count `n` more bytes of held metadata against the total limit.
    fn hold(&mut self, n: usize) -> Result<(), String> {
        self.held += n as u64;
        if self.held > format::MAX_METADATA_TOTAL {
            return Err(format!(
                "the image holds more than {} bytes of metadata objects, the limit (a real commit needs far less)",
                format::MAX_METADATA_TOTAL
            ));
        }
        Ok(())
    }

    /// One object entry of the embedded repository: its place in the stream, its bytes
    /// against its name, and (importing) into the repository.
    #[allow(clippy::too_many_arguments)]
    fn object<R: Read>(
        &mut self,
        st: &mut LayerState,
        entry: &mut tar::Entry<'_, R>,
        path: &str,
        checksum: String,
        kind: ObjKind,
        owner: Owned,
        ty: tar::EntryType,
    ) -> Result<(), VerifyError> {
        let o = Obj {
            layer: st.layer,
            path,
            checksum,
            owner,
            ty,
        };
        st.objects_seen += 1;
        if st.pending_xattrs.is_some() && kind != ObjKind::File {
            return Err(o.err("expected the content object of the preceding .file-xattrs-link"));
        }
        let is_meta = matches!(
            kind,
            ObjKind::Commit | ObjKind::CommitMeta | ObjKind::DirTree | ObjKind::DirMeta
        );
        if is_meta && o.layer != 0 {
            return Err(
                o.err("metadata object in a chunk layer (only the commit layer may hold them)")
            );
        }
        match kind {
            ObjKind::Commit => self.commit_object(st, entry, o),
            ObjKind::CommitMeta => self.commitmeta_object(st, entry, o),
            ObjKind::DirTree | ObjKind::DirMeta => self.tree_object(entry, o, kind),
            ObjKind::FileXattrs => {
                let data =
                    read_meta(entry, o.ty, format::MAX_XATTRS_SIZE).map_err(|r| o.err(&r))?;
                self.hold(data.len()).map_err(|r| o.err(&r))?;
                check_hash(&data, &o.checksum).map_err(|r| o.err(&r))?;
                st.xattr_blobs.insert(o.checksum, data);
                Ok(())
            }
            ObjKind::FileXattrsLink => Self::xattrs_link(st, entry, o),
            ObjKind::File => self.content_object(st, entry, o),
        }
    }

    fn commit_object<R: Read>(
        &mut self,
        st: &LayerState,
        entry: &mut tar::Entry<'_, R>,
        o: Obj<'_>,
    ) -> Result<(), VerifyError> {
        if self.commit.is_some() {
            return Err(o.err("second commit object"));
        }
        if st.objects_seen != 1 {
            return Err(o.err("the commit object must be the first object of the commit layer"));
        }
        let data = read_meta(entry, o.ty, format::MAX_METADATA_SIZE).map_err(|r| o.err(&r))?;
        self.hold(data.len()).map_err(|r| o.err(&r))?;
        check_hash(&data, &o.checksum).map_err(|r| o.err(&r))?;
        self.commit = Some((o.checksum, data));
        Ok(())
    }

    fn commitmeta_object<R: Read>(
        &mut self,
        st: &LayerState,
        entry: &mut tar::Entry<'_, R>,
        o: Obj<'_>,
    ) -> Result<(), VerifyError> {
        let Some((commit, _)) = &self.commit else {
            return Err(o.err("detached metadata before the commit object"));
        };
        if st.objects_seen != 2 {
            return Err(o.err("detached metadata must come right after the commit object"));
        }
        if *commit != o.checksum {
            return Err(o.err(&format!(
                "detached metadata is named for {}, the commit is {commit}",
                o.checksum
            )));
        }
        let data = read_meta(entry, o.ty, format::MAX_METADATA_SIZE).map_err(|r| o.err(&r))?;
        self.hold(data.len()).map_err(|r| o.err(&r))?;
        let v = variant_of(&data, "a{sv}");
        if !v.is_normal_form() {
            return Err(o.err("detached metadata is not a valid a{sv}"));
        }
        self.commitmeta = Some(data);
        Ok(())
    }

    fn tree_object<R: Read>(
        &mut self,
        entry: &mut tar::Entry<'_, R>,
        o: Obj<'_>,
        kind: ObjKind,
    ) -> Result<(), VerifyError> {
        if self.commit.is_none() {
            return Err(o.err("metadata object before the commit object"));
        }
        let data = read_meta(entry, o.ty, format::MAX_METADATA_SIZE).map_err(|r| o.err(&r))?;
        self.hold(data.len()).map_err(|r| o.err(&r))?;
        check_hash(&data, &o.checksum).map_err(|r| o.err(&r))?;
        if let Some(repo) = &self.sink {
            let (ot, ty) = if kind == ObjKind::DirTree {
                (ostree::ObjectType::DirTree, "(a(say)a(sayay))")
            } else {
                (ostree::ObjectType::DirMeta, "(uuua(ayay))")
            };
            repo.write_metadata(
                ot,
                Some(&o.checksum),
                &variant_of(&data, ty),
                gio::Cancellable::NONE,
            )
            .map_err(|x| o.err(&format!("writing into the repo: {}", x.message())))?;
        }
        let map = if kind == ObjKind::DirTree {
            &mut self.dirtrees
        } else {
            &mut self.dirmetas
        };
        if map.insert(o.checksum.clone(), data).is_some() {
            return Err(o.err("object appears twice"));
        }
        Ok(())
    }

    /// A `.file-xattrs-link`: the xattrs of the content object that must come next.
    fn xattrs_link<R: Read>(
        st: &mut LayerState,
        entry: &mut tar::Entry<'_, R>,
        o: Obj<'_>,
    ) -> Result<(), VerifyError> {
        let blob = match o.ty {
            tar::EntryType::Regular => {
                read_meta(entry, o.ty, format::MAX_XATTRS_SIZE).map_err(|r| o.err(&r))?
            }
            tar::EntryType::Link => {
                let target = entry
                    .link_name_bytes()
                    .map(|t| String::from_utf8_lossy(&t).into_owned())
                    .unwrap_or_default();
                match parse_object_path(&target) {
                    Some((x, ObjKind::FileXattrs)) => {
                        st.xattr_blobs.get(&x).cloned().ok_or_else(|| {
                            o.err(&format!("links to xattrs {x} not written before it"))
                        })?
                    }
                    _ => {
                        return Err(o.err(&format!("links to {target}, not a .file-xattrs object")))
                    }
                }
            }
            other => return Err(o.err(&format!("unexpected {other:?} entry"))),
        };
        let v = variant_of(&blob, "a(ayay)");
        if !v.is_normal_form() {
            return Err(o.err("xattrs blob is not a valid a(ayay)"));
        }
        st.pending_xattrs = Some((o.checksum, blob));
        Ok(())
    }

    /// A content object: right after its xattrs link, once in the image, hashing to its name.
    fn content_object<R: Read>(
        &mut self,
        st: &mut LayerState,
        entry: &mut tar::Entry<'_, R>,
        o: Obj<'_>,
    ) -> Result<(), VerifyError> {
        let Some((xc, xattrs)) = st.pending_xattrs.take() else {
            return Err(o.err("content object not preceded by its .file-xattrs-link"));
        };
        if xc != o.checksum {
            return Err(o.err(&format!("preceded by the xattrs of {xc}")));
        }
        if self.content.contains_key(&o.checksum) {
            return Err(o.err("content object appears twice in the image"));
        }
        // The previous object had no path in the stream: it sorts by "" alone.
        st.order("")?;
        check_pax_xattrs(entry, &xattrs, st.strict).map_err(|r| o.err(&r))?;
        let locating = self.sink.is_some() && self.locate.get(st.layer).copied().unwrap_or(false);
        let mut location = None;
        let (actual, empty, mode_bits) = match o.ty {
            tar::EntryType::Regular => {
                let size = entry.header().size().unwrap_or(1);
                if locating {
                    location = Some((entry.raw_file_position(), size));
                }
                let actual = self.regular_content(entry, &o, &xattrs, locating)?;
                (actual, size == 0, S_IFREG | o.owner.mode)
            }
            // Importers write symlinks with mode 0777 whatever the header says.
            tar::EntryType::Symlink => (
                self.symlink_content(entry, &o, &xattrs)?,
                false,
                S_IFLNK | 0o777,
            ),
            other => return Err(o.err(&format!("content object of unexpected type {other:?}"))),
        };
        if actual != o.checksum {
            return Err(o.err(&format!(
                "content does not match its name: it hashes to {actual}"
            )));
        }
        if let Some((offset, size)) = location {
            let shared = match self.xattr_sets.get(&xattrs[..]) {
                Some(x) => x.clone(),
                None => {
                    let x: std::sync::Arc<[u8]> = xattrs.clone().into();
                    self.xattr_sets.insert(x.clone());
                    x
                }
            };
            self.located.insert(
                o.checksum.clone(),
                Located {
                    layer: st.layer,
                    offset,
                    size,
                    uid: o.owner.uid,
                    gid: o.owner.gid,
                    mode: S_IFREG | o.owner.mode,
                    xattrs: shared,
                },
            );
        }
        st.awaiting_path = Some(o.checksum.clone());
        st.written_here.insert(o.checksum.clone());
        let owned = Owned {
            mode: mode_bits,
            ..o.owner
        };
        self.content.insert(o.checksum, (owned, empty));
        Ok(())
    }

    /// Hash a regular file's bytes (writing them into the repository when importing);
    /// returns the checksum they give.
    fn regular_content<R: Read>(
        &mut self,
        entry: &mut tar::Entry<'_, R>,
        o: &Obj<'_>,
        xattrs: &[u8],
        locating: bool,
    ) -> Result<String, VerifyError> {
        let owner = &o.owner;
        let header = content_header(owner.uid, owner.gid, S_IFREG | owner.mode, "", xattrs);
        let mut h = ContentHasher::new(&header);
        let size = entry.header().size().unwrap_or(0);
        let mut writer = if locating {
            None
        } else {
            self.content_writer(&o.checksum, owner, size, xattrs)
                .map_err(|r| o.err(&r))?
        };
        let mut buf = vec![0u8; format::COPY_BUFFER];
        loop {
            let n = entry
                .read(&mut buf)
                .map_err(|x| o.err(&format!("reading: {x}")))?;
            if n == 0 {
                break;
            }
            h.update(&buf[..n]);
            if let Some(w) = writer.as_mut() {
                w.write(&buf[..n]).map_err(|r| o.err(&r))?;
            }
        }
        let actual = h.finish();
        // libostree checks the checksum again as it finishes the object.
        if let (Some(w), true) = (writer, actual == o.checksum) {
            w.finish().map_err(|r| o.err(&r))?;
        }
        Ok(actual)
    }

    /// Hash a symlink (writing it into the repository when importing); returns the checksum.
    fn symlink_content<R: Read>(
        &mut self,
        entry: &mut tar::Entry<'_, R>,
        o: &Obj<'_>,
        xattrs: &[u8],
    ) -> Result<String, VerifyError> {
        let owner = &o.owner;
        let target = entry
            .link_name_bytes()
            .ok_or_else(|| o.err("symlink without target"))?;
        let target =
            std::str::from_utf8(&target).map_err(|_| o.err("symlink target is not UTF-8"))?;
        let header = content_header(owner.uid, owner.gid, S_IFLNK | 0o777, target, xattrs);
        let actual = ContentHasher::new(&header).finish();
        if let (Some(repo), true) = (&self.sink, actual == o.checksum) {
            let xv = variant_of(xattrs, "a(ayay)");
            repo.write_symlink(
                Some(&o.checksum),
                owner.uid,
                owner.gid,
                Some(&xv),
                target,
                gio::Cancellable::NONE,
            )
            .map_err(|x| o.err(&format!("writing into the repo: {}", x.message())))?;
        }
        Ok(actual)
    }

    /// Where a regular file's bytes go when importing and the repo lacks the object.
    fn content_writer(
        &self,
        checksum: &str,
        owner: &Owned,
        size: u64,
        xattrs: &[u8],
    ) -> Result<Option<ContentSink>, String> {
        let Some(repo) = &self.sink else {
            return Ok(None);
        };
        if repo
            .has_object(ostree::ObjectType::File, checksum, gio::Cancellable::NONE)
            .unwrap_or(false)
        {
            return Ok(None);
        }
        let w = |x: ostree::glib::Error| format!("writing into the repo: {}", x.message());
        let xv = variant_of(xattrs, "a(ayay)");
        if repo.mode() == ostree::RepoMode::Archive {
            // libostree cannot stream a regular file into an archive repo; spool it to disk
            // (never to memory) and hand it over as a content stream. The spool lives in the
            // repo's own tmp/, on the filesystem the object is going to anyway: a huge forged
            // object costs the space a real one would, never a tmpfs $TMPDIR (RAM).
            let tmp = repo
                .path()
                .path()
                .map(|p| p.join("tmp"))
                .filter(|p| p.is_dir())
                .unwrap_or_else(std::env::temp_dir);
            let file = tempfile::NamedTempFile::new_in(&tmp)
                .map_err(|x| format!("temp file in {}: {x}", tmp.display()))?;
            return Ok(Some(ContentSink::Spool {
                repo: repo.clone(),
                file,
                checksum: checksum.to_string(),
                uid: owner.uid,
                gid: owner.gid,
                mode: S_IFREG | owner.mode,
                size,
                xattrs: xv,
            }));
        }
        repo.write_regfile(
            Some(checksum),
            owner.uid,
            owner.gid,
            S_IFREG | owner.mode,
            size,
            Some(&xv),
        )
        .map(|cw| Some(ContentSink::Writer(cw)))
        .map_err(w)
    }

    /// Check that the commit's whole tree is present and matches the stream's paths.
    ///
    /// # Errors
    /// [`VerifyError::Tree`] naming the object or path.
    pub fn finish(self) -> Result<VerifiedCommit, VerifyError> {
        let (commit, commit_bytes) = self
            .commit
            .clone()
            .ok_or_else(|| VerifyError::Tree("no commit object".into()))?;
        let cv = variant_of(&commit_bytes, "(a{sv}aya(say)sstayay)");
        if !cv.is_normal_form() {
            return Err(VerifyError::Tree(format!(
                "commit {commit} is not a valid commit object"
            )));
        }
        let root_tree = hex::encode(cv.child_value(6).data());
        let root_meta = hex::encode(cv.child_value(7).data());
        let mut walk = TreeCheck {
            v: &self,
            matched_paths: HashSet::new(),
            matched_dirs: HashSet::new(),
            used_content: HashSet::new(),
            used_trees: HashSet::new(),
            used_metas: HashSet::new(),
            paths: 0,
        };
        walk.dir("", &root_tree, &root_meta, true)?;
        self.nothing_beside_the_tree(&walk)?;
        let paths = walk.paths;
        if let Some(repo) = &self.sink {
            Self::write_commit(repo, &commit, &cv, self.commitmeta.as_deref())?;
        }
        Ok(VerifiedCommit {
            commit,
            commit_bytes,
            commitmeta: self.commitmeta,
            content_objects: self.content.len(),
            metadata_objects: self.dirtrees.len() + self.dirmetas.len(),
            paths,
            located: self.located,
        })
    }

    /// Every entry outside the embedded repo is a path of the commit (once), and every
    /// content and dirtree object is part of its tree.
    fn nothing_beside_the_tree(&self, walk: &TreeCheck<'_>) -> Result<(), VerifyError> {
        let mut extra: Vec<&String> = self
            .paths
            .keys()
            .filter(|p| !walk.matched_paths.contains(*p))
            .chain(
                self.dirs
                    .iter()
                    .filter(|(d, o)| !walk.matched_dirs.contains(*d) && !format_dir(d, o))
                    .map(|(d, _)| d),
            )
            .collect();
        extra.sort();
        if let Some(first) = extra.first() {
            return Err(VerifyError::Tree(format!(
                "{first} is in the image but not in the commit's tree{}",
                match extra.len() {
                    1 => String::new(),
                    n => format!(" ({} more such entries)", n - 1),
                }
            )));
        }
        if let Some(extra) = self
            .content
            .keys()
            .find(|c| !walk.used_content.contains(*c))
        {
            return Err(VerifyError::Tree(format!(
                "content object {extra} is not part of the commit's tree"
            )));
        }
        if let Some(extra) = self.dirtrees.keys().find(|c| !walk.used_trees.contains(*c)) {
            return Err(VerifyError::Tree(format!(
                "dirtree object {extra} is not part of the commit's tree"
            )));
        }
        Ok(())
    }

    /// Importing: the commit and its detached metadata go in last, once everything verified.
    fn write_commit(
        repo: &ostree::Repo,
        commit: &str,
        cv: &ostree::glib::Variant,
        commitmeta: Option<&[u8]>,
    ) -> Result<(), VerifyError> {
        let failed = |x: ostree::glib::Error| {
            VerifyError::Tree(format!(
                "writing commit {commit} into the repo: {}",
                x.message()
            ))
        };
        repo.write_metadata(
            ostree::ObjectType::Commit,
            Some(commit),
            cv,
            gio::Cancellable::NONE,
        )
        .map_err(failed)?;
        if let Some(meta) = commitmeta {
            repo.write_commit_detached_metadata(
                commit,
                Some(&variant_of(meta, "a{sv}")),
                gio::Cancellable::NONE,
            )
            .map_err(failed)?;
        }
        Ok(())
    }
}

/// A regular file on its way into the repo being imported into.
enum ContentSink {
    /// Streamed by libostree (bare modes).
    Writer(ostree::ContentWriter),
    /// Spooled to a temp file, then written as a content stream (archive mode).
    Spool {
        repo: ostree::Repo,
        file: tempfile::NamedTempFile,
        checksum: String,
        uid: u32,
        gid: u32,
        mode: u32,
        size: u64,
        xattrs: ostree::glib::Variant,
    },
}

impl ContentSink {
    fn write(&mut self, data: &[u8]) -> Result<(), String> {
        match self {
            ContentSink::Writer(w) => w
                .write_all(data, gio::Cancellable::NONE)
                .map(|_| ())
                .map_err(|x| format!("writing into the repo: {}", x.message())),
            ContentSink::Spool { file, .. } => {
                std::io::Write::write_all(file, data).map_err(|x| format!("spooling: {x}"))
            }
        }
    }

    fn finish(self) -> Result<(), String> {
        let w = |x: ostree::glib::Error| format!("writing into the repo: {}", x.message());
        match self {
            ContentSink::Writer(cw) => cw.finish(gio::Cancellable::NONE).map(|_| ()).map_err(w),
            ContentSink::Spool {
                repo,
                file,
                checksum,
                uid,
                gid,
                mode,
                size,
                xattrs,
            } => {
                let info = gio::FileInfo::new();
                info.set_file_type(gio::FileType::Regular);
                info.set_size(size as i64);
                info.set_attribute_uint32("unix::uid", uid);
                info.set_attribute_uint32("unix::gid", gid);
                info.set_attribute_uint32("unix::mode", mode);
                let input = gio::File::for_path(file.path())
                    .read(gio::Cancellable::NONE)
                    .map_err(w)?;
                let (stream, len) = ostree::raw_file_to_content_stream(
                    &input,
                    &info,
                    Some(&xattrs),
                    gio::Cancellable::NONE,
                )
                .map_err(w)?;
                repo.write_content(Some(&checksum), &stream, len, gio::Cancellable::NONE)
                    .map_err(w)?;
                Ok(())
            }
        }
    }
}

struct TreeCheck<'a> {
    v: &'a StreamVerifier,
    /// Stream paths and directories the tree accounted for; anything else is an extra.
    matched_paths: HashSet<String>,
    matched_dirs: HashSet<String>,
    used_content: HashSet<String>,
    used_trees: HashSet<String>,
    used_metas: HashSet<String>,
    paths: usize,
}

impl TreeCheck<'_> {
    /// Check directory `path` (dirtree `tree`, dirmeta `meta`) and everything under it
    /// against the stream. One function on purpose (~95 lines): every file of a dirtree goes
    /// through the same sequence of lookups (content object, then its tree path as hardlink
    /// or empty file, then the owner and mode that path must show), and the sequence reads
    /// best as one piece.
    fn dir(
        &mut self,
        path: &str,
        tree: &str,
        meta: &str,
        visible: bool,
    ) -> Result<(), VerifyError> {
        let shown = if path.is_empty() { "/" } else { path };
        let meta_bytes =
            self.v.dirmetas.get(meta).ok_or_else(|| {
                VerifyError::Tree(format!("dirmeta {meta} of {shown} is missing"))
            })?;
        self.used_metas.insert(meta.to_string());
        let mv = variant_of(meta_bytes, "(uuua(ayay))");
        let (uid, gid, mode, _xattrs): ostree::DirmetaVariantType = mv
            .try_get()
            .map_err(|_| VerifyError::Tree(format!("dirmeta {meta} of {shown} is malformed")))?;
        if visible {
            let mapped = format::map_tree_path(path);
            let found = self.v.dirs.get(mapped.as_ref()).ok_or_else(|| {
                VerifyError::Tree(format!("directory {shown} has no directory entry"))
            })?;
            let want = Owned {
                uid: u32::from_be(uid),
                gid: u32::from_be(gid),
                mode: u32::from_be(mode) & 0o7777,
            };
            if *found != want {
                return Err(VerifyError::Tree(format!(
                    "directory {shown}: entry has {found:?}, dirmeta {meta} says {want:?}"
                )));
            }
            self.matched_dirs.insert(mapped.into_owned());
            self.paths += 1;
        }
        let tree_bytes =
            self.v.dirtrees.get(tree).ok_or_else(|| {
                VerifyError::Tree(format!("dirtree {tree} of {shown} is missing"))
            })?;
        self.used_trees.insert(tree.to_string());
        let tv = variant_of(tree_bytes, "(a(say)a(sayay))");
        let (files, dirs) = ostree_format::checksum::dirtree_entries(&tv)
            .ok_or_else(|| VerifyError::Tree(format!("dirtree {tree} of {shown} is malformed")))?;
        for (name, csum) in files {
            let child = format::join(path, &name);
            let c = hex::encode(&csum);
            let (obj, empty) = self.v.content.get(&c).ok_or_else(|| {
                VerifyError::Tree(format!("content object {c} of {child} is missing"))
            })?;
            self.used_content.insert(c.clone());
            if !visible {
                continue;
            }
            let mapped = format::map_tree_path(&child);
            if !self.matched_paths.insert(mapped.to_string()) {
                return Err(VerifyError::Tree(format!(
                    "{child} is where another tree path is written"
                )));
            }
            match self.v.paths.get(mapped.as_ref()) {
                Some(PathEntry::Link(l)) if *l == c => {}
                Some(PathEntry::Link(l)) => {
                    return Err(VerifyError::Tree(format!(
                        "{child} links to object {l}, the tree says {c}"
                    )))
                }
                Some(PathEntry::EmptyFile(o)) => {
                    let want = Owned {
                        mode: obj.mode & 0o7777,
                        ..obj.clone()
                    };
                    if !*empty || *o != want {
                        return Err(VerifyError::Tree(format!(
                            "{child} is written as an empty file, which does not match object {c}"
                        )));
                    }
                }
                None => {
                    return Err(VerifyError::Tree(format!(
                        "{child} (object {c}) has no entry in any layer"
                    )))
                }
            }
            self.paths += 1;
        }
        for (name, tree_csum, meta_csum) in dirs {
            let child = format::join(path, &name);
            let child_visible = visible && !(path.is_empty() && name == format::SYSROOT_DIR);
            self.dir(
                &child,
                &hex::encode(&tree_csum),
                &hex::encode(&meta_csum),
                child_visible,
            )?;
        }
        Ok(())
    }
}

/// Directories the format adds when the commit lacks them (`var`, `var/tmp`; format.md),
/// with exactly the metadata the writer gives them.
fn format_dir(path: &str, o: &Owned) -> bool {
    let mode = match path {
        "var" => format::DEFAULT_DIR_MODE,
        "var/tmp" => format::VAR_TMP_MODE,
        _ => return false,
    };
    *o == Owned {
        uid: 0,
        gid: 0,
        mode,
    }
}

/// An object entry being checked, and how its errors are named.
struct Obj<'a> {
    layer: usize,
    path: &'a str,
    checksum: String,
    owner: Owned,
    ty: tar::EntryType,
}

impl Obj<'_> {
    fn err(&self, reason: &str) -> VerifyError {
        err(self.layer, self.path, reason)
    }
}

fn err(layer: usize, path: &str, reason: &str) -> VerifyError {
    VerifyError::Entry {
        layer,
        path: path.to_string(),
        reason: reason.to_string(),
    }
}

fn owned(h: &tar::Header) -> Result<Owned, String> {
    let uid = h.uid().map_err(|e| format!("bad uid: {e}"))?;
    let gid = h.gid().map_err(|e| format!("bad gid: {e}"))?;
    let mode = h.mode().map_err(|e| format!("bad mode: {e}"))?;
    Ok(Owned {
        uid: u32::try_from(uid).map_err(|_| "uid out of range".to_string())?,
        gid: u32::try_from(gid).map_err(|_| "gid out of range".to_string())?,
        mode: mode & 0o7777,
    })
}

fn read_meta<R: Read>(
    entry: &mut tar::Entry<'_, R>,
    ty: tar::EntryType,
    max: u64,
) -> Result<Vec<u8>, String> {
    if ty != tar::EntryType::Regular {
        return Err(format!("expected a regular file, found {ty:?}"));
    }
    let size = entry.header().size().map_err(|e| e.to_string())?;
    if size > max {
        return Err(format!("object of {size} bytes exceeds the limit of {max}"));
    }
    let mut data = Vec::with_capacity(size as usize);
    entry
        .read_to_end(&mut data)
        .map_err(|e| format!("reading: {e}"))?;
    Ok(data)
}

fn check_hash(data: &[u8], checksum: &str) -> Result<(), String> {
    let actual = sha256_hex(data);
    if actual != checksum {
        return Err(format!(
            "content does not match its name: it hashes to {actual}"
        ));
    }
    Ok(())
}

/// The PAX xattrs of a content object must equal its xattrs blob minus `security.selinux`:
/// what a container runtime applies must be what ostree records. Writers that add none
/// (ostree-ext 0.15.3) are fine unless `required` (our own images always carry them).
fn check_pax_xattrs<R: Read>(
    entry: &mut tar::Entry<'_, R>,
    blob: &[u8],
    required: bool,
) -> Result<(), String> {
    let list = ostree_format::checksum::xattr_entries_of(blob);
    let want: BTreeMap<Vec<u8>, Vec<u8>> = list
        .into_iter()
        .map(|(k, val)| (trim_nul(&k).to_vec(), val))
        .filter(|(k, _)| k != format::SELINUX_XATTR)
        .collect();
    let mut have = BTreeMap::new();
    if let Some(exts) = entry
        .pax_extensions()
        .map_err(|e| format!("bad PAX header: {e}"))?
    {
        for ext in exts {
            let ext = ext.map_err(|e| format!("bad PAX record: {e}"))?;
            if let Some(name) = ext.key_bytes().strip_prefix(format::PAX_XATTR_PREFIX) {
                have.insert(name.to_vec(), ext.value_bytes().to_vec());
            }
        }
    }
    if have != want && (required || !have.is_empty()) {
        return Err("PAX xattrs differ from the object's .file-xattrs-link".into());
    }
    Ok(())
}
