//! `ostree-encap --repo R --ref REF ...` arguments → the library's [`EncapsulateRequest`].
//! Everything that can be checked without the repository is checked by the library
//! ([`EncapsulateRequest::validate`]), so the coreos-assembler plugin gets the same checks.

use super::args::{ComponentsArg, ComposefsArg, EncapArgs};
use anyhow::{bail, Context, Result};
use oci::keys;
use oci::spec::ImageOptions;
use ostree_encap::{EncapsulateRequest, Target};

/// `--prune PATH`s as tree paths (one parser for the main job and `verify`).
pub(crate) fn prune_paths(paths: &[String]) -> Result<Vec<String>> {
    paths
        .iter()
        .map(|p| encapsulate::rootfs::prune_path(p).map_err(anyhow::Error::msg))
        .collect()
}

fn key_value(flag: &str, s: &str) -> Result<(String, String)> {
    match s.split_once('=') {
        Some((k, v)) if !k.is_empty() => Ok((k.to_string(), v.to_string())),
        _ => bail!("{flag} {s:?}: expected KEY=VALUE"),
    }
}

/// An image the build reads (`--from`, `--base`): any source skopeo reaches, and the
/// `--src-*` options to reach it with.
fn source_image(
    flag: &str,
    value: &str,
    a: &EncapArgs,
) -> Result<(ostree_encap::ImageRef, oci::skopeo::PullOptions)> {
    let image = ostree_encap::ImageRef::parse_source(
        flag,
        value,
        ostree_encap::image_ref::Accept {
            manifest: false,
            remote: true,
        },
        &ostree_encap::image_ref::FileSystem,
    )?;
    let pull = oci::skopeo::PullOptions {
        authfile: a.src_authfile.clone(),
        tls_verify: a.src_tls_verify,
        cert_dir: a.src_cert_dir.clone(),
    };
    Ok((image, pull))
}

pub(crate) fn parse_request(a: &EncapArgs) -> Result<(EncapsulateRequest, Target)> {
    let tree = match (&a.rootfs, &a.from) {
        (Some(dir), _) => Some(ostree_encap::TreeInput::Dir(dir.clone())),
        (None, Some(image)) => {
            let (image, pull) = source_image("--from", image, a)?;
            Some(ostree_encap::TreeInput::Image(image, pull))
        }
        (None, None) => None,
    };
    let (repo, rev, rootfs) = match tree {
        Some(tree) => {
            let prune = prune_paths(&a.prune)?;
            let input = ostree_encap::RootfsInput { tree, prune };
            (Default::default(), String::new(), Some(input))
        }
        None => {
            if !a.prune.is_empty() {
                bail!(
                    "--prune leaves paths out of a --rootfs or --from tree; a commit is taken \
                     as it is"
                );
            }
            let repo = a
                .repo
                .clone()
                .context("--repo is required (the ostree repository to read), or --rootfs")?;
            let rev = a
                .rev
                .clone()
                .context("--ref is required (a branch, REMOTE:REF or commit checksum)")?;
            (repo, rev, None)
        }
    };
    let target = match (&a.oci_dir, &a.oci_archive) {
        (Some(d), None) => Target::Dir(d.clone()),
        (None, Some(f)) => Target::Archive(f.clone()),
        _ => bail!("one of --oci-dir or --oci-archive is required"),
    };
    let labels = a
        .labels
        .iter()
        .map(|s| key_value("--label", s))
        .collect::<Result<_>>()?;
    let annotations = a
        .annotations
        .iter()
        .map(|s| key_value("--annotation", s))
        .collect::<Result<_>>()?;
    let container_config = container_config(a)?;
    let compression = a.compression.into();
    let auto = a.components == ComponentsArg::Auto;
    let contentmeta = contentmeta(a)?;
    let previous = match &a.previous {
        Some(p) if p != "none" => Some(std::sync::Arc::new(ostree_encap::open_previous(p)?)),
        _ => None,
    };
    let chunking = ostree_encap::ChunkOptions {
        max_layers: a.max_layers,
        components: encapsulate::components::ComponentOptions {
            xattrs: auto && !a.no_xattr_components,
            packages: auto && !a.no_package_components,
            contentmeta,
        },
        previous,
        allow_many_layers: a.allow_many_layers,
    };
    let req = EncapsulateRequest {
        repo,
        rev,
        image: ImageOptions {
            labels,
            annotations,
            copymeta: a.copymeta.clone(),
            copymeta_opt: a.copymeta_opt.clone(),
            container_config,
            cmd: a.cmd.clone(),
            arch: a.arch.clone(),
            created: a.created.clone(),
            source_date_epoch: std::env::var("SOURCE_DATE_EPOCH")
                .ok()
                .filter(|s| !s.is_empty()),
            // The request's format decides (the library sets this from it again).
            plain: a.format == super::args::FormatArg::Plain,
        },
        compression,
        tag: a.tag.clone(),
        chunking,
        jobs: a.jobs,
        rootfs,
        format: a.format.into(),
        sbom: a.sbom.clone(),
        provenance: a.provenance,
        composefs: a.composefs.map(|c| match c {
            ComposefsArg::Inline => ostree_encap::composefs::Publish::Inline,
            ComposefsArg::Referrer => ostree_encap::composefs::Publish::Referrer,
        }),
        base: a
            .base
            .as_deref()
            .map(|b| source_image("--base", b, a))
            .transpose()?,
    };
    Ok((req, target))
}

/// `--config FILE`: the OCI config's `config` member, a JSON object.
fn container_config(a: &EncapArgs) -> Result<Option<serde_json::Map<String, serde_json::Value>>> {
    Ok(match &a.config {
        None => None,
        Some(p) => {
            let text = ostree_encap::read_option_file("--config", p, keys::MAX_CONFIG_FILE)?;
            let v: serde_json::Value = serde_json::from_slice(&text)
                .with_context(|| format!("invalid --config JSON in {}", p.display()))?;
            match v {
                serde_json::Value::Object(m) => Some(m),
                _ => bail!(
                    "--config {}: expected a JSON object (the OCI config's `config` member)",
                    p.display()
                ),
            }
        }
    })
}

/// `--contentmeta FILE`: ostree-ext's content-meta JSON.
fn contentmeta(a: &EncapArgs) -> Result<Option<encapsulate::components::ContentMeta>> {
    Ok(match &a.contentmeta {
        None => None,
        Some(p) => {
            let data =
                ostree_encap::read_option_file("--contentmeta", p, keys::MAX_CONTENTMETA_FILE)?;
            Some(encapsulate::components::ContentMeta::parse(
                &data,
                &format!("--contentmeta {}", p.display()),
            )?)
        }
    })
}
