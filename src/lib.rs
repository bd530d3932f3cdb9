//! ostree-encap: turn an ostree commit into a reproducible OCI image in the ostree container
//! format ("chunked v1"), and check such images.
//!
//! This crate is the orchestration over three libraries, in parse → plan → execute order:
//! [`encapsulate`] reads the commit and writes tar streams, [`layering`] plans which objects go
//! into which layer, [`manifest`] writes the OCI layout. The binary only parses arguments and
//! renders results.

/// `println!` for results, used by both binaries. Rust ignores SIGPIPE, so `println!` panics
/// when the reader has gone (`ostree-encap ... | head -1`); this returns [`StdoutClosed`]
/// instead, which `main` turns into a quiet exit with the status a SIGPIPE death gives in
/// shells, like other Unix tools — after the stack unwinds, so temporary directories (an
/// unpacked `--previous` archive) are still removed. Other write errors are returned as they
/// are. The calling function must return `anyhow::Result`.
#[macro_export]
macro_rules! out {
    ($($arg:tt)*) => {{
        use std::io::Write as _;
        if let Err(e) = writeln!(std::io::stdout().lock(), $($arg)*) {
            if e.kind() == std::io::ErrorKind::BrokenPipe {
                return Err(anyhow::Error::new($crate::StdoutClosed));
            }
            return Err(anyhow::Error::from(e).context("writing to standard output"));
        }
    }};
}

pub mod workdir;

/// Standard output was closed by its reader: not an error to report, the process just ends.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
#[error("standard output was closed")]
pub struct StdoutClosed;

impl StdoutClosed {
    /// The exit status for a closed output: 128 + SIGPIPE, what shells show for other tools.
    pub const EXIT_STATUS: u8 = 141;

    /// Whether `e` is (or wraps) a closed standard output.
    pub fn is(e: &anyhow::Error) -> bool {
        e.downcast_ref::<StdoutClosed>().is_some()
    }
}

use anyhow::{bail, Context, Result};
use cap_std::fs::Dir;
use encapsulate::components::ComponentOptions;
use encapsulate::{CommitInfo, MetaValue};
use layering::chunk::{PackOptions, PreviousLayout};
use layering::{LayerKind, Plan};
use manifest::keys;
use manifest::oci::{Descriptor, Digest};
use manifest::spec::{image_spec, CommitFacts, ImageOptions, LayerRecord};
use manifest::{Compression, OciDir};
use serde::Serialize;
use std::io::{self, Read};
use std::path::{Path, PathBuf};

/// What to encapsulate and how.
#[derive(Debug, Clone, Default)]
pub struct EncapsulateRequest {
    /// Source repository.
    pub repo: PathBuf,
    /// Branch, `remote:ref` or checksum.
    pub rev: String,
    /// Image metadata options.
    pub image: ImageOptions,
    /// Layer compression.
    pub compression: Compression,
    /// Tag in the layout (`None`: the untagged slot).
    pub tag: Option<String>,
    /// How content is split into layers.
    pub chunking: ChunkOptions,
    /// Layers written at once (0: one per CPU). The output does not depend on it.
    pub jobs: usize,
}

/// Chunking choices.
#[derive(Debug, Clone)]
pub struct ChunkOptions {
    /// Chunk layers besides the commit layer (0: single-layer image).
    pub max_layers: usize,
    /// Component sources.
    pub components: ComponentOptions,
    /// The previous build, if known.
    pub previous: Option<std::sync::Arc<Previous>>,
    /// Allow more than [`keys::MAX_LAYERS_SAFE`] chunk layers.
    pub allow_many_layers: bool,
}

/// A previous build (`--previous`): its chunk layout, and — when it is an OCI dir or archive —
/// its layer blobs, which a new build copies instead of compressing again when a chunk
/// layer's key matches.
#[derive(Debug)]
pub struct Previous {
    /// The chunk layout to keep where it still fits.
    pub layout: PreviousLayout,
    /// The image, for its blobs (not for a bare manifest JSON).
    image: Option<(OciDir, manifest::ocidir::ResolvedImage)>,
    /// An unpacked oci-archive lives here while the build runs.
    _unpacked: Option<workdir::WorkDir>,
}

impl Default for ChunkOptions {
    fn default() -> Self {
        ChunkOptions {
            max_layers: keys::DEFAULT_MAX_LAYERS,
            components: ComponentOptions {
                xattrs: true,
                packages: true,
                contentmeta: None,
            },
            previous: None,
            allow_many_layers: false,
        }
    }
}

/// One layer of a written image, for `--json` and the text summary.
#[derive(Debug, Clone, Serialize, PartialEq, Eq)]
pub struct LayerSummary {
    /// Blob digest.
    pub digest: Digest,
    /// Uncompressed digest.
    pub diff_id: Digest,
    /// Blob size.
    pub size: u64,
    /// Uncompressed size.
    pub uncompressed_size: u64,
    /// Media type.
    pub media_type: String,
    /// Content objects in it.
    pub content_objects: u64,
    /// Component names (chunk layers).
    pub components: Vec<String>,
    /// Whether an existing blob with the same content was reused instead of compressing again.
    pub reused: bool,
    /// For a new gzip layer: uncompressed bytes whose compressed blocks were taken from an
    /// earlier blob instead of compressed again (the whole layer when `reused`).
    pub reused_block_bytes: u64,
}

/// Read a file named by an option, refusing one larger than `limit` bytes before it is read
/// whole (`--config /dev/zero` must not take all memory). Errors name the option and path.
///
/// # Errors
/// A missing or unreadable file, or one larger than `limit`.
pub fn read_option_file(option: &str, path: &Path, limit: u64) -> Result<Vec<u8>> {
    let f = std::fs::File::open(path)
        .with_context(|| format!("{option} {}: cannot open it", path.display()))?;
    let mut data = Vec::new();
    f.take(limit + 1)
        .read_to_end(&mut data)
        .with_context(|| format!("{option} {}: cannot read it", path.display()))?;
    if data.len() as u64 > limit {
        bail!(
            "{option} {}: the file is larger than {} bytes, the limit for this option",
            path.display(),
            limit
        );
    }
    Ok(data)
}

