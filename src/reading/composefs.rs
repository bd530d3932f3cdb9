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
    of_layers(oci, &image.manifest.layers, &config, jobs)
}

/// The digests of the image whose layers are `layers` (in `oci`) and whose config is
/// `config` (the bytes as stored).
///
/// # Errors
/// As [`digests`].
pub fn of_layers(
    oci: &OciDir,
    layers: &[oci::types::Descriptor],
    config: &[u8],
    jobs: usize,
) -> Result<ComposefsDigests> {
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
        config: sealing::config_digest(config),
    })
}

/// The published digests of an image that carries them inline: (merged, bootable, config)
/// as its annotations say; `None` when it carries none.
pub fn published(image: &ResolvedImage) -> Option<(String, Option<String>, Option<String>)> {
    let a = image.manifest.annotations.as_ref()?;
    let merged = a.get(sealing::keys::MERGED)?.clone();
    let bootable = a.get(sealing::keys::MERGED_BOOTABLE).cloned();
    let config = image
        .manifest
        .config
        .annotations
        .as_ref()
        .and_then(|c| c.get(sealing::keys::CONFIG).cloned());
    Some((merged, bootable, config))
}

/// Check the digests `image` publishes against its layers and config.
///
/// # Errors
/// A published digest that is not the image's (named, with both values), or as [`digests`].
pub fn check_published(oci: &OciDir, image: &ResolvedImage, jobs: usize) -> Result<bool> {
    let Some((merged, bootable, config)) = published(image) else {
        return Ok(false);
    };
    let d = digests(oci, image, jobs)?;
    let mismatch = |key: &str, said: &str, is: Option<&str>| {
        anyhow::anyhow!(
            "the image publishes {key} = {said}, but its layers give {}",
            is.unwrap_or("no such digest (the image cannot boot)")
        )
    };
    if merged != d.merged {
        return Err(mismatch(sealing::keys::MERGED, &merged, Some(&d.merged)));
    }
    if let Some(b) = bootable {
        if Some(&b) != d.bootable.as_ref() {
            return Err(mismatch(
                sealing::keys::MERGED_BOOTABLE,
                &b,
                d.bootable.as_deref(),
            ));
        }
    }
    if let Some(c) = config {
        if c != d.config {
            return Err(mismatch(sealing::keys::CONFIG, &c, Some(&d.config)));
        }
    }
    Ok(true)
}

/// `--composefs`: the digests of the image whose `manifest` (not yet written) lists layers
/// already in `out`, put into it as the sealing draft's inline annotations (`composefs.merged…`
/// and `composefs.merged.bootable…` on the manifest, `composefs.config…` on its config
/// descriptor). `jobs` 0: one per CPU.
///
/// # Errors
/// As [`of_layers`].
pub fn publish(
    out: &OciDir,
    manifest: &mut oci::types::Manifest,
    config: &[u8],
    jobs: usize,
) -> Result<ComposefsDigests> {
    let jobs = match jobs {
        0 => std::thread::available_parallelism().map_or(1, usize::from),
        n => n,
    };
    let d = of_layers(out, &manifest.layers, config, jobs)
        .context("computing the composefs digests (--composefs)")?;
    let a = manifest.annotations.get_or_insert_with(Default::default);
    a.insert(sealing::keys::MERGED.into(), d.merged.clone());
    if let Some(b) = &d.bootable {
        a.insert(sealing::keys::MERGED_BOOTABLE.into(), b.clone());
    }
    manifest
        .config
        .annotations
        .get_or_insert_with(Default::default)
        .insert(sealing::keys::CONFIG.into(), d.config.clone());
    Ok(d)
}
