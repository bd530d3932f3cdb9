//! oci-delta artifacts: plan which layers go in, make their tar-diffs, write the artifact.
//!
//! The artifact (what the consumers read, `../shared/formats/oci-delta.md`): an image
//! manifest with `artifactType` [`keys::ARTIFACT_TYPE`], the empty config, `subject` = the
//! new image's manifest, annotations naming the old image's config (required) and manifest,
//! the new manifest and the reused layers; its layers are the new manifest and config byte
//! for byte, then each changed layer in the new image's order, as a tar-diff when that is
//! smaller than the layer blob, else the blob itself, each with `delta.to` = the new layer's
//! digest. The same two images give the same artifact: the encoder is deterministic and
//! nothing else varies.

mod verify;

pub use verify::{only_manifest, verify, Verified};

use crate::tree::{layer_reader, LayerSource, OldTree};
use anyhow::{bail, Context, Result};
use oci::keys::{media, oci_delta as keys};
use oci::ocidir::{BlobSink, ResolvedImage};
use oci::types::{Descriptor, Digest};
use oci::{LayerEncoder, OciDir};
use serde::Serialize;
use sha2::Digest as _;
use std::collections::{BTreeMap, HashMap, HashSet};
use std::io::{self, Seek, Write};
use std::path::Path;

/// One layer of the new image, as the plan sees it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct PlannedLayer {
    /// Its descriptor in the new manifest.
    pub descriptor: Descriptor,
    /// Its diff_id.
    pub diff_id: Digest,
    /// Whether the old image has its diff_id (then it is left out).
    pub reused: bool,
}

/// What a delta from one image to another holds (plain data: no blob read yet).
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Plan {
    /// The old image's manifest digest.
    pub source_manifest: Digest,
    /// The old image's config digest: the image a client must have.
    pub source_config: Digest,
    /// The new image's manifest.
    pub target: Descriptor,
    /// The new image's config.
    pub target_config: Descriptor,
    /// The new image's layers in order.
    pub layers: Vec<PlannedLayer>,
}

fn diff_ids<'a>(what: &str, image: &'a ResolvedImage) -> Result<&'a [Digest]> {
    let ids = &image.config.rootfs.diff_ids;
    if ids.len() != image.manifest.layers.len() {
        bail!(
            "{what} image {}: its config lists {} diff_ids for {} layers",
            image.descriptor.digest,
            ids.len(),
            image.manifest.layers.len()
        );
    }
    Ok(ids)
}

/// Which layers of `new` a client holding `old` lacks.
///
/// # Errors
/// A config whose diff_ids do not match its layers; the same image twice.
pub fn plan(old: &ResolvedImage, new: &ResolvedImage) -> Result<Plan> {
    let have: HashSet<&Digest> = diff_ids("the old", old)?.iter().collect();
    let ids = diff_ids("the new", new)?;
    if old.manifest.config.digest == new.manifest.config.digest {
        bail!(
            "the old and the new image have the same config {}: there is no update to make",
            new.manifest.config.digest
        );
    }
    Ok(Plan {
        source_manifest: old.descriptor.digest.clone(),
        source_config: old.manifest.config.digest.clone(),
        target: Descriptor::new(
            media::MANIFEST,
            new.descriptor.digest.clone(),
            new.descriptor.size,
        ),
        target_config: Descriptor::new(
            media::CONFIG,
            new.manifest.config.digest.clone(),
            new.manifest.config.size,
        ),
        layers: new
            .manifest
            .layers
            .iter()
            .zip(ids)
            .map(|(d, id)| PlannedLayer {
                descriptor: d.clone(),
                diff_id: id.clone(),
                reused: have.contains(id),
            })
            .collect(),
    })
}

/// How to make a delta.
#[derive(Debug, Clone)]
pub struct Options {
    /// Layers encoded at once (each holds at most one bsdiff: see
    /// [`tar_diff::limits::MAX_DIFF_SIZE`]).
    pub jobs: usize,
    /// zstd level of the tar-diffs.
    pub level: i32,
}

impl Default for Options {
    fn default() -> Self {
        Options {
            jobs: 1,
            level: tar_diff::limits::DEFAULT_LEVEL,
        }
    }
}

/// One changed layer in a made delta.
#[derive(Debug, Clone, Serialize)]
pub struct MadeLayer {
    /// The new image's layer it makes.
    pub to: Digest,
    /// That layer's blob size (what a client downloads without the delta).
    pub layer_bytes: u64,
    /// `tar-diff` or `layer` (the blob itself, when a tar-diff was not smaller).
    pub stored: &'static str,
    /// Bytes of what is stored.
    pub bytes: u64,
    /// What the encoder did.
    pub encoding: tar_diff::Stats,
}

