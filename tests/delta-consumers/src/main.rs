//! Drive the real oci-delta consumers over images and deltas ostree-encap made; print JSON.
//!
//! `delta-consumers pull OLD DELTA NEW`: composefs-oci 0.9.4 pulls OLD (`oci:DIR:TAG`) into a
//! new repository, then DELTA (`oci:DIR` or `oci-archive:FILE`), and NEW straight into a
//! second repository; prints both manifest digests and composefs EROFS ids.
//!
//! `delta-consumers composefs-id IMAGE`: composefs-oci 0.9.4 pulls IMAGE (`oci:DIR:TAG`) into a
//! new SHA-512 repository as bootc does (`bootable: true`) and prints the composefs EROFS ids
//! (format V1) of the merged image and of its bootable variant.
//!
//! `delta-consumers rebuild DELTA_DIR SOURCE_DIR`: the `oci-delta` crate parses the delta in
//! the layout DELTA_DIR and rebuilds every layer it carries against the files under
//! SOURCE_DIR (the old image's tree), checking each against its diff_id; prints the count.

use anyhow::{bail, Context, Result};
use composefs::fsverity::{FsVerityHashValue, Sha256HashValue};
use composefs::repository::{Repository, RepositoryConfig};
use composefs_oci::composefs::erofs::format::FormatVersion;
use oci_spec::image::{Descriptor, ImageIndex, ImageManifest};
use std::io::{Read, Seek, SeekFrom, Write};
use std::path::{Path, PathBuf};
use std::sync::Arc;

fn repo(dir: &Path) -> Result<Arc<Repository<Sha256HashValue>>> {
    let (r, _) = Repository::init_path(
        rustix::fs::CWD,
        dir,
        RepositoryConfig::default().set_insecure(),
    )?;
    Ok(Arc::new(r))
}

async fn pull_one(repo: &Arc<Repository<Sha256HashValue>>, r: &str) -> Result<(String, String)> {
    let res = composefs_oci::pull(repo, r, None, composefs_oci::PullOptions::default())
        .await
        .with_context(|| format!("composefs-oci pull {r}"))?;
    let erofs = composefs_oci::composefs_erofs_for_manifest(
        repo,
        &res.manifest_digest,
        None, // the pull rewrote the manifest splitstream with the EROFS ref: look it up anew
        FormatVersion::V1,
    )?
    .context("no EROFS for the pulled image")?;
    Ok((res.manifest_digest.to_string(), erofs.to_hex()))
}

async fn pull(old: &str, delta: &str, new: &str) -> Result<()> {
    let tmp = tempfile_dir()?;
    let a = repo(&tmp.join("a"))?;
    let (old_manifest, _) = pull_one(&a, old).await?;
    let (via_delta, via_delta_erofs) = pull_one(&a, delta).await?;
    let b = repo(&tmp.join("b"))?;
    let (direct, direct_erofs) = pull_one(&b, new).await?;
    drop(tmp);
    println!(
        "{}",
        serde_json::json!({
            "old_manifest": old_manifest,
            "via_delta_manifest": via_delta,
            "via_delta_erofs": via_delta_erofs,
            "direct_manifest": direct,
            "direct_erofs": direct_erofs,
        })
    );
    Ok(())
}

/// A scratch directory under `$TMPDIR`, removed when dropped: also when a pull fails.
struct Scratch(PathBuf);

impl Drop for Scratch {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.0);
    }
}

impl std::ops::Deref for Scratch {
    type Target = std::path::Path;
    fn deref(&self) -> &std::path::Path {
        &self.0
    }
}

fn tempfile_dir() -> Result<Scratch> {
    let base = std::env::temp_dir().join(format!("delta-consumers-{}", std::process::id()));
    std::fs::create_dir_all(&base)?;
    Ok(Scratch(base))
}

/// Blobs of a layout directory.
struct Layout(PathBuf);

impl Layout {
    fn path(&self, d: &Descriptor) -> PathBuf {
        self.0.join("blobs").join("sha256").join(d.digest().digest())
    }
}

impl oci_delta::DeltaBlobReader for Layout {
    fn open_blob(&self, desc: &Descriptor) -> oci_delta::BlobStreamFuture<'_> {
        let p = self.path(desc);
        Box::pin(async move {
            let f = std::fs::File::open(&p).with_context(|| p.display().to_string())?;
            Ok(Box::new(f) as Box<dyn oci_delta::BlobStream>)
        })
    }
}

/// The old image's files under a directory; `etc/X` falls back to `usr/etc/X` as the Go
/// applier's ostree source does (ostree keeps /etc under /usr/etc).
struct Tree {
    root: PathBuf,
    current: Option<std::fs::File>,
}

