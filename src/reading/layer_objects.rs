//! Content objects served from an image's layers on request, for `serve`: the server keeps
//! where each verified regular file lies in its layer, not a copy of it.
//!
//! Every layer is read at any offset of its uncompressed stream:
//! - uncompressed layers directly;
//! - our gzip layers with their block index in the layout (`ostree-encap-blocks/`): their
//!   blocks were deflated each on its own, without a shared window (`compress::blocks`), so
//!   a block can be inflated alone. Every block is inflated once before the server listens
//!   and checked against the CRC-32 and length the index gives (the index is a cache, so it
//!   is not trusted);
//! - any other gzip layer (other writers', or ours without a matching index) through
//!   checkpoints (`compress::gzindex`): the layer is inflated once before the server listens
//!   (each gzip member checked against its CRC-32 and length), noting every
//!   [`CHECKPOINT_SPAN`] where a deflate block starts and the 32 KiB before it; the windows
//!   go, deflated, to an unlinked file in the scratch directory. A read inflates from the
//!   checkpoint before it.
//!
//! - zstd layers through blocks made of them at start: a zstd decoder can start only at a
//!   frame's start, and a layer is one frame of up to an 8 MiB window (decoders kept where
//!   they stopped, tried, restarted all the time: a client's path order hops between an
//!   image's 64 layers). So each is decoded once before the server listens (its digest
//!   checked at the end), and every [`REBLOCK_SPAN`] of it is deflated alone (libdeflate
//!   level 1) into an unlinked file in the scratch directory, then read as our gzip
//!   layers' blocks are. That file is a copy, about a third of the layer's uncompressed
//!   size (corpus B: 401.6 MB for 1.10 GB of tar; `serve` says how much).
//!
//! On request, `objects/xx/<rest>.filez` is made from the object's bytes: the content is
//! checked against its checksum again (the blob may have changed on disk since), then
//! libostree makes the archive-mode object (`ostree_raw_file_to_archive_z2_stream`). What is
//! held is bounded: the block map (16 bytes per ~192 KiB block) or the checkpoints (40 bytes
//! per [`CHECKPOINT_SPAN`], their windows on disk), the object map (one entry per regular
//! file), the last [`CACHED_BLOCKS`] inflated blocks or spans and [`CACHED_OBJECT_BYTES`] of
//! made objects.

use anyhow::{bail, Context, Result};
use compress::blocks::BlockEntry;
use compress::gzindex::{self, Checkpoint};
use oci::keys::media;
use oci::ocidir::BlobAt;
use oci::types::Descriptor;
use oci::OciDir;
use ostree::gio;
use ostree::prelude::*;
use ostree_format::checksum::{content_header, variant_of, ContentHasher};
use std::collections::{HashMap, VecDeque};
use std::fs::File;
use std::io::{Read, Write};
use std::os::unix::fs::FileExt;
use std::path::{Path, PathBuf};
use std::sync::{Arc, Condvar, Mutex};
use verify::stream::Located;

/// Objects bigger than this are made into an unlinked file in the scratch directory, not in
/// memory (the corpus holds a 110 MB one).
pub const SPILL_ABOVE: u64 = 8 << 20;

/// Bytes of made `.filez` objects kept for the next clients: making one costs a deflate of
/// its content (libostree's zlib, level 6: a whole pull of the corpus image takes ~3× the
/// time of serving ready-made files), and the clients of an update ask for the same few
/// thousand changed objects (corpus A → B: 2,564 objects, 45 MB as served). Objects over a
/// quarter of this are made each time.
pub const CACHED_OBJECT_BYTES: usize = 64 << 20;

/// Inflated blocks kept for the next requests: objects a client asks for one after another
/// mostly sit in the same block (a block holds ~192 KiB of tar, objects in path order).
pub const CACHED_BLOCKS: usize = 16;

/// Uncompressed bytes between checkpoints of a gzip layer read through them: a request
/// inflates at most this and one deflate block (~0.7 ms at the ~380 MB/s `gzindex`
/// inflates), each checkpoint keeps a 32 KiB window on disk (deflated: ~5% of the layer's
/// uncompressed size), and [`CACHED_BLOCKS`] spans stay in memory. Clients ask in path
/// order, which in other writers' layers (ostree-ext's: checksum order) is no order at all:
/// nearly every request starts at a checkpoint. `bench/serve`, corpus image B from
/// ostree-ext, a whole pull: 1 MiB spans 64.3 s, 256 KiB 39.3 s.
pub const CHECKPOINT_SPAN: u64 = 256 << 10;

