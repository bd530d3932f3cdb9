//! Checking an oci-delta artifact against the old image, as a careful consumer would and
//! more: the annotations consumers need, the embedded manifest and config, every layer of
//! the new image either reused or made by exactly one entry, and every entry rebuilt (a
//! tar-diff applied against the old image's files) and compared with its diff_id. A
//! producer runs it before shipping; anyone can run it on a delta from elsewhere.

use super::ArtifactManifest;
use crate::tree::{layer_reader, OldTree};
use anyhow::{bail, Context, Result};
use oci::keys::{media, oci_delta as keys};
use oci::ocidir::ResolvedImage;
use oci::types::{Descriptor, Digest, ImageConfig, Manifest};
use oci::OciDir;
use serde::Serialize;
use sha2::Digest as _;
use std::collections::{HashMap, HashSet};
use std::io::{self, Write};
use std::path::Path;

/// What a verified delta holds.
#[derive(Debug, Clone, Serialize)]
pub struct Verified {
    /// The artifact manifest's digest.
    pub digest: Digest,
    /// The new image's manifest digest.
    pub target: Digest,
    /// The old image's config digest.
    pub source_config: Digest,
    /// Layers rebuilt from tar-diffs.
    pub tar_diffs: usize,
    /// Layers carried as they are.
    pub layers: usize,
    /// Layers of the new image the old one has.
    pub reused: usize,
    /// Bytes a client downloads.
    pub download_bytes: u64,
}

/// Hashes what passes (the diff_id of a rebuilt layer).
struct Hashing(sha2::Sha256, u64);

impl Write for Hashing {
    fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
        self.0.update(buf);
        self.1 += buf.len() as u64;
        Ok(buf.len())
    }
    fn flush(&mut self) -> io::Result<()> {
        Ok(())
    }
}

fn read_blob(oci: &OciDir, d: &Descriptor, what: &str) -> Result<Vec<u8>> {
    oci.read_blob(d, what)
        .with_context(|| format!("{what} {}", d.digest))
}

