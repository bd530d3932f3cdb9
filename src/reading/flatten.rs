//! `--from IMAGE`: an image's layers applied in order to a directory, as a runtime unpacks
//! them, so that the tree can be encapsulated like a `--rootfs` one.
//!
//! OCI whiteouts are honoured: `.wh.NAME` removes `NAME` from the layers below, and
//! `.wh..wh..opq` empties its directory of what the layers below put there (not of what its
//! own layer writes, wherever in the layer that is). Owners, modes, xattrs (PAX
//! `SCHILY.xattr.*`), symlinks, hard links, FIFOs and device nodes are made as the tar says;
//! times are not (no time on disk reaches an image: the commit time is the image's
//! `created`).
//!
//! Layers come from outside, so they are treated as hostile: every path is resolved one
//! component at a time from the directory's descriptor, without following symlinks, and a
//! path with `..`, or one that would pass through a symlink or a file, is refused with the
//! layer and the entry named. Nothing is ever written outside the directory.

use anyhow::{bail, Context, Result};
use oci::OciDir;
use rustix::fs::{AtFlags, Mode, OFlags};
use std::collections::HashSet;
use std::io::Read;
use std::os::fd::{AsRawFd, OwnedFd};
use std::path::Path;

/// The SCHILY PAX prefix of an xattr record.
const PAX_XATTR: &str = "SCHILY.xattr.";
/// A whiteout's name prefix.
const WHITEOUT: &str = ".wh.";
/// The opaque-directory marker.
const OPAQUE: &str = ".wh..wh..opq";

/// What flattening learnt of the image.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Flattened {
    /// The image's `created` time in seconds: `Ok(None)` if it has none, `Err` with the
    /// text if it does not parse as RFC 3339.
    pub created: Result<Option<i64>, String>,
    /// The image is in the ostree container format (it has an `ostree.commit` label): its
    /// `sysroot/ostree/repo` is the old commit's storage, not part of the tree.
    pub ostree: bool,
}

/// Apply the layers of `image` (resolved in `oci`) to the empty directory `into`.
///
/// # Errors
/// Unreadable or corrupt blobs (every blob is checked against its digest as it is read), a
/// layer media type that is not a tar, gzip or zstd layer, a hostile or malformed entry
/// (named, with its layer), and I/O errors making the tree.
pub fn flatten(oci: &OciDir, image: &oci::ocidir::ResolvedImage, into: &Path) -> Result<Flattened> {
    let root = open_root(into)?;
    let diff_ids = &image.config.rootfs.diff_ids;
    if diff_ids.len() != image.manifest.layers.len() {
        bail!(
            "{}: the config lists {} diff_ids for {} layers",
            oci.shown(),
            diff_ids.len(),
            image.manifest.layers.len()
        );
    }
    for (n, desc) in image.manifest.layers.iter().enumerate() {
        let at = || format!("layer {n} ({}) of {}", desc.digest, oci.shown());
        // The blob is checked against its digest as it is read, the tar against its diff_id.
        let mut blob = std::io::BufReader::new(oci.open_blob(desc)?);
        let diff_id = {
            let tar = crate::codec::decompress(&desc.media_type, &mut blob)?;
            let mut tar = oci::hashing::HashReader::new(tar);
            apply_layer(&root, &mut tar).with_context(at)?;
            // What follows the tar's end marker is part of the layer (and its diff_id) too.
            std::io::copy(&mut tar, &mut std::io::sink()).with_context(at)?;
            tar.digest()
        };
        // And what follows the compressed stream is part of the blob: read to its end, so
        // that its digest and size are checked over every byte.
        std::io::copy(&mut blob, &mut std::io::sink()).with_context(at)?;
        if diff_id != diff_ids[n] {
            bail!(
                "{}: the layer is {}, not the diff_id {} the config says",
                at(),
                diff_id,
                diff_ids[n]
            );
        }
    }
    oci::faults::point("tree");
    Ok(Flattened {
        created: match image.config.created.as_str() {
            "" => Ok(None),
            text => chrono::DateTime::parse_from_rfc3339(text)
                .map(|t| Some(t.timestamp()))
                .map_err(|_| text.to_string()),
        },
        ostree: image.config.labels().contains_key(oci::keys::LABEL_COMMIT),
    })
}

