//! ostree object checksums, recomputed while streaming so that a corrupt object is caught
//! before it is shipped.
//!
//! Metadata objects: sha256 of the serialized GVariant. Content objects: sha256 of the file
//! header — a big-endian u32 length and 4 zero bytes, then the GVariant `(uuuusa(ayay))` with
//! uid, gid and mode in big-endian, rdev 0, the symlink target (empty for regular files) and
//! the xattrs — followed by the file's bytes.

use ostree::glib;
use sha2::{Digest, Sha256};
use std::io::{self, Read};

/// A GVariant of type `ty` over a copy of `data` (untrusted bytes are fine: glib checks them
/// lazily and callers use `is_normal_form` where it matters).
pub fn variant_of(data: &[u8], ty: &str) -> glib::Variant {
    let ty = glib::VariantTy::new(ty).expect("static GVariant type string");
    glib::Variant::from_bytes_with_type(&glib::Bytes::from(data), ty)
}

/// The entries of a dirtree `(a(say)a(sayay))`: files (name, checksum) and directories (name,
/// dirtree checksum, dirmeta checksum). Decoded child by child with byte arrays taken whole:
/// glib-rs's generic conversion builds each `ay` one byte-variant at a time, which was a third
/// of all planning time on a 20,000-file tree. `None` if `v` is not a dirtree.
pub fn dirtree_entries(v: &glib::Variant) -> Option<ostree::TreeVariantType> {
    if v.type_().as_str() != "(a(say)a(sayay))" {
        return None;
    }
    let files_v = v.try_child_value(0)?;
    let dirs_v = v.try_child_value(1)?;
    let mut files = Vec::with_capacity(files_v.n_children());
    for i in 0..files_v.n_children() {
        let e = files_v.try_child_value(i)?;
        files.push((
            e.try_child_value(0)?.str()?.to_string(),
            bytes(e.try_child_value(1)?)?,
        ));
    }
    let mut dirs = Vec::with_capacity(dirs_v.n_children());
    for i in 0..dirs_v.n_children() {
        let e = dirs_v.try_child_value(i)?;
        dirs.push((
            e.try_child_value(0)?.str()?.to_string(),
            bytes(e.try_child_value(1)?)?,
            bytes(e.try_child_value(2)?)?,
        ));
    }
    Some((files, dirs))
}

/// The (name, value) pairs of an xattrs variant `a(ayay)`, decoded like [`dirtree_entries`].
/// `None` if `v` is not of that type.
pub fn xattr_entries(v: &glib::Variant) -> Option<Vec<(Vec<u8>, Vec<u8>)>> {
    if v.type_().as_str() != "a(ayay)" {
        return None;
    }
    (0..v.n_children())
        .map(|i| {
            let e = v.try_child_value(i)?;
            Some((bytes(e.try_child_value(0)?)?, bytes(e.try_child_value(1)?)?))
        })
        .collect()
}

/// The (name, value) pairs of serialized `a(ayay)` bytes, as content objects carry them;
/// empty for bytes that do not decode. Objects without xattrs (nearly all) serialize to no
/// bytes and skip glib altogether: this runs once per object on the export path.
pub fn xattr_entries_of(data: &[u8]) -> Vec<(Vec<u8>, Vec<u8>)> {
    if data.is_empty() {
        return Vec::new();
    }
    xattr_entries(&variant_of(data, "a(ayay)")).unwrap_or_default()
}

/// An `ay` child taken whole.
fn bytes(v: glib::Variant) -> Option<Vec<u8>> {
    v.fixed_array::<u8>().ok().map(<[u8]>::to_vec)
}

/// Lowercase hex sha256 of `data`.
pub fn sha256_hex(data: &[u8]) -> String {
    hex::encode(Sha256::digest(data))
}