impl EncapsulateRequest {
    /// Check every option that can be checked without the repository, so that a bad one is
    /// refused before anything is created. Front ends (the CLI, the coreos-assembler plugin)
    /// get the same limits by calling [`encapsulate_to`], which calls this first.
    ///
    /// # Errors
    /// The first bad option, named.
    pub fn validate(&self) -> Result<()> {
        if let Some(tag) = &self.tag {
            manifest::spec::check_tag(tag)?;
        }
        if let Some(arch) = &self.image.arch {
            manifest::spec::checked_arch(arch, "--arch")?;
        }
        if self.jobs > keys::MAX_JOBS {
            bail!(
                "--jobs {}: at most {} threads are supported",
                self.jobs,
                keys::MAX_JOBS
            );
        }
        let n = self.chunking.max_layers;
        if n > keys::MAX_LAYERS_HARD {
            bail!(
                "--max-layers {n}: at most {} are supported",
                keys::MAX_LAYERS_HARD
            );
        }
        if n > keys::MAX_LAYERS_SAFE && !self.chunking.allow_many_layers {
            bail!(
                "--max-layers {n}: more than {} chunk layers make images Docker's overlay2 cannot unpack; add --allow-many-layers if your clients can",
                keys::MAX_LAYERS_SAFE
            );
        }
        for (k, _) in &self.image.annotations {
            if keys::RESERVED_LABELS.contains(&k.as_str())
                || k == keys::LABEL_VERSION
                || self.image.labels.iter().any(|(l, _)| l == k)
            {
                return Err(
                    manifest::spec::SpecError::AnnotationShadowsLabel { key: k.clone() }.into(),
                );
            }
        }
        Ok(())
    }
}

/// Result of an encapsulation.
#[derive(Debug, Clone, Serialize, PartialEq, Eq)]
pub struct Summary {
    /// The commit checksum.
    pub commit: String,
    /// Manifest digest.
    pub manifest_digest: Digest,
    /// Config digest.
    pub config_digest: Digest,
    /// Tag written, if any.
    pub tag: Option<String>,
    /// Architecture.
    pub architecture: String,
    /// `created`.
    pub created: String,
    /// Layers, commit layer first.
    pub layers: Vec<LayerSummary>,
}

/// Progress events for long runs. The library never prints; the CLI renders these. Layers
/// may be written in parallel, so events of different layers interleave.
pub trait Progress: Send {
    /// Writing starts: `layers` layers holding `objects` content objects of `bytes` bytes.
    fn started(&mut self, _layers: usize, _objects: usize, _bytes: u64) {}
    /// One content object of `bytes` was written.
    fn object_written(&mut self, _bytes: u64) {}
    /// Layer `index` is done.
    fn layer_finished(&mut self, _index: usize) {}
    /// Something the user should know that does not stop the run (e.g. a `--previous`
    /// layer that could not be proven and was built again).
    fn warning(&mut self, _message: &str) {}
}

/// A progress sink that ignores everything.
pub struct NoProgress;
impl Progress for NoProgress {}

/// Turn commit info into the plain facts the image metadata is made from.
pub fn commit_facts(info: &CommitInfo) -> CommitFacts {
    CommitFacts {
        checksum: info.checksum.clone(),
        timestamp: info.timestamp,
        subject: info.subject.clone(),
        metadata: info
            .metadata
            .iter()
            .map(|(k, v)| {
                let s = match v {
                    MetaValue::String(s) => Some(s.clone()),
                    _ => None,
                };
                (k.clone(), s)
            })
            .collect(),
        bootable: matches!(
            info.metadata.get(keys::meta::BOOTABLE),
            Some(MetaValue::Bool(true))
        ),
    }
}

/// The host architecture, as the default image architecture.
pub fn host_arch() -> &'static str {
    std::env::consts::ARCH
}

