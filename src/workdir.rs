//! Work directories for oci-archives: where an archive is assembled before it is renamed into
//! place, or unpacked to be read. A run killed with SIGKILL cannot remove its own, so each is
//! made provably ours and provably dead-when-abandoned: its name starts with
//! [`PREFIX`], it holds a [`MARKER`] file, and its run holds an exclusive `flock` on it until
//! the end. A later run removes the ones it finds beside its own whose lock it can take: their
//! owner is gone (the kernel drops a dead process's locks). An empty, unlocked one may also be
//! a live run's in the instant between making and locking it; that run then makes another.

use anyhow::{Context, Result};
use std::os::unix::fs::{MetadataExt, PermissionsExt};
use std::path::{Path, PathBuf};

/// Name prefix of work directories.
pub const PREFIX: &str = ".ostree-encap-";

/// A work directory's mode: its owner's alone, whatever the umask (`mkdir` applies the umask,
/// which can only take bits away from this).
pub const MODE: u32 = 0o700;

/// File inside a work directory that says it is one of ours.
pub const MARKER: &str = "ostree-encap-work";

/// How many fresh work directories a run makes when other runs' cleanups keep removing them
/// before it can lock them (each loss needs another run starting in a window of a few system
/// calls; eight in a row means something else is deleting our directories).
const CREATE_ATTEMPTS: u32 = 8;

/// Where [`WorkDir::create`] stands, for tests that put another run's cleanup between its
/// steps.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Step {
    /// The directory exists, empty and not locked: another run's cleanup may remove it.
    Made,
    /// Opened, not yet locked: likewise.
    Opened,
}

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
        Self::create_with(parent, &mut |_, _| {})
    }

    /// [`WorkDir::create`], with `between` called at each [`Step`] (tests put another run's
    /// cleanup there).
    fn create_with(parent: &Path, between: &mut dyn FnMut(Step, &Path)) -> Result<WorkDir> {
        remove_stale(parent);
        let mut attempt = 0;
        loop {
            attempt += 1;
            match Self::attempt(parent, between)? {
                Some(work) => return Ok(work),
                // Another run's cleanup took it: it was empty and not yet locked, which is
                // how an abandoned one looks. A fresh name is cheap; a bound keeps a broken
                // filesystem from spinning us.
                None if attempt < CREATE_ATTEMPTS => continue,
                None => anyhow::bail!(
                    "creating a work directory in {}: removed by another run {attempt} times \
                     before it could be locked",
                    parent.display()
                ),
            }
        }
    }

    /// One try: `None` if another run removed the directory before we held its lock.
    fn attempt(parent: &Path, between: &mut dyn FnMut(Step, &Path)) -> Result<Option<WorkDir>> {
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
        between(Step::Made, &path);
        let lock = match std::fs::File::open(&path) {
            Ok(l) => l,
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(None),
            Err(e) => {
                remove(&path);
                return Err(e).with_context(|| format!("opening {}", path.display()));
            }
        };
        between(Step::Opened, &path);
        if let Err(e) = rustix::fs::flock(&lock, rustix::fs::FlockOperation::LockExclusive) {
            remove(&path);
            return Err(e).with_context(|| format!("locking {}", path.display()));
        }
        // A cleanup that locked it first has removed it by the time our lock is granted
        // (it holds its lock while removing): then the name no longer leads to what we
        // locked, and whatever has it now is not ours to remove.
        let ours = std::fs::symlink_metadata(&path).is_ok_and(|m| {
            lock.metadata()
                .is_ok_and(|l| (m.dev(), m.ino()) == (l.dev(), l.ino()))
        });
        if !ours {
            return Ok(None);
        }
        let work = WorkDir { path, _lock: lock };
        std::fs::write(work.path.join(MARKER), std::process::id().to_string())
            .with_context(|| format!("writing {}", work.path.join(MARKER).display()))?;
        Ok(Some(work))
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

#[cfg(test)]
mod tests {
    use super::*;

    /// Another run's cleanup at each step where the new directory is empty and unlocked (the
    /// race that failed CI: `opening /tmp/.ostree-encap-…: No such file or directory`):
    /// the run makes another and ends with a locked, marked directory.
    #[test]
    fn a_cleanup_racing_creation_costs_a_fresh_directory_not_the_run() {
        for step in [Step::Made, Step::Opened] {
            let parent = tempfile::tempdir().unwrap();
            let mut lost = Vec::new();
            let work = WorkDir::create_with(parent.path(), &mut |at, path| {
                if at == step && lost.is_empty() {
                    lost.push(path.to_path_buf());
                    remove_stale(parent.path());
                }
            })
            .unwrap();
            assert_eq!(lost.len(), 1, "{step:?}");
            assert!(!lost[0].exists(), "{step:?}: the cleanup removed the first");
            assert_ne!(work.path(), lost[0]);
            assert!(work.path().join(MARKER).is_file(), "{step:?}");
            // Locked: a cleanup now leaves it alone.
            remove_stale(parent.path());
            assert!(work.path().join(MARKER).is_file(), "{step:?}");
            let path = work.path().to_path_buf();
            drop(work);
            assert!(!path.exists());
        }
    }

    /// A cleanup that takes every directory gives up with an error naming the parent.
    #[test]
    fn creation_gives_up_when_every_directory_is_taken() {
        let parent = tempfile::tempdir().unwrap();
        let err = WorkDir::create_with(parent.path(), &mut |_, _| remove_stale(parent.path()))
            .unwrap_err()
            .to_string();
        assert!(err.contains(&parent.path().display().to_string()), "{err}");
        assert!(err.contains("removed by another run"), "{err}");
        assert_eq!(std::fs::read_dir(parent.path()).unwrap().count(), 0);
    }
}
