//! Facts of the ostree container tar format (see docs/format.md), in one place: the writer
//! (`encapsulate`) and the reader (`verify`) share every path, name, object kind, mode bit
//! and limit from here, so the two cannot drift apart.
//!
//! - this module: names, paths, limits, object kinds;
//! - [`checksum`]: ostree's object checksums (content headers, variants, xattrs, dirtrees).

pub mod checksum;

/// Prefix of the embedded repository inside every ostree layer.
pub const REPO_PREFIX: &str = "sysroot/ostree/repo/";
/// Prefix of object paths inside a layer.
pub const OBJECTS_PREFIX: &str = "sysroot/ostree/repo/objects/";

/// The embedded repository's config. `bare-split-xattrs` tells importers that xattrs travel in
/// `.file-xattrs(-link)` entries rather than on the files themselves.
pub const REPO_CONFIG: &[u8] = b"[core]\nrepo_version=1\nmode=bare-split-xattrs\n";

/// Directories of the repo skeleton, in stream order (before the 256 object fan-out dirs,
/// which go between `objects` and `extensions`).
pub const SKELETON_HEAD: [&str; 4] = [
    "sysroot",
    "sysroot/ostree",
    "sysroot/ostree/repo",
    "sysroot/ostree/repo/objects",
];
/// Repo directories written after the object fan-out dirs.
pub const SKELETON_TAIL: [&str; 8] = [
    "sysroot/ostree/repo/extensions",
    "sysroot/ostree/repo/refs",
    "sysroot/ostree/repo/refs/heads",
    "sysroot/ostree/repo/refs/mirrors",
    "sysroot/ostree/repo/refs/remotes",
    "sysroot/ostree/repo/state",
    "sysroot/ostree/repo/tmp",
    "sysroot/ostree/repo/tmp/cache",
];
/// Path of the repo config file in a layer.
pub const REPO_CONFIG_PATH: &str = "sysroot/ostree/repo/config";

/// Path of the root directory entry (first entry of the commit layer), as ostree-ext writes it.
pub const ROOT_DIR_PATH: &str = "./";

/// A top-level directory of this name in the commit would collide with the embedded repo, so
/// its directory entry and paths are left out (ostree-ext does the same); its objects are kept.
pub const SYSROOT_DIR: &str = "sysroot";

/// The xattr that SELinux labels live in. It is carried in `.file-xattrs-link` (so the
/// importer labels files) but not in PAX headers, where runtimes would try to apply a host
/// label.
pub const SELINUX_XATTR: &[u8] = b"security.selinux";
/// PAX key prefix for xattrs, as GNU tar and containers/storage read them.
pub const PAX_XATTR_PREFIX: &[u8] = b"SCHILY.xattr.";

/// Containers expect a world-writable sticky `/var/tmp`; ostree commits often lack it.
pub const VAR_TMP_MODE: u32 = 0o1777;

/// Mode bits of synthesized skeleton directories.
pub const DEFAULT_DIR_MODE: u32 = 0o755;
/// Mode bits of synthesized regular files (config, metadata objects, xattrs blobs).
pub const DEFAULT_FILE_MODE: u32 = 0o644;

/// Upper bound on the size of one metadata object (commit, detached metadata, dirtree,
/// dirmeta) the verifier will buffer. libostree allows 128 MiB (`OSTREE_MAX_METADATA_SIZE`),
/// but the largest of a real commit is a dirtree, ~70 bytes per entry: 32 MiB is a single
/// directory of ~450,000 entries. A bigger one in an image is an attack on memory.
pub const MAX_METADATA_SIZE: u64 = 32 * 1024 * 1024;
/// Upper bound on all metadata objects and xattrs blobs the verifier holds at once (it keeps
/// them until the tree check at the end). A tree of a million files has ~70 MB of dirtrees;
/// without a total, 16 forged 128 MiB dirtrees in a 9 MB gzip blob took 2.1 GB.
pub const MAX_METADATA_TOTAL: u64 = 512 * 1024 * 1024;
/// Upper bound on an xattrs blob (ostree-ext refuses larger ones too).
pub const MAX_XATTRS_SIZE: u64 = 1024 * 1024;