/// Encapsulate a commit into the layout `out`.
///
/// # Errors
/// Typed [`encapsulate::EncapError`]s (repo, ref, objects), [`manifest::spec::SpecError`]s
/// (options), and I/O errors with context naming the object or file.
pub fn encapsulate_into(
    req: &EncapsulateRequest,
    out: &OciDir,
    progress: &mut dyn Progress,
) -> Result<Summary> {
    // Parse and plan: nothing is written until every input has been checked.
    let source = encapsulate::open(&req.repo, &req.rev)?;
    let info = source.info()?;
    let facts = commit_facts(&info);
    let mut spec = image_spec(&facts, &req.image, host_arch())?;
    let inventory = source.inventory()?;
    let (plan, objects) = if req.chunking.max_layers == 0 {
        let objects = inventory.content_objects();
        (Plan::single_layer(&objects), objects)
    } else {
        let encapsulate::components::Discovery {
            objects,
            owner,
            volatile,
            ..
        } = source.discover_components(&inventory, &req.chunking.components)?;
        let comps = layering::chunk::components(&objects, &owner, &volatile);
        // The owner map (a checksum and a component name String per object) is not needed
        // once the components exist: dropped here, it no longer sits beside the plan at the
        // heap's peak (17.5 -> 15.7 MB on corpus B, 64 chunks).
        drop(owner);
        let opts = PackOptions {
            max_layers: req.chunking.max_layers,
        };
        let previous = req.chunking.previous.as_deref().map(|p| PreviousLayout {
            unchanged: unchanged_previous_layers(p, &comps, &source, &inventory, req.compression),
            ..p.layout.clone()
        });
        let plan = layering::chunk::pack(&comps, &opts, previous.as_ref());
        let layout = serde_json::to_string(&plan.layout()).context("serializing the layout")?;
        spec.labels.insert(keys::LABEL_LAYOUT.into(), layout);
        (plan, objects)
    };
    plan.validate(&objects)
        .map_err(|e| encapsulate::EncapError::Plan {
            reason: e.to_string(),
        })?;

    // Execute: layers are independent, so they are written in parallel, each thread with its
    // own repo handle. Results are kept by layer index, so the image does not depend on
    // which thread finishes first.
    let total = plan.layers.len();
    let sizes: std::collections::HashMap<&str, u64> = objects
        .iter()
        .map(|o| (o.checksum.as_str(), o.size))
        .collect();
    let layer_bytes: Vec<u64> = plan
        .layers
        .iter()
        .map(|l| {
            l.objects
                .iter()
                .map(|c| sizes.get(c.as_str()).copied().unwrap_or(0))
                .sum()
        })
        .collect();
    progress.started(total, objects.len(), layer_bytes.iter().sum());
    // Largest first, so the last layer to start is a small one.
    let mut order: Vec<usize> = (0..total).collect();
    order.sort_by(|a, b| layer_bytes[*b].cmp(&layer_bytes[*a]).then(a.cmp(b)));
    let cores = match req.jobs {
        0 => std::thread::available_parallelism().map_or(1, |n| n.get()),
        n => n,
    };
    // Layer threads read and tar; each layer's compressor has `cores` threads of its own, so
    // one big layer (or the last one) still uses every core. Output never depends on either.
    let jobs = cores.min(total).max(1);
    // Layers already made, in the output or the previous image: a layer whose key (computed
    // from the plan) matches one is reused without reading its objects, so a rebuild costs
    // about the time of the changed layers.
    let known = KnownLayers::find(out, req.chunking.previous.as_deref());
    let previous_oci = req
        .chunking
        .previous
        .as_deref()
        .and_then(|p| p.image.as_ref())
        .map(|(oci, _)| oci);
    // Make a found blob present in the output (copied from the previous image if needed).
    let have = |f: &Found| -> bool {
        if !f.from_previous {
            return out.blob_is_intact(&f.descriptor);
        }
        previous_oci.is_some_and(|p| out.copy_blob_from(p, &f.descriptor).is_ok())
    };
    // Compressed blocks of the known gzip layers, for new layers that share some content with
    // them; loaded on first use, so a rebuild that reuses whole layers reads no index.
    let block_source = std::sync::OnceLock::new();
    let reuse = || {
        (req.compression == Compression::Gzip).then(|| {
            block_source
                .get_or_init(|| std::sync::Arc::new(known.block_source(out, previous_oci)))
                .clone()
        })
    };
    let layer_keys: Vec<String> = plan
        .layers
        .iter()
        .map(|l| encapsulate::layer_key(&source, &inventory, l, &req.compression.settings()))
        .collect();
    type Written = (manifest::WrittenLayer, encapsulate::LayerStats, bool);
    let results: Vec<std::sync::Mutex<Option<Result<Written>>>> =
        (0..total).map(|_| std::sync::Mutex::new(None)).collect();
    let next = std::sync::atomic::AtomicUsize::new(0);
    let failed = std::sync::atomic::AtomicBool::new(false);
    let progress = std::sync::Mutex::new(progress);
    let reused_layer = |i: usize| {
        if let Ok(mut p) = progress.lock() {
            for c in &plan.layers[i].objects {
                p.object_written(sizes.get(c.as_str()).copied().unwrap_or(0));
            }
            p.layer_finished(i);
        }
    };
    let write_one = |src: &encapsulate::Source, i: usize| -> Result<Written> {
        let media_type = req.compression.media_type().to_string();
        if let Some((found, diff_id, size)) = known.get(&(layer_keys[i].clone(), media_type)) {
            // A layer of the previous image is someone else's claim: its key annotation
            // and diff_id could be forged. It is reused only once proven (see
            // `prove_layer`); one that is not is built from the repo like any other.
            let proven = match (found.from_previous, previous_oci) {
                (false, _) => true,
                (true, None) => false,
                (true, Some(prev)) => {
                    match prove_layer(
                        src,
                        &inventory,
                        &plan.layers[i],
                        prev,
                        found,
                        diff_id,
                        *size,
                    ) {
                        Ok(()) => true,
                        Err(why) => {
                            if let Ok(mut p) = progress.lock() {
                                p.warning(&format!(
                                    "--previous layer {} is not the layer it claims to be ({why:#}); building it from the repository",
                                    found.descriptor.digest
                                ));
                            }
                            false
                        }
                    }
                }
            };
            if proven && have(found) {
                reused_layer(i);
                let written = manifest::WrittenLayer {
                    descriptor: found.descriptor.clone(),
                    diff_id: diff_id.clone(),
                    uncompressed_size: *size,
                    reused_bytes: *size,
                };
                let stats = encapsulate::LayerStats {
                    content_objects: plan.layers[i].objects.len() as u64,
                    content_bytes: layer_bytes[i],
                    metadata_objects: 0,
                };
                return Ok((written, stats, true));
            }
        }
        let writer = out.layer_writer(req.compression, cores, reuse())?;
        let (writer, stats) =
            encapsulate::write_layer(src, &inventory, &plan.layers[i], writer, &mut |b| {
                if let Ok(mut p) = progress.lock() {
                    p.object_written(b);
                }
            })?;
        let written = writer.finish()?;
        if let Ok(mut p) = progress.lock() {
            p.layer_finished(i);
        }
        Ok((written, stats, false))
    };
    // One repo handle per thread: handles may move between threads but not be shared.
    let mut sources = Vec::with_capacity(jobs);
    for _ in 1..jobs {
        sources.push(source.reopen()?);
    }
    sources.push(source);
    std::thread::scope(|scope| {
        for src in sources {
            let (order, results, next, failed, write_one) =
                (&order, &results, &next, &failed, &write_one);
            scope.spawn(move || loop {
                if failed.load(std::sync::atomic::Ordering::SeqCst) {
                    return;
                }
                let k = next.fetch_add(1, std::sync::atomic::Ordering::SeqCst);
                let Some(&i) = order.get(k) else { return };
                let r = write_one(&src, i)
                    .with_context(|| format!("writing layer {i} into {}", out.shown()));
                if r.is_err() {
                    failed.store(true, std::sync::atomic::Ordering::SeqCst);
                }
                if let Ok(mut g) = results[i].lock() {
                    *g = Some(r);
                }
            });
        }
    });
    let mut records = Vec::with_capacity(total);
    let mut summaries = Vec::with_capacity(total);
    let mut first_error = None;
    let mut written_layers = Vec::with_capacity(total);
    for slot in results {
        match slot
            .into_inner()
            .map_err(|_| anyhow::anyhow!("a layer writer panicked"))?
        {
            Some(Ok(w)) => written_layers.push(w),
            Some(Err(e)) => {
                first_error.get_or_insert(e);
            }
            None => {}
        }
    }
    if let Some(e) = first_error {
        return Err(e);
    }
    if written_layers.len() != total {
        bail!(
            "internal error: {} of {total} layers written",
            written_layers.len()
        );
    }
    for ((layer, (written, stats, reused)), key) in
        plan.layers.iter().zip(written_layers).zip(&layer_keys)
    {
        let mut descriptor = written.descriptor.clone();
        let mut annotations = std::collections::BTreeMap::from([(
            keys::ANNOTATION_LAYER_KEY.to_string(),
            format!("{key} {}", written.uncompressed_size),
        )]);
        let created_by = match layer.kind {
            LayerKind::Commit => spec.commit_layer_created_by.clone(),
            LayerKind::Chunk => {
                annotations.insert(
                    keys::ANNOTATION_COMPONENTS.to_string(),
                    layer.components.join(","),
                );
                manifest::spec::truncate(format!("ostree chunk: {}", layer.components.join(" ")))
            }
        };
        descriptor.annotations = Some(annotations.into_iter().collect());
        summaries.push(LayerSummary {
            digest: descriptor.digest.clone(),
            diff_id: written.diff_id.clone(),
            size: descriptor.size,
            uncompressed_size: written.uncompressed_size,
            media_type: descriptor.media_type.clone(),
            content_objects: stats.content_objects,
            components: layer.components.clone(),
            reused,
            reused_block_bytes: written.reused_bytes,
        });
        records.push(LayerRecord {
            descriptor,
            diff_id: written.diff_id,
            created_by,
        });
    }
    let config = spec.config(&records);
    let config_bytes = manifest::json::to_canonical(&config).context("serializing config")?;
    let config_desc = out
        .write_blob(keys::media::CONFIG, &config_bytes)
        .with_context(|| format!("writing the config into {}", out.shown()))?;
    let manifest = spec.manifest(&config, config_desc.clone(), &records);
    let manifest_bytes = manifest::json::to_canonical(&manifest).context("serializing manifest")?;
    let mut manifest_desc = out
        .write_blob(keys::media::MANIFEST, &manifest_bytes)
        .with_context(|| format!("writing the manifest into {}", out.shown()))?;
    manifest_desc.platform = Some(spec.platform());
    // The commit point: only now does the new image become visible.
    out.set_manifest(manifest_desc.clone(), req.tag.as_deref())
        .with_context(|| format!("updating the index of {}", out.shown()))?;
    Ok(Summary {
        commit: info.checksum,
        manifest_digest: manifest_desc.digest,
        config_digest: config_desc.digest,
        tag: req.tag.clone(),
        architecture: spec.architecture,
        created: spec.created,
        layers: summaries,
    })
}

