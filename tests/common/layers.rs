//! Hand-made layers and derived images, for tests that feed `--from` and `verify` what a
//! hostile or odd image holds: raw tar headers (the tar crate refuses `..`, which a hostile
//! layer is free to write), PAX bodies, and an image derived from another by one more layer.

use super::*;
use std::path::Path;

/// A PAX extended header body with `records` (`LEN KEY=VALUE\n`, LEN counting itself).
pub fn pax_body(records: &[(&str, &[u8])]) -> Vec<u8> {
    let mut out = Vec::new();
    for (k, v) in records {
        let rest = k.len() + v.len() + 3; // ' ', '=', '\n'
        let mut len = rest + 1;
        while len != rest + len.to_string().len() {
            len = rest + len.to_string().len();
        }
        out.extend_from_slice(format!("{len} {k}=").as_bytes());
        out.extend_from_slice(v);
        out.push(b'\n');
    }
    out
}

/// Append `layer` (an uncompressed tar) to image `tag` of the layout `dir` as image `new_tag`.
pub fn derive_image(dir: &Path, tag: &str, new_tag: &str, layer: &[u8]) {
    derive_image_blob(
        dir,
        tag,
        new_tag,
        layer,
        "application/vnd.oci.image.layer.v1.tar",
        &sha(layer),
    );
}

/// [`derive_image`] with a layer blob of any media type, and its diff_id.
pub fn derive_image_blob(
    dir: &Path,
    tag: &str,
    new_tag: &str,
    blob: &[u8],
    media_type: &str,
    diff_id: &str,
) {
    let (mut manifest, mut config) = image(dir, tag);
    let digest = put_blob(dir, blob);
    manifest["layers"]
        .as_array_mut()
        .unwrap()
        .push(serde_json::json!({
            "mediaType": media_type,
            "digest": digest,
            "size": blob.len(),
        }));
    config["rootfs"]["diff_ids"]
        .as_array_mut()
        .unwrap()
        .push(serde_json::json!(diff_id));
    config["history"]
        .as_array_mut()
        .unwrap()
        .push(serde_json::json!({"created_by": "RUN derive"}));
    add_image(dir, new_tag, manifest, config);
}

/// Put `config` and `manifest` (its config descriptor made to point at `config`) into the
/// layout `dir` as image `new_tag`.
pub fn add_image(
    dir: &Path,
    new_tag: &str,
    mut manifest: serde_json::Value,
    config: serde_json::Value,
) {
    let config_bytes = serde_json::to_vec(&config).unwrap();
    manifest["config"]["digest"] = serde_json::json!(put_blob(dir, &config_bytes));
    manifest["config"]["size"] = serde_json::json!(config_bytes.len());
    let manifest_bytes = serde_json::to_vec(&manifest).unwrap();
    let mdigest = put_blob(dir, &manifest_bytes);
    let mut idx = index(dir);
    idx["manifests"]
        .as_array_mut()
        .unwrap()
        .push(serde_json::json!({
            "mediaType": "application/vnd.oci.image.manifest.v1+json",
            "digest": mdigest,
            "size": manifest_bytes.len(),
            "annotations": {"org.opencontainers.image.ref.name": new_tag},
        }));
    std::fs::write(dir.join("index.json"), serde_json::to_vec(&idx).unwrap()).unwrap();
}

pub fn tar_entry(
    b: &mut tar::Builder<Vec<u8>>,
    path: &str,
    kind: tar::EntryType,
    mode: u32,
    owner: u32,
    data: &[u8],
    link: Option<&str>,
) {
    let mut h = tar::Header::new_ustar();
    h.set_entry_type(kind);
    h.set_mode(mode);
    h.set_uid(owner.into());
    h.set_gid(owner.into());
    h.set_size(data.len() as u64);
    // Raw bytes: the tar crate refuses `..`, which a hostile layer is free to write.
    let ustar = h.as_ustar_mut().unwrap();
    ustar.name = [0; 100];
    ustar.name[..path.len()].copy_from_slice(path.as_bytes());
    if let Some(l) = link {
        ustar.linkname = [0; 100];
        ustar.linkname[..l.len()].copy_from_slice(l.as_bytes());
    }
    h.set_cksum();
    b.append(&h, data).unwrap();
}
