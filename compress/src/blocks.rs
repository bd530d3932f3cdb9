//! Reuse of compressed gzip blocks from earlier blobs, so a rebuild compresses only what is new.
//!
//! The parallel gzip writer (`pgz`) cuts a layer into content-defined blocks and deflates each
//! on its own, without a shared window, so a block's compressed bytes depend on nothing but its
//! own input (and whether it ends the stream). When a security update changes a few files of a
//! big package, the layer holding that package changes, yet most of its blocks are the same as
//! in the last build. For every gzip blob it writes, the layout keeps a small index
//! (the layout's `ostree-encap-blocks` directory) of where each block lies in the blob; a later build looks a block
//! up by CRC-32 and length and copies the old compressed bytes instead of deflating again.
//!
//! The index is only a hint, never trusted: a candidate block is read from the old blob,
//! inflated and compared byte for byte with the new input before its bytes are used, so a
//! stale, damaged or forged index can cost time but never change the output. The index also
//! names the compression settings, and is ignored unless they are today's, so that reused
//! bytes are exactly the ones this build would have made: the output stays the same whether
//! or not anything was reused.

use crate::tuning;
use std::collections::HashMap;
use std::fmt::Write as _;
use std::os::unix::fs::FileExt;
use std::sync::{Arc, OnceLock};

/// Where one block of a gzip blob lies.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct BlockEntry {
    /// CRC-32 of the block's input.
    pub crc: u32,
    /// Input length.
    pub len: u32,
    /// Whether it is the stream's last block (then it ends with a final deflate block, not a
    /// sync-flush marker, so it is not interchangeable with an inner block).
    pub last: bool,
    /// Offset of its compressed bytes in the blob.
    pub offset: u64,
    /// Length of its compressed bytes.
    pub clen: u32,
}

const MAGIC: &str = "ostree-encap gzip block index v1";

/// The index file for a blob: header with settings and blob digest, then one line per block.
pub fn serialize(settings: &str, digest: &str, entries: &[BlockEntry]) -> String {
    let mut s = format!("{MAGIC}\nsettings {settings}\nblob {digest}\n");
    for e in entries {
        let _ = writeln!(
            s,
            "{:08x} {} {} {} {}",
            e.crc,
            e.len,
            u8::from(e.last),
            e.offset,
            e.clen
        );
    }
    let _ = writeln!(s, "end {}", entries.len());
    s
}

/// Parse an index file; `None` unless it is complete, for `settings` and `digest`, and
/// describes a blob of `blob_size` bytes with no gaps (header, blocks back to back, trailer).
pub fn parse(text: &str, settings: &str, digest: &str, blob_size: u64) -> Option<Vec<BlockEntry>> {
    let mut lines = text.lines();
    if lines.next()? != MAGIC
        || lines.next()?.strip_prefix("settings ")? != settings
        || lines.next()?.strip_prefix("blob ")? != digest
    {
        return None;
    }
    let mut entries: Vec<BlockEntry> = Vec::new();
    let mut next_offset = GZIP_HEADER_LEN;
    for line in lines.by_ref() {
        if let Some(n) = line.strip_prefix("end ") {
            let last = entries.last().copied()?;
            let ok = n.parse::<usize>().ok()? == entries.len()
                && last.last
                && next_offset + GZIP_TRAILER_LEN == blob_size
                && lines.next().is_none();
            return ok.then_some(entries);
        }
        let mut f = line.split(' ');
        let e = BlockEntry {
            crc: u32::from_str_radix(f.next()?, 16).ok()?,
            len: f.next()?.parse().ok()?,
            last: match f.next()? {
                "0" => false,
                "1" => true,
                _ => return None,
            },
            offset: f.next()?.parse().ok()?,
            clen: f.next()?.parse().ok()?,
        };
        if f.next().is_some() || e.offset != next_offset || entries.last().is_some_and(|p| p.last) {
            return None;
        }
        next_offset += u64::from(e.clen);
        entries.push(e);
    }
    None
}

/// RFC 1952 member header as `pgz` writes it.
pub(crate) const GZIP_HEADER_LEN: u64 = 10;
/// CRC-32 and ISIZE.
pub(crate) const GZIP_TRAILER_LEN: u64 = 8;

/// A block's lookup key: CRC-32 and length of its input, and whether it ends a stream.
type BlockKey = (u32, u32, bool);
/// Where a block's compressed bytes are: blob number, offset, length.
type BlockPlace = (usize, u64, u32);

/// An earlier blob, opened on first use: a layout can hold many images, and most of their
/// blobs will have no block worth reusing.
struct Blob {
    dir: Arc<cap_std::fs::Dir>,
    name: String,
    file: OnceLock<Option<std::fs::File>>,
}

impl Blob {
    fn file(&self) -> Option<&std::fs::File> {
        self.file
            .get_or_init(|| self.dir.open(&self.name).ok().map(|f| f.into_std()))
            .as_ref()
    }
}

/// Blocks of earlier blobs, by `BlockKey`.
#[derive(Default)]
pub struct ReuseSource {
    blobs: Vec<Blob>,
    by_key: HashMap<BlockKey, Vec<BlockPlace>>,
    blocks: usize,
}

impl ReuseSource {
    /// An empty source: nothing is reused.
    pub fn new() -> Self {
        Self::default()
    }

