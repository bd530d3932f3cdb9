//! The repository side of `import`: open the repository or create it (archive mode), write
//! every object inside one libostree transaction as the stream verifier checks it, and
//! commit the transaction only when the whole image verified, so a bad image never leaves a
//! commit behind. A repository this call created is removed again on failure; one it did not
//! create is never removed.

use crate::stream::StreamVerifier;
use anyhow::{bail, Context, Result};
use ostree::gio;
use std::path::Path;

/// Import into the repository at `path`: `check` reads the image through the verifier it
/// is given (which writes each object into the repository as it verifies) and returns its
/// result with the verified commit's checksum; `branch`, if given, then points at it.
///
/// # Errors
/// A bad `branch` (before anything is written), a directory that is neither empty nor a
/// repository, repository errors naming `path`, and whatever `check` returns.
pub fn into_repo<T>(
    path: &Path,
    branch: Option<&str>,
    check: impl FnOnce(StreamVerifier) -> Result<(T, String)>,
) -> Result<T> {
    if let Some(b) = branch {
        ostree::validate_rev(b)
            .map_err(|e| anyhow::anyhow!("--branch {b:?} is not a valid ref name: {e}"))?;
    }
    let (repo, created) = open_or_create(path)?;
    let result = in_transaction(&repo, path, branch, check);
    if result.is_err() && created {
        // The repository is this call's alone: nothing else can be in it yet.
        let _ = std::fs::remove_dir_all(path);
    }
    result
}

/// The repository at `path`, and whether this call created it.
fn open_or_create(path: &Path) -> Result<(ostree::Repo, bool)> {
    let repo = ostree::Repo::new_for_path(path);
    if path.join("config").is_file() {
        repo.open(gio::Cancellable::NONE)
            .with_context(|| format!("opening repository {}", path.display()))?;
        return Ok((repo, false));
    }
    let created = match std::fs::read_dir(path) {
        Ok(mut entries) => {
            if entries.next().is_some() {
                bail!(
                    "--repo {}: the directory is not empty and not an ostree repository (no config file); refusing to write into it",
                    path.display()
                );
            }
            false
        }
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => true,
        Err(e) => return Err(e).with_context(|| format!("--repo {}", path.display())),
    };
    std::fs::create_dir_all(path).with_context(|| format!("creating {}", path.display()))?;
    repo.create(ostree::RepoMode::Archive, gio::Cancellable::NONE)
        .with_context(|| format!("creating repository {}", path.display()))?;
    Ok((repo, created))
}

fn in_transaction<T>(
    repo: &ostree::Repo,
    path: &Path,
    branch: Option<&str>,
    check: impl FnOnce(StreamVerifier) -> Result<(T, String)>,
) -> Result<T> {
    repo.prepare_transaction(gio::Cancellable::NONE)
        .with_context(|| format!("starting a transaction in {}", path.display()))?;
    match check(StreamVerifier::importing_into(repo.clone())) {
        Ok((value, commit)) => {
            if let Some(b) = branch {
                repo.transaction_set_ref(None, b, Some(&commit));
            }
            repo.commit_transaction(gio::Cancellable::NONE)
                .with_context(|| format!("committing the import into {}", path.display()))?;
            Ok(value)
        }
        Err(e) => {
            let _ = repo.abort_transaction(gio::Cancellable::NONE);
            Err(e)
        }
    }
}
