//! composefs digests of an image (`composefs-digest`, `--composefs`, and `verify` of published
//! ones): its layers read in parallel into entries, applied in order by the `sealing` crate,
//! which computes what bootc and composefs-oci compute. A build reads the entries of the
//! layers it writes from the very bytes it writes ([`Tapped`]) and keeps them beside each
//! blob (`ostree-encap-composefs/`, [`oci::keys::COMPOSEFS_ENTRIES_DIR`]), so a layer it
//! reuses is read back only when that cache does not have it. Reading commands
//! (`composefs-digest`, `verify`) always read the layers themselves.

use crate::codec::decompress;
use anyhow::{Context, Result};
use oci::ocidir::ResolvedImage;
use oci::OciDir;
use sealing::entries::Layer;
use serde::Serialize;

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
    /// Where a build took each layer's entries from (`None` outside a build).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub layers: Option<LayerSources>,
}

/// How many layers' entries a build read as it wrote them, took from the layout's cache
/// (`ostree-encap-composefs/`, for layers it reused), or read back from their blobs.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize)]
pub struct LayerSources {
    /// Read from the bytes as the layer was written.
    pub written: usize,
    /// Taken from the cache a build here kept of the layer.
    pub stored: usize,
    /// Inflated and read back from the blob.
    pub read_back: usize,
}

/// The digests of `image` in `oci`, its layers read on `jobs` threads.
///
/// # Errors
/// Unreadable layers or config (named), a tree composefs-rs refuses (named by layer).
pub fn digests(oci: &OciDir, image: &ResolvedImage, jobs: usize) -> Result<ComposefsDigests> {
    let config = oci
        .read_blob(&image.manifest.config, "config")
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
    of_read_layers(oci, layers, Vec::new(), config, jobs, false)
}

/// Keep the entries of layer `blob` in the layout's cache (`ostree-encap-composefs/`), for a
/// later build that reuses the layer. A build calls it for each layer it writes, on the
/// layer's own thread, as the layer is finished.
pub fn keep_entries(out: &OciDir, blob: &oci::types::Descriptor, layer: &Layer) {
    // Only a cache: a layout that cannot take it costs the next build time.
    let _ = out.write_sidecar(
        oci::keys::Sidecar::ComposefsEntries,
        blob.digest.hex(),
        &sealing::stored::encode(layer),
    );
}

/// As [`of_layers`], with the entries of some layers read already (`ready[i]`, by index;
/// missing or `None`: read from `oci`). With `cache` (a build's output layout), the entries
/// of a layer not ready are first looked for in the layout's cache, and those read back are
/// kept in it (the build keeps the ones it writes: [`keep_entries`]).
fn of_read_layers(
    oci: &OciDir,
    layers: &[oci::types::Descriptor],
    mut ready: Vec<Option<Layer>>,
    config: &[u8],
    jobs: usize,
    cache: bool,
) -> Result<ComposefsDigests> {
    use oci::keys::Sidecar;
    ready.resize_with(layers.len(), || None);
    let mut sources = LayerSources {
        written: ready.iter().filter(|r| r.is_some()).count(),
        ..Default::default()
    };
    if cache {
        for (slot, d) in ready.iter_mut().zip(layers) {
            if slot.is_none() {
                // A torn, damaged or older one is read back instead, and replaced.
                *slot = oci
                    .read_sidecar(Sidecar::ComposefsEntries, d)
                    .and_then(|b| sealing::stored::decode(&b).ok());
                sources.stored += usize::from(slot.is_some());
            }
        }
    }
    // The layers to read back, in index order.
    let read_back: Vec<bool> = ready.iter().map(Option::is_none).collect();
    let missing: Vec<&oci::types::Descriptor> = layers
        .iter()
        .zip(&read_back)
        .filter_map(|(d, &back)| back.then_some(d))
        .collect();
    sources.read_back = missing.len();
    let mut read = crate::parallel::each_in_order(&missing, jobs, |d| {
        let r = decompress(&d.media_type, oci.open_blob(d)?)?;
        sealing::entries::read_layer(std::io::BufReader::with_capacity(1 << 20, r))
            .with_context(|| format!("layer {}", d.digest))
    })?
    .into_iter();
    let read: Vec<Layer> = ready
        .into_iter()
        .map(|r| r.or_else(|| read.next()))
        .collect::<Option<Vec<Layer>>>()
        .context("a layer's entries went missing")?;
    let work = std::env::temp_dir();
    let mut m = sealing::Merger::new(&work)?;
    for ((layer, d), back) in read.into_iter().zip(layers).zip(read_back) {
        if cache && back {
            keep_entries(oci, d, &layer);
        }
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
        layers: cache.then_some(sources),
    })
}