/// Prove that `found`, a blob of the previous image `prev` filed under this layer's key,
/// holds exactly the layer the plan asks for: the layer as this commit gives it (written
/// uncompressed and hashed, not stored) must hash to the recorded diff_id, and the blob must
/// decompress to that same diff_id. Costs reading the layer's objects and decompressing the
/// blob; compressing it again would cost several times more (gzip).
fn prove_layer(
    src: &encapsulate::Source,
    inventory: &encapsulate::Inventory,
    layer: &layering::LayerPlan,
    prev: &OciDir,
    found: &Found,
    diff_id: &Digest,
    size: u64,
) -> Result<()> {
    let (ours, _) =
        encapsulate::write_layer(src, inventory, layer, HashSink::default(), &mut |_| {})?;
    let (ours_digest, ours_size) = ours.finish();
    if ours_digest != *diff_id || ours_size != size {
        bail!("its diff_id and size say {diff_id}, {size} bytes; this commit's layer is {ours_digest}, {ours_size} bytes");
    }
    let blob = prev.open_blob(&found.descriptor)?;
    let mut theirs = DiffReader::new(manifest::ocidir::decompress(
        &found.descriptor.media_type,
        io::BufReader::new(blob),
    )?);
    io::copy(&mut theirs, &mut io::sink()).context("reading the blob")?;
    if theirs.digest() != *diff_id {
        bail!(
            "the blob decompresses to {}, not {diff_id}",
            theirs.digest()
        );
    }
    Ok(())
}

/// A writer that only hashes (a layer's diff_id without storing the layer).
#[derive(Default)]
struct HashSink {
    hasher: sha2::Sha256,
    count: u64,
}

impl HashSink {
    fn finish(self) -> (Digest, u64) {
        use sha2::Digest as _;
        (Digest::from_sha256(&self.hasher.finalize()), self.count)
    }
}

impl io::Write for HashSink {
    fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
        use sha2::Digest as _;
        self.hasher.update(buf);
        self.count += buf.len() as u64;
        Ok(buf.len())
    }
    fn flush(&mut self) -> io::Result<()> {
        Ok(())
    }
}

