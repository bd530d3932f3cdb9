//! Writing a layout's blobs: layers streamed through any encoder into anonymous temp files
//! and linked in under their digest ([`LayerWriter`]), documents and block indexes written
//! atomically, blobs copied (or hard-linked) from another layout.

use super::*;
use crate::hashing::HashWriter;

impl OciDir {
    /// Start writing a layer blob of `media_type` through the encoder `encoder` makes over
    /// the blob file. The layout never looks at which codec it is: it hashes what goes in
    /// (the diff_id) and what comes out (the digest), and links the blob into place.
    ///
    /// # Errors
    /// I/O errors creating the temp file, or the encoder's.
    pub fn layer_writer<'a, E: LayerEncoder<BlobSink<'a>>>(
        &'a self,
        media_type: &'static str,
        encoder: impl FnOnce(BlobSink<'a>) -> io::Result<E>,
    ) -> Result<LayerWriter<'a, E>, OciError> {
        let tmp =
            cap_tempfile::TempFile::new(&self.blobs).map_err(io_err("creating layer temp file"))?;
        let sink = BlobSink(HashWriter::new(BufWriter::with_capacity(
            keys::BLOB_BUFFER,
            crate::syncbehind::SyncBehind::new(tmp),
        )));
        let enc = encoder(sink).map_err(io_err("starting the layer encoder"))?;
        crate::faults::point("layer");
        Ok(LayerWriter {
            oci: self,
            enc,
            diff: Sha256::new(),
            uncompressed: 0,
            media_type,
        })
    }

    /// Record where the blocks of gzip blob `hex` lie (a [`keys::Sidecar::BlockIndex`]).
    ///
    /// # Errors
    /// As [`OciDir::write_sidecar`].
    pub fn write_block_index(&self, hex: &str, text: &str) -> Result<(), OciError> {
        self.write_sidecar(keys::Sidecar::BlockIndex, hex, text.as_bytes())
    }

    /// Keep `data` as the cache of `kind` for blob `hex`. Not synced: a cache is only a hint
    /// (checked when used), so a torn or lost one costs time, never bytes; it is still
    /// renamed into place so a reader never sees half of one.
    ///
    /// # Errors
    /// I/O errors creating the directory or the file.
    pub fn write_sidecar(
        &self,
        kind: keys::Sidecar,
        hex: &str,
        data: &[u8],
    ) -> Result<(), OciError> {
        let name = kind.dir();
        match self.dir.create_dir(name) {
            Ok(()) => {
                if let Ok(mut made) = self.created_sidecar_dirs.lock() {
                    made.push(kind);
                }
            }
            Err(e) if e.kind() == io::ErrorKind::AlreadyExists => {}
            Err(e) => return Err(io_err(format!("creating {name}"))(e)),
        }
        let d = self
            .dir
            .open_dir(name)
            .map_err(io_err(format!("opening {name}")))?;
        let mut tmp = cap_tempfile::TempFile::new(&d)
            .map_err(io_err(format!("creating temp file in {name}")))?;
        tmp.write_all(data)
            .map_err(io_err(format!("writing {name}/{hex}")))?;
        tmp.replace(hex)
            .map_err(io_err(format!("renaming {name}/{hex} into place")))
    }

    /// Write a JSON document as a blob (already canonical bytes).
    ///
    /// # Errors
    /// I/O errors.
    pub fn write_blob(&self, media_type: &str, data: &[u8]) -> Result<Descriptor, OciError> {
        let digest = Digest::of(data);
        let hex = digest.hex();
        // An existing file of that name is kept only if it really holds these bytes: a
        // damaged blob is replaced, never taken as ours.
        let intact = self.blobs.read(hex).is_ok_and(|old| old == data);
        if !intact {
            atomic_write(&self.blobs, hex, data)?;
            self.note_created(hex);
        }
        crate::faults::point("blob");
        Ok(Descriptor::new(
            media_type,
            digest.clone(),
            data.len() as u64,
        ))
    }

    /// Make the blob `desc` of `src` present here too, after checking its digest and size;
    /// nothing to do when it already is. Used to reuse a previous build's layers kept in
    /// another layout.
    ///
    /// On the same filesystem the blob is hard-linked, not copied: blobs are immutable once
    /// named by their digest (every writer, this one included, makes a new file and renames
    /// it into place), so one inode can serve both layouts, and a link costs neither a copy
    /// nor its writeback. Across filesystems it is copied.
    ///
    /// # Errors
    /// A missing or corrupt source blob (digest or size mismatch), I/O errors.
    pub fn copy_blob_from(&self, src: &OciDir, desc: &Descriptor) -> Result<(), OciError> {
        self.copy_blob_only(src, desc)?;
        // Its block index too, when this layout has none: a later rebuild here can then reuse
        // its blocks. Only a cache, so failing to copy it is not an error.
        let hex = desc.digest.hex();
        let name = sidecar_name(keys::Sidecar::BlockIndex, hex);
        if !self.dir.exists(&name) {
            if let Ok(text) = src.dir.read_to_string(&name) {
                let _ = self.write_block_index(hex, &text);
            }
        }
        Ok(())
    }

