use super::*;

#[test]
fn tree_files_are_read_by_descriptor_and_odd_files_refused_without_blocking() {
    use std::os::unix::fs::PermissionsExt;
    let dir = tempfile::tempdir().expect("tempdir");
    let root = dir.path();
    std::fs::create_dir_all(root.join("usr/d")).unwrap();
    std::fs::write(root.join("usr/f"), b"content").unwrap();
    std::fs::set_permissions(root.join("usr/f"), std::fs::Permissions::from_mode(0o4750)).unwrap();
    xattr::set(root.join("usr/f"), "user.b", b"2").unwrap();
    xattr::set(root.join("usr/f"), "user.a", b"1").unwrap();
    std::os::unix::fs::symlink("../x//y", root.join("usr/l")).unwrap();
    rustix::fs::mknodat(
        rustix::fs::CWD,
        root.join("usr/fifo"),
        rustix::fs::FileType::Fifo,
        rustix::fs::Mode::from_raw_mode(0o644),
        0,
    )
    .unwrap();
    let files = TreeFiles {
        root: root.to_path_buf(),
        etc: EtcOnDisk::InUsr,
    };
    let f = files.load("usr/f").expect("regular file");
    assert_eq!(f.mode, 0o104_750);
    assert_eq!(
        f.xattrs,
        serialize_xattrs(vec![
            (b"user.a".to_vec(), b"1".to_vec()),
            (b"user.b".to_vec(), b"2".to_vec())
        ])
    );
    let Body::Regular {
        size, mut reader, ..
    } = f.body
    else {
        panic!("a regular file");
    };
    let mut data = Vec::new();
    reader.read_to_end(&mut data).unwrap();
    assert_eq!((size, data.as_slice()), (7, &b"content"[..]));
    let l = files.load("usr/l").expect("symlink");
    assert!(matches!(l.body, Body::Symlink(ref t) if t == "../x//y"));
    assert_eq!(l.mode & S_IFMT, S_IFLNK);
    // A FIFO or a directory where a file was: refused at once, not waited on.
    for odd in ["usr/fifo", "usr/d"] {
        let e = files.load(odd).err().expect(odd);
        assert!(e.to_string().contains("not a regular file"), "{odd}: {e}");
    }
    assert!(files.load("usr/missing").is_err());
}

#[test]
fn prune_paths_are_tree_paths() {
    assert_eq!(prune_path("/sysroot/").as_deref(), Ok("sysroot"));
    assert_eq!(prune_path("var/cache").as_deref(), Ok("var/cache"));
    assert!(prune_path("/").is_err());
    assert!(prune_path("a/../b").is_err());
    assert!(prune_path("a//b").is_err());
}

#[test]
fn etc_is_found_where_the_tree_keeps_it() {
    assert_eq!(
        EtcOnDisk::InUsr.disk_path("etc/hostname"),
        "usr/etc/hostname"
    );
    assert_eq!(EtcOnDisk::InUsr.disk_path("etc"), "usr/etc");
    assert_eq!(EtcOnDisk::InUsr.disk_path("etcetera/x"), "etcetera/x");
    assert_eq!(EtcOnDisk::InUsr.disk_path("usr/bin/sh"), "usr/bin/sh");
    assert_eq!(EtcOnDisk::Top.disk_path("etc/hostname"), "etc/hostname");
    // Listed as an image shows it.
    let d = tempfile::tempdir().unwrap();
    std::fs::create_dir_all(d.path().join("usr/etc")).unwrap();
    std::fs::create_dir_all(d.path().join("usr/bin")).unwrap();
    std::fs::write(d.path().join("usr/etc/hostname"), "h").unwrap();
    let e = EtcOnDisk::of(d.path());
    assert_eq!(e, EtcOnDisk::InUsr);
    assert_eq!(e.image_names(d.path(), "").unwrap(), ["etc", "usr"]);
    assert_eq!(e.image_names(d.path(), "usr").unwrap(), ["bin"]);
    assert_eq!(e.image_names(d.path(), "etc").unwrap(), ["hostname"]);
    std::fs::create_dir(d.path().join("etc")).unwrap();
    assert_eq!(EtcOnDisk::of(d.path()), EtcOnDisk::Top);
}