/// Open a previous image: read its chunk layout — our layout label if present, else the
/// `ostree.components` annotations of its chunk layers (images made by other tools) — and keep
/// it open so its blobs can be reused.
///
/// `spec` is `DIR`, `DIR:TAG`, an oci-archive file, or a manifest JSON file (layout only).
///
/// # Errors
/// Unreadable images; an image with no layout information gives an empty layout, not an error.
pub fn open_previous(spec: &str) -> Result<Previous> {
    let path = Path::new(spec);
    let (target, tag) = if path.is_dir() {
        (Target::Dir(path.to_path_buf()), None)
    } else if path.is_file() {
        // An oci-archive can be gigabytes: look at its first byte before reading a manifest.
        let mut first = [0u8; 1];
        std::fs::File::open(path)
            .and_then(|mut f| f.read(&mut first))
            .with_context(|| format!("reading --previous {spec}"))?;
        if first[0] == b'{' {
            let data = read_option_file("--previous", path, keys::MAX_CONFIG_FILE)?;
            let m: manifest::oci::Manifest = serde_json::from_slice(&data)
                .with_context(|| format!("--previous {spec}: not an OCI manifest"))?;
            return Ok(Previous {
                layout: layout_from_annotations(&m),
                image: None,
                _unpacked: None,
            });
        }
        (Target::Archive(path.to_path_buf()), None)
    } else if let Some((dir, tag)) = spec.rsplit_once(':').filter(|(d, _)| Path::new(d).is_dir()) {
        (Target::Dir(PathBuf::from(dir)), Some(tag.to_string()))
    } else {
        bail!("--previous {spec}: no such OCI directory, oci-archive or manifest file");
    };
    let (oci, unpacked) = open_layout(&target)?;
    let img = oci
        .resolve(tag.as_deref())
        .with_context(|| format!("--previous {spec}"))?;
    let layout = img
        .config
        .labels()
        .get(keys::LABEL_LAYOUT)
        .and_then(|l| serde_json::from_str::<PreviousLayout>(l).ok())
        .unwrap_or_else(|| layout_from_annotations(&img.manifest));
    Ok(Previous {
        layout,
        image: Some((oci, img)),
        _unpacked: unpacked,
    })
}

fn layout_from_annotations(m: &manifest::oci::Manifest) -> PreviousLayout {
    PreviousLayout {
        layers: m
            .layers
            .iter()
            .skip(1)
            .filter_map(|l| l.annotations.as_ref()?.get(keys::ANNOTATION_COMPONENTS))
            .map(|v| {
                v.split(',')
                    .filter(|s| !s.is_empty())
                    .map(str::to_string)
                    .collect()
            })
            .collect(),
        unchanged: Vec::new(),
    }
}

/// For each chunk layer of the previous image: would the same components give the very
/// same layer now? Its key annotation against the key of that group's objects today. Only
/// for our own images whose layout lines up with their layers; otherwise empty (unknown).
fn unchanged_previous_layers(
    prev: &Previous,
    comps: &[layering::chunk::Component],
    source: &encapsulate::Source,
    inventory: &encapsulate::Inventory,
    compression: Compression,
) -> Vec<bool> {
    let Some((_, img)) = &prev.image else {
        return Vec::new();
    };
    let chunks = img.manifest.layers.get(1..).unwrap_or_default();
    if chunks.len() != prev.layout.layers.len() {
        return Vec::new();
    }
    let by_name: std::collections::BTreeMap<&str, &layering::chunk::Component> =
        comps.iter().map(|c| (c.name.as_str(), c)).collect();
    chunks
        .iter()
        .zip(&prev.layout.layers)
        .map(|(desc, names)| {
            let Some(old_key) = desc
                .annotations
                .as_ref()
                .and_then(|a| a.get(keys::ANNOTATION_LAYER_KEY))
                .and_then(|v| v.split(' ').next())
            else {
                return false;
            };
            let mut objects = Vec::new();
            for n in names {
                match by_name.get(n.as_str()) {
                    Some(c) => objects.extend(c.objects.iter().cloned()),
                    None => return false,
                }
            }
            objects.sort();
            objects.dedup();
            let layer = layering::LayerPlan {
                kind: LayerKind::Chunk,
                objects,
                components: names.clone(),
            };
            encapsulate::layer_key(source, inventory, &layer, &compression.settings()) == old_key
        })
        .collect()
}

/// One layer in an update comparison.
#[derive(Debug, Clone, Serialize, PartialEq, Eq)]
pub struct DiffLayer {
    /// Blob digest.
    pub digest: Digest,
    /// Blob size.
    pub size: u64,
    /// Whether a client holding the old image already has it.
    pub reused: bool,
    /// Component names (from the annotation).
    pub components: Option<String>,
}

/// What an update from one image to another costs a client.
#[derive(Debug, Clone, Serialize, PartialEq)]
pub struct DiffReport {
    /// Layers of the new image.
    pub layers: Vec<DiffLayer>,
    /// Total size of the new image's layers.
    pub total_bytes: u64,
    /// Bytes to download: new layers plus manifest and config.
    pub download_bytes: u64,
    /// Share of the new image's layer bytes already present (0..1).
    pub reused_share: f64,
    /// Number of new layers.
    pub new_layers: usize,
}

/// Compare two images (`DIR`, `DIR:TAG` or oci-archive).
///
/// # Errors
/// Unreadable images.
pub fn diff(old: &str, new: &str) -> Result<DiffReport> {
    let open = |spec: &str| -> Result<manifest::ocidir::ResolvedImage> {
        let path = Path::new(spec);
        let (target, tag) = if path.exists() {
            (
                if path.is_dir() {
                    Target::Dir(path.into())
                } else {
                    Target::Archive(path.into())
                },
                None,
            )
        } else if let Some((d, t)) = spec.rsplit_once(':').filter(|(d, _)| Path::new(d).is_dir()) {
            (Target::Dir(d.into()), Some(t.to_string()))
        } else {
            bail!("{spec}: no such OCI directory or oci-archive");
        };
        let (oci, _tmp) = open_layout(&target)?;
        oci.resolve(tag.as_deref())
            .with_context(|| spec.to_string())
    };
    let (o, n) = (open(old)?, open(new)?);
    let have: std::collections::HashSet<&str> = o
        .manifest
        .layers
        .iter()
        .map(|l| l.digest.as_str())
        .collect();
    let layers: Vec<DiffLayer> = n
        .manifest
        .layers
        .iter()
        .map(|l| DiffLayer {
            digest: l.digest.clone(),
            size: l.size,
            reused: have.contains(l.digest.as_str()),
            components: l
                .annotations
                .as_ref()
                .and_then(|a| a.get(keys::ANNOTATION_COMPONENTS).cloned()),
        })
        .collect();
    // Sizes are at most 2^63-1 each (checked when read), but many of them can still overflow.
    fn sum(sizes: impl Iterator<Item = u64>) -> Option<u64> {
        sizes.into_iter().try_fold(0u64, |a, b| a.checked_add(b))
    }
    let too_big = || format!("{new}: the layer sizes add up to more than 2^64 bytes");
    let total = sum(layers.iter().map(|l| l.size)).with_context(too_big)?;
    let fresh = sum(layers.iter().filter(|l| !l.reused).map(|l| l.size)).with_context(too_big)?;
    let download = sum([fresh, n.descriptor.size, n.manifest.config.size].into_iter())
        .with_context(too_big)?;
    Ok(DiffReport {
        total_bytes: total,
        download_bytes: download,
        reused_share: if total == 0 {
            1.0
        } else {
            (total - fresh) as f64 / total as f64
        },
        new_layers: layers.iter().filter(|l| !l.reused).count(),
        layers,
    })
}

