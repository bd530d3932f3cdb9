//! Layer compression for ostree-encap, reproducible to the byte: the same input gives the
//! same compressed bytes for any thread count, on every machine (libdeflate and zstd are
//! pinned in Cargo.lock). It knows nothing of OCI: it turns a stream into a compressed
//! stream, and reads one back.
//!
//! - [`Compression`]: the codecs, and [`Compression::settings`], everything that decides the
//!   bytes (part of each layer's key).
//! - [`Encoder`]: a writer for any of them; [`decoder`] reads them back.
//! - [`pgz`]: parallel gzip as one deflate stream, with content-defined blocks
//!   (`deflate_end` joins them); [`blocks`]: reusing an earlier blob's compressed blocks.
//! - [`gzindex`]: random access into other writers' gzip blobs (checkpoints).
//! - [`tuning`]: every setting, with the measurement that chose it.

pub mod blocks;
pub mod deflate_end;
pub mod gzindex;
pub mod pgz;
pub mod tuning;

use std::io::{self, Read, Write};
use std::sync::Arc;
use zstd::zstd_safe::CParameter;

/// A layer codec.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum Compression {
    /// gzip at [`tuning::GZIP_LEVEL`] (default: every client reads it), in parallel blocks.
    #[default]
    Gzip,
    /// zstd at [`tuning::ZSTD_LEVEL`], multithreaded.
    Zstd,
    /// No compression.
    None,
}

impl Compression {
    /// Everything that decides the compressed bytes besides the input. Part of each layer's
    /// key, so a blob made with other settings is never reused as if it were ours now.
    pub fn settings(self) -> String {
        match self {
            Compression::Gzip => format!(
                "gzip libdeflate level {} gear blocks {}+2^{}..{}",
                tuning::GZIP_LEVEL,
                tuning::GZIP_BLOCK_MIN,
                tuning::GZIP_BLOCK_BITS,
                tuning::GZIP_BLOCK_MAX
            ),
            Compression::Zstd => format!(
                "zstd level {} {:?} window 2^{} hash 2^{} min match {} job {} multithreaded checksum",
                tuning::ZSTD_LEVEL,
                tuning::ZSTD_STRATEGY,
                tuning::ZSTD_WINDOW_LOG,
                tuning::ZSTD_HASH_LOG,
                tuning::ZSTD_MIN_MATCH,
                tuning::ZSTD_JOB_SIZE
            ),
            Compression::None => "none".into(),
        }
    }

    /// The content-coding name (`gzip`, `zstd`), as media types and HTTP spell it; `None`
    /// for no compression.
    pub fn coding(self) -> Option<&'static str> {
        match self {
            Compression::Gzip => Some("gzip"),
            Compression::Zstd => Some("zstd"),
            Compression::None => None,
        }
    }

    /// Start compressing into `sink` on `threads` threads. The bytes do not depend on
    /// `threads` (see [`pgz`]; zstd's multithreaded mode is used even for one thread, because
    /// its output differs from single-threaded mode but not between counts). gzip takes the
    /// compressed bytes of blocks `reuse` has instead of compressing them again; that never
    /// changes the bytes either.
    ///
    /// # Errors
    /// The compressor cannot start (threads, memory).
    pub fn encoder<W: Write>(
        self,
        sink: W,
        threads: usize,
        reuse: Option<Arc<blocks::ReuseSource>>,
    ) -> io::Result<Encoder<W>> {
        let threads = threads.max(1);
        Ok(match self {
            Compression::Gzip => Encoder::Gzip(pgz::ParallelGz::new(
                sink,
                tuning::GZIP_LEVEL,
                threads,
                reuse,
            )?),
            Compression::Zstd => {
                let mut z = zstd::stream::write::Encoder::new(sink, tuning::ZSTD_LEVEL)?;
                z.include_checksum(true)?;
                z.multithread(u32::try_from(threads).unwrap_or(u32::MAX))?;
                for p in [
                    CParameter::Strategy(tuning::ZSTD_STRATEGY),
                    CParameter::WindowLog(tuning::ZSTD_WINDOW_LOG),
                    CParameter::HashLog(tuning::ZSTD_HASH_LOG),
                    CParameter::MinMatch(tuning::ZSTD_MIN_MATCH),
                    CParameter::JobSize(tuning::ZSTD_JOB_SIZE),
                ] {
                    z.set_parameter(p)?;
                }
                Encoder::Zstd(z)
            }
            Compression::None => Encoder::None(sink),
        })
    }
}

