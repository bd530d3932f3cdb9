//! Reading a layout's blobs: every read checked against the blob's digest and size at its
//! end ([`VerifyingReader`]), or, for readers that check what they take themselves, at any
//! offset ([`BlobAt`]), in the layout or in the oci-archive it was opened from.

use super::*;

impl OciDir {
    /// The block index kept beside blob `desc` (see [`keys::BLOCK_INDEX_DIR`]), if there is
    /// one and the blob is present at its size. Opaque text to the layout: a cache that the
    /// compressor's caller reads and checks.
    pub fn read_block_index(&self, desc: &Descriptor) -> Option<String> {
        String::from_utf8(self.read_sidecar(keys::Sidecar::BlockIndex, desc)?).ok()
    }

    /// The cache of `kind` kept beside blob `desc`, if there is one and the blob is present
    /// at its size. Opaque bytes to the layout, for the caller to check.
    pub fn read_sidecar(&self, kind: keys::Sidecar, desc: &Descriptor) -> Option<Vec<u8>> {
        let hex = desc.digest.hex();
        let data = self.dir.read(sidecar_name(kind, hex)).ok()?;
        let size = self.blobs.metadata(hex).ok()?.len();
        (size == desc.size).then_some(data)
    }

    /// Whether the blob `desc` is here with the right size and content (read and hashed
    /// whole). Reuse of a blob already in the layout asks this first, so a damaged file is
    /// never linked into a new image.
    pub fn blob_is_intact(&self, desc: &Descriptor) -> bool {
        match self.open_blob(desc) {
            Ok(mut r) => io::copy(&mut r, &mut io::sink()).is_ok(),
            Err(_) => false,
        }
    }

    /// Read the blob `desc` (digest and size checked) as JSON; `what` names it in errors.
    ///
    /// # Errors
    /// A missing or damaged blob, or one that is not that JSON.
    pub fn read_json_blob<T: serde::de::DeserializeOwned>(
        &self,
        desc: &Descriptor,
        what: &str,
    ) -> Result<T, OciError> {
        let data = self.read_blob(desc, what)?;
        serde_json::from_slice(&data).map_err(|e| OciError::BadJson {
            what: format!("{what} {}", desc.digest),
            source: e,
        })
    }

    /// Read the whole blob `desc` (a document: the caller knows it is small), digest and size
    /// checked; `what` names it in errors.
    ///
    /// # Errors
    /// A missing or damaged blob.
    pub fn read_blob(&self, desc: &Descriptor, what: &str) -> Result<Vec<u8>, OciError> {
        let mut data = Vec::new();
        self.open_blob(desc)?
            .read_to_end(&mut data)
            .map_err(|source| OciError::BadBlob {
                digest: desc.digest.clone(),
                what: format!("reading the {what}"),
                source,
            })?;
        Ok(data)
    }

    /// Open a blob for reading; the reader fails at EOF if the bytes do not match the
    /// descriptor's digest and size.
    ///
    /// # Errors
    /// Malformed digest or missing blob.
    pub fn open_blob(&self, desc: &Descriptor) -> Result<VerifyingReader<BlobReader>, OciError> {
        let hex = desc.digest.hex();
        Ok(VerifyingReader {
            inner: BlobReader {
                at: self.blob_at(desc)?,
                pos: 0,
            },
            hasher: Sha256::new(),
            read: 0,
            expected_hex: hex.to_string(),
            expected_size: desc.size,
        })
    }

    /// Blob `desc` for reading at any offset: its file in `blobs/sha256`, or its place in
    /// the archive this layout was opened from. Not checked against the digest: readers
    /// check what they read.
    ///
    /// # Errors
    /// A blob that is in neither place.
    pub fn blob_at(&self, desc: &Descriptor) -> Result<BlobAt, OciError> {
        let hex = desc.digest.hex();
        let missing = |source| OciError::BadBlob {
            digest: desc.digest.clone(),
            what: format!("opening blobs/sha256/{hex}"),
            source,
        };
        match self.blobs.open(hex) {
            Ok(f) => {
                let len = f.metadata().map_err(missing)?.len();
                Ok(BlobAt {
                    file: f.into_std(),
                    base: 0,
                    len,
                })
            }
            Err(e) if e.kind() == io::ErrorKind::NotFound => {
                let (archive, (base, len)) = self
                    .archive
                    .as_ref()
                    .and_then(|a| Some((a, a.get(hex)?)))
                    .ok_or_else(|| missing(e))?;
                let file = archive.file().try_clone().map_err(missing)?;
                Ok(BlobAt { file, base, len })
            }
            Err(e) => Err(missing(e)),
        }
    }
}

/// A blob's bytes in a file: `len` bytes from `base` (0 for a layout's own blob file).
#[derive(Debug)]
pub struct BlobAt {
    /// The blob file, or the archive holding it.
    pub file: std::fs::File,
    /// Where the blob starts in `file`.
    pub base: u64,
    /// The blob's size.
    pub len: u64,
}

impl BlobAt {
    /// Read from offset `at` of the blob; 0 at its end (never bytes past it).
    ///
    /// # Errors
    /// The file's read errors.
    pub fn read_at(&self, buf: &mut [u8], at: u64) -> io::Result<usize> {
        let left = self.len.saturating_sub(at);
        let n = buf.len().min(usize::try_from(left).unwrap_or(usize::MAX));
        if n == 0 {
            return Ok(0);
        }
        std::os::unix::fs::FileExt::read_at(&self.file, &mut buf[..n], self.base + at)
    }
}

/// A blob read from its start.
pub struct BlobReader {
    at: BlobAt,
    pos: u64,
}

impl Read for BlobReader {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        let n = self.at.read_at(buf, self.pos)?;
        self.pos += n as u64;
        Ok(n)
    }
}

/// Reader that checks digest and size when it reaches EOF.
pub struct VerifyingReader<R> {
    inner: R,
    hasher: Sha256,
    read: u64,
    expected_hex: String,
    expected_size: u64,
}

impl<R: Read> Read for VerifyingReader<R> {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        let n = self.inner.read(buf)?;
        self.hasher.update(&buf[..n]);
        self.read += n as u64;
        if self.read > self.expected_size {
            return Err(io::Error::new(
                io::ErrorKind::InvalidData,
                format!(
                    "blob is larger than its descriptor's size {}",
                    self.expected_size
                ),
            ));
        }
        if n == 0 && !buf.is_empty() {
            if self.read != self.expected_size {
                return Err(io::Error::new(
                    io::ErrorKind::InvalidData,
                    format!(
                        "blob has {} bytes, its descriptor says {}",
                        self.read, self.expected_size
                    ),
                ));
            }
            let actual = hex::encode(self.hasher.clone().finalize());
            if actual != self.expected_hex {
                return Err(io::Error::new(
                    io::ErrorKind::InvalidData,
                    format!("blob content hashes to sha256:{actual}"),
                ));
            }
        }
        Ok(n)
    }
}
