//! Reading ostree container tar streams back the way an importer does, and checking them.
//!
//! [`StreamVerifier`] takes the decompressed layers in image order and checks, without a
//! repository: entry order (commit first, detached metadata second, xattrs right before each
//! content object; with [`StreamVerifier::strict`], also content objects in path order as
//! this tool writes them: `encapsulate::export::stream_order`), object names, every object's recomputed
//! checksum, that chunk layers carry no metadata and no object twice, and finally that the
//! commit's tree is complete and every tree path in the stream (hardlink, empty file,
//! directory) matches the tree.
//!
//! Here the walk of the stream and the checks of content objects; `metadata` checks the
//! commit, dirtree, dirmeta and xattrs objects, `tree` the commit's tree at the end, `import`
//! writes verified objects when importing.

use ostree::gio;
use ostree::prelude::*;
use ostree_format::checksum::variant_of;
use ostree_format::checksum::{content_header, sha256_hex, ContentHasher};
use ostree_format::trim_nul;
use ostree_format::{self as format, parse_object_path, ObjKind, S_IFLNK, S_IFREG};
use std::collections::{BTreeMap, HashMap, HashSet};
use std::io::Read;

mod import;
mod metadata;
mod tree;

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
        let paths = tree::check(&self, &root_tree, &root_meta)?;
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
