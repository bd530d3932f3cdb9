//! Request → plan → layers → image: the encapsulation itself, into an open layout.
//!
//! [`encapsulate_into`] reads as the pipeline it runs: open the commit, plan the layers
//! (plain data: nothing is written until every input has been checked), write the layers in
//! parallel (reusing those already made), then write config and manifest and, last, the index
//! entry that makes the image visible.

use crate::codec;
use crate::request::{EncapsulateRequest, LayerSummary, Progress, Summary};
use crate::reuse::{prove_layer, Found, KnownLayers};
use anyhow::{Context, Result};
use compress::Compression;
use encapsulate::{Inventory, LayerStats, OrderedLayer, Source};
use layering::chunk::{PackOptions, PreviousLayout};
use layering::{LayerKind, LayerPlan, Plan};
use oci::keys;
use oci::spec::{image_spec, ImageSpec, LayerRecord};
use oci::{OciDir, WrittenLayer};
use std::collections::BTreeMap;
use std::sync::{Arc, Mutex, OnceLock};

pub use crate::building::facts::{commit_facts, host_arch};

/// Encapsulate a commit into the layout `out`.
///
/// # Errors
/// Typed [`encapsulate::EncapError`]s (repo, ref, objects), [`oci::spec::SpecError`]s
/// (options), and I/O errors with context naming the object or file.
pub fn encapsulate_into(
    req: &EncapsulateRequest,
    out: &OciDir,
    progress: &mut dyn Progress,
) -> Result<Summary> {
    let mut clock = Phases::start();
    // Holds a --rootfs or --from tree's scratch repository (and an image's unpacked tree)
    // until the image is written.
    let (source, _scratch, base) = open_source(req, &mut clock, progress)?;
    // On a base, the layer limits count its layers too: ours get what is left.
    let on_base;
    let req = match &base {
        Some(b) => {
            let mut r = req.clone();
            r.chunking.max_layers = crate::building::base::chunk_budget(
                req.chunking.max_layers,
                b.image.manifest.layers.len(),
                req.chunking.allow_many_layers,
            )?;
            // On an ostree-format base, ours are derived layers: plain, as a container
            // build's are, read by ostree-ext into a merge commit over the base's.
            r.format = encapsulate::StreamFormat::Plain;
            on_base = r;
            &on_base
        }
        None => req,
    };
    let info = source.info()?;
    let mut image = req.image.clone();
    image.plain = req.format == encapsulate::StreamFormat::Plain;
    let mut spec = image_spec(&commit_facts(&info), &image, host_arch())?;
    let inventory = source.inventory()?;
    clock.end("read tree", progress);
    let mut planned = plan_layers(req, &source, &inventory, &mut clock, progress)?;
    match base
        .as_ref()
        .filter(|b| crate::building::base::is_ostree(b))
    {
        // A derived image of an ostree base says what the base says (its commit, where its
        // ostree layers end), as a container build's image inherits its base's config.
        Some(b) => {
            for (k, v) in b.image.config.labels() {
                spec.labels.entry(k).or_insert(v);
            }
        }
        None => {
            if let Some(layout) = &planned.layout_label {
                spec.labels
                    .insert(keys::LABEL_LAYOUT.into(), layout.clone());
            }
        }
    }
    // What the bill of materials needs from the tree is read before the layer threads take
    // the source.
    let sbom_input = match &req.sbom {
        Some(_) => Some(SbomInput::read(req, &source, &inventory, &mut planned)?),
        None => None,
    };
    let built = write_layers(req, out, source, &inventory, &planned, progress)?;
    clock.end("write layers", progress);
    let sbom = match (&req.sbom, sbom_input) {
        (Some(path), Some(input)) => {
            let s = input.document(req, &spec, &info.checksum, &planned.plan, &built, path);
            spec.labels
                .insert(keys::LABEL_SBOM.into(), s.digest.to_string());
            clock.end("sbom", progress);
            Some(s)
        }
        _ => None,
    };
    let base = base
        .as_ref()
        .zip(req.base.as_ref().map(|(i, _)| i.to_string()));
    let (mut summary, manifest) = assemble(
        req,
        out,
        &spec,
        &planned.plan,
        built,
        info.checksum,
        base.as_ref().map(|(b, n)| (*b, n.as_str())),
    )?;
    if let Some(s) = &sbom {
        crate::building::attached::sbom(out, &manifest, &s.document)?;
    }
    if let (Some(crate::composefs::Publish::Referrer), Some(d)) =
        (req.composefs, &summary.composefs)
    {
        let bytes = out.read_blob(&manifest, "manifest")?;
        crate::composefs::store_referrer(out, &manifest, &bytes, d)?;
    }
    if req.provenance {
        let base = base
            .as_ref()
            .map(|(b, n)| (n.clone(), b.image.descriptor.digest.clone()));
        crate::building::attached::provenance(req, out, &manifest, &summary.commit, base)?;
    }
    summary.sbom = sbom;
    clock.end("assemble", progress);
    Ok(summary)
}

