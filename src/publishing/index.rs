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
use oci::ocidir::ResolvedImage;
use oci::skopeo::PullOptions;
use oci::types::{Descriptor, Digest, ImageConfig, Index, Manifest, Platform};
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

/// One image to list in an index: what the plan needs of it, and where its blobs are.
pub struct IndexImage {
    /// The image as the user named it.
    pub name: String,
    /// Its descriptor, manifest and config.
    pub image: ResolvedImage,
    from: Origin,
}

/// Where an index image's blobs come from.
enum Origin {
    /// A local layout (or an unpacked archive).
    Layout(Box<OpenedImage>),
    /// A registry (or any source only skopeo reaches): the manifest and config as it serves
    /// them; layers fetched only if the output must hold them.
    Remote {
        /// The image by digest, transport included (what skopeo copies).
        by_digest: String,
        manifest: Vec<u8>,
        config: Vec<u8>,
        pull: PullOptions,
    },
}

impl IndexImage {
    /// The repository of a registry image (`REGISTRY/REPO`), `None` for local images.
    pub fn registry_repository(&self) -> Option<String> {
        match &self.from {
            Origin::Remote { by_digest, .. } => crate::image_ref::DockerRef::parse(by_digest)
                .ok()
                .map(|d| d.repository),
            Origin::Layout(_) => None,
        }
    }
}

/// Whether every image is a registry image in the repository of `dest`
/// (`docker://REGISTRY/REPO[:TAG]`): then an index pushed there needs none of their layers.
pub fn all_in_repository(images: &[IndexImage], dest: &str) -> bool {
    let Ok(d) = crate::image_ref::DockerRef::parse(dest) else {
        return false;
    };
    !images.is_empty()
        && images
            .iter()
            .all(|i| i.registry_repository().as_deref() == Some(d.repository.as_str()))
}

/// What the output layout gets of each image.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Blobs {
    /// Every blob: the layout is complete (skopeo can copy it anywhere).
    All,
    /// Manifests and configs only: the images are in the registry the index goes to, and
    /// no layer needs downloading (`push --multi-arch index-only`).
    ManifestsOnly,
}

/// Open the images named by `specs`: DIR, DIR:TAG or an oci-archive (each resolved to one
/// image), or an image only skopeo reaches (`docker://REF`, read with `pull`'s options:
/// its manifest and config only, checked against their digests).
///
/// # Errors
/// An image that is not there, is an index itself, or whose config does not match.
pub fn open_images(specs: &[String], pull: &PullOptions) -> Result<Vec<IndexImage>> {
    let accept = Accept {
        manifest: false,
        remote: true,
    };
    specs
        .iter()
        .map(|s| {
            let r = ImageRef::parse_source("IMAGE", s, accept, &FileSystem)?;
            match &r {
                ImageRef::Remote(reference) => open_remote(reference, pull),
                _ => {
                    let opened = r.open()?;
                    Ok(IndexImage {
                        name: r.to_string(),
                        image: opened.image.clone(),
                        from: Origin::Layout(Box::new(opened)),
                    })
                }
            }
        })
        .collect()
}

/// Read a registry image's manifest and config with skopeo, checked.
fn open_remote(reference: &str, pull: &PullOptions) -> Result<IndexImage> {
    let manifest = oci::skopeo::inspect_raw(reference, pull)?
        .with_context(|| format!("{reference}: no such image"))?;
    let digest = Digest::of(&manifest);
    let doc: Manifest = serde_json::from_slice(&manifest).with_context(|| {
        format!("{reference}: not one image's manifest (an index cannot be listed in an index)")
    })?;
    if doc.media_type == media::INDEX {
        anyhow::bail!("{reference}: an image index cannot be listed in an index");
    }
    let media_type = if doc.media_type.is_empty() {
        media::MANIFEST.to_string()
    } else {
        doc.media_type.clone()
    };
    let config = oci::skopeo::inspect_config_raw(reference, pull)?;
    if Digest::of(&config) != doc.config.digest {
        anyhow::bail!(
            "{reference}: the config the registry serves is not {} (what its manifest names)",
            doc.config.digest
        );
    }
    let parsed: ImageConfig = serde_json::from_slice(&config)
        .with_context(|| format!("{reference}: its config is not an image config"))?;
    // Copied again by digest, so a tag moved meanwhile cannot mix two images.
    let repo = match crate::image_ref::DockerRef::parse(reference) {
        Ok(d) => format!("docker://{}@{digest}", d.repository),
        Err(_) => reference.to_string(),
    };
    Ok(IndexImage {
        name: reference.to_string(),
        image: ResolvedImage {
            descriptor: Descriptor::new(&media_type, digest, manifest.len() as u64),
            manifest: doc,
            config: parsed,
        },
        from: Origin::Remote {
            by_digest: repo,
            manifest,
            config,
            pull: pull.clone(),
        },
    })
}