/// Version of the chunk layer tar stream as `encapsulate::write_layer` writes it. Bump it
/// whenever the same plan would give different bytes (entry order, headers, padding): it is
/// part of each layer's key, and a stale key would make rebuilds reuse old-format blobs.
pub const LAYER_STREAM_FORMAT: &str =
    "ostree-encap chunk v3 (objects in path order, ustar prefixes)";
/// The same for the plain format's layers (`--format plain`: files at their paths).
pub const PLAIN_STREAM_FORMAT: &str =
    "ostree-encap plain v3 (files in path order, ustar prefixes, an empty sysroot)";

/// File type bits of a mode (`st_mode & S_IFMT`), as ostree records them in content objects.
pub const S_IFMT: u32 = 0o170_000;
/// Regular file type bits.
pub const S_IFREG: u32 = 0o100_000;
/// Symlink type bits.
pub const S_IFLNK: u32 = 0o120_000;
/// Directory type bits.
pub const S_IFDIR: u32 = 0o040_000;
/// Character device type bits (a plain tree may hold them; an ostree commit cannot).
pub const S_IFCHR: u32 = 0o020_000;
/// Block device type bits.
pub const S_IFBLK: u32 = 0o060_000;
/// FIFO type bits.
pub const S_IFIFO: u32 = 0o010_000;
/// Socket type bits.
pub const S_IFSOCK: u32 = 0o140_000;

/// Archive-repo content objects whose content is at most this big are inflated in one call
/// (libdeflate, whole buffers: several times zlib's speed); bigger ones are streamed, so
/// memory stays bounded whatever the tree holds.
pub const INFLATE_WHOLE_MAX: u64 = 4 * 1024 * 1024;
/// Longest archive-object header accepted: uid, gid, mode, symlink target and xattrs; a
/// length beyond this means a damaged file, not a real header.
pub const MAX_ARCHIVE_HEADER: usize = 1024 * 1024;

/// Largest PAX extended header (`x`) or GNU long name or long link entry read from a layer.
/// The tar crate reads such an entry whole before the entry it describes (a hostile 1.5 GiB
/// PAX header took 1.6 GB); the largest a valid one holds is a path and a link target (4 KiB
/// each at PATH_MAX) and the xattrs, which an ostree object keeps under [`MAX_XATTRS_SIZE`].
pub const MAX_TAR_META_ENTRY: u64 = MAX_XATTRS_SIZE + 64 * 1024;

/// A layer of at least this many content objects is read and tarred by several threads, in
/// batches (`encapsulate`'s `ordered`); below it one thread does (starting workers, each
/// with its own repository handle, costs more than they save). On trees of many small files
/// one thread opening, reading, hashing and tarring is what limits a layer, not compression.
pub const BATCH_LAYER_MIN_OBJECTS: usize = 4096;
/// Content objects per batch: enough that handing a batch over costs little beside its
/// ~150 syscalls, few enough that a batch of big files stays within [`BATCH_BYTES`] without
/// leaving much to the writer's own thread (the Debian corpus averages ~50 KB per file).
pub const BATCH_OBJECTS: usize = 32;
/// A batch holds about this many bytes of tar at most: once a worker's batch is this big,
/// its remaining regular files are left to the writer, which streams them. 128 objects
/// without a budget took a single gzip layer of the Debian corpus from 59 to 128 MiB.
pub const BATCH_BYTES: usize = 2 * 1024 * 1024;
/// Batches a worker may be ahead of the writer, per worker thread: 2 keep the workers busy
/// (the writer only copies bytes on); 4 held ~20 MB more at the peak of a 64-chunk build of
/// a million files (bench/many-files 1000000: 268 -> 246 MiB at 2).
pub const BATCH_WINDOW_PER_THREAD: usize = 2;
/// Regular files bigger than this are not put in a batch: the layer's writer streams them
/// itself, so memory does not grow with the size of the files.
pub const BATCH_INLINE_MAX: u64 = 1024 * 1024;

