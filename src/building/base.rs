//! Derived images that keep their base (`--base IMAGE`): the base image's layers go into the
//! new image unchanged (same blobs, same order, first), and only what the derived tree adds,
//! changes or removes on top of the base is planned into new layers. This module makes that
//! difference as a tree on disk: added and changed files (hard links to the derived tree's,
//! or copies), the directories they need with the derived tree's metadata, and an empty
//! `.wh.NAME` file for each path the base has and the derived tree does not (an OCI
//! whiteout: the plain layer writer writes it as the regular file it is, and a runtime
//! takes it as a whiteout of the layers below). A path whose type changes needs no
//! whiteout: unpacking an entry replaces what the layers below have there. A derived tree
//! in the ostree layout (`usr/etc`, no `/etc`) is compared as its image shows it (`/etc`),
//! and one without `/var` or `/var/tmp` does not remove the base's (every image of ours has
//! them, made when the tree lacks them). On an
//! ostree-format base (a bootc base image) the new layers are plain derived layers, as a
//! container build's are, and the image keeps the base's labels (its commit, where its
//! ostree layers end): ostree-ext imports it into a merge commit over the base's.

use anyhow::{bail, Context, Result};
use std::collections::BTreeSet;
use std::ffi::OsString;
use std::io::Read;
use std::os::unix::fs::{MetadataExt, PermissionsExt};
use std::path::Path;

/// Prefix of an OCI whiteout file's name.
const WHITEOUT: &str = ".wh.";

/// What the difference holds.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Difference {
    /// Files, symlinks and directories added or changed.
    pub changed: usize,
    /// Paths of the base the derived tree does not have (whiteouts).
    pub removed: usize,
}

/// Make in the empty directory `out` the tree that, unpacked as layers on top of the tree
/// `base`, gives the tree `derived`. Tree paths in `prune` (and below them) are left out on
/// both sides.
///
/// # Errors
/// I/O errors, named with the path; a device node or FIFO that differs from the base's (not
/// supported yet).
pub fn difference(base: &Path, derived: &Path, out: &Path, prune: &[String]) -> Result<Difference> {
    // Images show /etc at the top, where an ostree-layout tree (a checkout, a commit's tree)
    // has usr/etc: such a tree is compared as its image shows it, or its /etc would be a
    // whiteout of the base's and a new usr/etc.
    let mut walk = Walk {
        base,
        derived,
        out,
        prune,
        etc: encapsulate::rootfs::EtcOnDisk::of(derived),
        found: Difference::default(),
    };
    copy_meta(derived, out).with_context(|| out.display().to_string())?;
    walk.dir("")?;
    // A tree with /etc must have /usr (the tree reader commits /etc as usr/etc): an
    // unchanged usr is there as a directory, the same as the base's.
    if derived.join("usr").is_dir() {
        walk.ensure_dir("usr")?;
    }
    Ok(walk.found)
}

struct Walk<'a> {
    base: &'a Path,
    derived: &'a Path,
    out: &'a Path,
    prune: &'a [String],
    /// Where the derived tree keeps /etc: its image paths are read from there.
    etc: encapsulate::rootfs::EtcOnDisk,
    found: Difference,
}

fn join(rel: &str, name: &str) -> String {
    if rel.is_empty() {
        name.to_string()
    } else {
        format!("{rel}/{name}")
    }
}

/// The names in directory `dir` (none when it is not a directory).
fn names(dir: &Path) -> Result<BTreeSet<OsString>> {
    match std::fs::symlink_metadata(dir) {
        Ok(m) if m.is_dir() => std::fs::read_dir(dir)
            .and_then(|rd| rd.map(|e| e.map(|e| e.file_name())).collect())
            .with_context(|| format!("listing {}", dir.display())),
        _ => Ok(BTreeSet::new()),
    }
}

