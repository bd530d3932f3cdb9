//! What to encapsulate and how ([`EncapsulateRequest`]), checked before any work
//! ([`EncapsulateRequest::validate`]); what a run reports back ([`Summary`], [`Progress`]).

use crate::reuse::Previous;
use anyhow::{bail, Result};
use compress::Compression;
use encapsulate::components::ComponentOptions;
use oci::keys;
use oci::spec::ImageOptions;
use oci::types::Digest;
use serde::Serialize;
use std::path::PathBuf;

/// What to encapsulate and how.
#[derive(Debug, Clone, Default)]
pub struct EncapsulateRequest {
    /// Source repository.
    pub repo: PathBuf,
    /// Branch, `remote:ref` or checksum.
    pub rev: String,
    /// Image metadata options.
    pub image: ImageOptions,
    /// Layer compression.
    pub compression: Compression,
    /// Tag in the layout (`None`: the untagged slot).
    pub tag: Option<String>,
    /// How content is split into layers.
    pub chunking: ChunkOptions,
    /// Layers written at once (0: one per CPU). The output does not depend on it.
    pub jobs: usize,
    /// Encapsulate this plain tree instead of a commit of `repo` (which must then be empty).
    pub rootfs: Option<RootfsInput>,
    /// The ostree container format (default) or the filesystem itself (`--format plain`).
    pub format: encapsulate::StreamFormat,
    /// Also make an SPDX bill of materials of the installed packages (written by
    /// [`crate::encapsulate_to`] to this file once the image is in place).
    pub sbom: Option<PathBuf>,
    /// Also store an in-toto SLSA v1 provenance statement beside the image, as a referrer of
    /// it ([`crate::building::provenance`]).
    pub provenance: bool,
    /// Also compute the image's composefs digests and publish them ([`crate::composefs`]).
    pub composefs: Option<crate::composefs::Publish>,
    /// The image the tree was derived from (`--base`): its layers go first, unchanged, and
    /// only the difference is planned ([`crate::building::base`]); and how to reach it.
    pub base: Option<(crate::ImageRef, oci::skopeo::PullOptions)>,
}

/// A plain root filesystem to encapsulate (`--rootfs`, `--from`): made into a commit on the
/// fly (`encapsulate::rootfs`): nothing of it is copied; only the commit object is written,
/// to a scratch repository.
#[derive(Debug, Clone)]
pub struct RootfsInput {
    /// The tree.
    pub tree: TreeInput,
    /// Tree paths left out (`--prune`, normalized by `encapsulate::rootfs::prune_path`).
    pub prune: Vec<String>,
}

/// Chunking choices.
#[derive(Debug, Clone)]
pub struct ChunkOptions {
    /// Chunk layers besides the commit layer (0: single-layer image).
    pub max_layers: usize,
    /// Component sources.
    pub components: ComponentOptions,
    /// The previous build, if known.
    pub previous: Option<std::sync::Arc<Previous>>,
    /// Allow more than [`keys::MAX_LAYERS_SAFE`] chunk layers.
    pub allow_many_layers: bool,
}

impl Default for ChunkOptions {
    fn default() -> Self {
        ChunkOptions {
            max_layers: keys::DEFAULT_MAX_LAYERS,
            components: ComponentOptions {
                xattrs: true,
                packages: true,
                contentmeta: None,
            },
            previous: None,
            allow_many_layers: false,
        }
    }
}

/// One layer of a written image, for `--json` and the text summary.
#[derive(Debug, Clone, Serialize, PartialEq, Eq)]
pub struct LayerSummary {
    /// Blob digest.
    pub digest: Digest,
    /// Uncompressed digest.
    pub diff_id: Digest,
    /// Blob size.
    pub size: u64,
    /// Uncompressed size.
    pub uncompressed_size: u64,
    /// Media type.
    pub media_type: String,
    /// Content objects in it.
    pub content_objects: u64,
    /// Component names (chunk layers).
    pub components: Vec<String>,
    /// Whether an existing blob with the same content was reused instead of compressing again.
    pub reused: bool,
    /// For a new gzip layer: uncompressed bytes whose compressed blocks were taken from an
    /// earlier blob instead of compressed again (the whole layer when `reused`).
    pub reused_block_bytes: u64,
}

