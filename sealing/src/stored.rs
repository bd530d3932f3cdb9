//! A read layer ([`Layer`]: its composefs entries and policy files) as bytes, so that a build
//! can keep it beside the layer's blob and a rebuild that reuses the layer need not inflate
//! and hash it again. The bytes are a cache from disk: [`decode`] bounds every length by
//! what is left, checks a SHA-256 of the whole before it trusts a byte, and refuses rather
//! than panics.
//!
//! Layout (little-endian): [`MAGIC`], the entry count (u64), the entries, the policy file
//! count (u64), the policy files (fs-verity digest, content), the SHA-256 of everything
//! before it.
//! An entry: path, mode, uid, gid (u32), mtime seconds (i64), nanoseconds (u32), xattr count
//! (u32) and each (name, value), then a tag byte and what that kind holds. Byte strings are
//! a u64 length and the bytes.

use crate::entries::Layer;
use anyhow::{bail, ensure, Context, Result};
use composefs::fsverity::Sha512HashValue;
use composefs::tree::{LeafContent, RegularFile, Stat};
use composefs_oci::tar::{TarEntry, TarItem};
use sha2::{Digest, Sha256};
use std::collections::BTreeMap;
use std::ffi::{OsStr, OsString};
use std::os::unix::ffi::{OsStrExt, OsStringExt};
use std::path::PathBuf;
use zerocopy::IntoBytes;

/// The first bytes; a change of layout changes it.
pub const MAGIC: &[u8] = b"ostree-encap composefs entries 2\n";

const DIRECTORY: u8 = 0;
const HARDLINK: u8 = 1;
const INLINE: u8 = 2;
const EXTERNAL: u8 = 3;
const EXTERNAL_NO_VERITY: u8 = 4;
const SPARSE: u8 = 5;
const BLOCK: u8 = 6;
const CHAR: u8 = 7;
const FIFO: u8 = 8;
const SOCKET: u8 = 9;
const SYMLINK: u8 = 10;

/// The fewest bytes an entry takes (empty path, no xattrs, a directory): counts are checked
/// against what is left before anything is allocated for them.
const MIN_ENTRY: usize = 8 + 4 * 3 + 8 + 4 + 4 + 1;

fn bytes(out: &mut Vec<u8>, b: &[u8]) {
    out.extend_from_slice(&(b.len() as u64).to_le_bytes());
    out.extend_from_slice(b);
}

/// `layer` as bytes.
pub fn encode(layer: &Layer) -> Vec<u8> {
    let mut out = Vec::with_capacity(MAGIC.len() + layer.entries.len() * 160);
    out.extend_from_slice(MAGIC);
    out.extend_from_slice(&(layer.entries.len() as u64).to_le_bytes());
    for e in &layer.entries {
        bytes(&mut out, e.path.as_os_str().as_bytes());
        let st = &e.stat;
        for v in [st.st_mode, st.st_uid, st.st_gid] {
            out.extend_from_slice(&v.to_le_bytes());
        }
        out.extend_from_slice(&st.st_mtim_sec.to_le_bytes());
        out.extend_from_slice(&st.st_mtim_nsec.to_le_bytes());
        out.extend_from_slice(&(st.xattrs.len() as u32).to_le_bytes());
        for (k, v) in &st.xattrs {
            bytes(&mut out, k.as_bytes());
            bytes(&mut out, v);
        }
        let digest = |out: &mut Vec<u8>, tag: u8, id: &Sha512HashValue, size: u64| {
            out.push(tag);
            out.extend_from_slice(id.as_bytes());
            out.extend_from_slice(&size.to_le_bytes());
        };
        match &e.item {
            TarItem::Directory => out.push(DIRECTORY),
            TarItem::Hardlink(target) => {
                out.push(HARDLINK);
                bytes(&mut out, target.as_bytes());
            }
            TarItem::Leaf(leaf) => match leaf {
                LeafContent::Regular(RegularFile::Inline(data)) => {
                    out.push(INLINE);
                    bytes(&mut out, data);
                }
                LeafContent::Regular(RegularFile::External(id, size)) => {
                    digest(&mut out, EXTERNAL, id, *size);
                }
                LeafContent::Regular(RegularFile::ExternalNoVerity(id, size)) => {
                    digest(&mut out, EXTERNAL_NO_VERITY, id, *size);
                }
                LeafContent::Regular(RegularFile::Sparse(size)) => {
                    out.push(SPARSE);
                    out.extend_from_slice(&size.to_le_bytes());
                }
                LeafContent::BlockDevice(dev) => {
                    out.push(BLOCK);
                    out.extend_from_slice(&dev.to_le_bytes());
                }
                LeafContent::CharacterDevice(dev) => {
                    out.push(CHAR);
                    out.extend_from_slice(&dev.to_le_bytes());
                }
                LeafContent::Fifo => out.push(FIFO),
                LeafContent::Socket => out.push(SOCKET),
                LeafContent::Symlink(target) => {
                    out.push(SYMLINK);
                    bytes(&mut out, target.as_bytes());
                }
            },
        }
    }
    out.extend_from_slice(&(layer.policy.len() as u64).to_le_bytes());
    for (digest, data) in &layer.policy {
        out.extend_from_slice(digest.as_bytes());
        bytes(&mut out, data);
    }
    let sum = Sha256::digest(&out);
    out.extend_from_slice(&sum);
    out
}

