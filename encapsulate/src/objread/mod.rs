//! Reading content objects: straight from the object files where the repo mode allows,
//! through libostree everywhere else.
//!
//! - bare-user and bare-user-only: a content object is a plain file, `objects/XX/REST.file`.
//!   Its bytes are the content (bare-user stores a symlink as a regular file holding the
//!   target); owner, mode and xattrs are in the `user.ostreemeta` xattr (bare-user: the
//!   GVariant `(uuua(ayay))`, numbers big-endian) or implied (bare-user-only: root-owned, mode
//!   from the file, no xattrs, symlinks are real symlinks).
//! - archive: `objects/XX/REST.filez` is a big-endian u32 header length, 4 bytes of padding,
//!   the header GVariant `(tuuuusa(ayay))` (content size, uid, gid, mode, rdev, symlink target,
//!   xattrs; numbers big-endian), then the content as raw deflate. Small objects are inflated
//!   in one libdeflate call, big ones streamed: libostree's GZlibDecompressor stream was 30% of
//!   all CPU of an archive-repo export and kept one core busy while the other waited.
//!
//! Reading directly skips libostree's per-object GFileInfo, GVariant and GInputStream work.
//! Bare repos (real ownership and every xattr, read under libostree's own conventions) and any
//! object the direct path cannot read (missing, stored in a parent repo, damaged, odd
//! metadata) go through libostree, so what the caller sees — data or an error naming the
//! object — is the same in every mode. Callers check whatever is read against the object
//! checksum, metadata included, so a mistake here cannot reach an image unnoticed.

use layering::Checksum;
use ostree::gio;
use ostree::prelude::*;
use ostree_format::{self as format, ObjKind, S_IFLNK, S_IFMT, S_IFREG};
use rustix::fs::{Mode, OFlags};
use std::fs::File;
use std::io::{self, BufReader, Read};
use std::os::fd::{AsFd, OwnedFd};
use std::os::unix::fs::MetadataExt;
use std::path::PathBuf;
use std::sync::{Arc, OnceLock};

/// The bare-user metadata xattr.
const OSTREEMETA_XATTR: &str = "user.ostreemeta";
/// `(uuua(ayay))`: three fixed u32, then the xattr array running to the end.
const OSTREEMETA_FIXED: usize = 12;
/// Buffer for a first `fgetxattr` of `user.ostreemeta` (see [`ostreemeta`]).
const OSTREEMETA_READ: usize = 512;
/// Longest symlink target read from a bare-user object file (Linux's PATH_MAX).
const MAX_SYMLINK_TARGET: u64 = 4096;

/// A content object's metadata and a way to its bytes.
pub(crate) struct FileObject {
    pub uid: u32,
    pub gid: u32,
    /// Full mode, file type bits included.
    pub mode: u32,
    /// Serialized `a(ayay)`, exactly as the checksum covers it.
    pub xattrs: Vec<u8>,
    pub body: Body,
}

pub(crate) enum Body {
    /// `exact`: the reader cannot hold more than `size` bytes (a file whose size was read
    /// from its own descriptor, a buffer inflated to exactly that size), so the writer need
    /// not read past the end to prove it: one `read` less per file. Bytes that grow behind
    /// our back are not read, and what is read is checked against the checksum anyway.
    Regular {
        size: u64,
        reader: Box<dyn Read>,
        exact: bool,
    },
    Symlink(String),
}

/// What planning needs of an object: its payload size (0 for symlinks) and xattrs.
pub(crate) struct ObjectStat {
    pub size: u64,
    pub xattrs: Vec<u8>,
    /// uid, gid and mode of a bare-user regular file, as its `user.ostreemeta` holds them:
    /// with `size` and `xattrs` all the writer needs besides the bytes (see [`Known`]).
    pub owner: Option<(u32, u32, u32)>,
}

/// uid, gid, mode and serialized xattrs of a content object.
type Meta = (u32, u32, u32, Vec<u8>);

