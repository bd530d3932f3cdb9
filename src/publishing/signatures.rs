//! Sigstore signatures of pushed images, made here and stored in the registry as cosign
//! attachments, where containers/image (`sigstoreSigned` policies, bootc hosts) and cosign
//! find them.
//!
//! Why not skopeo's `--sign-by-sigstore-private-key`: the skopeo of Debian 12 (1.9.3) is
//! built with sigstore disabled ("Debian-local change: sigstore disabled"), for signing and
//! for checking alike. So we sign with the `signing` crate and upload the attachment with
//! skopeo as an ordinary image, in the format both cosign and containers/image use:
//!
//! - tag `sha256-<hex>.sig` in the signed image's repository;
//! - an OCI manifest whose layers are "simple signing" payloads
//!   (`application/vnd.dev.cosign.simplesigning.v1+json`, see
//!   [`signing::sigstore::payload`]), each with its base64 ECDSA signature in the annotation
//!   `dev.cosignproject.cosign/signature`; the config lists the payloads as `diff_ids`.
//!
//! Signatures already there (another key, an earlier run) are kept: ours is appended, or
//! nothing is written when the same signature is already present. The payload has no
//! timestamp and the signature is deterministic, so a re-push changes nothing.

use crate::image_ref::DockerRef;
use anyhow::{bail, Context, Result};
use oci::keys::media;
use oci::skopeo::PushOptions;
use oci::types::{Descriptor, Digest, Manifest};
use oci::OciDir;
use serde::Serialize;
use signing::sigstore::SigningKey;
use std::collections::BTreeMap;
use std::io::Read;

/// Layer media type of a cosign signature payload.
pub const PAYLOAD_MEDIA_TYPE: &str = "application/vnd.dev.cosign.simplesigning.v1+json";
/// Layer annotation holding the base64 signature of the payload.
pub const SIGNATURE_ANNOTATION: &str = "dev.cosignproject.cosign/signature";

/// One signed manifest.
#[derive(Debug, Clone, Serialize)]
pub struct Signed {
    /// The manifest (or index) digest signed.
    pub digest: Digest,
    /// Where its signatures are: `docker://REGISTRY/REPO:sha256-<hex>.sig`.
    pub attachment: String,
    /// False when this exact signature was already there.
    pub added: bool,
}

/// Sign `top` (just pushed to `dest`) and, when it is an index, every manifest it lists.
///
/// # Errors
/// The registry cannot be read or written; what it serves for `top` is not what was pushed.
pub fn sign_pushed(
    dest: &DockerRef,
    top: &Digest,
    key: &SigningKey,
    opts: &PushOptions,
) -> Result<Vec<Signed>> {
    let mut digests = vec![top.clone()];
    let at = format!("docker://{}@{}", dest.repository, top);
    let raw = oci::skopeo::inspect_raw(&at, &opts.as_source())?
        .with_context(|| format!("{at}: the registry does not have what was just pushed"))?;
    if Digest::of(&raw) != *top {
        bail!("{at}: the registry serves a manifest with another digest");
    }
    let doc: serde_json::Value =
        serde_json::from_slice(&raw).with_context(|| format!("{at}: not JSON"))?;
    if let Some(list) = doc.get("manifests").and_then(|m| m.as_array()) {
        for m in list {
            let d = m
                .get("digest")
                .and_then(|d| d.as_str())
                .with_context(|| format!("{at}: an index entry without a digest"))?;
            digests.push(Digest::parse(d).with_context(|| format!("{at}: index entry"))?);
        }
    }
    digests.iter().map(|d| attach(dest, d, key, opts)).collect()
}

/// Add our signature of `digest` to its attachment in `dest`'s repository.
fn attach(
    dest: &DockerRef,
    digest: &Digest,
    key: &SigningKey,
    opts: &PushOptions,
) -> Result<Signed> {
    let payload = signing::sigstore::payload(&dest.reference, digest.as_str());
    let signature = b64(&key.sign(&payload));
    let annotations = BTreeMap::from([(SIGNATURE_ANNOTATION.to_string(), signature)]);
    store(
        dest,
        digest,
        ".sig",
        PAYLOAD_MEDIA_TYPE,
        &payload,
        annotations,
        opts,
    )
}

/// Layer media type of a DSSE envelope (cosign's attestations).
pub const DSSE_MEDIA_TYPE: &str = "application/vnd.dsse.envelope.v1+json";
/// Layer annotation naming an attestation's predicate type.
pub const PREDICATE_ANNOTATION: &str = "predicateType";
/// What a DSSE envelope says its payload is: an in-toto statement.
const DSSE_PAYLOAD_TYPE: &str = "application/vnd.in-toto+json";