/// Join `images` into one index in `out`, tagged `tag`: each image's blobs are made present
/// in `out` as `blobs` says (hard-linked or copied from a layout, each checked against its
/// digest; a registry image's layers fetched by skopeo first), then the index blob is
/// written and `tag` (or the untagged slot) points at it.
///
/// # Errors
/// An [`IndexError`] (before anything is written), a blob that cannot be copied or does not
/// match its digest, or a tag that is not a valid tag.
pub fn write_index(
    out: &OciDir,
    images: &[IndexImage],
    tag: Option<&str>,
    allow_mixed_versions: bool,
    blobs: Blobs,
) -> Result<IndexReport> {
    if let Some(t) = tag {
        oci::spec::check_tag(t)?;
    }
    let inputs: Vec<IndexInput<'_>> = images
        .iter()
        .map(|i| IndexInput {
            name: i.name.clone(),
            manifest: &i.image.descriptor,
            config: &i.image.config,
        })
        .collect();
    let entries = plan_index(&inputs, allow_mixed_versions)?;
    for e in &entries {
        let img = &images[e.input];
        copy_image(out, img, blobs)
            .with_context(|| format!("copying {} into {}", img.name, out.shown()))?;
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

/// Make `img`'s blobs present in `out`.
fn copy_image(out: &OciDir, img: &IndexImage, blobs: Blobs) -> Result<()> {
    let m = &img.image.manifest;
    let wanted: Vec<&Descriptor> = match blobs {
        Blobs::All => m
            .layers
            .iter()
            .chain([&m.config, &img.image.descriptor])
            .collect(),
        Blobs::ManifestsOnly => vec![&m.config, &img.image.descriptor],
    };
    match &img.from {
        Origin::Layout(o) => {
            for desc in wanted {
                out.copy_blob_from(&o.oci, desc)
                    .with_context(|| format!("blob {}", desc.digest))?;
            }
            // Its SBOM, provenance and deltas come along, under its own referrers tag:
            // `push` of the index carries each platform's.
            if blobs == Blobs::All {
                oci::referrers::copy(out, &o.oci, &img.image.descriptor.digest)
                    .context("copying its referrers")?;
            }
        }
        Origin::Remote {
            manifest, config, ..
        } if blobs == Blobs::ManifestsOnly => {
            out.write_blob(&img.image.descriptor.media_type, manifest)?;
            out.write_blob(&m.config.media_type, config)?;
        }
        Origin::Remote {
            by_digest, pull, ..
        } => {
            // The layers are needed: skopeo fetches the image, by digest, into a scratch
            // layout beside nothing of ours; its blobs are then checked into `out`.
            let scratch = tempfile::tempdir().context("making a scratch directory")?;
            let dest = format!("oci:{}:x", scratch.path().display());
            let got = oci::skopeo::pull(by_digest, &dest, pull, oci::skopeo::Digests::Preserve)?;
            if got != img.image.descriptor.digest {
                anyhow::bail!(
                    "{by_digest}: skopeo copied {got}, not the manifest read before ({})",
                    img.image.descriptor.digest
                );
            }
            let dir =
                cap_std::fs::Dir::open_ambient_dir(scratch.path(), cap_std::ambient_authority())
                    .context("opening the scratch layout")?;
            let layout = OciDir::open(dir, &dest)?;
            for desc in wanted {
                out.copy_blob_from(&layout, desc)
                    .with_context(|| format!("blob {}", desc.digest))?;
            }
        }
    }
    Ok(())
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