/// Apply one uncompressed layer `tar` to the directory `into`, as [`flatten`] applies each
/// layer (for the `layer_apply` fuzz target: nothing outside `into` may change).
///
/// # Errors
/// A hostile or malformed entry, named; I/O errors making the tree.
pub fn apply_layer_to(into: &Path, tar: impl Read) -> Result<()> {
    let root = open_root(into)?;
    apply_layer(&root, tar)
}

/// The tree's root directory, the descriptor every path is resolved from.
fn open_root(into: &Path) -> Result<OwnedFd> {
    rustix::fs::open(
        into,
        OFlags::RDONLY | OFlags::DIRECTORY | OFlags::CLOEXEC,
        Mode::empty(),
    )
    .with_context(|| format!("opening {}", into.display()))
}

/// Flatten `image` into the empty directory `into`; an image only skopeo reaches is copied
/// into `work` (a work directory of the caller's) first.
///
/// # Errors
/// As [`flatten`], and skopeo's errors for a remote image.
pub fn flatten_ref(
    image: &crate::ImageRef,
    pull: &oci::skopeo::PullOptions,
    into: &Path,
    work: &Path,
) -> Result<Flattened> {
    if let crate::ImageRef::Remote(src) = image {
        let layout = work.join("image");
        let dest = format!("oci:{}:from", layout.display());
        // Only the content is read: containers-storage's uncompressed layers cannot keep
        // their digests in a layout, and need not.
        oci::skopeo::pull(src, &dest, pull, oci::skopeo::Digests::MayChange)
            .with_context(|| format!("--from {src}: fetching it"))?;
        let local = crate::ImageRef::Dir {
            path: layout,
            tag: Some("from".into()),
        };
        return flatten_ref(&local, pull, into, work);
    }
    let opened = image.open()?;
    flatten(&opened.oci, &opened.image, into).with_context(|| format!("--from {image}"))
}

/// A tar path as the components it names below the root (none: the root itself); `None` if
/// a `..` would climb out of it.
fn components(path: &[u8]) -> Option<Vec<&[u8]>> {
    let mut out = Vec::new();
    for c in path.split(|&b| b == b'/') {
        match c {
            b"" | b"." => {}
            b".." => return None,
            c => out.push(c),
        }
    }
    Some(out)
}

fn lossy(b: &[u8]) -> String {
    String::from_utf8_lossy(b).into_owned()
}

/// Apply one layer's tar stream to the tree at `root`.
fn apply_layer(root: &OwnedFd, tar: impl Read) -> Result<()> {
    // PAX headers and long names are bounded before the tar crate buffers them.
    let mut ar = tar::Archive::new(verify::targuard::TarGuard::new(tar));
    // Paths this layer wrote: an opaque marker hides only what the layers below made.
    let mut written: HashSet<Vec<u8>> = HashSet::new();
    for entry in ar.entries().context("reading the layer")? {
        let mut entry = entry.context("reading the layer")?;
        let raw = entry.path_bytes().into_owned();
        let shown = lossy(&raw);
        let Some(comps) = components(&raw) else {
            bail!("entry {shown:?} climbs out of the image root (`..`): refused");
        };
        let Some((&name, parents)) = comps.split_last() else {
            // The root's own entry: its metadata.
            set_meta(root, None, &mut entry, &shown)?;
            continue;
        };
        let parent = walk(root, parents, &shown)?;
        if name == OPAQUE.as_bytes() {
            let dir_rel = parents.join(&b'/');
            clear_below(&parent, &dir_rel, &written, &shown)?;
            continue;
        }
        if let Some(hidden) = name.strip_prefix(WHITEOUT.as_bytes()) {
            // `.wh.`, `.wh..` and `.wh...` would name the directory itself or its parent:
            // at the root, `.wh...` emptied the directory the tree is in.
            if matches!(hidden, b"" | b"." | b"..") {
                bail!(
                    "entry {shown:?}: a whiteout of {:?} is refused",
                    lossy(hidden)
                );
            }
            if !written.contains(&child_path(&parents.join(&b'/'), hidden)) {
                remove_at(&parent, hidden).with_context(|| format!("applying whiteout {shown}"))?;
            }
            continue;
        }
        make(root, &parent, os(name), &mut entry, &shown)?;
        // The entry and every directory above it belong to this layer now.
        for k in 1..=comps.len() {
            written.insert(comps[..k].join(&b'/'));
        }
    }
    Ok(())
}

