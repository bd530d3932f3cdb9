//! The image's metadata as a plan: labels, annotations, timestamps, architecture and the
//! container config, computed from plain commit facts and options. Pure: no I/O, no clock.

use crate::keys::{self, meta, RESERVED_LABELS};
use crate::types::{Descriptor, Digest, History, ImageConfig, Manifest, Platform, RootFs};
use serde_json::{Map, Value};
use std::collections::BTreeMap;

/// Facts about the commit that the image metadata is made from.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct CommitFacts {
    /// Commit checksum.
    pub checksum: String,
    /// Commit timestamp (seconds since the epoch, UTC).
    pub timestamp: u64,
    /// Commit subject.
    pub subject: String,
    /// Commit metadata as strings: `Some` for string values, `None` for other types (so
    /// `--copymeta` can say "not a string" rather than "missing").
    pub metadata: BTreeMap<String, Option<String>>,
    /// Whether the metadata has `ostree.bootable` set to true.
    pub bootable: bool,
}

/// User choices that shape the image metadata.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct ImageOptions {
    /// `--label K=V`, in order; later wins.
    pub labels: Vec<(String, String)>,
    /// `--annotation K=V` (manifest only).
    pub annotations: Vec<(String, String)>,
    /// `--copymeta KEY`: required commit metadata string keys copied as labels.
    pub copymeta: Vec<String>,
    /// `--copymeta-opt KEY`: optional ones.
    pub copymeta_opt: Vec<String>,
    /// `--config FILE`: the OCI config's `config` member (Env, Entrypoint, Cmd, ...).
    pub container_config: Option<Map<String, Value>>,
    /// `--cmd ARG...`
    pub cmd: Option<Vec<String>>,
    /// `--arch`: an OCI or kernel architecture name.
    pub arch: Option<String>,
    /// `--created`: RFC 3339.
    pub created: Option<String>,
    /// `SOURCE_DATE_EPOCH`, as read by the caller (the library reads no environment).
    pub source_date_epoch: Option<String>,
    /// A plain image (`--format plain`, the filesystem itself): none of the labels that say
    /// an image is in the ostree container format (`ostree.commit`, `ostree.final-diffid`),
    /// which would send importers looking for a commit that is not there.
    pub plain: bool,
}

/// Why the image metadata cannot be made.
#[derive(Debug, thiserror::Error, PartialEq, Eq)]
pub enum SpecError {
    /// `--copymeta KEY` names a key the commit lacks.
    #[error("--copymeta {key}: the commit metadata has no key {key:?}")]
    MissingMeta {
        /// The key.
        key: String,
    },
    /// A copied key holds something other than a string.
    #[error("--copymeta {key}: the commit metadata value of {key:?} is not a string")]
    NotAString {
        /// The key.
        key: String,
    },
    /// A label the tool owns.
    #[error(
        "--label {key}: this label is set by ostree-encap from the commit and cannot be overridden"
    )]
    ReservedLabel {
        /// The key.
        key: String,
    },
    /// Bad `--created` or `SOURCE_DATE_EPOCH`.
    #[error("{what} {value:?} is not a valid time: {reason}")]
    BadTime {
        /// Which input.
        what: &'static str,
        /// The value.
        value: String,
        /// Details.
        reason: String,
    },
    /// Bad `--config` content.
    #[error("--config: {0}")]
    BadConfig(String),
    /// An annotation whose key is also a label: the manifest repeats every label as an
    /// annotation, and an importer checks that the two agree.
    #[error("--annotation {key}: the image has a label {key} (the manifest repeats every label); set it with --label, or pick another key")]
    AnnotationShadowsLabel {
        /// The key.
        key: String,
    },
    /// A tag outside the OCI reference grammar.
    #[error("--tag {tag:?}: {reason}")]
    BadTag {
        /// The tag.
        tag: String,
        /// What is wrong.
        reason: String,
    },
    /// An architecture that is not a GOARCH value or a known alias.
    #[error("{what} {arch:?} is not a known architecture (one of {known}, or x86_64, aarch64, i686, armv7hl)")]
    BadArch {
        /// Where it came from (`--arch`, or a commit metadata key).
        what: String,
        /// The value.
        arch: String,
        /// The GOARCH list.
        known: String,
    },
}