/// The digests an image publishes (hex), from its inline annotations or its referrer.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Published {
    /// `composefs.merged…`.
    pub merged: String,
    /// `composefs.merged.bootable…`, if published.
    pub bootable: Option<String>,
    /// `composefs.config…`, if published.
    pub config: Option<String>,
    /// `composefs.manifest…` (the referrer form only).
    pub manifest: Option<String>,
}

/// The digests `image` publishes, from its inline annotations, else from a referrer
/// artifact stored beside it; `None` when it publishes none.
///
/// # Errors
/// A referrers index or artifact that cannot be read.
pub fn published(oci: &OciDir, image: &ResolvedImage) -> Result<Option<Published>> {
    use sealing::keys;
    if let Some(a) = image.manifest.annotations.as_ref() {
        if let Some(merged) = a.get(keys::MERGED) {
            let config = image
                .manifest
                .config
                .annotations
                .as_ref()
                .and_then(|c| c.get(keys::CONFIG).cloned());
            return Ok(Some(Published {
                merged: merged.clone(),
                bootable: a.get(keys::MERGED_BOOTABLE).cloned(),
                config,
                manifest: None,
            }));
        }
    }
    let Some(r) = referrer_digests(oci, &image.descriptor.digest)? else {
        return Ok(None);
    };
    let merged = r
        .get(keys::MERGED)
        .cloned()
        .context("a composefs referrer without the merged digest")?;
    Ok(Some(Published {
        merged,
        bootable: r.get(keys::MERGED_BOOTABLE).cloned(),
        config: r.get(keys::CONFIG).cloned(),
        manifest: r.get(keys::MANIFEST).cloned(),
    }))
}

/// Check the digests `image` publishes (inline or as a referrer) against its layers, config
/// and manifest; `false` when it publishes none.
///
/// # Errors
/// A published digest that is not the image's (named, with both values), or as [`digests`].
pub fn check_published(oci: &OciDir, image: &ResolvedImage, jobs: usize) -> Result<bool> {
    let Some(Published {
        merged,
        bootable,
        config,
        manifest,
    }) = published(oci, image)?
    else {
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
    if let Some(m) = manifest {
        let is = sealing::config_digest(&oci.read_blob(&image.descriptor, "manifest")?);
        if m != is {
            return Err(mismatch(sealing::keys::MANIFEST, &m, Some(&is)));
        }
    }
    Ok(true)
}

/// How `--composefs` publishes the digests.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum Publish {
    /// The sealing draft's inline annotations: `composefs.merged…` (and `.bootable…`) on the
    /// manifest, `composefs.config…` on its config descriptor.
    #[default]
    Inline,
    /// The draft's referrer artifact (`application/vnd.composefs.metadata.v1`, subject: the
    /// image), under the image's referrers tag; the image itself is unchanged.
    Referrer,
}

/// `--composefs`: the digests of the image whose `manifest` (not yet written) lists layers
/// already in `out` (`ready[i]`: the entries of layer `i`, read as it was written); with
/// [`Publish::Inline`] put into `manifest`. ([`store_referrer`] writes the other form once
/// the manifest is in place.) `jobs` 0: one per CPU.
///
/// # Errors
/// As [`of_layers`].
pub fn publish(
    out: &OciDir,
    manifest: &mut oci::types::Manifest,
    how: Publish,
    ready: Vec<Option<Layer>>,
    config: &[u8],
    jobs: usize,
) -> Result<ComposefsDigests> {
    let jobs = crate::parallel::threads(jobs);
    let d = of_read_layers(out, &manifest.layers, ready, config, jobs, true)
        .context("computing the composefs digests (--composefs)")?;
    if how == Publish::Inline {
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
    }
    Ok(d)
}

/// One entry of the referrer form: the OCI empty descriptor (no signature: the draft's
/// entries hold PKCS#7 signatures, and an unsigned digest has none) carrying one digest.
fn entry(out: &OciDir, key: &str, value: &str) -> Result<oci::types::Descriptor> {
    use oci::keys::delta::EMPTY_CONFIG_DATA;
    let mut d = out.write_blob(sealing::keys::SIGNATURE_NONE, EMPTY_CONFIG_DATA)?;
    d.annotations = Some(std::collections::BTreeMap::from([(
        key.to_string(),
        value.to_string(),
    )]));
    Ok(d)
}

