//! The OCI documents we write and read: descriptor, manifest, index, config. Only the fields
//! this tool produces or needs; unknown fields of documents read back are kept in `extra` so a
//! rewritten index loses nothing.

use serde::{Deserialize, Serialize};
use serde_json::{Map, Value};
use std::collections::BTreeMap;

/// A `sha256:<64 lowercase hex>` digest, checked once where it is parsed: every digest in a
/// document read from outside is one of these, so no later code can slice or join a bad one
/// into a path. Only sha256: every layout we read or write keeps its blobs in `blobs/sha256`.
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(try_from = "String", into = "String")]
pub struct Digest(String);

/// A string that is not a `sha256:` digest.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{shown:?} is not a sha256 digest (sha256: and 64 lowercase hex digits)")]
pub struct BadDigest {
    /// The input, cut to 80 bytes for display.
    pub shown: String,
}

impl Digest {
    /// Parse `sha256:<64 lowercase hex>`.
    ///
    /// # Errors
    /// [`BadDigest`] for anything else.
    pub fn parse(s: &str) -> Result<Self, BadDigest> {
        let ok = s.strip_prefix("sha256:").is_some_and(|h| {
            h.len() == 64 && h.bytes().all(|b| matches!(b, b'0'..=b'9' | b'a'..=b'f'))
        });
        if ok {
            Ok(Digest(s.to_string()))
        } else {
            let mut end = s.len().min(80);
            while !s.is_char_boundary(end) {
                end -= 1;
            }
            Err(BadDigest {
                shown: s[..end].to_string(),
            })
        }
    }

    /// The digest of a finished SHA-256.
    pub fn from_sha256(hash: &[u8]) -> Self {
        Digest(format!("sha256:{}", hex::encode(hash)))
    }

    /// The digest of `data`.
    pub fn of(data: &[u8]) -> Self {
        use sha2::Digest as _;
        Self::from_sha256(&sha2::Sha256::digest(data))
    }

    /// The 64 hex digits (the blob's file name in `blobs/sha256`).
    pub fn hex(&self) -> &str {
        &self.0["sha256:".len()..]
    }

    /// `sha256:` and the first 12 hex digits, for tables.
    pub fn short(&self) -> &str {
        &self.0[..19]
    }

    /// The whole digest.
    pub fn as_str(&self) -> &str {
        &self.0
    }
}

impl TryFrom<String> for Digest {
    type Error = BadDigest;
    fn try_from(s: String) -> Result<Self, BadDigest> {
        Digest::parse(&s)
    }
}

impl From<Digest> for String {
    fn from(d: Digest) -> String {
        d.0
    }
}

impl std::str::FromStr for Digest {
    type Err = BadDigest;
    fn from_str(s: &str) -> Result<Self, BadDigest> {
        Digest::parse(s)
    }
}

impl std::fmt::Display for Digest {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.0)
    }
}

impl PartialEq<str> for Digest {
    fn eq(&self, other: &str) -> bool {
        self.0 == other
    }
}

impl PartialEq<&str> for Digest {
    fn eq(&self, other: &&str) -> bool {
        self.0 == *other
    }
}

/// Descriptor sizes are int64 in the OCI spec: a larger value is refused where it is read,
/// so sums of sizes (at most a few thousand layers) cannot overflow a u64.
fn size_in_range<'de, D: serde::Deserializer<'de>>(d: D) -> Result<u64, D::Error> {
    let n = u64::deserialize(d)?;
    if n > i64::MAX as u64 {
        return Err(serde::de::Error::custom(format!(
            "size {n} is larger than the OCI maximum (2^63-1)"
        )));
    }
    Ok(n)
}

/// A content descriptor.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Descriptor {
    /// Media type.
    #[serde(rename = "mediaType")]
    pub media_type: String,
    /// The content's digest.
    pub digest: Digest,
    /// Size in bytes.
    #[serde(deserialize_with = "size_in_range")]
    pub size: u64,
    /// Annotations.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub annotations: Option<BTreeMap<String, String>>,
    /// Platform (manifest descriptors in an index).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub platform: Option<Platform>,
    /// Anything else (`artifactType`, `urls`, `data`, extensions), kept as read: an index
    /// entry another tool wrote is written back unchanged when we add a tag. Empty in what
    /// we write, so it adds no bytes.
    #[serde(flatten)]
    pub extra: Map<String, Value>,
}

impl Descriptor {
    /// A descriptor without annotations or platform.
    pub fn new(media_type: &str, digest: Digest, size: u64) -> Self {
        Descriptor {
            media_type: media_type.into(),
            digest,
            size,
            annotations: None,
            platform: None,
            extra: Map::new(),
        }
    }
}

