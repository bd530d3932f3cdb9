//! Parallel gzip that is still byte-reproducible: one gzip member, one deflate stream, the
//! same bytes for any number of threads.
//!
//! Deflate is ~80% of a single-layer build's CPU (perf, docs/performance.md), and one deflate
//! stream is one core's work. So the input is cut into blocks and each block is compressed on
//! its own, on a worker thread, by libdeflate (pinned through Cargo.lock): at the same level it
//! is faster than zlib and compresses better, which more than pays for blocks not sharing a
//! window. Every block but the last is then made continuable (`deflate_end`), so the blocks
//! concatenate into one valid deflate stream in one gzip member — multi-member gzip is not an
//! option, since single-member readers (such as ostree-ext's) stop after the first member.
//!
//! Cut points are content-defined (a gear hash, [`tuning::GZIP_BLOCK_MIN`]): they depend only
//! on the bytes, never on thread timing or on how callers split their writes, which keeps the
//! output the same for any thread count; and since a block's compressed bytes depend only on
//! the block, an unchanged stretch of a changed layer gives the same blocks as last time, whose
//! bytes are taken from the old blob when a [`ReuseSource`] offers them (`blocks`).
//!
//! Each block's CRC-32 is computed by its worker and combined in order for the trailer. Memory
//! is bounded: at most [`tuning::GZIP_IN_FLIGHT`] blocks per thread are in flight.

use crate::blocks::{BlockEntry, ReuseSource, GZIP_HEADER_LEN};
use crate::deflate_end;
use crate::tuning;
use std::collections::VecDeque;
use std::io::{self, Write};
use std::sync::mpsc::{self, Receiver, SyncSender};
use std::sync::{Arc, Mutex};
use std::thread::JoinHandle;

