//! `cosa buildextend-container-manifest`: join the per-architecture container images of one
//! build (each arch's meta.json `images.container`) into a multi-arch image index, push it
//! with every image, and record the push in every arch's meta.json as cosa's own
//! `push-container-manifest` does (`image`, this arch's `digest`, `manifest-list-digest`,
//! `tags`).

use anyhow::{bail, Context, Result};
use clap::Parser;
use cosa_plugin::{
    pushed_record, read_meta, record_push, MetaCheck, Workdir, DEFAULT_PUSH_KEY, IMAGE_KEY,
};
use std::path::PathBuf;
use std::process::ExitCode;

/// Push one build's per-architecture container images as one multi-arch image.
#[derive(Parser, Debug)]
#[command(
    name = "cosa buildextend-container-manifest",
    version,
    after_help = "Runs in a coreos-assembler working directory after `cosa buildextend-container` \
                  has made each architecture's image (builds/<id>/<arch>/meta.json images.container). \
                  The index is pushed to REPO:TAG for every --tag, and each arch's meta.json gets \
                  {image, digest, manifest-list-digest, tags} under --metajsonname.\n\n\
                  Example:\n  cosa buildextend-container-manifest --repo quay.io/fedora/fedora-coreos \
                  --tag 42.20250705.20.0 --tag stable --authfile auth.json"
)]
struct Args {
    /// Build id, or `latest`.
    #[arg(long, default_value = "latest")]
    build: String,
    /// Architectures to join (repeatable; default: every arch builds.json lists for the
    /// build).
    #[arg(long = "arch")]
    arches: Vec<String>,
    /// The cosa working directory.
    #[arg(long, default_value = ".")]
    workdir: PathBuf,
    /// Repository to push to, without transport or tag: REGISTRY/REPO.
    #[arg(long)]
    repo: String,
    /// Tag to push (repeatable; default: the build id).
    #[arg(long = "tag")]
    tags: Vec<String>,
    /// meta.json key for the push record.
    #[arg(long, default_value = DEFAULT_PUSH_KEY, value_name = "KEY")]
    metajsonname: String,
    #[command(flatten)]
    push_opts: ostree_encap::push::PushArgs,
    /// meta.json JSON schema (default: coreos-assembler's installed v1.json).
    #[arg(long, value_name = "FILE")]
    schema: Option<PathBuf>,
}

fn main() -> ExitCode {
    ostree_encap::exit::report(run(Args::parse()))
}

fn run(a: Args) -> Result<()> {
    let work = Workdir::open(&a.workdir)?;
    let first_arch = a.arches.first().cloned().unwrap_or_default();
    let build = if a.arches.is_empty() {
        work.builds
            .iter()
            .find(|b| a.build == "latest" || b.id == a.build)
            .with_context(|| format!("build {} is not in builds/builds.json", a.build))?
            .clone()
    } else {
        work.find(&a.build, &first_arch)?.clone()
    };
    let arches = if a.arches.is_empty() {
        build.arches.clone()
    } else {
        a.arches.clone()
    };
    let check = MetaCheck::load(a.schema.as_deref())?;
    // Each arch's image, from its meta.json.
    let mut images = Vec::new();
    let mut metas = Vec::new();
    for arch in &arches {
        if !build.arches.contains(arch) {
            bail!(
                "build {} has no {arch} (builds.json lists {:?})",
                build.id,
                build.arches
            );
        }
        let dir = work.build_dir(&build.id, arch);
        let meta_path = dir.join("meta.json");
        let meta = read_meta(&meta_path)?;
        check.check(&meta, &meta_path.display().to_string())?;
        let path = meta
            .get("images")
            .and_then(|i| i.get(IMAGE_KEY))
            .and_then(|c| c.get("path"))
            .and_then(|p| p.as_str())
            .map(|p| dir.join(p))
            .filter(|p| p.is_file())
            .with_context(|| {
                format!(
                    "build {} {arch} has no images.{IMAGE_KEY}: run `cosa buildextend-container \
                     --build {} --arch {arch}` first",
                    build.id, build.id
                )
            })?;
        images.push(path.display().to_string());
        metas.push(meta_path);
    }
    let tags = if a.tags.is_empty() {
        vec![build.id.clone()]
    } else {
        a.tags.clone()
    };
    let dests: Vec<String> = tags
        .iter()
        .map(|t| format!("docker://{}:{t}", a.repo))
        .collect();
    // Every destination and the signing key are checked before anything is written.
    pushed_record(&dests, "", None)?;
    let pushes = dests
        .iter()
        .map(|d| a.push_opts.push(d))
        .collect::<Result<Vec<_>>>()?;

    let opened = ostree_encap::index::open_images(&images, &Default::default())?;
    let scratch = tempfile::Builder::new()
        .prefix("container-manifest-")
        .tempdir_in(std::env::temp_dir())
        .context("making a directory for the index")?;
    let layout = scratch.path().join("index");
    let report = ostree_encap::output::into_dir(&layout, |out| {
        ostree_encap::index::write_index(
            out,
            &opened,
            Some("index"),
            false,
            ostree_encap::index::Blobs::All,
        )
    })?;
    let src = ostree_encap::ImageRef::Dir {
        path: layout,
        tag: Some("index".into()),
    };
    for p in &pushes {
        let pushed = p.run(&src)?;
        if pushed.digest != report.index_digest {
            bail!(
                "{}: the registry reports {} for the index we wrote as {}",
                pushed.destination,
                pushed.digest,
                report.index_digest
            );
        }
        ostree_encap::out!("{pushed}");
    }
    for entry in &report.manifests {
        let meta_path = &metas[entry.input];
        let record = pushed_record(
            &dests,
            entry.digest.as_str(),
            Some(report.index_digest.as_str()),
        )?;
        record_push(meta_path, &a.metajsonname, record, &check)?;
        ostree_encap::out!(
            "{:<10} {}  recorded in {}",
            arches[entry.input],
            entry.digest,
            meta_path.display()
        );
    }
    Ok(())
}