/// Check the delta `manifest` (in `delta`) against the old image `old` (in `old_oci`):
/// see the module docs. `work` holds the old files the tar-diffs open while they are checked.
///
/// # Errors
/// Each names what is wrong: the artifact type, a missing or wrong annotation (a
/// `source-config` that is not the old image's, a `delta.to` that names no new layer), a
/// damaged blob, a layer of the new image neither reused nor carried, a layer that does not
/// rebuild to its diff_id.
pub fn verify(
    delta: &OciDir,
    manifest: &Descriptor,
    old_oci: &OciDir,
    old: &ResolvedImage,
    work: &Path,
    jobs: usize,
) -> Result<Verified> {
    let what = format!("oci-delta {}", manifest.digest);
    let m: ArtifactManifest = delta
        .read_json_blob(manifest, "oci-delta manifest")
        .with_context(|| what.clone())?;
    if m.artifact_type.as_deref() != Some(keys::ARTIFACT_TYPE) {
        bail!(
            "{what}: its artifactType is {:?}, not {}",
            m.artifact_type,
            keys::ARTIFACT_TYPE
        );
    }
    let a = m
        .annotations
        .clone()
        .with_context(|| format!("{what}: the manifest has no annotations"))?;
    let source_config = a
        .get(keys::SOURCE_CONFIG)
        .with_context(|| format!("{what}: no {} annotation", keys::SOURCE_CONFIG))?;
    let source_config = Digest::parse(source_config)
        .with_context(|| format!("{what}: {} {source_config:?}", keys::SOURCE_CONFIG))?;
    if source_config != old.manifest.config.digest {
        bail!(
            "{what}: {} names the image config {source_config}, but the old image's config is {}: \
             it is a delta from another image",
            keys::SOURCE_CONFIG,
            old.manifest.config.digest
        );
    }
    fn content(d: &Descriptor) -> Option<&str> {
        d.annotations
            .as_ref()
            .and_then(|a| a.get(keys::CONTENT))
            .map(String::as_str)
    }
    let one = |c: &str| -> Result<&Descriptor> {
        let found: Vec<&Descriptor> = m.layers.iter().filter(|d| content(d) == Some(c)).collect();
        match found[..] {
            [d] => Ok(d),
            _ => bail!("{what}: {} entries are the {c}, not one", found.len()),
        }
    };
    let (tm, tc) = (one(keys::CONTENT_MANIFEST)?, one(keys::CONTENT_CONFIG)?);
    let target_raw = read_blob(delta, tm, "the new image's manifest")?;
    let target: Manifest = serde_json::from_slice(&target_raw)
        .with_context(|| format!("{what}: the new image's manifest"))?;
    let config_raw = read_blob(delta, tc, "the new image's config")?;
    let config: ImageConfig = serde_json::from_slice(&config_raw)
        .with_context(|| format!("{what}: the new image's config"))?;
    if target.config.digest != tc.digest {
        bail!(
            "{what}: the new manifest's config is {}, the delta carries {}",
            target.config.digest,
            tc.digest
        );
    }
    if let Some(s) = &m.subject {
        if s.digest != tm.digest {
            bail!(
                "{what}: its subject {} is not the manifest it carries, {}",
                s.digest,
                tm.digest
            );
        }
    }
    if let Some(t) = a.get(keys::TARGET) {
        if t != tm.digest.as_str() {
            bail!(
                "{what}: {} says {t}, the manifest it carries is {}",
                keys::TARGET,
                tm.digest
            );
        }
    }
    let ids = &config.rootfs.diff_ids;
    if ids.len() != target.layers.len() {
        bail!(
            "{what}: the new config lists {} diff_ids for {} layers",
            ids.len(),
            target.layers.len()
        );
    }
    let old_ids: HashSet<&Digest> = old.config.rootfs.diff_ids.iter().collect();
    let by_digest: HashMap<&Digest, (&Descriptor, &Digest)> = target
        .layers
        .iter()
        .zip(ids)
        .map(|(l, id)| (&l.digest, (l, id)))
        .collect();
    let mut entries: Vec<(&Descriptor, &Descriptor, &Digest)> = Vec::new();
    let mut made = HashSet::new();
    for d in m
        .layers
        .iter()
        .filter(|d| content(d) == Some(keys::CONTENT_LAYER))
    {
        let to = d
            .annotations
            .as_ref()
            .and_then(|a| a.get(keys::TO))
            .with_context(|| format!("{what}: entry {} has no {}", d.digest, keys::TO))?;
        let to = Digest::parse(to)
            .with_context(|| format!("{what}: entry {}: {} {to:?}", d.digest, keys::TO))?;
        let Some((layer, id)) = by_digest.get(&to) else {
            bail!(
                "{what}: entry {}: {} {to} names no layer of the new image",
                d.digest,
                keys::TO
            );
        };
        if !made.insert(to.clone()) {
            bail!("{what}: two entries make the layer {to}");
        }
        if d.media_type != keys::TAR_DIFF && d.digest != to {
            bail!(
                "{what}: entry {} carries a layer blob that is not the layer {to}",
                d.digest
            );
        }
        entries.push((d, layer, id));
    }
    let mut reused = 0;
    for (l, id) in target.layers.iter().zip(ids) {
        if !made.contains(&l.digest) {
            if !old_ids.contains(id) {
                bail!("{what}: the new layer {} (diff_id {id}) is neither in the delta nor in the old image", l.digest);
            }
            reused += 1;
        }
    }
    // The old files the tar-diffs open, kept; then every entry rebuilt and hashed.
    let mut wanted = HashSet::new();
    for (d, _, _) in entries
        .iter()
        .filter(|(d, _, _)| d.media_type == keys::TAR_DIFF)
    {
        let r = delta
            .open_blob(d)
            .with_context(|| format!("{what}: tar-diff {}", d.digest))?;
        for p in tar_diff::apply::opened(io::BufReader::new(r))
            .with_context(|| format!("{what}: tar-diff {}", d.digest))?
        {
            wanted.insert(p);
        }
    }
    let tree = if wanted.is_empty() {
        None
    } else {
        Some(OldTree::load(
            old_oci,
            old,
            work,
            &|p, _| wanted.contains(p),
            &|_| false,
        )?)
    };
    parallel::each_in_order(&entries, jobs, |(d, layer, id)| {
        let mut h = Hashing(sha2::Sha256::new(), 0);
        if d.media_type == keys::TAR_DIFF {
            let tree = tree.as_ref().context("no old files")?;
            let r = delta
                .open_blob(d)
                .with_context(|| format!("{what}: tar-diff {}", d.digest))?;
            let mut src = tree;
            tar_diff::apply(io::BufReader::new(r), &mut src, &mut h).with_context(|| {
                format!(
                    "{what}: applying the tar-diff {} for layer {}",
                    d.digest, layer.digest
                )
            })?;
        } else {
            let mut r = layer_reader(delta, d).with_context(|| what.clone())?;
            io::copy(&mut r, &mut h).with_context(|| format!("{what}: layer {}", d.digest))?;
        }
        let got = Digest::from_sha256(&h.0.finalize());
        if got != **id {
            bail!(
                "{what}: entry {} rebuilds the layer {} as {got} ({} bytes), not its diff_id {id}",
                d.digest,
                layer.digest,
                h.1
            );
        }
        Ok(())
    })?;
    let tar_diffs = entries
        .iter()
        .filter(|(d, _, _)| d.media_type == keys::TAR_DIFF)
        .count();
    Ok(Verified {
        digest: manifest.digest.clone(),
        target: tm.digest.clone(),
        source_config,
        tar_diffs,
        layers: entries.len() - tar_diffs,
        reused,
        download_bytes: manifest.size
            + m.config.size
            + m.layers.iter().map(|l| l.size).sum::<u64>(),
    })
}

/// The one delta manifest of a delta file (a layout whose index lists exactly one manifest,
/// an oci-delta artifact).
///
/// # Errors
/// An index with other entries, or whose one manifest is not an oci-delta.
pub fn only_manifest(delta: &OciDir) -> Result<Descriptor> {
    let index = delta.read_index()?;
    let [d] = &index.manifests[..] else {
        bail!(
            "{}: a delta file lists exactly one manifest, this one lists {}",
            delta.shown(),
            index.manifests.len()
        );
    };
    if d.media_type != media::MANIFEST {
        bail!(
            "{}: its one entry is a {}, not an image manifest",
            delta.shown(),
            d.media_type
        );
    }
    Ok(d.clone())
}