impl Walk<'_> {
    /// Where the derived tree holds the image path `rel`.
    fn src(&self, rel: &str) -> std::path::PathBuf {
        self.derived.join(self.etc.disk_path(rel).as_ref())
    }

    /// The names of the derived tree's directory at the image path `rel`.
    fn derived_names(&self, rel: &str) -> Result<BTreeSet<OsString>> {
        Ok(self
            .etc
            .image_names(self.derived, rel)
            .with_context(|| format!("listing {}", self.src(rel).display()))?
            .into_iter()
            .collect())
    }

    fn pruned(&self, rel: &str) -> bool {
        self.prune
            .iter()
            .any(|p| rel == p || rel.starts_with(&format!("{p}/")))
    }

    /// `out/rel` and the directories above it, with the derived tree's metadata.
    fn ensure_dir(&self, rel: &str) -> Result<()> {
        if rel.is_empty() {
            return Ok(());
        }
        let target = self.out.join(rel);
        if std::fs::symlink_metadata(&target).is_ok() {
            return Ok(());
        }
        if let Some((parent, _)) = rel.rsplit_once('/') {
            self.ensure_dir(parent)?;
        }
        std::fs::create_dir(&target).with_context(|| format!("creating {}", target.display()))?;
        copy_meta(&self.src(rel), &target).with_context(|| target.display().to_string())
    }

    fn dir(&mut self, rel: &str) -> Result<()> {
        let (d, b) = (self.src(rel), self.base.join(rel));
        let in_derived = self.derived_names(rel)?;
        for name in names(&b)?.difference(&in_derived) {
            let name = name.to_string_lossy();
            let gone = join(rel, &name);
            // Every image of ours has these (made when a tree lacks them): a derived tree
            // without them does not remove the base's.
            let always = encapsulate::export::MADE_WHEN_MISSING
                .iter()
                .any(|(p, _)| *p == gone);
            if self.pruned(&gone) || always {
                continue;
            }
            self.ensure_dir(rel)?;
            let wh = self.out.join(rel).join(format!("{WHITEOUT}{name}"));
            std::fs::write(&wh, b"").with_context(|| format!("writing {}", wh.display()))?;
            self.found.removed += 1;
        }
        for name in &in_derived {
            let Some(name) = name.to_str() else {
                bail!("{}: a name that is not UTF-8", d.join(name).display());
            };
            let child = join(rel, name);
            if self.pruned(&child) {
                continue;
            }
            let dm = std::fs::symlink_metadata(self.src(&child))
                .with_context(|| self.src(&child).display().to_string())?;
            let bm = std::fs::symlink_metadata(self.base.join(&child)).ok();
            match bm {
                Some(bm) if dm.is_dir() && bm.is_dir() => {
                    if !same_meta(&self.src(&child), &dm, &self.base.join(&child), &bm)? {
                        self.ensure_dir(&child)?;
                        self.found.changed += 1;
                    }
                    self.dir(&child)?;
                }
                _ if dm.is_dir() => self.add_all(&child)?,
                Some(bm) if self.same(&child, &dm, &bm)? => {}
                _ => self.put(&child, &dm)?,
            }
        }
        Ok(())
    }

    /// Whether the non-directory `rel` is the same in both trees: type, owner, mode, xattrs
    /// and content (or target).
    fn same(&self, rel: &str, dm: &std::fs::Metadata, bm: &std::fs::Metadata) -> Result<bool> {
        let (d, b) = (self.src(rel), self.base.join(rel));
        if dm.mode() & 0o170000 != bm.mode() & 0o170000 || !same_meta(&d, dm, &b, bm)? {
            return Ok(false);
        }
        if dm.file_type().is_symlink() {
            return Ok(std::fs::read_link(&d)? == std::fs::read_link(&b)?);
        }
        if !dm.is_file() {
            return Ok(dm.rdev() == bm.rdev());
        }
        if dm.len() != bm.len() {
            return Ok(false);
        }
        same_content(&d, &b).with_context(|| d.display().to_string())
    }

    /// A new directory: it and everything below it.
    fn add_all(&mut self, rel: &str) -> Result<()> {
        self.ensure_dir(rel)?;
        self.found.changed += 1;
        for name in self.derived_names(rel)? {
            let Some(name) = name.to_str() else {
                bail!(
                    "{}/{}: a name that is not UTF-8",
                    rel,
                    name.to_string_lossy()
                );
            };
            let child = join(rel, name);
            if self.pruned(&child) {
                continue;
            }
            let dm = std::fs::symlink_metadata(self.src(&child))?;
            if dm.is_dir() {
                self.add_all(&child)?;
            } else {
                self.put(&child, &dm)?;
            }
        }
        Ok(())
    }

    /// A file or symlink of the derived tree, added or changed.
    fn put(&mut self, rel: &str, dm: &std::fs::Metadata) -> Result<()> {
        if let Some((parent, _)) = rel.rsplit_once('/') {
            self.ensure_dir(parent)?;
        }
        let (from, to) = (self.src(rel), self.out.join(rel));
        let ty = dm.file_type();
        if ty.is_symlink() {
            let target = std::fs::read_link(&from)?;
            std::os::unix::fs::symlink(&target, &to)
                .with_context(|| format!("making {}", to.display()))?;
            std::os::unix::fs::lchown(&to, Some(dm.uid()), Some(dm.gid()))?;
            copy_xattrs(&from, &to)?;
        } else if ty.is_file() {
            // A hard link keeps content and metadata; across file systems, a copy with both.
            if std::fs::hard_link(&from, &to).is_err() {
                std::fs::copy(&from, &to).with_context(|| format!("copying {}", from.display()))?;
                copy_meta(&from, &to).with_context(|| to.display().to_string())?;
            }
        } else {
            bail!(
                "--base: {rel} is a device node, FIFO or socket that differs from the base's, \
                 which a derived image's layers cannot carry yet"
            );
        }
        self.found.changed += 1;
        Ok(())
    }
}

