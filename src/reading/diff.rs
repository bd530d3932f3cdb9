//! What an update from one image to another costs a client: `ostree-encap diff`.

use crate::image_ref::{Accept, FileSystem, ImageRef};
use anyhow::{Context, Result};
use oci::keys;
use oci::types::Digest;
use serde::Serialize;

/// One layer in an update comparison.
#[derive(Debug, Clone, Serialize, PartialEq, Eq)]
pub struct DiffLayer {
    /// Blob digest.
    pub digest: Digest,
    /// Blob size.
    pub size: u64,
    /// Whether a client holding the old image already has it.
    pub reused: bool,
    /// Component names (from the annotation).
    pub components: Option<String>,
}

/// What an update from one image to another costs a client.
#[derive(Debug, Clone, Serialize, PartialEq)]
pub struct DiffReport {
    /// Layers of the new image.
    pub layers: Vec<DiffLayer>,
    /// Total size of the new image's layers.
    pub total_bytes: u64,
    /// Bytes to download: new layers plus manifest and config.
    pub download_bytes: u64,
    /// Share of the new image's layer bytes already present (0..1).
    pub reused_share: f64,
    /// Number of new layers.
    pub new_layers: usize,
    /// Bytes to download with the oci-delta from OLD stored beside NEW (`delta --format
    /// oci-delta`), if there is one.
    pub oci_delta_bytes: Option<u64>,
    /// Bytes of the static delta from OLD's commit stored beside NEW (`delta`), if there is
    /// one: what `ostree pull` fetches at least.
    pub static_delta_bytes: Option<u64>,
}

/// Compare two images (`DIR`, `DIR:TAG` or oci-archive).
///
/// # Errors
/// Unreadable images.
pub fn diff(old: &str, new: &str) -> Result<DiffReport> {
    let open = |what: &str, spec: &str| {
        ImageRef::parse_source(what, spec, Accept::default(), &FileSystem)?.open()
    };
    let (oo, no) = (open("OLD", old)?, open("NEW", new)?);
    let (o, n) = (&oo.image, &no.image);
    // Updates stored beside NEW that start at OLD (the smallest of each kind).
    let oci_delta_bytes = ::deltas::oci_delta::stored(&no.oci, &n.descriptor.digest)
        .with_context(|| format!("{new}: its referrers"))?
        .into_iter()
        .filter(|(_, src)| *src == o.manifest.config.digest)
        .map(|(d, _)| ::deltas::oci_delta::download_bytes(&no.oci, &d))
        .collect::<Result<Vec<u64>>>()?
        .into_iter()
        .min();
    let old_commit = o
        .config
        .config
        .get("Labels")
        .and_then(|l| l.get(keys::LABEL_COMMIT))
        .and_then(|c| c.as_str());
    let static_delta_bytes = match old_commit {
        Some(c) => ::deltas::static_delta::artifacts_for(&no.oci, &n.descriptor.digest)
            .with_context(|| format!("{new}: its static deltas"))?
            .into_iter()
            .filter(|a| a.from == c)
            .map(|a| a.size)
            .min(),
        None => None,
    };
    let have: std::collections::HashSet<&str> = o
        .manifest
        .layers
        .iter()
        .map(|l| l.digest.as_str())
        .collect();
    let layers: Vec<DiffLayer> = n
        .manifest
        .layers
        .iter()
        .map(|l| DiffLayer {
            digest: l.digest.clone(),
            size: l.size,
            reused: have.contains(l.digest.as_str()),
            components: l
                .annotations
                .as_ref()
                .and_then(|a| a.get(keys::ANNOTATION_COMPONENTS).cloned()),
        })
        .collect();
    // Sizes are at most 2^63-1 each (checked when read), but many of them can still overflow.
    fn sum(sizes: impl Iterator<Item = u64>) -> Option<u64> {
        sizes.into_iter().try_fold(0u64, |a, b| a.checked_add(b))
    }
    let too_big = || format!("{new}: the layer sizes add up to more than 2^64 bytes");
    let total = sum(layers.iter().map(|l| l.size)).with_context(too_big)?;
    let fresh = sum(layers.iter().filter(|l| !l.reused).map(|l| l.size)).with_context(too_big)?;
    let download = sum([fresh, n.descriptor.size, n.manifest.config.size].into_iter())
        .with_context(too_big)?;
    Ok(DiffReport {
        total_bytes: total,
        download_bytes: download,
        reused_share: if total == 0 {
            1.0
        } else {
            (total - fresh) as f64 / total as f64
        },
        new_layers: layers.iter().filter(|l| !l.reused).count(),
        layers,
        oci_delta_bytes,
        static_delta_bytes,
    })
}