/// What a bill of materials says of the tree: its installed packages and distribution.
struct SbomInput {
    packages: Vec<encapsulate::components::InstalledPackage>,
    distro: Option<(String, Option<String>)>,
}

impl SbomInput {
    /// The packages discovery read, or (single layer, package databases not used for
    /// chunking) the databases read now.
    fn read(
        req: &EncapsulateRequest,
        source: &Source,
        inventory: &Inventory,
        planned: &mut Planned,
    ) -> Result<SbomInput> {
        let packages = if req.chunking.max_layers > 0 && req.chunking.components.packages {
            std::mem::take(&mut planned.installed)
        } else {
            encapsulate::components::installed_packages(source, inventory)?
        };
        Ok(SbomInput {
            packages,
            distro: encapsulate::components::os_release(source, inventory)?,
        })
    }

    /// The SPDX document: each package in the layer that holds its source package's
    /// component (the commit layer holds what no chunk does).
    fn document(
        self,
        req: &EncapsulateRequest,
        spec: &ImageSpec,
        commit: &str,
        plan: &Plan,
        built: &[BuiltLayer],
        path: &std::path::Path,
    ) -> crate::request::SbomSummary {
        let mut layer_of: BTreeMap<&str, usize> = BTreeMap::new();
        for (i, l) in plan.layers.iter().enumerate() {
            for c in &l.components {
                layer_of.insert(c.as_str(), i);
            }
        }
        let rest = plan
            .layers
            .iter()
            .position(|l| l.kind == LayerKind::Commit)
            .unwrap_or(0);
        let packages: Vec<sbom::Package> = self
            .packages
            .into_iter()
            .map(|p| sbom::Package {
                kind: match p.kind {
                    encapsulate::components::PackageKind::Deb => sbom::Kind::Deb,
                    encapsulate::components::PackageKind::Rpm => sbom::Kind::Rpm,
                },
                layer: Some(layer_of.get(p.source.as_str()).copied().unwrap_or(rest)),
                name: p.name,
                version: p.version,
                epoch: p.epoch,
                source: p.source,
                arch: p.arch,
                license: p.license,
            })
            .collect();
        let layers: Vec<sbom::Layer> = plan
            .layers
            .iter()
            .zip(built)
            .map(|(l, b)| sbom::Layer {
                digest: b.written.descriptor.digest.to_string(),
                components: l.components.clone(),
            })
            .collect();
        let name = crate::building::provenance::Input::of(req)
            .given()
            .1
            .to_string();
        let image = sbom::Image {
            name,
            version: spec.labels.get(keys::LABEL_VERSION).cloned(),
            commit: Some(commit.to_string()),
            created: spec.created.clone(),
            distro: self.distro,
            tool: format!("ostree-encap-{}", env!("CARGO_PKG_VERSION")),
        };
        let document = sbom::spdx(&image, &layers, &packages);
        crate::request::SbomSummary {
            path: path.to_path_buf(),
            digest: oci::types::Digest::of(&document),
            packages: packages.len(),
            document,
        }
    }
}