/// Owner, mode and xattrs equal.
fn same_meta(d: &Path, dm: &std::fs::Metadata, b: &Path, bm: &std::fs::Metadata) -> Result<bool> {
    Ok(dm.uid() == bm.uid()
        && dm.gid() == bm.gid()
        && dm.mode() == bm.mode()
        && xattrs(d)? == xattrs(b)?)
}

fn xattrs(p: &Path) -> Result<Vec<(OsString, Vec<u8>)>> {
    let mut all = Vec::new();
    for name in xattr::list(p).with_context(|| format!("listing xattrs of {}", p.display()))? {
        let value = xattr::get(p, &name)?.unwrap_or_default();
        all.push((name, value));
    }
    all.sort();
    Ok(all)
}

fn copy_xattrs(from: &Path, to: &Path) -> Result<()> {
    for (name, value) in xattrs(from)? {
        xattr::set(to, &name, &value).with_context(|| {
            format!(
                "setting xattr {} on {}",
                name.to_string_lossy(),
                to.display()
            )
        })?;
    }
    Ok(())
}

/// Owner, permission bits and xattrs of `from` onto `to` (not a symlink).
fn copy_meta(from: &Path, to: &Path) -> Result<()> {
    let m = std::fs::symlink_metadata(from)?;
    std::os::unix::fs::lchown(to, Some(m.uid()), Some(m.gid()))?;
    std::fs::set_permissions(to, std::fs::Permissions::from_mode(m.mode() & 0o7777))?;
    copy_xattrs(from, to)
}

fn same_content(a: &Path, b: &Path) -> std::io::Result<bool> {
    let (mut a, mut b) = (std::fs::File::open(a)?, std::fs::File::open(b)?);
    let (mut x, mut y) = (vec![0u8; 64 << 10], vec![0u8; 64 << 10]);
    loop {
        let n = read_full(&mut a, &mut x)?;
        let m = read_full(&mut b, &mut y)?;
        if n != m || x[..n] != y[..m] {
            return Ok(false);
        }
        if n == 0 {
            return Ok(true);
        }
    }
}

fn read_full(f: &mut std::fs::File, buf: &mut [u8]) -> std::io::Result<usize> {
    let mut n = 0;
    while n < buf.len() {
        match f.read(&mut buf[n..])? {
            0 => break,
            k => n += k,
        }
    }
    Ok(n)
}

/// The base image, opened (fetched into `work` first when only skopeo reaches it, its blobs
/// kept byte for byte) and flattened into the empty directory `tree`.
///
/// # Errors
/// An image that cannot be opened or fetched; its layers' errors, as `--from`'s.
pub(crate) fn open_base(
    image: &crate::ImageRef,
    pull: &oci::skopeo::PullOptions,
    tree: &Path,
    work: &Path,
) -> Result<crate::image_ref::OpenedImage> {
    let local = match image {
        crate::ImageRef::Remote(src) => {
            let layout = work.join("base-image");
            let dest = format!("oci:{}:base", layout.display());
            // Its layers go into the new image as they are: their digests must not change.
            oci::skopeo::pull(src, &dest, pull, oci::skopeo::Digests::Preserve)
                .with_context(|| format!("--base {src}: fetching it"))?;
            crate::ImageRef::Dir {
                path: layout,
                tag: Some("base".into()),
            }
        }
        other => other.clone(),
    };
    let opened = local.open().with_context(|| format!("--base {image}"))?;
    crate::flatten::flatten(&opened.oci, &opened.image, tree)
        .with_context(|| format!("--base {image}"))?;
    Ok(opened)
}

