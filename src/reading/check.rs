//! Reading images back: `verify` (everything an importer checks, and more) and `import`
//! into an ostree repository.

use crate::layer_objects::{LayerObjects, LayerReader};
use anyhow::{bail, Context, Result};
use oci::hashing::HashReader;
use oci::keys;
use oci::ocidir::ResolvedImage;
use oci::types::{Descriptor, Digest};
use oci::OciDir;
use serde::Serialize;
use std::collections::HashMap;
use std::io;
use std::path::{Path, PathBuf};
use verify::stream::Located;
use verify::{StreamVerifier, VerifiedCommit};

/// What `verify` checks beyond the image itself.
#[derive(Debug, Clone, Default)]
pub struct VerifyRequest {
    /// Tag to check (`None`: the only image).
    pub tag: Option<String>,
    /// A repo the commit must match.
    pub repo: Option<PathBuf>,
    /// With `repo`: a ref whose commit the image must carry.
    pub rev: Option<String>,
    /// GPG keyring file to verify the signature with.
    pub gpg_keyring: Option<PathBuf>,
    /// ed25519 public key (base64) or key file.
    pub ed25519_key: Option<String>,
    /// Require this tool's stream order too: `Some(true)` always, `Some(false)` never,
    /// `None` for images this tool wrote (recognised by their layer keys).
    pub strict: Option<bool>,
}

/// What `verify` found.
#[derive(Debug, Clone, Serialize, PartialEq, Eq)]
pub struct VerifyReport {
    /// The commit, recomputed.
    pub commit: String,
    /// The manifest digest.
    pub manifest_digest: Digest,
    /// Layers checked.
    pub layers: usize,
    /// Content objects checked.
    pub content_objects: usize,
    /// Metadata objects checked.
    pub metadata_objects: usize,
    /// Tree paths matched.
    pub paths: usize,
    /// Signature result, when a key was given.
    pub signature: Option<String>,
    /// Whether detached metadata is present.
    pub has_detached_metadata: bool,
    /// Whether this tool's own stream order was required too (`--strict`).
    pub strict: bool,
}

/// What `verify` found in a plain image (`--format plain`: the filesystem itself).
#[derive(Debug, Clone, Serialize, PartialEq, Eq)]
pub struct PlainReport {
    /// Always `plain`.
    pub format: &'static str,
    /// The manifest digest.
    pub manifest_digest: Digest,
    /// Layers checked (blob digest, diff_id, every entry applied).
    pub layers: usize,
    /// The tree it was compared with, if any.
    pub tree: Option<PathBuf>,
    /// Paths compared with the tree.
    pub paths: usize,
}

/// Whether the resolved image is in the ostree container format (it has an
/// `ostree.commit` label); `false` for a plain image. The caller resolves once and checks
/// that same image, so a tag moved in between cannot swap the image being checked.
pub fn is_ostree_image(img: &ResolvedImage) -> bool {
    img.config.labels().contains_key(keys::LABEL_COMMIT)
}

/// Check a plain image: every blob against its digest, every layer against its diff_id,
/// every entry applied (as `--from` applies them, hostile paths refused) to a work directory
/// under `$TMPDIR`; with `tree`, the result must equal it ([`crate::treecmp`], leaving out
/// the `prune` paths), every difference named.
///
/// # Errors
/// The first bad blob or entry; with `tree`, the differences.
pub fn verify_plain(
    oci: &OciDir,
    img: &ResolvedImage,
    tree: Option<&Path>,
    prune: &[String],
) -> Result<PlainReport> {
    let work = crate::workdir::WorkDir::create(&std::env::temp_dir())?;
    let flat = work.path().join("tree");
    std::fs::create_dir(&flat).with_context(|| format!("creating {}", flat.display()))?;
    crate::flatten::flatten(oci, img, &flat)?;
    let paths = match tree {
        None => 0,
        Some(tree) => {
            let c = crate::treecmp::compare(&flat, tree, prune)?;
            if c.total_differences > 0 {
                bail!(
                    "the image's filesystem differs from {} in {} path(s):\n  {}{}",
                    tree.display(),
                    c.total_differences,
                    c.differences.join("\n  "),
                    if c.total_differences > c.differences.len() {
                        "\n  ..."
                    } else {
                        ""
                    }
                );
            }
            c.paths
        }
    };
    Ok(PlainReport {
        format: "plain",
        manifest_digest: img.descriptor.digest.clone(),
        layers: img.manifest.layers.len(),
        tree: tree.map(Path::to_path_buf),
        paths,
    })
}

/// Read an image back the way an importer does and check everything.
///
/// # Errors
/// The first problem found, naming the blob, layer, entry, object or path.
pub fn verify(oci: &OciDir, req: &VerifyRequest) -> Result<VerifyReport> {
    let img = oci.resolve(req.tag.as_deref())?;
    verify_resolved(oci, &img, req)
}

