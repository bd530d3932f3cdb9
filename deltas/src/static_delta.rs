//! Static deltas: made by libostree between two images' commits, stored beside the newer
//! image as an OCI 1.1 artifact, and installed into the repositories `serve` and `mirror`
//! make, where `ostree pull` uses them.
//!
//! A static delta is libostree's own update format: the new commit's objects written as
//! operations against the old commit's (rollsum and bsdiff for changed files, whole objects
//! for new ones), packed into compressed parts listed by a superblock. A client that has the
//! old commit fetches the superblock and the parts instead of the changed objects, so an
//! update can cost less than the changed files themselves.
//!
//! The artifact (`oci::keys::delta`): an image manifest with `artifactType`
//! `application/vnd.ostree.static-delta.v1`, the empty config, the superblock and the parts
//! as blobs (each titled with its file name), annotations naming the two commits, and
//! `subject` pointing at the new image's manifest. It is found through the referrers tag
//! schema: the tag `sha256-<hex of the subject's digest>` on an image index listing the
//! referrers, which layouts and registries without the referrers API keep like any tag.
//! (Its entries carry the commits' annotations but no `artifactType`: see
//! [`write_artifact`].)
//!
//! Reproducible: for the same two commits libostree writes the same parts and the same
//! superblock but for one field, the time it ran. That field is set to the new commit's
//! timestamp ([`pin_timestamp`]), so the artifact's digest depends on the commits only.

use anyhow::{bail, Context, Result};
use oci::keys::{delta as keys, media};
use oci::types::{Descriptor, Digest, Index};
use oci::{OciDir, OciError};
use ostree::glib;
use serde::{Deserialize, Serialize};
use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

/// GVariant type of a delta superblock (libostree's `OSTREE_STATIC_DELTA_SUPERBLOCK_FORMAT`):
/// metadata, timestamp, from, to, the new commit, dependencies, parts, fallback objects.
const SUPERBLOCK_TYPE: &str = "(a{sv}tayay(a{sv}aya(say)sstayay)aya(uayttay)a(yaytt))";
/// Index of the timestamp in the superblock, and of it in the embedded commit.
const SUPERBLOCK_TIMESTAMP: usize = 1;
const SUPERBLOCK_COMMIT: usize = 4;
const COMMIT_TIMESTAMP: usize = 5;

/// A delta generated in a repository, read back.
#[derive(Debug)]
pub struct Delta {
    /// The commit it starts from.
    pub from: String,
    /// The commit it leads to.
    pub to: String,
    /// The superblock, its timestamp pinned to the new commit's.
    pub superblock: Vec<u8>,
    /// The parts in order: file name (`0`, `1`, ...) and path.
    pub parts: Vec<(String, PathBuf)>,
}

/// A delta stored as an artifact in a layout.
#[derive(Debug, Clone, Serialize)]
pub struct DeltaArtifact {
    /// The artifact manifest's digest.
    pub digest: Digest,
    /// The commit it starts from.
    pub from: String,
    /// The commit it leads to.
    pub to: String,
    /// Bytes of superblock and parts: what a client downloads for the delta.
    pub size: u64,
    /// Number of parts.
    pub parts: usize,
    #[serde(skip)]
    layers: Vec<Descriptor>,
}

/// What `ostree-encap delta` did.
#[derive(Debug, Clone, Serialize)]
pub struct DeltaReport {
    /// The image the delta leads to (the artifact's subject).
    pub subject: Digest,
    /// The tag that lists the image's referrers.
    pub referrers_tag: String,
    /// The stored delta.
    pub artifact: DeltaArtifact,
}

/// The name of the delta from `from` to `to` under a repository's `deltas/`: each checksum
/// in ostree's modified base64 (`/` as `_`, no padding), the first two characters of the
/// first as a directory.
///
/// # Errors
/// A checksum that is not 64 hex digits.
pub fn delta_dir(from: &str, to: &str) -> Result<String> {
    let (f, t) = (mbase64(from)?, mbase64(to)?);
    Ok(format!("{}/{}-{t}", &f[..2], &f[2..]))
}

