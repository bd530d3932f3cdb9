//! What a build stores beside its image as referrers of it (`oci::referrers`): the bill of
//! materials (`--sbom`) and the provenance statement (`--provenance`), so that `push`
//! carries them to the registry with the image.

use crate::request::EncapsulateRequest;
use anyhow::{Context, Result};
use oci::keys;
use oci::ocidir::OciDir;

/// Store the provenance statement of this build in `out` as a referrer of the image
/// `manifest` (replacing one stored for it before).
pub(crate) fn provenance(
    req: &EncapsulateRequest,
    out: &OciDir,
    manifest: &oci::types::Descriptor,
    commit: &str,
    base: Option<(String, oci::types::Digest)>,
) -> Result<()> {
    use crate::building::provenance::{statement, Build, Input, PREDICATE_TYPE};
    use serde_json::json;
    let input = Input::of(req);
    let mut options = std::collections::BTreeMap::from([
        (
            "format",
            json!(match req.format {
                encapsulate::StreamFormat::Ostree => "ostree",
                encapsulate::StreamFormat::Plain => "plain",
            }),
        ),
        (
            "layer-media-type",
            json!(crate::codec::media_type(req.compression)),
        ),
        ("max-layers", json!(req.chunking.max_layers)),
        ("sbom", json!(req.sbom.is_some())),
    ]);
    if let Some(r) = &req.rootfs {
        options.insert("prune", json!(r.prune));
    }
    let name = req.tag.as_deref().unwrap_or("image");
    let document = oci::json::canonical(&statement(&Build {
        name,
        manifest: &manifest.digest,
        input,
        commit,
        options,
        base,
    }));
    oci::referrers::add_document(
        out,
        manifest,
        keys::provenance::ARTIFACT_TYPE,
        keys::provenance::FILE,
        (keys::provenance::ANNOTATION_PREDICATE, PREDICATE_TYPE),
        &document,
    )
    .with_context(|| {
        format!(
            "storing the provenance of {} in {}",
            manifest.digest,
            out.shown()
        )
    })?;
    Ok(())
}

/// Store the bill of materials in `out` as a referrer of the image `manifest` (replacing
/// one stored for it before), so that `push` carries it to the registry with the image.
pub(crate) fn sbom(out: &OciDir, manifest: &oci::types::Descriptor, document: &[u8]) -> Result<()> {
    oci::referrers::add_document(
        out,
        manifest,
        keys::sbom::ARTIFACT_TYPE,
        keys::sbom::FILE,
        (keys::sbom::ANNOTATION, keys::sbom::FORMAT),
        document,
    )
    .with_context(|| format!("storing the SBOM of {} in {}", manifest.digest, out.shown()))?;
    Ok(())
}