/// Uncompressed bytes per block of a zstd layer made into blocks at start: as
/// [`CHECKPOINT_SPAN`], what a request inflates at most, so either way in costs a client
/// about the same.
pub const REBLOCK_SPAN: usize = 256 << 10;

/// A checkpoint of a gzip layer, its window in the windows file.
pub struct Point {
    out: u64,
    bit: u64,
    header: bool,
    window_at: u64,
    /// Its length there (deflated), and inflated.
    window_len: u32,
    window_raw: u32,
}

/// One layer, readable at any offset of its uncompressed stream.
pub enum LayerReader {
    /// An uncompressed tar blob.
    Plain(BlobAt),
    /// Independently deflated blocks: a gzip blob of ours, or a zstd layer's blocks made at
    /// start.
    Blocks {
        /// The blob, or the unlinked scratch file holding the blocks.
        file: File,
        /// Its blocks, in order, with the uncompressed offset each starts at.
        blocks: Vec<(u64, BlockEntry)>,
        /// Whether `file` is a scratch copy (a zstd layer's).
        copy: bool,
    },
    /// A gzip blob of one deflate stream, read from checkpoints.
    Checkpoints {
        /// The blob (maybe inside an oci-archive).
        file: At,
        /// Checkpoints by uncompressed offset, the first at 0.
        points: Vec<Point>,
        /// Their windows (an unlinked file).
        windows: File,
        /// The uncompressed length.
        total: u64,
    },
}

impl LayerReader {
    /// Random access to layer `desc` of `oci`, if its kind allows it: through its block
    /// index if that checks out block by block, else (gzip) through checkpoints made now,
    /// their windows in an unlinked file under `scratch`; zstd through blocks made now, in
    /// an unlinked file there. `None`: it must be imported (a stream that does not decode,
    /// an unknown media type).
    pub fn open(oci: &OciDir, desc: &Descriptor, scratch: &Path) -> Option<LayerReader> {
        let at = oci.blob_at(desc).ok()?;
        match desc.media_type.as_str() {
            media::LAYER_TAR => Some(LayerReader::Plain(at)),
            // Block indexes are kept for blobs in the layout's own files only.
            media::LAYER_GZIP if at.base == 0 => match Self::indexed(oci, desc, &at.file) {
                Some(blocks) => Some(LayerReader::Blocks {
                    file: at.file,
                    blocks,
                    copy: false,
                }),
                None => Self::checkpoints(At(at), scratch).ok(),
            },
            media::LAYER_GZIP | media::DOCKER_LAYER_GZIP => Self::checkpoints(At(at), scratch).ok(),
            media::LAYER_ZSTD => Self::reblocked(oci, desc, scratch).ok(),
            _ => None,
        }
    }

    /// Decode zstd layer `desc` once, deflating every [`REBLOCK_SPAN`] of it alone into an
    /// unlinked file under `scratch`; an error if the blob does not decode or match its
    /// digest (checked at its end).
    fn reblocked(oci: &OciDir, desc: &Descriptor, scratch: &Path) -> std::io::Result<LayerReader> {
        let blob = oci.open_blob(desc).map_err(std::io::Error::other)?;
        let mut decoder = compress::decoder(Some("zstd"), std::io::BufReader::new(blob))?;
        let mut file = std::io::BufWriter::new(tempfile::tempfile_in(scratch)?);
        let level =
            libdeflater::CompressionLvl::new(1).map_err(|_| std::io::Error::other("level"))?;
        let mut deflater = libdeflater::Compressor::new(level);
        let mut span = Vec::with_capacity(REBLOCK_SPAN);
        let mut packed = vec![0u8; deflater.deflate_compress_bound(REBLOCK_SPAN)];
        let mut blocks = Vec::new();
        let (mut start, mut offset) = (0u64, 0u64);
        loop {
            span.clear();
            let n = (&mut decoder)
                .take(REBLOCK_SPAN as u64)
                .read_to_end(&mut span)?;
            if n == 0 {
                break;
            }
            let clen = deflater
                .deflate_compress(&span[..n], &mut packed)
                .map_err(std::io::Error::other)?;
            file.write_all(&packed[..clen])?;
            blocks.push((
                start,
                BlockEntry {
                    crc: crc32fast::hash(&span[..n]),
                    len: n as u32,
                    last: true,
                    offset,
                    clen: clen as u32,
                },
            ));
            start += n as u64;
            offset += clen as u64;
        }
        let file = file.into_inner().map_err(|e| e.into_error())?;
        Ok(LayerReader::Blocks {
            file,
            blocks,
            copy: true,
        })
    }

