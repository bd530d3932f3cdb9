//! Ostree repositories made of images: each image's commit imported under a ref, the
//! static deltas stored beside the images (and, if asked, new ones from each ref's previous
//! commit), the summary written and optionally signed. `ostree-encap mirror` makes or
//! updates such a repository in a directory any static web server can serve (or a USB
//! stick can carry); `serve` makes one in a scratch directory and serves it.
//!
//! Importing is `check::import`, the one import path: every object checked against its
//! checksum on the way in, so a damaged image is refused before any ref moves. Detached
//! metadata (GPG signatures) comes along as it is. Re-running adds and moves refs and adds
//! deltas; nothing is pruned.

use crate::deltas;
use crate::image_ref::ImageRef;
use crate::layer_objects::LayerObjects;
use anyhow::{bail, Context, Result};
use serde::Serialize;
use std::path::{Path, PathBuf};

/// Commit metadata listing the refs a commit may be pulled as (`ostree commit -b` writes it;
/// `ostree pull` refuses a commit under a ref it does not list).
const REF_BINDING: &str = "ostree.ref-binding";

/// One ref to serve: its name and the image whose commit it points at.
#[derive(Debug, Clone)]
pub struct ServedRef {
    /// The ref name (`os/x86_64/stable`); `None`: the one ref the commit is bound to, else
    /// the image's tag.
    pub name: Option<String>,
    /// The image (a layout with its tag, or an archive).
    pub image: ImageRef,
}

/// Sign the summary with this GPG key.
#[derive(Debug, Clone)]
pub struct SummarySigning {
    /// Key id or fingerprint.
    pub key_id: String,
    /// GnuPG home holding the secret key (default: gpg's).
    pub homedir: Option<PathBuf>,
}

/// How images are added.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct AddOptions {
    /// Install the deltas stored beside each image (`ostree-encap delta`).
    pub stored_deltas: bool,
    /// Generate a delta from the commit a ref pointed at before to the one it points at now,
    /// when that commit is in the repository and no stored delta covers the step.
    pub deltas_from_previous: bool,
    /// Leave the regular files of layers that can be read at any offset out of the
    /// repository ([`crate::check::import_for_serving`]): for `serve`, which makes them on
    /// request. A repository made so is only whole together with those objects.
    pub objects_from_layers: bool,
    /// A ref named again by a later image moves to it (`mirror out:42 out:43`, both bound
    /// to one branch); else a ref named twice is an error.
    pub later_images_move_refs: bool,
}

/// A ref the repository now has.
#[derive(Debug, Clone, Serialize)]
pub struct MirroredRef {
    /// The ref name.
    pub name: String,
    /// The commit it points at.
    pub commit: String,
    /// The commit it pointed at before, if another.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub previous: Option<String>,
    /// Deltas to this commit now in the repository: (from commit, how it came: "stored"
    /// or "generated").
    pub deltas: Vec<MirroredDelta>,
}

/// A static delta put into the repository.
#[derive(Debug, Clone, Serialize)]
pub struct MirroredDelta {
    /// The commit it starts from.
    pub from: String,
    /// Whether it came from the image's layout (`stored`) or was made now (`generated`).
    pub source: &'static str,
}

/// Import every image's commit into the archive repository at `repo_path` (created if
/// missing) under its ref, with the deltas `opts` asks for. The summary is not touched:
/// call [`finish`] once every image is in.
///
/// # Errors
/// A damaged or unreadable image (named), a repository that is not in archive mode, a bad
/// or repeated ref name, a delta that does not lead to its image's commit.
pub fn add_images(
    repo_path: &Path,
    refs: &[ServedRef],
    opts: AddOptions,
) -> Result<Vec<MirroredRef>> {
    // Objects left in layers would be lost here: the repository gets every object.
    let opts = AddOptions {
        objects_from_layers: false,
        ..opts
    };
    add_images_with(repo_path, refs, opts, &mut LayerObjects::default())
}

