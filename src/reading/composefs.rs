//! composefs digests of an image (`composefs-digest`, `--composefs`, and `verify` of published
//! ones): its layers read in parallel into entries, applied in order by the `sealing` crate,
//! which computes what bootc and composefs-oci compute.

use crate::codec::decompress;
use anyhow::{Context, Result};
use oci::ocidir::ResolvedImage;
use oci::OciDir;
use serde::Serialize;
use std::io::Read;

/// The digests of one image.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct ComposefsDigests {
    /// `fsverity-sha512-12`: fs-verity SHA-512, 4 KiB blocks.
    pub algorithm: &'static str,
    /// The composefs EROFS (V1) of the merged filesystem, hex.
    pub merged: String,
    /// The same after the boot transform (what a sealed UKI names), if the image can boot.
    pub bootable: Option<String>,
    /// Why there is no bootable digest.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub not_bootable: Option<String>,
    /// fs-verity of the config as stored.
    pub config: String,
}

/// The digests of `image` in `oci`, its layers read on `jobs` threads.
///
/// # Errors
/// Unreadable layers or config (named), a tree composefs-rs refuses (named by layer).
pub fn digests(oci: &OciDir, image: &ResolvedImage, jobs: usize) -> Result<ComposefsDigests> {
    let mut config = Vec::new();
    oci.open_blob(&image.manifest.config)
        .and_then(|mut r| {
            r.read_to_end(&mut config)
                .map_err(|e| oci::OciError::BadBlob {
                    digest: image.manifest.config.digest.clone(),
                    what: "the config".into(),
                    source: e,
                })
        })
        .with_context(|| format!("config {}", image.manifest.config.digest))?;
    let layers = &image.manifest.layers;
    let order: Vec<usize> = (0..layers.len()).collect();
    let read = crate::parallel::run_in_order(
        vec![(); jobs.clamp(1, layers.len().max(1))],
        &order,
        |_, i| {
            let d = &layers[i];
            let r = decompress(&d.media_type, oci.open_blob(d)?)?;
            sealing::entries::read_layer(std::io::BufReader::with_capacity(1 << 20, r))
                .with_context(|| format!("layer {}", d.digest))
        },
    )?;
    let work = std::env::temp_dir();
    let mut m = sealing::Merger::new(&work)?;
    for (layer, d) in read.into_iter().zip(layers) {
        m.apply(layer)
            .with_context(|| format!("layer {}", d.digest))?;
    }
    let d = m.finish()?;
    Ok(ComposefsDigests {
        algorithm: sealing::keys::ALGORITHM,
        merged: d.merged,
        bootable: d.bootable,
        not_bootable: d.not_bootable,
        config: sealing::config_digest(&config),
    })
}