/// Check a tag against the OCI distribution spec's grammar, so skopeo and registries can
/// address it: `[A-Za-z0-9_][A-Za-z0-9._-]{0,127}`.
///
/// # Errors
/// [`SpecError::BadTag`] saying what is wrong.
pub fn check_tag(tag: &str) -> Result<(), SpecError> {
    let bad = |reason: &str| {
        Err(SpecError::BadTag {
            tag: tag.into(),
            reason: reason.into(),
        })
    };
    let Some(first) = tag.bytes().next() else {
        return bad("a tag cannot be empty");
    };
    if tag.len() > keys::MAX_TAG_LEN {
        return bad(&format!(
            "a tag has at most {} characters",
            keys::MAX_TAG_LEN
        ));
    }
    if !(first.is_ascii_alphanumeric() || first == b'_') {
        return bad("a tag starts with a letter, digit or _");
    }
    if !tag
        .bytes()
        .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'_' | b'.' | b'-'))
    {
        return bad("a tag holds only ASCII letters, digits, _ . and -");
    }
    Ok(())
}

/// The OCI architecture for `arch` (a GOARCH value or an alias).
///
/// # Errors
/// [`SpecError::BadArch`] naming `what` (the option or metadata key it came from).
pub fn checked_arch(arch: &str, what: &str) -> Result<String, SpecError> {
    let a = oci_arch(arch);
    if keys::GOARCH.contains(&a.as_str()) {
        Ok(a)
    } else {
        Err(SpecError::BadArch {
            what: what.into(),
            arch: arch.into(),
            known: keys::GOARCH.join(", "),
        })
    }
}

/// The planned image metadata, ready to be combined with the written layers.
#[derive(Debug, Clone, PartialEq)]
pub struct ImageSpec {
    /// Config labels (also copied to manifest annotations), without `ostree.final-diffid`,
    /// which needs the layers.
    pub labels: BTreeMap<String, String>,
    /// Extra manifest-only annotations.
    pub annotations: BTreeMap<String, String>,
    /// `created` of config and history, RFC 3339 UTC.
    pub created: String,
    /// OCI architecture.
    pub architecture: String,
    /// OCI os.
    pub os: String,
    /// The config's `config` member, without Labels (those are in `labels`).
    pub container_config: Map<String, Value>,
    /// History text of the commit layer.
    pub commit_layer_created_by: String,
    /// See [`ImageOptions::plain`].
    pub plain: bool,
}

/// One written layer, as the manifest needs it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LayerRecord {
    /// Blob descriptor (media type, digest, size, annotations).
    pub descriptor: Descriptor,
    /// `sha256:<hex>` of the uncompressed tar.
    pub diff_id: Digest,
    /// History text.
    pub created_by: String,
}

/// Map kernel/rpm architecture names to OCI's (`GOARCH`) names; OCI names pass through.
pub fn oci_arch(arch: &str) -> String {
    match arch {
        "x86_64" | "amd64" => "amd64",
        "aarch64" | "arm64" => "arm64",
        "ppc64le" => "ppc64le",
        "s390x" => "s390x",
        "riscv64" => "riscv64",
        "i686" | "i386" | "386" => "386",
        "armv7hl" | "armv7l" | "arm" => "arm",
        other => other,
    }
    .to_string()
}

/// Compute the image metadata.
///
/// `host_arch` is the fallback architecture (the caller passes the host's).
///
/// # Errors
/// [`SpecError`] naming the offending option or key.
pub fn image_spec(
    facts: &CommitFacts,
    opts: &ImageOptions,
    host_arch: &str,
) -> Result<ImageSpec, SpecError> {
    let mut container_config = opts.container_config.clone().unwrap_or_default();
    let labels = labels(facts, opts, &mut container_config)?;
    if let Some(cmd) = &opts.cmd {
        container_config.insert("Cmd".into(), Value::from(cmd.clone()));
    }
    let created = created_time(facts, opts)?;
    let architecture = architecture(facts, opts, host_arch)?;
    check_annotations(&opts.annotations, |k| labels.contains_key(k))?;
    let commit_layer_created_by = if opts.plain {
        format!("directories of ostree commit {}", short(&facts.checksum))
    } else if facts.subject.trim().is_empty() {
        format!("ostree commit {}", facts.checksum)
    } else {
        format!(
            "ostree commit {}: {}",
            short(&facts.checksum),
            facts.subject.trim()
        )
    };
    Ok(ImageSpec {
        labels,
        annotations: opts.annotations.iter().cloned().collect(),
        created,
        architecture,
        os: "linux".into(),
        container_config,
        commit_layer_created_by: truncate(commit_layer_created_by),
        plain: opts.plain,
    })
}