/// The tree path of `name` in the directory at tree path `dir` ("" for the root).
fn child_path(dir: &[u8], name: &[u8]) -> Vec<u8> {
    let mut p = dir.to_vec();
    if !p.is_empty() {
        p.push(b'/');
    }
    p.extend_from_slice(name);
    p
}

/// The directory `name` in `at`, opened for reading; never through a symlink.
fn open_dir(at: &OwnedFd, name: &std::ffi::OsStr) -> rustix::io::Result<OwnedFd> {
    rustix::fs::openat(
        at,
        name,
        OFlags::RDONLY | OFlags::DIRECTORY | OFlags::NOFOLLOW | OFlags::CLOEXEC,
        Mode::empty(),
    )
}

/// `OsStr` from bytes (on Unix any bytes are one).
fn os(b: &[u8]) -> &std::ffi::OsStr {
    use std::os::unix::ffi::OsStrExt;
    std::ffi::OsStr::from_bytes(b)
}

/// The directory `parents` names below `root`, made (mode 0755, root-owned, as runtimes
/// make missing parents) where missing; never through a symlink or a file.
fn walk(root: &OwnedFd, parents: &[&[u8]], shown: &str) -> Result<OwnedFd> {
    let mut cur = rustix::io::dup(root).context("duplicating a descriptor")?;
    for c in parents {
        let c = os(c);
        cur = match open_dir(&cur, c) {
            Ok(fd) => fd,
            Err(rustix::io::Errno::NOENT) => {
                rustix::fs::mkdirat(&cur, c, Mode::from_raw_mode(0o755))
                    .with_context(|| format!("entry {shown}: making its parent directories"))?;
                open_dir(&cur, c).with_context(|| format!("entry {shown}: opening its parent"))?
            }
            Err(rustix::io::Errno::NOTDIR | rustix::io::Errno::LOOP) => bail!(
                "entry {shown} goes through {:?}, which is a symlink or a file in the layers \
                 below: refused, it could lead out of the image root",
                c
            ),
            Err(e) => return Err(e).with_context(|| format!("entry {shown}")),
        };
    }
    Ok(cur)
}

/// Remove `name` in `dir` (a directory with everything below it); absent is fine.
fn remove_at(dir: &OwnedFd, name: &[u8]) -> Result<()> {
    let name = os(name);
    match rustix::fs::unlinkat(dir, name, AtFlags::empty()) {
        Ok(()) => return Ok(()),
        Err(rustix::io::Errno::NOENT) => return Ok(()),
        Err(rustix::io::Errno::ISDIR | rustix::io::Errno::PERM) => {}
        Err(e) => return Err(e.into()),
    }
    let sub = open_dir(dir, name)?;
    for child in children(&sub)? {
        remove_at(&sub, &child)?;
    }
    rustix::fs::unlinkat(dir, name, AtFlags::REMOVEDIR)?;
    Ok(())
}

/// Names in the directory `dir`.
fn children(dir: &OwnedFd) -> Result<Vec<Vec<u8>>> {
    let mut out = Vec::new();
    for e in rustix::fs::Dir::read_from(dir)? {
        let e = e?;
        let n = e.file_name().to_bytes();
        if n != b"." && n != b".." {
            out.push(n.to_vec());
        }
    }
    Ok(out)
}

