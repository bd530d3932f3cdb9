//! `ostree-encap index`: one multi-arch image from per-architecture images.
//!
//! An OS is built once per architecture, each on its own builder; users pull it by one name.
//! An OCI image index lists each architecture's manifest with its platform, and clients pick
//! theirs. Parse → plan → execute: [`plan_index`] turns what the images say of themselves
//! (their config's os, architecture, variant and version label) into the index's entries,
//! refusing what a client could not choose between; [`write_index`] copies the images'
//! blobs into the output layout, writes the index and tags it. The index is canonical JSON
//! of sorted entries, so the same images give the same index digest.

use crate::image_ref::{Accept, FileSystem, ImageRef, OpenedImage};
use anyhow::{Context, Result};
use oci::keys::{self, media};
use oci::types::{Descriptor, Digest, ImageConfig, Index, Platform};
use oci::OciDir;
use serde::Serialize;
use std::collections::BTreeMap;

/// Why a set of images cannot be one index. Every variant names the images involved as the
/// user wrote them.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum IndexError {
    /// No image given.
    #[error("an index needs at least one image")]
    Empty,
    /// The config names no architecture (or OS), so no client could select it.
    #[error("{image}: its config names no {what}; an index entry needs one")]
    NoPlatform {
        /// The image.
        image: String,
        /// `architecture` or `os`.
        what: &'static str,
    },
    /// Not an architecture Go (and so every container runtime) knows.
    #[error("{image}: architecture {arch:?} is not a GOARCH value ({known})")]
    UnknownArch {
        /// The image.
        image: String,
        /// What its config says.
        arch: String,
        /// The known values.
        known: String,
    },
    /// Two images for one platform: a client could not tell which to pull.
    #[error("{first} and {second} are both {platform}; an index holds one image per platform")]
    SamePlatform {
        /// The platform, as `os/arch[/variant]`.
        platform: String,
        /// The first image with it.
        first: String,
        /// The second.
        second: String,
    },
    /// Images of different versions (the `org.opencontainers.image.version` label): most
    /// likely builds of different days joined by mistake.
    #[error(
        "{first} is version {first_version:?} but {second} is {second_version:?}; \
         pass --allow-mixed-versions if that is meant"
    )]
    MixedVersions {
        /// One image.
        first: String,
        /// Its version ("" for none).
        first_version: String,
        /// Another.
        second: String,
        /// Its version.
        second_version: String,
    },
}

/// What the plan needs of one image: its name (for messages), manifest descriptor and config.
#[derive(Debug, Clone)]
pub struct IndexInput<'a> {
    /// The image as the user named it.
    pub name: String,
    /// Its manifest.
    pub manifest: &'a Descriptor,
    /// Its config.
    pub config: &'a ImageConfig,
}

/// One entry of a planned index.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct IndexEntry {
    /// Which input it is (position in the inputs).
    #[serde(skip)]
    pub input: usize,
    /// The image as the user named it.
    pub image: String,
    /// `os/architecture[/variant]`.
    pub platform: String,
    /// The manifest digest.
    pub digest: Digest,
    /// The version label, if any.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub version: Option<String>,
    /// The descriptor as the index lists it.
    #[serde(skip)]
    pub descriptor: Descriptor,
}

/// The platform of an image from its config. arm64 without a variant is `v8`, as clients
/// (containerd, podman) read it and as `docker buildx` writes it: an index entry then
/// matches what a client asks for whether or not it names the variant.
fn platform_of(input: &IndexInput<'_>) -> Result<Platform, IndexError> {
    let c = input.config;
    if c.os.is_empty() {
        return Err(IndexError::NoPlatform {
            image: input.name.clone(),
            what: "os",
        });
    }
    if c.architecture.is_empty() {
        return Err(IndexError::NoPlatform {
            image: input.name.clone(),
            what: "architecture",
        });
    }
    if !keys::GOARCH.contains(&c.architecture.as_str()) {
        return Err(IndexError::UnknownArch {
            image: input.name.clone(),
            arch: c.architecture.clone(),
            known: keys::GOARCH.join(", "),
        });
    }
    let variant = match (&c.variant, c.architecture.as_str()) {
        (Some(v), _) if !v.is_empty() => Some(v.clone()),
        (_, "arm64") => Some("v8".to_string()),
        _ => None,
    };
    let mut extra = serde_json::Map::new();
    if let Some(v) = variant {
        extra.insert("variant".into(), v.into());
    }
    Ok(Platform {
        architecture: c.architecture.clone(),
        os: c.os.clone(),
        extra,
    })
}