/// The image's labels, weakest first: `Labels` of `--config` (taken out of the container
/// config), then ours from the commit, `--copymeta`, and `--label`.
fn labels(
    facts: &CommitFacts,
    opts: &ImageOptions,
    container_config: &mut serde_json::Map<String, Value>,
) -> Result<BTreeMap<String, String>, SpecError> {
    let mut labels = BTreeMap::new();
    if let Some(v) = container_config.remove("Labels") {
        match v {
            Value::Object(m) => {
                for (k, v) in m {
                    let Value::String(s) = v else {
                        return Err(SpecError::BadConfig(format!("label {k:?} is not a string")));
                    };
                    labels.insert(k, s);
                }
            }
            Value::Null => {}
            _ => {
                return Err(SpecError::BadConfig(
                    "Labels must be an object of strings".into(),
                ))
            }
        }
    }
    if !opts.plain {
        labels.insert(keys::LABEL_COMMIT.to_string(), facts.checksum.clone());
    }
    if let Some(Some(v)) = facts.metadata.get(meta::VERSION) {
        labels.insert(keys::LABEL_VERSION.into(), v.clone());
    }
    if facts.bootable {
        labels.insert(keys::LABEL_BOOTABLE.into(), "true".into());
        labels.insert(keys::LABEL_BOOTC.into(), "1".into());
    }
    if let Some(Some(v)) = facts.metadata.get(meta::LINUX) {
        labels.insert(keys::LABEL_LINUX.into(), v.clone());
    }
    for (key, required) in opts
        .copymeta
        .iter()
        .map(|k| (k, true))
        .chain(opts.copymeta_opt.iter().map(|k| (k, false)))
    {
        match facts.metadata.get(key) {
            Some(Some(v)) => {
                labels.insert(key.clone(), v.clone());
            }
            Some(None) if required => return Err(SpecError::NotAString { key: key.clone() }),
            None if required => return Err(SpecError::MissingMeta { key: key.clone() }),
            _ => {}
        }
    }
    for (k, v) in &opts.labels {
        if RESERVED_LABELS.contains(&k.as_str()) {
            return Err(SpecError::ReservedLabel { key: k.clone() });
        }
        labels.insert(k.clone(), v.clone());
    }
    Ok(labels)
}

/// `--arch`, else the commit's architecture metadata, else the host's; as a GOARCH.
fn architecture(
    facts: &CommitFacts,
    opts: &ImageOptions,
    host_arch: &str,
) -> Result<String, SpecError> {
    match &opts.arch {
        Some(a) => checked_arch(a, "--arch"),
        None => match meta::ARCHITECTURE
            .iter()
            .find_map(|k| Some((*k, facts.metadata.get(*k).cloned().flatten()?)))
        {
            Some((k, a)) => {
                checked_arch(&a, &format!("commit metadata {k} (override with --arch)"))
            }
            None => checked_arch(host_arch, "the host architecture (set --arch)"),
        },
    }
}

/// Refuse annotations that would shadow a label (the manifest repeats every label, and an
/// importer checks that the two agree): reserved keys always, and keys `is_label` names.
/// Called twice: before any work with the `--label` keys (the library's request check),
/// and by [`image_spec`] with every label the image gets.
///
/// # Errors
/// [`SpecError::AnnotationShadowsLabel`] for the first such key.
pub fn check_annotations(
    annotations: &[(String, String)],
    is_label: impl Fn(&str) -> bool,
) -> Result<(), SpecError> {
    for (k, _) in annotations {
        if RESERVED_LABELS.contains(&k.as_str()) || is_label(k) {
            return Err(SpecError::AnnotationShadowsLabel { key: k.clone() });
        }
    }
    Ok(())
}

