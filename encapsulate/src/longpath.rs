//! Host paths of any length. A path longer than `PATH_MAX` (4096 bytes) fails every
//! system call that takes it (`ENAMETOOLONG`), yet a tree may hold such paths: `ostree
//! commit` takes them, since it works relative to each directory's descriptor. The trees
//! read here are walked by path; [`short`] makes a long one usable by opening directories
//! along it, each through the last, and naming the rest below the last one's descriptor
//! (`/proc/self/fd/N/rest`). Paths that fit are used as they are, at no cost.

use std::ffi::OsStr;
use std::os::fd::{AsRawFd, OwnedFd};
use std::os::unix::ffi::OsStrExt;
use std::path::{Path, PathBuf};

/// Longest path used as it is: below `PATH_MAX` with room for the `/proc/self/fd/N/`
/// prefix the rest gets.
const FITS: usize = 3072;

/// A path that fits the kernel's limit, and the directories it names its file through.
#[derive(Debug)]
pub(crate) struct Short {
    /// Open while the path is used: the path names the file below the last of them.
    _held: Vec<OwnedFd>,
    path: PathBuf,
}

impl std::ops::Deref for Short {
    type Target = Path;
    fn deref(&self) -> &Path {
        &self.path
    }
}

impl AsRef<Path> for Short {
    fn as_ref(&self) -> &Path {
        &self.path
    }
}

/// `full`, or the same file named through descriptors of directories along it when `full`
/// is too long for the kernel. Every component but the last must be a directory that can
/// be searched, as for any path.
///
/// # Errors
/// A directory along the path cannot be opened.
pub(crate) fn short(full: &Path) -> std::io::Result<Short> {
    let mut held: Vec<OwnedFd> = Vec::new();
    let mut rest = full.as_os_str().as_bytes();
    let mut base = Vec::new();
    while base.len() + rest.len() >= FITS {
        // The longest head of `rest` that ends before a '/' and fits: a component is at
        // most 255 bytes (NAME_MAX), so there is always one.
        let cut = rest[..FITS.min(rest.len())]
            .iter()
            .rposition(|&b| b == b'/')
            .filter(|&c| c > 0)
            .ok_or_else(|| {
                std::io::Error::from_raw_os_error(rustix::io::Errno::NAMETOOLONG.raw_os_error())
            })?;
        let mut head = base.clone();
        head.extend_from_slice(&rest[..cut]);
        let fd = rustix::fs::open(
            OsStr::from_bytes(&head),
            rustix::fs::OFlags::PATH | rustix::fs::OFlags::DIRECTORY | rustix::fs::OFlags::CLOEXEC,
            rustix::fs::Mode::empty(),
        )?;
        base = format!("/proc/self/fd/{}/", fd.as_raw_fd()).into_bytes();
        held.push(fd);
        rest = &rest[cut + 1..];
    }
    base.extend_from_slice(rest);
    Ok(Short {
        _held: held,
        path: PathBuf::from(OsStr::from_bytes(&base)),
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_path_past_path_max_names_its_file_and_a_short_one_is_itself() {
        let d = tempfile::tempdir().unwrap();
        // 20 directories of 250 bytes: over 5,000 bytes below the temp dir.
        let mut full = d.path().to_path_buf();
        let mut at = std::fs::File::open(d.path()).unwrap();
        for i in 0..20 {
            let name = format!("{i:03}{}", "d".repeat(247));
            rustix::fs::mkdirat(&at, name.as_str(), rustix::fs::Mode::from_raw_mode(0o755))
                .unwrap();
            let fd = rustix::fs::openat(
                &at,
                name.as_str(),
                rustix::fs::OFlags::RDONLY | rustix::fs::OFlags::DIRECTORY,
                rustix::fs::Mode::empty(),
            )
            .unwrap();
            at = std::fs::File::from(fd);
            full.push(name);
        }
        let fd = rustix::fs::openat(
            &at,
            "file",
            rustix::fs::OFlags::WRONLY | rustix::fs::OFlags::CREATE,
            rustix::fs::Mode::from_raw_mode(0o644),
        )
        .unwrap();
        std::io::Write::write_all(&mut std::fs::File::from(fd), b"deep").unwrap();
        full.push("file");
        assert!(full.as_os_str().len() > 5000);
        let e = std::fs::read(&full).unwrap_err();
        assert_eq!(e.raw_os_error(), Some(36), "ENAMETOOLONG: {e}");
        let s = short(&full).unwrap();
        assert!(s.as_os_str().len() < FITS + 32, "{}", s.display());
        assert_eq!(std::fs::read(&*s).unwrap(), b"deep");
        assert_eq!(std::fs::symlink_metadata(&*s).unwrap().len(), 4);
        let near = short(d.path()).unwrap();
        assert_eq!(&*near, d.path());
    }
}