fn platform_name(p: &Platform) -> String {
    match p.extra.get("variant").and_then(|v| v.as_str()) {
        Some(v) => format!("{}/{}/{v}", p.os, p.architecture),
        None => format!("{}/{}", p.os, p.architecture),
    }
}

/// The entries of the index for `inputs`, sorted by platform (os, architecture, variant).
///
/// # Errors
/// [`IndexError`]: no inputs, an image without os or architecture or with an unknown one,
/// two images for one platform, different versions without `allow_mixed_versions`.
pub fn plan_index(
    inputs: &[IndexInput<'_>],
    allow_mixed_versions: bool,
) -> Result<Vec<IndexEntry>, IndexError> {
    if inputs.is_empty() {
        return Err(IndexError::Empty);
    }
    let mut by_platform: BTreeMap<(String, String, String), IndexEntry> = BTreeMap::new();
    for (i, input) in inputs.iter().enumerate() {
        let platform = platform_of(input)?;
        let name = platform_name(&platform);
        let variant = platform
            .extra
            .get("variant")
            .and_then(|v| v.as_str())
            .unwrap_or_default()
            .to_string();
        let key = (platform.os.clone(), platform.architecture.clone(), variant);
        if let Some(first) = by_platform.get(&key) {
            return Err(IndexError::SamePlatform {
                platform: name,
                first: first.image.clone(),
                second: input.name.clone(),
            });
        }
        let mut descriptor = Descriptor::new(
            &input.manifest.media_type,
            input.manifest.digest.clone(),
            input.manifest.size,
        );
        descriptor.platform = Some(platform);
        let version = input.config.labels().remove(keys::LABEL_VERSION);
        by_platform.insert(
            key,
            IndexEntry {
                input: i,
                image: input.name.clone(),
                platform: name,
                digest: input.manifest.digest.clone(),
                version,
                descriptor,
            },
        );
    }
    let entries: Vec<IndexEntry> = by_platform.into_values().collect();
    if !allow_mixed_versions {
        let mut sorted: Vec<&IndexEntry> = entries.iter().collect();
        sorted.sort_by_key(|e| e.input);
        if let Some(first) = sorted.first() {
            if let Some(other) = sorted.iter().find(|e| e.version != first.version) {
                return Err(IndexError::MixedVersions {
                    first: first.image.clone(),
                    first_version: first.version.clone().unwrap_or_default(),
                    second: other.image.clone(),
                    second_version: other.version.clone().unwrap_or_default(),
                });
            }
        }
    }
    Ok(entries)
}

/// The index document for `entries`: canonical JSON, so the same entries give the same bytes.
///
/// # Errors
/// Serialization (not expected).
pub fn index_bytes(entries: &[IndexEntry]) -> Result<Vec<u8>> {
    let index = Index {
        schema_version: 2,
        media_type: Some(media::INDEX.into()),
        manifests: entries.iter().map(|e| e.descriptor.clone()).collect(),
        extra: Default::default(),
    };
    Ok(oci::json::to_canonical(&index)?)
}

/// What `index` made.
#[derive(Debug, Clone, Serialize)]
pub struct IndexReport {
    /// The layout written to.
    pub oci_dir: String,
    /// The tag, if one was given.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub tag: Option<String>,
    /// The index's digest (what `--digestfile` and signatures name).
    pub index_digest: Digest,
    /// Its size in bytes.
    pub index_size: u64,
    /// The entries, in index order.
    pub manifests: Vec<IndexEntry>,
}

/// Open the images named by `specs` (DIR, DIR:TAG, oci-archive), each resolved to one image.
///
/// # Errors
/// An argument that is no image, a tag that is not there, an unreadable image.
pub fn open_images(specs: &[String]) -> Result<Vec<(String, OpenedImage)>> {
    specs
        .iter()
        .map(|s| {
            let r = ImageRef::parse_source("IMAGE", s, Accept::default(), &FileSystem)?;
            let opened = r.open()?;
            Ok((r.to_string(), opened))
        })
        .collect()
}

/// Join `images` into one index in `out`, tagged `tag`: every image's manifest, config and
/// layers are made present in `out` (hard-linked or copied, each checked against its
/// digest), then the index blob is written and `tag` (or the untagged slot) points at it.
///
/// # Errors
/// [`IndexError`] from the plan (before anything is written); blob and I/O errors.
pub fn write_index(
    out: &OciDir,
    images: &[(String, OpenedImage)],
    tag: Option<&str>,
    allow_mixed_versions: bool,
) -> Result<IndexReport> {
    if let Some(t) = tag {
        oci::spec::check_tag(t)?;
    }
    let inputs: Vec<IndexInput<'_>> = images
        .iter()
        .map(|(name, o)| IndexInput {
            name: name.clone(),
            manifest: &o.image.descriptor,
            config: &o.image.config,
        })
        .collect();
    let entries = plan_index(&inputs, allow_mixed_versions)?;
    for e in &entries {
        let (name, o) = &images[e.input];
        let m = &o.image.manifest;
        for desc in m.layers.iter().chain([&m.config, &o.image.descriptor]) {
            out.copy_blob_from(&o.oci, desc).with_context(|| {
                format!("copying {} of {name} into {}", desc.digest, out.shown())
            })?;
        }
    }
    let bytes = index_bytes(&entries)?;
    let desc = out.write_blob(media::INDEX, &bytes)?;
    out.set_manifest(
        Descriptor::new(media::INDEX, desc.digest.clone(), desc.size),
        tag,
    )?;
    Ok(IndexReport {
        oci_dir: out.shown().to_string(),
        tag: tag.map(str::to_string),
        index_digest: desc.digest,
        index_size: desc.size,
        manifests: entries,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn config(arch: &str, variant: Option<&str>, version: Option<&str>) -> ImageConfig {
        let mut labels = serde_json::Map::new();
        if let Some(v) = version {
            labels.insert(keys::LABEL_VERSION.into(), v.into());
        }
        let mut cfg = serde_json::Map::new();
        cfg.insert("Labels".into(), labels.into());
        ImageConfig {
            architecture: arch.into(),
            os: "linux".into(),
            variant: variant.map(str::to_string),
            created: String::new(),
            config: cfg,
            rootfs: oci::types::RootFs {
                kind: "layers".into(),
                diff_ids: Vec::new(),
            },
            history: Vec::new(),
        }
    }

    fn manifest(n: u8) -> Descriptor {
        Descriptor::new(media::MANIFEST, Digest::of(&[n]), 100 + u64::from(n))
    }

    fn inputs<'a>(list: &'a [(String, Descriptor, ImageConfig)]) -> Vec<IndexInput<'a>> {
        list.iter()
            .map(|(n, m, c)| IndexInput {
                name: n.clone(),
                manifest: m,
                config: c,
            })
            .collect()
    }

    #[test]
    fn entries_are_sorted_by_platform_with_arm64_as_v8() {
        let list = vec![
            (
                "oci:s390x".into(),
                manifest(1),
                config("s390x", None, Some("1")),
            ),
            (
                "oci:arm64".into(),
                manifest(2),
                config("arm64", None, Some("1")),
            ),
            (
                "oci:amd64".into(),
                manifest(3),
                config("amd64", None, Some("1")),
            ),
            (
                "oci:arm".into(),
                manifest(4),
                config("arm", Some("v7"), Some("1")),
            ),
        ];
        let plan = plan_index(&inputs(&list), false).expect("plans");
        let names: Vec<&str> = plan.iter().map(|e| e.platform.as_str()).collect();
        assert_eq!(
            names,
            [
                "linux/amd64",
                "linux/arm/v7",
                "linux/arm64/v8",
                "linux/s390x"
            ]
        );
        assert_eq!(plan[2].digest, list[1].1.digest);
        assert_eq!(plan[2].input, 1);
        let p = plan[2].descriptor.platform.as_ref().expect("platform");
        assert_eq!(p.extra.get("variant").and_then(|v| v.as_str()), Some("v8"));
        // The same images in another order: the same bytes.
        let mut rev = list.clone();
        rev.reverse();
        let again = plan_index(&inputs(&rev), false).expect("plans");
        assert_eq!(
            index_bytes(&plan).expect("json"),
            index_bytes(&again).expect("json")
        );
        let doc: serde_json::Value =
            serde_json::from_slice(&index_bytes(&plan).expect("json")).expect("parses");
        assert_eq!(doc["mediaType"], media::INDEX);
        assert_eq!(doc["manifests"][0]["platform"]["architecture"], "amd64");
        assert_eq!(doc["manifests"][0]["digest"], list[2].1.digest.as_str());
    }

    #[test]
    fn what_a_client_could_not_choose_between_is_refused() {
        let two_amd64 = vec![
            ("oci:a".into(), manifest(1), config("amd64", None, None)),
            ("oci:b".into(), manifest(2), config("amd64", None, None)),
        ];
        let e = plan_index(&inputs(&two_amd64), false).unwrap_err();
        assert!(
            matches!(&e, IndexError::SamePlatform { platform, first, second }
                if platform == "linux/amd64" && first == "oci:a" && second == "oci:b"),
            "{e}"
        );
        // arm64 and arm64/v8 are one platform to a client.
        let arm = vec![
            ("oci:a".into(), manifest(1), config("arm64", None, None)),
            (
                "oci:b".into(),
                manifest(2),
                config("arm64", Some("v8"), None),
            ),
        ];
        assert!(matches!(
            plan_index(&inputs(&arm), false),
            Err(IndexError::SamePlatform { .. })
        ));
        let no_arch = vec![("oci:a".into(), manifest(1), config("", None, None))];
        assert!(matches!(
            plan_index(&inputs(&no_arch), false),
            Err(IndexError::NoPlatform {
                what: "architecture",
                ..
            })
        ));
        let odd = vec![("oci:a".into(), manifest(1), config("x86_64", None, None))];
        let e = plan_index(&inputs(&odd), false).unwrap_err();
        assert!(e.to_string().contains("\"x86_64\""), "{e}");
        assert_eq!(plan_index(&[], false), Err(IndexError::Empty));
    }

    #[test]
    fn mixed_versions_need_to_be_allowed() {
        let list = vec![
            (
                "oci:a".into(),
                manifest(1),
                config("amd64", None, Some("42.1")),
            ),
            (
                "oci:b".into(),
                manifest(2),
                config("arm64", None, Some("42.2")),
            ),
        ];
        let e = plan_index(&inputs(&list), false).unwrap_err();
        assert!(
            e.to_string().contains("42.1") && e.to_string().contains("42.2"),
            "{e}"
        );
        assert!(e.to_string().contains("--allow-mixed-versions"), "{e}");
        assert_eq!(plan_index(&inputs(&list), true).expect("allowed").len(), 2);
        // One with a version and one without is mixed too.
        let list = vec![
            (
                "oci:a".into(),
                manifest(1),
                config("amd64", None, Some("42.1")),
            ),
            ("oci:b".into(), manifest(2), config("arm64", None, None)),
        ];
        assert!(matches!(
            plan_index(&inputs(&list), false),
            Err(IndexError::MixedVersions { .. })
        ));
    }
}
