//! `ostree-encap serve`: images served as an ostree repository over HTTP, for `ostree pull`.
//!
//! Each image's commit is imported into a scratch archive-mode repository (the layout
//! ostree's HTTP client reads: `config`, `refs/heads/…`, `objects/xx/….{commit,commitmeta,
//! dirtree,dirmeta,filez}`, `summary`) through the one import path (`check::import`), which
//! checks every object against its checksum on the way in: a damaged image is refused before
//! the server listens, never halfway through a client's pull. Detached metadata (GPG
//! signatures) comes along as it is, so a client with the key verifies the commit; the
//! summary is signed too with `--gpg-sign`. Static deltas stored beside the images
//! (`ostree-encap delta`) go into `deltas/` and the summary lists them, so a client that
//! has the old commit fetches the delta's parts instead of the changed objects. The
//! repository is made by [`crate::mirror`], as `mirror` makes one. Then `repo-server` serves the directory
//! read-only. The scratch repository lives in `$TMPDIR` (a [`WorkDir`]) and is removed when
//! the server stops.

use crate::layer_objects::LayerObjects;
use crate::mirror::{self, AddOptions, MirroredRef, ServedRef, SummarySigning};
use crate::workdir::WorkDir;
use anyhow::Result;
use std::path::PathBuf;

/// A repository made of images, ready to serve; removed when dropped.
pub struct ServedRepo {
    work: WorkDir,
    /// The refs, the commits they point at and the deltas that lead there.
    pub refs: Vec<MirroredRef>,
    /// The content objects not in the repository: made from the images' layers on request
    /// (shared with the server's worker threads).
    pub from_layers: std::sync::Arc<LayerObjects>,
}

impl ServedRepo {
    /// Import every image's commit under its ref (each object checked) with the static
    /// deltas stored beside it, write the summary and, if asked, sign it.
    ///
    /// # Errors
    /// A damaged or unreadable image (named), a bad ref name, two refs of one name, a
    /// summary that cannot be signed.
    pub fn build(refs: &[ServedRef], signing: Option<&SummarySigning>) -> Result<ServedRepo> {
        if refs.is_empty() {
            anyhow::bail!("nothing to serve: give --tag TAG or --ref NAME[=TAG]");
        }
        let work = WorkDir::create(&std::env::temp_dir())?;
        let path = work.path().join("repo");
        let opts = AddOptions {
            stored_deltas: true,
            objects_from_layers: true,
            ..Default::default()
        };
        let mut from_layers = LayerObjects::default();
        let refs = mirror::add_images_with(&path, refs, opts, &mut from_layers)?;
        from_layers.spill_to(work.path());
        mirror::finish(&path, signing)?;
        Ok(ServedRepo {
            work,
            refs,
            from_layers: std::sync::Arc::new(from_layers),
        })
    }

    /// The repository directory.
    pub fn path(&self) -> PathBuf {
        self.work.path().join("repo")
    }
}
