//! The op stream: op codes, varints, and a writer that coalesces DATA.

use crate::limits::{MAX_ADD_DATA, MAX_DATA_CHUNK, MAX_PATH};
use std::io::{self, Write};

/// Emit the payload.
pub const OP_DATA: u8 = 0;
/// Make a source file current (payload: its path), position 0.
pub const OP_OPEN: u8 = 1;
/// Emit `size` bytes of the current file from the position, advancing it.
pub const OP_COPY: u8 = 2;
/// Emit payload\[i\] + source\[i\] (mod 256) for `size` source bytes, advancing.
pub const OP_ADD_DATA: u8 = 3;
/// Set the position to `size`.
pub const OP_SEEK: u8 = 4;

/// Write `v` as an unsigned LEB128 varint.
pub fn put_uvarint(out: &mut Vec<u8>, mut v: u64) {
    while v >= 0x80 {
        out.push((v as u8) | 0x80);
        v >>= 7;
    }
    out.push(v as u8);
}

/// Writes op records to an inner writer (the zstd stream), keeping DATA bytes in a buffer
/// until another op or [`MAX_DATA_CHUNK`] bytes end them, so that headers and padding of
/// consecutive members go as one record.
pub struct OpWriter<W: Write> {
    inner: W,
    data: Vec<u8>,
    head: Vec<u8>,
    /// Bytes of the rebuilt stream the ops written so far emit.
    pub emitted: u64,
}

impl<W: Write> OpWriter<W> {
    /// Ops into `inner`.
    pub fn new(inner: W) -> Self {
        OpWriter {
            inner,
            data: Vec::new(),
            head: Vec::with_capacity(16),
            emitted: 0,
        }
    }

    fn record(&mut self, op: u8, size: u64, payload: &[u8]) -> io::Result<()> {
        self.head.clear();
        self.head.push(op);
        put_uvarint(&mut self.head, size);
        self.inner.write_all(&self.head)?;
        self.inner.write_all(payload)
    }

    fn flush_data(&mut self) -> io::Result<()> {
        if !self.data.is_empty() {
            let data = std::mem::take(&mut self.data);
            self.record(OP_DATA, data.len() as u64, &data)?;
            self.data = data;
            self.data.clear();
        }
        Ok(())
    }

    /// Literal bytes.
    pub fn data(&mut self, mut bytes: &[u8]) -> io::Result<()> {
        self.emitted += bytes.len() as u64;
        while !bytes.is_empty() {
            let room = MAX_DATA_CHUNK - self.data.len();
            let n = room.min(bytes.len());
            self.data.extend_from_slice(&bytes[..n]);
            bytes = &bytes[n..];
            if self.data.len() == MAX_DATA_CHUNK {
                self.flush_data()?;
            }
        }
        Ok(())
    }

    /// Make `path` the current source file.
    pub fn open(&mut self, path: &str) -> io::Result<()> {
        if path.is_empty() || path.len() > MAX_PATH {
            return Err(io::Error::new(
                io::ErrorKind::InvalidInput,
                format!(
                    "source path of {} bytes cannot be opened by a tar-diff",
                    path.len()
                ),
            ));
        }
        self.flush_data()?;
        self.record(OP_OPEN, path.len() as u64, path.as_bytes())
    }

    /// Copy `n` bytes of the current file.
    pub fn copy(&mut self, n: u64) -> io::Result<()> {
        if n == 0 {
            return Ok(());
        }
        self.flush_data()?;
        self.emitted += n;
        self.record(OP_COPY, n, &[])
    }

    /// Add `delta` to the next `delta.len()` bytes of the current file.
    pub fn add(&mut self, delta: &[u8]) -> io::Result<()> {
        self.flush_data()?;
        for chunk in delta.chunks(MAX_ADD_DATA) {
            self.emitted += chunk.len() as u64;
            self.record(OP_ADD_DATA, chunk.len() as u64, chunk)?;
        }
        Ok(())
    }

    /// Set the current file's position.
    pub fn seek(&mut self, to: u64) -> io::Result<()> {
        self.flush_data()?;
        self.record(OP_SEEK, to, &[])
    }

    /// Write what is buffered and hand back the inner writer.
    ///
    /// # Errors
    /// Writing the last DATA record failed.
    pub fn finish(mut self) -> io::Result<W> {
        self.flush_data()?;
        Ok(self.inner)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn varints_are_leb128() {
        let mut v = Vec::new();
        put_uvarint(&mut v, 0);
        put_uvarint(&mut v, 127);
        put_uvarint(&mut v, 128);
        put_uvarint(&mut v, 300);
        assert_eq!(v, [0, 127, 0x80, 1, 0xac, 2]);
    }

    #[test]
    fn data_is_coalesced_and_split_at_the_chunk_size() {
        let mut w = OpWriter::new(Vec::new());
        w.data(b"ab").unwrap();
        w.data(b"cd").unwrap();
        w.copy(5).unwrap();
        let out = w.finish().unwrap();
        assert_eq!(out, [OP_DATA, 4, b'a', b'b', b'c', b'd', OP_COPY, 5]);
        let mut w = OpWriter::new(Vec::new());
        w.data(&vec![7u8; MAX_DATA_CHUNK + 3]).unwrap();
        assert_eq!(w.emitted, MAX_DATA_CHUNK as u64 + 3);
        let out = w.finish().unwrap();
        let mut head = vec![OP_DATA];
        put_uvarint(&mut head, MAX_DATA_CHUNK as u64);
        assert_eq!(&out[..head.len()], &head[..]);
        assert_eq!(&out[head.len() + MAX_DATA_CHUNK..], &[OP_DATA, 3, 7, 7, 7]);
    }
}