/// Platform of an image.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Platform {
    /// OCI architecture.
    pub architecture: String,
    /// OS.
    pub os: String,
    /// Anything else (`variant`, `os.version`, `os.features`), kept as read.
    #[serde(flatten)]
    pub extra: Map<String, Value>,
}

/// Image manifest.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Manifest {
    /// Always 2.
    #[serde(rename = "schemaVersion")]
    pub schema_version: u32,
    /// Manifest media type.
    #[serde(rename = "mediaType", default)]
    pub media_type: String,
    /// Config blob.
    pub config: Descriptor,
    /// Layer blobs, commit layer first.
    pub layers: Vec<Descriptor>,
    /// Annotations.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub annotations: Option<BTreeMap<String, String>>,
}

/// Image index (index.json).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Index {
    /// Always 2.
    #[serde(rename = "schemaVersion")]
    pub schema_version: u32,
    /// Index media type.
    #[serde(rename = "mediaType", default, skip_serializing_if = "Option::is_none")]
    pub media_type: Option<String>,
    /// Manifests.
    pub manifests: Vec<Descriptor>,
    /// Anything else, kept as read.
    #[serde(flatten)]
    pub extra: Map<String, Value>,
}

/// Image config rootfs.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct RootFs {
    /// Always `layers`.
    #[serde(rename = "type")]
    pub kind: String,
    /// `sha256:` of each uncompressed layer.
    pub diff_ids: Vec<Digest>,
}

/// One history entry.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct History {
    /// RFC 3339 (optional in the spec: empty when an image leaves it out).
    #[serde(default)]
    pub created: String,
    /// Description (optional in the spec: empty when an image leaves it out).
    #[serde(default)]
    pub created_by: String,
}

/// Image config.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ImageConfig {
    /// OCI architecture.
    pub architecture: String,
    /// OS.
    pub os: String,
    /// CPU variant (`v7` for 32-bit arm, ...); we write none, an index reads it.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub variant: Option<String>,
    /// RFC 3339 (optional in the spec: empty when an image leaves it out).
    #[serde(default)]
    pub created: String,
    /// Container config (Labels, Env, Cmd, ...).
    #[serde(default)]
    pub config: Map<String, Value>,
    /// Layers' diffids.
    pub rootfs: RootFs,
    /// One entry per layer.
    #[serde(default)]
    pub history: Vec<History>,
}

impl ImageConfig {
    /// The config labels.
    pub fn labels(&self) -> BTreeMap<String, String> {
        self.config
            .get("Labels")
            .and_then(Value::as_object)
            .map(|m| {
                m.iter()
                    .filter_map(|(k, v)| v.as_str().map(|s| (k.clone(), s.to_string())))
                    .collect()
            })
            .unwrap_or_default()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The image spec makes `created` (config and history) and `created_by` optional; images
    /// from other tools leave them out, and reading them must not fail.
    #[test]
    fn configs_without_optional_times_are_read() {
        let text = br#"{"architecture":"amd64","os":"linux","rootfs":{"type":"layers","diff_ids":[]},"history":[{"created_by":"RUN x"},{"empty_layer":true}]}"#;
        let c: ImageConfig = serde_json::from_slice(text).expect("a valid config");
        assert_eq!(c.created, "");
        assert_eq!(c.history.len(), 2);
        assert_eq!(c.history[0].created, "");
        assert_eq!(c.history[1].created_by, "");
    }

    #[test]
    fn digests_are_checked_where_they_are_parsed() {
        let good = format!("sha256:{}", "ab".repeat(32));
        let d = Digest::parse(&good).unwrap();
        assert_eq!(d.hex(), "ab".repeat(32));
        assert_eq!(d.short(), &good[..19]);
        for bad in [
            "sha256:abc",
            "sha512:00",
            &good.to_uppercase(),
            &format!("{good}0"),
            "sha256:ééééééééééééééééééééééééééééééééé",
            "",
        ] {
            let e = Digest::parse(bad).unwrap_err();
            assert!(e.to_string().contains("not a sha256 digest"), "{bad}: {e}");
        }
        // In a document: refused on read, with the field named by serde.
        let doc = |digest: &str, size: u64| {
            format!(r#"{{"mediaType":"x","digest":"{digest}","size":{size}}}"#)
        };
        assert!(serde_json::from_str::<Descriptor>(&doc(&good, 1)).is_ok());
        assert!(serde_json::from_str::<Descriptor>(&doc("sha256:abc", 1)).is_err());
        let e = serde_json::from_str::<Descriptor>(&doc(&good, u64::MAX)).unwrap_err();
        assert!(e.to_string().contains("larger than the OCI maximum"), "{e}");
        // Written back unchanged.
        let desc: Descriptor = serde_json::from_str(&doc(&good, 7)).unwrap();
        assert_eq!(serde_json::to_string(&desc).unwrap(), doc(&good, 7));
    }
}
