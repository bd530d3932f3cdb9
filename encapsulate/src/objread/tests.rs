use super::*;

fn stat(size: u64, owner: Option<(u32, u32, u32)>, xattrs: &[u8]) -> ObjectStat {
    ObjectStat {
        size,
        xattrs: xattrs.to_vec(),
        owner,
    }
}

#[test]
fn known_keeps_bare_user_regular_files_and_nothing_else() {
    let mut k = Known::default();
    k.push(Some(&stat(5, Some((0, 0, 0o100_644)), b"")));
    k.push(None);
    k.push(Some(&stat(0, None, b"")));
    k.push(Some(&stat(7, Some((1, 2, 0o100_755)), b"x")));
    k.push(Some(&stat(9, Some((0, 0, 0o100_644)), b"")));
    k.push(Some(&stat(
        u64::from(u32::MAX) + 1,
        Some((0, 0, 0o100_644)),
        b"",
    )));
    let k = k.done();
    assert_eq!(k.get(0), Some((&(0, 0, 0o100_644, Vec::new()), 5)));
    assert_eq!(k.get(1), None, "not read");
    assert_eq!(k.get(2), None, "a symlink, or an object of another mode");
    assert_eq!(k.get(3), Some((&(1, 2, 0o100_755, b"x".to_vec()), 7)));
    assert_eq!(k.get(4), Some((&(0, 0, 0o100_644, Vec::new()), 9)));
    assert_eq!(k.get(5), None, "too big to record in 4 bytes");
    assert_eq!(k.get(6), None, "past the end");
    assert_eq!(k.metas.len(), 2, "each set stored once");
}

#[test]
fn known_parts_fill_their_place_and_sets_beyond_the_ids_are_not_recorded() {
    let mut a = Known::default();
    a.push(Some(&stat(1, Some((3, 3, 0o100_600)), b"")));
    let mut b = Known::default();
    b.push(Some(&stat(2, Some((4, 4, 0o100_600)), b"")));
    b.push(Some(&stat(3, Some((3, 3, 0o100_600)), b"")));
    let mut all = Known::none(4);
    all.fill(2, b);
    all.fill(0, a);
    assert_eq!(all.get(0), Some((&(3, 3, 0o100_600, Vec::new()), 1)));
    assert_eq!(all.get(1), None, "no part covered it");
    assert_eq!(all.get(2), Some((&(4, 4, 0o100_600, Vec::new()), 2)));
    assert_eq!(all.get(3), Some((&(3, 3, 0o100_600, Vec::new()), 3)));

    let mut many = Known::default();
    for uid in 0..=u32::from(Known::NONE) {
        many.push(Some(&stat(1, Some((uid, 0, 0o100_644)), b"")));
    }
    assert_eq!(many.metas.len(), usize::from(Known::NONE));
    assert!(many.get(usize::from(Known::NONE) - 1).is_some());
    assert_eq!(many.get(usize::from(Known::NONE)), None, "one set too many");
}

#[test]
fn ostreemeta_is_big_endian_with_xattrs_after_the_numbers() {
    let mut meta = vec![0, 0, 3, 232, 0, 0, 0, 5, 0, 0, 0o241, 0xa4];
    meta.extend_from_slice(b"user.a\0\0v\x07\x02");
    let (uid, gid, mode, xattrs) = parse_ostreemeta(&meta).expect("parses");
    assert_eq!((uid, gid, mode), (1000, 5, 0o120_644));
    assert_eq!(xattrs, b"user.a\0\0v\x07\x02");
}

#[test]
fn ostreemeta_of_any_size_is_read_whole() {
    use xattr::FileExt;
    let dir = tempfile::tempdir().expect("tempdir");
    for len in [
        0,
        1,
        OSTREEMETA_READ - OSTREEMETA_FIXED,
        OSTREEMETA_READ,
        3000,
    ] {
        let file = File::create(dir.path().join(format!("o{len}"))).expect("create");
        let mut meta = vec![0, 0, 0, 1, 0, 0, 0, 2, 0, 0, 0o201, 0xa4];
        let xattrs: Vec<u8> = (0..len).map(|i| (i % 251) as u8).collect();
        meta.extend_from_slice(&xattrs);
        file.set_xattr(OSTREEMETA_XATTR, &meta)
            .expect("user xattrs");
        let (uid, gid, mode, read) = ostreemeta(&file).expect("reads");
        assert_eq!((uid, gid, mode, read), (1, 2, 0o100_644, xattrs), "{len}");
    }
}

