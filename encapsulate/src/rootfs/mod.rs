//! A plain directory tree as an ostree commit, without `ostree commit`: image pipelines now
//! build the OS in a Containerfile and hand the chunker a root filesystem.
//!
//! [`commit_tree`] walks the tree once (names and entry types; metadata of directories and
//! symlinks) and reads every regular file once, on several threads, through its own
//! descriptor: owner, mode, xattrs, and the content hashed into its ostree content checksum.
//! Dirtree and dirmeta objects are kept in memory ([`MetadataObjects`]); only the commit
//! object goes into a scratch repository. Content is never copied. The layer writer reads
//! each file from the tree again (`TreeFiles`, from the page cache the scan just filled)
//! and checks it against its checksum, so a file that changes between the two reads fails
//! the run by name.
//!
//! The tree becomes a commit the way `ostree commit --tree=dir=` would make it (same dirtree
//! and dirmeta checksums: `tests/rootfs.rs` proves it against the real CLI), with the
//! conventions of an ostree system's image:
//! - a top-level `etc` is committed as `usr/etc`, where ostree keeps the default
//!   configuration (the image's tar shows it at `etc` again); a tree that has both is refused;
//! - `--prune` paths are left out, with everything below them;
//! - a top-level `sysroot` may hold directories only: in the image, `sysroot/ostree/repo` holds
//!   the objects (prune it: `--prune /sysroot`);
//! - sockets are refused; device nodes and FIFOs too, since a commit cannot hold them, unless
//!   [`TreeOptions::keep_special`] keeps them aside for a plain image;
//! - names must be UTF-8 (dirtree names are GVariant strings);
//! - the commit's timestamp is the one given (`--created`, `SOURCE_DATE_EPOCH`), else the
//!   newest mtime in the tree: never the clock, and never in a content layer;
//! - one kernel at `usr/lib/modules/VERSION/vmlinuz` marks the commit bootable
//!   (`ostree.bootable`, `ostree.linux`), as `ostree commit --bootable` does.

use crate::longpath::{short, Short};
use crate::objread::{Body, FileObject, ObjectStat};
use crate::EncapError;
use layering::Checksum;
use ostree::gio::{self, prelude::FileExt};
use ostree::glib::{self, prelude::*};
use ostree_format::checksum::{content_header, ContentHasher};
use ostree_format::{join, S_IFBLK, S_IFCHR, S_IFDIR, S_IFIFO, S_IFLNK, S_IFMT, S_IFREG, S_IFSOCK};
use std::io::Read;
use std::os::unix::ffi::OsStrExt;
use std::os::unix::fs::MetadataExt;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicUsize, Ordering};

mod files;
use files::hash_all;
pub(crate) use files::TreeFiles;

/// Files handed to a hashing thread at a time: small enough to balance two threads on a tree
/// of a few big files, big enough that the shared counter is not contended.
const HASH_BATCH: usize = 16;
/// Read buffer of a hashing thread.
const HASH_BUFFER: usize = 256 * 1024;

/// How to make the commit.
#[derive(Debug, Clone, Default)]
pub struct TreeOptions {
    /// Tree paths left out with everything below them (`/sysroot`, `var/cache`: leading and
    /// trailing slashes do not matter).
    pub prune: Vec<String>,
    /// Commit timestamp (seconds since the epoch); `None`: the newest mtime in the tree.
    pub timestamp: Option<u64>,
    /// Hashing threads (0: one per CPU).
    pub threads: usize,
    /// Keep device nodes and FIFOs aside ([`TreeCommit::specials`]) instead of refusing
    /// them: a plain image holds them, a commit cannot.
    pub keep_special: bool,
}

/// A device node or FIFO of the tree, kept beside the commit (which cannot hold one).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Special {
    /// Its path in the image (`etc/…`, where a commit has `usr/etc/…`).
    pub path: String,
    /// Owner.
    pub uid: u32,
    /// Group.
    pub gid: u32,
    /// Full mode, file type bits included.
    pub mode: u32,
    /// Device major and minor numbers (0 for a FIFO).
    pub rdev: (u32, u32),
    /// Serialized `a(ayay)`, as for content objects.
    pub xattrs: Vec<u8>,
}