/// Below this many objects, stat them on one thread (thread start-up would cost more).
pub const PARALLEL_STAT_MIN: usize = 2048;
/// Object files the read-ahead helper (`prefetch`) may be ahead of a layer's reader. Small
/// files are ~50 KB on the corpus: 64 of them cover a few milliseconds of reading, enough to
/// keep a disk's queue busy without filling the page cache with what is read much later.
pub const PREFETCH_AHEAD: usize = 64;
/// How long the read-ahead helper waits when it is [`PREFETCH_AHEAD`] files ahead.
pub const PREFETCH_POLL: std::time::Duration = std::time::Duration::from_millis(1);
/// How much of each object file the read-ahead helper asks for: the head of a big file; the
/// kernel's own read-ahead keeps up with the sequential reads after it.
pub const PREFETCH_FILE_BYTES: u64 = 2 * 1024 * 1024;
/// Files in a row the read-ahead helper found already in the page cache before it decides
/// the cache is warm and only samples: advising a cached file costs an open and a close and
/// saves nothing (a warm tree of 50k small files: 10% of the run's wall time).
pub const PREFETCH_WARM_STREAK: usize = 64;
/// When the cache is warm, the helper looks at one file in this many; one it finds not
/// cached puts it back to advising every file.
pub const PREFETCH_WARM_SAMPLE: usize = 16;
/// Most threads used to stat objects while planning: the work is syscalls on cached inodes,
/// which stop scaling after a few cores.
pub const STAT_THREADS: usize = 4;

/// Read buffer for content objects: large enough that syscalls and per-write work downstream
/// (hashing, handing to the compressor) do not dominate.
pub const COPY_BUFFER: usize = 128 * 1024;

/// Object kinds as they appear in file names.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum ObjKind {
    /// `.commit`
    Commit,
    /// `.commitmeta` (detached metadata: signatures)
    CommitMeta,
    /// `.dirtree`
    DirTree,
    /// `.dirmeta`
    DirMeta,
    /// `.file` (content)
    File,
    /// `.file-xattrs` (shared xattrs blob, named by its sha256)
    FileXattrs,
    /// `.file-xattrs-link` (xattrs of the next `.file`)
    FileXattrsLink,
}

/// How errors name an object kind: "content" for `.file`, the suffix otherwise.
impl std::fmt::Display for ObjKind {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(match self {
            ObjKind::File => "content",
            other => other.suffix(),
        })
    }
}

/// ostree stores xattr names NUL-terminated (`ay` from a C string); the name without it.
pub fn trim_nul(name: &[u8]) -> &[u8] {
    name.strip_suffix(&[0]).unwrap_or(name)
}

impl ObjKind {
    /// File name suffix without the dot.
    pub fn suffix(self) -> &'static str {
        match self {
            ObjKind::Commit => "commit",
            ObjKind::CommitMeta => "commitmeta",
            ObjKind::DirTree => "dirtree",
            ObjKind::DirMeta => "dirmeta",
            ObjKind::File => "file",
            ObjKind::FileXattrs => "file-xattrs",
            ObjKind::FileXattrsLink => "file-xattrs-link",
        }
    }

    /// Parse a suffix.
    pub fn from_suffix(s: &str) -> Option<ObjKind> {
        Some(match s {
            "commit" => ObjKind::Commit,
            "commitmeta" => ObjKind::CommitMeta,
            "dirtree" => ObjKind::DirTree,
            "dirmeta" => ObjKind::DirMeta,
            "file" => ObjKind::File,
            "file-xattrs" => ObjKind::FileXattrs,
            "file-xattrs-link" => ObjKind::FileXattrsLink,
            _ => return None,
        })
    }
}

