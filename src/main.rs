//! The `ostree-encap` command line: parses arguments into plain requests, runs the library,
//! renders the result as text or `--json`.

use anyhow::{bail, Context, Result};
use clap::{Args, Parser, Subcommand};
use manifest::spec::ImageOptions;
use manifest::{keys, Compression};
use ostree_encap::out;
use ostree_encap::{EncapsulateRequest, Progress, Target, VerifyRequest};
use std::io::{IsTerminal, Write};
use std::path::PathBuf;
use std::process::ExitCode;

const AFTER_HELP: &str = "\
Examples:
  Encapsulate a branch into an OCI layout directory, tagged:
    ostree-encap --repo repo --ref fedora/x86_64/coreos/stable --oci-dir out --tag stable

  Write an oci-archive (what coreos-assembler stores) with zstd layers:
    ostree-encap --repo repo --ref 3f2a...e9 --oci-archive fcos.ociarchive --compression zstd

  Check an image the way an importer reads it, including the GPG signature:
    ostree-encap verify --oci-dir out --tag stable --repo repo --gpg-keyring key.gpg

Images are reproducible: the same commit gives the same digests on every run and from every
repo mode. Timestamps come from the commit (or --created / SOURCE_DATE_EPOCH), never the clock.

Rebuilds are cheap: building the next commit into the directory that holds the last one (or
with --previous) reuses unchanged layers, and for changed gzip layers the compressed blocks
that did not change (found through DIR/ostree-encap-blocks/, a cache beside the blobs; each
reused block is checked first, so the bytes are those of a fresh build).";

/// Turn an ostree commit into an OCI image in the ostree container format.
#[derive(Parser, Debug)]
#[command(
    name = "ostree-encap",
    version,
    about,
    long_about = "Turn an ostree commit into an OCI container image in the ostree container \
                  format (\"chunked v1\") that ostree-ext, rpm-ostree and bootc import back to the \
                  same commit checksum, signatures included.",
    after_help = AFTER_HELP,
    args_conflicts_with_subcommands = true
)]
struct Cli {
    #[command(subcommand)]
    command: Option<Command>,
    #[command(flatten)]
    encap: EncapArgs,
}

#[derive(Subcommand, Debug)]
enum Command {
    /// Read an image back the way an importer does and check every blob, object and signature.
    Verify(VerifyArgs),
    /// What updating from OLD to NEW costs a client: reused and new layers, bytes to download.
    Diff(DiffArgs),
    /// Copy an image to a registry (or any skopeo destination) with its digests unchanged.
    Push(PushCmdArgs),
    /// Import an image's commit into an ostree repo, checking every object as it is written.
    Import(ImportArgs),
    /// Write man pages and shell completions generated from this CLI (used by `make install`).
    #[command(hide = true)]
    GenerateDocs {
        /// Directory for man pages (section 1).
        #[arg(long)]
        man_dir: PathBuf,
        /// Directory for completions (bash, zsh, fish files).
        #[arg(long)]
        completions_dir: PathBuf,
    },
}

/// Options of the destination, shared by `--push` and `push`.
#[derive(Args, Debug, Default)]
struct PushArgs {
    /// Auth file for the destination registry (auth.json format); its content is never printed.
    #[arg(long, value_name = "FILE")]
    authfile: Option<PathBuf>,
    /// Require HTTPS and verify certificates of the destination (default true).
    #[arg(long, value_name = "BOOL")]
    dest_tls_verify: Option<bool>,
    /// Directory with certificates (*.crt, *.cert, *.key) for the destination.
    #[arg(long, value_name = "DIR")]
    cert_dir: Option<PathBuf>,
    /// Write the pushed manifest digest to FILE.
    #[arg(long, value_name = "FILE")]
    digestfile: Option<PathBuf>,
}

impl PushArgs {
    fn options(&self) -> manifest::skopeo::PushOptions {
        manifest::skopeo::PushOptions {
            authfile: self.authfile.clone(),
            tls_verify: self.dest_tls_verify,
            cert_dir: self.cert_dir.clone(),
            digestfile: self.digestfile.clone(),
        }
    }
}