/// [`add_images`], with the objects left in layers (`opts.objects_from_layers`) added to
/// `from_layers`.
///
/// # Errors
/// As [`add_images`].
pub fn add_images_with(
    repo_path: &Path,
    refs: &[ServedRef],
    opts: AddOptions,
    from_layers: &mut LayerObjects,
) -> Result<Vec<MirroredRef>> {
    if refs.is_empty() {
        bail!("no image given");
    }
    check_archive_mode(repo_path)?;
    let mut done: Vec<MirroredRef> = Vec::new();
    // Each layout or archive opened once, however many of its tags
    // are given.
    let mut opened: Vec<(ImageRef, oci::OciDir, Option<crate::workdir::WorkDir>)> = Vec::new();
    for r in refs {
        let layout = r.image.with_tag(None);
        let at = match opened.iter().position(|(l, _, _)| *l == layout) {
            Some(i) => i,
            None => {
                let (oci, unpacked) = r.image.open_layout()?;
                opened.push((layout, oci, unpacked));
                opened.len() - 1
            }
        };
        let oci = &opened[at].1;
        let report = if opts.objects_from_layers {
            let (report, objects) = crate::check::import_for_serving(oci, r.image.tag(), repo_path)
                .with_context(|| r.image.to_string())?;
            from_layers.absorb(objects);
            report
        } else {
            crate::check::import(oci, r.image.tag(), repo_path, None)
                .with_context(|| r.image.to_string())?
        };
        let repo = open_repo(repo_path)?;
        let bound = bindings(&repo, &report.commit)?;
        let name = ref_name(r, &bound)?;
        if let Some(i) = done.iter().position(|d| d.name == name) {
            if !opts.later_images_move_refs {
                bail!("ref {name:?} is given twice");
            }
            done.remove(i);
        }
        ostree::validate_rev(&name)
            .map_err(|e| anyhow::anyhow!("ref {name:?} is not a valid ref name: {e}"))?;
        let previous = repo
            .resolve_rev(&name, true)
            .with_context(|| format!("reading ref {name}"))?
            .map(|c| c.to_string())
            .filter(|c| *c != report.commit);
        let mut added = Vec::new();
        if opts.stored_deltas {
            for a in deltas::artifacts_for(oci, &report.manifest_digest)
                .with_context(|| r.image.to_string())?
            {
                if a.to != report.commit {
                    bail!(
                        "{}: static delta {} leads to {}, not to the image's commit {}",
                        r.image,
                        a.digest,
                        a.to,
                        report.commit
                    );
                }
                deltas::install(oci, &a, repo_path).with_context(|| r.image.to_string())?;
                added.push(MirroredDelta {
                    from: a.from,
                    source: "stored",
                });
            }
        }
        if let Some(p) = previous.as_ref().filter(|_| opts.deltas_from_previous) {
            // Whole: a delta needs every object of the commit it starts from.
            let have_it = repo
                .load_commit(p)
                .is_ok_and(|(_, state)| !state.contains(ostree::RepoCommitState::PARTIAL));
            if have_it && !added.iter().any(|d| d.from == *p) {
                deltas::generate(&repo, repo_path, p, &report.commit)?;
                added.push(MirroredDelta {
                    from: p.clone(),
                    source: "generated",
                });
            }
        }
        repo.set_ref_immediate(
            None,
            &name,
            Some(&report.commit),
            ostree::gio::Cancellable::NONE,
        )
        .with_context(|| format!("setting ref {name}"))?;
        done.push(MirroredRef {
            name,
            commit: report.commit,
            previous,
            deltas: added,
        });
    }
    Ok(done)
}

/// Write the summary (refs, and the deltas in `deltas/`) and, if asked, sign it.
///
/// # Errors
/// libostree's; a key that cannot sign (named).
pub fn finish(repo_path: &Path, signing: Option<&SummarySigning>) -> Result<()> {
    let repo = open_repo(repo_path)?;
    repo.regenerate_summary(None, ostree::gio::Cancellable::NONE)
        .context("writing the summary")?;
    if let Some(s) = signing {
        let home = s.homedir.as_ref().map(|h| h.display().to_string());
        repo.add_gpg_signature_summary(
            &[s.key_id.as_str()],
            home.as_deref(),
            ostree::gio::Cancellable::NONE,
        )
        .with_context(|| format!("--gpg-sign {}: signing the summary", s.key_id))?;
    }
    Ok(())
}

/// A repository served over HTTP must be in archive mode (objects compressed one per file,
/// which ostree's HTTP client fetches); an existing one of another mode is refused.
fn check_archive_mode(repo_path: &Path) -> Result<()> {
    if !repo_path.join("config").is_file() {
        return Ok(());
    }
    let repo = open_repo(repo_path)?;
    let mode = repo.mode();
    if mode != ostree::RepoMode::Archive {
        bail!(
            "--repo {}: a {mode:?} repository; web servers serve archive-mode ones (ostree init --mode=archive)",
            repo_path.display()
        );
    }
    Ok(())
}

fn open_repo(path: &Path) -> Result<ostree::Repo> {
    let repo = ostree::Repo::new_for_path(path);
    repo.open(ostree::gio::Cancellable::NONE)
        .with_context(|| format!("opening {}", path.display()))?;
    Ok(repo)
}