/// Where the tree keeps `etc`: what the reader needs to find a file from its image path.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum EtcOnDisk {
    /// `etc` at the top, as a container build leaves it (committed as `usr/etc`).
    Top,
    /// `usr/etc`, the ostree layout (or no `etc` at all).
    InUsr,
}

impl EtcOnDisk {
    /// The path under the tree's root of the file that the image shows at `image_path`
    /// (`ostree_format::map_tree_path` maps commit paths to image paths: `usr/etc` → `etc`).
    pub fn disk_path(self, image_path: &str) -> std::borrow::Cow<'_, str> {
        match self {
            EtcOnDisk::Top => image_path.into(),
            EtcOnDisk::InUsr => {
                if image_path == "etc" || image_path.starts_with("etc/") {
                    format!("usr/{image_path}").into()
                } else {
                    image_path.into()
                }
            }
        }
    }

    /// Where the tree at `root` keeps `etc` when it is read by image paths (`verify
    /// --rootfs`, `--base`): at the top if it has a top-level `etc`, else in `usr/etc`.
    pub fn of(root: &Path) -> EtcOnDisk {
        match std::fs::symlink_metadata(root.join("etc")) {
            Ok(_) => EtcOnDisk::Top,
            Err(_) => EtcOnDisk::InUsr,
        }
    }

    /// The names in the tree's directory at image path `dir`, sorted, as the image shows
    /// them: with `InUsr`, `usr/etc` is listed at the top and not in `usr`.
    ///
    /// # Errors
    /// The directory cannot be listed.
    pub fn image_names(self, root: &Path, dir: &str) -> std::io::Result<Vec<std::ffi::OsString>> {
        let mut names = std::fs::read_dir(root.join(self.disk_path(dir).as_ref()))?
            .map(|e| e.map(|e| e.file_name()))
            .collect::<std::io::Result<Vec<_>>>()?;
        if self == EtcOnDisk::InUsr {
            match dir {
                "usr" => names.retain(|n| n != "etc"),
                "" if std::fs::symlink_metadata(root.join("usr/etc")).is_ok() => {
                    names.push("etc".into())
                }
                _ => {}
            }
        }
        names.sort();
        Ok(names)
    }
}

/// The commit made from a tree.
#[derive(Debug, Clone)]
pub struct TreeCommit {
    /// Its checksum, in the scratch repository.
    pub commit: String,
    /// Where the tree keeps `etc`.
    pub etc: EtcOnDisk,
    /// Device nodes and FIFOs, in path order (with [`TreeOptions::keep_special`]).
    pub specials: Vec<Special>,
    /// The commit's dirtree and dirmeta objects (only the commit object is in the
    /// repository).
    pub objects: std::sync::Arc<MetadataObjects>,
}

/// Owner, mode and xattrs, as dirmeta and content headers hold them.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
struct Meta {
    uid: u32,
    gid: u32,
    mode: u32,
    /// Serialized `a(ayay)`, names sorted, as libostree reads them.
    xattrs: Vec<u8>,
}

enum Kind {
    /// A regular file: its metadata is read by the hashing threads, through the file's own
    /// descriptor (the walk sees it only by its directory entry's type).
    Regular,
    Symlink(String),
}

struct FileRec {
    dir: u32,
    name: String,
    meta: Meta,
    kind: Kind,
}

struct DirRec {
    /// Path under the root on disk ("" for the root).
    disk: String,
    meta: Meta,
    /// Its name ("" for the root).
    name: String,
    /// Indices into the files, sorted by name.
    files: Vec<u32>,
    /// Indices into the dirs, sorted by name.
    dirs: Vec<u32>,
}

/// Normalize a `--prune` path to a tree path (no leading or trailing slash).
///
/// # Errors
/// An empty path, the root, or one with `.`/`..` components.
pub fn prune_path(p: &str) -> Result<String, String> {
    let t = p.trim_matches('/');
    if t.is_empty() {
        return Err(format!("--prune {p:?}: cannot prune the whole tree"));
    }
    if t.split('/').any(|c| c.is_empty() || c == "." || c == "..") {
        return Err(format!(
            "--prune {p:?}: give a plain path in the tree (no `.`, `..` or `//`)"
        ));
    }
    Ok(t.to_string())
}