/// [`verify()`] of an image the caller has resolved (`req.tag` is not looked at).
///
/// # Errors
/// As [`verify()`].
pub fn verify_resolved(
    oci: &OciDir,
    img: &ResolvedImage,
    req: &VerifyRequest,
) -> Result<VerifyReport> {
    check_image(oci, img, req, StreamVerifier::new()).map(|(r, _)| r)
}

/// Import an image's commit into the ostree repository at `repo_path` (created in archive
/// mode if it does not exist), checking everything `verify` checks. Objects are written as
/// they verify, inside one transaction; the commit is written last, and on any error the
/// transaction is aborted, so the repo never holds a commit from a bad image. With `branch`,
/// the branch is pointed at the commit.
///
/// # Errors
/// As [`verify()`], plus repository errors naming the repo.
pub fn import(
    oci: &OciDir,
    tag: Option<&str>,
    repo_path: &Path,
    branch: Option<&str>,
) -> Result<VerifyReport> {
    let img = oci.resolve(tag)?;
    import_resolved(oci, &img, repo_path, branch, Vec::new()).map(|(report, _)| report)
}

/// Import the resolved image `img`, the regular files of the layers marked in `locate` left
/// out of the repository and located instead.
fn import_resolved(
    oci: &OciDir,
    img: &ResolvedImage,
    repo_path: &Path,
    branch: Option<&str>,
    locate: Vec<bool>,
) -> Result<(VerifyReport, HashMap<String, Located>)> {
    verify::import::into_repo(repo_path, branch, |verifier| {
        let verifier = verifier.locate_layers(locate);
        let checked = check_image(oci, img, &VerifyRequest::default(), verifier)?;
        let commit = checked.0.commit.clone();
        Ok((checked, commit))
    })
}

/// [`import`] for serving: the regular files of the layers that can be read at any offset
/// ([`LayerReader`]) are checked like the rest but left out of the repository; the
/// returned [`LayerObjects`] makes them on request. Everything else is written as by
/// [`import`].
///
/// # Errors
/// As [`import`].
pub fn import_for_serving(
    oci: &OciDir,
    tag: Option<&str>,
    repo_path: &Path,
) -> Result<(VerifyReport, LayerObjects)> {
    let img = oci.resolve(tag)?;
    // Unlinked files beside the scratch repository hold the checkpoints' windows.
    let scratch = repo_path.parent().unwrap_or(repo_path);
    // Gzip layers without a block index are inflated once here, one per core.
    let readers =
        crate::parallel::each_in_order(&img.manifest.layers, crate::parallel::threads(0), |d| {
            Ok(LayerReader::open(oci, d, scratch))
        })?;
    let which = readers.iter().map(Option::is_some).collect();
    let (report, located) = import_resolved(oci, &img, repo_path, None, which)?;
    Ok((report, LayerObjects::new(readers, located)))
}

/// Check the resolved image `img` of `oci` (`req.tag` is not looked at: the caller resolved).
fn check_image(
    oci: &OciDir,
    img: &ResolvedImage,
    req: &VerifyRequest,
    verifier: StreamVerifier,
) -> Result<(VerifyReport, HashMap<String, Located>)> {
    let m = &img.manifest;
    // Our images carry a layer key on every layer; anything else came from another writer.
    let ours = m.layers.iter().all(|l| {
        l.annotations
            .as_ref()
            .is_some_and(|a| a.contains_key(keys::ANNOTATION_LAYER_KEY))
    });
    let strict = req.strict.unwrap_or(ours);
    let (ostree_layers, commit_label) = check_documents(img)?;
    let verified = check_layers(oci, img, ostree_layers, verifier.strict(strict))?;
    if verified.commit != commit_label {
        bail!(
            "the image carries commit {}, but its {} label says {commit_label}",
            verified.commit,
            keys::LABEL_COMMIT
        );
    }
    if let Some(repo) = &req.repo {
        check_against_repo(repo, req.rev.as_deref(), &verified)?;
    }
    let signature = check_signatures(req, &verified)?;
    let report = VerifyReport {
        commit: verified.commit,
        manifest_digest: img.descriptor.digest.clone(),
        layers: m.layers.len(),
        content_objects: verified.content_objects,
        metadata_objects: verified.metadata_objects,
        paths: verified.paths,
        signature,
        has_detached_metadata: verified.commitmeta.is_some(),
        strict,
    };
    Ok((report, verified.located))
}