/// Store the digests `d` of the image `subject` (whose manifest bytes are `manifest`) as the
/// sealing draft's referrer artifact: entries for the manifest, the config, the merged image
/// and (if any) its bootable variant, in that order, under the image's referrers tag
/// (replacing one stored before), so that `push` carries it.
///
/// # Errors
/// I/O errors naming the layout.
pub fn store_referrer(
    out: &OciDir,
    subject: &oci::types::Descriptor,
    manifest: &[u8],
    d: &ComposefsDigests,
) -> Result<()> {
    use sealing::keys;
    let mut layers = vec![
        entry(out, keys::MANIFEST, &sealing::config_digest(manifest))?,
        entry(out, keys::CONFIG, &d.config)?,
        entry(out, keys::MERGED, &d.merged)?,
    ];
    if let Some(b) = &d.bootable {
        layers.push(entry(out, keys::MERGED_BOOTABLE, b)?);
    }
    let marker = std::collections::BTreeMap::from([(
        keys::REFERRER_MARK.to_string(),
        keys::ALGORITHM.to_string(),
    )]);
    oci::referrers::add(out, subject, keys::ARTIFACT_TYPE, &layers, &marker, |e| {
        e.annotations
            .as_ref()
            .is_some_and(|a| a.contains_key(keys::REFERRER_MARK))
    })
    .with_context(|| {
        format!(
            "storing the composefs digests of {} in {}",
            subject.digest,
            out.shown()
        )
    })?;
    Ok(())
}

/// The digests published in the referrer form for the image `subject` in `oci`, by key.
fn referrer_digests(
    oci: &OciDir,
    subject: &oci::types::Digest,
) -> Result<Option<std::collections::BTreeMap<String, String>>> {
    let tag = oci::referrers::tag(subject);
    let desc = match oci.find(Some(&tag)) {
        Ok(d) if d.media_type == oci::keys::media::INDEX => d,
        Ok(_) | Err(oci::OciError::NoSuchImage(_)) => return Ok(None),
        Err(e) => return Err(e.into()),
    };
    let index: oci::types::Index = oci.read_json_blob(&desc, "referrers index")?;
    for e in &index.manifests {
        if !e
            .annotations
            .as_ref()
            .is_some_and(|a| a.contains_key(sealing::keys::REFERRER_MARK))
        {
            continue;
        }
        let m: oci::types::Manifest = oci.read_json_blob(e, "composefs metadata")?;
        let mut found = std::collections::BTreeMap::new();
        for l in &m.layers {
            for (k, v) in l.annotations.iter().flatten() {
                found.insert(k.clone(), v.clone());
            }
        }
        return Ok(Some(found));
    }
    Ok(None)
}

/// A layer's bytes on their way to `inner` (the layer's compressor), also read for the
/// layer's entries (`--composefs`) as they pass, on the writing thread, so that the layer
/// need not be read back: the reader hashes them where they lie and keeps no copy.
pub struct Tapped<W> {
    inner: W,
    tap: Option<Tap>,
}

/// The entry reader, and what it refused (reported by [`Tapped::finish`]: the writer's own
/// bytes go on to the compressor whatever the reader thinks of them).
struct Tap {
    reader: sealing::entries::LayerReader,
    refused: Option<anyhow::Error>,
}

impl<W: std::io::Write> Tapped<W> {
    /// `inner`, tapped when `on`.
    pub fn new(inner: W, on: bool) -> Self {
        let tap = on.then(|| Tap {
            reader: sealing::entries::LayerReader::new(),
            refused: None,
        });
        Tapped { inner, tap }
    }

    /// The inner writer, and the layer's entries if tapped.
    ///
    /// # Errors
    /// What the entry reader refused (as composefs-rs names it).
    pub fn finish(self) -> Result<(W, Option<Layer>)> {
        let Some(tap) = self.tap else {
            return Ok((self.inner, None));
        };
        if let Some(e) = tap.refused {
            return Err(e);
        }
        Ok((self.inner, Some(tap.reader.finish()?)))
    }
}

impl<W: std::io::Write> std::io::Write for Tapped<W> {
    fn write(&mut self, data: &[u8]) -> std::io::Result<usize> {
        let n = self.inner.write(data)?;
        if let Some(tap) = self.tap.as_mut() {
            if tap.refused.is_none() {
                if let Err(e) = tap.reader.feed(&data[..n]) {
                    tap.refused = Some(e);
                }
            }
        }
        Ok(n)
    }
    fn flush(&mut self) -> std::io::Result<()> {
        self.inner.flush()
    }
}