/// The serialized content-object header that starts every content checksum.
///
/// `xattrs` is the serialized `a(ayay)` array exactly as stored (the empty array serializes to
/// no bytes at all); `symlink_target` holds no NUL (a symlink target cannot).
///
/// Serialized by hand, once per content object: building the GVariant through glib (a
/// tuple of six child variants) was ~10% of all CPU on a tree of 300k small files. The
/// layout, by the GVariant spec: four big-endian-valued `u32` (16 bytes, the tuple's only
/// aligned members), the string and its NUL, the xattr array (alignment 1), then one
/// little-endian framing offset, the string's end (the last member's end is implied), as
/// wide as the whole needs. `glib_content_header` in the tests is the reference.
pub fn content_header(
    uid: u32,
    gid: u32,
    mode: u32,
    symlink_target: &str,
    xattrs: &[u8],
) -> Vec<u8> {
    let string_end = 16 + symlink_target.len() + 1;
    let body = string_end + xattrs.len();
    let offset_size = match body {
        b if b < 0xff => 1,
        b if b + 2 <= 0xffff => 2,
        b if b as u64 + 4 <= 0xffff_ffff => 4,
        _ => 8,
    };
    let total = body + offset_size;
    let mut out = Vec::with_capacity(8 + total);
    out.extend_from_slice(&(total as u32).to_be_bytes());
    out.extend_from_slice(&[0u8; 4]);
    for v in [uid, gid, mode, 0] {
        // Values are stored big-endian, as ostree does before serializing (`u32::to_be`),
        // in a little-endian GVariant: the bytes are the big-endian bytes.
        out.extend_from_slice(&v.to_be_bytes());
    }
    out.extend_from_slice(symlink_target.as_bytes());
    out.push(0);
    out.extend_from_slice(xattrs);
    out.extend_from_slice(&(string_end as u64).to_le_bytes()[..offset_size]);
    out
}

/// The width of the framing offsets of a GVariant container whose content (without offsets)
/// is `body` bytes and which needs `n` offsets: the smallest of 1, 2, 4, 8 bytes that can
/// address the whole container (GVariant specification, "Framing Offsets").
fn offset_size(body: usize, n: usize) -> usize {
    if n == 0 {
        return 0;
    }
    for size in [1usize, 2, 4] {
        if ((body + n * size) as u64) < (1u64 << (8 * size)) {
            return size;
        }
    }
    8
}

fn push_offset(out: &mut Vec<u8>, value: usize, size: usize) {
    out.extend_from_slice(&(value as u64).to_le_bytes()[..size]);
}

/// A tuple of variable-size members, all given serialized: their bytes, then the end offset
/// of each but the last, in reverse order (every member here has alignment 1).
fn tuple_of(members: &[&[u8]]) -> Vec<u8> {
    let body: usize = members.iter().map(|m| m.len()).sum();
    let n = members.len().saturating_sub(1);
    let size = offset_size(body, n);
    let mut out = Vec::with_capacity(body + n * size);
    let mut ends = Vec::with_capacity(n);
    for (i, m) in members.iter().enumerate() {
        out.extend_from_slice(m);
        if i + 1 < members.len() {
            ends.push(out.len());
        }
    }
    for e in ends.into_iter().rev() {
        push_offset(&mut out, e, size);
    }
    out
}

/// An array of variable-size elements, given serialized: their bytes, then the end offset of
/// each, in order (alignment 1).
fn array_of(elements: &[Vec<u8>]) -> Vec<u8> {
    let body: usize = elements.iter().map(Vec::len).sum();
    let size = offset_size(body, elements.len());
    let mut out = Vec::with_capacity(body + elements.len() * size);
    let mut ends = Vec::with_capacity(elements.len());
    for e in elements {
        out.extend_from_slice(e);
        ends.push(out.len());
    }
    for e in ends {
        push_offset(&mut out, e, size);
    }
    out
}

fn string(s: &str) -> Vec<u8> {
    let mut v = Vec::with_capacity(s.len() + 1);
    v.extend_from_slice(s.as_bytes());
    v.push(0);
    v
}