/// The manifest and config agree with each other and with the format; returns how many
/// layers (from the first) hold the ostree commit (up to the final diff_id label), and the
/// commit the config's label names.
fn check_documents(img: &ResolvedImage) -> Result<(usize, String)> {
    let m = &img.manifest;
    if m.schema_version != 2 {
        bail!(
            "manifest {}: schemaVersion is {}, expected 2",
            img.descriptor.digest,
            m.schema_version
        );
    }
    if m.config.media_type != keys::media::CONFIG {
        bail!(
            "manifest {}: config media type is {}",
            img.descriptor.digest,
            m.config.media_type
        );
    }
    if m.layers.is_empty() {
        bail!("manifest {} has no layers", img.descriptor.digest);
    }
    let diff_ids = &img.config.rootfs.diff_ids;
    if diff_ids.len() != m.layers.len() {
        bail!(
            "config lists {} diff_ids for {} layers",
            diff_ids.len(),
            m.layers.len()
        );
    }
    if img.config.history.len() != m.layers.len() {
        bail!(
            "config has {} history entries for {} layers",
            img.config.history.len(),
            m.layers.len()
        );
    }
    let labels = img.config.labels();
    let commit_label = labels
        .get(keys::LABEL_COMMIT)
        .with_context(|| {
            format!(
                "config has no {} label: not an image in the ostree container format (a \
                 plain image, --format plain, is checked by unpacking it, e.g. with umoci)",
                keys::LABEL_COMMIT
            )
        })?
        .clone();
    let final_diffid = labels
        .get(keys::LABEL_FINAL_DIFFID)
        .with_context(|| format!("config has no {} label", keys::LABEL_FINAL_DIFFID))?;
    let n_final = diff_ids
        .iter()
        .filter(|d| d.as_str() == final_diffid)
        .count();
    if n_final != 1 {
        bail!(
            "{} {final_diffid} appears {n_final} times in rootfs.diff_ids (must be exactly once)",
            keys::LABEL_FINAL_DIFFID
        );
    }
    let ostree_layers = diff_ids
        .iter()
        .position(|d| d.as_str() == final_diffid)
        .unwrap_or(0)
        + 1;
    if let Some(ann) = &m.annotations {
        for (k, v) in &labels {
            if let Some(a) = ann.get(k) {
                if a != v {
                    bail!("manifest annotation {k}={a} differs from config label {k}={v}");
                }
            }
        }
    }
    for (i, layer) in m.layers.iter().enumerate().take(ostree_layers).skip(1) {
        let has = layer
            .annotations
            .as_ref()
            .is_some_and(|a| a.contains_key(keys::ANNOTATION_COMPONENTS));
        if !has {
            bail!(
                "layer {i} ({}) is a chunk layer without the {} annotation",
                layer.digest,
                keys::ANNOTATION_COMPONENTS
            );
        }
    }
    Ok((ostree_layers, commit_label))
}

/// Read the first `ostree_layers` layers through the verifier: every blob against its digest,
/// every decompressed stream against its diff_id; then the commit's tree.
fn check_layers(
    oci: &OciDir,
    img: &ResolvedImage,
    ostree_layers: usize,
    mut verifier: StreamVerifier,
) -> Result<VerifiedCommit> {
    let diff_ids = &img.config.rootfs.diff_ids;
    for (i, layer) in img.manifest.layers.iter().enumerate().take(ostree_layers) {
        check_blob(oci, layer).with_context(|| format!("layer {i}"))?;
        let blob = oci.open_blob(layer)?;
        let mut diff = HashReader::new(crate::codec::decompress(
            &layer.media_type,
            io::BufReader::new(blob),
        )?);
        verifier.layer(i, &mut diff)?;
        io::copy(&mut diff, &mut io::sink())
            .with_context(|| format!("layer {i}: reading to the end"))?;
        let actual = diff.digest();
        if actual != diff_ids[i] {
            bail!(
                "layer {i} ({}): uncompressed content hashes to {actual}, config says {}",
                layer.digest,
                diff_ids[i]
            );
        }
    }
    Ok(verifier.finish()?)
}

/// The signature checks asked for; the last one's result is reported.
fn check_signatures(req: &VerifyRequest, verified: &VerifiedCommit) -> Result<Option<String>> {
    let mut signature = None;
    if let Some(keyring) = &req.gpg_keyring {
        signature = Some(verify::signature::verify_gpg(
            &verified.commit,
            &verified.commit_bytes,
            verified.commitmeta.as_deref(),
            keyring,
        )?);
    }
    if let Some(key) = &req.ed25519_key {
        let keys = verify::signature::parse_ed25519_keys(key)?;
        let n = verify::signature::verify_ed25519(
            &verified.commit,
            &verified.commit_bytes,
            verified.commitmeta.as_deref(),
            &keys,
        )?;
        signature = Some(format!("{n} good ed25519 signature(s)"));
    }
    Ok(signature)
}

fn check_blob(oci: &OciDir, desc: &Descriptor) -> Result<()> {
    let mut r = oci.open_blob(desc)?;
    io::copy(&mut r, &mut io::sink()).with_context(|| format!("blob {}", desc.digest))?;
    Ok(())
}

fn check_against_repo(repo: &Path, rev: Option<&str>, verified: &VerifiedCommit) -> Result<()> {
    let src = encapsulate::open(repo, rev.unwrap_or(&verified.commit))?;
    if src.commit() != verified.commit {
        bail!(
            "the image carries commit {}, but {} in {} is {}",
            verified.commit,
            rev.unwrap_or("?"),
            repo.display(),
            src.commit()
        );
    }
    Ok(())
}