/// An image to read: an OCI layout directory or an oci-archive, and a tag.
#[derive(Args, Debug)]
struct ImageSource {
    /// OCI layout directory.
    #[arg(
        long,
        value_name = "DIR",
        required_unless_present = "oci_archive",
        conflicts_with = "oci_archive"
    )]
    oci_dir: Option<PathBuf>,
    /// oci-archive file.
    #[arg(long, value_name = "FILE")]
    oci_archive: Option<PathBuf>,
    /// Tag of the image (default: the only image in the layout).
    #[arg(long)]
    tag: Option<String>,
}

impl ImageSource {
    fn target(&self) -> Result<Target> {
        Ok(match (&self.oci_dir, &self.oci_archive) {
            (Some(d), _) => Target::Dir(d.clone()),
            (None, Some(f)) => Target::Archive(f.clone()),
            (None, None) => bail!("one of --oci-dir or --oci-archive is required"),
        })
    }
}

#[derive(Args, Debug)]
struct ImportArgs {
    #[command(flatten)]
    image: ImageSource,
    /// Repository to import into (created in archive mode if missing).
    #[arg(long, value_name = "PATH")]
    repo: PathBuf,
    /// Point this branch at the imported commit.
    #[arg(long, value_name = "BRANCH")]
    branch: Option<String>,
    /// Print the report as JSON.
    #[arg(long)]
    json: bool,
}

#[derive(Args, Debug)]
struct PushCmdArgs {
    /// The image: an OCI layout DIR or DIR:TAG.
    #[arg(
        long,
        value_name = "DIR[:TAG]",
        required_unless_present = "oci_archive",
        conflicts_with = "oci_archive"
    )]
    oci_dir: Option<String>,
    /// The image as an oci-archive file.
    #[arg(long, value_name = "FILE")]
    oci_archive: Option<PathBuf>,
    /// Destination, with its transport: docker://registry/repo:tag, oci:DIR:TAG, ...
    dest: String,
    #[command(flatten)]
    push: PushArgs,
    /// Print the result as JSON.
    #[arg(long)]
    json: bool,
}

#[derive(Args, Debug)]
struct DiffArgs {
    /// The image the client has: DIR, DIR:TAG or an oci-archive.
    old: String,
    /// The image it updates to.
    new: String,
    /// Print a machine-readable JSON report.
    #[arg(long)]
    json: bool,
}