/// The commit to encapsulate: `--repo`/`--ref`, or a `--rootfs` tree (or the tree of a
/// `--from` image, unpacked first) made into a commit in a scratch repository (returned with
/// it: it must outlive the run).
fn open_source(
    req: &EncapsulateRequest,
    clock: &mut Phases,
    progress: &mut dyn Progress,
) -> Result<(
    Source,
    Option<crate::workdir::WorkDir>,
    Option<crate::image_ref::OpenedImage>,
)> {
    let Some(rootfs) = &req.rootfs else {
        return Ok((encapsulate::open(&req.repo, &req.rev)?, None, None));
    };
    // The scratch repository holds the commit object only; a `--from` image's tree is as big
    // as the image's filesystem: `$TMPDIR` is where the user says such things go
    // (docs/rechunking.md), never beside the output.
    let work = crate::workdir::WorkDir::create(&std::env::temp_dir())?;
    let mut prune = rootfs.prune.clone();
    let explicit = oci::spec::explicit_time(&req.image)?;
    let (dir, image_time) = match &rootfs.tree {
        crate::TreeInput::Dir(d) => (d.clone(), None),
        crate::TreeInput::Image(image, pull) => {
            let tree = work.path().join("tree");
            std::fs::create_dir(&tree).with_context(|| format!("creating {}", tree.display()))?;
            let flat = crate::flatten::flatten_ref(image, pull, &tree, work.path())?;
            if flat.ostree {
                // The old commit's objects; its files are at their paths too (hard links).
                prune.push(ostree_format::SYSROOT_DIR.to_string());
            }
            // The files were made just now: their times say nothing. Without a time given,
            // the image's own `created` (or 0 if it has none) is the commit's; one that
            // does not parse is an error, not 1970.
            let created = match (flat.created, explicit) {
                (Ok(t), _) => t.unwrap_or(0),
                (Err(_), Some(_)) => 0,
                (Err(text), None) => anyhow::bail!(
                    "--from {}: its config's created {text:?} is not an RFC 3339 time; give \
                     the commit's time with --created or SOURCE_DATE_EPOCH",
                    image
                ),
            };
            (tree, Some(created))
        }
    };
    // A derived tree on a base: only its difference from the base's tree is read.
    let (dir, base) = match &req.base {
        None => (dir, None),
        Some((image, pull)) => {
            let (delta, opened) = crate::building::base::derive(
                image,
                pull,
                req.format,
                &dir,
                &mut prune,
                work.path(),
            )?;
            clock.end("difference from the base", progress);
            (delta, Some(opened))
        }
    };
    let opts = encapsulate::rootfs::TreeOptions {
        prune,
        timestamp: explicit
            .or(image_time)
            .map(|t| {
                u64::try_from(t).map_err(|_| {
                    anyhow::anyhow!(
                        "the commit time {t} is before 1970, which an ostree commit cannot \
                         hold; give another with --created or SOURCE_DATE_EPOCH"
                    )
                })
            })
            .transpose()?,
        threads: req.jobs,
        keep_special: req.format == encapsulate::StreamFormat::Plain,
    };
    let source = encapsulate::open_tree(&dir, &work.path().join("repo"), &opts)?;
    clock.end("scan tree", progress);
    Ok((source, Some(work), base))
}

/// Wall time per phase, reported as progress (never written into the image).
struct Phases(std::time::Instant);

impl Phases {
    fn start() -> Phases {
        Phases(std::time::Instant::now())
    }

    /// Report the phase that ends now and start the next.
    fn end(&mut self, name: &str, progress: &mut dyn Progress) {
        let now = std::time::Instant::now();
        progress.phase(name, now.duration_since(self.0).as_secs_f64());
        self.0 = now;
    }
}