fn mbase64(checksum: &str) -> Result<String> {
    use base64::Engine as _;
    let bytes = hex::decode(checksum)
        .ok()
        .filter(|b| b.len() == 32)
        .with_context(|| format!("{checksum:?} is not a commit checksum"))?;
    Ok(base64::engine::general_purpose::STANDARD_NO_PAD
        .encode(bytes)
        .replace('/', "_"))
}

fn is_checksum(s: &str) -> bool {
    s.len() == 64 && s.bytes().all(|b| matches!(b, b'0'..=b'9' | b'a'..=b'f'))
}

fn parse_superblock(bytes: &[u8]) -> Result<glib::Variant> {
    let ty = glib::VariantTy::new(SUPERBLOCK_TYPE).context("the superblock type")?;
    let v = glib::Variant::from_data_with_type(bytes, ty);
    if !v.is_normal_form() {
        bail!("the delta superblock is not a well-formed GVariant");
    }
    Ok(v)
}

/// Set the superblock's timestamp (the time libostree ran) to the new commit's, which the
/// superblock embeds; every other byte stays as it is.
///
/// # Errors
/// Bytes that are not a superblock.
pub fn pin_timestamp(superblock: &[u8]) -> Result<Vec<u8>> {
    let v = parse_superblock(superblock)?;
    let commit_time = v
        .child_value(SUPERBLOCK_COMMIT)
        .child_value(COMMIT_TIMESTAMP);
    let children: Vec<glib::Variant> = (0..v.n_children())
        .map(|i| {
            if i == SUPERBLOCK_TIMESTAMP {
                // Both are big-endian `t`: the value is copied as it is.
                commit_time.clone()
            } else {
                v.child_value(i)
            }
        })
        .collect();
    Ok(glib::Variant::tuple_from_iter(children).data().to_vec())
}

/// The commits a superblock says it goes between: (from, to); from is `None` for a delta
/// from nothing.
///
/// # Errors
/// Bytes that are not a superblock.
pub fn superblock_commits(superblock: &[u8]) -> Result<(Option<String>, String)> {
    let v = parse_superblock(superblock)?;
    let checksum = |i: usize| -> Result<Vec<u8>> {
        Ok(v.child_value(i)
            .fixed_array::<u8>()
            .context("a checksum in the delta superblock")?
            .to_vec())
    };
    let (from, to) = (checksum(2)?, checksum(3)?);
    if to.len() != 32 || !(from.is_empty() || from.len() == 32) {
        bail!("the delta superblock's checksums are not 32 bytes");
    }
    Ok((
        (!from.is_empty()).then(|| hex::encode(from)),
        hex::encode(to),
    ))
}

/// Generate the delta from `from` to `to` (both in `repo`, at `repo_path`) with libostree's
/// generator, its default options (rollsum and bsdiff, lzma parts), and read it back.
///
/// # Errors
/// libostree's, naming the two commits; unreadable files.
pub fn generate(repo: &ostree::Repo, repo_path: &Path, from: &str, to: &str) -> Result<Delta> {
    // libostree 2022.7 reads `params` without checking for NULL: an empty a{sv}, never None.
    let params = glib::VariantDict::new(None).end();
    repo.static_delta_generate(
        ostree::StaticDeltaGenerateOpt::Major,
        Some(from),
        to,
        None,
        Some(&params),
        ostree::gio::Cancellable::NONE,
    )
    .with_context(|| format!("generating the static delta {from} → {to}"))?;
    let dir = repo_path.join("deltas").join(delta_dir(from, to)?);
    let superblock = std::fs::read(dir.join(keys::SUPERBLOCK_FILE))
        .with_context(|| format!("reading {}", dir.display()))?;
    let superblock = pin_timestamp(&superblock)?;
    // Write the pinned superblock back, so the repository holds what the artifact does.
    std::fs::write(dir.join(keys::SUPERBLOCK_FILE), &superblock)
        .with_context(|| format!("writing {}", dir.display()))?;
    let mut parts: Vec<(u32, String, PathBuf)> = Vec::new();
    for e in std::fs::read_dir(&dir).with_context(|| format!("listing {}", dir.display()))? {
        let e = e.with_context(|| format!("listing {}", dir.display()))?;
        let name = e.file_name().to_string_lossy().into_owned();
        if name == keys::SUPERBLOCK_FILE {
            continue;
        }
        let n: u32 = name
            .parse()
            .with_context(|| format!("unexpected file {name:?} in {}", dir.display()))?;
        parts.push((n, name, e.path()));
    }
    parts.sort();
    Ok(Delta {
        from: from.into(),
        to: to.into(),
        superblock,
        parts: parts.into_iter().map(|(_, n, p)| (n, p)).collect(),
    })
}