impl EncapsulateRequest {
    /// Check every option that can be checked without the repository, so that a bad one is
    /// refused before anything is created. Front ends (the CLI, the coreos-assembler plugin)
    /// get the same limits by calling [`crate::encapsulate_to`], which calls this first.
    ///
    /// # Errors
    /// The first bad option, named.
    pub fn validate(&self) -> Result<()> {
        match (&self.rootfs, self.repo.as_os_str().is_empty()) {
            (Some(_), false) => {
                bail!("--rootfs and --repo: give one source, a tree or a repository")
            }
            (None, true) => {
                bail!("--repo is required (the ostree repository to read), or --rootfs")
            }
            _ => {}
        }
        if let Some(r) = &self.rootfs {
            for p in &r.prune {
                encapsulate::rootfs::prune_path(p).map_err(anyhow::Error::msg)?;
            }
        }
        if let Some((base, _)) = &self.base {
            if self.rootfs.is_none() {
                bail!("--base {base}: give the derived tree with --from IMAGE or --rootfs DIR");
            }
        }
        if let Some(tag) = &self.tag {
            oci::spec::check_tag(tag)?;
        }
        if let Some(arch) = &self.image.arch {
            oci::spec::checked_arch(arch, "--arch")?;
        }
        if self.jobs > keys::MAX_JOBS {
            bail!(
                "--jobs {}: at most {} threads are supported",
                self.jobs,
                keys::MAX_JOBS
            );
        }
        let n = self.chunking.max_layers;
        if n > keys::MAX_LAYERS_HARD {
            bail!(
                "--max-layers {n}: at most {} are supported",
                keys::MAX_LAYERS_HARD
            );
        }
        if self.format == encapsulate::StreamFormat::Plain && n > keys::MAX_LAYERS_PLAIN {
            bail!(
                "--max-layers {n}: a plain image holds at most {} chunk layers: containers-storage \
                 (podman, buildah, bootc) refuses images of more than 500 layers",
                keys::MAX_LAYERS_PLAIN
            );
        }
        if n > keys::MAX_LAYERS_SAFE && !self.chunking.allow_many_layers {
            bail!(
                "--max-layers {n}: more than {} chunk layers make images Docker's overlay2 cannot unpack; add --allow-many-layers if your clients can",
                keys::MAX_LAYERS_SAFE
            );
        }
        oci::spec::check_annotations(&self.image.annotations, |k| {
            self.image.labels.iter().any(|(l, _)| l == k)
        })?;
        Ok(())
    }
}

/// Where a plain tree comes from.
#[derive(Debug, Clone)]
pub enum TreeInput {
    /// A directory (`--rootfs DIR`).
    Dir(PathBuf),
    /// An image whose layers are applied to a work directory first (`--from IMAGE`,
    /// [`crate::flatten`]), and how to reach it if skopeo must fetch it.
    Image(crate::ImageRef, oci::skopeo::PullOptions),
}

/// Result of an encapsulation.
#[derive(Debug, Clone, Serialize, PartialEq, Eq)]
pub struct Summary {
    /// The commit checksum.
    pub commit: String,
    /// Manifest digest.
    pub manifest_digest: Digest,
    /// Config digest.
    pub config_digest: Digest,
    /// Tag written, if any.
    pub tag: Option<String>,
    /// Architecture.
    pub architecture: String,
    /// `created`.
    pub created: String,
    /// Layers, commit layer first.
    pub layers: Vec<LayerSummary>,
    /// The bill of materials, when asked for.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub sbom: Option<SbomSummary>,
    /// The composefs digests published with the image (`--composefs`).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub composefs: Option<crate::composefs::ComposefsDigests>,
}

/// The SPDX document of a build (`--sbom`).
#[derive(Debug, Clone, Serialize, PartialEq, Eq)]
pub struct SbomSummary {
    /// Where it was written.
    pub path: PathBuf,
    /// Its digest, as the `ostree-encap.sbom` label records it.
    pub digest: Digest,
    /// Installed packages listed.
    pub packages: usize,
    /// The document.
    #[serde(skip)]
    pub document: Vec<u8>,
}

/// Progress events for long runs. The library never prints; the CLI renders these. Layers
/// may be written in parallel, so events of different layers interleave.
pub trait Progress: Send {
    /// Writing starts: `layers` layers holding `objects` content objects of `bytes` bytes.
    fn started(&mut self, _layers: usize, _objects: usize, _bytes: u64) {}
    /// One content object of `bytes` was written.
    fn object_written(&mut self, _bytes: u64) {}
    /// Layer `index` is done.
    fn layer_finished(&mut self, _index: usize) {}
    /// Something the user should know that does not stop the run (e.g. a `--previous`
    /// layer that could not be proven and was built again).
    fn warning(&mut self, _message: &str) {}
    /// A phase of the run ended after `seconds` of wall time: `scan tree` (`--rootfs` only:
    /// walk and hash the tree, write its metadata objects), `read tree` (open the commit,
    /// walk its dirtrees), `components` (sizes, xattrs, package databases), `plan`, `write
    /// layers`, `assemble` (config, manifest, index). Timings go to the user, never into the
    /// image.
    fn phase(&mut self, _name: &str, _seconds: f64) {}
}

/// A progress sink that ignores everything.
pub struct NoProgress;
impl Progress for NoProgress {}