/// A delta written into a layout.
#[derive(Debug, Clone, Serialize)]
pub struct Made {
    /// The artifact manifest.
    pub manifest: Descriptor,
    /// The plan it carried out.
    pub plan: Plan,
    /// The changed layers.
    pub layers: Vec<MadeLayer>,
    /// Bytes a client downloads: the artifact's manifest and every blob it lists.
    pub download_bytes: u64,
    /// Bytes a client downloads without it: the new layers, manifest and config.
    pub layers_download_bytes: u64,
}

/// What the first look at a changed layer finds: the names its files go by and their
/// content hashes.
#[derive(Default)]
struct Scan {
    /// Object path → the deployed names hard-linked to it.
    aliases: HashMap<String, Vec<String>>,
    /// Every name of a regular file.
    names: Vec<String>,
    /// sha256 of every regular file's content.
    contents: Vec<[u8; 32]>,
}

fn scan(oci: &OciDir, layer: &Descriptor) -> Result<Scan> {
    let mut s = Scan::default();
    let r = layer_reader(oci, layer)?;
    tar_diff::tar::walk(r, |m, content| {
        match m.kind {
            tar_diff::tar::Kind::Regular if m.size > 0 => {
                let mut h = sha2::Sha256::new();
                let mut buf = vec![0u8; 1 << 16];
                loop {
                    let k = content.read(&mut buf)?;
                    if k == 0 {
                        break;
                    }
                    h.update(&buf[..k]);
                }
                s.contents.push(h.finalize().into());
                s.names.push(m.path.clone());
            }
            tar_diff::tar::Kind::HardLink => {
                s.aliases
                    .entry(m.link.clone())
                    .or_default()
                    .push(m.path.clone());
                s.names.push(m.path.clone());
            }
            _ => {}
        }
        Ok(())
    })
    .with_context(|| format!("reading the new image's layer {}", layer.digest))?;
    Ok(s)
}

/// A layer encoder that stores the bytes as they are (a tar-diff is compressed already).
struct Stored<W>(W);

impl<W: Write> Write for Stored<W> {
    fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
        self.0.write(buf)
    }
    fn flush(&mut self) -> io::Result<()> {
        self.0.flush()
    }
}

impl<W: Write> LayerEncoder<W> for Stored<W> {
    type Report = ();
    fn finish_encoding(self) -> io::Result<(W, ())> {
        Ok((self.0, ()))
    }
}

fn annotated(mut d: Descriptor, content: &str, to: Option<&Digest>) -> Descriptor {
    let mut a = BTreeMap::from([(keys::CONTENT.to_string(), content.to_string())]);
    if let Some(to) = to {
        a.insert(keys::TO.to_string(), to.to_string());
    }
    d.annotations = Some(a);
    d.platform = None;
    d.extra = Default::default();
    d
}

/// An image and the layout it is in.
#[derive(Clone, Copy)]
pub struct Image<'a> {
    /// The layout.
    pub oci: &'a OciDir,
    /// The image.
    pub image: &'a ResolvedImage,
}

