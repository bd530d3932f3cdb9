//! Output files a user names (`--oci-archive`, `--sbom`, `--digestfile`): a file is replaced
//! by rename, which would replace whatever is at the path. A device node, a FIFO, a socket or
//! a symlink there is not ours to replace (`--sbom /dev/full` replaced a machine's real
//! `/dev/full`; `--oci-archive /dev/null` as a "dry run" destroyed `/dev/null`), so every
//! such path is checked before any work, and again just before its rename.
//!
//! The small documents (`--sbom`, `--digestfile`) may also go to a stream: a FIFO or a
//! character device, named directly or through a symlink (`/dev/stdout`, a shell's `>(...)`),
//! is written in place, on purpose, as a shell's `>` would; it is never replaced.

use cap_std::fs::Dir;
use std::io;
use std::path::Path;

/// Why an output path is refused.
#[derive(Debug, thiserror::Error)]
pub enum OutFileError {
    /// Something that is not a regular file is at the path.
    #[error(
        "{flag} {path}: {what} is there, not a regular file; refusing to replace it \
         (give the path of a new or regular file)"
    )]
    NotRegular {
        /// The option that named the path.
        flag: String,
        /// The path as given.
        path: String,
        /// What is there ("a symlink", "a character device", ...).
        what: &'static str,
    },
    /// The path names no file (ends in `/`, or is `.` or `..`).
    #[error("{flag} {path}: does not name a file")]
    NoName {
        /// The option that named the path.
        flag: String,
        /// The path as given.
        path: String,
    },
    /// The directory it would be written in is missing or not a directory.
    #[error("{flag} {path}: its directory {dir} does not exist or is not a directory")]
    NoDir {
        /// The option that named the path.
        flag: String,
        /// The path as given.
        path: String,
        /// The directory.
        dir: String,
    },
    /// The path cannot be looked at.
    #[error("{flag} {path}: checking it")]
    Io {
        /// The option that named the path.
        flag: String,
        /// The path as given.
        path: String,
        /// The error.
        #[source]
        source: io::Error,
    },
}

/// What is there, in words, from an `lstat`/`fstatat` result; `None` for a regular file.
fn not_regular(st: &rustix::fs::Stat) -> Option<&'static str> {
    use rustix::fs::FileType as T;
    match T::from_raw_mode(st.st_mode) {
        T::RegularFile => None,
        T::Symlink => Some("a symlink"),
        T::Directory => Some("a directory"),
        T::CharacterDevice => Some("a character device"),
        T::BlockDevice => Some("a block device"),
        T::Fifo => Some("a FIFO"),
        T::Socket => Some("a socket"),
        T::Unknown => Some("something else"),
    }
}

/// The verdict on `lstat`'s result for the path shown as `path`.
fn judge(
    st: rustix::io::Result<rustix::fs::Stat>,
    path: &Path,
    flag: &str,
) -> Result<(), OutFileError> {
    match st {
        Err(rustix::io::Errno::NOENT) => Ok(()),
        Err(e) => Err(OutFileError::Io {
            flag: flag.into(),
            path: path.display().to_string(),
            source: e.into(),
        }),
        Ok(st) => match not_regular(&st) {
            None => Ok(()),
            Some(what) => Err(OutFileError::NotRegular {
                flag: flag.into(),
                path: path.display().to_string(),
                what,
            }),
        },
    }
}

/// The directory `path` is in (`.` for a bare name).
fn dir_of(path: &Path) -> &Path {
    match path.parent() {
        Some(p) if !p.as_os_str().is_empty() => p,
        _ => Path::new("."),
    }
}

/// Check that `path` (named by option `flag`) may be written by replacing it: it names a
/// file in an existing directory, and nothing or a regular file is there (not followed if
/// it is a symlink).
///
/// # Errors
/// [`OutFileError`] naming the option, the path and what is there.
pub fn check(path: &Path, flag: &str) -> Result<(), OutFileError> {
    let shown = || path.display().to_string();
    let named = path.file_name().is_some_and(|n| n != "." && n != "..")
        && !path.as_os_str().as_encoded_bytes().ends_with(b"/");
    if !named {
        return Err(OutFileError::NoName {
            flag: flag.into(),
            path: shown(),
        });
    }
    let dir = dir_of(path);
    if !dir.is_dir() {
        return Err(OutFileError::NoDir {
            flag: flag.into(),
            path: shown(),
            dir: dir.display().to_string(),
        });
    }
    judge(rustix::fs::lstat(path), path, flag)
}

/// [`check`] of `name` in the open directory `dir` (the path shown is `path`), just before
/// a rename over it.
///
/// # Errors
/// As [`check`].
pub fn check_in(dir: &Dir, name: &str, path: &Path, flag: &str) -> Result<(), OutFileError> {
    let st = rustix::fs::statat(dir, name, rustix::fs::AtFlags::SYMLINK_NOFOLLOW);
    judge(st, path, flag)
}