/// The tag listing the referrers of the image `subject` (the OCI referrers tag schema).
pub use oci::referrers::tag as referrers_tag;
use oci::referrers::titled;

fn commits_annotations(from: &str, to: &str) -> BTreeMap<String, String> {
    BTreeMap::from([
        (keys::ANNOTATION_FROM.to_string(), from.to_string()),
        (keys::ANNOTATION_TO.to_string(), to.to_string()),
    ])
}

/// Store `delta` in `out` as an artifact whose subject is `subject` (the image of its new
/// commit), and list it under the subject's referrers tag beside the referrers already
/// there; a delta between the same two commits made before is replaced.
///
/// # Errors
/// I/O errors; an existing referrers tag that is not a readable index.
pub fn write_artifact(out: &OciDir, subject: &Descriptor, delta: &Delta) -> Result<DeltaArtifact> {
    let mut layers = vec![titled(
        out.write_blob(keys::SUPERBLOCK, &delta.superblock)?,
        keys::SUPERBLOCK_FILE,
    )];
    for (name, path) in &delta.parts {
        // A part is at most libostree's max-chunk-size (32 MiB) before compression.
        let data = std::fs::read(path).with_context(|| format!("reading {}", path.display()))?;
        layers.push(titled(out.write_blob(keys::PART, &data)?, name));
    }
    let annotations = commits_annotations(&delta.from, &delta.to);
    let same_delta = |d: &Descriptor| {
        is_delta_entry(d)
            && d.annotations.as_ref().is_some_and(|a| {
                a.get(keys::ANNOTATION_FROM) == Some(&delta.from)
                    && a.get(keys::ANNOTATION_TO) == Some(&delta.to)
            })
    };
    let written = oci::referrers::add(
        out,
        subject,
        keys::ARTIFACT_TYPE,
        &layers,
        &annotations,
        same_delta,
    )?;
    Ok(DeltaArtifact {
        digest: written.digest,
        from: delta.from.clone(),
        to: delta.to.clone(),
        size: layers.iter().map(|l| l.size).sum(),
        parts: delta.parts.len(),
        layers,
    })
}

/// A referrers entry that names a delta's two commits (its manifest says the rest).
fn is_delta_entry(d: &Descriptor) -> bool {
    d.media_type == media::MANIFEST
        && d.annotations.as_ref().is_some_and(|a| {
            a.contains_key(keys::ANNOTATION_FROM) && a.contains_key(keys::ANNOTATION_TO)
        })
}

/// The parts of an artifact manifest this module reads.
#[derive(Deserialize)]
struct ArtifactManifest {
    #[serde(rename = "artifactType")]
    artifact_type: Option<String>,
    layers: Vec<Descriptor>,
    subject: Option<Descriptor>,
    annotations: Option<BTreeMap<String, String>>,
}