/// Every layer of every image in the layout, by (diffid, media type). Unreadable entries are
/// skipped: this is only a cache.
/// A layer found in the output layout or in the previous image.
#[derive(Clone)]
struct Found {
    descriptor: Descriptor,
    /// Set when the blob is in the previous image and must be copied into the output.
    from_previous: bool,
}

/// Layers already made, by (layer key, media type), with their diffid and uncompressed size.
/// Only keyed layers count: a blob without a key may have been made with other compression
/// settings, and reusing it would make the output depend on what the directory held.
struct KnownLayers(std::collections::HashMap<(String, String), (Found, Digest, u64)>);

impl KnownLayers {
    /// The images of the output layout, then the previous image (the output's copy wins).
    fn find(out: &OciDir, previous: Option<&Previous>) -> KnownLayers {
        let mut known = KnownLayers(Default::default());
        if let Some((_, img)) = previous.and_then(|p| p.image.as_ref()) {
            known.add(img, true);
        }
        let Ok(index) = out.read_index() else {
            return known;
        };
        for d in &index.manifests {
            let tag = d
                .annotations
                .as_ref()
                .and_then(|a| a.get(keys::ANNOTATION_REF_NAME));
            let resolved = match tag {
                Some(t) => out.resolve(Some(t)),
                None if index.manifests.len() == 1 => out.resolve(None),
                None => continue,
            };
            if let Ok(img) = resolved {
                known.add(&img, false);
            }
        }
        known
    }

    fn add(&mut self, img: &manifest::ocidir::ResolvedImage, from_previous: bool) {
        for (l, diff) in img.manifest.layers.iter().zip(&img.config.rootfs.diff_ids) {
            let Some((key, size)) = l
                .annotations
                .as_ref()
                .and_then(|a| a.get(keys::ANNOTATION_LAYER_KEY))
                .and_then(|v| v.split_once(' '))
                .and_then(|(k, n)| Some((k.to_string(), n.parse::<u64>().ok()?)))
            else {
                continue;
            };
            let mut descriptor = l.clone();
            descriptor.annotations = None;
            let found = Found {
                descriptor,
                from_previous,
            };
            self.0
                .insert((key, l.media_type.clone()), (found, diff.clone(), size));
        }
    }

    fn get(&self, key: &(String, String)) -> Option<&(Found, Digest, u64)> {
        self.0.get(key)
    }

    /// The compressed blocks of the known gzip layers that have a block index: the previous
    /// image's first, then the output layout's, up to the source's limit.
    fn block_source(
        &self,
        out: &OciDir,
        previous: Option<&OciDir>,
    ) -> manifest::blocks::ReuseSource {
        let mut src = manifest::blocks::ReuseSource::new();
        let mut seen = std::collections::HashSet::new();
        let mut found: Vec<&Found> = self.0.values().map(|(f, _, _)| f).collect();
        found.sort_by(|a, b| {
            (!a.from_previous, &a.descriptor.digest).cmp(&(!b.from_previous, &b.descriptor.digest))
        });
        for f in found {
            if !seen.insert(f.descriptor.digest.clone()) {
                continue;
            }
            let layout = if f.from_previous { previous } else { Some(out) };
            if let Some(layout) = layout {
                if !layout.offer_blocks(&f.descriptor, &mut src) {
                    break;
                }
            }
        }
        src
    }
}

/// Where an image is written or read.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Target {
    /// An OCI layout directory.
    Dir(PathBuf),
    /// An oci-archive file.
    Archive(PathBuf),
}

/// Encapsulate into a directory (created if missing; removed again on failure if we created
/// it) or into an oci-archive (written next to its final name, renamed into place).
///
/// # Errors
/// As [`encapsulate_into`], plus output errors naming the path.
pub fn encapsulate_to(
    req: &EncapsulateRequest,
    target: &Target,
    progress: &mut dyn Progress,
) -> Result<Summary> {
    req.validate()?;
    match target {
        Target::Dir(path) => {
            // A failed concurrent run that created the directory removes it again when it
            // is empty and no run holds the run lock; a run that lost that race starts over.
            let mut attempt = 0;
            let (oci, lock, created) = loop {
                attempt += 1;
                let created = prepare_out_dir(path)?;
                let opened = open_out_layout(path).and_then(|oci| Ok((oci.run_lock()?, oci)));
                match opened {
                    Ok((lock, oci)) => break (oci, lock, created),
                    // Any error may be that race (a directory removed under our handle);
                    // a lasting one (a foreign directory) fails the same way each time.
                    Err(_) if attempt < 5 => {}
                    Err(e) => {
                        remove_created_dirs(path, &created);
                        return Err(e);
                    }
                }
            };
            let result = encapsulate_into(req, &oci, progress);
            if result.is_err() {
                // Remove what this run wrote, and only that: blobs no image uses, then the
                // directories this run created if they are empty now. Both only when no
                // other run is writing here (the exclusive lock).
                if let Some(exclusive) = oci.remove_created(lock) {
                    drop(oci);
                    remove_created_dirs(path, &created);
                    drop(exclusive);
                }
            }
            result
        }
        Target::Archive(path) => {
            let (parent, name) = split_parent(path)?;
            let parent_dir = Dir::open_ambient_dir(&parent, cap_std::ambient_authority())
                .with_context(|| format!("opening output directory {}", parent.display()))?;
            let work = workdir::WorkDir::create(&parent)?;
            let layout_path = work.layout_path()?;
            let layout_dir = Dir::open_ambient_dir(&layout_path, cap_std::ambient_authority())?;
            let oci = OciDir::ensure(layout_dir, &layout_path.display().to_string())?;
            let summary = encapsulate_into(req, &oci, progress)?;
            let mut tmp = cap_tempfile::TempFile::new(&parent_dir)
                .with_context(|| format!("creating temp file in {}", parent.display()))?;
            let buffered = io::BufWriter::new(&mut tmp);
            let buffered = manifest::archive::write_archive(oci.dir(), buffered)?;
            buffered
                .into_inner()
                .map_err(|e| e.into_error())
                .with_context(|| format!("writing {}", path.display()))?;
            tmp.as_file()
                .sync_all()
                .with_context(|| format!("syncing {}", path.display()))?;
            tmp.replace(&name)
                .with_context(|| format!("renaming into {}", path.display()))?;
            parent_dir.open(".").and_then(|d| d.sync_all()).ok();
            Ok(summary)
        }
    }
}