#[derive(Args, Debug, Default)]
struct EncapArgs {
    /// Source ostree repository (any mode: archive, bare, bare-user, bare-user-only).
    #[arg(long, value_name = "PATH")]
    repo: Option<PathBuf>,
    /// Commit to encapsulate: a branch, REMOTE:REF, or a full 64-hex checksum.
    #[arg(long = "ref", value_name = "REF")]
    rev: Option<String>,
    /// Write an OCI image layout here (created if missing; other tags in it are kept).
    #[arg(long, value_name = "DIR", conflicts_with = "oci_archive")]
    oci_dir: Option<PathBuf>,
    /// Write an oci-archive file instead of a directory (replaced atomically).
    #[arg(long, value_name = "FILE")]
    oci_archive: Option<PathBuf>,
    /// Tag of the image in the layout (org.opencontainers.image.ref.name).
    #[arg(long)]
    tag: Option<String>,
    /// Config label KEY=VALUE (repeatable; also copied to manifest annotations).
    #[arg(long = "label", value_name = "KEY=VALUE")]
    labels: Vec<String>,
    /// Manifest-only annotation KEY=VALUE (repeatable).
    #[arg(long = "annotation", value_name = "KEY=VALUE")]
    annotations: Vec<String>,
    /// Copy a commit metadata string key to a label; error if the commit lacks it.
    #[arg(long = "copymeta", value_name = "KEY")]
    copymeta: Vec<String>,
    /// Copy a commit metadata string key to a label if present.
    #[arg(long = "copymeta-opt", value_name = "KEY")]
    copymeta_opt: Vec<String>,
    /// JSON file with the OCI config's `config` member (Env, Entrypoint, Cmd, Labels, ...).
    #[arg(long, value_name = "FILE")]
    config: Option<PathBuf>,
    /// Container command (sets Cmd); takes the rest of the arguments.
    #[arg(long, num_args = 1.., allow_hyphen_values = true, value_name = "ARG")]
    cmd: Option<Vec<String>>,
    /// Image architecture (default: the commit's architecture metadata, else the host's).
    #[arg(long, value_name = "ARCH")]
    arch: Option<String>,
    /// Image creation time, RFC 3339 (default: SOURCE_DATE_EPOCH if set, else the commit time).
    #[arg(long, value_name = "RFC3339")]
    created: Option<String>,
    /// Layer compression: gzip (libdeflate level 5, every client), zstd (level 3, fast match
    /// finder), none.
    #[arg(long, default_value = "gzip", value_parser = ["gzip", "zstd", "none"])]
    compression: String,
    /// Chunk layers besides the commit layer (0: one layer holding everything).
    #[arg(long, default_value_t = manifest::keys::DEFAULT_MAX_LAYERS, value_name = "N")]
    max_layers: usize,
    /// Allow more than 127 chunk layers (Docker's overlay2 cannot unpack such images).
    #[arg(long)]
    allow_many_layers: bool,
    /// Component sources: auto (user.component xattrs, --contentmeta, package database) or
    /// none (only the size rules: kernel/initramfs, large unowned files).
    #[arg(long, default_value = "auto", value_parser = ["auto", "none"])]
    components: String,
    /// Do not use user.component xattrs.
    #[arg(long)]
    no_xattr_components: bool,
    /// Do not read the package database (dpkg) in the commit.
    #[arg(long)]
    no_package_components: bool,
    /// Content-meta JSON mapping objects to components (the format the ostree-ext CLI takes).
    #[arg(long, value_name = "FILE")]
    contentmeta: Option<PathBuf>,
    /// The previous build's image (DIR, DIR:TAG, oci-archive, or manifest JSON): keep its
    /// layout where it still fits, so updates download less; reuse its unchanged layers and
    /// (from a DIR) unchanged gzip blocks instead of compressing them again.
    #[arg(long, value_name = "IMAGE")]
    previous: Option<String>,
    /// Threads: layers written at once, and compressor threads per layer (default: one per
    /// CPU). The output is the same for any value.
    #[arg(long, short = 'j', default_value_t = 0, value_name = "N")]
    jobs: usize,
    /// After writing, copy the image here with skopeo (e.g. docker://registry/os/image:tag).
    #[arg(long, value_name = "DEST")]
    push: Option<String>,
    #[command(flatten)]
    push_opts: PushArgs,
    /// Print a machine-readable JSON summary on stdout.
    #[arg(long)]
    json: bool,
    /// No progress output.
    #[arg(long, short)]
    quiet: bool,
}

#[derive(Args, Debug)]
struct VerifyArgs {
    #[command(flatten)]
    image: ImageSource,
    /// Also require the commit to match this repository.
    #[arg(long, value_name = "PATH")]
    repo: Option<PathBuf>,
    /// With --repo: the ref whose commit the image must carry.
    #[arg(long = "ref", value_name = "REF", requires = "repo")]
    rev: Option<String>,
    /// Verify the commit's GPG signature against this keyring file (gpg --export output).
    #[arg(long, value_name = "FILE")]
    gpg_keyring: Option<PathBuf>,
    /// Verify the commit's ed25519 signature with this base64 public key (or a file of them).
    #[arg(long, value_name = "KEY")]
    ed25519_key: Option<String>,
    /// Also require the stream order ostree-encap writes (content objects in path order).
    /// Default: on for images ostree-encap made (they carry its layer keys), off for
    /// images of other writers (ostree-ext, rpm-ostree write checksum order).
    #[arg(long, overrides_with = "no_strict")]
    strict: bool,
    /// Never require ostree-encap's own stream order.
    #[arg(long)]
    no_strict: bool,
    /// Print a machine-readable JSON report on stdout.
    #[arg(long)]
    json: bool,
}