/// The deltas stored in `oci` that lead to the image `subject`; none when it has no
/// referrers tag.
///
/// # Errors
/// A referrers index or artifact that cannot be read, or one that does not say what a
/// delta must (its subject, two commit checksums, a superblock and numbered parts).
pub fn artifacts_for(oci: &OciDir, subject: &Digest) -> Result<Vec<DeltaArtifact>> {
    let tag = referrers_tag(subject);
    let desc = match oci.find(Some(&tag)) {
        Ok(d) => d,
        Err(OciError::NoSuchImage(_)) => return Ok(Vec::new()),
        Err(e) => return Err(e.into()),
    };
    if desc.media_type != media::INDEX {
        return Ok(Vec::new());
    }
    let index: Index = oci.read_json_blob(&desc, "referrers index")?;
    let mut out = Vec::new();
    for d in index.manifests.iter().filter(|d| is_delta_entry(d)) {
        let what = format!("static delta {}", d.digest);
        let m: ArtifactManifest = oci.read_json_blob(d, &what)?;
        if m.artifact_type.as_deref() != Some(keys::ARTIFACT_TYPE) {
            bail!(
                "{what}: its manifest has no artifactType {}",
                keys::ARTIFACT_TYPE
            );
        }
        if m.subject.as_ref().map(|s| &s.digest) != Some(subject) {
            bail!("{what}: listed under {tag} but its subject is another image");
        }
        let a = m.annotations.unwrap_or_default();
        let commit = |k: &str| -> Result<String> {
            a.get(k)
                .filter(|c| is_checksum(c))
                .cloned()
                .with_context(|| format!("{what}: no commit checksum in annotation {k}"))
        };
        let (from, to) = (commit(keys::ANNOTATION_FROM)?, commit(keys::ANNOTATION_TO)?);
        let mut superblocks = 0;
        for l in &m.layers {
            match layer_title(l) {
                Some(keys::SUPERBLOCK_FILE) if l.media_type == keys::SUPERBLOCK => superblocks += 1,
                Some(t) if l.media_type == keys::PART && is_part_name(t) => {}
                _ => bail!(
                    "{what}: blob {} is neither its superblock nor a part",
                    l.digest
                ),
            }
        }
        if superblocks != 1 {
            bail!("{what}: {superblocks} superblocks");
        }
        out.push(DeltaArtifact {
            digest: d.digest.clone(),
            from,
            to,
            size: m.layers.iter().map(|l| l.size).sum(),
            parts: m.layers.len() - 1,
            layers: m.layers,
        });
    }
    Ok(out)
}

fn layer_title(l: &Descriptor) -> Option<&str> {
    l.annotations
        .as_ref()
        .and_then(|a| a.get(keys::ANNOTATION_TITLE))
        .map(String::as_str)
}

/// A part's file name: a decimal number (never a path).
fn is_part_name(t: &str) -> bool {
    !t.is_empty() && t.len() <= 10 && t.bytes().all(|b| b.is_ascii_digit())
}