    /// Offer the blocks of the gzip blob `name` in `dir`, described by `entries`. Returns
    /// false, offering nothing, once [`tuning::BLOCK_REUSE_MAX_BLOCKS`] are on offer.
    pub fn add(&mut self, dir: Arc<cap_std::fs::Dir>, name: &str, entries: &[BlockEntry]) -> bool {
        if self.blocks + entries.len() > tuning::BLOCK_REUSE_MAX_BLOCKS {
            return false;
        }
        self.blocks += entries.len();
        let i = self.blobs.len();
        self.blobs.push(Blob {
            dir,
            name: name.to_string(),
            file: OnceLock::new(),
        });
        for e in entries {
            self.by_key
                .entry((e.crc, e.len, e.last))
                .or_default()
                .push((i, e.offset, e.clen));
        }
        true
    }

    /// How many blocks are on offer.
    pub fn len(&self) -> usize {
        self.blocks
    }

    /// Whether nothing is on offer.
    pub fn is_empty(&self) -> bool {
        self.by_key.is_empty()
    }

    /// Compressed bytes of an earlier block whose input is exactly `input` (checked by
    /// inflating them), or `None`.
    pub(crate) fn find(
        &self,
        crc: u32,
        input: &[u8],
        last: bool,
        inflater: &mut libdeflater::Decompressor,
    ) -> Option<Vec<u8>> {
        let len = u32::try_from(input.len()).ok()?;
        let candidates = self.by_key.get(&(crc, len, last))?;
        let mut scratch = vec![0u8; input.len()];
        for &(blob, offset, clen) in candidates.iter().take(tuning::BLOCK_REUSE_TRIES) {
            let Some(file) = self.blobs[blob].file() else {
                continue;
            };
            let place = BlockEntry {
                crc,
                len,
                last,
                offset,
                clen,
            };
            match inflate_block(file, &place, &mut scratch, inflater) {
                Some(bytes) if scratch == input => return Some(bytes),
                _ => {}
            }
        }
        None
    }
}

/// Inflate block `e` of the gzip blob `file` alone into `out` (`e.len` bytes long); returns
/// its compressed bytes, or `None` unless they inflate to exactly `out.len()` bytes. Blocks
/// share no window, so any one can be read without those before it.
pub fn inflate_block(
    file: &std::fs::File,
    e: &BlockEntry,
    out: &mut [u8],
    inflater: &mut libdeflater::Decompressor,
) -> Option<Vec<u8>> {
    let clen = e.clen as usize;
    let mut bytes = vec![0u8; clen + 2];
    file.read_exact_at(&mut bytes[..clen], e.offset).ok()?;
    // An inner block ends with a sync-flush marker, not a final block; an empty final
    // block (fixed Huffman, BFINAL set: bits 1,10 then end-of-block) completes it.
    let complete = if e.last {
        &bytes[..clen]
    } else {
        bytes[clen] = 0x03;
        &bytes[..]
    };
    match inflater.deflate_decompress(complete, out) {
        Ok(n) if n == out.len() => {
            bytes.truncate(clen);
            Some(bytes)
        }
        _ => None,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn entries() -> Vec<BlockEntry> {
        vec![
            BlockEntry {
                crc: 0xdead_beef,
                len: 40000,
                last: false,
                offset: 10,
                clen: 1000,
            },
            BlockEntry {
                crc: 7,
                len: 5,
                last: true,
                offset: 1010,
                clen: 9,
            },
        ]
    }

    #[test]
    fn index_round_trips_and_rejects_anything_else() {
        let text = serialize("S", "sha256:ab", &entries());
        assert_eq!(parse(&text, "S", "sha256:ab", 1027), Some(entries()));
        // Other settings, another blob, another size, a cut-off file, a gap: all ignored.
        assert_eq!(parse(&text, "T", "sha256:ab", 1027), None);
        assert_eq!(parse(&text, "S", "sha256:cd", 1027), None);
        assert_eq!(parse(&text, "S", "sha256:ab", 1028), None);
        let cut = &text[..text.len() - 6];
        assert_eq!(parse(cut, "S", "sha256:ab", 1027), None);
        let gap = text.replace(" 1010 9", " 1011 8");
        assert_eq!(parse(&gap, "S", "sha256:ab", 1027), None);
        let mut no_last = entries();
        no_last[1].last = false;
        let text = serialize("S", "sha256:ab", &no_last);
        assert_eq!(parse(&text, "S", "sha256:ab", 1027), None);
    }

    #[test]
    fn offers_stop_at_the_limit() {
        let dir = tempfile::tempdir().expect("tempdir");
        let d = Arc::new(
            cap_std::fs::Dir::open_ambient_dir(dir.path(), cap_std::ambient_authority())
                .expect("open"),
        );
        let many: Vec<BlockEntry> = (0..tuning::BLOCK_REUSE_MAX_BLOCKS as u32 - 1)
            .map(|i| BlockEntry {
                crc: i,
                len: 1,
                last: false,
                offset: 10 + u64::from(i),
                clen: 1,
            })
            .collect();
        let mut src = ReuseSource::new();
        assert!(src.add(Arc::clone(&d), "a", &many));
        assert!(!src.add(Arc::clone(&d), "b", &entries()), "over the limit");
        assert!(src.add(Arc::clone(&d), "c", &entries()[..1]));
        assert_eq!(src.len(), tuning::BLOCK_REUSE_MAX_BLOCKS);
        // A blob that cannot be opened offers nothing but fails nothing.
        let mut z = libdeflater::Decompressor::new();
        assert_eq!(src.find(0xdead_beef, &[0; 40000], false, &mut z), None);
    }
}
