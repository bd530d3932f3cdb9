//! `ostree-encap serve`: images served as an ostree repository over HTTP, for `ostree pull`.
//!
//! Each image's commit is imported into a scratch archive-mode repository (the layout
//! ostree's HTTP client reads: `config`, `refs/heads/…`, `objects/xx/….{commit,commitmeta,
//! dirtree,dirmeta,filez}`, `summary`) through the one import path (`check::import`), which
//! checks every object against its checksum on the way in: a damaged image is refused before
//! the server listens, never halfway through a client's pull. Detached metadata (GPG
//! signatures) comes along as it is, so a client with the key verifies the commit; the
//! summary is signed too with `--gpg-sign`. Then `repo-server` serves the directory
//! read-only. The scratch repository lives in `$TMPDIR` (a [`WorkDir`]) and is removed when
//! the server stops.

use crate::image_ref::ImageRef;
use crate::workdir::WorkDir;
use anyhow::{bail, Context, Result};
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

/// A repository made of images, ready to serve; removed when dropped.
pub struct ServedRepo {
    work: WorkDir,
    /// The refs and the commits they point at.
    pub refs: Vec<(String, String)>,
}

impl ServedRepo {
    /// Import every image's commit under its ref (each object checked), write the summary
    /// and, if asked, sign it.
    ///
    /// # Errors
    /// A damaged or unreadable image (named), a bad ref name, two refs of one name, a
    /// summary that cannot be signed.
    pub fn build(refs: &[ServedRef], signing: Option<&SummarySigning>) -> Result<ServedRepo> {
        if refs.is_empty() {
            bail!("nothing to serve: give --tag TAG or --ref NAME[=TAG]");
        }
        let work = WorkDir::create(&std::env::temp_dir())?;
        let path = work.path().join("repo");
        let mut served: Vec<(String, String)> = Vec::new();
        for r in refs {
            let (oci, _unpacked) = r.image.open_layout()?;
            let report = crate::check::import(&oci, r.image.tag(), &path, None)
                .with_context(|| r.image.to_string())?;
            let repo = open_repo(&path)?;
            let bound = bindings(&repo, &report.commit)?;
            let name = ref_name(r, &bound)?;
            if served.iter().any(|(n, _)| *n == name) {
                bail!("ref {name:?} is given twice");
            }
            ostree::validate_rev(&name)
                .map_err(|e| anyhow::anyhow!("ref {name:?} is not a valid ref name: {e}"))?;
            repo.set_ref_immediate(
                None,
                &name,
                Some(&report.commit),
                ostree::gio::Cancellable::NONE,
            )
            .with_context(|| format!("setting ref {name}"))?;
            served.push((name, report.commit));
        }
        let repo = open_repo(&path)?;
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
        Ok(ServedRepo { work, refs: served })
    }

    /// The repository directory.
    pub fn path(&self) -> PathBuf {
        self.work.path().join("repo")
    }
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