/// An opaque marker in `dir` (tree path `dir_rel`): remove what the layers below put there.
fn clear_below(
    dir: &OwnedFd,
    dir_rel: &[u8],
    written: &HashSet<Vec<u8>>,
    shown: &str,
) -> Result<()> {
    for child in children(dir)? {
        if written.contains(&child_path(dir_rel, &child)) {
            continue;
        }
        remove_at(dir, &child).with_context(|| format!("applying opaque marker {shown}"))?;
    }
    Ok(())
}

/// Make the entry's file, directory, link or node as `name` in `parent`.
fn make<R: Read>(
    root: &OwnedFd,
    parent: &OwnedFd,
    name: &std::ffi::OsStr,
    entry: &mut tar::Entry<'_, R>,
    shown: &str,
) -> Result<()> {
    use tar::EntryType as T;
    let header = entry.header().clone();
    let mode = header
        .mode()
        .with_context(|| format!("entry {shown}: mode"))?
        & 0o7777;
    let ctx = || format!("entry {shown}");
    match header.entry_type() {
        T::Directory => {
            let exists = rustix::fs::statat(parent, name, AtFlags::SYMLINK_NOFOLLOW);
            match exists {
                Ok(st) if (st.st_mode & ostree_format::S_IFMT) == ostree_format::S_IFDIR => {}
                Ok(_) => {
                    remove_at(parent, name.as_encoded_bytes()).with_context(ctx)?;
                    rustix::fs::mkdirat(parent, name, Mode::from_raw_mode(0o700))
                        .with_context(ctx)?;
                }
                Err(_) => rustix::fs::mkdirat(parent, name, Mode::from_raw_mode(0o700))
                    .with_context(ctx)?,
            }
            let fd = open_dir(parent, name).with_context(ctx)?;
            set_meta(&fd, None, entry, shown)
        }
        T::Regular | T::Continuous => {
            remove_at(parent, name.as_encoded_bytes()).with_context(ctx)?;
            let fd = rustix::fs::openat(
                parent,
                name,
                OFlags::WRONLY | OFlags::CREATE | OFlags::EXCL | OFlags::NOFOLLOW | OFlags::CLOEXEC,
                Mode::from_raw_mode(0o600),
            )
            .with_context(ctx)?;
            let mut file = std::fs::File::from(fd);
            std::io::copy(entry, &mut file).with_context(ctx)?;
            set_meta(&OwnedFd::from(file), None, entry, shown)
        }
        T::Symlink => {
            let target = entry
                .link_name_bytes()
                .with_context(|| format!("entry {shown}: a symlink without a target"))?
                .into_owned();
            remove_at(parent, name.as_encoded_bytes()).with_context(ctx)?;
            rustix::fs::symlinkat(os(&target), parent, name).with_context(ctx)?;
            set_meta(parent, Some(name), entry, shown)
        }
        T::Link => {
            let target = entry
                .link_name_bytes()
                .with_context(|| format!("entry {shown}: a hard link without a target"))?
                .into_owned();
            let Some(tcomps) = components(&target) else {
                bail!(
                    "entry {shown}: its hard link target {:?} climbs out of the image root \
                     (`..`): refused",
                    lossy(&target)
                );
            };
            let Some((&tname, tparents)) = tcomps.split_last() else {
                bail!("entry {shown}: a hard link to the root");
            };
            let tdir = walk(root, tparents, shown)?;
            let tname = os(tname);
            remove_at(parent, name.as_encoded_bytes()).with_context(ctx)?;
            rustix::fs::linkat(&tdir, tname, parent, name, AtFlags::empty())
                .with_context(|| format!("entry {shown}: linking to {}", lossy(&target)))?;
            Ok(())
        }
        ty @ (T::Fifo | T::Char | T::Block) => {
            let kind = match ty {
                T::Fifo => rustix::fs::FileType::Fifo,
                T::Char => rustix::fs::FileType::CharacterDevice,
                _ => rustix::fs::FileType::BlockDevice,
            };
            let dev = rustix::fs::makedev(
                header.device_major().ok().flatten().unwrap_or(0),
                header.device_minor().ok().flatten().unwrap_or(0),
            );
            remove_at(parent, name.as_encoded_bytes()).with_context(ctx)?;
            rustix::fs::mknodat(parent, name, kind, Mode::from_raw_mode(mode), dev)
                .with_context(ctx)?;
            set_meta(parent, Some(name), entry, shown)
        }
        // Headers of the tar format itself, handled by the reader.
        T::XGlobalHeader | T::XHeader | T::GNULongName | T::GNULongLink => Ok(()),
        other => bail!("entry {shown}: unsupported tar entry type {other:?}"),
    }
}

