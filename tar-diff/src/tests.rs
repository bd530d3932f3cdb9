//! Round trips: encode against an old tree, apply, compare with the input byte for byte.

use crate::apply::{apply, ApplySource, ReadSeek};
use crate::encode::{encode, Options, Stats};
use crate::source::{Source, SourceFile, SourceIndex};
use std::collections::HashMap;
use std::io::{self, Cursor};

/// An old tree in memory: every layer's files, the index over them.
struct Mem {
    idx: SourceIndex,
    content: HashMap<String, Vec<u8>>,
    /// What `content()` may return (as a tool would have stored for wanted names).
    stored: HashMap<String, Vec<u8>>,
}

impl Mem {
    fn new(layers: &[Vec<u8>]) -> Self {
        let mut idx = SourceIndex::new();
        let mut stored = HashMap::new();
        for l in layers {
            idx.add_layer(&l[..], &|_, _| true, &mut |f, c| {
                let mut v = Vec::new();
                c.read_to_end(&mut v)?;
                stored.insert(f.path.clone(), v);
                Ok(())
            })
            .unwrap();
        }
        idx.finish();
        let mut content = HashMap::new();
        for l in layers {
            crate::tar::walk(&l[..], |m, r| {
                let mut c = Vec::new();
                io::Read::read_to_end(r, &mut c)?;
                if m.kind == crate::tar::Kind::Regular {
                    content.insert(m.path.clone(), c);
                } else if m.kind == crate::tar::Kind::HardLink {
                    if let Some(c) = content.get(&m.link).cloned() {
                        content.insert(m.path.clone(), c);
                    }
                }
                Ok(())
            })
            .unwrap();
        }
        Mem {
            idx,
            content,
            stored,
        }
    }
}

impl Source for Mem {
    fn same(&self, sha256: &[u8; 32], size: u64) -> Option<SourceFile> {
        self.idx.same(sha256, size)
    }
    fn similar(&self, path: &str, size: u64) -> Option<SourceFile> {
        self.idx.similar(path, size)
    }
    fn content(&self, file: &SourceFile) -> io::Result<Option<Vec<u8>>> {
        Ok(self.stored.get(&file.path).cloned())
    }
}

impl ApplySource for &Mem {
    fn open(&mut self, path: &str) -> io::Result<Box<dyn ReadSeek>> {
        match self.idx.get(path) {
            Some(_) => Ok(Box::new(Cursor::new(self.content[path].clone()))),
            None => Err(io::Error::new(
                io::ErrorKind::NotFound,
                "no such source file",
            )),
        }
    }
}

pub(crate) fn tar(entries: &[(&str, &[u8])]) -> Vec<u8> {
    let mut b = ::tar::Builder::new(Vec::new());
    for (p, c) in entries {
        let mut h = ::tar::Header::new_gnu();
        h.set_mode(0o644);
        h.set_size(c.len() as u64);
        b.append_data(&mut h, p, *c).unwrap();
    }
    b.into_inner().unwrap()
}

fn roundtrip(old: &Mem, new: &[u8]) -> (Stats, Vec<u8>) {
    let mut delta = Vec::new();
    let stats = encode(
        new,
        old,
        &mut delta,
        &Options {
            level: 3,
            ..Options::default()
        },
    )
    .unwrap();
    let mut out = Vec::new();
    let n = apply(&delta[..], &mut &*old, &mut out).unwrap();
    assert_eq!(n, new.len() as u64);
    assert_eq!(out, new, "the rebuilt tar is the new tar, byte for byte");
    assert_eq!(stats.tar_bytes, new.len() as u64);
    (stats, delta)
}

/// Deterministic pseudo-random bytes (xorshift), compressible only by a diff.
fn noise(seed: u64, n: usize) -> Vec<u8> {
    let mut x = seed | 1;
    (0..n)
        .map(|_| {
            x ^= x << 13;
            x ^= x >> 7;
            x ^= x << 17;
            x as u8
        })
        .collect()
}

#[test]
fn same_files_are_copied_changed_ones_diffed_new_ones_sent() {
    let lib = noise(1, 300_000);
    let mut lib2 = lib.clone();
    for i in (1000..lib2.len()).step_by(5000) {
        lib2[i] ^= 0x5a; // a patched library: a few bytes differ
    }
    lib2.extend_from_slice(b"a new symbol table entry");
    let bin = noise(2, 100_000);
    let old = Mem::new(&[tar(&[("usr/lib/libz.so.1.2", &lib), ("usr/bin/z", &bin)])]);
    let fresh = noise(3, 50_000);
    let new = tar(&[
        ("usr/lib/libz.so.1.3", &lib2),
        ("usr/bin/zz", &bin),
        ("usr/share/new", &fresh),
        ("usr/share/tiny", b"hi"),
    ]);
    let (stats, delta) = roundtrip(&old, &new);
    assert_eq!(
        (stats.copied, stats.diffed, stats.literal),
        (1, 1, 2),
        "{stats:?}"
    );
    // The delta holds the fresh file and little else: the library's diff compresses to
    // almost nothing, the copied binary costs a few bytes.
    assert!(
        delta.len() < fresh.len() + 20_000,
        "delta {} bytes",
        delta.len()
    );
    assert!(delta.len() > fresh.len(), "random bytes do not compress");
}