/// The verb under which `ostree` runs us as a CLI extension (`ostree encap ...` executes
/// `/usr/libexec/libostree/ext/ostree-encap encap ...`).
const OSTREE_EXT_VERB: &str = "encap";

fn main() -> ExitCode {
    let mut args: Vec<std::ffi::OsString> = std::env::args_os().collect();
    if args.get(1).is_some_and(|a| a == OSTREE_EXT_VERB) {
        args.remove(1);
    }
    let cli = Cli::parse_from(args);
    let result = match cli.command {
        Some(Command::Verify(v)) => run_verify(v),
        Some(Command::Diff(d)) => run_diff(d),
        Some(Command::Push(p)) => run_push(p),
        Some(Command::Import(i)) => run_import(i),
        Some(Command::GenerateDocs {
            man_dir,
            completions_dir,
        }) => generate_docs(&man_dir, &completions_dir),
        None => run_encapsulate(cli.encap),
    };
    match result {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) if ostree_encap::StdoutClosed::is(&e) => {
            ExitCode::from(ostree_encap::StdoutClosed::EXIT_STATUS)
        }
        Err(e) => {
            eprintln!("error: {e:#}");
            ExitCode::FAILURE
        }
    }
}

fn key_value(flag: &str, s: &str) -> Result<(String, String)> {
    match s.split_once('=') {
        Some((k, v)) if !k.is_empty() => Ok((k.to_string(), v.to_string())),
        _ => bail!("{flag} {s:?}: expected KEY=VALUE"),
    }
}

fn parse_request(a: &EncapArgs) -> Result<(EncapsulateRequest, Target)> {
    let repo = a
        .repo
        .clone()
        .context("--repo is required (the ostree repository to read)")?;
    let rev = a
        .rev
        .clone()
        .context("--ref is required (a branch, REMOTE:REF or commit checksum)")?;
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
    let container_config = match &a.config {
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
    };
    let compression = Compression::from_name(&a.compression).context("unknown --compression")?;
    let auto = a.components == "auto";
    let contentmeta = match &a.contentmeta {
        None => None,
        Some(p) => {
            let data =
                ostree_encap::read_option_file("--contentmeta", p, keys::MAX_CONTENTMETA_FILE)?;
            Some(
                encapsulate::components::ContentMeta::parse(
                    &data,
                    &format!("--contentmeta {}", p.display()),
                )
                .map_err(anyhow::Error::msg)?,
            )
        }
    };
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
        },
        compression,
        tag: a.tag.clone(),
        chunking,
        jobs: a.jobs,
    };
    Ok((req, target))
}

/// Progress on stderr, only on a terminal.
struct TermProgress {
    on: bool,
    layers: usize,
    layers_done: usize,
    objects: usize,
    done: usize,
    bytes_total: u64,
    bytes: u64,
    start: std::time::Instant,
    last: Option<std::time::Instant>,
}

impl TermProgress {
    fn draw(&mut self, force: bool) {
        if !self.on {
            return;
        }
        let now = std::time::Instant::now();
        if !force
            && self
                .last
                .is_some_and(|l| now.duration_since(l).as_millis() < 200)
        {
            return;
        }
        self.last = Some(now);
        let secs = now.duration_since(self.start).as_secs_f64().max(0.001);
        eprint!(
            "\r\x1b[Klayers {}/{}  objects {}/{}  {:.0}/{:.0} MiB  {:.1} MiB/s",
            self.layers_done,
            self.layers,
            self.done,
            self.objects,
            self.bytes as f64 / 1048576.0,
            self.bytes_total as f64 / 1048576.0,
            self.bytes as f64 / 1048576.0 / secs
        );
        let _ = std::io::stderr().flush();
    }
}