    /// The blocks of our gzip layer `desc` if its block index is there and every block
    /// inflates alone to the length and CRC-32 it says.
    fn indexed(oci: &OciDir, desc: &Descriptor, file: &File) -> Option<Vec<(u64, BlockEntry)>> {
        let text = oci.read_block_index(desc)?;
        let entries = compress::blocks::parse(
            &text,
            &compress::Compression::Gzip.settings(),
            desc.digest.as_str(),
            desc.size,
        )?;
        let mut start = 0u64;
        let mut blocks = Vec::with_capacity(entries.len());
        let mut inflater = libdeflater::Decompressor::new();
        for e in entries {
            inflate_checked(file, &e, blocks.len(), &mut inflater).ok()?;
            blocks.push((start, e));
            start += u64::from(e.len);
        }
        Some(blocks)
    }

    /// Inflate gzip blob `file` once, keeping a checkpoint every [`CHECKPOINT_SPAN`].
    fn checkpoints(file: At, scratch: &Path) -> std::io::Result<LayerReader> {
        let mut windows = std::io::BufWriter::new(tempfile::tempfile_in(scratch)?);
        let mut points = Vec::new();
        let mut at = 0u64;
        // Windows are deflated (libdeflate level 1; its `fastest` is 0, which stores): the
        // corpus image's shrink from 119 to 47 MB, for ~30 µs of inflating per read.
        let level =
            libdeflater::CompressionLvl::new(1).map_err(|_| std::io::Error::other("level"))?;
        let mut deflater = libdeflater::Compressor::new(level);
        let mut packed = Vec::new();
        let total = gzindex::checkpoints(&file, CHECKPOINT_SPAN, |cp| {
            packed.resize(deflater.deflate_compress_bound(cp.window.len()), 0);
            let n = deflater
                .deflate_compress(&cp.window, &mut packed)
                .map_err(std::io::Error::other)?;
            windows.write_all(&packed[..n])?;
            points.push(Point {
                out: cp.out,
                bit: cp.bit,
                header: cp.header,
                window_at: at,
                window_len: n as u32,
                window_raw: cp.window.len() as u32,
            });
            at += n as u64;
            Ok(())
        })?;
        let windows = windows.into_inner().map_err(|e| e.into_error())?;
        Ok(LayerReader::Checkpoints {
            file,
            points,
            windows,
            total,
        })
    }

    /// The span (block, or stretch between checkpoints) holding uncompressed offset `pos`:
    /// its number, start and length.
    fn span_at(&self, pos: u64) -> Option<(usize, u64, u64)> {
        match self {
            LayerReader::Plain(_) => None,
            LayerReader::Blocks { blocks, .. } => {
                let k = blocks
                    .partition_point(|(start, _)| *start <= pos)
                    .checked_sub(1)?;
                let (start, e) = blocks.get(k)?;
                Some((k, *start, u64::from(e.len)))
            }
            LayerReader::Checkpoints { points, total, .. } => {
                let k = points.partition_point(|p| p.out <= pos).checked_sub(1)?;
                let start = points.get(k)?.out;
                let end = points.get(k + 1).map_or(*total, |p| p.out);
                Some((k, start, end - start))
            }
        }
    }

