//! Tar streams as composefs-oci reads them (its `tar::get_entry`, over a split stream there,
//! over the plain stream here): the same parser (`tar-core`, a new one per entry, global PAX
//! headers skipped), the same path rules (made absolute, trailing `/` dropped, `/` itself the
//! root entry), the same metadata (numeric ids, the raw mode, mtime with the nanoseconds of a
//! PAX `mtime`, xattrs from PAX `SCHILY.xattr.*`), regular files of at most 64 bytes inline
//! and larger ones by the fs-verity digest of their content, sparse entries refused.
//!
//! Also keeps the content of the SELinux policy files composefs-boot's relabelling reads
//! (`/etc/selinux/config`, `/etc/selinux/TYPE/contexts/files/file_contexts*`), by fs-verity
//! digest: the boot transform reads them from a directory that [`crate::Merger`] makes of the
//! merged tree. An ostree-format image holds such a file as an object under
//! `/sysroot/ostree/repo/objects/` with its tree paths as hard links right after it, so the
//! content of the last object read (up to [`MAX_POLICY_FILE`], and text: no NUL in its first
//! block) is kept until the next one. A layer is read into a [`Layer`] (on any thread), then
//! applied in order.

use anyhow::{bail, ensure, Context, Result};
use composefs::fsverity::{FsVerityHasher, Sha512HashValue};
use composefs::tree::{LeafContent, RegularFile, Stat};
use composefs::INLINE_CONTENT_MAX_V0;
use composefs_oci::tar::{TarEntry, TarItem};
use rustix::fs::makedev;
use std::collections::BTreeMap;
use std::ffi::{OsStr, OsString};
use std::io::{self, BufRead, Read};
use std::os::unix::ffi::{OsStrExt, OsStringExt};
use std::path::{Path, PathBuf};
use tar_core::parse::{ParseEvent, Parser};
use tar_core::{EntryType, PaxExtensions};

const BLOCK: usize = 512;
/// Largest total of SELinux policy file bytes kept from one layer (a targeted policy's
/// file_contexts files are a few MB): an image from outside must not make us hold more.
pub const MAX_POLICY_BYTES: u64 = 256 << 20;
/// Largest ostree object whose content is kept in case hard links into `/etc/selinux`
/// follow it (Fedora's targeted `file_contexts` is under 1 MB; one such buffer per layer
/// being read).
pub const MAX_POLICY_FILE: u64 = 4 << 20;
/// The names composefs-boot reads under `/etc/selinux/TYPE/contexts/files/`.
pub const POLICY_FILES: [&str; 5] = [
    "file_contexts",
    "file_contexts.local",
    "file_contexts.homedirs",
    "file_contexts.subs",
    "file_contexts.subs_dist",
];
/// Where an ostree-format image keeps its objects.
const OBJECTS: &str = "/sysroot/ostree/repo/objects/";

/// The nanoseconds of a PAX `mtime` (`SECONDS.FRACTION`), as composefs-oci reads them.
fn pax_mtime_nsec(pax: &[u8]) -> u32 {
    for ext in PaxExtensions::new(pax).flatten() {
        if ext.key_bytes() == b"mtime" {
            let Ok(value) = ext.value() else { return 0 };
            let Some((_, frac)) = value.split_once('.') else {
                return 0;
            };
            if frac.len() >= 9 {
                return frac[..9].parse::<u32>().unwrap_or(0);
            }
            return frac
                .parse::<u32>()
                .ok()
                .map_or(0, |v| v * 10u32.pow(9 - frac.len() as u32));
        }
    }
    0
}

/// A tar path made absolute, trailing `/` dropped; `/` itself becomes empty (the root).
fn absolute(tar_path: &[u8]) -> PathBuf {
    let tar_path = tar_path.strip_prefix(b"/").unwrap_or(tar_path);
    let mut path = Vec::with_capacity(1 + tar_path.len());
    path.push(b'/');
    path.extend(tar_path);
    while path.last() == Some(&b'/') && path.len() > 1 {
        path.pop();
    }
    if path == b"/" {
        path.clear();
    }
    PathBuf::from(OsString::from_vec(path))
}