fn short(c: &str) -> &str {
    &c[..c.len().min(12)]
}

/// Cut history text at [`keys::MAX_CREATED_BY`] bytes on a char boundary.
pub fn truncate(s: String) -> String {
    truncate_to(s, keys::MAX_CREATED_BY)
}

/// Cut `s` to at most `max` bytes (at least 4) on a char boundary, marking the cut with `...`.
pub fn truncate_to(mut s: String, max: usize) -> String {
    if s.len() > max {
        let mut end = max.max(4) - 3;
        while !s.is_char_boundary(end) {
            end -= 1;
        }
        s.truncate(end);
        s.push_str("...");
    }
    s
}

/// The time given for the image, if any: `--created`, else `SOURCE_DATE_EPOCH` (seconds).
///
/// # Errors
/// [`SpecError::BadTime`] for a value that does not parse.
pub fn explicit_time(opts: &ImageOptions) -> Result<Option<i64>, SpecError> {
    use chrono::DateTime;
    Ok(if let Some(c) = &opts.created {
        Some(
            DateTime::parse_from_rfc3339(c)
                .map_err(|e| SpecError::BadTime {
                    what: "--created",
                    value: c.clone(),
                    reason: e.to_string(),
                })?
                .timestamp(),
        )
    } else if let Some(s) = &opts.source_date_epoch {
        Some(
            s.trim()
                .parse()
                .map_err(|e: std::num::ParseIntError| SpecError::BadTime {
                    what: "SOURCE_DATE_EPOCH",
                    value: s.clone(),
                    reason: e.to_string(),
                })?,
        )
    } else {
        None
    })
}

/// `--created`, else `SOURCE_DATE_EPOCH`, else the commit timestamp; always UTC with seconds
/// precision, so equal instants give equal bytes.
fn created_time(facts: &CommitFacts, opts: &ImageOptions) -> Result<String, SpecError> {
    use chrono::{DateTime, SecondsFormat, Utc};
    let secs: i64 = match explicit_time(opts)? {
        Some(t) => t,
        None => i64::try_from(facts.timestamp).map_err(|_| SpecError::BadTime {
            what: "commit timestamp",
            value: facts.timestamp.to_string(),
            reason: "out of range".into(),
        })?,
    };
    let t: DateTime<Utc> = DateTime::from_timestamp(secs, 0).ok_or_else(|| SpecError::BadTime {
        what: "timestamp",
        value: secs.to_string(),
        reason: "out of range".into(),
    })?;
    Ok(t.to_rfc3339_opts(SecondsFormat::Secs, true))
}

impl ImageSpec {
    /// The OCI config for these layers (commit layer first).
    pub fn config(&self, layers: &[LayerRecord]) -> ImageConfig {
        let mut labels = self.labels.clone();
        if let Some(last) = layers.last().filter(|_| !self.plain) {
            labels.insert(keys::LABEL_FINAL_DIFFID.into(), last.diff_id.to_string());
        }
        let mut cc = self.container_config.clone();
        cc.insert(
            "Labels".into(),
            Value::Object(
                labels
                    .into_iter()
                    .map(|(k, v)| (k, Value::String(v)))
                    .collect(),
            ),
        );
        ImageConfig {
            architecture: self.architecture.clone(),
            os: self.os.clone(),
            variant: None,
            created: self.created.clone(),
            config: cc,
            rootfs: RootFs {
                kind: "layers".into(),
                diff_ids: layers.iter().map(|l| l.diff_id.clone()).collect(),
            },
            history: layers
                .iter()
                .map(|l| History {
                    created: self.created.clone(),
                    created_by: l.created_by.clone(),
                })
                .collect(),
        }
    }

    /// The manifest: annotations repeat every label (some registries only show the
    /// manifest), plus `--annotation`s.
    pub fn manifest(
        &self,
        config: &ImageConfig,
        config_desc: Descriptor,
        layers: &[LayerRecord],
    ) -> Manifest {
        let mut annotations = config.labels();
        annotations.extend(self.annotations.clone());
        Manifest {
            schema_version: 2,
            media_type: keys::media::MANIFEST.into(),
            config: config_desc,
            layers: layers.iter().map(|l| l.descriptor.clone()).collect(),
            annotations: (!annotations.is_empty()).then_some(annotations),
        }
    }