    /// Span `k`'s uncompressed bytes: a block checked against the index, or inflated from a
    /// checkpoint.
    fn span(&self, k: usize) -> std::io::Result<Vec<u8>> {
        match self {
            LayerReader::Plain(_) => Err(std::io::ErrorKind::Unsupported.into()),
            LayerReader::Blocks { file, blocks, .. } => {
                let (_, e) = blocks
                    .get(k)
                    .ok_or_else(|| std::io::Error::other("no such block"))?;
                inflate_checked(file, e, k, &mut libdeflater::Decompressor::new())
            }
            LayerReader::Checkpoints {
                file,
                points,
                windows,
                total,
            } => {
                let p = points
                    .get(k)
                    .ok_or_else(|| std::io::Error::other("no such checkpoint"))?;
                let end = points.get(k + 1).map_or(*total, |n| n.out);
                let mut packed = vec![0u8; p.window_len as usize];
                windows.read_exact_at(&mut packed, p.window_at)?;
                let mut window = vec![0u8; p.window_raw as usize];
                let n = libdeflater::Decompressor::new()
                    .deflate_decompress(&packed, &mut window)
                    .map_err(std::io::Error::other)?;
                if n != window.len() {
                    return Err(std::io::Error::other("a checkpoint's window is damaged"));
                }
                let cp = Checkpoint {
                    out: p.out,
                    bit: p.bit,
                    header: p.header,
                    window,
                };
                let len = usize::try_from(end - p.out).map_err(std::io::Error::other)?;
                let mut out = Vec::with_capacity(len);
                gzindex::read_from(file, &cp, len, &mut out)?;
                Ok(out)
            }
        }
    }
}

/// A blob, as the checkpoints read it.
pub struct At(BlobAt);

impl gzindex::ReadAt for At {
    fn read_at(&self, buf: &mut [u8], offset: u64) -> std::io::Result<usize> {
        self.0.read_at(buf, offset)
    }
}

/// Block `k` (`e`) of an indexed gzip blob, inflated alone and checked against the index.
fn inflate_checked(
    file: &File,
    e: &BlockEntry,
    k: usize,
    inflater: &mut libdeflater::Decompressor,
) -> std::io::Result<Vec<u8>> {
    let mut out = vec![0u8; e.len as usize];
    let inflated = compress::blocks::inflate_block(file, e, &mut out, inflater);
    if inflated.is_none() || crc32fast::hash(&out) != e.crc {
        return Err(std::io::Error::other(format!(
            "block {k} at byte {} does not inflate to what the block index says",
            e.offset
        )));
    }
    Ok(out)
}

/// Bytes shared between the cache and the requests using them.
type Shared = Arc<Vec<u8>>;

/// Inflated blocks, most recent last: (layer, block number) and their bytes.
#[derive(Default)]
struct BlockCache(Mutex<VecDeque<((usize, usize), Shared)>>);

impl BlockCache {
    fn get(&self, layer: usize, k: usize, reader: &LayerReader) -> std::io::Result<Arc<Vec<u8>>> {
        let key = (layer, k);
        if let Ok(mut c) = self.0.lock() {
            if let Some(i) = c.iter().position(|(x, _)| *x == key) {
                if let Some(hit) = c.remove(i) {
                    let b = hit.1.clone();
                    c.push_back(hit);
                    return Ok(b);
                }
            }
        }
        let b = Arc::new(reader.span(k)?);
        if let Ok(mut c) = self.0.lock() {
            c.push_back((key, b.clone()));
            while c.len() > CACHED_BLOCKS {
                c.pop_front();
            }
        }
        Ok(b)
    }
}

/// `len` bytes at `offset` of one layer's uncompressed stream, read as they are asked for
/// (blocks through the shared cache), and hashed into the object's content checksum on the
/// way: what libostree's archive writer reads.
struct LayerRange {
    reader: Arc<LayerReader>,
    layer: usize,
    cache: Arc<BlockCache>,
    pos: u64,
    end: u64,
    hasher: Arc<Mutex<ContentHasher>>,
}

impl Read for LayerRange {
    fn read(&mut self, buf: &mut [u8]) -> std::io::Result<usize> {
        let want = usize::try_from(self.end - self.pos)
            .unwrap_or(usize::MAX)
            .min(buf.len());
        if want == 0 {
            return Ok(0);
        }
        let n = match self.reader.as_ref() {
            LayerReader::Plain(at) => at.read_at(&mut buf[..want], self.pos)?,
            _ => {
                let (k, start, len) = self
                    .reader
                    .span_at(self.pos)
                    .ok_or_else(|| std::io::Error::other("past the layer's end"))?;
                let data = self.cache.get(self.layer, k, &self.reader)?;
                let from = self.pos - start;
                let n = want.min(usize::try_from(len.saturating_sub(from)).unwrap_or(usize::MAX));
                let from = usize::try_from(from).map_err(std::io::Error::other)?;
                let bytes = data
                    .get(from..from + n)
                    .filter(|_| n > 0)
                    .ok_or_else(|| std::io::Error::other("past the layer's end"))?;
                buf[..n].copy_from_slice(bytes);
                n
            }
        };
        if n == 0 {
            return Err(std::io::ErrorKind::UnexpectedEof.into());
        }
        if let Ok(mut h) = self.hasher.lock() {
            h.update(&buf[..n]);
        }
        self.pos += n as u64;
        Ok(n)
    }
}

