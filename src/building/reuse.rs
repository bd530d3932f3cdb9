//! What an earlier build gives a new one: the previous image's chunk layout (so updates
//! download less) and layers already made (so a rebuild compresses only what changed).

use crate::image_ref::{Accept, FileSystem, ImageRef};
use crate::workdir::WorkDir;
use anyhow::{bail, Context, Result};
use compress::Compression;
use layering::chunk::PreviousLayout;
use layering::LayerKind;
use oci::hashing::{HashReader, HashWriter};
use oci::keys;
use oci::ocidir::ResolvedImage;
use oci::types::{Descriptor, Digest};
use oci::OciDir;
use std::io;

/// A previous build (`--previous`): its chunk layout, and — when it is an OCI dir or archive —
/// its layer blobs, which a new build copies instead of compressing again when a chunk
/// layer's key matches.
#[derive(Debug)]
pub struct Previous {
    /// The chunk layout to keep where it still fits.
    pub layout: PreviousLayout,
    /// The image, for its blobs (not for a bare manifest JSON).
    pub(crate) image: Option<(OciDir, ResolvedImage)>,
    /// An oci-archive's index lives here while the build runs.
    _unpacked: Option<WorkDir>,
}

/// Open a previous image: read its chunk layout — our layout label if present, else the
/// `ostree.components` annotations of its chunk layers (images made by other tools) — and keep
/// it open so its blobs can be reused.
///
/// `spec` is `DIR`, `DIR:TAG`, an oci-archive file, or a manifest JSON file (layout only).
///
/// # Errors
/// Unreadable images; an image with no layout information gives an empty layout, not an error.
pub fn open_previous(spec: &str) -> Result<Previous> {
    let accept = Accept {
        manifest: true,
        remote: false,
    };
    let image = ImageRef::parse_source("--previous", spec, accept, &FileSystem)?;
    if let ImageRef::Manifest(path) = &image {
        let data = crate::read_option_file("--previous", path, keys::MAX_CONFIG_FILE)?;
        let m: oci::types::Manifest = serde_json::from_slice(&data)
            .with_context(|| format!("--previous {spec}: not an OCI manifest"))?;
        return Ok(Previous {
            layout: layout_from_annotations(&m),
            image: None,
            _unpacked: None,
        });
    }
    let (oci, unpacked) = image.open_layout()?;
    let img = oci
        .resolve(image.tag())
        .with_context(|| format!("--previous {spec}"))?;
    let layout = img
        .config
        .labels()
        .get(keys::LABEL_LAYOUT)
        .and_then(|l| serde_json::from_str::<PreviousLayout>(l).ok())
        .unwrap_or_else(|| layout_from_annotations(&img.manifest));
    Ok(Previous {
        layout,
        image: Some((oci, img)),
        _unpacked: unpacked,
    })
}

fn layout_from_annotations(m: &oci::types::Manifest) -> PreviousLayout {
    PreviousLayout {
        layers: m
            .layers
            .iter()
            .skip(1)
            .filter_map(|l| l.annotations.as_ref()?.get(keys::ANNOTATION_COMPONENTS))
            .map(|v| {
                v.split(',')
                    .filter(|s| !s.is_empty())
                    .map(str::to_string)
                    .collect()
            })
            .collect(),
        unchanged: Vec::new(),
    }
}

/// For each chunk layer of the previous image: would the same components give the very
/// same layer now? Its key annotation against the key of that group's objects today. Only
/// for our own images whose layout lines up with their layers; otherwise empty (unknown).
pub(crate) fn unchanged_previous_layers(
    prev: &Previous,
    comps: &[layering::chunk::Component],
    source: &encapsulate::Source,
    inventory: &encapsulate::Inventory,
    stream: encapsulate::StreamFormat,
    compression: Compression,
) -> Vec<bool> {
    let Some((_, img)) = &prev.image else {
        return Vec::new();
    };
    let chunks = img.manifest.layers.get(1..).unwrap_or_default();
    if chunks.len() != prev.layout.layers.len() {
        return Vec::new();
    }
    let by_name: std::collections::BTreeMap<&str, &layering::chunk::Component> =
        comps.iter().map(|c| (c.name.as_str(), c)).collect();
    chunks
        .iter()
        .zip(&prev.layout.layers)
        .map(|(desc, names)| {
            let Some(old_key) = desc
                .annotations
                .as_ref()
                .and_then(|a| a.get(keys::ANNOTATION_LAYER_KEY))
                .and_then(|v| v.split(' ').next())
            else {
                return false;
            };
            let mut objects = Vec::new();
            for n in names {
                match by_name.get(n.as_str()) {
                    Some(c) => objects.extend(c.objects.iter().cloned()),
                    None => return false,
                }
            }
            objects.sort();
            objects.dedup();
            let layer = layering::LayerPlan {
                kind: LayerKind::Chunk,
                objects,
                components: names.clone(),
            };
            let layer = encapsulate::OrderedLayer::new(inventory, &layer);
            encapsulate::layer_key(source, inventory, &layer, stream, &compression.settings())
                == old_key
        })
        .collect()
}