/// Write `data` to the file `path` (named by `flag`) atomically: checked as [`check`], then a
/// temp file beside it, synced and renamed over it.
///
/// # Errors
/// As [`check`], and I/O errors naming the path.
pub fn write(path: &Path, flag: &str, data: &[u8]) -> Result<(), OutFileError> {
    check(path, flag)?;
    let io_err = |source| OutFileError::Io {
        flag: flag.into(),
        path: path.display().to_string(),
        source,
    };
    let name = path
        .file_name()
        .and_then(|n| n.to_str())
        .ok_or_else(|| io_err(io::Error::other("the file name is not UTF-8")))?;
    let dir = Dir::open_ambient_dir(dir_of(path), cap_std::ambient_authority()).map_err(io_err)?;
    crate::ocidir::atomic_write(&dir, name, data).map_err(|e| io_err(io::Error::other(e)))
}

/// How a document output is written.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Dest {
    /// A new or regular file: replaced atomically.
    Replace,
    /// A FIFO or a character device (or a symlink to one): written in place.
    Stream,
}

/// [`check`] for a document output (`--sbom`, `--digestfile`), which may also be a stream.
///
/// # Errors
/// As [`check`], for a path that is not a stream.
pub fn check_document(path: &Path, flag: &str) -> Result<Dest, OutFileError> {
    use std::os::unix::fs::FileTypeExt;
    // Followed: /dev/stdout is a symlink to the process's descriptor.
    if let Ok(md) = std::fs::metadata(path) {
        let t = md.file_type();
        if t.is_fifo() || t.is_char_device() {
            return Ok(Dest::Stream);
        }
    }
    check(path, flag).map(|()| Dest::Replace)
}

/// Write the document `data` to `path` (named by `flag`): in place to a stream, else
/// atomically as [`write()`] does.
///
/// # Errors
/// As [`check`], and I/O errors naming the path.
pub fn write_document(path: &Path, flag: &str, data: &[u8]) -> Result<(), OutFileError> {
    use std::io::Write;
    match check_document(path, flag)? {
        Dest::Stream => std::fs::OpenOptions::new()
            .write(true)
            .open(path)
            .and_then(|mut f| f.write_all(data).and_then(|()| f.flush()))
            .map_err(|source| OutFileError::Io {
                flag: flag.into(),
                path: path.display().to_string(),
                source,
            }),
        Dest::Replace => write(path, flag, data),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    use std::os::unix::fs::FileTypeExt;

    #[test]
    fn only_new_or_regular_files_are_replaced() {
        let td = tempfile::tempdir().unwrap();
        let p = |n: &str| td.path().join(n);
        std::fs::write(p("file"), b"old").unwrap();
        std::fs::create_dir(p("dir")).unwrap();
        std::os::unix::fs::symlink(p("file"), p("link")).unwrap();
        rustix::fs::mknodat(
            rustix::fs::CWD,
            p("fifo"),
            rustix::fs::FileType::Fifo,
            rustix::fs::Mode::from_raw_mode(0o600),
            0,
        )
        .unwrap();
        check(&p("new"), "--x").unwrap();
        check(&p("file"), "--x").unwrap();
        for (name, what) in [
            ("dir", "a directory"),
            ("link", "a symlink"),
            ("fifo", "a FIFO"),
        ] {
            let e = check(&p(name), "--sbom").unwrap_err().to_string();
            assert!(
                e.contains("--sbom") && e.contains(name) && e.contains(what),
                "{e}"
            );
            let e = write(&p(name), "--sbom", b"new").unwrap_err().to_string();
            assert!(e.contains(what), "{e}");
        }
        assert_eq!(std::fs::read(p("file")).unwrap(), b"old");
        assert!(std::fs::symlink_metadata(p("link")).unwrap().is_symlink());
        let e = check(Path::new("/dev/null"), "--oci-archive").unwrap_err();
        assert!(e.to_string().contains("a character device"), "{e}");
        // (`DIR/.` is `DIR` to the path API: refused as the directory it is.)
        assert!(check(&td.path().join("."), "--sbom").is_err());
        for bad in ["dir/", "..", "/"] {
            let e = check(&td.path().join(bad), "--sbom")
                .unwrap_err()
                .to_string();
            assert!(e.contains("does not name a file"), "{bad}: {e}");
        }
        let e = check(&p("missing/x"), "--sbom").unwrap_err().to_string();
        assert!(e.contains("does not exist"), "{e}");
        // Documents may go to streams: written in place, never replaced.
        let null = Path::new("/dev/null");
        assert_eq!(check_document(null, "--sbom").unwrap(), Dest::Stream);
        write_document(null, "--sbom", b"doc").unwrap();
        assert!(std::fs::symlink_metadata(null)
            .unwrap()
            .file_type()
            .is_char_device());
        let fifo = p("fifo");
        let reader = std::thread::spawn(move || std::fs::read(fifo).unwrap());
        write_document(&p("fifo"), "--sbom", b"through the pipe").unwrap();
        assert_eq!(reader.join().unwrap(), b"through the pipe");
        let e = check_document(&p("link"), "--sbom").unwrap_err();
        assert!(e.to_string().contains("a symlink"), "{e}");
        write(&p("new"), "--x", b"data").unwrap();
        write(&p("file"), "--x", b"data").unwrap();
        assert_eq!(std::fs::read(p("file")).unwrap(), b"data");
    }
}