/// The refs `commit` is bound to (empty: any).
fn bindings(repo: &ostree::Repo, commit: &str) -> Result<Vec<String>> {
    let (v, _) = repo
        .load_commit(commit)
        .with_context(|| format!("reading commit {commit}"))?;
    let md = ostree::glib::VariantDict::new(Some(&v.child_value(0)));
    Ok(md
        .lookup_value(REF_BINDING, Some(ostree::glib::VariantTy::STRING_ARRAY))
        .and_then(|b| b.get::<Vec<String>>())
        .unwrap_or_default())
}

/// The ref to serve `r` as, given the refs its commit is bound to.
fn ref_name(r: &ServedRef, bound: &[String]) -> Result<String> {
    match (&r.name, bound) {
        (Some(n), []) => Ok(n.clone()),
        (Some(n), b) if b.contains(n) => Ok(n.clone()),
        (Some(n), b) => bail!(
            "ref {n:?}: {} is bound to {b:?} ({REF_BINDING}); ostree pull refuses it under \
             another name: serve it as one of those (--ref NAME=TAG)",
            r.image
        ),
        (None, [one]) => Ok(one.clone()),
        (None, _) => r
            .image
            .tag()
            .map(str::to_string)
            .with_context(|| format!("{}: name the ref to serve it as (--ref NAME)", r.image)),
    }
}

/// The refs `--tag` and `--ref NAME[=TAG]` name for the images of `image` (a layout dir or
/// an archive): `--tag T` serves tag T as the ref its commit is bound to (or T);
/// `--ref NAME=T` serves tag T as NAME; `--ref NAME` serves the only image.
///
/// # Errors
/// A `--ref` without a name, or a `--ref NAME` when the source holds a tag choice.
pub fn refs_from_flags(
    dir: Option<&Path>,
    archive: Option<&Path>,
    tags: &[String],
    refs: &[String],
) -> Result<Vec<ServedRef>> {
    let image = |tag: Option<&str>| -> Result<ImageRef> {
        Ok(match (dir, archive) {
            (Some(d), None) => ImageRef::Dir {
                path: d.to_path_buf(),
                tag: tag.map(str::to_string),
            },
            (None, Some(a)) => ImageRef::Archive {
                path: a.to_path_buf(),
                tag: tag.map(str::to_string),
            },
            _ => bail!("give one of --oci-dir DIR and --oci-archive FILE"),
        })
    };
    let mut out = Vec::new();
    for t in tags {
        oci::spec::check_tag(t)?;
        out.push(ServedRef {
            name: None,
            image: image(Some(t))?,
        });
    }
    for r in refs {
        let (name, tag) = match r.split_once('=') {
            Some((n, t)) => (n, Some(t)),
            None => (r.as_str(), None),
        };
        if name.is_empty() {
            bail!("--ref {r:?}: expected NAME or NAME=TAG");
        }
        if let Some(t) = tag {
            oci::spec::check_tag(t).with_context(|| format!("--ref {r:?}"))?;
        }
        out.push(ServedRef {
            name: Some(name.to_string()),
            image: image(tag)?,
        });
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn tags_and_refs_name_what_is_served() {
        let d = Some(Path::new("/img"));
        let r = refs_from_flags(
            d,
            None,
            &["42".into()],
            &["os/stable=42".into(), "os/any".into()],
        )
        .unwrap();
        let seen: Vec<(Option<String>, String)> = r
            .iter()
            .map(|r| (r.name.clone(), r.image.to_string()))
            .collect();
        assert_eq!(
            seen,
            [
                (None, "oci:/img:42".to_string()),
                (Some("os/stable".into()), "oci:/img:42".into()),
                (Some("os/any".into()), "oci:/img".into()),
            ]
        );
        // The commit's binding names the ref; a name it does not list is refused.
        let bound = ["os/x86_64/stable".to_string()];
        assert_eq!(ref_name(&r[0], &bound).unwrap(), "os/x86_64/stable");
        assert_eq!(ref_name(&r[0], &[]).unwrap(), "42");
        let e = ref_name(&r[1], &bound).unwrap_err().to_string();
        assert!(
            e.contains("os/x86_64/stable") && e.contains("ostree.ref-binding"),
            "{e}"
        );
        assert!(ref_name(&r[2], &[]).unwrap() == "os/any");
        assert!(refs_from_flags(d, None, &[], &["=42".into()]).is_err());
        assert!(refs_from_flags(d, None, &["bad tag".into()], &[]).is_err());
        assert!(refs_from_flags(None, None, &["x".into()], &[]).is_err());
    }
}
