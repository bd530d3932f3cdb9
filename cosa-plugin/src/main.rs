//! `cosa buildextend-container`: encapsulate a coreos-assembler build's ostree commit into an
//! oci-archive next to its meta.json and record it as `images.container`.

use anyhow::{bail, Context, Result};
use clap::Parser;
use cosa_plugin::{
    basearch, pushed_record, read_meta, record_artifact, record_push, sha256_file, MetaCheck,
    Workdir, DEFAULT_PUSH_KEY, IMAGE_KEY, LABEL_OSNAME,
};
use ostree_encap::{ChunkOptions, EncapsulateRequest, NoProgress, Target};
use std::path::PathBuf;
use std::process::ExitCode;

/// Build a chunked ostree container image (oci-archive) for a coreos-assembler build.
#[derive(Parser, Debug)]
#[command(
    name = "cosa buildextend-container",
    version,
    after_help = "Runs in a coreos-assembler working directory. The commit is read from tmp/repo; the \
                  image goes to builds/<id>/<arch>/<name>-<buildid>-container.<arch>.ociarchive and is \
                  recorded in meta.json as images.container. The parent build's image is used as \
                  --previous so layers stay stable between builds."
)]
struct Args {
    /// Build id, or `latest`.
    #[arg(long, default_value = "latest")]
    build: String,
    /// Architecture (default: this machine's).
    #[arg(long)]
    arch: Option<String>,
    /// The cosa working directory.
    #[arg(long, default_value = ".")]
    workdir: PathBuf,
    /// Rebuild even if the artifact exists.
    #[arg(long)]
    force: bool,
    /// Layout to keep: `none`, or a build id whose container image to follow (default: the
    /// parent build's, when it has one).
    #[arg(long)]
    previous: Option<String>,
    /// Extra image label KEY=VALUE.
    #[arg(long = "label", value_name = "KEY=VALUE")]
    labels: Vec<String>,
    /// Chunk layers besides the commit layer.
    #[arg(long, default_value_t = oci::keys::DEFAULT_MAX_LAYERS)]
    max_layers: usize,
    /// meta.json JSON schema (default: coreos-assembler's installed v1.json).
    #[arg(long, value_name = "FILE")]
    schema: Option<PathBuf>,
    /// Then push the image to DEST (docker://REGISTRY/REPO:TAG), digests unchanged, and
    /// record it in meta.json under --metajsonname (image, digest, tags).
    #[arg(long, value_name = "DEST")]
    push: Option<String>,
    #[command(flatten)]
    push_opts: ostree_encap::push::PushArgs,
    /// meta.json key for the push record.
    #[arg(long, default_value = DEFAULT_PUSH_KEY, value_name = "KEY")]
    metajsonname: String,
}

fn main() -> ExitCode {
    ostree_encap::exit::report(run(Args::parse()))
}