#[test]
fn ostree_objects_are_matched_by_their_deployed_names() {
    // The old image as ostree-format layers write it: the object, then its deployed name
    // as a hard link to it.
    let lib = noise(4, 200_000);
    let mut b = ::tar::Builder::new(Vec::new());
    let mut h = ::tar::Header::new_gnu();
    h.set_mode(0o644);
    h.set_size(lib.len() as u64);
    b.append_data(&mut h, "sysroot/ostree/repo/objects/ab/cd.file", &lib[..])
        .unwrap();
    let mut h = ::tar::Header::new_gnu();
    h.set_entry_type(::tar::EntryType::Link);
    h.set_mode(0o644);
    b.append_link(
        &mut h,
        "usr/lib/liby.so",
        "sysroot/ostree/repo/objects/ab/cd.file",
    )
    .unwrap();
    let old = Mem::new(&[b.into_inner().unwrap()]);
    assert!(old
        .idx
        .get("sysroot/ostree/repo/objects/ab/cd.file")
        .is_none());
    assert!(
        old.stored.contains_key("usr/lib/liby.so"),
        "the deployed name's content was kept"
    );
    let mut lib2 = lib.clone();
    lib2[100] ^= 1;
    let (stats, _) = roundtrip(
        &old,
        &tar(&[("usr/lib/liby.so", &lib2), ("usr/lib/copy", &lib)]),
    );
    assert_eq!((stats.copied, stats.diffed), (1, 1), "{stats:?}");
}

#[test]
fn random_tars_round_trip_against_random_old_trees() {
    for seed in 0..40u64 {
        let n = (seed % 7) as usize + 1;
        let files: Vec<(String, Vec<u8>)> = (0..n)
            .map(|i| {
                (
                    format!("usr/{}/f{}", seed % 3, i),
                    noise(
                        seed * 31 + i as u64,
                        (seed as usize * 977 + i * 131) % 70_000,
                    ),
                )
            })
            .collect();
        let old_entries: Vec<(&str, &[u8])> = files
            .iter()
            .map(|(p, c)| (p.as_str(), c.as_slice()))
            .collect();
        let old = Mem::new(&[tar(&old_entries)]);
        let mut new_files = files.clone();
        for (i, (p, c)) in new_files.iter_mut().enumerate() {
            match (seed as usize + i) % 4 {
                0 => {}
                1 => c.truncate(c.len() / 2),
                2 => c.extend_from_slice(&noise(seed + 99, 300)),
                _ => *p = format!("opt/{p}"),
            }
        }
        let entries: Vec<(&str, &[u8])> = new_files
            .iter()
            .map(|(p, c)| (p.as_str(), c.as_slice()))
            .collect();
        let mut new = tar(&entries);
        if seed % 5 == 0 {
            new.extend_from_slice(b"trailing bytes after the archive");
        }
        if seed % 6 == 0 {
            new.truncate(new.len() - 700); // cut inside the trailer or the last member
        }
        roundtrip(&old, &new);
    }
}

#[test]
fn the_applier_refuses_what_it_must() {
    let old = Mem::new(&[tar(&[("usr/a", &noise(9, 5000))])]);
    let run = |ops: &[u8], magic: &[u8]| {
        let mut d = magic.to_vec();
        d.extend(zstd::encode_all(ops, 3).unwrap());
        apply(&d[..], &mut &old, io::sink())
            .map(|_| ())
            .map_err(|e| e.to_string())
    };
    let v1 = crate::limits::MAGIC_V1.as_slice();
    assert!(run(&[0, 2, b'o', b'k'], v1).is_ok());
    assert!(run(&[], b"tardf9\n\0").unwrap_err().contains("bad magic"));
    assert!(run(&[], crate::limits::MAGIC_V2)
        .unwrap_err()
        .contains("tardf2"));
    assert!(run(&[2, 5], v1).unwrap_err().contains("before any OPEN"));
    assert!(
        run(&[1, 8, b'u', b's', b'r', b'/', b'.', b'.', b'/', b'a'], v1)
            .unwrap_err()
            .contains("plain relative")
    );
    assert!(run(&[1, 5, b'u', b's', b'r', b'/', b'b'], v1)
        .unwrap_err()
        .contains("usr/b"));
    assert!(
        run(&[1, 5, b'u', b's', b'r', b'/', b'a', 2, 0xa0, 0x9c, 1], v1)
            .unwrap_err()
            .contains("past its end")
    );
    assert!(run(&[5, 0], v1).unwrap_err().contains("unknown op 5"));
    assert!(run(&[0, 0xff, 0xff, 0xff, 0xff, 0x0f], v1)
        .unwrap_err()
        .contains("over the bound"));
    assert!(run(&[0, 10, b'a'], v1).unwrap_err().contains("cut short"));
    assert!(run(&[0, 0x80], v1).unwrap_err().contains("cut short"));
}

/// Found by fuzz/tar_diff_encode: a stream cut inside a member's content is still a stream
/// of bytes to rebuild (the encoder must not fail on it), for a small and a spilled member.
#[test]
fn a_stream_cut_inside_a_members_content_round_trips() {
    let old = Mem::new(&[tar(&[("usr/a", &noise(5, 1000))])]);
    for size in [40_000usize, (crate::limits::MAX_BUFFERED + 10_000) as usize] {
        let full = tar(&[("usr/a", &noise(5, 1000)), ("usr/b", &noise(6, size))]);
        // Cut in the middle of usr/b's content.
        let cut = &full[..512 * 3 + size / 2];
        roundtrip(&old, cut);
    }
}
