//! SHA-256 on the way through: a writer that hashes what it passes on (a blob's digest, a
//! layer's diff_id without storing the layer) and a reader that hashes what it reads (a
//! decompressed layer's diff_id).

use crate::types::Digest;
use sha2::{Digest as _, Sha256};
use std::io::{self, Read, Write};

/// Passes writes to `inner`, hashing and counting them. `HashWriter<io::Sink>` only hashes.
pub struct HashWriter<W> {
    inner: W,
    hasher: Sha256,
    count: u64,
}

impl<W: Write> HashWriter<W> {
    /// Hash what is written to `inner`.
    pub fn new(inner: W) -> Self {
        HashWriter {
            inner,
            hasher: Sha256::new(),
            count: 0,
        }
    }

    /// The writer, the digest and the byte count of everything written.
    pub fn finish(self) -> (W, Digest, u64) {
        (
            self.inner,
            Digest::from_sha256(&self.hasher.finalize()),
            self.count,
        )
    }
}

impl<W: Write> Write for HashWriter<W> {
    fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
        let n = self.inner.write(buf)?;
        self.hasher.update(&buf[..n]);
        self.count += n as u64;
        Ok(n)
    }
    fn flush(&mut self) -> io::Result<()> {
        self.inner.flush()
    }
}

/// Hashes everything read through it.
pub struct HashReader<R> {
    inner: R,
    hasher: Sha256,
}

impl<R: Read> HashReader<R> {
    /// Hash what is read from `inner`.
    pub fn new(inner: R) -> Self {
        HashReader {
            inner,
            hasher: Sha256::new(),
        }
    }

    /// The digest of what has been read so far.
    pub fn digest(&self) -> Digest {
        Digest::from_sha256(&self.hasher.clone().finalize())
    }
}

impl<R: Read> Read for HashReader<R> {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        let n = self.inner.read(buf)?;
        self.hasher.update(&buf[..n]);
        Ok(n)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn writer_and_reader_agree_with_sha256() {
        let data = b"ostree-encap".repeat(1000);
        let mut w = HashWriter::new(io::sink());
        w.write_all(&data).unwrap();
        let (_, digest, n) = w.finish();
        assert_eq!(n, data.len() as u64);
        assert_eq!(digest, Digest::of(&data));
        let mut r = HashReader::new(data.as_slice());
        io::copy(&mut r, &mut io::sink()).unwrap();
        assert_eq!(r.digest(), digest);
    }
}