fn run(a: Args) -> Result<()> {
    let arch = a
        .arch
        .clone()
        .unwrap_or_else(|| basearch(std::env::consts::ARCH));
    let work = Workdir::open(&a.workdir)?;
    let build = work.find(&a.build, &arch)?.clone();
    let dir = work.build_dir(&build.id, &arch);
    let meta_path = dir.join("meta.json");
    if !meta_path.is_file() {
        bail!(
            "build {} has no {arch} meta.json ({})",
            build.id,
            meta_path.display()
        );
    }
    let check = MetaCheck::load(a.schema.as_deref())?;
    let meta = read_meta(&meta_path)?;
    check.check(&meta, &meta_path.display().to_string())?;
    let get = |k: &str| -> Result<String> {
        meta.get(k)
            .and_then(|v| v.as_str())
            .map(str::to_string)
            .with_context(|| format!("{}: no string {k:?}", meta_path.display()))
    };
    let (name, buildid, commit) = (get("name")?, get("buildid")?, get("ostree-commit")?);
    let file_name = format!("{name}-{buildid}-container.{arch}.ociarchive");
    let artifact = dir.join(&file_name);
    // The destination, its options and the signing key are checked before the long work.
    let push = match &a.push {
        Some(dest) => {
            pushed_record(std::slice::from_ref(dest), "", None)?;
            Some(a.push_opts.push(dest)?)
        }
        None if a.push_opts != Default::default() => {
            bail!("the push and signing options need --push")
        }
        None => None,
    };
    if artifact.exists() && !a.force {
        ostree_encap::out!("{file_name} already exists; skipping (use --force to rebuild)");
    } else {
        BuildJob {
            args: &a,
            work: &work,
            build: &build,
            arch: &arch,
            meta: &meta,
            dir: &dir,
            check: &check,
        }
        .encapsulate(name, commit, &file_name)?;
    }
    if let Some(push) = push {
        let pushed = push.run(&ostree_encap::ImageRef::Archive {
            path: artifact,
            tag: None,
        })?;
        let record = pushed_record(
            std::slice::from_ref(&pushed.destination),
            pushed.digest.as_str(),
            None,
        )?;
        record_push(&meta_path, &a.metajsonname, record, &check)?;
        ostree_encap::out!("{pushed}");
    }
    Ok(())
}

/// One build of one architecture, found and checked.
struct BuildJob<'a> {
    args: &'a Args,
    work: &'a Workdir,
    build: &'a cosa_plugin::BuildEntry,
    arch: &'a str,
    meta: &'a serde_json::Map<String, serde_json::Value>,
    dir: &'a std::path::Path,
    check: &'a MetaCheck,
}

impl BuildJob<'_> {
    /// Encapsulate the build's commit (`name`'s `commit`) into `file_name` next to its
    /// meta.json and record it there.
    fn encapsulate(&self, name: String, commit: String, file_name: &str) -> Result<()> {
        let BuildJob {
            args: a,
            work,
            build,
            arch,
            meta,
            dir,
            check,
        } = *self;
        let meta_path = dir.join("meta.json");
        let artifact = dir.join(file_name);
        let repo = work.root.join("tmp/repo");
        ensure_commit(&repo, &commit, meta, dir, &build.id)?;
        let previous = previous_image(a, work, &build.id, arch)?;
        let req = request(a, repo, commit, &name, arch, previous.as_deref())?;
        if artifact.exists() {
            // --force: the old artifact is read-only; the new one replaces it by rename.
            make_writable(&artifact)?;
        }
        let summary = ostree_encap::encapsulate_to(
            &req,
            &Target::Archive(artifact.clone()),
            &mut NoProgress,
        )?;
        let mut perms = std::fs::metadata(&artifact)?.permissions();
        perms.set_readonly(true);
        std::fs::set_permissions(&artifact, perms)
            .with_context(|| format!("making {} read-only", artifact.display()))?;
        let (sha256, size) = sha256_file(&artifact)?;
        record_artifact(
            &meta_path,
            serde_json::json!({"path": file_name, "sha256": sha256, "size": size, "skip-compression": true}),
            check,
        )?;
        ostree_encap::out!(
            "wrote {file_name}: {} layers, manifest {}{}",
            summary.layers.len(),
            summary.manifest_digest,
            previous
                .map(|p| format!(", layout kept from {}", p.display()))
                .unwrap_or_default()
        );
        Ok(())
    }
}

