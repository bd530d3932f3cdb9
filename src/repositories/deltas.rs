//! `ostree-encap delta` (`--format ostree`): libostree's static delta between two images'
//! commits, made in a scratch repository where both images are imported and checked, and
//! stored beside the newer image. What a static delta is and how it is stored, read and
//! installed is the `deltas` crate's (`deltas::static_delta`), re-exported here.

pub use ::deltas::static_delta::*;

use crate::image_ref::ImageRef;
use crate::workdir::WorkDir;
use anyhow::{bail, Context, Result};
use std::path::Path;

/// `ostree-encap delta`: the delta from the commit of `from` to that of the image `to_tag`
/// in the layout `to_dir`, stored there beside it. Both images are imported into a scratch
/// repository first (every object checked), which is removed afterwards.
///
/// # Errors
/// Either image unreadable or damaged (named), the same commit in both, libostree's errors.
pub fn make(from: &ImageRef, to_dir: &Path, to_tag: Option<&str>) -> Result<DeltaReport> {
    let to = ImageRef::Dir {
        path: to_dir.to_path_buf(),
        tag: to_tag.map(str::to_string),
    };
    let work = WorkDir::create(&std::env::temp_dir())?;
    let repo_path = work.path().join("repo");
    let (old_oci, _old_work) = from
        .open_layout()
        .with_context(|| format!("--from {from}"))?;
    let old = crate::check::import(&old_oci, from.tag(), &repo_path, None)
        .with_context(|| format!("--from {from}"))?;
    let (new_oci, _) = to.open_layout()?;
    let subject = new_oci.resolve(to_tag).with_context(|| to.to_string())?;
    let new =
        crate::check::import(&new_oci, to_tag, &repo_path, None).with_context(|| to.to_string())?;
    if old.commit == new.commit {
        bail!(
            "--from {from} and {to} hold the same commit {}: there is no delta to make",
            new.commit
        );
    }
    let repo = ostree::Repo::new_for_path(&repo_path);
    repo.open(ostree::gio::Cancellable::NONE)
        .with_context(|| format!("opening {}", repo_path.display()))?;
    let delta = generate(&repo, &repo_path, &old.commit, &new.commit)?;
    let artifact = crate::output::into_dir(to_dir, |oci| {
        write_artifact(oci, &subject.descriptor, &delta)
    })?;
    Ok(DeltaReport {
        subject: subject.descriptor.digest.clone(),
        referrers_tag: referrers_tag(&subject.descriptor.digest),
        artifact,
    })
}