/// A made object: in memory, or (big ones) in an unlinked file.
pub use repo_server::Made;

/// What [`LayerObjects`] keeps in unlinked scratch files.
#[derive(Debug, Default, Clone, Copy, PartialEq, Eq)]
pub struct ScratchBytes {
    /// gzip checkpoints' windows (deflated).
    pub windows: u64,
    /// zstd layers' blocks (deflated).
    pub blocks: u64,
}

/// The layers' readers and where each located object is; serves `.filez` objects.
#[derive(Default)]
pub struct LayerObjects {
    layers: Vec<Option<Arc<LayerReader>>>,
    located: HashMap<String, Located>,
    blocks: Arc<BlockCache>,
    /// Made objects, most recent last, and their total bytes.
    made: Mutex<(VecDeque<(String, Shared)>, usize)>,
    /// Objects being made now, against [`LayerObjects::permits`].
    busy: Mutex<usize>,
    freed: Condvar,
    /// Where big objects are made (unlinked files); `$TMPDIR` when not set.
    spill: Option<PathBuf>,
}

impl LayerObjects {
    /// Objects in `located`, read through `layers` (by layer index).
    pub fn new(layers: Vec<Option<LayerReader>>, located: HashMap<String, Located>) -> Self {
        LayerObjects {
            layers: layers.into_iter().map(|l| l.map(Arc::new)).collect(),
            located,
            ..Default::default()
        }
    }

    /// Make big objects in files under `dir` (the server's scratch directory).
    pub fn spill_to(&mut self, dir: &Path) {
        self.spill = Some(dir.to_path_buf());
    }

    /// Take `other`'s layers and objects too (another image's; an object both have is
    /// served from this one's layers).
    pub fn absorb(&mut self, other: LayerObjects) {
        let shift = self.layers.len();
        self.layers.extend(other.layers);
        for (c, mut loc) in other.located {
            loc.layer += shift;
            self.located.entry(c).or_insert(loc);
        }
    }

    /// Bytes kept in unlinked files of the scratch directory: gzip checkpoints' windows,
    /// and zstd layers' blocks.
    pub fn scratch_bytes(&self) -> ScratchBytes {
        let mut kept = ScratchBytes::default();
        for l in self.layers.iter().flatten() {
            match l.as_ref() {
                LayerReader::Checkpoints { points, .. } => {
                    kept.windows += points.iter().map(|p| u64::from(p.window_len)).sum::<u64>();
                }
                LayerReader::Blocks {
                    blocks, copy: true, ..
                } => {
                    kept.blocks += blocks.iter().map(|(_, e)| u64::from(e.clen)).sum::<u64>();
                }
                _ => {}
            }
        }
        kept
    }

    /// How many objects are served from layers.
    pub fn len(&self) -> usize {
        self.located.len()
    }

    /// Whether none are.
    pub fn is_empty(&self) -> bool {
        self.located.is_empty()
    }

    /// The archive-mode object for request path `objects/xx/<rest>.filez`; `None` when the
    /// path names no object served from layers.
    pub fn filez(&self, rel: &str) -> Option<Result<Made>> {
        let rest = rel.strip_prefix("objects/")?;
        let (dir, file) = rest.split_once('/')?;
        let stem = file.strip_suffix(".filez")?;
        let checksum = format!("{dir}{stem}");
        let loc = self.located.get(&checksum)?;
        if let Some(hit) = self.made_before(&checksum) {
            return Some(Ok(Made::Bytes(hit.as_ref().clone())));
        }
        let made = self
            .with_permit(|| self.make_filez(&checksum, loc))
            .with_context(|| format!("object {checksum} (layer {})", loc.layer));
        if let Ok(Made::Bytes(bytes)) = &made {
            self.keep_made(checksum, bytes);
        }
        Some(made)
    }