/// What the stat pass read of bare-user regular files, by inventory index, so that the
/// writer opens and reads such an object without asking for its `user.ostreemeta` and size
/// again: two of its five syscalls per object (on a tree of 300k small files, ~1 s of
/// system time of a 64-chunk build). 6 bytes per object: distinct owner/mode/xattrs sets are few
/// and stored once; an object that has none recorded (`NONE`) is read the full way.
#[derive(Debug, Default)]
pub(crate) struct Known {
    /// Per object: index into `metas`, or `NONE`.
    ids: Vec<u16>,
    /// Per object: its size, where `ids` has one.
    sizes: Vec<u32>,
    /// Each distinct set, once.
    metas: Vec<Meta>,
    /// Where each of `metas` is, while objects are added.
    index: std::collections::HashMap<Meta, u16>,
}

impl Known {
    /// Nothing recorded for an object.
    const NONE: u16 = u16::MAX;

    /// Nothing known of `n` objects.
    pub(crate) fn none(n: usize) -> Known {
        Known {
            ids: vec![Known::NONE; n],
            sizes: vec![0; n],
            ..Known::default()
        }
    }

    /// Record the next object, of which `st` was read (`None`: it could not be).
    pub(crate) fn push(&mut self, st: Option<&ObjectStat>) {
        let record = st.and_then(|st| {
            let (uid, gid, mode) = st.owner?;
            let size = u32::try_from(st.size).ok()?;
            Some((self.intern((uid, gid, mode, st.xattrs.clone()))?, size))
        });
        let (id, size) = record.unwrap_or((Known::NONE, 0));
        self.ids.push(id);
        self.sizes.push(size);
    }

    /// The id of `meta`, added if new; `None` once there are `NONE` of them.
    fn intern(&mut self, meta: Meta) -> Option<u16> {
        if let Some(&id) = self.index.get(&meta) {
            return Some(id);
        }
        let id = u16::try_from(self.metas.len())
            .ok()
            .filter(|&id| id != Known::NONE)?;
        self.metas.push(meta.clone());
        self.index.insert(meta, id);
        Some(id)
    }

    /// Put `part`'s records in place of objects `from..` (a part of the objects read on
    /// another thread).
    pub(crate) fn fill(&mut self, from: usize, part: Known) {
        // The part's set ids, as this one numbers them.
        let ours: Vec<u16> = part
            .metas
            .into_iter()
            .map(|meta| self.intern(meta).unwrap_or(Known::NONE))
            .collect();
        for (k, (&id, &size)) in part.ids.iter().zip(&part.sizes).enumerate() {
            // `NONE` is past the end of any `ours`: it stays `NONE`.
            let id = ours.get(usize::from(id)).copied().unwrap_or(Known::NONE);
            if let (Some(i), Some(s)) = (self.ids.get_mut(from + k), self.sizes.get_mut(from + k)) {
                *i = id;
                *s = size;
            }
        }
    }

    /// uid, gid, mode, xattrs and size recorded for object `at`.
    fn get(&self, at: usize) -> Option<(&Meta, u64)> {
        let id = *self.ids.get(at)?;
        let meta = self.metas.get(usize::from(id))?;
        Some((meta, u64::from(*self.sizes.get(at)?)))
    }

    /// Drop what only adding needed.
    fn done(mut self) -> Known {
        self.index = std::collections::HashMap::new();
        self
    }
}

/// The repo modes whose objects are read as files.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum DirectMode {
    BareUser,
    BareUserOnly,
    Archive,
}

/// Direct access to the object files of a bare-user, bare-user-only or archive repo.
#[derive(Debug, Clone)]
pub(crate) struct Direct {
    objects: PathBuf,
    /// The objects directory, open: objects are opened relative to it (`XX/REST.file`), so
    /// the kernel walks two path components per object, not the repo's whole path.
    dir: Option<Arc<OwnedFd>>,
    /// Each `XX` directory under `objects`, opened on first use (`None`: it could not be, so
    /// objects there are opened from `dir` and fail with the error that names them). An
    /// object is then one path component away: the lookup of `XX` was a third of the kernel's
    /// path walking on trees of many small files, where every object is opened twice.
    prefixes: Arc<[OnceLock<Option<OwnedFd>>]>,
    mode: DirectMode,
    /// What the stat pass read of each object, once it has run; shared by the
    /// [`Direct`]s of all threads.
    known: Arc<OnceLock<Known>>,
}