/// A dirtree object, `(a(say)a(sayay))`: files (name, content checksum) and directories
/// (name, dirtree checksum, dirmeta checksum), each sorted by name as ostree sorts them
/// (bytewise). Serialized by hand: through glib each entry was a variant of its own, seconds
/// of CPU for a tree of 300k files (`glib_dirtree` in the tests is the reference).
pub fn dirtree_bytes(
    files: &[(&str, &[u8; 32])],
    dirs: &[(&str, &[u8; 32], &[u8; 32])],
) -> Vec<u8> {
    let files: Vec<Vec<u8>> = files
        .iter()
        .map(|(name, sum)| tuple_of(&[&string(name), sum.as_slice()]))
        .collect();
    let dirs: Vec<Vec<u8>> = dirs
        .iter()
        .map(|(name, tree, meta)| tuple_of(&[&string(name), tree.as_slice(), meta.as_slice()]))
        .collect();
    tuple_of(&[&array_of(&files), &array_of(&dirs)])
}

/// A dirmeta object, `(uuua(ayay))`: numbers big-endian, as ostree stores them, then the
/// serialized xattrs (the last member: no offset).
pub fn dirmeta_bytes(uid: u32, gid: u32, mode: u32, xattrs: &[u8]) -> Vec<u8> {
    let mut out = Vec::with_capacity(12 + xattrs.len());
    for v in [uid, gid, mode] {
        out.extend_from_slice(&v.to_be_bytes());
    }
    out.extend_from_slice(xattrs);
    out
}