fn split_parent(path: &Path) -> Result<(PathBuf, String)> {
    let name = path
        .file_name()
        .and_then(|n| n.to_str())
        .with_context(|| format!("{} does not name a file", path.display()))?
        .to_string();
    let parent = match path.parent() {
        Some(p) if !p.as_os_str().is_empty() => p.to_path_buf(),
        _ => PathBuf::from("."),
    };
    if !parent.is_dir() {
        bail!("output directory {} does not exist", parent.display());
    }
    Ok((parent, name))
}

/// Create the output dir and its missing ancestors; returns the directories this call
/// created, deepest first, so a failed run can remove exactly those.
fn prepare_out_dir(path: &Path) -> Result<Vec<PathBuf>> {
    match std::fs::metadata(path) {
        Ok(m) if m.is_dir() => Ok(Vec::new()),
        Ok(_) => bail!("--oci-dir {} exists and is not a directory", path.display()),
        Err(e) if e.kind() == io::ErrorKind::NotFound => {
            let mut missing = Vec::new();
            let mut p = Some(path);
            while let Some(d) = p.filter(|d| !d.as_os_str().is_empty() && !d.exists()) {
                missing.push(d.to_path_buf());
                p = d.parent();
            }
            std::fs::create_dir_all(path)
                .with_context(|| format!("creating output directory {}", path.display()))?;
            Ok(missing)
        }
        Err(e) => Err(e).with_context(|| format!("checking output directory {}", path.display())),
    }
}

/// After a failed run into `path`: remove the directories `created` (deepest first) if this
/// run created them and they hold nothing but an empty layout skeleton. `remove_dir` only
/// removes empty directories, so anything another run put there stays.
fn remove_created_dirs(path: &Path, created: &[PathBuf]) {
    if created.first().map(PathBuf::as_path) != Some(path) {
        return;
    }
    let _ = std::fs::remove_dir(path.join(keys::BLOCK_INDEX_DIR));
    if std::fs::remove_dir(path.join(manifest::keys::layout::BLOBS_SHA256)).is_ok()
        && std::fs::remove_dir(path.join(manifest::keys::layout::BLOBS)).is_ok()
        && !path.join(manifest::keys::layout::INDEX_JSON).exists()
    {
        let _ = std::fs::remove_file(path.join(manifest::keys::layout::OCI_LAYOUT));
    }
    for d in created {
        if std::fs::remove_dir(d).is_err() {
            break;
        }
    }
}

fn open_out_layout(path: &Path) -> Result<OciDir> {
    let dir = Dir::open_ambient_dir(path, cap_std::ambient_authority())
        .with_context(|| format!("opening output directory {}", path.display()))?;
    Ok(OciDir::ensure(dir, &path.display().to_string())?)
}

/// Open an existing layout (dir) or unpack an archive into a temp dir for reading.
///
/// # Errors
/// Missing paths, not a layout, bad archive.
pub fn open_layout(target: &Target) -> Result<(OciDir, Option<workdir::WorkDir>)> {
    match target {
        Target::Dir(path) => {
            let dir = Dir::open_ambient_dir(path, cap_std::ambient_authority())
                .with_context(|| format!("opening OCI directory {}", path.display()))?;
            Ok((OciDir::open(dir, &path.display().to_string())?, None))
        }
        Target::Archive(path) => {
            let f = std::fs::File::open(path)
                .with_context(|| format!("opening oci-archive {}", path.display()))?;
            let tmp = workdir::WorkDir::create(&std::env::temp_dir())
                .context("creating a temp dir to unpack the archive")?;
            let dir = Dir::open_ambient_dir(tmp.layout_path()?, cap_std::ambient_authority())?;
            manifest::archive::unpack_archive(io::BufReader::new(f), &dir)
                .with_context(|| format!("unpacking {}", path.display()))?;
            let oci = OciDir::open(dir, &path.display().to_string())?;
            Ok((oci, Some(tmp)))
        }
    }
}

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

/// Read an image back the way an importer does and check everything.
///
/// # Errors
/// The first problem found, naming the blob, layer, entry, object or path.
pub fn verify(oci: &OciDir, req: &VerifyRequest) -> Result<VerifyReport> {
    let img = oci.resolve(req.tag.as_deref())?;
    check_image(oci, &img, req, encapsulate::verify::StreamVerifier::new())
}