impl oci_delta::DeltaDataSource for Tree {
    fn set_current_file(&mut self, path: &str) -> Result<()> {
        let p = self.root.join(path);
        let p = if !p.is_file() && path.starts_with("etc/") { self.root.join("usr").join(path) } else { p };
        let meta = std::fs::symlink_metadata(&p).with_context(|| format!("source {path}"))?;
        if !meta.is_file() {
            bail!("source {path} is not a regular file");
        }
        self.current = Some(std::fs::File::open(&p)?);
        Ok(())
    }
    fn read_exact_current(&mut self, buf: &mut [u8]) -> Result<()> {
        self.current.as_mut().context("no current file")?.read_exact(buf)?;
        Ok(())
    }
    fn seek_current(&mut self, offset: u64) -> Result<u64> {
        Ok(self.current.as_mut().context("no current file")?.seek(SeekFrom::Start(offset))?)
    }
    fn read_current_to_end(&mut self, max_size: u64) -> Result<Vec<u8>> {
        let f = self.current.as_mut().context("no current file")?;
        f.seek(SeekFrom::Start(0))?;
        let mut v = Vec::new();
        f.take(max_size + 1).read_to_end(&mut v)?;
        if v.len() as u64 > max_size {
            bail!("source larger than {max_size}");
        }
        Ok(v)
    }
    fn copy_to(&mut self, dst: &mut dyn Write, n: u64) -> Result<()> {
        let f = self.current.as_mut().context("no current file")?;
        let got = std::io::copy(&mut f.take(n), dst)?;
        if got != n {
            bail!("short read: {got} of {n}");
        }
        Ok(())
    }
}

async fn rebuild(delta_dir: &Path, source: &Path) -> Result<()> {
    let index: ImageIndex = serde_json::from_slice(&std::fs::read(delta_dir.join("index.json"))?)?;
    let [m] = index.manifests().as_slice() else { bail!("the delta layout lists {} manifests", index.manifests().len()) };
    let layout = Layout(delta_dir.to_path_buf());
    let manifest: ImageManifest = serde_json::from_slice(&std::fs::read(layout.path(m))?)?;
    if !oci_delta::is_delta_artifact(&manifest) {
        bail!("not an oci-delta artifact");
    }
    let parsed = oci_delta::parse_delta_manifest(&manifest, &layout).await?;
    let ids = parsed.target_config.rootfs().diff_ids();
    let mut rebuilt = 0;
    let mut bytes = 0u64;
    for (i, l) in parsed.target_manifest.layers().iter().enumerate() {
        let Some(entry) = parsed.delta_layer_by_to.get(l.digest()) else { continue };
        let diff_id: oci_spec::image::Digest = ids[i].parse()?;
        let blob = std::fs::File::open(layout.path(entry))?;
        let mut src = Tree { root: source.to_path_buf(), current: None };
        let mut counter = Counter(0);
        oci_delta::reconstruct_layer_to(blob, entry.media_type(), &mut src, &diff_id, &mut counter)
            .with_context(|| format!("rebuilding layer {}", l.digest()))?;
        rebuilt += 1;
        bytes += counter.0;
    }
    println!(
        "{}",
        serde_json::json!({
            "target_manifest": parsed.target_manifest_descriptor.digest().to_string(),
            "source_config": parsed.source_config_digest.to_string(),
            "layers_rebuilt": rebuilt,
            "bytes_rebuilt": bytes,
        })
    );
    Ok(())
}

struct Counter(u64);
impl Write for Counter {
    fn write(&mut self, b: &[u8]) -> std::io::Result<usize> {
        self.0 += b.len() as u64;
        Ok(b.len())
    }
    fn flush(&mut self) -> std::io::Result<()> {
        Ok(())
    }
}

/// A fresh SHA-512 repository (as bootc's) under `dir`.
fn repo512(dir: &Path) -> Result<Arc<Repository<composefs::fsverity::Sha512HashValue>>> {
    let (r, _) = Repository::init_path(
        rustix::fs::CWD,
        dir,
        RepositoryConfig::new(composefs::fsverity::Algorithm::SHA512).set_insecure(),
    )?;
    Ok(Arc::new(r))
}

async fn composefs_id(image: &str) -> Result<()> {
    let tmp = tempfile_dir()?;
    // The merged image, as any pull makes it.
    let repo = repo512(&tmp.join("merged"))?;
    let res = composefs_oci::pull(&repo, image, None, composefs_oci::PullOptions::default())
        .await
        .with_context(|| format!("composefs-oci pull {image}"))?;
    let merged = composefs_oci::composefs_erofs_for_manifest(&repo, &res.manifest_digest, None, FormatVersion::V1)?
        .context("no EROFS for the pulled image")?;
    // The bootable variant, as bootc pulls (`bootable: true`, which fails for an image that
    // cannot boot: then there is none).
    let repo = repo512(&tmp.join("bootable"))?;
    let opts = composefs_oci::PullOptions { bootable: true, ..Default::default() };
    let bootable = match composefs_oci::pull(&repo, image, None, opts).await {
        Ok(res) => composefs_oci::composefs_boot_erofs_for_manifest(
            &repo,
            &res.manifest_digest,
            None,
            FormatVersion::V1,
            composefs_oci::XattrFiltering::AllowlistOnly,
        )?
        .map(|b| b.to_hex()),
        Err(_) => None,
    };
    drop(tmp);
    println!(
        "{}",
        serde_json::json!({
            "manifest": res.manifest_digest.to_string(),
            "merged": merged.to_hex(),
            "bootable": bootable,
        })
    );
    Ok(())
}

#[tokio::main(flavor = "current_thread")]
async fn main() -> Result<()> {
    let args: Vec<String> = std::env::args().skip(1).collect();
    match args.iter().map(String::as_str).collect::<Vec<_>>()[..] {
        ["pull", old, delta, new] => pull(old, delta, new).await,
        ["rebuild", delta, source] => rebuild(Path::new(delta), Path::new(source)).await,
        ["composefs-id", image] => composefs_id(image).await,
        _ => bail!("usage: delta-consumers pull OLD DELTA NEW | rebuild DELTA_DIR SOURCE_DIR | composefs-id IMAGE"),
    }
}
