//! The `--from` layer applier on arbitrary tar bytes: applied to a fresh directory inside a
//! parent that also holds a sentinel tree, it may fail but never panic, and never change
//! anything outside its directory (the sentinel and the parent's listing stay as they were).
#![no_main]
use libfuzzer_sys::fuzz_target;
use std::path::Path;

/// Every path under `dir` with its type, size and target: what must not change.
fn listing(dir: &Path) -> Vec<String> {
    let mut out = Vec::new();
    let mut stack = vec![dir.to_path_buf()];
    while let Some(d) = stack.pop() {
        let Ok(rd) = std::fs::read_dir(&d) else { continue };
        for e in rd.flatten() {
            let p = e.path();
            let md = std::fs::symlink_metadata(&p).expect("lstat");
            let link = std::fs::read_link(&p).ok();
            out.push(format!("{} {:?} {} {:?}", p.display(), md.file_type(), md.len(), link));
            if md.is_dir() {
                stack.push(p);
            }
        }
    }
    out.sort();
    out
}

fuzz_target!(|data: &[u8]| {
    let td = tempfile::tempdir().expect("tempdir");
    let sentinel = td.path().join("sentinel");
    std::fs::create_dir_all(sentinel.join("etc")).expect("mkdir");
    std::fs::write(sentinel.join("etc/passwd"), b"root:x:0:0\n").expect("write");
    std::os::unix::fs::symlink("etc", sentinel.join("link")).expect("symlink");
    let into = td.path().join("tree");
    std::fs::create_dir(&into).expect("mkdir");
    let before = listing(&sentinel);
    let _ = ostree_encap::flatten::apply_layer_to(&into, data);
    assert_eq!(listing(&sentinel), before);
    let names: Vec<_> = std::fs::read_dir(td.path())
        .expect("read_dir")
        .flatten()
        .map(|e| e.file_name())
        .collect();
    assert_eq!(names.len(), 2, "{names:?}");
    assert_eq!(
        std::fs::read(sentinel.join("etc/passwd")).expect("read"),
        b"root:x:0:0\n"
    );
});