/// Make sure `commit` is in `repo` (cosa's tmp/repo, a cache it may have pruned): if not,
/// take it from the build's own ostree image, checking every object on the way in.
fn ensure_commit(
    repo: &std::path::Path,
    commit: &str,
    meta: &serde_json::Map<String, serde_json::Value>,
    dir: &std::path::Path,
    build_id: &str,
) -> Result<()> {
    if encapsulate::open(repo, commit).is_ok() {
        return Ok(());
    }
    let ostree_img = meta
        .get("images")
        .and_then(|i| i.get("ostree"))
        .and_then(|o| o.get("path"))
        .and_then(|p| p.as_str())
        .map(|p| dir.join(p))
        .filter(|p| p.is_file())
        .with_context(|| {
            format!("build {build_id} commit {commit} is not in tmp/repo, and the build has no images.ostree file to re-import it from")
        })?;
    eprintln!(
        "commit {commit} is not in tmp/repo; re-importing it from {}",
        ostree_img.display()
    );
    let (oci, _tmp) = ostree_encap::open_layout(&Target::Archive(ostree_img.clone()))
        .with_context(|| format!("reading {} (images.ostree)", ostree_img.display()))?;
    let r = ostree_encap::import(&oci, None, repo, None).with_context(|| {
        format!(
            "re-importing {} into {}",
            ostree_img.display(),
            repo.display()
        )
    })?;
    if r.commit != commit {
        bail!(
            "{} holds commit {}, but meta.json says ostree-commit {commit}",
            ostree_img.display(),
            r.commit
        );
    }
    Ok(())
}

/// The container image of the build whose layout this one keeps: `--previous ID`, none
/// with `--previous none`, else the parent build's if it has one.
fn previous_image(a: &Args, work: &Workdir, build_id: &str, arch: &str) -> Result<Option<PathBuf>> {
    Ok(match a.previous.as_deref() {
        Some("none") => None,
        Some(id) => Some(
            container_of(work, id, arch)?
                .with_context(|| format!("--previous {id}: that build has no {IMAGE_KEY} image"))?,
        ),
        None => work
            .parent(build_id, arch)
            .and_then(|p| container_of(work, &p.id, arch).ok().flatten()),
    })
}

/// The library request: labels (the OS name first), the build's arch, gzip, the previous
/// image's layout.
fn request(
    a: &Args,
    repo: PathBuf,
    commit: String,
    name: &str,
    arch: &str,
    previous: Option<&std::path::Path>,
) -> Result<EncapsulateRequest> {
    let mut labels = vec![(LABEL_OSNAME.to_string(), name.to_string())];
    for l in &a.labels {
        let (k, v) = l
            .split_once('=')
            .filter(|(k, _)| !k.is_empty())
            .with_context(|| format!("--label {l:?}: expected KEY=VALUE"))?;
        labels.push((k.to_string(), v.to_string()));
    }
    let previous = match previous {
        Some(p) => Some(std::sync::Arc::new(ostree_encap::open_previous(
            &p.display().to_string(),
        )?)),
        None => None,
    };
    Ok(EncapsulateRequest {
        repo,
        rev: commit,
        image: oci::spec::ImageOptions {
            labels,
            arch: Some(arch.to_string()),
            source_date_epoch: std::env::var("SOURCE_DATE_EPOCH")
                .ok()
                .filter(|s| !s.is_empty()),
            ..Default::default()
        },
        compression: compress::Compression::Gzip,
        tag: None,
        chunking: ChunkOptions {
            max_layers: a.max_layers,
            previous,
            ..Default::default()
        },
        jobs: 0,
        rootfs: None,
        format: Default::default(),
        sbom: None,
        provenance: false,
        composefs: None,
        base: None,
    })
}

fn make_writable(p: &std::path::Path) -> Result<()> {
    use std::os::unix::fs::PermissionsExt;
    std::fs::set_permissions(p, std::fs::Permissions::from_mode(0o644))
        .with_context(|| format!("{}", p.display()))
}

/// The container image recorded in build `id`'s meta.json, if any.
fn container_of(work: &Workdir, id: &str, arch: &str) -> Result<Option<PathBuf>> {
    let dir = work.build_dir(id, arch);
    let meta = read_meta(&dir.join("meta.json"))?;
    Ok(meta
        .get("images")
        .and_then(|i| i.get(IMAGE_KEY))
        .and_then(|c| c.get("path"))
        .and_then(|p| p.as_str())
        .map(|p| dir.join(p))
        .filter(|p| p.is_file()))
}