impl Direct {
    /// Direct access for `repo` if its mode allows it.
    pub(crate) fn for_repo(repo: &ostree::Repo, repo_path: &std::path::Path) -> Option<Direct> {
        let mode = match repo.mode() {
            ostree::RepoMode::BareUser => DirectMode::BareUser,
            ostree::RepoMode::BareUserOnly => DirectMode::BareUserOnly,
            ostree::RepoMode::Archive => DirectMode::Archive,
            _ => return None,
        };
        Some(Direct::new(repo_path.join("objects"), mode))
    }

    /// Direct access to the object files under `objects` (opened now; if it cannot be, each
    /// object is opened by its full path, which fails with the error that names it).
    fn new(objects: PathBuf, mode: DirectMode) -> Direct {
        let dir = rustix::fs::open(
            &objects,
            OFlags::RDONLY | OFlags::DIRECTORY | OFlags::CLOEXEC,
            Mode::empty(),
        )
        .ok()
        .map(Arc::new);
        let prefixes = (0..=u8::MAX).map(|_| OnceLock::new()).collect();
        Direct {
            objects,
            dir,
            prefixes,
            mode,
            known: Arc::default(),
        }
    }

    /// Keep what the stat pass read of the objects of the inventory whose indexes
    /// [`Direct::load_known`] is called with (once: a second pass of the same commit reads
    /// the same). Nothing is kept when nothing was recorded (archive and bare-user-only
    /// repos): 6 bytes per object of `NONE`s would help no read.
    pub(crate) fn remember(&self, known: Known) {
        if !known.metas.is_empty() {
            let _ = self.known.set(known.done());
        }
    }

    /// Content object `checksum`, at inventory index `at`, opened with what the stat pass
    /// read of it: `None` where it read nothing (not a bare-user regular file, not run).
    pub(crate) fn load_known(
        &self,
        at: usize,
        checksum: &Checksum,
    ) -> Option<io::Result<FileObject>> {
        let ((uid, gid, mode, xattrs), size) = self.known.get()?.get(at)?;
        Some(self.open(checksum).map(|file| FileObject {
            uid: *uid,
            gid: *gid,
            mode: *mode,
            xattrs: xattrs.clone(),
            body: Body::Regular {
                size,
                reader: Box::new(file),
                exact: true,
            },
        }))
    }