struct Scan<'a> {
    root: &'a Path,
    shown: String,
    prune: Vec<String>,
    /// Where the tree keeps `etc` (found once, before the walk).
    etc: EtcOnDisk,
    keep_special: bool,
    specials: Vec<Special>,
    dirs: Vec<DirRec>,
    files: Vec<FileRec>,
    newest: i64,
}

impl Scan<'_> {
    fn err(&self, path: &str, reason: impl Into<String>) -> EncapError {
        EncapError::Tree {
            root: self.shown.clone(),
            path: if path.is_empty() {
                "/".into()
            } else {
                path.into()
            },
            reason: reason.into(),
        }
    }

    fn io(&self, path: &str, what: &str, e: std::io::Error) -> EncapError {
        self.err(path, format!("{what}: {e}"))
    }

    /// The host path of `disk` below the root, usable whatever its length.
    fn at(&self, disk: &str) -> std::io::Result<Short> {
        short(&self.root.join(disk))
    }

    fn meta(&mut self, disk: &str, md: &std::fs::Metadata) -> Result<Meta, EncapError> {
        self.newest = self.newest.max(md.mtime());
        Ok(Meta {
            uid: md.uid(),
            gid: md.gid(),
            mode: md.mode(),
            xattrs: self
                .at(disk)
                .and_then(|p| read_xattrs(&p))
                .map_err(|e| self.io(disk, "reading its xattrs", e))?,
        })
    }

    /// Walk the directory at `disk` (tree path `tree`), whose own metadata is `md`; returns
    /// its index. Children are pushed after their parent.
    fn walk(
        &mut self,
        disk: &str,
        tree: &str,
        name: &str,
        md: &std::fs::Metadata,
    ) -> Result<u32, EncapError> {
        let meta = self.meta(disk, md)?;
        let at =
            u32::try_from(self.dirs.len()).map_err(|_| self.err(tree, "too many directories"))?;
        self.dirs.push(DirRec {
            disk: disk.to_string(),
            name: name.to_string(),
            meta,
            files: Vec::new(),
            dirs: Vec::new(),
        });
        // (name, path on disk, type from the directory entry where the listing gave one)
        let mut entries: Vec<(String, String, Option<std::fs::FileType>)> = Vec::new();
        let rd = self
            .at(disk)
            .and_then(std::fs::read_dir)
            .map_err(|e| self.io(disk, "listing the directory", e))?;
        for e in rd {
            let e = e.map_err(|e| self.io(disk, "listing the directory", e))?;
            let name = e.file_name();
            let Some(name) = name.to_str() else {
                return Err(self.err(
                    &join(disk, &name.to_string_lossy()),
                    "the name is not UTF-8, which an ostree commit cannot hold",
                ));
            };
            if tree.is_empty() && name == "etc" {
                // Committed below usr (see the module docs), walked from there.
                continue;
            }
            entries.push((name.to_string(), join(disk, name), e.file_type().ok()));
        }
        if tree == "usr" && self.etc == EtcOnDisk::Top {
            entries.push(("etc".into(), "etc".into(), None));
        }
        entries.sort_unstable_by(|a, b| a.0.as_bytes().cmp(b.0.as_bytes()));
        for (name, child_disk, listed) in entries {
            let child_tree = join(tree, &name);
            if self.prune.contains(&child_tree) {
                continue;
            }
            // A regular file costs no syscall here when the listing says what it is: the
            // hashing threads open it and read the rest.
            let md = match listed {
                Some(t) if t.is_file() => None,
                _ => Some(
                    self.at(&child_disk)
                        .and_then(std::fs::symlink_metadata)
                        .map_err(|e| self.io(&child_disk, "reading its metadata", e))?,
                ),
            };
            let ty = md.as_ref().map_or(S_IFREG, |md| md.mode() & S_IFMT);
            if let (S_IFDIR, Some(md)) = (ty, &md) {
                let d = self.walk(&child_disk, &child_tree, &name, md)?;
                self.dirs[at as usize].dirs.push(d);
                continue;
            }
            if child_tree.starts_with("sysroot/") {
                return Err(self.err(
                    &child_disk,
                    "only directories may be under /sysroot, where the image keeps its \
                     repository (leave it out with --prune /sysroot)",
                ));
            }
            let (kind, meta) = match (ty, md) {
                (S_IFREG, _) => (Kind::Regular, Meta::default()),
                (S_IFLNK, Some(md)) => {
                    let target = self
                        .at(&child_disk)
                        .and_then(std::fs::read_link)
                        .map_err(|e| self.io(&child_disk, "reading the symlink", e))?;
                    let target = target
                        .to_str()
                        .ok_or_else(|| self.err(&child_disk, "the symlink target is not UTF-8"))?
                        .to_string();
                    (Kind::Symlink(target), self.meta(&child_disk, &md)?)
                }
                (S_IFCHR | S_IFBLK | S_IFIFO, Some(md)) if self.keep_special => {
                    let meta = self.meta(&child_disk, &md)?;
                    let rdev = md.rdev();
                    self.specials.push(Special {
                        path: ostree_format::map_tree_path(&child_tree).into_owned(),
                        uid: meta.uid,
                        gid: meta.gid,
                        mode: meta.mode,
                        rdev: (rustix::fs::major(rdev), rustix::fs::minor(rdev)),
                        xattrs: meta.xattrs,
                    });
                    continue;
                }
                (S_IFSOCK, _) => {
                    return Err(self.err(
                        &child_disk,
                        "is a socket, which no image format holds (a running service's; \
                         prune it)",
                    ))
                }
                _ => {
                    return Err(self.err(
                        &child_disk,
                        format!(
                            "is a {}, which the ostree format cannot hold (--format plain \
                             keeps it; or prune it)",
                            type_name(ty)
                        ),
                    ))
                }
            };
            let f =
                u32::try_from(self.files.len()).map_err(|_| self.err(tree, "too many files"))?;
            self.files.push(FileRec {
                dir: at,
                name,
                meta,
                kind,
            });
            self.dirs[at as usize].files.push(f);
        }
        Ok(at)
    }

    /// Where the tree keeps `etc`: at the top (and then not also in `usr/etc`), or not.
    fn find_etc(&self) -> Result<EtcOnDisk, EncapError> {
        if self.prune.iter().any(|p| p == "etc") {
            return Ok(EtcOnDisk::InUsr);
        }
        match std::fs::symlink_metadata(self.root.join("etc")) {
            Ok(md) if md.is_dir() => {
                if std::fs::symlink_metadata(self.root.join("usr/etc")).is_ok() {
                    return Err(self.err(
                        "usr/etc",
                        "the tree has both /etc and /usr/etc; ostree keeps /etc in /usr/etc, \
                         so only one may exist (prune one of them)",
                    ));
                }
                Ok(EtcOnDisk::Top)
            }
            Ok(_) => Err(self.err("etc", "is not a directory")),
            Err(_) => Ok(EtcOnDisk::InUsr),
        }
    }
}