/// A content checksum in progress.
#[derive(Clone)]
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

    /// The checksum's 32 bytes.
    pub fn finish_bytes(self) -> [u8; 32] {
        self.hasher.finalize().into()
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
    use ostree::prelude::*;

    /// The header as glib builds it: the reference for the hand-made one.
    fn glib_content_header(uid: u32, gid: u32, mode: u32, target: &str, xattrs: &[u8]) -> Vec<u8> {
        let header = glib::Variant::tuple_from_iter([
            uid.to_be().to_variant(),
            gid.to_be().to_variant(),
            mode.to_be().to_variant(),
            0u32.to_variant(),
            target.to_variant(),
            variant_of(xattrs, "a(ayay)"),
        ]);
        let body = header.data();
        let mut out = (body.len() as u32).to_be_bytes().to_vec();
        out.extend_from_slice(&[0u8; 4]);
        out.extend_from_slice(body);
        out
    }

    fn glib_dirtree(files: &[(&str, &[u8; 32])], dirs: &[(&str, &[u8; 32], &[u8; 32])]) -> Vec<u8> {
        let f: Vec<(String, Vec<u8>)> = files
            .iter()
            .map(|(n, c)| (n.to_string(), c.to_vec()))
            .collect();
        let d: Vec<(String, Vec<u8>, Vec<u8>)> = dirs
            .iter()
            .map(|(n, t, m)| (n.to_string(), t.to_vec(), m.to_vec()))
            .collect();
        glib::Variant::tuple_from_iter([f.to_variant(), d.to_variant()])
            .normal_form()
            .data()
            .to_vec()
    }

    #[test]
    fn dirtrees_are_the_glib_serialization() {
        let sum = |i: usize| -> [u8; 32] { [(i % 251) as u8; 32] };
        let names: Vec<String> = (0..3000)
            .map(|i| match i % 4 {
                0 => format!("f{i:05}"),
                1 => "x".repeat(1 + i % 255),
                2 => format!("ünï-{i}"),
                _ => format!("n{i}"),
            })
            .collect();
        let sums: Vec<[u8; 32]> = (0..3000).map(sum).collect();
        // Sizes around each change of offset width, for the entries and the arrays.
        for (nf, nd) in [
            (0, 0),
            (1, 0),
            (0, 1),
            (3, 2),
            (6, 0),
            (7, 1),
            (40, 30),
            (1700, 0),
            (3000, 1200),
        ] {
            let files: Vec<(&str, &[u8; 32])> =
                (0..nf).map(|i| (names[i].as_str(), &sums[i])).collect();
            let dirs: Vec<(&str, &[u8; 32], &[u8; 32])> = (0..nd)
                .map(|i| (names[i].as_str(), &sums[i], &sums[i + 1]))
                .collect();
            assert_eq!(
                dirtree_bytes(&files, &dirs),
                glib_dirtree(&files, &dirs),
                "{nf} files, {nd} dirs"
            );
        }
    }

    #[test]
    fn dirmetas_are_the_glib_serialization() {
        let xattr = glib::Variant::array_from_iter_with_type(
            glib::VariantTy::new("(ayay)").expect("type"),
            [(b"user.a\0".to_vec(), vec![1u8, 2]).to_variant()],
        );
        for x in [Vec::new(), xattr.data().to_vec()] {
            let glib = glib::Variant::tuple_from_iter([
                1000u32.to_be().to_variant(),
                5u32.to_be().to_variant(),
                0o40755u32.to_be().to_variant(),
                variant_of(&x, "a(ayay)"),
            ]);
            assert_eq!(dirmeta_bytes(1000, 5, 0o40755, &x), glib.data());
        }
    }

    #[test]
    fn content_header_is_the_glib_serialization() {
        let xattr = |name: &[u8], len: usize| {
            let v = glib::Variant::array_from_iter_with_type(
                glib::VariantTy::new("(ayay)").expect("type"),
                [(name.to_vec(), vec![7u8; len]).to_variant()],
            );
            v.data().to_vec()
        };
        let cases: Vec<(String, Vec<u8>)> = vec![
            (String::new(), vec![]),
            ("../lib/libfoo.so.1".into(), vec![]),
            (String::new(), xattr(b"security.selinux\0", 30)),
            ("t".into(), xattr(b"user.component\0", 5)),
            // Around each change of offset width (1 -> 2 -> 4 bytes).
            ("x".repeat(200), vec![]),
            ("x".repeat(237), vec![]),
            ("x".repeat(238), vec![]),
            ("x".repeat(239), vec![]),
            (String::new(), xattr(b"user.big\0", 300)),
            (String::new(), xattr(b"user.big\0", 65_490)),
            (String::new(), xattr(b"user.big\0", 65_530)),
            (String::new(), xattr(b"user.big\0", 70_000)),
        ];
        for (target, xattrs) in &cases {
            for (uid, gid, mode) in [(0, 0, 0o100644), (1000, 27, 0o120777), (u32::MAX, 1, 0)] {
                assert_eq!(
                    content_header(uid, gid, mode, target, xattrs),
                    glib_content_header(uid, gid, mode, target, xattrs),
                    "target of {} bytes, xattrs of {} bytes",
                    target.len(),
                    xattrs.len()
                );
            }
        }
    }

    #[test]
    fn fast_decoders_agree_with_glib() {
        let tree: ostree::TreeVariantType = (
            vec![("a".into(), vec![1; 32]), ("b c".into(), vec![2; 32])],
            vec![("d".into(), vec![3; 32], vec![4; 32])],
        );
        let v = tree.to_variant();
        assert_eq!(dirtree_entries(&v), Some(tree));
        // Through serialized bytes too, as objects are read.
        let again = variant_of(v.data(), "(a(say)a(sayay))");
        assert_eq!(
            dirtree_entries(&again),
            again.get::<ostree::TreeVariantType>()
        );
        let xattrs: Vec<(Vec<u8>, Vec<u8>)> = vec![
            (b"user.component\0".to_vec(), b"foo".to_vec()),
            (b"security.selinux\0".to_vec(), Vec::new()),
        ];
        let serialized = xattrs.to_variant().data().to_vec();
        assert_eq!(xattr_entries_of(&serialized), xattrs);
        assert_eq!(xattr_entries(&xattrs.to_variant()), Some(xattrs));
        assert_eq!(xattr_entries(&variant_of(&[], "a(ayay)")), Some(Vec::new()));
        assert_eq!(xattr_entries_of(&[]), Vec::new());
        // Wrong types are refused, not misread.
        assert_eq!(dirtree_entries(&"x".to_variant()), None);
        assert_eq!(xattr_entries(&v), None);
    }

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
