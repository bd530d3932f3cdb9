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
//! block) is kept until the next one.
//!
//! The reader is pushed: [`LayerReader`] takes the stream in whatever pieces it comes (a
//! build feeds it the bytes it writes, on the writing thread, with no copy of them), and
//! [`read_layer`] feeds it a buffered reader's buffers. A layer is read into a [`Layer`]
//! (on any thread), then applied in order.

use crate::verity::Verity;
use anyhow::{bail, ensure, Result};
use composefs::fsverity::Sha512HashValue;
use composefs::tree::{LeafContent, RegularFile, Stat};
use composefs::INLINE_CONTENT_MAX_V0;
use composefs_oci::tar::{TarEntry, TarItem};
use rustix::fs::makedev;
use std::collections::BTreeMap;
use std::ffi::{OsStr, OsString};
use std::io::BufRead;
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
/// Where composefs-boot's relabelling reads the image's SELinux policy: [`POLICY_CONFIG`]
/// (which names the TYPE) in this directory, and [`POLICY_FILES`] in
/// `TYPE/`[`POLICY_CONTEXTS`] under it. The reader ([`is_policy_file`]) and the merged tree's
/// copy (`Merger::policy_root`) both go by these.
pub const POLICY_DIR: &str = "etc/selinux";
/// The file in [`POLICY_DIR`] that names the policy type.
pub const POLICY_CONFIG: &str = "config";
/// The directory of a policy type that holds [`POLICY_FILES`].
pub const POLICY_CONTEXTS: [&str; 2] = ["contexts", "files"];
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
    let Ok(rest) = path.strip_prefix(Path::new("/").join(POLICY_DIR)) else {
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
        [name] => *name == POLICY_CONFIG,
        [_, contexts, files, name] => {
            [*contexts, *files] == POLICY_CONTEXTS && POLICY_FILES.iter().any(|n| name == n)
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

/// Read the layer `tar` (buffered by the caller: a 1 MiB buffer serves well), where its
/// bytes lie in the buffer.
///
/// # Errors
/// As [`LayerReader::feed`] and [`LayerReader::finish`]; I/O errors.
pub fn read_layer(mut tar: impl BufRead) -> Result<Layer> {
    let mut reader = LayerReader::new();
    while !reader.is_done() {
        let buf = tar.fill_buf()?;
        if buf.is_empty() {
            break;
        }
        let n = buf.len();
        reader.feed(buf)?;
        tar.consume(n);
    }
    reader.finish()
}

/// An entry whose header is read, waiting for its content (if any) and padding.
struct Pending {
    path: PathBuf,
    stat: Stat,
    size: u64,
    /// Content bytes still to come.
    left: u64,
    /// Padding bytes after the content.
    pad: usize,
    body: Body,
}

/// What an entry's content becomes.
enum Body {
    /// A regular file of more than 64 bytes: its fs-verity digest; its content is also kept
    /// when it is a policy file (`Keep::Policy`) or may be one's ostree object.
    External(Verity, Keep),
    /// A regular file of at most 64 bytes, inline.
    Inline(Vec<u8>),
    /// Anything else: its content (if any) is read and ignored, as composefs-oci does.
    Other(TarItem<Sha512HashValue>),
}

/// Which content of a regular file is kept, and where.
enum Keep {
    Nothing,
    /// A policy file: its content goes with the layer.
    Policy(Vec<u8>),
    /// An ostree object of at most [`MAX_POLICY_FILE`] bytes: copied into the last object's
    /// buffer until its first block shows a NUL (then it is not text, and not a policy file).
    Object,
}

/// Where the reader is in the stream.
enum At {
    /// Between entries: header blocks.
    Header,
    /// In an entry's content or padding.
    Entry(Box<Pending>),
    /// After the end-of-archive blocks: the rest is ignored.
    End,
}

/// A layer's entries read from its tar bytes as they are fed, in pieces of any size (the
/// layer writer feeds the bytes it writes; [`read_layer`] feeds a reader's buffers). Reads
/// as composefs-oci's `tar::get_entry` does.
pub struct LayerReader {
    layer: Layer,
    at: At,
    /// The header block being filled.
    block: Vec<u8>,
    /// The current entry's header blocks (PAX and GNU extensions before it).
    header: Vec<u8>,
    parser: Parser,
    last: LastObject,
    policy_bytes: u64,
    max_policy: u64,
}

impl Default for LayerReader {
    fn default() -> Self {
        Self::new()
    }
}

impl LayerReader {
    /// A reader at the start of a layer.
    pub fn new() -> Self {
        Self::with_policy_bound(MAX_POLICY_BYTES)
    }

    /// A reader keeping at most `max_policy` bytes of policy files.
    fn with_policy_bound(max_policy: u64) -> Self {
        LayerReader {
            layer: Layer {
                entries: Vec::new(),
                policy: Vec::new(),
            },
            at: At::Header,
            block: Vec::with_capacity(BLOCK),
            header: Vec::new(),
            parser: Parser::with_defaults(),
            last: LastObject::default(),
            policy_bytes: 0,
            max_policy,
        }
    }

    /// Whether the end-of-archive blocks were read (what follows is ignored).
    pub fn is_done(&self) -> bool {
        matches!(self.at, At::End)
    }

    /// Read the next `data` of the stream.
    ///
    /// # Errors
    /// Malformed tar (as composefs-oci refuses it), policy files over the bound.
    pub fn feed(&mut self, mut data: &[u8]) -> Result<()> {
        while !data.is_empty() {
            match &mut self.at {
                At::End => return Ok(()),
                At::Header => {
                    let n = (BLOCK - self.block.len()).min(data.len());
                    self.block.extend_from_slice(&data[..n]);
                    data = &data[n..];
                    if self.block.len() == BLOCK {
                        self.header.extend_from_slice(&self.block);
                        self.block.clear();
                        self.parse_header()?;
                    }
                }
                At::Entry(p) if p.left > 0 => {
                    let n = data
                        .len()
                        .min(usize::try_from(p.left).unwrap_or(usize::MAX));
                    let (part, rest) = data.split_at(n);
                    data = rest;
                    let first = p.size - p.left;
                    p.left -= n as u64;
                    match &mut p.body {
                        Body::External(v, keep) => {
                            v.update(part);
                            match keep {
                                Keep::Nothing => {}
                                Keep::Policy(k) => k.extend_from_slice(part),
                                Keep::Object => {
                                    self.last.data.extend_from_slice(part);
                                    // Policy files are text: an object whose first block
                                    // holds a NUL (executables, libraries, compressed data:
                                    // most of an image's bytes) is copied no further.
                                    let head = (BLOCK as u64).min(p.size) as usize;
                                    if first < head as u64
                                        && first + n as u64 >= head as u64
                                        && self.last.data[..head].contains(&0)
                                    {
                                        *keep = Keep::Nothing;
                                        self.last.data.clear();
                                    }
                                }
                            }
                        }
                        Body::Inline(d) => d.extend_from_slice(part),
                        Body::Other(_) => {}
                    }
                    if p.left == 0 && p.pad == 0 {
                        self.complete()?;
                    }
                }
                At::Entry(p) => {
                    let n = p.pad.min(data.len());
                    data = &data[n..];
                    p.pad -= n;
                    if p.pad == 0 {
                        self.complete()?;
                    }
                }
            }
        }
        Ok(())
    }

    /// The layer read.
    ///
    /// # Errors
    /// The stream ends inside a header or a regular file's content.
    pub fn finish(mut self) -> Result<Layer> {
        match &self.at {
            At::Header => ensure!(self.block.is_empty(), "the tar stream ends inside a header"),
            At::End => {}
            At::Entry(p) if p.left > 0 => match p.body {
                Body::External(..) => {
                    bail!("{:?}: the tar stream ends inside the content", p.path)
                }
                Body::Inline(_) => bail!("the tar stream ends inside {:?}", p.path),
                // As composefs-oci: the content of other entries is not needed.
                Body::Other(_) => self.complete()?,
            },
            // Padding is not needed either.
            At::Entry(_) => self.complete()?,
        }
        Ok(self.layer)
    }

    /// Parse the header blocks read so far; on a whole entry header, start its content.
    fn parse_header(&mut self) -> Result<()> {
        loop {
            match self.parser.parse(&self.header)? {
                ParseEvent::NeedData { .. } => return Ok(()),
                ParseEvent::GlobalExtensions { consumed, .. } => {
                    self.header.drain(..consumed);
                }
                ParseEvent::End { .. } => {
                    self.at = At::End;
                    return Ok(());
                }
                ParseEvent::SparseEntry { .. } => bail!("sparse tar entries are not supported"),
                ParseEvent::Entry { consumed, entry } => {
                    ensure!(
                        consumed == self.header.len(),
                        "a tar header is not block-aligned"
                    );
                    let size = entry.size;
                    let path = absolute(&entry.path);
                    let body = match entry.entry_type {
                        EntryType::Regular | EntryType::Continuous => {
                            let policy = is_policy_file(&path);
                            let object = !policy
                                && size <= MAX_POLICY_FILE
                                && path.as_os_str().as_bytes().starts_with(OBJECTS.as_bytes());
                            self.last.digest = None;
                            if size as usize > INLINE_CONTENT_MAX_V0 {
                                let keep = if policy {
                                    count_policy(
                                        &mut self.policy_bytes,
                                        size,
                                        self.max_policy,
                                        &path,
                                    )?;
                                    Keep::Policy(Vec::new())
                                } else if object {
                                    self.last.data.clear();
                                    Keep::Object
                                } else {
                                    Keep::Nothing
                                };
                                Body::External(Verity::new(), keep)
                            } else {
                                Body::Inline(Vec::with_capacity(size as usize))
                            }
                        }
                        EntryType::Directory => Body::Other(TarItem::Directory),
                        EntryType::Link => {
                            let target = absolute(entry.link_target.as_deref().unwrap_or_default());
                            // A policy file's path linked to the object just read (the
                            // ostree format): keep its content.
                            if let (true, Some(d)) =
                                (is_policy_file(&path), self.last.digest.as_ref())
                            {
                                if target == self.last.path {
                                    count_policy(
                                        &mut self.policy_bytes,
                                        self.last.data.len() as u64,
                                        self.max_policy,
                                        &path,
                                    )?;
                                    self.layer.policy.push((d.clone(), self.last.data.clone()));
                                }
                            }
                            Body::Other(TarItem::Hardlink(target.into_os_string()))
                        }
                        EntryType::Symlink => Body::Other(TarItem::Leaf(LeafContent::Symlink(
                            OsStr::from_bytes(entry.link_target.as_deref().unwrap_or_default())
                                .into(),
                        ))),
                        t @ (EntryType::Block | EntryType::Char) => {
                            let (Some(major), Some(minor)) = (entry.dev_major, entry.dev_minor)
                            else {
                                bail!("device entry {path:?} without device numbers");
                            };
                            let dev = makedev(major, minor);
                            Body::Other(TarItem::Leaf(if t == EntryType::Block {
                                LeafContent::BlockDevice(dev)
                            } else {
                                LeafContent::CharacterDevice(dev)
                            }))
                        }
                        EntryType::Fifo => Body::Other(TarItem::Leaf(LeafContent::Fifo)),
                        t => bail!("unsupported tar entry type {t:?} at {path:?}"),
                    };
                    let xattrs: BTreeMap<_, _> = entry
                        .xattrs
                        .into_iter()
                        .map(|(k, v)| (Box::from(OsStr::from_bytes(&k)), Box::from(v.as_ref())))
                        .collect();
                    let stat = Stat {
                        st_uid: entry.uid as u32,
                        st_gid: entry.gid as u32,
                        st_mode: entry.mode,
                        st_mtim_sec: entry.mtime as i64,
                        st_mtim_nsec: entry.pax.map_or(0, pax_mtime_nsec),
                        xattrs,
                    };
                    self.header.clear();
                    self.parser = Parser::with_defaults();
                    self.at = At::Entry(Box::new(Pending {
                        path,
                        stat,
                        size,
                        left: size,
                        pad: (BLOCK - (size as usize % BLOCK)) % BLOCK,
                        body,
                    }));
                    if size == 0 {
                        self.complete()?;
                    }
                    return Ok(());
                }
            }
        }
    }

    /// The current entry is read: add it to the layer.
    fn complete(&mut self) -> Result<()> {
        let At::Entry(p) = std::mem::replace(&mut self.at, At::Header) else {
            return Ok(());
        };
        let Pending {
            path,
            stat,
            size,
            body,
            ..
        } = *p;
        let item = match body {
            Body::External(v, keep) => {
                let digest = v.digest();
                match keep {
                    Keep::Policy(data) => self.layer.policy.push((digest.clone(), data)),
                    Keep::Object => {
                        self.last.path.clone_from(&path);
                        self.last.digest = Some(digest.clone());
                    }
                    Keep::Nothing => {}
                }
                TarItem::Leaf(LeafContent::Regular(RegularFile::External(digest, size)))
            }
            Body::Inline(data) => {
                ensure!(
                    data.len() as u64 == size,
                    "the tar stream ends inside {path:?}"
                );
                TarItem::Leaf(LeafContent::Regular(RegularFile::Inline(data.into())))
            }
            Body::Other(item) => item,
        };
        self.layer.entries.push(TarEntry { path, stat, item });
        Ok(())
    }
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

#[cfg(test)]
mod tests {
    use super::*;

    /// A tar of `files` (path, content).
    fn tar_of(files: &[(&str, &[u8])]) -> Vec<u8> {
        let mut b = ::tar::Builder::new(Vec::new());
        for (path, content) in files {
            let mut h = ::tar::Header::new_gnu();
            h.set_mode(0o644);
            h.set_size(content.len() as u64);
            b.append_data(&mut h, path, *content).unwrap();
        }
        b.into_inner().unwrap()
    }

    /// The same entries, digests and policy whatever the pieces the bytes come in; a stream
    /// cut short inside a header or a regular file's content is refused, naming the file.
    #[test]
    fn a_layer_fed_in_any_pieces_reads_the_same() {
        let small = b"sixty-four bytes or fewer: inline".to_vec();
        let big: Vec<u8> = (0..9000u32).map(|i| (i % 251) as u8).collect();
        let policy = vec![b'p'; 700];
        let tar = tar_of(&[
            ("usr/small", &small),
            ("usr/big", &big),
            ("etc/selinux/config", &policy),
        ]);
        let whole = read_layer(&tar[..]).unwrap();
        let shown = |l: &Layer| format!("{:?} {:?}", l.entries, l.policy);
        assert_eq!(whole.entries.len(), 3);
        assert_eq!(whole.policy.len(), 1);
        for cap in [1, 7, 512, 513, 4096, 10_000] {
            let mut r = LayerReader::new();
            for piece in tar.chunks(cap) {
                r.feed(piece).unwrap();
            }
            assert!(r.is_done(), "pieces of {cap}");
            assert_eq!(
                shown(&r.finish().unwrap()),
                shown(&whole),
                "pieces of {cap}"
            );
        }
        // Cut inside the big file's content, inside its header, inside the padding of the
        // first entry (its content is whole).
        let at = tar.windows(100).position(|w| w == &big[..100]).unwrap();
        let e = read_layer(&tar[..at + 50]).unwrap_err();
        assert!(
            format!("{e:#}").contains("\"/usr/big\": the tar stream ends inside the content"),
            "{e:#}"
        );
        let e = read_layer(&tar[..1024 + 100]).unwrap_err();
        assert!(format!("{e:#}").contains("ends inside a header"), "{e:#}");
        assert_eq!(read_layer(&tar[..700]).unwrap().entries.len(), 1);
    }

    #[test]
    fn policy_files_are_kept_within_a_bound() {
        let files = "etc/selinux/t/contexts/files";
        let (contexts, binary) = (
            format!("{files}/file_contexts"),
            format!("{files}/file_contexts.bin"),
        );
        let x = |len: usize| vec![b'x'; len];
        let (x40, x100, x900, x5000) = (x(40), x(100), x(900), x(5000));
        let tar = tar_of(&[
            ("etc/selinux/config", &x40),
            ("etc/selinux/config", &x100),
            (&contexts, &x900),
            // Not read by the relabelling: not kept.
            ("etc/selinux/t/policy/policy.33", &x5000),
            (&binary, &x5000),
        ]);
        let bounded = |max: u64| {
            let mut r = LayerReader::with_policy_bound(max);
            r.feed(&tar).and_then(|()| r.finish())
        };
        // Files of at most 64 bytes are inline in the tree.
        let kept: Vec<usize> = bounded(1000)
            .unwrap()
            .policy
            .iter()
            .map(|(_, d)| d.len())
            .collect();
        assert_eq!(kept, [100, 900]);
        let e = bounded(500).unwrap_err();
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
        let policy = read_layer(&tar[..]).unwrap().policy;
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
        assert!(read_layer(&binary[..]).unwrap().policy.is_empty());
        assert!(is_policy_file(Path::new("/etc/selinux/config")));
        assert!(!is_policy_file(Path::new("/etc/selinux/t/config")));
        assert!(!is_policy_file(Path::new(
            "/etc/selinux/t/contexts/files/../x"
        )));
    }
}