fn type_name(ty: u32) -> &'static str {
    match ty {
        S_IFCHR => "character device",
        S_IFBLK => "block device",
        S_IFIFO => "FIFO",
        _ => "special file",
    }
}

/// Every xattr of `path` (not following a symlink), as libostree reads them: names sorted
/// bytewise, each with its NUL, serialized as `a(ayay)`.
fn read_xattrs(path: &Path) -> std::io::Result<Vec<u8>> {
    let mut list: Vec<(Vec<u8>, Vec<u8>)> = Vec::new();
    for name in xattr::list(path)? {
        // Gone between list and get: a concurrent change; nothing to record.
        if let Some(value) = xattr::get(path, &name)? {
            list.push((name.as_bytes().to_vec(), value));
        }
    }
    Ok(serialize_xattrs(list))
}

/// [`read_xattrs`] through an open file.
fn xattrs_of_file(file: &std::fs::File) -> std::io::Result<Vec<u8>> {
    use xattr::FileExt;
    let mut list: Vec<(Vec<u8>, Vec<u8>)> = Vec::new();
    for name in file.list_xattr()? {
        if let Some(value) = file.get_xattr(&name)? {
            list.push((name.as_bytes().to_vec(), value));
        }
    }
    Ok(serialize_xattrs(list))
}

