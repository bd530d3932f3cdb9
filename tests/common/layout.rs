//! Reading an OCI layout back in tests: index, blobs, an image's manifest and config.

use super::*;
use std::path::Path;

/// Read index.json of a layout.
pub fn index(dir: &Path) -> serde_json::Value {
    json(&std::fs::read_to_string(dir.join("index.json")).unwrap())
}

/// Read a blob by `sha256:` digest.
pub fn blob(dir: &Path, digest: &str) -> Vec<u8> {
    std::fs::read(
        dir.join("blobs/sha256")
            .join(digest.strip_prefix("sha256:").unwrap()),
    )
    .unwrap()
}

/// A blob read as JSON, by `sha256:` digest.
pub fn blob_json(dir: &Path, digest: &str) -> serde_json::Value {
    json(&String::from_utf8(blob(dir, digest)).unwrap())
}

/// The digest index.json gives the tag `tag`.
pub fn tagged(dir: &Path, tag: &str) -> String {
    let idx = index(dir);
    idx["manifests"]
        .as_array()
        .unwrap()
        .iter()
        .find(|d| d["annotations"]["org.opencontainers.image.ref.name"] == tag)
        .unwrap_or_else(|| panic!("no tag {tag} in {idx}"))["digest"]
        .as_str()
        .unwrap()
        .to_string()
}

/// (manifest, config) of the image tagged `tag`.
pub fn image(dir: &Path, tag: &str) -> (serde_json::Value, serde_json::Value) {
    let m = blob_json(dir, &tagged(dir, tag));
    let c = blob_json(dir, m["config"]["digest"].as_str().unwrap());
    (m, c)
}

/// The referrers index of the image `subject` (`sha256:` digest): what its referrers tag
/// names.
pub fn referrers(dir: &Path, subject: &str) -> serde_json::Value {
    blob_json(dir, &tagged(dir, &format!("sha256-{}", &subject[7..])))
}

/// `sha256:` digest of `data`.
pub fn sha(data: &[u8]) -> String {
    format!(
        "sha256:{}",
        hex::encode(<sha2::Sha256 as sha2::Digest>::digest(data))
    )
}

/// Put `data` into the layout's blobs as a forger would; returns its digest.
pub fn put_blob(dir: &Path, data: &[u8]) -> String {
    let d = sha(data);
    std::fs::write(dir.join("blobs/sha256").join(&d[7..]), data).unwrap();
    d
}

/// Flip one bit in the middle of the file at `path` (a blob made damaged).
pub fn flip_middle_byte(path: &Path) {
    let mut data = std::fs::read(path).unwrap();
    let at = data.len() / 2;
    data[at] ^= 1;
    std::fs::write(path, data).unwrap();
}
