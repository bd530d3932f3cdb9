//! Parallel gzip that is still byte-reproducible: one gzip member, one deflate stream, the
//! same bytes for any number of threads.
//!
//! Deflate is ~80% of a single-layer build's CPU (perf, docs/performance.md), and one deflate
//! stream is one core's work. So the input is cut at fixed offsets into [`keys::GZIP_BLOCK`]
//! blocks and each block is compressed on its own, on a worker thread, by libdeflate (pinned
//! through Cargo.lock): at the same level it is faster than zlib and compresses better, which
//! more than pays for blocks not sharing a window. Every block but the last is then made
//! continuable (`deflate_end`), so the blocks concatenate into one valid deflate stream in
//! one gzip member — multi-member gzip is not an option, since single-member readers (such as
//! ostree-ext's) stop after the first member. The cut points depend only on input offsets,
//! never on thread timing or on how callers split their writes, which keeps the output the
//! same for any thread count.
//!
//! The CRC-32 for the trailer is computed in order on the caller's thread (it is ~50x cheaper
//! than deflate). Memory is bounded: at most `2 * threads` blocks are in flight.

use crate::deflate_end;
use crate::keys;
use std::collections::VecDeque;
use std::io::{self, Write};
use std::sync::mpsc::{self, Receiver, SyncSender};
use std::sync::{Arc, Mutex};
use std::thread::JoinHandle;

struct Job {
    input: Vec<u8>,
    last: bool,
    done: SyncSender<io::Result<Vec<u8>>>,
}

/// A gzip writer that deflates blocks on `threads` worker threads.
pub struct ParallelGz<W: Write> {
    sink: Option<W>,
    block: Vec<u8>,
    crc: crc32fast::Hasher,
    total: u64,
    jobs: Option<SyncSender<Job>>,
    pending: VecDeque<Receiver<io::Result<Vec<u8>>>>,
    in_flight: usize,
    workers: Vec<JoinHandle<()>>,
}

impl<W: Write> ParallelGz<W> {
    /// Start a gzip member on `sink` (header written now) with `threads` deflate workers.
    ///
    /// # Errors
    /// Writing the header, or a level out of range.
    pub fn new(mut sink: W, level: i32, threads: usize) -> io::Result<Self> {
        let level = libdeflater::CompressionLvl::new(level)
            .map_err(|_| io::Error::other(format!("gzip level {level} out of range")))?;
        let threads = threads.max(1);
        // RFC 1952 header: no name, mtime 0 (no clock in the output), XFL 0, OS 255 (unknown).
        sink.write_all(&[0x1f, 0x8b, 8, 0, 0, 0, 0, 0, 0, 255])?;
        let (tx, rx) = mpsc::sync_channel::<Job>(threads);
        let rx = Arc::new(Mutex::new(rx));
        let workers = (0..threads)
            .map(|_| {
                let rx = Arc::clone(&rx);
                std::thread::spawn(move || worker(&rx, level))
            })
            .collect();
        Ok(ParallelGz {
            sink: Some(sink),
            block: Vec::with_capacity(keys::GZIP_BLOCK),
            crc: crc32fast::Hasher::new(),
            total: 0,
            jobs: Some(tx),
            pending: VecDeque::new(),
            in_flight: 2 * threads,
            workers,
        })
    }

    fn submit(&mut self, last: bool) -> io::Result<()> {
        let input = std::mem::replace(&mut self.block, Vec::with_capacity(keys::GZIP_BLOCK));
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
        let out = result.recv().map_err(|_| stopped())??;
        self.sink.as_mut().ok_or_else(stopped)?.write_all(&out)
    }

    /// End the deflate stream, write the trailer, and return the sink.
    ///
    /// # Errors
    /// Compression or sink errors.
    pub fn finish(mut self) -> io::Result<W> {
        self.submit(true)?;
        while !self.pending.is_empty() {
            self.drain_one()?;
        }
        let mut sink = self.sink.take().ok_or_else(stopped)?;
        let crc = std::mem::take(&mut self.crc).finalize();
        sink.write_all(&crc.to_le_bytes())?;
        // ISIZE is the input length modulo 2^32 (RFC 1952).
        sink.write_all(&((self.total & 0xffff_ffff) as u32).to_le_bytes())?;
        Ok(sink)
    }
}