/// (name, value) pairs as libostree serializes them: names sorted bytewise, each with its
/// NUL, as `a(ayay)` (nothing at all for none).
fn serialize_xattrs(mut list: Vec<(Vec<u8>, Vec<u8>)>) -> Vec<u8> {
    if list.is_empty() {
        return Vec::new();
    }
    for (n, _) in &mut list {
        n.push(0);
    }
    list.sort();
    xattr_variant(&list).data().to_vec()
}

fn xattr_variant(list: &[(Vec<u8>, Vec<u8>)]) -> glib::Variant {
    glib::Variant::array_from_iter_with_type(
        glib::VariantTy::new("(ayay)").expect("a valid GVariant type"),
        list.iter()
            .map(|(n, v)| (n.clone(), v.clone()).to_variant()),
    )
}

/// Make the commit of the tree at `root`: its dirtree and dirmeta objects in memory
/// ([`TreeCommit::objects`]), the commit object in `repo` (a scratch repository).
///
/// # Errors
/// [`EncapError::Tree`] naming the path at fault: something the format cannot hold, an
/// unreadable entry; [`EncapError::Repo`] if the repository cannot be written.
pub fn commit_tree(
    root: &Path,
    repo: &ostree::Repo,
    opts: &TreeOptions,
) -> Result<TreeCommit, EncapError> {
    let shown = root.display().to_string();
    let md = std::fs::metadata(root).map_err(|e| EncapError::Tree {
        root: shown.clone(),
        path: "/".into(),
        reason: format!("cannot read it: {e}"),
    })?;
    if !md.is_dir() {
        return Err(EncapError::Tree {
            root: shown,
            path: "/".into(),
            reason: "is not a directory".into(),
        });
    }
    let mut scan = Scan {
        root,
        shown: shown.clone(),
        prune: opts.prune.clone(),
        etc: EtcOnDisk::InUsr,
        keep_special: opts.keep_special,
        specials: Vec::new(),
        dirs: Vec::new(),
        files: Vec::new(),
        newest: 0,
    };
    scan.etc = scan.find_etc()?;
    let etc = scan.etc;
    if etc == EtcOnDisk::Top && std::fs::symlink_metadata(root.join("usr")).is_err() {
        return Err(scan.err(
            "usr",
            "the tree has /etc but no /usr: an ostree system keeps /etc in /usr/etc",
        ));
    }
    scan.walk("", "", "", &md)?;
    let Scan {
        dirs,
        mut files,
        newest,
        mut specials,
        ..
    } = scan;
    specials.sort_by(|a, b| a.path.cmp(&b.path));
    let (sums, newest_file) = hash_all(root, &shown, &dirs, &mut files, opts.threads)?;
    let newest = newest.max(newest_file);

    let write = |kind: ostree::ObjectType, v: &glib::Variant| -> Result<Checksum, EncapError> {
        let c = repo
            .write_metadata(kind, None, v, gio::Cancellable::NONE)
            .map_err(|e| EncapError::Repo {
                repo: repo_shown(repo),
                what: format!("writing a {kind:?} object"),
                source: e,
            })?;
        Ok(Checksum::from_hex(&c.to_hex()).expect("libostree names objects by SHA-256"))
    };
    repo.prepare_transaction(gio::Cancellable::NONE)
        .map_err(|e| EncapError::Repo {
            repo: repo_shown(repo),
            what: "starting a transaction".into(),
            source: e,
        })?;
    // Dirtree and dirmeta objects are serialized here and kept in memory (a few dozen bytes
    // per file; the Source reads them from there): through glib and `write_metadata` they
    // cost ~0.3 ms each, most of it the filesystem making a file per object, 5 s for a tree
    // of 300k files.
    let mut objects = MetadataObjects::default();
    // Children come after their parent: bottom-up is back to front.
    let mut made: Vec<Option<(Checksum, Checksum)>> = vec![None; dirs.len()];
    for (i, d) in dirs.iter().enumerate().rev() {
        let file_entries: Vec<(&str, &[u8; 32])> = d
            .files
            .iter()
            .map(|&f| (files[f as usize].name.as_str(), sums[f as usize].as_bytes()))
            .collect();
        let mut children = Vec::with_capacity(d.dirs.len());
        for &c in &d.dirs {
            let (t, m) = made[c as usize].take().expect("children are made first");
            children.push((dirs[c as usize].name.as_str(), t, m));
        }
        let dir_entries: Vec<(&str, &[u8; 32], &[u8; 32])> = children
            .iter()
            .map(|(n, t, m)| (*n, t.as_bytes(), m.as_bytes()))
            .collect();
        let tree = ostree_format::checksum::dirtree_bytes(&file_entries, &dir_entries);
        let meta = ostree_format::checksum::dirmeta_bytes(
            d.meta.uid,
            d.meta.gid,
            d.meta.mode,
            &d.meta.xattrs,
        );
        let t = objects.add(tree);
        let m = objects.add(meta);
        made[i] = Some((t, m));
    }
    let (root_tree, root_meta) = made[0].take().expect("the root was walked");
    let timestamp = opts
        .timestamp
        .unwrap_or_else(|| u64::try_from(newest).unwrap_or(0));
    let metadata = glib::VariantDict::new(None);
    if let Some(kver) = kernel_version(&dirs, &files) {
        metadata.insert_value("ostree.bootable", &true.to_variant());
        metadata.insert_value("ostree.linux", &kver.to_variant());
    }
    let commit = glib::Variant::tuple_from_iter([
        metadata.end(),
        Vec::<u8>::new().to_variant(),
        glib::Variant::array_from_iter_with_type(
            glib::VariantTy::new("(say)").expect("a valid GVariant type"),
            std::iter::empty::<glib::Variant>(),
        ),
        "".to_variant(),
        "".to_variant(),
        timestamp.to_be().to_variant(),
        root_tree.as_bytes().to_vec().to_variant(),
        root_meta.as_bytes().to_vec().to_variant(),
    ]);
    let c = write(ostree::ObjectType::Commit, &commit)?;
    repo.commit_transaction(gio::Cancellable::NONE)
        .map_err(|e| EncapError::Repo {
            repo: repo_shown(repo),
            what: "committing the transaction".into(),
            source: e,
        })?;
    Ok(TreeCommit {
        commit: c.to_string(),
        etc,
        specials,
        objects: std::sync::Arc::new(objects),
    })
}

