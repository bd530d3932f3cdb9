//! Running each subcommand: call the library, render the result as text or `--json`.

use super::args::*;
use super::progress::TermProgress;
use super::request::parse_request;
use anyhow::{Context, Result};
use ostree_encap::out;
use ostree_encap::{ImageRef, VerifyRequest};
use std::io::IsTerminal;

pub(crate) fn run_encapsulate(a: EncapArgs) -> Result<()> {
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
        timings: a.timings,
    };
    // Check the destination before the long work, not after it.
    let push = match &a.push {
        Some(dest) => Some(a.push_opts.push(dest)?),
        None if a.push_opts != PushArgs::default() => anyhow::bail!(PUSH_OPTIONS_NEED_PUSH),
        None => None,
    };
    // A delta needs the previous image itself: say so before the build, not after it.
    let kind = if a.static_delta {
        Some(DeltaFormat::Ostree)
    } else {
        a.delta
    };
    let delta_from = match (&a.previous, kind) {
        (Some(p), Some(_)) => Some(delta_source("--previous", p)?),
        _ => None,
    };
    let summary = ostree_encap::encapsulate_to(&req, &target, &mut progress)?;
    let src = target.image_ref(req.tag.as_deref());
    let (mut delta, mut oci_delta) = (None, None);
    if let (Some(from), Some(dir)) = (&delta_from, &a.oci_dir) {
        if kind == Some(DeltaFormat::OciDelta) {
            let quiet = a.quiet || a.json;
            let say = |m: &str| {
                if !quiet {
                    eprintln!("oci-delta: {m}");
                }
            };
            oci_delta = Some(ostree_encap::oci_deltas::make(
                from,
                dir,
                req.tag.as_deref(),
                None,
                crate::cli::jobs(a.jobs),
                &say,
            )?);
        } else {
            if !a.quiet {
                delta_note(from);
            }
            delta = Some(ostree_encap::deltas::make(from, dir, req.tag.as_deref())?);
        }
    }
    let pushed = match &push {
        Some(push) => Some(push.run(&src)?),
        None => None,
    };
    if a.json {
        let mut v = serde_json::to_value(&summary)?;
        if let Some(p) = &pushed {
            v["pushed"] = serde_json::to_value(p)?;
        }
        if let Some(d) = &delta {
            v["static_delta"] = serde_json::to_value(d)?;
        }
        if let Some(d) = &oci_delta {
            v["oci_delta"] = serde_json::to_value(d)?;
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
        if let Some(c) = &summary.composefs {
            out!("composefs merged   {}", c.merged);
            match &c.bootable {
                Some(b) => out!("composefs bootable {b}"),
                None => out!(
                    "composefs bootable (none: {})",
                    c.not_bootable.as_deref().unwrap_or("?")
                ),
            }
        }
        if let Some(d) = &delta {
            print_delta(d)?;
        }
        if let Some(d) = &oci_delta {
            print_oci_delta(d)?;
        }
        if let Some(p) = &pushed {
            out!("{p}");
        }
    }
    Ok(())
}

/// The image a delta starts from: a layout or an archive, whose commit can be read.
fn delta_source(what: &str, arg: &str) -> Result<ImageRef> {
    use ostree_encap::image_ref::{Accept, FileSystem};
    let r = ImageRef::parse_source(what, arg, Accept::default(), &FileSystem)?;
    Ok(r)
}

/// Said on stderr before the delta is made: libostree's generator says nothing for minutes
/// on a large update.
fn delta_note(from: &ImageRef) {
    eprintln!(
        "making the static delta from {from}: both images are imported and checked, then \
         libostree's generator runs (rollsum and bsdiff; a minute or more on a large update)"
    );
}

fn print_delta(d: &ostree_encap::deltas::DeltaReport) -> Result<()> {
    out!(
        "static delta {} → {}: {} parts, {} bytes, artifact {} (tag {})",
        d.artifact.from,
        d.artifact.to,
        d.artifact.parts,
        d.artifact.size,
        d.artifact.digest,
        d.referrers_tag
    );
    Ok(())
}