/// Bytes being read: every take checked against what is left.
struct Input<'a>(&'a [u8]);

impl<'a> Input<'a> {
    fn take(&mut self, n: usize) -> Result<&'a [u8]> {
        ensure!(n <= self.0.len(), "cut short");
        let (a, b) = self.0.split_at(n);
        self.0 = b;
        Ok(a)
    }
    fn array<const N: usize>(&mut self) -> Result<[u8; N]> {
        let mut a = [0u8; N];
        a.copy_from_slice(self.take(N)?);
        Ok(a)
    }
    fn u8(&mut self) -> Result<u8> {
        Ok(self.array::<1>()?[0])
    }
    fn u32(&mut self) -> Result<u32> {
        Ok(u32::from_le_bytes(self.array()?))
    }
    fn u64(&mut self) -> Result<u64> {
        Ok(u64::from_le_bytes(self.array()?))
    }
    fn bytes(&mut self) -> Result<&'a [u8]> {
        let n = usize::try_from(self.u64()?).unwrap_or(usize::MAX);
        self.take(n)
    }
    /// A count of items of at least `min` bytes each, no more than what is left can hold.
    fn count(&mut self, min: usize) -> Result<usize> {
        let n = usize::try_from(self.u64()?).unwrap_or(usize::MAX);
        ensure!(
            n <= self.0.len() / min.max(1),
            "a count of {n} items that the bytes left cannot hold"
        );
        Ok(n)
    }
}