    /// The file suffix of content objects in this repo's mode.
    pub(crate) fn suffix(&self) -> &'static str {
        match self.mode {
            DirectMode::Archive => format::ARCHIVE_CONTENT_SUFFIX,
            DirectMode::BareUser | DirectMode::BareUserOnly => ObjKind::File.suffix(),
        }
    }

    fn path(&self, checksum: &Checksum) -> PathBuf {
        self.objects
            .join(format::loose_object_relpath(&checksum.hex(), self.suffix()))
    }

    /// Open object `checksum`'s file for reading.
    fn open(&self, checksum: &Checksum) -> io::Result<File> {
        let Some(dir) = &self.dir else {
            return File::open(self.path(checksum));
        };
        let hex = checksum.hex();
        let mut buf = [0u8; 96];
        let rel = relpath(&hex, self.suffix(), &mut buf);
        let flags = OFlags::RDONLY | OFlags::NOFOLLOW | OFlags::CLOEXEC;
        let prefix = self.prefixes[usize::from(checksum.as_bytes()[0])].get_or_init(|| {
            rustix::fs::openat(
                dir.as_fd(),
                &rel[..2],
                OFlags::RDONLY | OFlags::DIRECTORY | OFlags::NOFOLLOW | OFlags::CLOEXEC,
                Mode::empty(),
            )
            .ok()
        });
        let fd = match prefix {
            Some(p) => rustix::fs::openat(p.as_fd(), &rel[3..], flags, Mode::empty())?,
            None => rustix::fs::openat(dir.as_fd(), rel, flags, Mode::empty())?,
        };
        Ok(File::from(fd))
    }

    pub(crate) fn load(&self, checksum: &Checksum) -> io::Result<FileObject> {
        match self.mode {
            DirectMode::Archive => {
                let mut file = self.open(checksum)?;
                let h = archive_header(&mut file)?;
                let body = match h.mode & S_IFMT {
                    S_IFREG => {
                        let (reader, exact) = inflate(file, h.size)?;
                        Body::Regular {
                            size: h.size,
                            reader,
                            exact,
                        }
                    }
                    S_IFLNK => Body::Symlink(h.target),
                    _ => return Err(invalid("not a regular file or symlink")),
                };
                Ok(FileObject {
                    uid: h.uid,
                    gid: h.gid,
                    mode: h.mode,
                    xattrs: h.xattrs,
                    body,
                })
            }
            DirectMode::BareUser => {
                let mut file = self.open(checksum)?;
                let (uid, gid, mode, xattrs) = ostreemeta(&file)?;
                let size = file.metadata()?.len();
                let body = match mode & S_IFMT {
                    S_IFREG => Body::Regular {
                        size,
                        reader: Box::new(file),
                        exact: true,
                    },
                    S_IFLNK if size <= MAX_SYMLINK_TARGET => {
                        let mut target = Vec::new();
                        file.read_to_end(&mut target)?;
                        Body::Symlink(symlink_target(target)?)
                    }
                    _ => return Err(invalid("not a regular file or symlink")),
                };
                Ok(FileObject {
                    uid,
                    gid,
                    mode,
                    xattrs,
                    body,
                })
            }
            DirectMode::BareUserOnly => {
                let path = self.path(checksum);
                let md = std::fs::symlink_metadata(&path)?;
                let body = if md.file_type().is_symlink() {
                    let target = std::fs::read_link(&path)?;
                    let target = target
                        .into_os_string()
                        .into_string()
                        .map_err(|_| invalid("symlink target is not UTF-8"))?;
                    Body::Symlink(target)
                } else if md.file_type().is_file() {
                    let file = File::open(&path)?;
                    Body::Regular {
                        size: file.metadata()?.len(),
                        reader: Box::new(file),
                        exact: true,
                    }
                } else {
                    return Err(invalid("not a regular file or symlink"));
                };
                Ok(FileObject {
                    uid: 0,
                    gid: 0,
                    mode: md.mode(),
                    xattrs: EMPTY_XATTRS.to_vec(),
                    body,
                })
            }
        }
    }

    pub(crate) fn stat(&self, checksum: &Checksum) -> io::Result<ObjectStat> {
        match self.mode {
            DirectMode::Archive => {
                let h = archive_header(&mut self.open(checksum)?)?;
                let size = match h.mode & S_IFMT {
                    S_IFREG => h.size,
                    S_IFLNK => 0,
                    _ => return Err(invalid("not a regular file or symlink")),
                };
                Ok(ObjectStat {
                    size,
                    xattrs: h.xattrs,
                    owner: None,
                })
            }
            DirectMode::BareUser => {
                let file = self.open(checksum)?;
                let (uid, gid, mode, xattrs) = ostreemeta(&file)?;
                let (size, owner) = match mode & S_IFMT {
                    S_IFREG => (file.metadata()?.len(), Some((uid, gid, mode))),
                    S_IFLNK => (0, None),
                    _ => return Err(invalid("not a regular file or symlink")),
                };
                Ok(ObjectStat {
                    size,
                    xattrs,
                    owner,
                })
            }
            DirectMode::BareUserOnly => {
                let md = std::fs::symlink_metadata(self.path(checksum))?;
                let size = if md.file_type().is_file() {
                    md.len()
                } else if md.file_type().is_symlink() {
                    0
                } else {
                    return Err(invalid("not a regular file or symlink"));
                };
                Ok(ObjectStat {
                    size,
                    xattrs: EMPTY_XATTRS.to_vec(),
                    owner: None,
                })
            }
        }
    }
}

/// The header of an archive-repo content object.
struct ArchiveHeader {
    size: u64,
    uid: u32,
    gid: u32,
    mode: u32,
    target: String,
    xattrs: Vec<u8>,
}

/// Read the header of a `.filez`, leaving `file` at the start of the deflated content.
fn archive_header(file: &mut impl Read) -> io::Result<ArchiveHeader> {
    let mut prefix = [0u8; 8];
    file.read_exact(&mut prefix)?;
    let len = u32::from_be_bytes([prefix[0], prefix[1], prefix[2], prefix[3]]) as usize;
    if len > format::MAX_ARCHIVE_HEADER {
        return Err(invalid("archive object header is too long"));
    }
    let mut header = vec![0u8; len];
    file.read_exact(&mut header)?;
    parse_archive_header(&header)
}