pub(crate) fn run_delta(a: DeltaArgs) -> Result<()> {
    let from = delta_source("--from", &a.from)?;
    if let Some(t) = &a.to {
        oci::spec::check_tag(t).with_context(|| format!("--to {t}"))?;
    }
    if a.format == DeltaFormat::OciDelta {
        let output = match &a.output {
            Some(o) => Some(ImageRef::parse_destination("--output", o)?),
            None => None,
        };
        let quiet = a.json;
        let say = |m: &str| {
            if !quiet {
                eprintln!("oci-delta: {m}");
            }
        };
        let r = ostree_encap::oci_deltas::make(
            &from,
            &a.oci_dir,
            a.to.as_deref(),
            output.as_ref(),
            crate::cli::jobs(a.jobs),
            &say,
        )?;
        if a.json {
            out!("{}", serde_json::to_string_pretty(&r)?);
        } else {
            print_oci_delta(&r)?;
        }
        return Ok(());
    }
    if a.output.is_some() {
        anyhow::bail!("--output writes an oci-delta file: it needs --format oci-delta");
    }
    if !a.json {
        delta_note(&from);
    }
    let report = ostree_encap::deltas::make(&from, &a.oci_dir, a.to.as_deref())?;
    if a.json {
        out!("{}", serde_json::to_string_pretty(&report)?);
    } else {
        print_delta(&report)?;
    }
    Ok(())
}

fn print_oci_delta(r: &ostree_encap::oci_deltas::OciDeltaReport) -> Result<()> {
    let d = &r.delta;
    let carried = d.layers.iter().filter(|l| l.stored == "layer").count();
    out!(
        "oci-delta {} → {}: {} bytes to download instead of {} ({} tar-diffs, {} layers as they are, {} reused), artifact {} (tag {})",
        d.plan.source_config,
        r.subject,
        d.download_bytes,
        d.layers_download_bytes,
        d.layers.len() - carried,
        carried,
        d.plan.layers.iter().filter(|l| l.reused).count(),
        d.manifest.digest,
        r.referrers_tag
    );
    if let Some(o) = &r.output {
        out!("delta file {o}");
    }
    Ok(())
}

pub(crate) fn run_composefs_digest(a: ComposefsDigestArgs) -> Result<()> {
    let r = a.image.image_ref()?;
    let img = r.open()?;
    let d = ostree_encap::composefs::digests(&img.oci, &img.image, crate::cli::jobs(a.jobs))
        .with_context(|| format!("the composefs digest of {r}"))?;
    if a.json {
        out!("{}", serde_json::to_string_pretty(&d)?);
    } else if a.bootable {
        match &d.bootable {
            Some(b) => out!("{b}"),
            None => anyhow::bail!(
                "{r} has no bootable composefs digest: {}",
                d.not_bootable
                    .as_deref()
                    .unwrap_or("the boot transform failed")
            ),
        }
    } else {
        out!("{}", d.merged);
    }
    Ok(())
}

pub(crate) fn run_verify_delta(a: VerifyDeltaArgs) -> Result<()> {
    use ostree_encap::oci_deltas::DeltaInput;
    let from = delta_source("--from", &a.from)?;
    let input = match (&a.delta, &a.oci_dir) {
        (Some(d), _) => DeltaInput::File(delta_source("--delta", d)?),
        (None, Some(dir)) => DeltaInput::Beside(ImageRef::Dir {
            path: dir.clone(),
            tag: a.to.clone(),
        }),
        (None, None) => anyhow::bail!("give --delta FILE or --oci-dir DIR"),
    };
    let v = ostree_encap::oci_deltas::check(&input, &from, crate::cli::jobs(a.jobs))?;
    if a.json {
        out!("{}", serde_json::to_string_pretty(&v)?);
    } else {
        for d in &v {
            out!(
                "oci-delta {} verified: from config {} to image {}: {} tar-diffs and {} layers rebuilt to their diff_ids, {} layers reused, {} bytes",
                d.digest, d.source_config, d.target, d.tar_diffs, d.layers, d.reused, d.download_bytes
            );
        }
    }
    Ok(())
}

pub(crate) fn run_push(p: PushCmdArgs) -> Result<()> {
    let push = p.push.push(&p.dest)?;
    let src = p.image.image_ref()?;
    if let ImageRef::Dir { .. } = &src {
        // A directory that is not a layout, or a tag it lacks, is named before skopeo runs
        // (an image or an image index).
        let (oci, _) = src.open_layout()?;
        oci.find(src.tag()).with_context(|| src.to_string())?;
    }
    let pushed = push.run(&src)?;
    if p.json {
        let mut v = serde_json::to_value(&pushed)?;
        v["source"] = src.to_string().into();
        v["destination"] = p.dest.clone().into();
        out!("{v}");
    } else {
        out!("source   {src}");
        out!("{pushed}");
    }
    Ok(())
}