#[test]
fn bare_user_symlink_targets_end_at_the_nul() {
    assert_eq!(
        symlink_target(b"/usr/a\0".to_vec()).expect("utf-8"),
        "/usr/a"
    );
    assert_eq!(symlink_target(b"rel/b".to_vec()).expect("utf-8"), "rel/b");
    assert!(symlink_target(vec![0xff, 0]).is_err());
}

/// A `.filez` as libostree lays it out: header length, padding, `(tuuuusa(ayay))` with
/// big-endian numbers, raw deflate.
fn filez(content: &[u8], mode: u32, target: &str) -> Vec<u8> {
    use glib::prelude::*;
    use ostree::glib;
    use std::io::Write;
    let xattrs = ostree_format::checksum::variant_of(&[], "a(ayay)");
    let header = glib::Variant::tuple_from_iter([
        (content.len() as u64).to_be().to_variant(),
        7u32.to_be().to_variant(),
        9u32.to_be().to_variant(),
        mode.to_be().to_variant(),
        0u32.to_variant(),
        target.to_variant(),
        xattrs,
    ]);
    let h = header.data();
    let mut out = (h.len() as u32).to_be_bytes().to_vec();
    out.extend_from_slice(&[0; 4]);
    out.extend_from_slice(h);
    let mut z = flate2::write::DeflateEncoder::new(out, flate2::Compression::fast());
    z.write_all(content).unwrap();
    z.finish().unwrap()
}

#[test]
fn archive_objects_small_big_and_symlinks() {
    let td = tempfile::tempdir().unwrap();
    let direct = Direct::new(td.path().to_owned(), DirectMode::Archive);
    assert!(
        direct.dir.is_some(),
        "objects are opened relative to the directory"
    );
    std::fs::create_dir(td.path().join("ab")).unwrap();
    let big: Vec<u8> = (0..(format::INFLATE_WHOLE_MAX + 12_345))
        .map(|i| (i * 7 % 251) as u8)
        .collect();
    let cases: [(&str, &[u8], u32, &str); 4] = [
        ("small", b"hello", S_IFREG | 0o644, ""),
        ("empty", b"", S_IFREG | 0o600, ""),
        ("big", &big, S_IFREG | 0o755, ""),
        ("link", b"", S_IFLNK | 0o777, "../target"),
    ];
    for (i, (name, content, mode, target)) in cases.into_iter().enumerate() {
        let checksum: Checksum = format!("ab{i:062}").parse().unwrap();
        std::fs::write(direct.path(&checksum), filez(content, mode, target)).unwrap();
        let obj = direct.load(&checksum).unwrap();
        assert_eq!((obj.uid, obj.gid, obj.mode), (7, 9, mode), "{name}");
        match obj.body {
            Body::Regular {
                size, mut reader, ..
            } => {
                let mut back = Vec::new();
                reader.read_to_end(&mut back).unwrap();
                assert_eq!(size, content.len() as u64, "{name}");
                assert!(back == content, "{name}: content differs");
            }
            Body::Symlink(t) => assert_eq!(t, target, "{name}"),
        }
        let st = direct.stat(&checksum).unwrap();
        let want = if mode & S_IFMT == S_IFREG {
            content.len() as u64
        } else {
            0
        };
        assert_eq!(st.size, want, "{name}");
    }
    // A header length past the end of the file is an error, not a huge allocation.
    let checksum: Checksum = format!("ab{:062}", 99).parse().unwrap();
    std::fs::write(direct.path(&checksum), [0xff, 0xff, 0xff, 0xff, 0, 0, 0, 0]).unwrap();
    assert!(direct.load(&checksum).is_err());
}

#[test]
fn short_ostreemeta_is_an_error() {
    assert!(parse_ostreemeta(&[0; 11]).is_err());
}
