//! `ostree-encap delta --format oci-delta` and `verify-delta`: oci-delta artifacts (made by
//! the `deltas` crate) between two images, stored beside the new one under its referrers
//! tag, written alone as a delta file (`oci:` or `oci-archive:`), and checked.

use crate::image_ref::ImageRef;
use crate::output::{into_archive, into_dir};
use crate::workdir::WorkDir;
use ::deltas::oci_delta::{self, Image, Made, Verified};
use anyhow::{bail, Context, Result};
use oci::OciDir;
use serde::Serialize;
use std::path::Path;

/// What `ostree-encap delta --format oci-delta` did.
#[derive(Debug, Clone, Serialize)]
pub struct OciDeltaReport {
    /// The image the delta leads to.
    pub subject: oci::types::Digest,
    /// The tag that lists the image's referrers.
    pub referrers_tag: String,
    /// The delta file written (`--output`), if any.
    pub output: Option<String>,
    /// The delta.
    pub delta: Made,
}

/// A delta file (`oci:DIR` or `oci-archive:FILE`) to write: a layout that holds the delta
/// and nothing else.
fn write_file(src: &OciDir, made: &Made, dest: &ImageRef) -> Result<()> {
    let export = |out: &OciDir| oci_delta::export(src, &made.manifest, out);
    match dest {
        ImageRef::Dir { path, tag: None } => {
            let empty = match std::fs::read_dir(path) {
                Ok(mut d) => d.next().is_none(),
                Err(e) if e.kind() == std::io::ErrorKind::NotFound => true,
                Err(e) => return Err(e).with_context(|| format!("--output {}", path.display())),
            };
            if !empty {
                bail!(
                    "--output {}: a delta file is a layout of its own (its index lists the delta \
                     alone); give a new or empty directory",
                    path.display()
                );
            }
            into_dir(path, export)
        }
        ImageRef::Archive { path, tag: None } => into_archive(path, "--output", export),
        other => bail!("--output {other}: give oci:DIR or oci-archive:FILE, without a tag"),
    }
}

/// Make the oci-delta from `from` to the image `to_tag` of the layout `to_dir`, store it
/// there under the image's referrers tag, and write it alone to `output` if given.
///
/// # Errors
/// Unreadable images (named), an `--output` that is not new, I/O errors.
pub fn make(
    from: &ImageRef,
    to_dir: &Path,
    to_tag: Option<&str>,
    output: Option<&ImageRef>,
    jobs: usize,
    progress: &(dyn Fn(&str) + Sync),
) -> Result<OciDeltaReport> {
    let old = from.open().with_context(|| format!("--from {from}"))?;
    let to = ImageRef::Dir {
        path: to_dir.to_path_buf(),
        tag: to_tag.map(str::to_string),
    };
    let work = WorkDir::create(&std::env::temp_dir())?;
    let opts = oci_delta::Options {
        jobs: jobs.max(1),
        ..Default::default()
    };
    let made = into_dir(to_dir, |out| {
        let new = out.resolve(to_tag).with_context(|| to.to_string())?;
        let made = oci_delta::create(
            Image {
                oci: &old.oci,
                image: &old.image,
            },
            Image {
                oci: out,
                image: &new,
            },
            out,
            work.path(),
            &opts,
            progress,
        )
        .with_context(|| format!("the oci-delta from {from} to {to}"))?;
        oci_delta::list(out, &made)?;
        Ok(made)
    })?;
    if let Some(dest) = output {
        let (src, _) = to.open_layout()?;
        write_file(&src, &made, dest)?;
    }
    Ok(OciDeltaReport {
        subject: made.plan.target.digest.clone(),
        referrers_tag: oci::referrers::tag(&made.plan.target.digest),
        output: output.map(|o| o.to_string()),
        delta: made,
    })
}

/// Where the deltas to check are.
pub enum DeltaInput {
    /// A delta file: a layout or archive holding one delta.
    File(ImageRef),
    /// The oci-deltas stored beside an image (its referrers) that start from the old image.
    Beside(ImageRef),
}

/// Check deltas against the old image `from` (see [`::deltas::oci_delta::verify`]).
///
/// # Errors
/// The first problem found, naming the delta; no delta to check.
pub fn check(input: &DeltaInput, from: &ImageRef, jobs: usize) -> Result<Vec<Verified>> {
    let old = from.open().with_context(|| format!("--from {from}"))?;
    let work = WorkDir::create(&std::env::temp_dir())?;
    let (oci, manifests) = match input {
        DeltaInput::File(r) => {
            let (oci, w) = r.open_layout().with_context(|| format!("--delta {r}"))?;
            let m = oci_delta::only_manifest(&oci).with_context(|| format!("--delta {r}"))?;
            (oci, vec![(m, w)])
        }
        DeltaInput::Beside(r) => {
            let image = r.open()?;
            let stored = oci_delta::stored(&image.oci, &image.image.descriptor.digest)?;
            let ms: Vec<_> = stored
                .into_iter()
                .filter(|(_, src)| *src == old.image.manifest.config.digest)
                .map(|(d, _)| (d, None))
                .collect();
            if ms.is_empty() {
                bail!("{r}: no oci-delta from {from} is stored beside it (ostree-encap delta --format oci-delta makes one)");
            }
            let (oci, _) = r.open_layout()?;
            (oci, ms)
        }
    };
    manifests
        .iter()
        .map(|(m, _)| oci_delta::verify(&oci, m, &old.oci, &old.image, work.path(), jobs.max(1)))
        .collect()
}