/// A compressing writer; [`Encoder::finish`] ends the stream.
pub enum Encoder<W: Write> {
    /// Parallel gzip.
    Gzip(pgz::ParallelGz<W>),
    /// zstd.
    Zstd(zstd::stream::write::Encoder<'static, W>),
    /// Passed through.
    None(W),
}

/// A finished stream: the sink, and what the encoder knows about what it wrote.
pub struct Finished<W> {
    /// The sink, flushed.
    pub sink: W,
    /// gzip: where each block lies in the output, for later reuse ([`blocks::serialize`]).
    pub blocks: Option<Vec<blocks::BlockEntry>>,
    /// Input bytes whose compressed form was taken from an earlier blob.
    pub reused_bytes: u64,
}

impl<W: Write> Encoder<W> {
    /// End the stream (gzip and zstd trailers) and hand back the sink.
    ///
    /// # Errors
    /// I/O errors of the last writes.
    pub fn finish(self) -> io::Result<Finished<W>> {
        Ok(match self {
            Encoder::Gzip(e) => {
                let f = e.finish()?;
                Finished {
                    sink: f.sink,
                    blocks: Some(f.blocks),
                    reused_bytes: f.reused_bytes,
                }
            }
            Encoder::Zstd(e) => Finished {
                sink: e.finish()?,
                blocks: None,
                reused_bytes: 0,
            },
            Encoder::None(sink) => Finished {
                sink,
                blocks: None,
                reused_bytes: 0,
            },
        })
    }
}

impl<W: Write> Write for Encoder<W> {
    fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
        match self {
            Encoder::Gzip(e) => e.write(buf),
            Encoder::Zstd(e) => e.write(buf),
            Encoder::None(e) => e.write(buf),
        }
    }
    fn flush(&mut self) -> io::Result<()> {
        match self {
            Encoder::Gzip(e) => e.flush(),
            Encoder::Zstd(e) => e.flush(),
            Encoder::None(e) => e.flush(),
        }
    }
}

/// Read a stream of content coding `coding` (`Some("gzip")`, `Some("zstd")`, `None`) back.
///
/// # Errors
/// A coding this crate does not read, or a zstd stream that cannot start.
pub fn decoder<'a>(coding: Option<&str>, r: impl Read + 'a) -> io::Result<Box<dyn Read + 'a>> {
    Ok(match coding {
        // Every member, as Go's gzip reader (containerd, podman) reads layers: a writer may
        // make several (estargz does), and bytes after the first are the layer's too.
        Some("gzip") => Box::new(flate2::read::MultiGzDecoder::new(r)),
        Some("zstd") => Box::new(zstd::stream::read::Decoder::new(r)?),
        None => Box::new(r),
        Some(other) => {
            return Err(io::Error::new(
                io::ErrorKind::Unsupported,
                format!("unsupported compression {other}"),
            ))
        }
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_codec_round_trips_and_is_the_same_for_any_thread_count() {
        let data = b"ostree-encap layer ".repeat(50_000);
        for c in [Compression::Gzip, Compression::Zstd, Compression::None] {
            let mut outs = Vec::new();
            for threads in [1, 3] {
                let mut e = c.encoder(Vec::new(), threads, None).unwrap();
                e.write_all(&data).unwrap();
                outs.push(e.finish().unwrap().sink);
            }
            assert_eq!(outs[0], outs[1], "{c:?}");
            let mut back = Vec::new();
            decoder(c.coding(), outs[0].as_slice())
                .unwrap()
                .read_to_end(&mut back)
                .unwrap();
            assert_eq!(back, data, "{c:?}");
        }
        assert!(decoder(Some("bzip2"), &b""[..]).is_err());
    }
}
