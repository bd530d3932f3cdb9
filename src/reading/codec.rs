//! Where the two libraries meet: `compress`'s codecs as the layout's layer encoders, the OCI
//! media type of each, and reading a layer blob back by its media type. `compress` knows
//! nothing of OCI and `oci` nothing of codecs; this is the only place that knows both.

use anyhow::{Context, Result};
use compress::blocks::ReuseSource;
use compress::{Compression, Encoder, Finished};
use oci::keys::media;
use oci::ocidir::{BlobSink, LayerWriter};
use oci::types::Descriptor;
use oci::{LayerEncoder, OciDir};
use std::io::{self, Read, Write};
use std::sync::Arc;

/// The layer media type of a codec.
pub fn media_type(c: Compression) -> &'static str {
    match c {
        Compression::Gzip => media::LAYER_GZIP,
        Compression::Zstd => media::LAYER_ZSTD,
        Compression::None => media::LAYER_TAR,
    }
}

/// A `compress` encoder as a layer encoder of the layout.
pub struct Codec<W: Write>(Encoder<W>);

impl<W: Write> Write for Codec<W> {
    fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
        self.0.write(buf)
    }
    fn flush(&mut self) -> io::Result<()> {
        self.0.flush()
    }
}

impl<W: Write> LayerEncoder<W> for Codec<W> {
    type Report = CodecReport;
    fn finish_encoding(self) -> io::Result<(W, CodecReport)> {
        let Finished {
            sink,
            blocks,
            reused_bytes,
        } = self.0.finish()?;
        Ok((
            sink,
            CodecReport {
                blocks,
                reused_bytes,
            },
        ))
    }
}

/// What the codec tells about a finished layer.
pub struct CodecReport {
    /// gzip: where each block lies in the blob.
    pub blocks: Option<Vec<compress::blocks::BlockEntry>>,
    /// Input bytes whose compressed form was taken from an earlier blob.
    pub reused_bytes: u64,
}

/// Start a layer blob in `out` compressed with `c` on `threads` threads (gzip reusing the
/// blocks `reuse` offers).
///
/// # Errors
/// The temp file or the compressor cannot be made.
pub fn layer_writer(
    out: &OciDir,
    c: Compression,
    threads: usize,
    reuse: Option<Arc<ReuseSource>>,
) -> Result<LayerWriter<'_, Codec<BlobSink<'_>>>> {
    Ok(out.layer_writer(media_type(c), |sink| {
        Ok(Codec(c.encoder(sink, threads, reuse)?))
    })?)
}

/// Finish a layer blob; a gzip blob's block index is kept beside it, for later rebuilds.
///
/// # Errors
/// I/O errors of the last writes.
pub fn finish_layer(
    out: &OciDir,
    w: LayerWriter<'_, Codec<BlobSink<'_>>>,
) -> Result<(oci::WrittenLayer, u64)> {
    let (layer, report) = w.finish()?;
    if let Some(blocks) = report.blocks {
        let d = &layer.descriptor.digest;
        let text = compress::blocks::serialize(&Compression::Gzip.settings(), d.as_str(), &blocks);
        out.write_block_index(d.hex(), &text)?;
    }
    Ok((layer, report.reused_bytes))
}

/// Offer the blocks of gzip blob `desc` of `oci` to `src`, if it has a usable block index
/// for today's settings. Anything missing or damaged offers nothing: the index is a cache.
/// Returns false once `src` is full.
pub fn offer_blocks(oci: &OciDir, desc: &Descriptor, src: &mut ReuseSource) -> bool {
    if desc.media_type != media::LAYER_GZIP {
        return true;
    }
    let entries = oci.read_block_index(desc).and_then(|text| {
        compress::blocks::parse(
            &text,
            &Compression::Gzip.settings(),
            desc.digest.as_str(),
            desc.size,
        )
    });
    match entries {
        Some(entries) => src.add(oci.blobs(), desc.digest.hex(), &entries),
        None => true,
    }
}

/// Read a layer blob's content back (decompressed), by its media type.
///
/// # Errors
/// A media type that is not a layer this tool reads, or a zstd stream that cannot start.
pub fn decompress<'a>(media_type: &str, r: impl Read + 'a) -> Result<Box<dyn Read + 'a>> {
    let Some(coding) = media::layer_coding(media_type) else {
        anyhow::bail!("unsupported layer media type {media_type}")
    };
    compress::decoder(coding, r).with_context(|| format!("reading a {media_type} layer"))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_codec_writes_a_layer_that_reads_back_the_same_each_time() {
        let data = b"hello world ".repeat(100_000);
        for c in [Compression::Gzip, Compression::Zstd, Compression::None] {
            let td = cap_tempfile::tempdir(cap_std::ambient_authority()).unwrap();
            let oci = OciDir::ensure(td.try_clone().unwrap(), "out").unwrap();
            let mut layers = Vec::new();
            for threads in [1, 2] {
                let mut w = layer_writer(&oci, c, threads, None).unwrap();
                w.write_all(&data).unwrap();
                layers.push(finish_layer(&oci, w).unwrap().0);
            }
            assert_eq!(layers[0], layers[1], "{c:?}");
            let l = &layers[0];
            assert_eq!(l.descriptor.media_type, media_type(c));
            let mut back = Vec::new();
            decompress(media_type(c), oci.open_blob(&l.descriptor).unwrap())
                .unwrap()
                .read_to_end(&mut back)
                .unwrap();
            assert_eq!(back, data, "{c:?}");
            // gzip keeps its block index, and offers its blocks from it.
            let mut src = ReuseSource::new();
            offer_blocks(&oci, &l.descriptor, &mut src);
            assert_eq!(src.is_empty(), c != Compression::Gzip, "{c:?}");
        }
        assert!(decompress("application/x-bzip2", &b""[..]).is_err());
    }
}
