//! Work directories for oci-archives: where an archive is assembled before it is renamed into
//! place, or unpacked to be read. A run killed with SIGKILL cannot remove its own, so each is
//! made provably ours and provably dead-when-abandoned: its name starts with
//! [`PREFIX`], it holds a [`MARKER`] file, and its run holds an exclusive `flock` on it until
//! the end. A later run removes the ones it finds beside its own whose lock it can take: their
//! owner is gone (the kernel drops a dead process's locks).

use anyhow::{Context, Result};
use std::os::unix::fs::PermissionsExt;
use std::path::{Path, PathBuf};

/// Name prefix of work directories.
pub const PREFIX: &str = ".ostree-encap-";

/// A work directory's mode: its owner's alone, whatever the umask (`mkdir` applies the umask,
/// which can only take bits away from this).
pub const MODE: u32 = 0o700;

/// File inside a work directory that says it is one of ours.
pub const MARKER: &str = "ostree-encap-work";

/// A locked work directory; removed when dropped.
#[derive(Debug)]
pub struct WorkDir {
    path: PathBuf,
    // Held for the life of the work directory; closing it releases the lock.
    _lock: std::fs::File,
}

impl Drop for WorkDir {
    fn drop(&mut self) {
        remove(&self.path);
    }
}

/// Remove a work directory so that a kill at any point leaves it recognisable: the content
/// first, then the marker, then the (empty) directory.
fn remove(path: &Path) {
    if let Ok(entries) = std::fs::read_dir(path) {
        for e in entries.flatten() {
            if e.file_name() == MARKER {
                continue;
            }
            let p = e.path();
            if e.file_type().is_ok_and(|t| t.is_dir()) {
                let _ = std::fs::remove_dir_all(&p);
            } else {
                let _ = std::fs::remove_file(&p);
            }
        }
    }
    let _ = std::fs::remove_file(path.join(MARKER));
    let _ = std::fs::remove_dir(path);
}

impl WorkDir {
    /// Make a work directory in `parent`, after removing stale ones there.
    ///
    /// # Errors
    /// I/O errors creating or locking it, naming `parent`.
    pub fn create(parent: &Path) -> Result<WorkDir> {
        remove_stale(parent);
        // Private from its creation: it may hold an untrusted image's tree, device nodes
        // and set-id files included, which no other user may reach (the image can change
        // the modes inside, never this one).
        let dir = tempfile::Builder::new()
            .prefix(PREFIX)
            .permissions(std::fs::Permissions::from_mode(MODE))
            .tempdir_in(parent)
            .with_context(|| format!("creating a work directory in {}", parent.display()))?;
        // From here on our Drop removes it, not tempfile's.
        let path = dir.keep();
        let lock =
            std::fs::File::open(&path).with_context(|| format!("opening {}", path.display()));
        let lock = match lock {
            Ok(l) => l,
            Err(e) => {
                remove(&path);
                return Err(e);
            }
        };
        let work = WorkDir { path, _lock: lock };
        rustix::fs::flock(&work._lock, rustix::fs::FlockOperation::LockExclusive)
            .with_context(|| format!("locking {}", work.path.display()))?;
        std::fs::write(work.path.join(MARKER), std::process::id().to_string())
            .with_context(|| format!("writing {}", work.path.join(MARKER).display()))?;
        Ok(work)
    }

    /// The work directory.
    pub fn path(&self) -> &Path {
        &self.path
    }

    /// Where to put the layout (a fresh, empty directory inside the work directory).
    ///
    /// # Errors
    /// I/O errors.
    pub fn layout_path(&self) -> Result<PathBuf> {
        let p = self.path.join("layout");
        std::fs::create_dir_all(&p).with_context(|| format!("creating {}", p.display()))?;
        Ok(p)
    }
}

/// Remove abandoned work directories in `parent`: named with [`PREFIX`], holding [`MARKER`]
/// (or empty), and not locked by a live run. Best effort: anything unexpected is left alone.
pub fn remove_stale(parent: &Path) {
    let Ok(entries) = std::fs::read_dir(parent) else {
        return;
    };
    for e in entries.flatten() {
        let name = e.file_name();
        if !name.to_string_lossy().starts_with(PREFIX) {
            continue;
        }
        let path = e.path();
        let is_dir = e.file_type().is_ok_and(|t| t.is_dir());
        // Ours: the marker, or empty (a run killed between making it and marking it).
        let empty = || std::fs::read_dir(&path).is_ok_and(|mut d| d.next().is_none());
        if !is_dir || !(path.join(MARKER).is_file() || empty()) {
            continue;
        }
        let Ok(f) = std::fs::File::open(&path) else {
            continue;
        };
        if rustix::fs::flock(&f, rustix::fs::FlockOperation::NonBlockingLockExclusive).is_ok() {
            remove(&path);
        }
    }
}
