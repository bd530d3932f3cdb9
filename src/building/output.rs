//! Where images are written and read: an OCI layout directory or an oci-archive; what a
//! failed run leaves behind (nothing it did not create).

use crate::build::encapsulate_into;
use crate::image_ref::ImageRef;
use crate::request::{EncapsulateRequest, Progress, Summary};
use crate::workdir;
use anyhow::{bail, Context, Result};
use cap_std::fs::Dir;
use oci::OciDir;
use std::io;
use std::path::{Path, PathBuf};

/// Where an image is written or read.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Target {
    /// An OCI layout directory.
    Dir(PathBuf),
    /// An oci-archive file.
    Archive(PathBuf),
}

impl Target {
    /// The image written here, as an image reference (for `--push`).
    pub fn image_ref(&self, tag: Option<&str>) -> ImageRef {
        match self {
            Target::Dir(path) => ImageRef::Dir {
                path: path.clone(),
                tag: tag.map(str::to_string),
            },
            // An archive written by a run holds that one image.
            Target::Archive(path) => ImageRef::Archive {
                path: path.clone(),
                tag: None,
            },
        }
    }
}

/// Encapsulate into a directory (created if missing; removed again on failure if we created
/// it) or into an oci-archive (written next to its final name, renamed into place); then the
/// bill of materials (`--sbom`), atomically, once the image it describes is in place.
///
/// # Errors
/// As [`encapsulate_into`], plus output errors naming the path.
pub fn encapsulate_to(
    req: &EncapsulateRequest,
    target: &Target,
    progress: &mut dyn Progress,
) -> Result<Summary> {
    req.validate()?;
    if let Some(crate::request::RootfsInput {
        tree: crate::TreeInput::Dir(tree),
        prune,
    }) = &req.rootfs
    {
        let (flag, out) = match target {
            Target::Dir(p) => ("--oci-dir", p),
            Target::Archive(p) => ("--oci-archive", p),
        };
        not_inside_tree(tree, prune, out, flag)?;
        if let Some(sbom) = &req.sbom {
            not_inside_tree(tree, prune, sbom, "--sbom")?;
        }
    }
    // Output files are checked before the long work, not after it: a path that is not a
    // regular file is not ours to replace.
    if let Target::Archive(path) = target {
        oci::outfile::check(path, "--oci-archive")?;
    }
    if let Some(path) = &req.sbom {
        oci::outfile::check_document(path, "--sbom")?;
    }
    let summary = encapsulate_image(req, target, progress)?;
    if let Some(s) = &summary.sbom {
        oci::outfile::write_document(&s.path, "--sbom", &s.document)
            .with_context(|| format!("writing the SBOM {}", s.path.display()))?;
    }
    Ok(summary)
}

/// An output inside the `--rootfs` tree would be read into the image it is being written
/// from (and differ on every run): refused, unless a `--prune` path leaves it out.
fn not_inside_tree(tree: &Path, prune: &[String], out: &Path, flag: &str) -> Result<()> {
    // A tree that cannot be resolved is the tree reader's to report, with its own words.
    let Ok(tree) = tree.canonicalize() else {
        return Ok(());
    };
    // The output may not exist yet: its nearest existing ancestor, made absolute, and the
    // rest of the path as given.
    let absolute = std::path::absolute(out).with_context(|| out.display().to_string())?;
    let mut existing = absolute.as_path();
    let mut rest = Vec::new();
    while !existing.exists() {
        match (existing.parent(), existing.file_name()) {
            (Some(parent), Some(name)) => {
                rest.push(name.to_owned());
                existing = parent;
            }
            _ => break,
        }
    }
    let Ok(mut resolved) = existing.canonicalize() else {
        return Ok(());
    };
    resolved.extend(rest.iter().rev());
    let Ok(inside) = resolved.strip_prefix(&tree) else {
        return Ok(());
    };
    let inside = inside.to_string_lossy();
    let pruned = prune.iter().any(|p| {
        let p = p.trim_matches('/');
        inside == p || inside.starts_with(&format!("{p}/"))
    });
    if !pruned {
        bail!(
            "{flag} {}: it is inside the --rootfs tree {} (at {inside}), so the image would \
             hold its own output; write it outside the tree, or leave that path out with \
             --prune {inside}",
            out.display(),
            tree.display()
        );
    }
    Ok(())
}

fn encapsulate_image(
    req: &EncapsulateRequest,
    target: &Target,
    progress: &mut dyn Progress,
) -> Result<Summary> {
    match target {
        Target::Dir(path) => into_dir(path, |oci| encapsulate_into(req, oci, progress)),
        Target::Archive(path) => into_archive(path, "--oci-archive", |oci| {
            encapsulate_into(req, oci, progress)
        }),
    }
}

/// Write the layout `oci` as the oci-archive `name` in `parent_dir` (shown as `path`):
/// beside it first, synced, then renamed over it, and only over a regular file (`flag`
/// names the option in errors).
fn archive_into(
    oci: &OciDir,
    parent_dir: &Dir,
    parent: &Path,
    name: &str,
    path: &Path,
    flag: &str,
) -> Result<()> {
    let mut tmp = cap_tempfile::TempFile::new(parent_dir)
        .with_context(|| format!("creating temp file in {}", parent.display()))?;
    let buffered = io::BufWriter::new(&mut tmp);
    let buffered = oci::archive::write_archive(oci.dir(), buffered)?;
    buffered
        .into_inner()
        .map_err(|e| e.into_error())
        .with_context(|| format!("writing {}", path.display()))?;
    tmp.as_file()
        .sync_all()
        .with_context(|| format!("syncing {}", path.display()))?;
    oci::faults::point("archive-rename");
    oci::outfile::check_in(parent_dir, name, path, flag)?;
    tmp.replace(name)
        .with_context(|| format!("renaming into {}", path.display()))?;
    parent_dir.open(".").and_then(|d| d.sync_all()).ok();
    Ok(())
}