/// Import an image's commit into the ostree repository at `repo_path` (created in archive
/// mode if it does not exist), checking everything `verify` checks. Objects are written as
/// they verify, inside one transaction; the commit is written last, and on any error the
/// transaction is aborted, so the repo never holds a commit from a bad image. With `branch`,
/// the branch is pointed at the commit.
///
/// # Errors
/// As [`verify`], plus repository errors naming the repo.
pub fn import(
    oci: &OciDir,
    tag: Option<&str>,
    repo_path: &Path,
    branch: Option<&str>,
) -> Result<VerifyReport> {
    use ostree::gio;
    // Every argument is checked before anything is written.
    if let Some(b) = branch {
        ostree::validate_rev(b)
            .map_err(|e| anyhow::anyhow!("--branch {b:?} is not a valid ref name: {e}"))?;
    }
    let img = oci.resolve(tag)?;
    let repo = ostree::Repo::new_for_path(repo_path);
    let mut created_repo = false;
    if repo_path.join("config").is_file() {
        repo.open(gio::Cancellable::NONE)
            .with_context(|| format!("opening repository {}", repo_path.display()))?;
    } else {
        match std::fs::read_dir(repo_path) {
            Ok(mut entries) => {
                if entries.next().is_some() {
                    bail!(
                        "--repo {}: the directory is not empty and not an ostree repository (no config file); refusing to write into it",
                        repo_path.display()
                    );
                }
            }
            Err(e) if e.kind() == io::ErrorKind::NotFound => created_repo = true,
            Err(e) => {
                return Err(e).with_context(|| format!("--repo {}", repo_path.display()));
            }
        }
        std::fs::create_dir_all(repo_path)
            .with_context(|| format!("creating {}", repo_path.display()))?;
        repo.create(ostree::RepoMode::Archive, gio::Cancellable::NONE)
            .with_context(|| format!("creating repository {}", repo_path.display()))?;
    }
    let result = import_into(oci, &img, &repo, repo_path, branch);
    if result.is_err() && created_repo {
        // The repository is this run's alone: nothing else can be in it yet.
        let _ = std::fs::remove_dir_all(repo_path);
    }
    result
}

fn import_into(
    oci: &OciDir,
    img: &manifest::ocidir::ResolvedImage,
    repo: &ostree::Repo,
    repo_path: &Path,
    branch: Option<&str>,
) -> Result<VerifyReport> {
    use ostree::gio;
    repo.prepare_transaction(gio::Cancellable::NONE)
        .with_context(|| format!("starting a transaction in {}", repo_path.display()))?;
    match check_image(
        oci,
        img,
        &VerifyRequest::default(),
        encapsulate::verify::StreamVerifier::importing_into(repo.clone()),
    ) {
        Ok(report) => {
            if let Some(b) = branch {
                repo.transaction_set_ref(None, b, Some(&report.commit));
            }
            repo.commit_transaction(gio::Cancellable::NONE)
                .with_context(|| format!("committing the import into {}", repo_path.display()))?;
            Ok(report)
        }
        Err(e) => {
            let _ = repo.abort_transaction(gio::Cancellable::NONE);
            Err(e)
        }
    }
}

/// Check the resolved image `img` of `oci` (`req.tag` is not looked at: the caller resolved).
fn check_image(
    oci: &OciDir,
    img: &manifest::ocidir::ResolvedImage,
    req: &VerifyRequest,
    verifier: encapsulate::verify::StreamVerifier,
) -> Result<VerifyReport> {
    let m = &img.manifest;
    // Our images carry a layer key on every layer; anything else came from another writer.
    let ours = m.layers.iter().all(|l| {
        l.annotations
            .as_ref()
            .is_some_and(|a| a.contains_key(keys::ANNOTATION_LAYER_KEY))
    });
    let strict = req.strict.unwrap_or(ours);
    let mut verifier = verifier.strict(strict);
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
        .with_context(|| format!("config has no {} label", keys::LABEL_COMMIT))?;
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
    for (i, layer) in m
        .layers
        .iter()
        .enumerate()
        .skip(1)
        .take(ostree_layers.saturating_sub(1))
    {
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

    for (i, layer) in m.layers.iter().enumerate().take(ostree_layers) {
        check_blob(oci, layer).with_context(|| format!("layer {i}"))?;
        let blob = oci.open_blob(layer)?;
        let mut diff = DiffReader::new(manifest::ocidir::decompress(
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
    let verified = verifier.finish()?;
    if verified.commit != *commit_label {
        bail!(
            "the image carries commit {}, but its {} label says {commit_label}",
            verified.commit,
            keys::LABEL_COMMIT
        );
    }
    if let Some(repo) = &req.repo {
        check_against_repo(repo, req.rev.as_deref(), &verified)?;
    }
    let mut signature = None;
    if let Some(keyring) = &req.gpg_keyring {
        signature = Some(encapsulate::signature::verify_gpg(
            &verified.commit,
            &verified.commit_bytes,
            verified.commitmeta.as_deref(),
            keyring,
        )?);
    }
    if let Some(key) = &req.ed25519_key {
        let keys = encapsulate::signature::parse_ed25519_keys(key)?;
        let n = encapsulate::signature::verify_ed25519(
            &verified.commit,
            &verified.commit_bytes,
            verified.commitmeta.as_deref(),
            &keys,
        )?;
        signature = Some(format!("{n} good ed25519 signature(s)"));
    }
    Ok(VerifyReport {
        commit: verified.commit,
        manifest_digest: img.descriptor.digest.clone(),
        layers: m.layers.len(),
        content_objects: verified.content_objects,
        metadata_objects: verified.metadata_objects,
        paths: verified.paths,
        signature,
        has_detached_metadata: verified.commitmeta.is_some(),
        strict,
    })
}

fn check_blob(oci: &OciDir, desc: &Descriptor) -> Result<()> {
    let mut r = oci.open_blob(desc)?;
    io::copy(&mut r, &mut io::sink()).with_context(|| format!("blob {}", desc.digest))?;
    Ok(())
}

fn check_against_repo(
    repo: &Path,
    rev: Option<&str>,
    verified: &encapsulate::verify::VerifiedCommit,
) -> Result<()> {
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

/// Hashes everything read through it (the diffid of a layer).
struct DiffReader<R> {
    inner: R,
    hasher: sha2::Sha256,
}

impl<R: Read> DiffReader<R> {
    fn new(inner: R) -> Self {
        use sha2::Digest;
        DiffReader {
            inner,
            hasher: sha2::Sha256::new(),
        }
    }
    fn digest(&self) -> Digest {
        use sha2::Digest as _;
        Digest::from_sha256(&self.hasher.clone().finalize())
    }
}

impl<R: Read> Read for DiffReader<R> {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        use sha2::Digest;
        let n = self.inner.read(buf)?;
        self.hasher.update(&buf[..n]);
        Ok(n)
    }
}