impl Progress for TermProgress {
    fn started(&mut self, layers: usize, objects: usize, bytes: u64) {
        (self.layers, self.objects, self.bytes_total) = (layers, objects, bytes);
        self.start = std::time::Instant::now();
        self.draw(true);
    }
    fn object_written(&mut self, bytes: u64) {
        self.done += 1;
        self.bytes += bytes;
        self.draw(false);
    }
    fn warning(&mut self, message: &str) {
        if self.on {
            eprint!("\r\x1b[K");
        }
        eprintln!("warning: {message}");
        self.draw(true);
    }
    fn layer_finished(&mut self, _index: usize) {
        self.layers_done += 1;
        self.draw(true);
        if self.on && self.layers_done == self.layers {
            eprintln!();
        }
    }
}

fn run_encapsulate(a: EncapArgs) -> Result<()> {
    let (req, target) = parse_request(&a)?;
    let mut progress = TermProgress {
        on: !a.quiet && !a.json && std::io::stderr().is_terminal(),
        layers: 0,
        layers_done: 0,
        objects: 0,
        done: 0,
        bytes_total: 0,
        bytes: 0,
        start: std::time::Instant::now(),
        last: None,
    };
    if let Some(dest) = &a.push {
        // Check the destination before the long work, not after it.
        manifest::skopeo::check(dest, &a.push_opts.options())?;
    }
    let summary = ostree_encap::encapsulate_to(&req, &target, &mut progress)?;
    let src = match &target {
        Target::Dir(d) => format!(
            "oci:{}{}",
            d.display(),
            req.tag
                .as_deref()
                .map(|t| format!(":{t}"))
                .unwrap_or_default()
        ),
        Target::Archive(f) => format!("oci-archive:{}", f.display()),
    };
    let pushed = match &a.push {
        Some(dest) => Some((
            dest.clone(),
            manifest::skopeo::copy(&src, dest, &a.push_opts.options())?,
        )),
        None => None,
    };
    if a.json {
        let mut v = serde_json::to_value(&summary)?;
        if let Some((dest, digest)) = &pushed {
            v["pushed"] = serde_json::json!({"destination": dest, "digest": digest});
        }
        out!("{}", serde_json::to_string_pretty(&v)?);
    } else {
        out!("commit   {}", summary.commit);
        out!("image    {src}");
        out!("manifest {}", summary.manifest_digest);
        out!("config   {}", summary.config_digest);
        for (i, l) in summary.layers.iter().enumerate() {
            out!(
                "layer {i}  {}  {} bytes ({} uncompressed, {} objects{})",
                l.digest,
                l.size,
                l.uncompressed_size,
                l.content_objects,
                if l.reused {
                    ", reused".to_string()
                } else if l.reused_block_bytes > 0 {
                    format!(", {} bytes of blocks reused", l.reused_block_bytes)
                } else {
                    String::new()
                }
            );
        }
        if let Some((dest, digest)) = &pushed {
            out!("pushed   {dest} ({digest})");
        }
    }
    Ok(())
}

fn run_push(p: PushCmdArgs) -> Result<()> {
    manifest::skopeo::check(&p.dest, &p.push.options())?;
    let src = match (&p.oci_dir, &p.oci_archive) {
        (Some(d), _) => {
            let path = d
                .rsplit_once(':')
                .filter(|(dir, _)| std::path::Path::new(dir).is_dir())
                .map_or(d.as_str(), |(dir, _)| dir);
            if !std::path::Path::new(path).join("oci-layout").is_file() {
                bail!("--oci-dir {d}: {path} is not an OCI image layout");
            }
            format!("oci:{d}")
        }
        (None, Some(f)) => {
            if !f.is_file() {
                bail!("--oci-archive {}: no such file", f.display());
            }
            format!("oci-archive:{}", f.display())
        }
        (None, None) => bail!("one of --oci-dir or --oci-archive is required"),
    };
    let digest = manifest::skopeo::copy(&src, &p.dest, &p.push.options())?;
    if p.json {
        out!(
            "{}",
            serde_json::json!({"source": src, "destination": p.dest, "digest": digest})
        );
    } else {
        out!("pushed {src} to {} ({digest})", p.dest);
    }
    Ok(())
}