    fn copy_blob_only(&self, src: &OciDir, desc: &Descriptor) -> Result<(), OciError> {
        if self.blob_is_intact(desc) {
            return Ok(());
        }
        let hex = desc.digest.hex();
        let mut reader = src.open_blob(desc)?;
        io::copy(&mut reader, &mut io::sink()).map_err(|source| OciError::BadBlob {
            digest: desc.digest.clone(),
            what: "reading it in the previous image".into(),
            source,
        })?;
        if src.blobs.hard_link(hex, &self.blobs, hex).is_ok() {
            self.note_created(hex);
            // Cheap when the source was synced already (ours are); needed when it was not
            // (an unpacked archive).
            self.blobs
                .open(hex)
                .and_then(|f| f.sync_all())
                .map_err(io_err(format!("syncing linked blob {hex}")))?;
            return sync_dir(&self.blobs).map_err(io_err("syncing blobs directory"));
        }
        let mut reader = src.open_blob(desc)?;
        let mut tmp =
            cap_tempfile::TempFile::new(&self.blobs).map_err(io_err("creating blob temp file"))?;
        io::copy(&mut reader, &mut tmp).map_err(|source| OciError::BadBlob {
            digest: desc.digest.clone(),
            what: "copying it from the previous image".into(),
            source,
        })?;
        tmp.as_file()
            .sync_all()
            .map_err(io_err("syncing copied blob"))?;
        tmp.replace(hex)
            .map_err(io_err(format!("linking blob {hex}")))?;
        self.note_created(hex);
        sync_dir(&self.blobs).map_err(io_err("syncing blobs directory"))
    }
}

/// Where a layer encoder writes: the blob's temp file, hashed on the way (the digest),
/// synced behind the writer.
pub struct BlobSink<'a>(HashWriter<BufWriter<crate::syncbehind::SyncBehind<'a>>>);

impl Write for BlobSink<'_> {
    fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
        self.0.write(buf)
    }
    fn flush(&mut self) -> io::Result<()> {
        self.0.flush()
    }
}

/// A layer encoder (any codec, or none) writing into `W`; the layout only needs to end it.
/// Like ocidir-rs's `WriteComplete`: the layout takes encoders, never matches on codecs.
pub trait LayerEncoder<W>: Write {
    /// What the encoder reports about what it wrote, handed back by [`LayerWriter::finish`].
    type Report;
    /// End the stream and hand back the sink.
    ///
    /// # Errors
    /// I/O errors of the last writes.
    fn finish_encoding(self) -> io::Result<(W, Self::Report)>;
}

/// A layer blob being written: the uncompressed tar goes in, hashed (diffid) and compressed
/// (digest) on the way. Call [`LayerWriter::finish`]; dropping it discards the blob.
pub struct LayerWriter<'a, E> {
    oci: &'a OciDir,
    enc: E,
    diff: Sha256,
    uncompressed: u64,
    media_type: &'static str,
}

/// A finished layer blob.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct WrittenLayer {
    /// Its descriptor (no annotations yet).
    pub descriptor: Descriptor,
    /// `sha256:` of the uncompressed stream.
    pub diff_id: Digest,
    /// Uncompressed size.
    pub uncompressed_size: u64,
}

impl<E: Write> Write for LayerWriter<'_, E> {
    fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
        let n = self.enc.write(buf)?;
        self.diff.update(&buf[..n]);
        self.uncompressed += n as u64;
        Ok(n)
    }
    fn flush(&mut self) -> io::Result<()> {
        self.enc.flush()
    }
}

impl<'a, E: LayerEncoder<BlobSink<'a>>> LayerWriter<'a, E> {
    /// Finish the encoder, fsync, and link the blob into place under its digest; returns the
    /// layer and the encoder's report.
    ///
    /// # Errors
    /// I/O errors of the final writes.
    pub fn finish(self) -> Result<(WrittenLayer, E::Report), OciError> {
        let (sink, report) = self
            .enc
            .finish_encoding()
            .map_err(io_err("finishing layer compression"))?;
        let (inner, digest, count) = sink.0.finish();
        let tmp = inner
            .into_inner()
            .map_err(|e| io_err("flushing layer blob")(e.into_error()))?
            .finish()
            .map_err(io_err("syncing layer blob"))?;
        let hex = digest.hex().to_string();
        tmp.as_file()
            .sync_all()
            .map_err(io_err("syncing layer blob"))?;
        let existing = Descriptor::new(self.media_type, digest.clone(), count);
        if self.oci.blobs.exists(&hex) && self.oci.blob_is_intact(&existing) {
            // Same digest, same bytes: keep the existing blob (it may be in use by a reader).
            drop(tmp);
        } else {
            // New, or a damaged file under our digest: ours replaces it.
            tmp.replace(&hex)
                .map_err(io_err(format!("linking blob {hex}")))?;
            self.oci.note_created(&hex);
            sync_dir(&self.oci.blobs).map_err(io_err("syncing blobs directory"))?;
        }
        crate::faults::point("blob");
        let layer = WrittenLayer {
            descriptor: Descriptor::new(self.media_type, digest, count),
            diff_id: Digest::from_sha256(&self.diff.finalize()),
            uncompressed_size: self.uncompressed,
        };
        Ok((layer, report))
    }
}