/// Owner, mode and xattrs of an entry: on `fd` itself, or (`name`: symlinks and nodes, which
/// cannot be opened for this) on `name` in the directory `fd`, not following it.
fn set_meta<R: Read>(
    fd: &OwnedFd,
    name: Option<&std::ffi::OsStr>,
    entry: &mut tar::Entry<'_, R>,
    shown: &str,
) -> Result<()> {
    let header = entry.header();
    let ctx = || format!("entry {shown}: setting its owner, mode or xattrs");
    let uid = header.uid().with_context(ctx)?;
    let gid = header.gid().with_context(ctx)?;
    let mode = header.mode().with_context(ctx)? & 0o7777;
    let is_symlink = header.entry_type() == tar::EntryType::Symlink;
    let owner = (
        Some(rustix::fs::Uid::from_raw(
            u32::try_from(uid).with_context(ctx)?,
        )),
        Some(rustix::fs::Gid::from_raw(
            u32::try_from(gid).with_context(ctx)?,
        )),
    );
    let mut xattrs: Vec<(String, Vec<u8>)> = Vec::new();
    if let Some(pax) = entry.pax_extensions().with_context(ctx)? {
        for ext in pax {
            let ext = ext.with_context(ctx)?;
            if let Some(n) = ext.key().ok().and_then(|k| k.strip_prefix(PAX_XATTR)) {
                xattrs.push((n.to_string(), ext.value_bytes().to_vec()));
            }
        }
    }
    match name {
        None => {
            rustix::fs::fchown(fd, owner.0, owner.1).with_context(ctx)?;
            // After chown, which clears set-id bits.
            rustix::fs::fchmod(fd, Mode::from_raw_mode(mode)).with_context(ctx)?;
            for (n, v) in &xattrs {
                rustix::fs::fsetxattr(fd, n.as_str(), v, rustix::fs::XattrFlags::empty())
                    .with_context(|| format!("entry {shown}: setting xattr {n}"))?;
            }
        }
        Some(name) => {
            rustix::fs::chownat(fd, name, owner.0, owner.1, AtFlags::SYMLINK_NOFOLLOW)
                .with_context(ctx)?;
            // A node was made with the umask applied; a symlink has no mode of its own (and
            // chmod would follow it). What is here was just made by us, in this directory.
            if !is_symlink {
                rustix::fs::chmodat(fd, name, Mode::from_raw_mode(mode), AtFlags::empty())
                    .with_context(ctx)?;
            }
            if !xattrs.is_empty() {
                // By the directory's descriptor: the path cannot lead anywhere else.
                let path = Path::new("/proc/self/fd")
                    .join(fd.as_raw_fd().to_string())
                    .join(name);
                for (n, v) in &xattrs {
                    rustix::fs::lsetxattr(&path, n.as_str(), v, rustix::fs::XattrFlags::empty())
                        .with_context(|| format!("entry {shown}: setting xattr {n}"))?;
                }
            }
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn paths_never_climb_out() {
        assert_eq!(
            components(b"./usr//bin/./sh").unwrap(),
            [b"usr".as_slice(), b"bin", b"sh"]
        );
        assert!(components(b"/").unwrap().is_empty());
        assert!(components(b"usr/../../etc/passwd").is_none());
        assert!(components(b"..").is_none());
    }
}