/// Sign the in-toto `statement` (of predicate `predicate_type`) about the pushed image
/// `digest` as cosign attests: a DSSE envelope (payload type `application/vnd.in-toto+json`,
/// the ECDSA signature over its pre-authentication encoding), stored as a layer of the
/// attachment `sha256-<hex>.att` in `dest`'s repository beside those already there.
///
/// # Errors
/// The registry cannot be read or written.
pub fn attest(
    dest: &DockerRef,
    digest: &Digest,
    statement: &[u8],
    predicate_type: &str,
    key: &SigningKey,
    opts: &PushOptions,
) -> Result<Signed> {
    let signature = key.sign(&dsse_pae(DSSE_PAYLOAD_TYPE, statement));
    let envelope = serde_json::json!({
        "payloadType": DSSE_PAYLOAD_TYPE,
        "payload": b64(statement),
        "signatures": [{"keyid": "", "sig": b64(&signature)}],
    });
    let annotations = BTreeMap::from([
        (SIGNATURE_ANNOTATION.to_string(), String::new()),
        (PREDICATE_ANNOTATION.to_string(), predicate_type.to_string()),
    ]);
    store(
        dest,
        digest,
        ".att",
        DSSE_MEDIA_TYPE,
        &oci::json::canonical(&envelope),
        annotations,
        opts,
    )
}

/// DSSE's pre-authentication encoding: what its signatures sign.
pub fn dsse_pae(payload_type: &str, payload: &[u8]) -> Vec<u8> {
    let mut out = format!(
        "DSSEv1 {} {payload_type} {} ",
        payload_type.len(),
        payload.len()
    )
    .into_bytes();
    out.extend_from_slice(payload);
    out
}

/// Add a layer (`payload` of `media_type`, with `annotations`) to the attachment
/// `sha256-<hex of digest><suffix>` in `dest`'s repository, keeping the layers already
/// there; nothing is written when the same layer is there already.
fn store(
    dest: &DockerRef,
    digest: &Digest,
    suffix: &str,
    media_type: &str,
    payload: &[u8],
    annotations: BTreeMap<String, String>,
    opts: &PushOptions,
) -> Result<Signed> {
    let attachment = format!(
        "docker://{}:sha256-{}{suffix}",
        dest.repository,
        digest.hex()
    );
    let work = tempfile::tempdir().context("making a temporary directory")?;
    let dir = cap_std::fs::Dir::open_ambient_dir(work.path(), cap_std::ambient_authority())
        .context("opening the temporary directory")?;
    let layout = OciDir::ensure(dir, &work.path().display().to_string())?;
    let layout_ref = |tag: &str| format!("oci:{}:{tag}", work.path().display());

    // What is there already, kept as it is.
    let mut layers: Vec<Descriptor> = Vec::new();
    if oci::skopeo::inspect_raw(&attachment, &opts.as_source())?.is_some() {
        oci::skopeo::pull(
            &attachment,
            &layout_ref("old"),
            &opts.as_source(),
            oci::skopeo::Digests::Preserve,
        )
        .with_context(|| format!("reading what is already in {attachment}"))?;
        let desc = layout.find(Some("old"))?;
        let mut text = Vec::new();
        layout
            .open_blob(&desc)?
            .read_to_end(&mut text)
            .with_context(|| format!("reading {attachment}"))?;
        let old: Manifest = serde_json::from_slice(&text)
            .with_context(|| format!("{attachment}: not an image manifest"))?;
        layers = old.layers;
    }
    let ours = layout.write_blob(media_type, payload)?;
    let same =
        |l: &Descriptor| l.digest == ours.digest && l.annotations.as_ref() == Some(&annotations);
    if layers.iter().any(same) {
        return Ok(Signed {
            digest: digest.clone(),
            attachment,
            added: false,
        });
    }
    let mut layer = ours;
    layer.annotations = Some(annotations);
    layers.push(layer);
    let diff_ids: Vec<&str> = layers.iter().map(|l| l.digest.as_str()).collect();
    let config = serde_json::json!({
        "architecture": "",
        "os": "",
        "config": {},
        "rootfs": {"type": "layers", "diff_ids": diff_ids},
    });
    let config = layout.write_blob(media::CONFIG, &oci::json::canonical(&config))?;
    let manifest = Manifest {
        schema_version: 2,
        media_type: media::MANIFEST.into(),
        config,
        layers,
        annotations: None,
    };
    let desc = layout.write_blob(media::MANIFEST, &oci::json::to_canonical(&manifest)?)?;
    layout.set_manifest(desc, Some("new"))?;
    oci::skopeo::copy(&layout_ref("new"), &attachment, &opts.transport_only())
        .with_context(|| format!("storing {attachment} for {digest}"))?;
    Ok(Signed {
        digest: digest.clone(),
        attachment,
        added: true,
    })
}

fn b64(data: &[u8]) -> String {
    use base64::Engine as _;
    base64::engine::general_purpose::STANDARD.encode(data)
}