/// The plan and what writing it needs to know.
struct Planned {
    /// The plan, validated; its layers' object lists are emptied by [`Planned::compact`].
    plan: Plan,
    /// The layer of each content object, by inventory index (set by [`Planned::compact`]):
    /// the plan's object lists repeat every checksum the inventory holds, 32 bytes each; a
    /// million-file tree wrote its layers with 32 MB more than this 4.
    layer_of: Vec<u32>,
    /// Content objects per layer.
    counts: Vec<usize>,
    /// Payload size of each content object, by its index in the inventory (empty: unknown,
    /// as for a single layer, which needs no sizes to plan).
    sizes: Vec<u64>,
    /// The `ostree-encap.layout` label of a chunked image.
    layout_label: Option<String>,
    /// The installed packages discovery read (for `--sbom`).
    installed: Vec<encapsulate::components::InstalledPackage>,
}

impl Planned {
    /// Move the layers' object lists into `layer_of` (the plan is valid: every object of the
    /// inventory is in exactly one layer).
    fn compact(&mut self, inventory: &Inventory) {
        let mut layer_of = vec![0u32; inventory.objects().len()];
        self.counts = self.plan.layers.iter().map(|l| l.objects.len()).collect();
        for (n, layer) in self.plan.layers.iter_mut().enumerate() {
            for c in &layer.objects {
                if let Some(i) = inventory.position(c) {
                    layer_of[i] = n as u32;
                }
            }
            layer.objects = Vec::new();
        }
        self.layer_of = layer_of;
    }

    /// Layer `n` with its objects, sorted (inventory order is checksum order).
    fn layer(&self, inventory: &Inventory, n: usize) -> LayerPlan {
        let mut objects = Vec::with_capacity(self.counts.get(n).copied().unwrap_or(0));
        objects.extend(
            inventory
                .objects()
                .iter()
                .zip(&self.layer_of)
                .filter(|(_, &l)| l as usize == n)
                .map(|(c, _)| *c),
        );
        LayerPlan {
            kind: self.plan.layers[n].kind,
            objects,
            components: self.plan.layers[n].components.clone(),
        }
    }

    /// Payload bytes of each layer (0 where sizes are unknown).
    fn layer_bytes(&self) -> Vec<u64> {
        let mut bytes = vec![0u64; self.plan.layers.len()];
        for (&l, &s) in self.layer_of.iter().zip(&self.sizes) {
            if let Some(b) = bytes.get_mut(l as usize) {
                *b += s;
            }
        }
        bytes
    }
}

/// Decide which objects go into which layer: one layer, or components packed into chunks
/// (following the previous build's layout where it still fits).
fn plan_layers(
    req: &EncapsulateRequest,
    source: &Source,
    inventory: &Inventory,
    clock: &mut Phases,
    progress: &mut dyn Progress,
) -> Result<Planned> {
    let mut planned = if req.chunking.max_layers == 0 {
        Planned {
            plan: Plan::single_layer(inventory.objects()),
            layer_of: Vec::new(),
            counts: Vec::new(),
            sizes: Vec::new(),
            layout_label: None,
            installed: Vec::new(),
        }
    } else {
        let encapsulate::components::Discovery {
            sizes,
            owner,
            names,
            volatile,
            installed,
            ..
        } = encapsulate::components::discover(source, inventory, &req.chunking.components)?;
        clock.end("components", progress);
        let comps =
            layering::chunk::components(inventory.objects(), &sizes, &owner, &names, &volatile);
        // Who owns what is in the components now: dropped here, it no longer sits beside
        // the plan at the heap's peak.
        drop(owner);
        let opts = PackOptions {
            max_layers: req.chunking.max_layers,
        };
        let previous = req.chunking.previous.as_deref().map(|p| PreviousLayout {
            unchanged: crate::reuse::unchanged_previous_layers(
                p,
                &comps,
                source,
                inventory,
                req.format,
                req.compression,
            ),
            ..p.layout.clone()
        });
        let plan = layering::chunk::pack(&comps, &opts, previous.as_ref());
        drop(comps);
        let layout = serde_json::to_string(&plan.layout()).context("serializing the layout")?;
        Planned {
            plan,
            layer_of: Vec::new(),
            counts: Vec::new(),
            sizes,
            layout_label: Some(layout),
            installed,
        }
    };
    planned
        .plan
        .validate(inventory.objects())
        .map_err(|e| encapsulate::EncapError::Plan {
            reason: e.to_string(),
        })?;
    planned.compact(inventory);
    clock.end("plan", progress);
    Ok(planned)
}

