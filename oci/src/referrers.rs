//! Artifacts that refer to an image (OCI 1.1: a manifest whose `subject` is the image),
//! stored in a layout and listed under the referrers tag schema: a tag
//! `sha256-<hex of the subject digest>` on an image index of the referrers, so that layouts
//! and registries without the referrers API keep them, and `push` carries them by copying
//! that tag. Static deltas (`delta`) and bills of materials (`--sbom`) are stored this way.

use crate::keys::{self, media};
use crate::ocidir::{OciDir, OciError};
use crate::types::{Descriptor, Digest, Index};
use std::collections::BTreeMap;

/// The tag listing the referrers of the image `subject`.
pub fn tag(subject: &Digest) -> String {
    format!("{}{}", keys::delta::REFERRERS_TAG_PREFIX, subject.hex())
}

/// `d` with the title annotation (its file name) set.
pub fn titled(mut d: Descriptor, title: &str) -> Descriptor {
    d.annotations = Some(BTreeMap::from([(
        keys::delta::ANNOTATION_TITLE.to_string(),
        title.to_string(),
    )]));
    d
}

/// Write an artifact manifest (`artifact_type`, the empty config, `layers` already in `out`,
/// `annotations`) whose subject is `subject`, and list it under the subject's referrers tag
/// beside the referrers already there, dropping the entries `replaces` names (an artifact
/// made again). The index entry carries `annotations` but not the `artifactType`: Debian
/// 12's skopeo (containers/image 5.23) drops that field when it reads an index and then
/// refuses to copy it with `--preserve-digests`, so a push could not carry the referrers.
/// Readers take the type from the manifest. Entries are kept in digest order: the same
/// referrers give the same index, whatever order they came in.
///
/// # Errors
/// I/O errors; an existing referrers tag that is not a readable index.
pub fn add(
    out: &OciDir,
    subject: &Descriptor,
    artifact_type: &str,
    layers: &[Descriptor],
    annotations: &BTreeMap<String, String>,
    replaces: impl Fn(&Descriptor) -> bool,
) -> Result<Descriptor, OciError> {
    let config = out.write_blob(keys::delta::EMPTY_CONFIG, keys::delta::EMPTY_CONFIG_DATA)?;
    let mut manifest = serde_json::json!({
        "schemaVersion": 2,
        "mediaType": media::MANIFEST,
        "artifactType": artifact_type,
        "config": config,
        "layers": layers,
        "subject": Descriptor::new(&subject.media_type, subject.digest.clone(), subject.size),
    });
    if !annotations.is_empty() {
        manifest["annotations"] = serde_json::json!(annotations);
    }
    let written = out.write_blob(media::MANIFEST, &crate::json::canonical(&manifest))?;
    let mut entry = Descriptor::new(media::MANIFEST, written.digest.clone(), written.size);
    if !annotations.is_empty() {
        entry.annotations = Some(annotations.clone());
    }
    list(out, &subject.digest, entry, replaces)?;
    Ok(Descriptor::new(
        media::MANIFEST,
        written.digest,
        written.size,
    ))
}

/// List the artifact manifest `entry` (already in `out`) under the referrers tag of
/// `subject`, beside the referrers already there, dropping the entries `replaces` names.
/// Entries are kept in digest order.
///
/// # Errors
/// I/O errors; an existing referrers tag that is not a readable index.
pub fn list(
    out: &OciDir,
    subject: &Digest,
    entry: Descriptor,
    replaces: impl Fn(&Descriptor) -> bool,
) -> Result<(), OciError> {
    out.update_tag(&tag(subject), |current| {
        let mut index: Index = match current {
            Some(d) if d.media_type == media::INDEX => out.read_json_blob(d, "referrers index")?,
            Some(d) => {
                return Err(OciError::NoSuchImage(format!(
                    "the referrers tag of {subject} names a {}, not an image index",
                    d.media_type
                )))
            }
            None => Index {
                schema_version: 2,
                media_type: Some(media::INDEX.into()),
                manifests: Vec::new(),
                extra: Default::default(),
            },
        };
        index
            .manifests
            .retain(|d| !replaces(d) && d.digest != entry.digest);
        index.manifests.push(entry.clone());
        index
            .manifests
            .sort_by(|a, b| a.digest.as_str().cmp(b.digest.as_str()));
        let bytes = crate::json::to_canonical(&index).map_err(|e| OciError::BadJson {
            what: "referrers index".into(),
            source: e,
        })?;
        let d = out.write_blob(media::INDEX, &bytes)?;
        Ok(Descriptor::new(media::INDEX, d.digest, d.size))
    })?;
    Ok(())
}

/// Copy the referrers of `subject` (its referrers tag, the artifact manifests listed there
/// and their blobs) from `src` into `out`, under the same tag; `false` when `src` has none.
///
/// # Errors
/// I/O errors; a referrers tag or artifact manifest that cannot be read.
pub fn copy(out: &OciDir, src: &OciDir, subject: &Digest) -> Result<bool, OciError> {
    let tag = tag(subject);
    let desc = match src.find(Some(&tag)) {
        Ok(d) if d.media_type == media::INDEX => d,
        Ok(_) | Err(OciError::NoSuchImage(_)) => return Ok(false),
        Err(e) => return Err(e),
    };
    let index: Index = src.read_json_blob(&desc, "referrers index")?;
    for entry in &index.manifests {
        let m: crate::types::Manifest = src.read_json_blob(entry, "referrer manifest")?;
        for blob in m.layers.iter().chain([&m.config]) {
            out.copy_blob_from(src, blob)?;
        }
        out.copy_blob_from(src, entry)?;
    }
    out.copy_blob_from(src, &desc)?;
    out.set_manifest(
        Descriptor::new(media::INDEX, desc.digest, desc.size),
        Some(&tag),
    )?;
    Ok(true)
}

/// Store `document` (a blob of `artifact_type`, titled `title`) as a referrer of `subject`
/// marked by the annotation `mark` (key, value), replacing any referrer of the subject that
/// carries that annotation key: one document of each kind per image (its SBOM, its
/// provenance), made again with the image.
///
/// # Errors
/// As [`add`].
pub fn add_document(
    out: &OciDir,
    subject: &Descriptor,
    artifact_type: &str,
    title: &str,
    mark: (&str, &str),
    document: &[u8],
) -> Result<Descriptor, OciError> {
    let blob = out.write_blob(artifact_type, document)?;
    let annotations = BTreeMap::from([(mark.0.to_string(), mark.1.to_string())]);
    let marked = |d: &Descriptor| {
        d.annotations
            .as_ref()
            .is_some_and(|a| a.contains_key(mark.0))
    };
    add(
        out,
        subject,
        artifact_type,
        &[titled(blob, title)],
        &annotations,
        marked,
    )
}