/// How many chunk layers a derived image may have on a base of `base_layers` layers: the
/// layer limits count the whole image (the base's, our directory layer and our chunks), so
/// `max_layers` is lowered to what is left under them, and a base that leaves no room is
/// refused by name.
///
/// # Errors
/// A base of so many layers that no chunk layer fits.
pub fn chunk_budget(max_layers: usize, base_layers: usize, allow_many: bool) -> Result<usize> {
    use oci::keys::{MAX_LAYERS_PLAIN, MAX_LAYERS_SAFE};
    let limit = if allow_many {
        MAX_LAYERS_PLAIN
    } else {
        MAX_LAYERS_SAFE
    };
    // Our layers: the directories layer and the chunks; the limits count chunks beside one
    // first layer, so the base's layers come off the chunks' share.
    match limit.checked_sub(base_layers) {
        Some(left) if left >= 1 => Ok(max_layers.min(left)),
        _ => bail!(
            "--base: its {base_layers} layers leave no room for a layer of ours under the \
             limit of {} layers{}",
            limit + 1,
            if allow_many {
                " (containers-storage's)"
            } else {
                " (Docker's overlay2; --allow-many-layers raises it to containers-storage's)"
            }
        ),
    }
}

/// Open and unpack the base `image` in `work`, check that it fits the output `format` (an
/// ostree-format base takes ostree-format derived images, a plain one plain ones), and make
/// the difference of the tree `derived` from it; returns that tree's directory and the base.
/// An ostree-format base's repository (`sysroot/`) is added to `prune`: the trees are
/// compared at their paths, and the derived image's tree must not carry it either.
///
/// # Errors
/// As [`open_base`] and [`difference`]; a base of the other format, named.
pub(crate) fn derive(
    image: &crate::ImageRef,
    pull: &oci::skopeo::PullOptions,
    format: encapsulate::StreamFormat,
    derived: &Path,
    prune: &mut Vec<String>,
    work: &Path,
) -> Result<(std::path::PathBuf, crate::image_ref::OpenedImage)> {
    let (tree, delta) = (work.join("base-tree"), work.join("difference"));
    for d in [&tree, &delta] {
        std::fs::create_dir(d).with_context(|| format!("creating {}", d.display()))?;
    }
    let opened = open_base(image, pull, &tree, work)?;
    let ostree_base = is_ostree(&opened);
    match (format, ostree_base) {
        (encapsulate::StreamFormat::Plain, true) => bail!(
            "--base {image} is an ostree-format image: derive from it in the ostree format \
             (leave out --format plain)"
        ),
        (encapsulate::StreamFormat::Ostree, false) => {
            bail!("--base {image} is a plain image: derive from it with --format plain")
        }
        _ => {}
    }
    if ostree_base {
        prune.push(ostree_format::SYSROOT_DIR.to_string());
    }
    difference(&tree, derived, &delta, prune)
        .with_context(|| format!("--base {image}: comparing the trees"))?;
    std::fs::remove_dir_all(&tree).with_context(|| format!("removing {}", tree.display()))?;
    Ok((delta, opened))
}

/// Whether the base is an ostree-format image (its config names its commit).
pub(crate) fn is_ostree(base: &crate::image_ref::OpenedImage) -> bool {
    base.image
        .config
        .labels()
        .contains_key(oci::keys::LABEL_COMMIT)
}