/// `sysroot/ostree/repo/objects/<2 hex>/<62 hex>.<kind>`
pub fn object_path(kind: ObjKind, checksum: &str) -> String {
    let mut p = String::with_capacity(OBJECTS_PREFIX.len() + checksum.len() + 18);
    p.push_str(OBJECTS_PREFIX);
    push_relpath(&mut p, checksum, kind.suffix());
    p
}

/// `<2 hex>/<62 hex>.<suffix>`: where a repo's `objects/` directory keeps a loose object.
pub fn loose_object_relpath(checksum: &str, suffix: &str) -> String {
    let mut p = String::with_capacity(checksum.len() + 2 + suffix.len());
    push_relpath(&mut p, checksum, suffix);
    p
}

/// Pushes onto `p` rather than `format!`: two or three of these per content object.
fn push_relpath(p: &mut String, checksum: &str, suffix: &str) {
    let (a, b) = checksum.split_at(2.min(checksum.len()));
    p.push_str(a);
    p.push('/');
    p.push_str(b);
    p.push('.');
    p.push_str(suffix);
}

/// Suffix of a content object in an archive repo: header, then the content as raw deflate.
pub const ARCHIVE_CONTENT_SUFFIX: &str = "filez";

/// Parse an object path back into (checksum, kind); `None` if it is not one.
pub fn parse_object_path(path: &str) -> Option<(String, ObjKind)> {
    let rest = path.strip_prefix(OBJECTS_PREFIX)?;
    let (dir, name) = rest.split_once('/')?;
    let (stem, suffix) = name.split_once('.')?;
    if dir.len() != 2 || stem.len() != 62 {
        return None;
    }
    let checksum = format!("{dir}{stem}");
    if !is_checksum(&checksum) {
        return None;
    }
    Some((checksum, ObjKind::from_suffix(suffix)?))
}

/// `parent/name`, or `name` at the root (`parent` empty): tree paths are relative.
pub fn join(parent: &str, name: &str) -> String {
    if parent.is_empty() {
        name.to_string()
    } else {
        format!("{parent}/{name}")
    }
}

/// True for 64 lowercase hex digits.
pub fn is_checksum(s: &str) -> bool {
    s.len() == 64 && s.bytes().all(|b| matches!(b, b'0'..=b'9' | b'a'..=b'f'))
}

/// The path a tree path takes in the tar stream: `usr/etc` is written as `etc`, as importers
/// and container runtimes expect.
pub fn map_tree_path(path: &str) -> std::borrow::Cow<'_, str> {
    if path == "usr/etc" {
        "etc".into()
    } else if let Some(rest) = path.strip_prefix("usr/etc/") {
        format!("etc/{rest}").into()
    } else {
        path.into()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn object_paths_round_trip() {
        let c = "ab".repeat(32);
        for kind in [
            ObjKind::Commit,
            ObjKind::CommitMeta,
            ObjKind::DirTree,
            ObjKind::DirMeta,
            ObjKind::File,
            ObjKind::FileXattrs,
            ObjKind::FileXattrsLink,
        ] {
            let p = object_path(kind, &c);
            assert!(p.starts_with("sysroot/ostree/repo/objects/ab/"));
            assert_eq!(parse_object_path(&p), Some((c.clone(), kind)));
        }
        assert_eq!(
            parse_object_path("sysroot/ostree/repo/objects/ab/cd.file"),
            None
        );
        assert_eq!(parse_object_path("usr/bin/x"), None);
        let upper = object_path(ObjKind::File, &"AB".repeat(32));
        assert_eq!(parse_object_path(&upper), None);
    }

    #[test]
    fn usr_etc_maps_to_etc_only_as_a_component() {
        assert_eq!(map_tree_path("usr/etc"), "etc");
        assert_eq!(map_tree_path("usr/etc/passwd"), "etc/passwd");
        assert_eq!(map_tree_path("usr/etcetera"), "usr/etcetera");
        assert_eq!(map_tree_path("usr/lib/etc/x"), "usr/lib/etc/x");
    }
}