fn parse_archive_header(header: &[u8]) -> io::Result<ArchiveHeader> {
    let v = ostree_format::checksum::variant_of(header, "(tuuuusa(ayay))");
    if !v.is_normal_form() {
        return Err(invalid(
            "archive object header is not a normal-form GVariant",
        ));
    }
    let u32_at = |i: usize| v.child_value(i).get::<u32>().map(u32::from_be);
    let (Some(size), Some(uid), Some(gid), Some(mode), Some(target)) = (
        v.child_value(0).get::<u64>().map(u64::from_be),
        u32_at(1),
        u32_at(2),
        u32_at(3),
        v.child_value(5).get::<String>(),
    ) else {
        return Err(invalid("archive object header has the wrong fields"));
    };
    Ok(ArchiveHeader {
        size,
        uid,
        gid,
        mode,
        target,
        xattrs: v.child_value(6).data().to_vec(),
    })
}

/// The content of a `.filez` positioned after its header: `size` bytes of raw deflate; and
/// whether the reader is exact (inflated whole into `size` bytes: more would not fit).
fn inflate<R: Read + 'static>(mut file: R, size: u64) -> io::Result<(Box<dyn Read>, bool)> {
    if size == 0 {
        return Ok((Box::new(io::empty()), false));
    }
    if size > format::INFLATE_WHOLE_MAX {
        let stream =
            flate2::read::DeflateDecoder::new(BufReader::with_capacity(format::COPY_BUFFER, file));
        return Ok((Box::new(stream), false));
    }
    let mut deflated = Vec::new();
    file.read_to_end(&mut deflated)?;
    let mut out = vec![0u8; usize::try_from(size).map_err(|_| invalid("size"))?];
    let n = libdeflater::Decompressor::new()
        .deflate_decompress(&deflated, &mut out)
        .map_err(|e| invalid(&format!("inflating content: {e}")))?;
    if n != out.len() {
        return Err(invalid("content is shorter than its header says"));
    }
    Ok((Box::new(io::Cursor::new(out)), true))
}

/// Read a whole `.filez` from `data` as the archive reader does: header, then content
/// inflated and compared with the header's size. For the fuzz targets.
#[cfg(feature = "fuzzing")]
pub fn filez_content(data: &[u8]) -> io::Result<(u64, Vec<u8>)> {
    let mut c = io::Cursor::new(data.to_vec());
    let h = archive_header(&mut c)?;
    let mut out = Vec::new();
    inflate(c, h.size)?
        .0
        .take(format::INFLATE_WHOLE_MAX * 2)
        .read_to_end(&mut out)?;
    Ok((h.size, out))
}

/// An empty `a(ayay)` serializes to no bytes.
const EMPTY_XATTRS: &[u8] = &[];

/// `XX/REST.SUFFIX` for a checksum's hex form, written into `buf` (no allocation).
fn relpath<'b>(hex: &str, suffix: &str, buf: &'b mut [u8; 96]) -> &'b str {
    let parts = [&hex[..2], "/", &hex[2..], ".", suffix];
    let mut n = 0;
    for p in parts {
        let end = (n + p.len()).min(buf.len());
        buf[n..end].copy_from_slice(&p.as_bytes()[..end - n]);
        n = end;
    }
    // Only ASCII was copied in (hex digits, '/', '.', a suffix constant).
    std::str::from_utf8(&buf[..n]).unwrap_or_default()
}