/// A layer blob in the output, made now or reused.
struct BuiltLayer {
    /// The layer key (recorded in an annotation, for reuse by later builds).
    key: String,
    written: WrittenLayer,
    /// Uncompressed bytes whose compressed form was taken from an earlier blob.
    reused_bytes: u64,
    stats: LayerStats,
    reused: bool,
    /// Its entries for the composefs digests (`--composefs`), read as it was written.
    entries: Option<sealing::entries::Layer>,
}

/// Everything the layer threads share.
struct LayerJobs<'a> {
    req: &'a EncapsulateRequest,
    out: &'a OciDir,
    inventory: &'a Inventory,
    /// The plan: each layer's objects (`Planned::layer`) and their sizes, for progress.
    planned: &'a Planned,
    /// Uncompressed content bytes per layer.
    layer_bytes: Vec<u64>,
    /// Layers already made, in the output or the previous image: a layer whose key matches
    /// one is reused without compressing it, so a rebuild costs about the changed layers.
    known: KnownLayers,
    previous: Option<&'a OciDir>,
    /// Compressed blocks of the known gzip layers, for new layers that share some content
    /// with them; loaded on first use, so a rebuild that reuses whole layers reads no index.
    block_source: OnceLock<Arc<compress::blocks::ReuseSource>>,
    /// Compressor threads per layer.
    cores: usize,
    progress: Mutex<&'a mut dyn Progress>,
}

/// Write every layer of the plan, in parallel; results in layer order.
fn write_layers(
    req: &EncapsulateRequest,
    out: &OciDir,
    source: Source,
    inventory: &Inventory,
    planned: &Planned,
    progress: &mut dyn Progress,
) -> Result<Vec<BuiltLayer>> {
    let plan = &planned.plan;
    let layer_bytes = planned.layer_bytes();
    progress.started(
        plan.layers.len(),
        inventory.objects().len(),
        layer_bytes.iter().sum(),
    );
    // Largest first, so the last layer to start is a small one.
    let mut order: Vec<usize> = (0..plan.layers.len()).collect();
    order.sort_by(|a, b| layer_bytes[*b].cmp(&layer_bytes[*a]).then(a.cmp(b)));
    let cores = crate::parallel::threads(req.jobs);
    let previous = req.chunking.previous.as_deref();
    let jobs = LayerJobs {
        req,
        out,
        inventory,
        planned,
        layer_bytes,
        known: KnownLayers::find(out, previous),
        previous: previous.and_then(|p| p.image.as_ref()).map(|(oci, _)| oci),
        block_source: OnceLock::new(),
        cores,
        progress: Mutex::new(progress),
    };
    // Layer threads read and tar; each layer's compressor has `cores` threads of its own, so
    // one big layer (or the last one) still uses every core. Output never depends on either.
    // One repo handle per thread: handles may move between threads but not be shared.
    let threads = cores.min(plan.layers.len()).max(1);
    let mut sources = Vec::with_capacity(threads);
    for _ in 1..threads {
        sources.push(source.reopen()?);
    }
    sources.push(source);
    crate::parallel::run_in_order(sources, &order, |src, i| {
        jobs.write(src, i)
            .with_context(|| format!("writing layer {i} into {}", out.shown()))
    })
}