/// Write what `write` puts into a fresh layout as the oci-archive `path` (`flag` names the
/// option): the layout is made in a work directory beside the archive and removed after.
///
/// # Errors
/// `write`'s; a path that is there and not a regular file; I/O errors naming the path.
pub fn into_archive<T>(
    path: &Path,
    flag: &str,
    write: impl FnOnce(&OciDir) -> Result<T>,
) -> Result<T> {
    oci::outfile::check(path, flag)?;
    let (parent, name) = split_parent(path)?;
    let parent_dir = Dir::open_ambient_dir(&parent, cap_std::ambient_authority())
        .with_context(|| format!("opening output directory {}", parent.display()))?;
    let work = workdir::WorkDir::create(&parent)?;
    let layout_path = work.layout_path()?;
    let layout_dir = Dir::open_ambient_dir(&layout_path, cap_std::ambient_authority())?;
    let oci = OciDir::ensure(layout_dir, &layout_path.display().to_string())?;
    let t = write(&oci)?;
    archive_into(&oci, &parent_dir, &parent, &name, path, flag)?;
    Ok(t)
}

/// Run `write` on the layout directory `path` (created, with missing ancestors, if need be)
/// under the layout's run lock. If it fails, what this run wrote is removed, and only that:
/// blobs no image uses, then the directories it created if they are empty now, both only
/// when no other run is writing there (the exclusive lock).
///
/// # Errors
/// `write`'s error; a path that is not a directory; I/O errors naming the path.
pub fn into_dir<T>(path: &Path, write: impl FnOnce(&OciDir) -> Result<T>) -> Result<T> {
    // A failed concurrent run that created the directory removes it again when it is empty
    // and no run holds the run lock; a run that lost that race starts over.
    let mut attempt = 0;
    let (oci, lock, created) = loop {
        attempt += 1;
        let created = prepare_out_dir(path)?;
        let opened = open_out_layout(path).and_then(|oci| Ok((oci.run_lock()?, oci)));
        match opened {
            Ok((lock, oci)) => break (oci, lock, created),
            // Any error may be that race (a directory removed under our handle); a lasting
            // one (a foreign directory) fails the same way each time.
            Err(_) if attempt < 5 => {}
            Err(e) => {
                remove_created_dirs(&created);
                return Err(e);
            }
        }
    };
    let result = write(&oci);
    if result.is_err() {
        if let Some(exclusive) = oci.remove_created(lock) {
            drop(oci);
            remove_created_dirs(&created);
            drop(exclusive);
        }
    }
    result
}

fn split_parent(path: &Path) -> Result<(PathBuf, String)> {
    let name = path
        .file_name()
        .and_then(|n| n.to_str())
        .with_context(|| format!("{} does not name a file", path.display()))?
        .to_string();
    let parent = match path.parent() {
        Some(p) if !p.as_os_str().is_empty() => p.to_path_buf(),
        _ => PathBuf::from("."),
    };
    if !parent.is_dir() {
        bail!("output directory {} does not exist", parent.display());
    }
    Ok((parent, name))
}

/// Create the output dir and its missing ancestors; returns the directories this call
/// created, deepest first, so a failed run can remove exactly those.
fn prepare_out_dir(path: &Path) -> Result<Vec<PathBuf>> {
    match std::fs::metadata(path) {
        Ok(m) if m.is_dir() => Ok(Vec::new()),
        Ok(_) => bail!("--oci-dir {} exists and is not a directory", path.display()),
        Err(e) if e.kind() == io::ErrorKind::NotFound => {
            let mut missing = Vec::new();
            let mut p = Some(path);
            while let Some(d) = p.filter(|d| !d.as_os_str().is_empty() && !d.exists()) {
                missing.push(d.to_path_buf());
                p = d.parent();
            }
            std::fs::create_dir_all(path)
                .with_context(|| format!("creating output directory {}", path.display()))?;
            Ok(missing)
        }
        Err(e) => Err(e).with_context(|| format!("checking output directory {}", path.display())),
    }
}

/// After a failed run into `path`: remove the directories this run `created` (deepest
/// first) that are empty now; the layout inside was cleaned by `OciDir::remove_created`.
/// `remove_dir` only removes empty directories, so anything another run put there stays.
fn remove_created_dirs(created: &[PathBuf]) {
    for d in created {
        if std::fs::remove_dir(d).is_err() {
            break;
        }
    }
}

fn open_out_layout(path: &Path) -> Result<OciDir> {
    let dir = Dir::open_ambient_dir(path, cap_std::ambient_authority())
        .with_context(|| format!("opening output directory {}", path.display()))?;
    Ok(OciDir::ensure(dir, &path.display().to_string())?)
}

/// Open an existing layout (dir), or an archive for reading: its `index.json` and
/// `oci-layout` are copied into a temp dir, its blobs read where they lie in it (reading is
/// [`ImageRef::open_layout`]'s; this names it by the target it was written to).
///
/// # Errors
/// Missing paths, not a layout, bad archive.
pub fn open_layout(target: &Target) -> Result<(OciDir, Option<workdir::WorkDir>)> {
    target.image_ref(None).open_layout()
}