    /// Run `f` once fewer than one object per core is being made: making is CPU work, and
    /// each one in flight holds its object (up to [`SPILL_ABOVE`]) twice in memory.
    fn with_permit<T>(&self, f: impl FnOnce() -> T) -> T {
        let permits = std::thread::available_parallelism().map_or(1, usize::from);
        if let Ok(mut busy) = self.busy.lock() {
            while *busy >= permits {
                busy = match self.freed.wait(busy) {
                    Ok(b) => b,
                    Err(_) => return f(),
                };
            }
            *busy += 1;
        }
        let out = f();
        if let Ok(mut busy) = self.busy.lock() {
            *busy = busy.saturating_sub(1);
        }
        self.freed.notify_one();
        out
    }

    fn made_before(&self, checksum: &str) -> Option<Arc<Vec<u8>>> {
        let mut m = self.made.lock().ok()?;
        let i = m.0.iter().position(|(c, _)| c == checksum)?;
        let hit = m.0.remove(i)?;
        let bytes = hit.1.clone();
        m.0.push_back(hit);
        Some(bytes)
    }

    fn keep_made(&self, checksum: String, bytes: &[u8]) {
        if bytes.len() > CACHED_OBJECT_BYTES / 4 {
            return;
        }
        let Ok(mut m) = self.made.lock() else {
            return;
        };
        m.1 += bytes.len();
        m.0.push_back((checksum, Arc::new(bytes.to_vec())));
        while m.1 > CACHED_OBJECT_BYTES {
            match m.0.pop_front() {
                Some((_, b)) => m.1 -= b.len(),
                None => break,
            }
        }
    }

    fn make_filez(&self, checksum: &str, loc: &Located) -> Result<Made> {
        let reader = self
            .layers
            .get(loc.layer)
            .and_then(Option::as_ref)
            .with_context(|| format!("layer {} cannot be read at an offset", loc.layer))?;
        let header = content_header(loc.uid, loc.gid, loc.mode, "", &loc.xattrs);
        let hasher = Arc::new(Mutex::new(ContentHasher::new(&header)));
        let range = LayerRange {
            reader: reader.clone(),
            layer: loc.layer,
            cache: self.blocks.clone(),
            pos: loc.offset,
            end: loc.offset + loc.size,
            hasher: hasher.clone(),
        };
        let info = gio::FileInfo::new();
        info.set_file_type(gio::FileType::Regular);
        info.set_size(i64::try_from(loc.size).context("object size")?);
        info.set_attribute_uint32("unix::uid", loc.uid);
        info.set_attribute_uint32("unix::gid", loc.gid);
        info.set_attribute_uint32("unix::mode", loc.mode);
        let input = gio::ReadInputStream::new(range);
        let xattrs = variant_of(&loc.xattrs, "a(ayay)");
        let out = ostree::raw_file_to_archive_z2_stream(
            &input,
            &info,
            Some(&xattrs),
            gio::Cancellable::NONE,
        )
        .map_err(|e| anyhow::anyhow!("making the archive object: {}", e.message()))?;
        let mut made = out.into_read();
        let result = if loc.size > SPILL_ABOVE {
            let dir = self.spill.clone().unwrap_or_else(std::env::temp_dir);
            let mut f = tempfile::tempfile_in(&dir)
                .with_context(|| format!("a file in {}", dir.display()))?;
            std::io::copy(&mut made, &mut f).context("making the archive object")?;
            Made::File(f)
        } else {
            let mut bytes = Vec::new();
            made.read_to_end(&mut bytes)
                .context("making the archive object")?;
            Made::Bytes(bytes)
        };
        // Everything read: the checksum of what went in decides whether it goes out.
        let actual = hasher
            .lock()
            .map_err(|_| anyhow::anyhow!("hashing failed"))?
            .clone()
            .finish();
        if actual != checksum {
            bail!("its bytes in the layer hash to {actual}: the blob changed since the start");
        }
        Ok(result)
    }
}

impl repo_server::Generated for LayerObjects {
    fn get(&self, rel: &str) -> Option<Result<Made, String>> {
        self.filez(rel).map(|r| r.map_err(|e| format!("{e:#}")))
    }
}