/// Write the delta `artifact` of `oci` into the repository at `repo_path` (its `deltas/`),
/// each blob checked against its digest, the superblock against the two commits the
/// artifact names. A summary written afterwards lists it.
///
/// # Errors
/// A damaged blob, a superblock for other commits, I/O errors.
pub fn install(oci: &OciDir, artifact: &DeltaArtifact, repo_path: &Path) -> Result<()> {
    use std::io::Read as _;
    let dir = repo_path
        .join("deltas")
        .join(delta_dir(&artifact.from, &artifact.to)?);
    // Written whole in the repository's tmp/ first and renamed into place: a summary never
    // lists a delta with a part missing, whatever stops this.
    let tmp_root = repo_path.join("tmp");
    std::fs::create_dir_all(&tmp_root)
        .with_context(|| format!("creating {}", tmp_root.display()))?;
    let staging = tempfile::Builder::new()
        .prefix("ostree-encap-delta-")
        .tempdir_in(&tmp_root)
        .with_context(|| format!("creating a directory in {}", tmp_root.display()))?;
    for l in &artifact.layers {
        let name = layer_title(l).context("a delta blob without a title")?;
        let mut data = Vec::new();
        oci.open_blob(l)?
            .read_to_end(&mut data)
            .with_context(|| format!("static delta {}: blob {}", artifact.digest, l.digest))?;
        if name == keys::SUPERBLOCK_FILE {
            let (from, to) = superblock_commits(&data)?;
            if from.as_deref() != Some(artifact.from.as_str()) || to != artifact.to {
                bail!(
                    "static delta {}: its superblock goes from {from:?} to {to}, not {} to {}",
                    artifact.digest,
                    artifact.from,
                    artifact.to
                );
            }
        }
        std::fs::write(staging.path().join(name), &data)
            .with_context(|| format!("writing {}/{name}", staging.path().display()))?;
    }
    let parent = dir.parent().context("the delta directory has a parent")?;
    std::fs::create_dir_all(parent).with_context(|| format!("creating {}", parent.display()))?;
    // The same delta installed before (a mirror run again) is replaced.
    match std::fs::remove_dir_all(&dir) {
        Err(e) if e.kind() != std::io::ErrorKind::NotFound => {
            return Err(e).with_context(|| format!("replacing {}", dir.display()))
        }
        _ => {}
    }
    std::fs::rename(staging.keep(), &dir)
        .with_context(|| format!("moving the delta into {}", dir.display()))?;
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn delta_names_are_ostrees_modified_base64() {
        // As `ostree static-delta generate` names the directory (seen with ostree 2022.7).
        let from = "a3f0c1d2e4b5968778695a4b3c2d1e0f00112233445566778899aabbccddeeff";
        let to = "ffeeddccbbaa99887766554433221100f0e1d2c3b4a5968778695a4b3c2d1e0f";
        let d = delta_dir(from, to).unwrap();
        let (head, rest) = d.split_once('/').unwrap();
        assert_eq!(head.len(), 2);
        let (f, t) = rest.split_once('-').unwrap();
        assert_eq!(head.len() + f.len(), 43);
        assert_eq!(t.len(), 43);
        assert!(!d.contains('=') && d.matches('/').count() == 1, "{d}");
        assert!(delta_dir("abc", to).is_err());
    }

    #[test]
    fn part_names_are_numbers_never_paths() {
        assert!(is_part_name("0") && is_part_name("12"));
        for bad in ["", "../x", "superblock", "1/2", "-1", "12345678901"] {
            assert!(!is_part_name(bad), "{bad}");
        }
    }

    /// A superblock as libostree lays it out, made here with GLib.
    fn superblock(generated_at: u64, commit_time: u64, from: &[u8], to: &[u8]) -> Vec<u8> {
        use glib::prelude::*;
        let empty_meta = glib::VariantDict::new(None).end();
        let bytes = |b: &[u8]| glib::Variant::array_from_fixed_array(b);
        let commit = glib::Variant::tuple_from_iter([
            empty_meta.clone(),
            bytes(&[]),
            glib::Variant::array_from_iter_with_type(
                glib::VariantTy::new("(say)").unwrap(),
                Vec::<glib::Variant>::new(),
            ),
            "subject".to_variant(),
            "body".to_variant(),
            commit_time.to_be().to_variant(),
            bytes(&[1; 32]),
            bytes(&[2; 32]),
        ]);
        let v = glib::Variant::tuple_from_iter([
            empty_meta,
            generated_at.to_be().to_variant(),
            bytes(from),
            bytes(to),
            commit,
            bytes(&[]),
            glib::Variant::array_from_iter_with_type(
                glib::VariantTy::new("(uayttay)").unwrap(),
                Vec::<glib::Variant>::new(),
            ),
            glib::Variant::array_from_iter_with_type(
                glib::VariantTy::new("(yaytt)").unwrap(),
                Vec::<glib::Variant>::new(),
            ),
        ]);
        assert_eq!(v.type_().as_str(), SUPERBLOCK_TYPE);
        v.data().to_vec()
    }

    #[test]
    fn the_generation_time_is_pinned_to_the_commits_and_nothing_else_changes() {
        let (from, to) = ([0xaa; 32], [0xbb; 32]);
        let a = superblock(1_700_000_000, 1_600_000_000, &from, &to);
        let b = superblock(1_800_000_000, 1_600_000_000, &from, &to);
        assert_ne!(a, b);
        let (pa, pb) = (pin_timestamp(&a).unwrap(), pin_timestamp(&b).unwrap());
        assert_eq!(pa, pb, "generated at different times, the same bytes");
        assert_eq!(pa, superblock(1_600_000_000, 1_600_000_000, &from, &to));
        assert_eq!(
            superblock_commits(&pa).unwrap(),
            (Some(hex::encode(from)), hex::encode(to))
        );
        assert_eq!(
            superblock_commits(&superblock(0, 0, &[], &to)).unwrap(),
            (None, hex::encode(to))
        );
        assert!(superblock_commits(&superblock(0, 0, &[1, 2], &to)).is_err());
        assert!(pin_timestamp(b"not a superblock").is_err());
    }
}
