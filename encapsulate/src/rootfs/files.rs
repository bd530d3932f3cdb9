//! The tree's files read: each regular file hashed (on several threads, through its own
//! descriptor) when the commit is made, and every file loaded by image path when layers
//! are written.

use super::*;

/// What a hashing thread learnt of one file.
struct Hashed {
    /// Index into the files.
    at: u32,
    sum: Checksum,
    /// A regular file's metadata, read from its descriptor (`None` for a symlink, whose
    /// metadata the walk read).
    meta: Option<Meta>,
    mtime: i64,
}

/// Hash every file on `threads` threads, reading each regular file's metadata through its
/// own descriptor (opened relative to its directory's, which a thread keeps while the files
/// it takes are in that directory): one path lookup of one component per file. Fills in
/// the regular files' metadata; returns the checksums (file order) and the newest mtime.
pub(super) fn hash_all(
    root: &Path,
    shown: &str,
    dirs: &[DirRec],
    files: &mut [FileRec],
    threads: usize,
) -> Result<(Vec<Checksum>, i64), EncapError> {
    let threads = match threads {
        0 => std::thread::available_parallelism().map_or(1, usize::from),
        n => n,
    }
    .max(1);
    let next = AtomicUsize::new(0);
    let all: &[FileRec] = files;
    type Part = Result<Vec<Hashed>, EncapError>;
    let parts: Vec<Part> = std::thread::scope(|s| {
        let workers: Vec<_> = (0..threads)
            .map(|_| {
                s.spawn(|| -> Part {
                    let mut buf = vec![0u8; HASH_BUFFER];
                    let mut out = Vec::new();
                    let mut dir: Option<(u32, std::os::fd::OwnedFd)> = None;
                    loop {
                        let from = next.fetch_add(HASH_BATCH, Ordering::Relaxed);
                        if from >= all.len() {
                            break;
                        }
                        for (k, f) in all[from..(from + HASH_BATCH).min(all.len())]
                            .iter()
                            .enumerate()
                        {
                            let fail = |e: std::io::Error| EncapError::Tree {
                                root: shown.to_string(),
                                path: join(&dirs[f.dir as usize].disk, &f.name),
                                reason: format!("reading it: {e}"),
                            };
                            let at = (from + k) as u32;
                            let hashed = match &f.kind {
                                Kind::Symlink(target) => {
                                    let header = content_header(
                                        f.meta.uid,
                                        f.meta.gid,
                                        f.meta.mode,
                                        target,
                                        &f.meta.xattrs,
                                    );
                                    let sum = ContentHasher::new(&header).finish_bytes();
                                    Hashed {
                                        at,
                                        sum: Checksum::from_bytes(&sum)
                                            .expect("a SHA-256 is 32 bytes"),
                                        meta: None,
                                        mtime: 0,
                                    }
                                }
                                Kind::Regular => {
                                    if dir.as_ref().is_none_or(|(d, _)| *d != f.dir) {
                                        let path = short(&root.join(&dirs[f.dir as usize].disk))
                                            .map_err(fail)?;
                                        let fd = rustix::fs::open(
                                            &*path,
                                            rustix::fs::OFlags::RDONLY
                                                | rustix::fs::OFlags::DIRECTORY
                                                | rustix::fs::OFlags::CLOEXEC,
                                            rustix::fs::Mode::empty(),
                                        )
                                        .map_err(|e| fail(e.into()))?;
                                        dir = Some((f.dir, fd));
                                    }
                                    let (_, dfd) = dir.as_ref().expect("just opened");
                                    hash_regular(dfd, f, at, &mut buf).map_err(fail)?
                                }
                            };
                            out.push(hashed);
                        }
                    }
                    Ok(out)
                })
            })
            .collect();
        workers
            .into_iter()
            .map(|w| w.join().unwrap_or_else(|p| std::panic::resume_unwind(p)))
            .collect()
    });
    let mut sums: Vec<Option<Checksum>> = vec![None; files.len()];
    let mut newest = i64::MIN;
    for p in parts {
        for h in p? {
            sums[h.at as usize] = Some(h.sum);
            if let Some(meta) = h.meta {
                files[h.at as usize].meta = meta;
                newest = newest.max(h.mtime);
            }
        }
    }
    let sums = sums
        .into_iter()
        .map(|c| c.expect("every file was hashed"))
        .collect();
    Ok((sums, newest))
}

/// Open `name` (relative to `dir`) to read it as a regular file, and its metadata from the
/// descriptor. `O_NOFOLLOW`: a symlink fails with `ELOOP`. `O_NONBLOCK` and `O_NOCTTY`: a
/// FIFO or terminal put there since the walk saw a regular file neither blocks the open nor
/// becomes our terminal; callers refuse anything but a regular file by the metadata.
fn open_file(
    dir: impl std::os::fd::AsFd,
    name: &Path,
) -> std::io::Result<(std::fs::File, std::fs::Metadata)> {
    use rustix::fs::OFlags;
    let fd = rustix::fs::openat(
        dir,
        name,
        OFlags::RDONLY | OFlags::NOFOLLOW | OFlags::NONBLOCK | OFlags::NOCTTY | OFlags::CLOEXEC,
        rustix::fs::Mode::empty(),
    )?;
    let file = std::fs::File::from(fd);
    let md = file.metadata()?;
    Ok((file, md))
}