fn run_verify(v: VerifyArgs) -> Result<()> {
    let (oci, _tmp) = ostree_encap::open_layout(&v.image.target()?)?;
    let req = VerifyRequest {
        tag: v.image.tag,
        repo: v.repo,
        rev: v.rev,
        gpg_keyring: v.gpg_keyring,
        ed25519_key: v.ed25519_key,
        strict: match (v.strict, v.no_strict) {
            (true, _) => Some(true),
            (_, true) => Some(false),
            _ => None,
        },
    };
    let report = ostree_encap::verify(&oci, &req)?;
    if v.json {
        out!("{}", serde_json::to_string_pretty(&report)?);
    } else {
        out!("OK: commit {}", report.commit);
        out!(
            "  manifest {}, {} layer(s), {} content + {} metadata objects, {} paths",
            report.manifest_digest,
            report.layers,
            report.content_objects,
            report.metadata_objects,
            report.paths
        );
        if let Some(s) = &report.signature {
            out!("  signature: {s}");
        } else if report.has_detached_metadata {
            out!("  detached metadata present (pass --gpg-keyring or --ed25519-key to check signatures)");
        }
    }
    Ok(())
}

fn run_diff(d: DiffArgs) -> Result<()> {
    let r = ostree_encap::diff(&d.old, &d.new)?;
    if d.json {
        out!("{}", serde_json::to_string_pretty(&r)?);
        return Ok(());
    }
    for l in &r.layers {
        let what = if l.reused { "reused" } else { "NEW   " };
        let comps = l.components.as_deref().unwrap_or("(commit layer)");
        let comps = manifest::spec::truncate_to(comps.to_string(), 60);
        out!("{what} {:>12}  {}  {comps}", l.size, l.digest.short());
    }
    out!(
        "download {} of {} bytes ({} new layer(s)); {:.1}% of the image reused",
        r.download_bytes,
        r.total_bytes,
        r.new_layers,
        r.reused_share * 100.0
    );
    Ok(())
}

fn generate_docs(man_dir: &std::path::Path, completions_dir: &std::path::Path) -> Result<()> {
    use clap::CommandFactory;
    std::fs::create_dir_all(man_dir).with_context(|| format!("creating {}", man_dir.display()))?;
    std::fs::create_dir_all(completions_dir)
        .with_context(|| format!("creating {}", completions_dir.display()))?;
    let cmd = Cli::command();
    let mut pages = vec![("ostree-encap".to_string(), cmd.clone())];
    for sub in cmd.get_subcommands().filter(|s| !s.is_hide_set()) {
        let name = format!("ostree-encap-{}", sub.get_name());
        pages.push((name.clone(), sub.clone().name(name)));
    }
    for (name, c) in pages {
        let mut buf = Vec::new();
        clap_mangen::Man::new(c).render(&mut buf)?;
        let p = man_dir.join(format!("{name}.1"));
        std::fs::write(&p, buf).with_context(|| format!("writing {}", p.display()))?;
    }
    for (shell, file) in [
        (clap_complete::Shell::Bash, "ostree-encap"),
        (clap_complete::Shell::Zsh, "_ostree-encap"),
        (clap_complete::Shell::Fish, "ostree-encap.fish"),
    ] {
        let mut buf = Vec::new();
        clap_complete::generate(shell, &mut Cli::command(), "ostree-encap", &mut buf);
        let p = completions_dir.join(file);
        std::fs::write(&p, buf).with_context(|| format!("writing {}", p.display()))?;
    }
    Ok(())
}

fn run_import(i: ImportArgs) -> Result<()> {
    let (oci, _tmp) = ostree_encap::open_layout(&i.image.target()?)?;
    let r = ostree_encap::import(&oci, i.image.tag.as_deref(), &i.repo, i.branch.as_deref())?;
    if i.json {
        out!("{}", serde_json::to_string_pretty(&r)?);
    } else {
        out!("imported commit {} into {}", r.commit, i.repo.display());
        out!(
            "  {} content + {} metadata objects, {} paths checked",
            r.content_objects,
            r.metadata_objects,
            r.paths
        );
    }
    Ok(())
}