/// The dirtree and dirmeta objects of a tree's commit, by checksum (the SHA-256 of their
/// bytes; the two kinds cannot share one, their types differ).
#[derive(Debug, Default)]
pub struct MetadataObjects(std::collections::HashMap<Checksum, Vec<u8>>);

impl MetadataObjects {
    fn add(&mut self, bytes: Vec<u8>) -> Checksum {
        use sha2::Digest;
        let sum = Checksum::from_bytes(&sha2::Sha256::digest(&bytes)).expect("32 bytes");
        self.0.entry(sum).or_insert(bytes);
        sum
    }

    /// The bytes of object `sum`, if the tree has one.
    pub(crate) fn get(&self, sum: &Checksum) -> Option<&[u8]> {
        self.0.get(sum).map(Vec::as_slice)
    }
}

fn repo_shown(repo: &ostree::Repo) -> String {
    repo.path().path().map_or_else(
        || "(scratch repository)".into(),
        |p| p.display().to_string(),
    )
}

/// The version of the one kernel at `usr/lib/modules/VERSION/vmlinuz`, if exactly one.
fn kernel_version(dirs: &[DirRec], files: &[FileRec]) -> Option<String> {
    let mut found = files.iter().filter(|f| {
        f.name == "vmlinuz" && matches!(f.kind, Kind::Regular) && {
            let d = &dirs[f.dir as usize].disk;
            let tree = d.strip_prefix("usr/lib/modules/");
            tree.is_some_and(|v| !v.contains('/'))
        }
    });
    let first = found.next()?;
    if found.next().is_some() {
        return None;
    }
    dirs[first.dir as usize]
        .disk
        .strip_prefix("usr/lib/modules/")
        .map(str::to_string)
}

#[cfg(test)]
mod tests;