/// The base's layers as they go first into the new image: its blobs, diff_ids and a
/// history line naming the base.
pub(crate) fn layer_records(
    base: &crate::image_ref::OpenedImage,
    name: &str,
) -> Vec<oci::spec::LayerRecord> {
    base.image
        .manifest
        .layers
        .iter()
        .zip(&base.image.config.rootfs.diff_ids)
        .enumerate()
        .map(|(n, (d, diff_id))| oci::spec::LayerRecord {
            descriptor: d.clone(),
            diff_id: diff_id.clone(),
            created_by: format!("ostree-encap --base {name}: its layer {n}"),
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;
    use oci::keys::{MAX_LAYERS_PLAIN, MAX_LAYERS_SAFE};

    #[test]
    fn the_base_layers_come_off_the_chunk_layers_budget() {
        assert_eq!(chunk_budget(64, 10, false).unwrap(), 64);
        // A 65-layer base (64 chunks and its first layer) leaves 62 under Docker's 128.
        assert_eq!(chunk_budget(64, 65, false).unwrap(), MAX_LAYERS_SAFE - 65);
        assert_eq!(chunk_budget(64, 65, true).unwrap(), 64);
        assert_eq!(chunk_budget(0, 65, false).unwrap(), 0);
        let e = chunk_budget(64, MAX_LAYERS_SAFE, false)
            .unwrap_err()
            .to_string();
        assert!(e.contains("--allow-many-layers"), "{e}");
        assert!(chunk_budget(64, MAX_LAYERS_SAFE, true).is_ok());
        assert!(chunk_budget(64, MAX_LAYERS_PLAIN, true).is_err());
    }

    #[test]
    fn the_difference_of_two_trees_holds_what_changed_and_whiteouts() {
        let d = tempfile::tempdir().unwrap();
        let (base, derived, out) = (d.path().join("b"), d.path().join("d"), d.path().join("o"));
        for t in [&base, &derived] {
            std::fs::create_dir_all(t.join("usr/share")).unwrap();
            std::fs::create_dir_all(t.join("dev")).unwrap();
            std::fs::write(t.join("usr/share/same"), "same").unwrap();
            std::fs::write(t.join("usr/share/changed"), t.to_string_lossy().as_bytes()).unwrap();
        }
        std::fs::write(base.join("usr/share/gone"), "x").unwrap();
        std::fs::write(base.join("dev/pruned"), "x").unwrap();
        std::fs::write(derived.join("usr/share/new"), "n").unwrap();
        std::fs::create_dir(&out).unwrap();
        let found = difference(&base, &derived, &out, &["dev".to_string()]).unwrap();
        assert_eq!(
            found,
            Difference {
                changed: 2,
                removed: 1
            }
        );
        let mut names: Vec<String> = std::fs::read_dir(out.join("usr/share"))
            .unwrap()
            .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
            .collect();
        names.sort();
        assert_eq!(names, [".wh.gone", "changed", "new"]);
        assert!(!out.join("dev").exists(), "pruned on both sides");
        assert_eq!(std::fs::read(out.join("usr/share/.wh.gone")).unwrap(), b"");
    }

    /// Every name under `dir`, as paths relative to it, sorted.
    fn listing(dir: &Path) -> Vec<String> {
        let mut out = Vec::new();
        let mut todo = vec![dir.to_path_buf()];
        while let Some(d) = todo.pop() {
            for e in std::fs::read_dir(&d).unwrap() {
                let p = e.unwrap().path();
                out.push(p.strip_prefix(dir).unwrap().display().to_string());
                if p.is_dir() && !p.is_symlink() {
                    todo.push(p);
                }
            }
        }
        out.sort();
        out
    }

    #[test]
    fn a_derived_tree_in_the_ostree_layout_is_compared_with_the_bases_etc() {
        // The base image shows /etc at the top (as every image does); the derived tree keeps
        // it in usr/etc (an ostree checkout, a commit's tree). Neither /etc nor /var goes.
        let d = tempfile::tempdir().unwrap();
        let (base, derived, out) = (d.path().join("b"), d.path().join("d"), d.path().join("o"));
        std::fs::create_dir_all(base.join("etc")).unwrap();
        std::fs::create_dir_all(base.join("usr/bin")).unwrap();
        std::fs::create_dir_all(base.join("var/tmp")).unwrap();
        std::fs::write(base.join("etc/same"), "same").unwrap();
        std::fs::write(base.join("etc/gone"), "gone").unwrap();
        std::fs::create_dir_all(derived.join("usr/etc")).unwrap();
        std::fs::create_dir_all(derived.join("usr/bin")).unwrap();
        std::fs::write(derived.join("usr/etc/same"), "same").unwrap();
        std::fs::write(derived.join("usr/etc/new"), "new").unwrap();
        std::fs::write(derived.join("usr/bin/x"), "x").unwrap();
        std::fs::create_dir(&out).unwrap();
        difference(&base, &derived, &out, &[]).unwrap();
        assert_eq!(
            listing(&out),
            [
                "etc",
                "etc/.wh.gone",
                "etc/new",
                "usr",
                "usr/bin",
                "usr/bin/x"
            ]
        );
    }
}