/// A regular file `f` (file `at`), opened in its directory `dir`: its metadata from the
/// descriptor, and its content checksum.
fn hash_regular(
    dir: &std::os::fd::OwnedFd,
    f: &FileRec,
    at: u32,
    buf: &mut [u8],
) -> std::io::Result<Hashed> {
    let (mut file, md) = open_file(dir, Path::new(&f.name))?;
    if !md.is_file() {
        return Err(std::io::Error::other(
            "it changed while the tree was read: no longer a regular file",
        ));
    }
    let meta = Meta {
        uid: md.uid(),
        gid: md.gid(),
        mode: md.mode(),
        xattrs: xattrs_of_file(&file)?,
    };
    let header = content_header(meta.uid, meta.gid, meta.mode, "", &meta.xattrs);
    let mut h = ContentHasher::new(&header);
    loop {
        let n = file.read(buf)?;
        if n == 0 {
            break;
        }
        h.update(&buf[..n]);
    }
    Ok(Hashed {
        at,
        sum: Checksum::from_bytes(&h.finish_bytes()).expect("a SHA-256 is 32 bytes"),
        meta: Some(meta),
        mtime: md.mtime(),
    })
}

/// Content read from the tree itself, by image path, for a commit made by [`commit_tree`]:
/// what the object files of a repository are to the other sources.
#[derive(Debug, Clone)]
pub(crate) struct TreeFiles {
    pub(crate) root: PathBuf,
    pub(crate) etc: EtcOnDisk,
}

impl TreeFiles {
    /// The error for the file at `image_path`.
    pub(crate) fn error(&self, image_path: &str, e: &std::io::Error) -> EncapError {
        EncapError::Tree {
            root: self.root.display().to_string(),
            path: self.etc.disk_path(image_path).into_owned(),
            reason: format!("reading it: {e}"),
        }
    }

    /// The host path of `image_path`, usable whatever its length.
    fn path(&self, image_path: &str) -> std::io::Result<Short> {
        short(&self.root.join(self.etc.disk_path(image_path).as_ref()))
    }

    /// The file at `image_path`, with its metadata as a content object has it. Callers check
    /// what is read against the object's checksum, as for every other source.
    ///
    /// A regular file is opened first ([`open_file`]) and described by its descriptor
    /// (owner, mode, size, xattrs): one path walk per file where three (lstat, listxattr,
    /// open) were a tenth of the writing on trees of many small files. A symlink fails to
    /// open (`ELOOP`) and is read by path.
    pub(crate) fn load(&self, image_path: &str) -> std::io::Result<FileObject> {
        let path = self.path(image_path)?;
        match open_file(rustix::fs::CWD, &path) {
            Ok((file, md)) => {
                if md.mode() & S_IFMT != S_IFREG {
                    return Err(std::io::Error::other("not a regular file or symlink"));
                }
                Ok(FileObject {
                    uid: md.uid(),
                    gid: md.gid(),
                    mode: md.mode(),
                    xattrs: xattrs_of_file(&file)?,
                    body: Body::Regular {
                        size: md.len(),
                        reader: Box::new(file),
                        exact: true,
                    },
                })
            }
            Err(e) if e.raw_os_error() == Some(rustix::io::Errno::LOOP.raw_os_error()) => {
                let md = std::fs::symlink_metadata(&path)?;
                if md.mode() & S_IFMT != S_IFLNK {
                    return Err(std::io::Error::other("not a regular file or symlink"));
                }
                let target = std::fs::read_link(&path)?
                    .into_os_string()
                    .into_string()
                    .map_err(|_| std::io::Error::other("the symlink target is not UTF-8"))?;
                Ok(FileObject {
                    uid: md.uid(),
                    gid: md.gid(),
                    mode: md.mode(),
                    xattrs: read_xattrs(&path)?,
                    body: Body::Symlink(target),
                })
            }
            Err(e) => Err(e),
        }
    }

    /// Device and inode of the file at `image_path` (not following a symlink).
    pub(crate) fn inode(&self, image_path: &str) -> Option<(u64, u64)> {
        self.path(image_path)
            .and_then(std::fs::symlink_metadata)
            .ok()
            .map(|m| (m.dev(), m.ino()))
    }

    /// Size (0 for a symlink) and xattrs of the file at `image_path`.
    pub(crate) fn stat(&self, image_path: &str) -> std::io::Result<ObjectStat> {
        let path = self.path(image_path)?;
        let md = std::fs::symlink_metadata(&path)?;
        let size = match md.mode() & S_IFMT {
            S_IFREG => md.len(),
            S_IFLNK => 0,
            _ => return Err(std::io::Error::other("not a regular file or symlink")),
        };
        Ok(ObjectStat {
            size,
            xattrs: read_xattrs(&path)?,
            owner: None,
        })
    }
}