impl LayerJobs<'_> {
    /// Layer `i`: reused if an identical one is already made, else read, tarred, compressed.
    /// Its key (what its bytes depend on) is made here, on the layer's thread: on a tree of
    /// 300k files the 64 keys took ~0.9 s on one thread before any layer started.
    fn write(&self, src: &Source, i: usize) -> Result<BuiltLayer> {
        let plan = self.planned.layer(self.inventory, i);
        let layer = OrderedLayer::new(self.inventory, &plan);
        let key = encapsulate::layer_key(
            src,
            self.inventory,
            &layer,
            self.req.format,
            &self.req.compression.settings(),
        );
        if let Some(built) = self.try_reuse(src, i, &layer, &key) {
            return Ok(built);
        }
        let writer =
            codec::layer_writer(self.out, self.req.compression, self.cores, self.blocks())?;
        let writer = crate::composefs::Tapped::new(writer, self.req.composefs.is_some());
        let (writer, stats) = encapsulate::write_layer(
            src,
            self.inventory,
            &layer,
            self.req.format,
            writer,
            self.cores,
            &mut |b| self.with_progress(|p| p.object_written(b)),
        )?;
        let (writer, entries) = writer.finish()?;
        let (written, reused_bytes) = codec::finish_layer(self.out, writer)?;
        if let Some(e) = &entries {
            crate::composefs::keep_entries(self.out, &written.descriptor, e);
        }
        self.with_progress(|p| p.layer_finished(i));
        Ok(BuiltLayer {
            key,
            written,
            reused_bytes,
            stats,
            reused: false,
            entries,
        })
    }

    /// A layer with this layer's key, already in the output, or in the previous image and
    /// proven to be this layer (see [`prove_layer`]) and copied over; `None` to build it.
    fn try_reuse(
        &self,
        src: &Source,
        i: usize,
        layer: &OrderedLayer<'_>,
        key: &str,
    ) -> Option<BuiltLayer> {
        let media_type = codec::media_type(self.req.compression).to_string();
        let (found, diff_id, size) = self.known.get(&(key.to_string(), media_type))?;
        // A layer of the previous image is someone else's claim: its key annotation and
        // diff_id could be forged. One that is not proven is built from the repo instead.
        let proven = match (found.from_previous, self.previous) {
            (false, _) => true,
            (true, None) => false,
            (true, Some(prev)) => {
                match prove_layer(
                    src,
                    self.inventory,
                    (layer, self.req.format),
                    prev,
                    found,
                    (diff_id, *size),
                    self.cores,
                ) {
                    Ok(()) => true,
                    Err(why) => {
                        self.with_progress(|p| p.warning(&format!(
                            "--previous layer {} is not the layer it claims to be ({why:#}); building it from the repository",
                            found.descriptor.digest
                        )));
                        false
                    }
                }
            }
        };
        if !proven || !self.present(found) {
            return None;
        }
        self.with_progress(|p| {
            for (&l, &size) in self.planned.layer_of.iter().zip(&self.planned.sizes) {
                if l as usize == i {
                    p.object_written(size);
                }
            }
            p.layer_finished(i);
        });
        Some(BuiltLayer {
            key: key.to_string(),
            written: WrittenLayer {
                descriptor: found.descriptor.clone(),
                diff_id: diff_id.clone(),
                uncompressed_size: *size,
            },
            reused_bytes: *size,
            stats: LayerStats {
                content_objects: self.planned.counts.get(i).copied().unwrap_or(0) as u64,
                content_bytes: self.layer_bytes[i],
                metadata_objects: 0,
            },
            reused: true,
            entries: None,
        })
    }

    /// Make a found blob present and intact in the output (copied from the previous image
    /// if it lives there).
    fn present(&self, f: &Found) -> bool {
        if !f.from_previous {
            return self.out.blob_is_intact(&f.descriptor);
        }
        self.previous
            .is_some_and(|p| self.out.copy_blob_from(p, &f.descriptor).is_ok())
    }

    /// Earlier compressed blocks for a new gzip layer.
    fn blocks(&self) -> Option<Arc<compress::blocks::ReuseSource>> {
        (self.req.compression == Compression::Gzip).then(|| {
            self.block_source
                .get_or_init(|| Arc::new(self.known.block_source(self.out, self.previous)))
                .clone()
        })
    }

    fn with_progress(&self, f: impl FnOnce(&mut dyn Progress)) {
        if let Ok(mut p) = self.progress.lock() {
            f(&mut **p);
        }
    }
}

