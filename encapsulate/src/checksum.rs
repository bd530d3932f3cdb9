//! ostree object checksums, recomputed while streaming so that a corrupt object is caught
//! before it is shipped.
//!
//! Metadata objects: sha256 of the serialized GVariant. Content objects: sha256 of the file
//! header — a big-endian u32 length and 4 zero bytes, then the GVariant `(uuuusa(ayay))` with
//! uid, gid and mode in big-endian, rdev 0, the symlink target (empty for regular files) and
//! the xattrs — followed by the file's bytes.

use ostree::glib;
use ostree::prelude::*;
use sha2::{Digest, Sha256};
use std::io::{self, Read};

/// A GVariant of type `ty` over a copy of `data` (untrusted bytes are fine: glib checks them
/// lazily and callers use `is_normal_form` where it matters).
pub fn variant_of(data: &[u8], ty: &str) -> glib::Variant {
    let ty = glib::VariantTy::new(ty).expect("static GVariant type string");
    glib::Variant::from_bytes_with_type(&glib::Bytes::from(data), ty)
}

/// Lowercase hex sha256 of `data`.
pub fn sha256_hex(data: &[u8]) -> String {
    hex::encode(Sha256::digest(data))
}

/// The serialized content-object header that starts every content checksum.
///
/// `xattrs` is the serialized `a(ayay)` array exactly as stored (the empty array serializes to
/// no bytes at all).
pub fn content_header(
    uid: u32,
    gid: u32,
    mode: u32,
    symlink_target: &str,
    xattrs: &[u8],
) -> Vec<u8> {
    let xattrs = variant_of(xattrs, "a(ayay)");
    let header = glib::Variant::tuple_from_iter([
        uid.to_be().to_variant(),
        gid.to_be().to_variant(),
        mode.to_be().to_variant(),
        0u32.to_variant(),
        symlink_target.to_variant(),
        xattrs,
    ]);
    let body = header.data();
    let mut out = Vec::with_capacity(8 + body.len());
    out.extend_from_slice(&(body.len() as u32).to_be_bytes());
    out.extend_from_slice(&[0u8; 4]);
    out.extend_from_slice(body);
    out
}

/// A content checksum in progress.
pub struct ContentHasher {
    hasher: Sha256,
}

impl ContentHasher {
    /// Start with the object's header.
    pub fn new(header: &[u8]) -> Self {
        let mut hasher = Sha256::new();
        hasher.update(header);
        ContentHasher { hasher }
    }

    /// Feed file content.
    pub fn update(&mut self, data: &[u8]) {
        self.hasher.update(data);
    }

    /// The hex checksum.
    pub fn finish(self) -> String {
        hex::encode(self.hasher.finalize())
    }
}

/// A reader that feeds every byte it passes through into a [`ContentHasher`].
pub struct HashingReader<'a, R> {
    inner: R,
    hasher: &'a mut ContentHasher,
}

impl<'a, R: Read> HashingReader<'a, R> {
    /// Wrap `inner`.
    pub fn new(inner: R, hasher: &'a mut ContentHasher) -> Self {
        HashingReader { inner, hasher }
    }
}

impl<R: Read> Read for HashingReader<'_, R> {
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
    fn empty_xattrs_header_layout() {
        // Length prefix (8 bytes), then (uuuusa(ayay)) with an empty string and empty array:
        // 16 bytes of u32s, a NUL for the string, then the framing offset of the string end.
        let h = content_header(0, 0, 0o100644, "", &[]);
        assert_eq!(&h[..8], &[0, 0, 0, 18, 0, 0, 0, 0]);
        assert_eq!(&h[16..20], &0o100644u32.to_be_bytes());
        assert_eq!(h.len(), 26);
        // The checksum ostree itself gives `hi\n`, mode 0755, root-owned, no xattrs.
        let h = content_header(0, 0, 0o100755, "", &[]);
        let mut c = ContentHasher::new(&h);
        c.update(b"hi\n");
        assert_eq!(
            c.finish(),
            "1dd5373f9d4a8359771bbe9f4622f6d4b8be5bdb30c43f3536f293d94169eece"
        );
    }

    #[test]
    fn hashing_reader_sees_every_byte() {
        let mut h = ContentHasher::new(b"head");
        let mut r = HashingReader::new(&b"body"[..], &mut h);
        let mut out = Vec::new();
        r.read_to_end(&mut out).unwrap();
        assert_eq!(h.finish(), sha256_hex(b"headbody"));
    }
}
