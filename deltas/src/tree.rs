//! The old image as a tar-diff source: its layers merged in order ([`tar_diff::SourceIndex`])
//! and the content of the files a step asked for, kept in a private temporary directory by
//! sha256 (mode 0600 regular files only: nothing of an untrusted image becomes a device node,
//! a setuid file or a link on this host).

use anyhow::{Context, Result};
use oci::ocidir::ResolvedImage;
use oci::OciDir;
use std::collections::HashMap;
use std::fs::File;
use std::io::{self, Read, Write};
use std::path::Path;
use tar_diff::{SourceFile, SourceIndex};

/// A layer blob of `oci`, decompressed by its media type.
///
/// # Errors
/// A media type that is not a layer, an unreadable blob.
pub fn layer_reader<'a>(
    oci: &'a OciDir,
    layer: &oci::types::Descriptor,
) -> Result<Box<dyn Read + 'a>> {
    let Some(coding) = oci::keys::media::layer_coding(&layer.media_type) else {
        anyhow::bail!(
            "layer {}: unsupported media type {}",
            layer.digest,
            layer.media_type
        )
    };
    let blob = oci
        .open_blob(layer)
        .with_context(|| format!("layer {}", layer.digest))?;
    compress::decoder(coding, io::BufReader::with_capacity(1 << 20, blob))
        .with_context(|| format!("layer {}", layer.digest))
}

/// The old image's merged tree and the files kept from it.
pub struct OldTree {
    /// The merged tree.
    pub index: SourceIndex,
    dir: tempfile::TempDir,
}

impl OldTree {
    /// Read every layer of `image` in order; keep the content of the candidate files `keep`
    /// names (path, size) unless `skip` says their content is not needed (its sha256).
    ///
    /// # Errors
    /// Unreadable layers (named), I/O errors in `work`.
    pub fn load(
        oci: &OciDir,
        image: &ResolvedImage,
        work: &Path,
        keep: &dyn Fn(&str, u64) -> bool,
        skip: &dyn Fn(&[u8; 32]) -> bool,
    ) -> Result<Self> {
        let dir = tempfile::Builder::new()
            .prefix("old-tree-")
            .tempdir_in(work)
            .with_context(|| format!("creating a directory in {}", work.display()))?;
        let mut index = SourceIndex::new();
        for layer in &image.manifest.layers {
            let r = layer_reader(oci, layer)?;
            index
                .add_layer(r, keep, &mut |f, content| {
                    if skip(&f.sha256) {
                        return Ok(());
                    }
                    let name = hex::encode(f.sha256);
                    let path = dir.path().join(&name);
                    if path.exists() {
                        return Ok(());
                    }
                    // Written under a temporary name and renamed: a kept file is whole.
                    let mut tmp = tempfile::NamedTempFile::new_in(dir.path())?;
                    io::copy(content, &mut tmp)?;
                    tmp.flush()?;
                    tmp.persist(&path).map_err(|e| e.error)?;
                    Ok(())
                })
                .with_context(|| format!("reading the old image's layer {}", layer.digest))?;
        }
        index.finish();
        Ok(OldTree { index, dir })
    }

    /// The kept content of `f`, if it was kept.
    fn open(&self, f: &SourceFile) -> io::Result<Option<File>> {
        match File::open(self.dir.path().join(hex::encode(f.sha256))) {
            Ok(file) => Ok(Some(file)),
            Err(e) if e.kind() == io::ErrorKind::NotFound => Ok(None),
            Err(e) => Err(e),
        }
    }
}

/// The old tree as one layer's encoder sees it: names of the new layer's ostree objects
/// also looked up by their deployed names (the hard links that follow them).
pub struct LayerSource<'a> {
    /// The old tree.
    pub tree: &'a OldTree,
    /// Other names of a new file (object path → deployed names).
    pub aliases: &'a HashMap<String, Vec<String>>,
}

impl tar_diff::Source for LayerSource<'_> {
    fn same(&self, sha256: &[u8; 32], size: u64) -> Option<SourceFile> {
        self.tree.index.same(sha256, size)
    }

    fn similar(&self, path: &str, size: u64) -> Option<SourceFile> {
        self.tree.index.similar(path, size).or_else(|| {
            self.aliases
                .get(path)?
                .iter()
                .find_map(|a| self.tree.index.similar(a, size))
        })
    }

    fn content(&self, file: &SourceFile) -> io::Result<Option<Vec<u8>>> {
        let Some(mut f) = self.tree.open(file)? else {
            return Ok(None);
        };
        let mut v = Vec::with_capacity(file.size as usize);
        f.read_to_end(&mut v)?;
        Ok(Some(v))
    }
}

impl tar_diff::ApplySource for &OldTree {
    fn open(&mut self, path: &str) -> io::Result<Box<dyn tar_diff::apply::ReadSeek>> {
        let f = self.index.get(path).ok_or_else(|| {
            io::Error::new(
                io::ErrorKind::NotFound,
                "the old image has no such regular file",
            )
        })?;
        match OldTree::open(self, &f)? {
            Some(file) => Ok(Box::new(io::BufReader::new(file))),
            None => Err(io::Error::new(
                io::ErrorKind::NotFound,
                "its content was not kept",
            )),
        }
    }
}