/// Write config and manifest for the built layers, then the index entry: only now does the
/// new image become visible.
fn assemble(
    req: &EncapsulateRequest,
    out: &OciDir,
    spec: &ImageSpec,
    plan: &Plan,
    built: Vec<BuiltLayer>,
    commit: String,
    base: Option<(&crate::image_ref::OpenedImage, &str)>,
) -> Result<(Summary, oci::types::Descriptor)> {
    let mut records = Vec::with_capacity(built.len());
    // The base's layers first, as they are.
    if let Some((b, name)) = base {
        for d in &b.image.manifest.layers {
            out.copy_blob_from(&b.oci, d)
                .with_context(|| format!("copying layer {} of --base {name}", d.digest))?;
        }
        records.extend(crate::building::base::layer_records(b, name));
    }
    let mut summaries = Vec::with_capacity(built.len());
    let mut entries: Vec<_> = records.iter().map(|_| None).collect();
    for (layer, mut b) in plan.layers.iter().zip(built) {
        entries.push(b.entries.take());
        let (record, summary) = describe_layer(spec, layer, b);
        records.push(record);
        summaries.push(summary);
    }
    let config = spec.config(&records);
    let config_bytes = oci::json::to_canonical(&config).context("serializing config")?;
    let config_desc = out
        .write_blob(keys::media::CONFIG, &config_bytes)
        .with_context(|| format!("writing the config into {}", out.shown()))?;
    let mut manifest = spec.manifest(&config, config_desc.clone(), &records);
    let composefs = req
        .composefs
        .map(|how| {
            crate::composefs::publish(out, &mut manifest, how, entries, &config_bytes, req.jobs)
        })
        .transpose()?;
    let manifest_bytes = oci::json::to_canonical(&manifest).context("serializing manifest")?;
    let mut manifest_desc = out
        .write_blob(keys::media::MANIFEST, &manifest_bytes)
        .with_context(|| format!("writing the manifest into {}", out.shown()))?;
    manifest_desc.platform = Some(spec.platform());
    out.set_manifest(manifest_desc.clone(), req.tag.as_deref())
        .with_context(|| format!("updating the index of {}", out.shown()))?;
    Ok((
        Summary {
            commit,
            manifest_digest: manifest_desc.digest.clone(),
            config_digest: config_desc.digest,
            tag: req.tag.clone(),
            architecture: spec.architecture.clone(),
            created: spec.created.clone(),
            layers: summaries,
            sbom: None,
            composefs,
        },
        manifest_desc,
    ))
}

/// The manifest entry, config history and summary line of one layer.
fn describe_layer(
    spec: &ImageSpec,
    layer: &LayerPlan,
    b: BuiltLayer,
) -> (LayerRecord, LayerSummary) {
    let BuiltLayer {
        key,
        written,
        reused_bytes,
        stats,
        reused,
        entries: _,
    } = b;
    let mut descriptor = written.descriptor;
    let mut annotations = BTreeMap::from([(
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
            oci::spec::truncate(format!("ostree chunk: {}", layer.components.join(" ")))
        }
    };
    descriptor.annotations = Some(annotations.into_iter().collect());
    let summary = LayerSummary {
        digest: descriptor.digest.clone(),
        diff_id: written.diff_id.clone(),
        size: descriptor.size,
        uncompressed_size: written.uncompressed_size,
        media_type: descriptor.media_type.clone(),
        content_objects: stats.content_objects,
        components: layer.components.clone(),
        reused,
        reused_block_bytes: reused_bytes,
    };
    let record = LayerRecord {
        descriptor,
        diff_id: written.diff_id,
        created_by,
    };
    (record, summary)
}
