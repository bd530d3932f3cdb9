//! The OCI documents we write and read: descriptor, manifest, index, config. Only the fields
//! this tool produces or needs; unknown fields of documents read back are kept in `extra` so a
//! rewritten index loses nothing.

use serde::{Deserialize, Serialize};
use serde_json::{Map, Value};
use std::collections::BTreeMap;

/// A content descriptor.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Descriptor {
    /// Media type.
    #[serde(rename = "mediaType")]
    pub media_type: String,
    /// `sha256:<hex>`.
    pub digest: String,
    /// Size in bytes.
    pub size: u64,
    /// Annotations.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub annotations: Option<BTreeMap<String, String>>,
    /// Platform (manifest descriptors in an index).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub platform: Option<Platform>,
}

impl Descriptor {
    /// A descriptor without annotations or platform.
    pub fn new(media_type: &str, digest: &str, size: u64) -> Self {
        Descriptor {
            media_type: media_type.into(),
            digest: digest.into(),
            size,
            annotations: None,
            platform: None,
        }
    }

    /// The hex part of a `sha256:` digest, if it is one.
    pub fn sha256_hex(&self) -> Option<&str> {
        let hex = self.digest.strip_prefix("sha256:")?;
        (hex.len() == 64 && hex.bytes().all(|b| matches!(b, b'0'..=b'9' | b'a'..=b'f')))
            .then_some(hex)
    }
}

/// Platform of an image.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Platform {
    /// OCI architecture.
    pub architecture: String,
    /// OS.
    pub os: String,
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
    pub diff_ids: Vec<String>,
}

/// One history entry.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct History {
    /// RFC 3339.
    pub created: String,
    /// Description.
    pub created_by: String,
}

/// Image config.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ImageConfig {
    /// OCI architecture.
    pub architecture: String,
    /// OS.
    pub os: String,
    /// RFC 3339.
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