/// Whether composefs-boot's relabelling reads the file at `path` (absolute):
/// `/etc/selinux/config`, or one of [`POLICY_FILES`] in `/etc/selinux/TYPE/contexts/files/`.
pub fn is_policy_file(path: &Path) -> bool {
    let Ok(rest) = path.strip_prefix("/etc/selinux") else {
        return false;
    };
    let parts: Vec<&OsStr> = rest
        .components()
        .map(|c| match c {
            std::path::Component::Normal(n) => Some(n),
            _ => None,
        })
        .collect::<Option<_>>()
        .unwrap_or_default();
    match parts.as_slice() {
        [name] => *name == "config",
        [_, contexts, files, name] => {
            *contexts == "contexts" && *files == "files" && POLICY_FILES.iter().any(|n| name == n)
        }
        _ => false,
    }
}

/// A layer read: its entries in order, and the content of the policy files it holds.
#[derive(Debug)]
pub struct Layer {
    /// The entries, for `process_entry`.
    pub entries: Vec<TarEntry<Sha512HashValue>>,
    /// Policy file content by fs-verity digest (files of more than 64 bytes: smaller ones
    /// are inline in the tree).
    pub policy: Vec<(Sha512HashValue, Vec<u8>)>,
}

/// The last ostree object read, kept for the hard links that may follow it.
#[derive(Default)]
struct LastObject {
    path: PathBuf,
    digest: Option<Sha512HashValue>,
    data: Vec<u8>,
}

/// Read the layer `tar` (buffered by the caller: a 1 MiB buffer serves well).
///
/// # Errors
/// As [`each`].
pub fn read_layer(tar: impl BufRead) -> Result<Layer> {
    let mut layer = Layer {
        entries: Vec::new(),
        policy: Vec::new(),
    };
    let policy = &mut layer.policy;
    let entries = &mut layer.entries;
    each(tar, policy, |e| {
        entries.push(e);
        Ok(())
    })?;
    Ok(layer)
}

/// Read exactly `buf.len()` bytes, or fewer at the end of the stream.
fn fill(r: &mut impl Read, buf: &mut [u8]) -> io::Result<usize> {
    let mut n = 0;
    while n < buf.len() {
        match r.read(&mut buf[n..]) {
            Ok(0) => break,
            Ok(k) => n += k,
            Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
            Err(e) => return Err(e),
        }
    }
    Ok(n)
}

/// The fs-verity digest of the next `size` bytes of `r`, which also go to `keep` if given.
/// Whole blocks are hashed where they lie in `r`'s buffer (composefs's `add_block`, the call
/// its `Write` makes after copying each block): the content of a whole image passes here.
fn verity(
    r: &mut impl BufRead,
    size: u64,
    mut keep: Option<&mut Vec<u8>>,
) -> Result<Sha512HashValue> {
    const B: usize = FsVerityHasher::<Sha512HashValue, 12>::BLOCK_SIZE;
    let mut h = FsVerityHasher::<Sha512HashValue, 12>::new();
    // A block split between two of `r`'s buffers.
    let mut split: Vec<u8> = Vec::with_capacity(B);
    let mut left = size;
    while left > 0 {
        let buf = r.fill_buf()?;
        ensure!(!buf.is_empty(), "the tar stream ends inside the content");
        let take = buf.len().min(usize::try_from(left).unwrap_or(usize::MAX));
        let mut part = &buf[..take];
        if let Some(k) = keep.as_mut() {
            k.extend_from_slice(part);
        }
        if !split.is_empty() {
            let n = (B - split.len()).min(part.len());
            split.extend_from_slice(&part[..n]);
            part = &part[n..];
            if split.len() == B {
                h.add_block(&split);
                split.clear();
            }
        }
        let whole = part.len() - part.len() % B;
        for block in part[..whole].chunks_exact(B) {
            h.add_block(block);
        }
        split.extend_from_slice(&part[whole..]);
        r.consume(take);
        left -= take as u64;
    }
    if !split.is_empty() {
        h.add_block(&split);
    }
    Ok(h.digest())
}