impl<W: Write> Write for ParallelGz<W> {
    fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
        let room = keys::GZIP_BLOCK - self.block.len();
        let n = buf.len().min(room);
        self.block.extend_from_slice(&buf[..n]);
        self.crc.update(&buf[..n]);
        self.total += n as u64;
        if self.block.len() == keys::GZIP_BLOCK {
            self.submit(false)?;
        }
        Ok(n)
    }

    /// Blocks are cut at fixed offsets only, so a flush does not force one out; it only
    /// passes down what is already compressed.
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

fn worker(rx: &Mutex<Receiver<Job>>, level: libdeflater::CompressionLvl) {
    let mut z = libdeflater::Compressor::new(level);
    loop {
        let job = match rx.lock() {
            Ok(rx) => rx.recv(),
            Err(_) => return,
        };
        let Ok(job) = job else { return };
        let out = deflate_block(&mut z, &job.input, job.last);
        // The writer may have gone away (dropped on error); nothing to report to then.
        let _ = job.done.send(out);
    }
}

fn deflate_block(z: &mut libdeflater::Compressor, input: &[u8], last: bool) -> io::Result<Vec<u8>> {
    let mut out = vec![0; z.deflate_compress_bound(input.len())];
    let n = z
        .deflate_compress(input, &mut out)
        .map_err(|e| io::Error::other(format!("deflate: {e:?}")))?;
    out.truncate(n);
    if !last {
        deflate_end::unfinalize(&mut out).map_err(io::Error::other)?;
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
            if x % 7 == 0 {
                v.extend_from_slice(b"usr/share/doc/some-package/changelog.Debian.gz ");
            } else {
                v.push(b'a' + (x % 26) as u8);
            }
        }
        v.truncate(len);
        v
    }

    fn gz(data: &[u8], threads: usize, chunk: usize) -> Vec<u8> {
        let mut w = ParallelGz::new(Vec::new(), keys::GZIP_LEVEL, threads).expect("start");
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
    fn round_trips_at_block_edges() {
        let b = keys::GZIP_BLOCK;
        for len in [0, 1, 32 * 1024, b - 1, b, b + 1, 3 * b, 3 * b + 17] {
            let data = sample(len, len as u64 + 3);
            let z = gz(&data, 2, 65536);
            assert_eq!(gunzip(&z), data, "length {len}");
            assert_eq!(&z[z.len() - 4..], &(len as u32).to_le_bytes());
        }
    }

    #[test]
    fn same_bytes_for_any_threads_and_write_sizes() {
        let data = sample(5 * keys::GZIP_BLOCK + 12345, 42);
        let reference = gz(&data, 1, 1 << 20);
        for (threads, chunk) in [(2, 4096), (3, 1), (8, 777_777), (1, 10_000_000)] {
            if chunk == 1 {
                // Byte-at-a-time over a short prefix keeps the test quick.
                let short = &data[..keys::GZIP_BLOCK + 5000];
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
        let data: Vec<u8> = (0..2 * keys::GZIP_BLOCK + 99)
            .map(|_| {
                x ^= x << 13;
                x ^= x >> 7;
                x ^= x << 17;
                x as u8
            })
            .collect();
        assert_eq!(gunzip(&gz(&data, 2, 100_000)), data);
    }

    #[test]
    fn blocks_compress_no_worse_than_one_zlib_stream() {
        let data = sample(4 * keys::GZIP_BLOCK, 7);
        let mut one = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::new(6));
        one.write_all(&data).expect("write");
        let one = one.finish().expect("finish");
        let ours = gz(&data, 2, 1 << 16);
        assert!(
            ours.len() <= one.len(),
            "parallel {} vs serial {}",
            ours.len(),
            one.len()
        );
    }
}