/// uid, gid, mode and serialized xattrs from a bare-user object's `user.ostreemeta`: one
/// `fgetxattr` into a stack buffer (a few hundred bytes at most in practice), asking for the
/// size first only when the value does not fit.
fn ostreemeta(file: &File) -> io::Result<(u32, u32, u32, Vec<u8>)> {
    // Most are 12 bytes and a few xattrs (an SELinux label is ~40 bytes): a buffer this size
    // holds them in one call; a bigger one is asked for again. Zeroing 4 KiB here twice per
    // object was 1.3% of all instructions on a tree of many small files.
    let mut buf = [0u8; OSTREEMETA_READ];
    match rustix::fs::fgetxattr(file, OSTREEMETA_XATTR, &mut buf) {
        Ok(n) => parse_ostreemeta(&buf[..n]),
        Err(rustix::io::Errno::RANGE) => {
            use xattr::FileExt;
            let meta = file
                .get_xattr(OSTREEMETA_XATTR)?
                .ok_or_else(|| invalid("no user.ostreemeta xattr"))?;
            parse_ostreemeta(&meta)
        }
        Err(rustix::io::Errno::NODATA) => Err(invalid("no user.ostreemeta xattr")),
        Err(e) => Err(e.into()),
    }
}

fn parse_ostreemeta(meta: &[u8]) -> io::Result<(u32, u32, u32, Vec<u8>)> {
    if meta.len() < OSTREEMETA_FIXED {
        return Err(invalid("user.ostreemeta is too short"));
    }
    let be = |i: usize| u32::from_be_bytes([meta[i], meta[i + 1], meta[i + 2], meta[i + 3]]);
    Ok((be(0), be(4), be(8), meta[OSTREEMETA_FIXED..].to_vec()))
}

/// libostree writes a bare-user symlink's target NUL-terminated and reads it back as a C
/// string: the target ends at the first NUL.
fn symlink_target(mut data: Vec<u8>) -> io::Result<String> {
    if let Some(nul) = data.iter().position(|&b| b == 0) {
        data.truncate(nul);
    }
    String::from_utf8(data).map_err(|_| invalid("symlink target is not UTF-8"))
}

fn invalid(what: &str) -> io::Error {
    io::Error::new(io::ErrorKind::InvalidData, what.to_string())
}

/// Why libostree could not read an object.
pub(crate) enum ReadError {
    /// libostree's own error (a missing object, a damaged file, ...).
    Repo(ostree::glib::Error),
    /// The object was read but is not a content object we can write.
    Corrupt(String),
}

/// Reading content objects through libostree: every repo mode, and what [`Direct`] cannot
/// read. A repo handle must not be shared between threads, so neither may this.
pub(crate) struct Libostree<'a>(pub &'a ostree::Repo);

impl Libostree<'_> {
    /// Open content object `checksum`.
    pub(crate) fn load(&self, checksum: &Checksum) -> Result<FileObject, ReadError> {
        let corrupt = |reason: &str| ReadError::Corrupt(reason.into());
        let (stream, info, xattrs) = self
            .0
            .load_file(&checksum.hex(), gio::Cancellable::NONE)
            .map_err(ReadError::Repo)?;
        let body = match info.file_type() {
            gio::FileType::Regular => Body::Regular {
                exact: false,
                size: info.size() as u64,
                reader: Box::new(
                    stream
                        .ok_or_else(|| corrupt("regular file without content stream"))?
                        .into_read(),
                ),
            },
            gio::FileType::SymbolicLink => Body::Symlink(
                info.symlink_target()
                    .ok_or_else(|| corrupt("symlink without target"))?
                    .to_str()
                    .ok_or_else(|| corrupt("symlink target is not UTF-8"))?
                    .to_string(),
            ),
            other => {
                return Err(corrupt(&format!(
                    "unsupported content object type {other:?}"
                )))
            }
        };
        Ok(FileObject {
            uid: info.attribute_uint32("unix::uid"),
            gid: info.attribute_uint32("unix::gid"),
            mode: info.attribute_uint32("unix::mode"),
            xattrs: xattrs.data().to_vec(),
            body,
        })
    }

    /// Size and xattrs of content object `checksum`.
    pub(crate) fn stat(&self, checksum: &Checksum) -> Result<ObjectStat, ReadError> {
        let (info, xattrs) = self
            .0
            .query_file(&checksum.hex(), gio::Cancellable::NONE)
            .map_err(ReadError::Repo)?;
        let size = if info.file_type() == gio::FileType::Regular {
            info.size() as u64
        } else {
            0
        };
        Ok(ObjectStat {
            size,
            xattrs: xattrs.data().to_vec(),
            owner: None,
        })
    }
}

#[cfg(test)]
mod tests;