/// A layer found in the output layout or in the previous image.
#[derive(Clone)]
pub(crate) struct Found {
    pub(crate) descriptor: Descriptor,
    /// Set when the blob is in the previous image and must be copied into the output.
    pub(crate) from_previous: bool,
}

/// Layers already made, by (layer key, media type), with their diffid and uncompressed size.
/// Only keyed layers count: a blob without a key may have been made with other compression
/// settings, and reusing it would make the output depend on what the directory held.
pub(crate) struct KnownLayers(std::collections::HashMap<(String, String), (Found, Digest, u64)>);

impl KnownLayers {
    /// The images of the output layout, then the previous image (the output's copy wins).
    pub(crate) fn find(out: &OciDir, previous: Option<&Previous>) -> KnownLayers {
        let mut known = KnownLayers(Default::default());
        if let Some((_, img)) = previous.and_then(|p| p.image.as_ref()) {
            known.add(img, true);
        }
        let Ok(index) = out.read_index() else {
            return known;
        };
        for d in &index.manifests {
            let tag = d
                .annotations
                .as_ref()
                .and_then(|a| a.get(keys::ANNOTATION_REF_NAME));
            let resolved = match tag {
                Some(t) => out.resolve(Some(t)),
                None if index.manifests.len() == 1 => out.resolve(None),
                None => continue,
            };
            if let Ok(img) = resolved {
                known.add(&img, false);
            }
        }
        known
    }

    fn add(&mut self, img: &ResolvedImage, from_previous: bool) {
        for (l, diff) in img.manifest.layers.iter().zip(&img.config.rootfs.diff_ids) {
            let Some((key, size)) = l
                .annotations
                .as_ref()
                .and_then(|a| a.get(keys::ANNOTATION_LAYER_KEY))
                .and_then(|v| v.split_once(' '))
                .and_then(|(k, n)| Some((k.to_string(), n.parse::<u64>().ok()?)))
            else {
                continue;
            };
            // Only what identifies the blob: anything else the image's descriptor carries
            // (annotations, extension fields) is not ours to copy into a new manifest.
            let descriptor = Descriptor::new(&l.media_type, l.digest.clone(), l.size);
            let found = Found {
                descriptor,
                from_previous,
            };
            self.0
                .insert((key, l.media_type.clone()), (found, diff.clone(), size));
        }
    }

    pub(crate) fn get(&self, key: &(String, String)) -> Option<&(Found, Digest, u64)> {
        self.0.get(key)
    }

    /// The compressed blocks of the known gzip layers that have a block index: the previous
    /// image's first, then the output layout's, up to the source's limit.
    pub(crate) fn block_source(
        &self,
        out: &OciDir,
        previous: Option<&OciDir>,
    ) -> compress::blocks::ReuseSource {
        let mut src = compress::blocks::ReuseSource::new();
        let mut seen = std::collections::HashSet::new();
        let mut found: Vec<&Found> = self.0.values().map(|(f, _, _)| f).collect();
        found.sort_by(|a, b| {
            (!a.from_previous, &a.descriptor.digest).cmp(&(!b.from_previous, &b.descriptor.digest))
        });
        for f in found {
            if !seen.insert(f.descriptor.digest.clone()) {
                continue;
            }
            let layout = if f.from_previous { previous } else { Some(out) };
            if let Some(layout) = layout {
                if !crate::codec::offer_blocks(layout, &f.descriptor, &mut src) {
                    break;
                }
            }
        }
        src
    }
}

/// Prove that `found`, a blob of the previous image `prev` filed under this layer's key,
/// holds exactly the layer the plan asks for: the layer as this commit gives it (written
/// uncompressed and hashed, not stored) must hash to the recorded diff_id, and the blob must
/// decompress to that same diff_id. Costs reading the layer's objects and decompressing the
/// blob; compressing it again would cost several times more (gzip). `layer` is the planned
/// layer and the format it is written in; `claim` is the diff_id and uncompressed size
/// recorded for the blob; `threads` read the layer's objects.
pub(crate) fn prove_layer(
    src: &encapsulate::Source,
    inventory: &encapsulate::Inventory,
    layer: (&encapsulate::OrderedLayer<'_>, encapsulate::StreamFormat),
    prev: &OciDir,
    found: &Found,
    claim: (&Digest, u64),
    threads: usize,
) -> Result<()> {
    let (diff_id, size) = claim;
    let (layer, stream) = layer;
    let (ours, _) = encapsulate::write_layer(
        src,
        inventory,
        layer,
        stream,
        HashWriter::new(io::sink()),
        threads,
        &mut |_| {},
    )?;
    let (_, ours_digest, ours_size) = ours.finish();
    if ours_digest != *diff_id || ours_size != size {
        bail!("its diff_id and size say {diff_id}, {size} bytes; this commit's layer is {ours_digest}, {ours_size} bytes");
    }
    let blob = prev.open_blob(&found.descriptor)?;
    let mut theirs = HashReader::new(crate::codec::decompress(
        &found.descriptor.media_type,
        io::BufReader::new(blob),
    )?);
    io::copy(&mut theirs, &mut io::sink()).context("reading the blob")?;
    if theirs.digest() != *diff_id {
        bail!(
            "the blob decompresses to {}, not {diff_id}",
            theirs.digest()
        );
    }
    Ok(())
}