/// The layer [`encode`] made `data` of.
///
/// # Errors
/// Bytes that are not an intact encoding (another version, torn, damaged).
pub fn decode(data: &[u8]) -> Result<Layer> {
    let body_len = data
        .len()
        .checked_sub(32)
        .context("shorter than its checksum")?;
    let (body, sum) = data.split_at(body_len);
    ensure!(
        Sha256::digest(body).as_slice() == sum,
        "its checksum does not match"
    );
    let mut r = Input(body);
    ensure!(r.take(MAGIC.len())? == MAGIC, "not of this version");
    let n = r.count(MIN_ENTRY)?;
    let mut entries = Vec::with_capacity(n);
    for _ in 0..n {
        let path = PathBuf::from(OsString::from_vec(r.bytes()?.to_vec()));
        let (st_mode, st_uid, st_gid) = (r.u32()?, r.u32()?, r.u32()?);
        let st_mtim_sec = i64::from_le_bytes(r.array()?);
        let st_mtim_nsec = r.u32()?;
        let nx = r.u32()? as usize;
        ensure!(nx <= r.0.len() / 16, "{path:?}: more xattrs than bytes");
        let mut xattrs: BTreeMap<Box<OsStr>, Box<[u8]>> = BTreeMap::new();
        for _ in 0..nx {
            let k: Box<OsStr> = Box::from(OsStr::from_bytes(r.bytes()?));
            // As `encode` writes them: in order, each once.
            ensure!(
                xattrs.last_key_value().is_none_or(|(last, _)| *last < k),
                "{path:?}: xattrs out of order"
            );
            xattrs.insert(k, Box::from(r.bytes()?));
        }
        let digest = |r: &mut Input<'_>| -> Result<(Sha512HashValue, u64)> {
            let id = Sha512HashValue::from(r.array::<64>()?);
            Ok((id, r.u64()?))
        };
        let item = match r.u8()? {
            DIRECTORY => TarItem::Directory,
            HARDLINK => TarItem::Hardlink(OsString::from_vec(r.bytes()?.to_vec())),
            INLINE => TarItem::Leaf(LeafContent::Regular(RegularFile::Inline(Box::from(
                r.bytes()?,
            )))),
            EXTERNAL => {
                let (id, size) = digest(&mut r)?;
                TarItem::Leaf(LeafContent::Regular(RegularFile::External(id, size)))
            }
            EXTERNAL_NO_VERITY => {
                let (id, size) = digest(&mut r)?;
                TarItem::Leaf(LeafContent::Regular(RegularFile::ExternalNoVerity(
                    id, size,
                )))
            }
            SPARSE => TarItem::Leaf(LeafContent::Regular(RegularFile::Sparse(r.u64()?))),
            BLOCK => TarItem::Leaf(LeafContent::BlockDevice(r.u64()?)),
            CHAR => TarItem::Leaf(LeafContent::CharacterDevice(r.u64()?)),
            FIFO => TarItem::Leaf(LeafContent::Fifo),
            SOCKET => TarItem::Leaf(LeafContent::Socket),
            SYMLINK => TarItem::Leaf(LeafContent::Symlink(Box::from(OsStr::from_bytes(
                r.bytes()?,
            )))),
            t => bail!("{path:?}: unknown entry kind {t}"),
        };
        entries.push(TarEntry {
            path,
            stat: Stat {
                st_mode,
                st_uid,
                st_gid,
                st_mtim_sec,
                st_mtim_nsec,
                xattrs,
            },
            item,
        });
    }
    let np = r.count(64 + 8)?;
    let mut policy = Vec::with_capacity(np);
    for _ in 0..np {
        let digest = Sha512HashValue::from(r.array::<64>()?);
        policy.push((digest, r.bytes()?.to_vec()));
    }
    ensure!(r.0.is_empty(), "{} bytes after the end", r.0.len());
    Ok(Layer { entries, policy })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn stat(mode: u32, xattrs: &[(&str, &[u8])]) -> Stat {
        Stat {
            st_mode: mode,
            st_uid: 7,
            st_gid: 8,
            st_mtim_sec: -5,
            st_mtim_nsec: 999_999_999,
            xattrs: xattrs
                .iter()
                .map(|(k, v)| (Box::from(OsStr::new(k)), Box::from(*v)))
                .collect(),
        }
    }

    fn every_kind() -> Layer {
        let id = composefs::fsverity::compute_verity::<Sha512HashValue>(b"content");
        let leaf = |l| TarItem::Leaf(l);
        let items = vec![
            ("/d", TarItem::Directory),
            ("/h", TarItem::Hardlink("/f".into())),
            (
                "/i",
                leaf(LeafContent::Regular(RegularFile::Inline(
                    b"tiny"[..].into(),
                ))),
            ),
            (
                "/f",
                leaf(LeafContent::Regular(RegularFile::External(id.clone(), 7))),
            ),
            (
                "/n",
                leaf(LeafContent::Regular(RegularFile::ExternalNoVerity(id, 9))),
            ),
            (
                "/s",
                leaf(LeafContent::Regular(RegularFile::Sparse(1 << 40))),
            ),
            ("/b", leaf(LeafContent::BlockDevice(0x0801))),
            ("/c", leaf(LeafContent::CharacterDevice(0x0103))),
            ("/p", leaf(LeafContent::Fifo)),
            ("/k", leaf(LeafContent::Socket)),
            ("/l", leaf(LeafContent::Symlink(OsStr::new("../x").into()))),
        ];
        Layer {
            entries: items
                .into_iter()
                .enumerate()
                .map(|(i, (p, item))| TarEntry {
                    path: p.into(),
                    stat: stat(0o100644 + i as u32, &[("security.capability", b"\x01\x02")]),
                    item,
                })
                .collect(),
            policy: vec![(
                composefs::fsverity::compute_verity(b"SELINUXTYPE=targeted\n"),
                b"SELINUXTYPE=targeted\n".to_vec(),
            )],
        }
    }

    /// The entries in composefs's own dump form (every field), to compare layers.
    fn shown(l: &Layer) -> Vec<String> {
        l.entries
            .iter()
            .map(|e| format!("{e} {:?} {:?}", e.stat, e.item))
            .chain(l.policy.iter().map(|(p, d)| format!("{p:?} {d:?}")))
            .collect()
    }

    #[test]
    fn every_kind_of_entry_comes_back_as_it_went() {
        let l = every_kind();
        let data = encode(&l);
        assert_eq!(shown(&decode(&data).unwrap()), shown(&l));
        assert!(decode(&encode(&Layer {
            entries: vec![],
            policy: vec![]
        }))
        .unwrap()
        .entries
        .is_empty());
    }

    #[test]
    fn damaged_torn_or_foreign_bytes_are_refused() {
        let data = encode(&every_kind());
        for cut in [0, 10, MAGIC.len(), data.len() / 2, data.len() - 1] {
            assert!(decode(&data[..cut]).is_err(), "cut at {cut}");
        }
        let mut flipped = data.clone();
        flipped[MAGIC.len() + 20] ^= 1;
        let e = decode(&flipped).unwrap_err();
        assert!(format!("{e:#}").contains("checksum"), "{e:#}");
        // Bytes with a good checksum but a count no data can hold: refused, no allocation.
        let mut body = MAGIC.to_vec();
        body.extend_from_slice(&u64::MAX.to_le_bytes());
        let sum = Sha256::digest(&body);
        body.extend_from_slice(&sum);
        let e = decode(&body).unwrap_err();
        assert!(format!("{e:#}").contains("cannot hold"), "{e:#}");
        // Another version's magic.
        let mut other = b"ostree-encap composefs entries 1\n".to_vec();
        other.extend_from_slice(&data[MAGIC.len()..data.len() - 32]);
        let sum = Sha256::digest(&other);
        other.extend_from_slice(&sum);
        let e = decode(&other).unwrap_err();
        assert!(format!("{e:#}").contains("version"), "{e:#}");
    }
}
