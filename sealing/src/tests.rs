//! The digests over hand-made layers: what must change them and what must not.

use super::*;

/// A layer of (path, kind) entries: `d` a directory, `f:TEXT` a file, `w` a whiteout file,
/// `l:TARGET` a hard link; mode 0755/0644, mtime 0.
fn layer(entries: &[(&str, &str)]) -> Vec<u8> {
    let mut b = ::tar::Builder::new(Vec::new());
    for (path, kind) in entries {
        let mut h = ::tar::Header::new_gnu();
        h.set_mtime(0);
        if *kind == "d" {
            h.set_entry_type(::tar::EntryType::Directory);
            h.set_mode(0o755);
            h.set_size(0);
            b.append_data(&mut h, path, &[][..]).unwrap();
        } else if let Some(target) = kind.strip_prefix("l:") {
            h.set_entry_type(::tar::EntryType::Link);
            h.set_size(0);
            b.append_link(&mut h, path, target).unwrap();
        } else {
            let text = kind.strip_prefix("f:").unwrap_or("");
            h.set_mode(0o644);
            h.set_size(text.len() as u64);
            b.append_data(&mut h, path, text.as_bytes()).unwrap();
        }
    }
    b.into_inner().unwrap()
}

fn digests(layers: &[Vec<u8>]) -> Result<Digests> {
    let work = tempfile::tempdir().unwrap();
    let mut m = Merger::new(work.path())?;
    for l in layers {
        m.add_layer(&l[..])?;
    }
    m.finish()
}

const BIG: &str = "a file of more than sixty-four bytes, known by its fs-verity digest only";

#[test]
fn the_merged_digest_follows_the_merged_tree_not_the_layers() {
    let base = [
        ("usr", "d"),
        ("usr/bin", "d"),
        ("usr/bin/a", "f:one"),
        ("usr/lib", "d"),
    ];
    let one = digests(&[layer(&[
        base[0],
        base[1],
        base[2],
        base[3],
        ("usr/lib/big", &format!("f:{BIG}")),
    ])])
    .unwrap();
    assert_eq!(one.merged.len(), 128, "SHA-512 in hex");
    assert!(
        one.bootable.is_none() && one.not_bootable.is_some(),
        "no /boot, /sysroot: {one:?}"
    );
    // The same tree in two layers, a file added in the second: the same digest.
    let two = digests(&[
        layer(&base),
        layer(&[
            ("usr", "d"),
            ("usr/lib", "d"),
            ("usr/lib/big", &format!("f:{BIG}")),
        ]),
    ])
    .unwrap();
    assert_eq!(one.merged, two.merged);
    // A whiteout in a later layer removes what an earlier one added.
    let with_gone = digests(&[
        layer(&[
            base[0],
            base[1],
            base[2],
            base[3],
            ("usr/lib/big", &format!("f:{BIG}")),
            ("usr/lib/gone", "f:x"),
        ]),
        layer(&[("usr", "d"), ("usr/lib", "d"), ("usr/lib/.wh.gone", "w")]),
    ])
    .unwrap();
    assert_eq!(one.merged, with_gone.merged);
    // One byte of a large file changes it; so does a hard link.
    let changed = digests(&[layer(&[
        base[0],
        base[1],
        base[2],
        base[3],
        ("usr/lib/big", &format!("f:{BIG}!")),
    ])])
    .unwrap();
    assert_ne!(one.merged, changed.merged);
    let linked = digests(&[layer(&[
        base[0],
        base[1],
        base[2],
        base[3],
        ("usr/lib/big", &format!("f:{BIG}")),
        ("usr/lib/big2", "l:usr/lib/big"),
    ])])
    .unwrap();
    assert_ne!(one.merged, linked.merged);
}

#[test]
fn a_bootable_tree_has_a_bootable_digest_and_bad_trees_are_refused() {
    let boot = digests(&[layer(&[
        ("usr", "d"),
        ("usr/bin", "d"),
        ("usr/bin/a", "f:one"),
        ("boot", "d"),
        ("boot/vmlinuz", "f:kernel"),
        ("sysroot", "d"),
    ])])
    .unwrap();
    let b = boot.bootable.clone().unwrap();
    assert_eq!(b.len(), 128);
    assert_ne!(b, boot.merged, "the boot transform empties /boot");
    // An entry whose parent no layer made; an image without /usr.
    let e = digests(&[layer(&[("usr", "d"), ("usr/lib/x", "f:x")])]).unwrap_err();
    assert!(format!("{e:#}").contains("does not exist"), "{e:#}");
    let e = digests(&[layer(&[("etc", "d"), ("etc/x", "f:x")])]).unwrap_err();
    assert!(format!("{e:#}").contains("/usr"), "{e:#}");
}

#[test]
fn the_config_digest_is_fs_verity_of_the_bytes() {
    let a = config_digest(b"{}");
    assert_eq!(a.len(), 128);
    assert_ne!(a, config_digest(b"{} "));
}