/// Count `size` more bytes of policy files kept from one layer, refusing more than `max`
/// (`path`: the file that would pass it).
fn count_policy(total: &mut u64, size: u64, max: u64, path: &Path) -> Result<()> {
    *total = total.saturating_add(size);
    ensure!(
        *total <= max,
        "{path:?}: the SELinux policy files of one layer are over {max} bytes"
    );
    Ok(())
}

/// Call `f` with each entry of the tar stream `tar`, in order; the content of policy files
/// also goes to `policy`.
///
/// # Errors
/// Unreadable or malformed tar (as composefs-oci refuses it), `f`'s errors.
pub fn each(
    tar: impl BufRead,
    policy: &mut Vec<(Sha512HashValue, Vec<u8>)>,
    f: impl FnMut(TarEntry<Sha512HashValue>) -> Result<()>,
) -> Result<()> {
    each_bounded(tar, policy, MAX_POLICY_BYTES, f)
}

/// [`each`], keeping at most `max_policy` bytes of policy files.
fn each_bounded(
    mut r: impl BufRead,
    policy: &mut Vec<(Sha512HashValue, Vec<u8>)>,
    max_policy: u64,
    mut f: impl FnMut(TarEntry<Sha512HashValue>) -> Result<()>,
) -> Result<()> {
    let mut policy_bytes = 0u64;
    let mut last = LastObject::default();
    let mut block = [0u8; BLOCK];
    'entries: loop {
        let mut parser = Parser::with_defaults();
        let mut header: Vec<u8> = Vec::new();
        loop {
            let n = fill(&mut r, &mut block)?;
            if n == 0 {
                return Ok(());
            }
            ensure!(n == BLOCK, "the tar stream ends inside a header");
            header.extend_from_slice(&block);
            loop {
                match parser.parse(&header)? {
                    ParseEvent::NeedData { .. } => break,
                    ParseEvent::GlobalExtensions { consumed, .. } => {
                        header.drain(..consumed);
                        continue;
                    }
                    ParseEvent::End { .. } => return Ok(()),
                    ParseEvent::SparseEntry { .. } => bail!("sparse tar entries are not supported"),
                    ParseEvent::Entry { consumed, entry } => {
                        ensure!(
                            consumed == header.len(),
                            "a tar header is not block-aligned"
                        );
                        let size = entry.size;
                        let path = absolute(&entry.path);
                        let item = match entry.entry_type {
                            EntryType::Regular | EntryType::Continuous => {
                                let keep = is_policy_file(&path);
                                // Policy files are text: an object whose first bytes hold
                                // a NUL (executables, libraries, compressed data: most of
                                // an image's bytes) is not copied.
                                let object = !keep
                                    && size <= MAX_POLICY_FILE
                                    && path.as_os_str().as_bytes().starts_with(OBJECTS.as_bytes())
                                    && {
                                        let head = r.fill_buf()?;
                                        let n = head.len().min(BLOCK).min(size as usize);
                                        !head[..n].contains(&0)
                                    };
                                last.digest = None;
                                if keep && size as usize > INLINE_CONTENT_MAX_V0 {
                                    count_policy(&mut policy_bytes, size, max_policy, &path)?;
                                }
                                if size as usize > INLINE_CONTENT_MAX_V0 {
                                    let mut out = Vec::new();
                                    let digest = if object {
                                        last.data.clear();
                                        verity(&mut r, size, Some(&mut last.data))
                                    } else {
                                        verity(&mut r, size, keep.then_some(&mut out))
                                    }
                                    .with_context(|| format!("{path:?}"))?;
                                    if keep {
                                        policy.push((digest.clone(), out));
                                    } else if object {
                                        last.path.clone_from(&path);
                                        last.digest = Some(digest.clone());
                                    }
                                    TarItem::Leaf(LeafContent::Regular(RegularFile::External(
                                        digest, size,
                                    )))
                                } else {
                                    let mut data = Vec::with_capacity(size as usize);
                                    (&mut r).take(size).read_to_end(&mut data)?;
                                    ensure!(
                                        data.len() as u64 == size,
                                        "the tar stream ends inside {path:?}"
                                    );
                                    TarItem::Leaf(LeafContent::Regular(RegularFile::Inline(
                                        data.into(),
                                    )))
                                }
                            }
                            other => {
                                // Not regular: composefs-oci reads its content (if any) as
                                // inline bytes and ignores them.
                                io::copy(&mut (&mut r).take(size), &mut io::sink())?;
                                match other {
                                    EntryType::Directory => TarItem::Directory,
                                    EntryType::Link => {
                                        let target = absolute(
                                            entry.link_target.as_deref().unwrap_or_default(),
                                        );
                                        // A policy file's path linked to the object just
                                        // read (the ostree format): keep its content.
                                        if let (true, Some(d)) =
                                            (is_policy_file(&path), last.digest.as_ref())
                                        {
                                            if target == last.path {
                                                count_policy(
                                                    &mut policy_bytes,
                                                    last.data.len() as u64,
                                                    max_policy,
                                                    &path,
                                                )?;
                                                policy.push((d.clone(), last.data.clone()));
                                            }
                                        }
                                        TarItem::Hardlink(target.into_os_string())
                                    }
                                    EntryType::Symlink => TarItem::Leaf(LeafContent::Symlink(
                                        OsStr::from_bytes(
                                            entry.link_target.as_deref().unwrap_or_default(),
                                        )
                                        .into(),
                                    )),
                                    EntryType::Block | EntryType::Char => {
                                        let (Some(major), Some(minor)) =
                                            (entry.dev_major, entry.dev_minor)
                                        else {
                                            bail!("device entry {path:?} without device numbers");
                                        };
                                        let dev = makedev(major, minor);
                                        if other == EntryType::Block {
                                            TarItem::Leaf(LeafContent::BlockDevice(dev))
                                        } else {
                                            TarItem::Leaf(LeafContent::CharacterDevice(dev))
                                        }
                                    }
                                    EntryType::Fifo => TarItem::Leaf(LeafContent::Fifo),
                                    t => bail!("unsupported tar entry type {t:?} at {path:?}"),
                                }
                            }
                        };
                        let pad = (BLOCK - (size as usize % BLOCK)) % BLOCK;
                        let mut skip = [0u8; BLOCK];
                        fill(&mut r, &mut skip[..pad])?;
                        let xattrs: BTreeMap<_, _> = entry
                            .xattrs
                            .into_iter()
                            .map(|(k, v)| (Box::from(OsStr::from_bytes(&k)), Box::from(v.as_ref())))
                            .collect();
                        f(TarEntry {
                            path,
                            stat: Stat {
                                st_uid: entry.uid as u32,
                                st_gid: entry.gid as u32,
                                st_mode: entry.mode,
                                st_mtim_sec: entry.mtime as i64,
                                st_mtim_nsec: entry.pax.map_or(0, pax_mtime_nsec),
                                xattrs,
                            },
                            item,
                        })?;
                        continue 'entries;
                    }
                }
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn verity_over_any_buffer_split_is_composefs_s_own() {
        use std::io::Write;
        let data: Vec<u8> = (0..20_000u32).map(|i| (i * 7 + i / 13) as u8).collect();
        for size in [65, 4095, 4096, 4097, 8192, 12_289, 20_000] {
            let mut want = FsVerityHasher::<Sha512HashValue, 12>::new();
            want.write_all(&data[..size]).unwrap();
            let want = want.digest();
            // Buffers smaller than a block, not dividing it, and larger than the content.
            for cap in [100, 4096, 5000, 1 << 16] {
                let mut r = io::BufReader::with_capacity(cap, &data[..]);
                let mut kept = Vec::new();
                let got = verity(&mut r, size as u64, Some(&mut kept)).unwrap();
                assert_eq!(got, want, "size {size} buffer {cap}");
                assert_eq!(kept, &data[..size]);
                // The content is consumed exactly.
                let mut rest = Vec::new();
                r.read_to_end(&mut rest).unwrap();
                assert_eq!(rest.len(), data.len() - size);
            }
        }
        let mut short = io::BufReader::new(&data[..100]);
        let e = verity(&mut short, 200, None).unwrap_err();
        assert!(format!("{e:#}").contains("ends inside"), "{e:#}");
    }

    #[test]
    fn policy_files_are_kept_within_a_bound() {
        let files = "etc/selinux/t/contexts/files";
        let mut b = ::tar::Builder::new(Vec::new());
        for (name, len) in [
            ("etc/selinux/config".to_string(), 40usize),
            ("etc/selinux/config".to_string(), 100),
            (format!("{files}/file_contexts"), 900),
            // Not read by the relabelling: not kept.
            ("etc/selinux/t/policy/policy.33".to_string(), 5000),
            (format!("{files}/file_contexts.bin"), 5000),
        ] {
            let mut h = ::tar::Header::new_gnu();
            h.set_mode(0o644);
            h.set_size(len as u64);
            b.append_data(&mut h, &name, &vec![b'x'; len][..]).unwrap();
        }
        let tar = b.into_inner().unwrap();
        let mut policy = Vec::new();
        each_bounded(&tar[..], &mut policy, 1000, |_| Ok(())).unwrap();
        // Files of at most 64 bytes are inline in the tree.
        let kept: Vec<usize> = policy.iter().map(|(_, d)| d.len()).collect();
        assert_eq!(kept, [100, 900]);
        let e = each_bounded(&tar[..], &mut Vec::new(), 500, |_| Ok(())).unwrap_err();
        assert!(format!("{e:#}").contains("over 500 bytes"), "{e:#}");
    }

    #[test]
    fn a_policy_path_hard_linked_to_the_ostree_object_before_it_is_kept() {
        let object = "sysroot/ostree/repo/objects/ab/cdef.file";
        let content = vec![b'p'; 3000];
        let mut b = ::tar::Builder::new(Vec::new());
        let mut h = ::tar::Header::new_gnu();
        h.set_mode(0o644);
        h.set_size(content.len() as u64);
        b.append_data(&mut h, object, &content[..]).unwrap();
        for path in [
            "usr/share/other",
            "etc/selinux/t/contexts/files/file_contexts",
        ] {
            let mut h = ::tar::Header::new_gnu();
            h.set_entry_type(::tar::EntryType::Link);
            h.set_size(0);
            b.append_link(&mut h, path, object).unwrap();
        }
        let tar = b.into_inner().unwrap();
        let mut policy = Vec::new();
        each(&tar[..], &mut policy, |_| Ok(())).unwrap();
        let want = composefs::fsverity::compute_verity::<Sha512HashValue>(&content);
        assert_eq!(policy, [(want, content)]);
        // A binary object (a NUL in its first block) is not copied in case: most of an
        // image's bytes are binaries, and no policy file is one.
        let mut binary = tar.clone();
        let at = binary
            .windows(3000)
            .position(|w| w.iter().all(|&b| b == b'p'))
            .unwrap();
        binary[at + 10] = 0;
        let mut policy = Vec::new();
        each(&binary[..], &mut policy, |_| Ok(())).unwrap();
        assert!(policy.is_empty());
        assert!(is_policy_file(Path::new("/etc/selinux/config")));
        assert!(!is_policy_file(Path::new("/etc/selinux/t/config")));
        assert!(!is_policy_file(Path::new(
            "/etc/selinux/t/contexts/files/../x"
        )));
    }
}