    /// The platform of the manifest descriptor in index.json.
    pub fn platform(&self) -> Platform {
        Platform {
            architecture: self.architecture.clone(),
            os: self.os.clone(),
            extra: Default::default(),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn facts() -> CommitFacts {
        let mut metadata = BTreeMap::new();
        metadata.insert("version".into(), Some("42.1".into()));
        metadata.insert("ostree.linux".into(), Some("6.1.0-1".into()));
        metadata.insert("custom".into(), Some("x".into()));
        metadata.insert("list".into(), None);
        CommitFacts {
            checksum: "ab".repeat(32),
            timestamp: 1_743_465_600,
            subject: "Build 42".into(),
            metadata,
            bootable: true,
        }
    }

    #[test]
    fn an_annotation_may_not_shadow_a_label_the_image_has() {
        let opts = ImageOptions {
            annotations: vec![("org.opencontainers.image.version".into(), "9".into())],
            ..Default::default()
        };
        // The commit has a version, so the image has that label: refused.
        let e = image_spec(&facts(), &opts, "x86_64").unwrap_err();
        assert!(matches!(e, SpecError::AnnotationShadowsLabel { .. }), "{e}");
        // Without one, the key is free for an annotation.
        let mut f = facts();
        f.metadata.remove("version");
        let s = image_spec(&f, &opts, "x86_64").unwrap();
        assert_eq!(s.annotations["org.opencontainers.image.version"], "9");
        // Reserved keys never are.
        let reserved = [("ostree.commit".to_string(), "x".to_string())];
        assert!(check_annotations(&reserved, |_| false).is_err());
    }

    #[test]
    fn labels_from_commit() {
        let s = image_spec(&facts(), &ImageOptions::default(), "x86_64").unwrap();
        assert_eq!(s.labels["ostree.commit"], "ab".repeat(32));
        assert_eq!(s.labels["org.opencontainers.image.version"], "42.1");
        assert_eq!(s.labels["ostree.bootable"], "true");
        assert_eq!(s.labels["containers.bootc"], "1");
        assert_eq!(s.labels["ostree.linux"], "6.1.0-1");
        assert_eq!(s.created, "2025-04-01T00:00:00Z");
        assert_eq!(s.architecture, "amd64");
        let mut f = facts();
        f.bootable = false;
        let s = image_spec(&f, &ImageOptions::default(), "aarch64").unwrap();
        assert!(!s.labels.contains_key("ostree.bootable"));
        assert!(!s.labels.contains_key("containers.bootc"));
        assert_eq!(s.architecture, "arm64");
    }

    #[test]
    fn created_precedence() {
        let mut o = ImageOptions {
            source_date_epoch: Some("86400".into()),
            ..Default::default()
        };
        assert_eq!(
            image_spec(&facts(), &o, "x86_64").unwrap().created,
            "1970-01-02T00:00:00Z"
        );
        o.created = Some("2024-01-01T01:00:00+01:00".into());
        assert_eq!(
            image_spec(&facts(), &o, "x86_64").unwrap().created,
            "2024-01-01T00:00:00Z"
        );
        o.created = Some("yesterday".into());
        assert!(matches!(
            image_spec(&facts(), &o, "x86_64"),
            Err(SpecError::BadTime {
                what: "--created",
                ..
            })
        ));
        o.created = None;
        o.source_date_epoch = Some("soon".into());
        assert!(matches!(
            image_spec(&facts(), &o, "x86_64"),
            Err(SpecError::BadTime {
                what: "SOURCE_DATE_EPOCH",
                ..
            })
        ));
    }

    #[test]
    fn copymeta_and_labels() {
        let o = ImageOptions {
            copymeta: vec!["custom".into()],
            copymeta_opt: vec!["absent".into()],
            labels: vec![("a".into(), "1".into()), ("a".into(), "2".into())],
            ..Default::default()
        };
        let s = image_spec(&facts(), &o, "x86_64").unwrap();
        assert_eq!(s.labels["custom"], "x");
        assert_eq!(s.labels["a"], "2");
        assert!(!s.labels.contains_key("absent"));
        let o = ImageOptions {
            copymeta: vec!["absent".into()],
            ..Default::default()
        };
        assert_eq!(
            image_spec(&facts(), &o, "x86_64"),
            Err(SpecError::MissingMeta {
                key: "absent".into()
            })
        );
        let o = ImageOptions {
            copymeta: vec!["list".into()],
            ..Default::default()
        };
        assert_eq!(
            image_spec(&facts(), &o, "x86_64"),
            Err(SpecError::NotAString { key: "list".into() })
        );
        let o = ImageOptions {
            labels: vec![("ostree.commit".into(), "x".into())],
            ..Default::default()
        };
        assert!(matches!(
            image_spec(&facts(), &o, "x86_64"),
            Err(SpecError::ReservedLabel { .. })
        ));
    }

    #[test]
    fn config_labels_are_weakest_and_cmd_applies() {
        let mut cc = Map::new();
        cc.insert("Env".into(), serde_json::json!(["A=1"]));
        cc.insert(
            "Labels".into(),
            serde_json::json!({"ostree.commit": "fake", "mine": "yes"}),
        );
        let o = ImageOptions {
            container_config: Some(cc),
            cmd: Some(vec!["/bin/sh".into()]),
            ..Default::default()
        };
        let s = image_spec(&facts(), &o, "x86_64").unwrap();
        assert_eq!(s.labels["ostree.commit"], "ab".repeat(32));
        assert_eq!(s.labels["mine"], "yes");
        assert_eq!(s.container_config["Cmd"], serde_json::json!(["/bin/sh"]));
        assert_eq!(s.container_config["Env"], serde_json::json!(["A=1"]));
        assert!(!s.container_config.contains_key("Labels"));
        let mut bad = Map::new();
        bad.insert("Labels".into(), serde_json::json!({"n": 1}));
        let o = ImageOptions {
            container_config: Some(bad),
            ..Default::default()
        };
        assert!(matches!(
            image_spec(&facts(), &o, "x86_64"),
            Err(SpecError::BadConfig(_))
        ));
    }

    #[test]
    fn arch_from_metadata_then_option() {
        let mut f = facts();
        f.metadata
            .insert("coreos-assembler.basearch".into(), Some("s390x".into()));
        assert_eq!(
            image_spec(&f, &ImageOptions::default(), "x86_64")
                .unwrap()
                .architecture,
            "s390x"
        );
        let o = ImageOptions {
            arch: Some("aarch64".into()),
            ..Default::default()
        };
        assert_eq!(image_spec(&f, &o, "x86_64").unwrap().architecture, "arm64");
    }

    #[test]
    fn final_diffid_is_last_layer_and_annotations_mirror_labels() {
        let s = image_spec(
            &facts(),
            &ImageOptions {
                annotations: vec![("only.manifest".into(), "1".into())],
                ..Default::default()
            },
            "x86_64",
        )
        .unwrap();
        let digest = |d: &str| Digest::parse(&format!("sha256:{}", d.repeat(64))).unwrap();
        let layer = |d: &str, e: &str| LayerRecord {
            descriptor: Descriptor::new(keys::media::LAYER_GZIP, digest(d), 1),
            diff_id: digest(e),
            created_by: "x".into(),
        };
        let layers = [layer("1", "a"), layer("2", "b")];
        let cfg = s.config(&layers);
        let last = digest("b").to_string();
        assert_eq!(cfg.config["Labels"]["ostree.final-diffid"], last.as_str());
        assert_eq!(cfg.rootfs.diff_ids, vec![digest("a"), digest("b")]);
        assert_eq!(cfg.history.len(), 2);
        let m = s.manifest(
            &cfg,
            Descriptor::new(keys::media::CONFIG, digest("c"), 1),
            &layers,
        );
        let ann = m.annotations.unwrap();
        assert_eq!(ann["ostree.final-diffid"], last);
        assert_eq!(ann["ostree.commit"], "ab".repeat(32));
        assert_eq!(ann["only.manifest"], "1");
        assert!(!cfg.config["Labels"]
            .as_object()
            .unwrap()
            .contains_key("only.manifest"));
    }
}