/// Gear hash table: 256 fixed pseudo-random words (splitmix64 from a fixed seed). Part of the
/// output format: changing it moves every cut point.
const GEAR: [u64; 256] = {
    let mut t = [0u64; 256];
    let mut s: u64 = 0x6f73_7472_6565_2d65;
    let mut i = 0;
    while i < 256 {
        s = s.wrapping_add(0x9e37_79b9_7f4a_7c15);
        let mut z = s;
        z = (z ^ (z >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
        t[i] = z ^ (z >> 31);
        i += 1;
    }
    t
};
/// A cut follows a byte after which the gear hash has its top bits clear.
const CUT_MASK: u64 = !(u64::MAX >> tuning::GZIP_BLOCK_BITS);
/// The gear hash only remembers the last 64 bytes, so hashing starts that far before the
/// first allowed cut and the bytes before are skipped.
const HASH_FROM: usize = tuning::GZIP_BLOCK_MIN - 64;

/// The first cut in `buf[from..]` (the length of the block's piece up to and including the
/// byte after which the hash has its top bits clear), hashing on from `h`; and the hash
/// after the cut, or after the last byte if there is none.
///
/// A gear hash only remembers the last 64 bytes, so the hash at any position can also be
/// had by hashing the 64 bytes before it from zero. Long runs are split into [`LANES`]
/// stretches hashed side by side (each started 64 bytes early): one byte's hash waits for
/// the byte before, and four independent chains run about twice as fast as one
/// (`cargo bench`-free check: `gear_lanes_find_the_same_cuts` compares with the plain loop).
fn first_cut(mut h: u64, buf: &[u8], from: usize) -> (Option<usize>, u64) {
    let step = |h: u64, b: u8| (h << 1).wrapping_add(GEAR[usize::from(b)]);
    let len = buf.len().saturating_sub(from);
    if len < LANES * LANE_MIN {
        for (i, &b) in buf[from..].iter().enumerate() {
            h = step(h, b);
            if h & CUT_MASK == 0 {
                return (Some(from + i + 1), h);
            }
        }
        return (None, h);
    }
    let lane = len / LANES;
    // Lane k covers buf[start[k]..end[k]]; lane 0 continues from `h`, the others start
    // from the 64 bytes before their stretch.
    let start: [usize; LANES] = std::array::from_fn(|k| from + k * lane);
    let end: [usize; LANES] = std::array::from_fn(|k| {
        if k + 1 == LANES {
            buf.len()
        } else {
            from + (k + 1) * lane
        }
    });
    let mut hs = [h; LANES];
    for k in 1..LANES {
        hs[k] = buf[start[k] - 64..start[k]]
            .iter()
            .fold(0u64, |h, &b| step(h, b));
    }
    let mut found: [Option<(usize, u64)>; LANES] = [None; LANES];
    for i in 0..lane {
        for k in 0..LANES {
            if found[k].is_none() {
                let p = start[k] + i;
                hs[k] = step(hs[k], buf[p]);
                if hs[k] & CUT_MASK == 0 {
                    found[k] = Some((p + 1, hs[k]));
                }
            }
        }
        if found[0].is_some() {
            break;
        }
    }
    // The last lane may be longer (the remainder of the division).
    if found[0].is_none() {
        let k = LANES - 1;
        if found[k].is_none() {
            let from = start[k] + lane;
            for (i, &b) in buf[from..end[k]].iter().enumerate() {
                hs[k] = step(hs[k], b);
                if hs[k] & CUT_MASK == 0 {
                    found[k] = Some((from + i + 1, hs[k]));
                    break;
                }
            }
        }
    }
    match found.iter().flatten().next() {
        Some(&(at, h)) => (Some(at), h),
        None => (None, hs[LANES - 1]),
    }
}

/// Independent hash chains in [`first_cut`].
const LANES: usize = 4;
/// Shortest stretch per lane worth the 64 bytes of warm-up each extra lane costs.
const LANE_MIN: usize = 1024;

struct Job {
    input: Vec<u8>,
    last: bool,
    done: SyncSender<io::Result<Done>>,
}

struct Done {
    /// The job's input buffer, unchanged (its length is the block's), handed back for the
    /// next block.
    input: Vec<u8>,
    out: Vec<u8>,
    crc: u32,
    last: bool,
    reused: bool,
}

/// What a finished gzip stream reports besides its sink.
pub struct GzFinished<W> {
    /// The sink, trailer written.
    pub sink: W,
    /// Where each block lies in the output.
    pub blocks: Vec<BlockEntry>,
    /// Input bytes whose compressed bytes were reused, not compressed.
    pub reused_bytes: u64,
}

/// A gzip writer that deflates blocks on `threads` worker threads.
pub struct ParallelGz<W: Write> {
    sink: Option<W>,
    block: Vec<u8>,
    hash: u64,
    crc: crc32fast::Hasher,
    total: u64,
    offset: u64,
    blocks: Vec<BlockEntry>,
    reused_bytes: u64,
    /// Input buffers back from the workers: a block buffer is allocated once, not per block.
    free: Vec<Vec<u8>>,
    jobs: Option<SyncSender<Job>>,
    pending: VecDeque<Receiver<io::Result<Done>>>,
    in_flight: usize,
    workers: Vec<JoinHandle<()>>,
}

impl<W: Write> ParallelGz<W> {
    /// Start a gzip member on `sink` (header written now) with `threads` deflate workers,
    /// taking blocks from `reuse` where it has them.
    ///
    /// # Errors
    /// Writing the header, or a level out of range.
    pub fn new(
        mut sink: W,
        level: i32,
        threads: usize,
        reuse: Option<Arc<ReuseSource>>,
    ) -> io::Result<Self> {
        let level = libdeflater::CompressionLvl::new(level)
            .map_err(|_| io::Error::other(format!("gzip level {level} out of range")))?;
        let threads = threads.max(1);
        // RFC 1952 header: no name, mtime 0 (no clock in the output), XFL 0, OS 255 (unknown).
        sink.write_all(&[0x1f, 0x8b, 8, 0, 0, 0, 0, 0, 0, 255])?;
        let (tx, rx) = mpsc::sync_channel::<Job>(threads);
        let rx = Arc::new(Mutex::new(rx));
        let reuse = reuse.filter(|r| !r.is_empty());
        let workers = (0..threads)
            .map(|_| {
                let rx = Arc::clone(&rx);
                let reuse = reuse.clone();
                std::thread::spawn(move || worker(&rx, level, reuse.as_deref()))
            })
            .collect();
        Ok(ParallelGz {
            sink: Some(sink),
            block: Vec::with_capacity(tuning::GZIP_BLOCK_MAX),
            hash: 0,
            crc: crc32fast::Hasher::new(),
            total: 0,
            offset: GZIP_HEADER_LEN,
            blocks: Vec::new(),
            reused_bytes: 0,
            free: Vec::new(),
            jobs: Some(tx),
            pending: VecDeque::new(),
            in_flight: tuning::GZIP_IN_FLIGHT * threads,
            workers,
        })
    }

    fn submit(&mut self, last: bool) -> io::Result<()> {
        let next = self
            .free
            .pop()
            .unwrap_or_else(|| Vec::with_capacity(tuning::GZIP_BLOCK_MAX));
        let input = std::mem::replace(&mut self.block, next);
        self.hash = 0;
        let (done, result) = mpsc::sync_channel(1);
        let jobs = self.jobs.as_ref().ok_or_else(stopped)?;
        jobs.send(Job { input, last, done })
            .map_err(|_| stopped())?;
        self.pending.push_back(result);
        while self.pending.len() >= self.in_flight {
            self.drain_one()?;
        }
        Ok(())
    }

    fn drain_one(&mut self) -> io::Result<()> {
        let Some(result) = self.pending.pop_front() else {
            return Ok(());
        };
        let done = result.recv().map_err(|_| stopped())??;
        let len = done.input.len();
        self.sink
            .as_mut()
            .ok_or_else(stopped)?
            .write_all(&done.out)?;
        self.crc.combine(&crc32fast::Hasher::new_with_initial_len(
            done.crc, len as u64,
        ));
        let clen = u32::try_from(done.out.len()).map_err(io::Error::other)?;
        self.blocks.push(BlockEntry {
            crc: done.crc,
            len: u32::try_from(len).map_err(io::Error::other)?,
            last: done.last,
            offset: self.offset,
            clen,
        });
        self.offset += u64::from(clen);
        if done.reused {
            self.reused_bytes += len as u64;
        }
        let mut buf = done.input;
        buf.clear();
        self.free.push(buf);
        Ok(())
    }

    /// The length of the next block's piece of `buf`, and whether the block ends there.
    fn cut(&mut self, buf: &[u8]) -> (usize, bool) {
        let have = self.block.len();
        let take = buf.len().min(tuning::GZIP_BLOCK_MAX - have);
        // Bytes before HASH_FROM are not hashed; then they are, without looking for a cut,
        // until the byte that would make the block MIN long: from it on, every byte may end
        // the block. Two plain loops, so the hot one does nothing but hash and test.
        let hash_from = HASH_FROM.saturating_sub(have).min(take);
        let check_from = (tuning::GZIP_BLOCK_MIN - 1).saturating_sub(have).min(take);
        let mut h = self.hash;
        for &b in &buf[hash_from..check_from] {
            h = (h << 1).wrapping_add(GEAR[usize::from(b)]);
        }
        let (cut, h) = first_cut(h, &buf[..take], check_from);
        self.hash = h;
        match cut {
            Some(end) => (end, true),
            None => (take, have + take == tuning::GZIP_BLOCK_MAX),
        }
    }

    /// End the deflate stream, write the trailer, and return the sink with the block list.
    ///
    /// # Errors
    /// Compression or sink errors.
    pub fn finish(mut self) -> io::Result<GzFinished<W>> {
        self.submit(true)?;
        while !self.pending.is_empty() {
            self.drain_one()?;
        }
        let mut sink = self.sink.take().ok_or_else(stopped)?;
        let crc = std::mem::take(&mut self.crc).finalize();
        sink.write_all(&crc.to_le_bytes())?;
        // ISIZE is the input length modulo 2^32 (RFC 1952).
        sink.write_all(&((self.total & 0xffff_ffff) as u32).to_le_bytes())?;
        Ok(GzFinished {
            sink,
            blocks: std::mem::take(&mut self.blocks),
            reused_bytes: self.reused_bytes,
        })
    }
}

impl<W: Write> Write for ParallelGz<W> {
    fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
        let (n, end) = self.cut(buf);
        self.block.extend_from_slice(&buf[..n]);
        self.total += n as u64;
        if end {
            self.submit(false)?;
        }
        Ok(n)
    }

    /// Blocks are cut by content only, so a flush does not force one out; it only passes
    /// down what is already compressed.
    fn flush(&mut self) -> io::Result<()> {
        self.sink.as_mut().ok_or_else(stopped)?.flush()
    }
}

impl<W: Write> Drop for ParallelGz<W> {
    fn drop(&mut self) {
        // Closing the queue ends the workers once they finish what they hold.
        self.jobs = None;
        self.pending.clear();
        for w in self.workers.drain(..) {
            let _ = w.join();
        }
    }
}

fn stopped() -> io::Error {
    io::Error::other("gzip worker stopped")
}

fn worker(
    rx: &Mutex<Receiver<Job>>,
    level: libdeflater::CompressionLvl,
    reuse: Option<&ReuseSource>,
) {
    let mut z = libdeflater::Compressor::new(level);
    let mut inflater = libdeflater::Decompressor::new();
    let mut scratch = Vec::new();
    let mut walker = deflate_end::Walker::default();
    loop {
        let job = match rx.lock() {
            Ok(rx) => rx.recv(),
            Err(_) => return,
        };
        let Ok(job) = job else { return };
        let crc = crc32fast::hash(&job.input);
        let found = reuse.and_then(|r| r.find(crc, &job.input, job.last, &mut inflater));
        let reused = found.is_some();
        let out = match found {
            Some(bytes) => Ok(bytes),
            None => deflate_block(&mut z, &mut scratch, &mut walker, &job.input, job.last),
        };
        let done = out.map(|out| Done {
            input: job.input,
            out,
            crc,
            last: job.last,
            reused,
        });
        // The writer may have gone away (dropped on error); nothing to report to then.
        let _ = job.done.send(done);
    }
}

/// Deflate one block; `scratch` is the worker's output buffer and `walker` its deflate
/// walker, kept between blocks so neither is allocated and filled each time.
fn deflate_block(
    z: &mut libdeflater::Compressor,
    scratch: &mut Vec<u8>,
    walker: &mut deflate_end::Walker,
    input: &[u8],
    last: bool,
) -> io::Result<Vec<u8>> {
    let bound = z.deflate_compress_bound(input.len());
    if scratch.len() < bound {
        scratch.resize(bound, 0);
    }
    let n = z
        .deflate_compress(input, &mut scratch[..bound])
        .map_err(|e| io::Error::other(format!("deflate: {e:?}")))?;
    // Room for the sync-flush end, so `unfinalize` does not reallocate.
    let mut out = Vec::with_capacity(n + 8);
    out.extend_from_slice(&scratch[..n]);
    if !last {
        walker.unfinalize(&mut out).map_err(io::Error::other)?;
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::io::Read;

    /// Text-like data with long-range repeats (so dictionaries matter) and a random tail.
    fn sample(len: usize, seed: u64) -> Vec<u8> {
        let mut x = seed | 1;
        let mut v = Vec::with_capacity(len);
        while v.len() < len {
            x ^= x << 13;
            x ^= x >> 7;
            x ^= x << 17;
            if x.is_multiple_of(7) {
                v.extend_from_slice(b"usr/share/doc/some-package/changelog.Debian.gz ");
            } else {
                v.push(b'a' + (x % 26) as u8);
            }
        }
        v.truncate(len);
        v
    }

    fn gz(data: &[u8], threads: usize, chunk: usize) -> Vec<u8> {
        gz_with(data, threads, chunk, None).sink
    }

    fn gz_with(
        data: &[u8],
        threads: usize,
        chunk: usize,
        reuse: Option<Arc<ReuseSource>>,
    ) -> GzFinished<Vec<u8>> {
        let mut w = ParallelGz::new(Vec::new(), tuning::GZIP_LEVEL, threads, reuse).expect("start");
        for c in data.chunks(chunk.max(1)) {
            w.write_all(c).expect("write");
        }
        if data.is_empty() {
            w.write_all(&[]).expect("write");
        }
        w.finish().expect("finish")
    }

    fn gunzip(data: &[u8]) -> Vec<u8> {
        // A single-member decoder: trailing members would be silently ignored, so a
        // multi-member encoding would fail the equality below.
        let mut out = Vec::new();
        flate2::read::GzDecoder::new(data)
            .read_to_end(&mut out)
            .expect("valid gzip");
        out
    }

    #[test]
    fn gear_lanes_find_the_same_cuts() {
        let plain = |mut h: u64, buf: &[u8], from: usize| {
            for (i, &b) in buf[from..].iter().enumerate() {
                h = (h << 1).wrapping_add(GEAR[usize::from(b)]);
                if h & CUT_MASK == 0 {
                    return (Some(from + i + 1), h);
                }
            }
            (None, h)
        };
        let data = noise(3 << 20, 7);
        let mut seen_cut = (false, false);
        for (len, from, h) in [
            (5000, 0, 0u64),
            (4096, 100, 12345),
            (4095, 0, 1),
            (70_000, 64, 99),
            (300_000, 1000, 0),
            (3 << 20, 0, 42),
        ] {
            for shift in [0, 1, 4097, 100_003] {
                let end = (shift + len).min(data.len());
                let buf = &data[shift..end];
                let from = from.min(buf.len());
                let got = first_cut(h, buf, from);
                assert_eq!(
                    got,
                    plain(h, buf, from),
                    "len {len} from {from} shift {shift}"
                );
                if got.0.is_some() {
                    seen_cut.0 = true;
                } else {
                    seen_cut.1 = true;
                }
            }
        }
        // A long run of one byte value, and both outcomes seen above.
        let zeros = vec![0u8; 100_000];
        assert_eq!(first_cut(5, &zeros, 10), plain(5, &zeros, 10));
        assert!(seen_cut.0 && seen_cut.1, "{seen_cut:?}");
    }

    #[test]
    fn round_trips_at_block_edges() {
        let (lo, b) = (tuning::GZIP_BLOCK_MIN, tuning::GZIP_BLOCK_MAX);
        for len in [0, 1, lo - 1, lo, lo + 1, b - 1, b, b + 1, 3 * b, 3 * b + 17] {
            let data = sample(len, len as u64 + 3);
            let z = gz(&data, 2, 65536);
            assert_eq!(gunzip(&z), data, "length {len}");
            assert_eq!(&z[z.len() - 4..], &(len as u32).to_le_bytes());
        }
    }

    #[test]
    fn same_bytes_for_any_threads_and_write_sizes() {
        let data = sample(5 * tuning::GZIP_BLOCK_MAX + 12345, 42);
        let reference = gz(&data, 1, 1 << 20);
        for (threads, chunk) in [(2, 4096), (3, 1), (8, 777_777), (1, 10_000_000)] {
            if chunk == 1 {
                // Byte-at-a-time over a short prefix keeps the test quick.
                let short = &data[..tuning::GZIP_BLOCK_MAX + 5000];
                assert_eq!(gz(short, threads, 1), gz(short, 1, 1 << 20));
                continue;
            }
            assert_eq!(gz(&data, threads, chunk), reference, "{threads} threads");
        }
    }

    #[test]
    fn incompressible_input_round_trips() {
        // Random bytes make deflate emit stored blocks, larger than the input: the output
        // buffer must grow.
        let mut x = 0x9e37_79b9_7f4a_7c15_u64;
        let data: Vec<u8> = (0..2 * tuning::GZIP_BLOCK_MAX + 99)
            .map(|_| {
                x ^= x << 13;
                x ^= x >> 7;
                x ^= x << 17;
                x as u8
            })
            .collect();
        assert_eq!(gunzip(&gz(&data, 2, 100_000)), data);
    }

    /// Blocks share no window, which libdeflate's better parsing about makes up for: on this
    /// synthetic sample they come within 3% of one zlib -6 stream (on the Debian corpus they
    /// are 3% smaller than ostree-ext's single zlib stream, docs/performance.md).
    #[test]
    fn blocks_compress_about_as_well_as_one_zlib_stream() {
        let data = sample(4 * tuning::GZIP_BLOCK_MAX, 7);
        let mut one = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::new(6));
        one.write_all(&data).expect("write");
        let one = one.finish().expect("finish");
        let ours = gz(&data, 2, 1 << 16);
        assert!(
            ours.len() * 100 <= one.len() * 103,
            "parallel {} vs serial {}",
            ours.len(),
            one.len()
        );
    }

    /// Random bytes: no long repeats, so cut points come from the gear hash, not from a
    /// repeating pattern.
    fn noise(len: usize, seed: u64) -> Vec<u8> {
        let mut x = seed | 1;
        (0..len)
            .map(|_| {
                x ^= x << 13;
                x ^= x >> 7;
                x ^= x << 17;
                (x % 97) as u8
            })
            .collect()
    }

    #[test]
    fn blocks_are_cut_by_content_within_bounds() {
        let data = noise(3 << 20, 5);
        let f = gz_with(&data, 2, 100_003, None);
        let lens: Vec<usize> = f.blocks.iter().map(|b| b.len as usize).collect();
        assert_eq!(lens.iter().sum::<usize>(), data.len());
        assert!(lens.len() > 10, "{} blocks", lens.len());
        for l in &lens[..lens.len() - 1] {
            assert!(
                (tuning::GZIP_BLOCK_MIN..=tuning::GZIP_BLOCK_MAX).contains(l),
                "{l}"
            );
        }
        // Inserting bytes near the start moves only the cut points near it.
        let mut shifted = data[..1000].to_vec();
        shifted.extend_from_slice(b"inserted");
        shifted.extend_from_slice(&data[1000..]);
        let g = gz_with(&shifted, 2, 65536, None);
        let old: std::collections::HashSet<u32> = f.blocks.iter().map(|b| b.crc).collect();
        let same = g.blocks.iter().filter(|b| old.contains(&b.crc)).count();
        assert!(
            same + 3 >= g.blocks.len(),
            "{same} of {} blocks kept",
            g.blocks.len()
        );
    }

    /// A reuse source holding the blocks of `old`'s compressed form.
    fn source_of(old: &GzFinished<Vec<u8>>, dir: &tempfile::TempDir) -> Arc<ReuseSource> {
        offer(&old.sink, &old.blocks, dir, "old.gz")
    }

    fn offer(
        bytes: &[u8],
        entries: &[BlockEntry],
        dir: &tempfile::TempDir,
        name: &str,
    ) -> Arc<ReuseSource> {
        std::fs::write(dir.path().join(name), bytes).expect("write old blob");
        let d = cap_std::fs::Dir::open_ambient_dir(dir.path(), cap_std::ambient_authority())
            .expect("open dir");
        let mut src = ReuseSource::new();
        assert!(src.add(Arc::new(d), name, entries));
        Arc::new(src)
    }

    #[test]
    fn reused_blocks_give_the_same_bytes_as_compressing() {
        let dir = tempfile::tempdir().expect("tempdir");
        let old_data = noise(4 << 20, 9);
        let old = gz_with(&old_data, 2, 1 << 20, None);
        // A change in the middle, and a new tail.
        let mut new_data = old_data.clone();
        new_data[2 << 20..(2 << 20) + 300].fill(1);
        new_data.extend_from_slice(&noise(100_000, 77));
        let fresh = gz_with(&new_data, 2, 1 << 20, None);
        let reused = gz_with(&new_data, 3, 77_777, Some(source_of(&old, &dir)));
        assert_eq!(reused.sink, fresh.sink, "output must not depend on reuse");
        assert_eq!(reused.blocks, fresh.blocks);
        assert_eq!(fresh.reused_bytes, 0);
        // Most of the input was there before; the changed block and the tail were not.
        assert!(reused.reused_bytes > 3 << 20, "{}", reused.reused_bytes);
        assert!(reused.reused_bytes < new_data.len() as u64 - 100_000);
        assert_eq!(gunzip(&reused.sink), new_data);
    }

    #[test]
    fn a_lying_index_changes_nothing() {
        let dir = tempfile::tempdir().expect("tempdir");
        let data = noise(2 << 20, 3);
        let old = gz_with(&data, 2, 1 << 20, None);
        // The old blob's bytes damaged in the middle of its second block: that block fails
        // its check and is compressed again; the others are reused.
        let mut damaged = gz_with(&data, 2, 1 << 20, None);
        let b = damaged.blocks[1];
        damaged.sink[(b.offset + u64::from(b.clen) / 2) as usize] ^= 0x55;
        let src = source_of(&damaged, &dir);
        let again = gz_with(&data, 2, 1 << 20, Some(src));
        assert_eq!(again.sink, old.sink);
        assert_eq!(again.reused_bytes, data.len() as u64 - u64::from(b.len));
        // Entries pointing at the wrong bytes (offsets of another block): nothing reused.
        let mut wrong = old.blocks.clone();
        wrong.rotate_left(1);
        for (w, o) in wrong.iter_mut().zip(&old.blocks) {
            w.crc = o.crc;
            w.len = o.len;
            w.last = o.last;
        }
        let again = gz_with(
            &data,
            2,
            1 << 20,
            Some(offer(&old.sink, &wrong, &dir, "wrong.gz")),
        );
        assert_eq!(again.sink, old.sink);
        assert_eq!(again.reused_bytes, 0);
    }
}