/// The composefs digests an image publishes (`--composefs`), checked against its layers:
/// `false` when it publishes none.
fn composefs_checked(
    oci: &oci::OciDir,
    img: &oci::ocidir::ResolvedImage,
    image: &ImageRef,
) -> Result<bool> {
    ostree_encap::composefs::check_published(oci, img, crate::cli::jobs(0))
        .with_context(|| format!("{image}: its composefs annotations"))
}

pub(crate) fn run_verify(v: VerifyArgs) -> Result<()> {
    let image = v.image.image_ref()?;
    let (oci, _tmp) = image.open_layout()?;
    // Resolved once: the format test and the check read the same manifest.
    let img = oci.resolve(image.tag())?;
    if !ostree_encap::check::is_ostree_image(&img) {
        if v.repo.is_some() || v.gpg_keyring.is_some() || v.ed25519_key.is_some() {
            anyhow::bail!(
                "{image} is a plain image (no ostree commit): --repo, --gpg-keyring and \
                 --ed25519-key check a commit; give --rootfs DIR to compare its filesystem"
            );
        }
        let prune = super::request::prune_paths(&v.prune)?;
        let r = ostree_encap::check::verify_plain(&oci, &img, v.rootfs.as_deref(), &prune)?;
        let composefs = composefs_checked(&oci, &img, &image)?;
        if v.json {
            let mut j = serde_json::to_value(&r)?;
            j["composefs_verified"] = composefs.into();
            out!("{}", serde_json::to_string_pretty(&j)?);
        } else {
            if composefs {
                out!("OK: the published composefs digests are the image's");
            }
            out!(
                "OK: plain image {}, {} layer(s)",
                r.manifest_digest,
                r.layers
            );
            match &r.tree {
                Some(t) => out!("  equals {} ({} paths compared)", t.display(), r.paths),
                None => out!("  (give --rootfs DIR to compare it with its tree)"),
            }
        }
        return Ok(());
    }
    if v.rootfs.is_some() {
        anyhow::bail!(
            "{image} is in the ostree format: --rootfs compares a plain image's filesystem; \
             check the commit with --repo and --ref"
        );
    }
    let req = VerifyRequest {
        tag: image.tag().map(str::to_string),
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
    let report = ostree_encap::check::verify_resolved(&oci, &img, &req)?;
    let composefs = composefs_checked(&oci, &img, &image)?;
    if v.json {
        let mut j = serde_json::to_value(&report)?;
        j["composefs_verified"] = composefs.into();
        out!("{}", serde_json::to_string_pretty(&j)?);
    } else {
        if composefs {
            out!("OK: the published composefs digests are the image's");
        }
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

pub(crate) fn run_diff(d: DiffArgs) -> Result<()> {
    let r = ostree_encap::diff(&d.old, &d.new)?;
    if d.json {
        out!("{}", serde_json::to_string_pretty(&r)?);
        return Ok(());
    }
    for l in &r.layers {
        let what = if l.reused { "reused" } else { "NEW   " };
        let comps = l.components.as_deref().unwrap_or("(commit layer)");
        let comps = oci::spec::truncate_to(comps.to_string(), 60);
        out!("{what} {:>12}  {}  {comps}", l.size, l.digest.short());
    }
    out!(
        "download {} of {} bytes ({} new layer(s)); {:.1}% of the image reused",
        r.download_bytes,
        r.total_bytes,
        r.new_layers,
        r.reused_share * 100.0
    );
    let pct = |b: u64| 100.0 * b as f64 / r.download_bytes.max(1) as f64;
    match r.oci_delta_bytes {
        Some(b) => out!(
            "with the oci-delta stored beside NEW: {b} bytes ({:.1}% of the layers)",
            pct(b)
        ),
        None => out!(
            "no oci-delta from OLD is stored beside NEW (ostree-encap delta --format oci-delta)"
        ),
    }
    if let Some(b) = r.static_delta_bytes {
        out!("with the static delta stored beside NEW (ostree pull): {b} bytes ({:.1}% of the layers)", pct(b));
    }
    Ok(())
}

const PUSH_OPTIONS_NEED_PUSH: &str = "--authfile, --dest-tls-verify, --cert-dir, --digestfile, \
     --registries.d and the signing options need --push";

pub(crate) fn run_index(x: IndexArgs) -> Result<()> {
    // The destination and its options are checked before anything is written.
    let mut push = match &x.push {
        Some(dest) => Some(x.push_opts.push(dest)?),
        None if x.push_opts != PushArgs::default() => anyhow::bail!(PUSH_OPTIONS_NEED_PUSH),
        None => None,
    };
    let pull = oci::skopeo::PullOptions {
        authfile: x.src_authfile.clone(),
        tls_verify: x.src_tls_verify,
        cert_dir: x.src_cert_dir.clone(),
    };
    let images = ostree_encap::index::open_images(&x.images, &pull)?;
    // Every image already in the repository the index goes to: no layer is downloaded, the
    // index alone is pushed.
    let blobs = match &mut push {
        Some(p) if ostree_encap::index::all_in_repository(&images, &p.dest.to_string()) => {
            p.options.index_only = true;
            ostree_encap::index::Blobs::ManifestsOnly
        }
        _ => ostree_encap::index::Blobs::All,
    };
    let r = ostree_encap::output::into_dir(&x.oci_dir, |out| {
        ostree_encap::index::write_index(
            out,
            &images,
            x.tag.as_deref(),
            x.allow_mixed_versions,
            blobs,
        )
    })?;
    let pushed = match &push {
        Some(p) => Some(p.run(&ImageRef::Dir {
            path: x.oci_dir.clone(),
            tag: x.tag.clone(),
        })?),
        None => None,
    };
    if x.json {
        let mut v = serde_json::to_value(&r)?;
        if let Some(p) = &pushed {
            v["pushed"] = serde_json::to_value(p)?;
        }
        out!("{}", serde_json::to_string_pretty(&v)?);
        return Ok(());
    }
    out!("index    {}", r.index_digest);
    for e in &r.manifests {
        out!("  {:<16} {}  {}", e.platform, e.digest, e.image);
    }
    let tag = r
        .tag
        .as_deref()
        .map(|t| format!(":{t}"))
        .unwrap_or_default();
    out!("image    oci:{}{tag}", r.oci_dir);
    if let Some(p) = &pushed {
        out!("{p}");
    }
    Ok(())
}

pub(crate) fn generate_docs(
    man_dir: &std::path::Path,
    completions_dir: &std::path::Path,
) -> Result<()> {
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

pub(crate) fn run_import(i: ImportArgs) -> Result<()> {
    let image = i.image.image_ref()?;
    let (oci, _tmp) = image.open_layout()?;
    let r = ostree_encap::import(&oci, image.tag(), &i.repo, i.branch.as_deref())?;
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

pub(crate) fn run_generate_key(g: GenerateKeyArgs) -> Result<()> {
    let written = ostree_encap::push::generate_sigstore_key(&g.output_prefix, &g.passphrase_file)?;
    if g.json {
        out!(
            "{}",
            serde_json::to_string_pretty(&serde_json::json!({
                "private_key": written.private_key,
                "public_key": written.public_key,
            }))?
        );
    } else {
        out!(
            "private key {} (keep it secret)",
            written.private_key.display()
        );
        out!("public key  {}", written.public_key.display());
    }
    Ok(())
}

/// Longest deadline `serve` takes, a day: a value beyond it is a typo (and a `Duration`
/// of `u64::MAX` seconds overflows tokio's clock).
const MAX_SERVE_SECONDS: u64 = 86_400;

pub(crate) fn run_serve(a: ServeArgs) -> Result<()> {
    use std::sync::atomic::AtomicBool;
    use std::sync::Arc;
    let refs = ostree_encap::mirror::refs_from_flags(
        a.oci_dir.as_deref(),
        a.oci_archive.as_deref(),
        &a.tags,
        &a.refs,
    )?;
    // Checked before the import, like --jobs: a bad value fails at once.
    if !(1..=repo_server::MAX_WORKERS).contains(&a.workers) {
        anyhow::bail!(
            "--workers {}: give 1 to {} (threads opening files and making objects)",
            a.workers,
            repo_server::MAX_WORKERS
        );
    }
    if !(1..=repo_server::MAX_CONNECTIONS).contains(&a.connections) {
        anyhow::bail!(
            "--connections {}: give 1 to {} (and an open-file limit, ulimit -n, above it)",
            a.connections,
            repo_server::MAX_CONNECTIONS
        );
    }
    for (flag, secs) in [
        ("--header-timeout", a.header_timeout),
        ("--timeout", a.timeout),
        ("--request-timeout", a.request_timeout),
    ] {
        if !(1..=MAX_SERVE_SECONDS).contains(&secs) {
            anyhow::bail!("{flag} {secs}: give 1 to {MAX_SERVE_SECONDS} seconds");
        }
    }
    // The address is taken before the import, so a busy port fails at once.
    let listener =
        std::net::TcpListener::bind(&a.listen).with_context(|| format!("--listen {}", a.listen))?;
    let addr = listener.local_addr()?;
    let signing = a.summary_signing.signing();
    let served = ostree_encap::serve::ServedRepo::build(&refs, signing.as_ref())?;
    let stop = Arc::new(AtomicBool::new(false));
    for sig in [signal_hook::consts::SIGTERM, signal_hook::consts::SIGINT] {
        signal_hook::flag::register(sig, Arc::clone(&stop)).context("handling SIGTERM")?;
    }
    out!("serving http://{addr}/");
    print_refs(&served.refs)?;
    // On stderr, before the access log: stdout says only where and what is served.
    let kept = served.from_layers.scratch_bytes();
    let mut copies = Vec::new();
    if kept.windows > 0 {
        copies.push(format!(
            "gzip checkpoints: {:.1} MB of windows",
            kept.windows as f64 / 1e6
        ));
    }
    if kept.blocks > 0 {
        copies.push(format!(
            "zstd layers: {:.1} MB of blocks",
            kept.blocks as f64 / 1e6
        ));
    }
    eprintln!(
        "{} content objects are made from the images' layers on request{}; the rest is in {}",
        served.from_layers.len(),
        if copies.is_empty() {
            String::new()
        } else {
            format!(" ({}, in unlinked files there)", copies.join("; "))
        },
        served.path().display()
    );
    let root = cap_std::fs::Dir::open_ambient_dir(served.path(), cap_std::ambient_authority())
        .with_context(|| served.path().display().to_string())?;
    let config = repo_server::Config {
        workers: a.workers,
        connections: a.connections,
        header_timeout: std::time::Duration::from_secs(a.header_timeout),
        stall_timeout: std::time::Duration::from_secs(a.timeout),
        request_timeout: std::time::Duration::from_secs(a.request_timeout),
    };
    let log: repo_server::Log = Arc::new(|x: &repo_server::Access| eprintln!("{x}"));
    let from_layers: Arc<dyn repo_server::Generated> = served.from_layers.clone();
    repo_server::serve(listener, root, Some(from_layers), &config, &stop, log)
        .context("serving")?;
    eprintln!("stopped; removing {}", served.path().display());
    Ok(())
}

fn print_refs(refs: &[ostree_encap::mirror::MirroredRef]) -> Result<()> {
    for r in refs {
        out!("ref {} {}", r.name, r.commit);
        for d in &r.deltas {
            out!("delta {} {} ({})", d.from, r.commit, d.source);
        }
    }
    Ok(())
}

pub(crate) fn run_mirror(a: MirrorArgs) -> Result<()> {
    use ostree_encap::image_ref::{Accept, FileSystem};
    use ostree_encap::mirror::{AddOptions, ServedRef};
    let mut refs = Vec::new();
    for i in &a.images {
        refs.push(ServedRef {
            name: None,
            image: ImageRef::parse_source("IMAGE", i, Accept::default(), &FileSystem)?,
        });
    }
    for r in &a.refs {
        let (name, image) = r
            .split_once('=')
            .filter(|(n, i)| !n.is_empty() && !i.is_empty())
            .with_context(|| format!("--ref {r:?}: expected NAME=IMAGE"))?;
        refs.push(ServedRef {
            name: Some(name.to_string()),
            image: ImageRef::parse_source("--ref", image, Accept::default(), &FileSystem)?,
        });
    }
    if refs.is_empty() {
        anyhow::bail!("nothing to mirror: give IMAGE... or --ref NAME=IMAGE");
    }
    let opts = AddOptions {
        stored_deltas: a.deltas,
        deltas_from_previous: a.deltas,
        later_images_move_refs: true,
        // A mirror is served by any web server: every object must be in it.
        objects_from_layers: false,
    };
    let mirrored = ostree_encap::mirror::add_images(&a.repo, &refs, opts)?;
    let signing = a.summary_signing.signing();
    ostree_encap::mirror::finish(&a.repo, signing.as_ref())?;
    if a.json {
        out!(
            "{}",
            serde_json::to_string_pretty(&serde_json::json!({
                "repo": a.repo,
                "refs": mirrored,
            }))?
        );
    } else {
        print_refs(&mirrored)?;
    }
    Ok(())
}