/// Make the delta from `old` to `new` and write it into
/// `out` (the new image's layout, or another): its blobs and its manifest. Nothing lists
/// the manifest yet (see [`list`] and [`export`]). `work` holds scratch files (the kept
/// old files, the tar-diffs being made), removed at the end. `progress` hears what is done.
///
/// # Errors
/// Unreadable images or layers (named), I/O errors.
pub fn create(
    old: Image<'_>,
    new: Image<'_>,
    out: &OciDir,
    work: &Path,
    opts: &Options,
    progress: &(dyn Fn(&str) + Sync),
) -> Result<Made> {
    let (old_oci, new_oci) = (old.oci, new.oci);
    let plan = plan(old.image, new.image)?;
    let changed: Vec<&PlannedLayer> = plan.layers.iter().filter(|l| !l.reused).collect();
    progress(&format!(
        "{} of {} layers changed; reading them",
        changed.len(),
        plan.layers.len()
    ));
    let scans = parallel::each_in_order(&changed, opts.jobs, |l| scan(new_oci, &l.descriptor))?;
    let (mut paths, mut bases, mut stems) = (HashSet::new(), HashSet::new(), HashSet::new());
    let mut contents = HashSet::new();
    for s in &scans {
        for n in &s.names {
            let base = tar_diff::tar::basename(n);
            bases.insert(base.to_string());
            stems.insert(tar_diff::source::stem(base));
            paths.insert(n.clone());
        }
        contents.extend(s.contents.iter().copied());
    }
    progress("reading the old image");
    let keep = |p: &str, _size: u64| {
        let base = tar_diff::tar::basename(p);
        paths.contains(p) || bases.contains(base) || stems.contains(&tar_diff::source::stem(base))
    };
    // A kept file whose bytes the new image has as they are is copied, never diffed.
    let skip = |sha: &[u8; 32]| contents.contains(sha);
    let tree = OldTree::load(old_oci, old.image, work, &keep, &skip)?;
    progress(&format!("encoding {} layers", changed.len()));
    let enc = tar_diff::Options {
        level: opts.level,
        ..tar_diff::Options::default()
    };
    let jobs: Vec<(&PlannedLayer, &Scan)> = changed.iter().copied().zip(&scans).collect();
    let made = parallel::each_in_order(&jobs, opts.jobs, |(l, s)| {
        let mut tmp = tempfile::tempfile_in(work)
            .with_context(|| format!("creating a file in {}", work.display()))?;
        let source = LayerSource {
            tree: &tree,
            aliases: &s.aliases,
        };
        let r = layer_reader(new_oci, &l.descriptor)?;
        let stats = tar_diff::encode(r, &source, io::BufWriter::new(&mut tmp), &enc)
            .with_context(|| format!("encoding the tar-diff of layer {}", l.descriptor.digest))?;
        let size = tmp.stream_position()?;
        let to = &l.descriptor.digest;
        let (descriptor, stored) = if size < l.descriptor.size {
            tmp.rewind()?;
            let mut w = out.layer_writer(keys::TAR_DIFF, |sink: BlobSink<'_>| Ok(Stored(sink)))?;
            io::copy(&mut tmp, &mut w)?;
            let (written, ()) = w.finish()?;
            (
                annotated(written.descriptor, keys::CONTENT_LAYER, Some(to)),
                "tar-diff",
            )
        } else {
            out.copy_blob_from(new_oci, &l.descriptor)?;
            (
                annotated(l.descriptor.clone(), keys::CONTENT_LAYER, Some(to)),
                "layer",
            )
        };
        progress(&format!(
            "layer {to}: {stored} of {} bytes for {} bytes",
            descriptor.size, l.descriptor.size
        ));
        Ok((
            descriptor,
            MadeLayer {
                to: to.clone(),
                layer_bytes: l.descriptor.size,
                stored,
                bytes: 0,
                encoding: stats,
            },
        ))
    })?;
    drop(tree);
    // The new manifest and config, byte for byte.
    out.copy_blob_from(new_oci, &plan.target)?;
    out.copy_blob_from(new_oci, &plan.target_config)?;
    let mut layers = vec![
        annotated(plan.target.clone(), keys::CONTENT_MANIFEST, None),
        annotated(plan.target_config.clone(), keys::CONTENT_CONFIG, None),
    ];
    let mut made_layers = Vec::new();
    for (d, mut m) in made {
        m.bytes = d.size;
        layers.push(d);
        made_layers.push(m);
    }
    let reused: Vec<&PlannedLayer> = plan.layers.iter().filter(|l| l.reused).collect();
    let mut annotations = BTreeMap::from([
        (
            keys::SOURCE_CONFIG.to_string(),
            plan.source_config.to_string(),
        ),
        (keys::SOURCE.to_string(), plan.source_manifest.to_string()),
        (keys::TARGET.to_string(), plan.target.digest.to_string()),
    ]);
    if !reused.is_empty() {
        let list = |f: &dyn Fn(&PlannedLayer) -> String| {
            serde_json::to_string(&reused.iter().map(|l| f(l)).collect::<Vec<_>>())
        };
        annotations.insert(
            keys::REUSED.to_string(),
            list(&|l| l.descriptor.digest.to_string())?,
        );
        annotations.insert(
            keys::REUSED_DIFF_ID.to_string(),
            list(&|l| l.diff_id.to_string())?,
        );
    }
    let config = out.write_blob(
        oci::keys::delta::EMPTY_CONFIG,
        oci::keys::delta::EMPTY_CONFIG_DATA,
    )?;
    let manifest = serde_json::json!({
        "schemaVersion": 2,
        "mediaType": media::MANIFEST,
        "artifactType": keys::ARTIFACT_TYPE,
        "config": config,
        "layers": layers,
        "subject": plan.target,
        "annotations": annotations,
    });
    let written = out.write_blob(media::MANIFEST, &oci::json::canonical(&manifest))?;
    let download_bytes = written.size + config.size + layers.iter().map(|l| l.size).sum::<u64>();
    let layers_download_bytes = plan.target.size
        + plan.target_config.size
        + plan
            .layers
            .iter()
            .filter(|l| !l.reused)
            .map(|l| l.descriptor.size)
            .sum::<u64>();
    Ok(Made {
        manifest: written,
        plan,
        layers: made_layers,
        download_bytes,
        layers_download_bytes,
    })
}

/// The index entry of a delta under its subject's referrers tag: the annotations that tell
/// deltas apart (the old image's config) and what the entry is.
pub fn entry(made: &Descriptor, source_config: &Digest, target: &Digest) -> Descriptor {
    let mut d = Descriptor::new(media::MANIFEST, made.digest.clone(), made.size);
    d.annotations = Some(BTreeMap::from([
        (keys::SOURCE_CONFIG.to_string(), source_config.to_string()),
        (keys::TARGET.to_string(), target.to_string()),
    ]));
    d
}

/// List the delta `made` under the referrers tag of its new image in `out`, replacing a
/// delta from the same old image made before.
///
/// # Errors
/// I/O errors, a referrers tag that is not an index.
pub fn list(out: &OciDir, made: &Made) -> Result<()> {
    let e = entry(
        &made.manifest,
        &made.plan.source_config,
        &made.plan.target.digest,
    );
    let source = made.plan.source_config.to_string();
    oci::referrers::list(out, &made.plan.target.digest, e, |d| {
        d.annotations
            .as_ref()
            .and_then(|a| a.get(keys::SOURCE_CONFIG))
            == Some(&source)
    })?;
    Ok(())
}

/// The parts of an artifact manifest these modules read.
#[derive(serde::Deserialize)]
pub(crate) struct ArtifactManifest {
    #[serde(rename = "artifactType")]
    pub(crate) artifact_type: Option<String>,
    pub(crate) config: Descriptor,
    pub(crate) layers: Vec<Descriptor>,
    pub(crate) subject: Option<Descriptor>,
    pub(crate) annotations: Option<BTreeMap<String, String>>,
}

/// Write the delta `manifest` of `src` alone into the empty layout `dest`: its blobs and an
/// index.json with it as the only manifest, which is what consumers take for a delta file
/// (`oci:DIR`, or the archive of it).
///
/// # Errors
/// Unreadable blobs, I/O errors.
pub fn export(src: &OciDir, manifest: &Descriptor, dest: &OciDir) -> Result<()> {
    let m: ArtifactManifest = src.read_json_blob(manifest, "oci-delta manifest")?;
    for b in m.layers.iter().chain([&m.config]) {
        dest.copy_blob_from(
            src,
            &Descriptor::new(&b.media_type, b.digest.clone(), b.size),
        )?;
    }
    dest.copy_blob_from(src, manifest)?;
    dest.set_manifest(
        Descriptor::new(media::MANIFEST, manifest.digest.clone(), manifest.size),
        None,
    )?;
    Ok(())
}

/// The oci-delta artifacts listed under the referrers tag of `subject` in `oci`: (the index
/// entry, the old image's config digest it starts from).
///
/// # Errors
/// A referrers index that cannot be read.
pub fn stored(oci: &OciDir, subject: &Digest) -> Result<Vec<(Descriptor, Digest)>> {
    let tag = oci::referrers::tag(subject);
    let desc = match oci.find(Some(&tag)) {
        Ok(d) if d.media_type == media::INDEX => d,
        Ok(_) | Err(oci::OciError::NoSuchImage(_)) => return Ok(Vec::new()),
        Err(e) => return Err(e.into()),
    };
    let index: oci::types::Index = oci.read_json_blob(&desc, "referrers index")?;
    let mut out = Vec::new();
    for d in index.manifests {
        let Some(src) = d
            .annotations
            .as_ref()
            .and_then(|a| a.get(keys::SOURCE_CONFIG))
        else {
            continue;
        };
        let src = Digest::parse(src)
            .with_context(|| format!("referrer {}: bad {}", d.digest, keys::SOURCE_CONFIG))?;
        out.push((d, src));
    }
    Ok(out)
}

/// Bytes a client downloads for the stored delta `entry` of `oci`: its manifest and every
/// blob it lists.
///
/// # Errors
/// An unreadable manifest.
pub fn download_bytes(oci: &OciDir, entry: &Descriptor) -> Result<u64> {
    let m: ArtifactManifest = oci.read_json_blob(entry, "oci-delta manifest")?;
    Ok(entry.size + m.config.size + m.layers.iter().map(|l| l.size).sum::<u64>())
}

#[cfg(test)]
mod tests;
