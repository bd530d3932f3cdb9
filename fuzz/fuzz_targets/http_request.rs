//! serve's request handling (repo-server) on arbitrary request heads: never a panic, always
//! one well-formed status line, never a file outside the served directory, and a request
//! that carries a body (which is never read) always closes the connection.
#![no_main]
use libfuzzer_sys::fuzz_target;
use std::sync::OnceLock;

/// A served directory with one file, and a secret beside it that must never be sent.
fn root() -> &'static (tempfile::TempDir, cap_std::fs::Dir) {
    static ROOT: OnceLock<(tempfile::TempDir, cap_std::fs::Dir)> = OnceLock::new();
    ROOT.get_or_init(|| {
        let d = tempfile::tempdir().expect("tempdir");
        std::fs::create_dir_all(d.path().join("served/objects/ab")).expect("mkdir");
        std::fs::write(d.path().join("served/config"), b"[core]\n").expect("write");
        std::fs::write(d.path().join("served/objects/ab/cd.filez"), b"0123456789").expect("write");
        std::fs::write(d.path().join("secret"), b"SECRET-BYTES").expect("write");
        let dir = cap_std::fs::Dir::open_ambient_dir(d.path().join("served"), cap_std::ambient_authority())
            .expect("open");
        (d, dir)
    })
}

fuzz_target!(|data: &[u8]| {
    let head = &data[..data.len().min(repo_server::MAX_HEAD)];
    let mut out = Vec::new();
    let (status, keep) = repo_server::answer(head, &root().1, &mut out);
    let text = String::from_utf8_lossy(&out);
    assert!(text.starts_with(&format!("HTTP/1.1 {status} ")), "{text:?}");
    assert!(!text.contains("SECRET-BYTES"), "{text:?}");
    let lower = String::from_utf8_lossy(head).to_ascii_lowercase();
    if status == 413 || (status == 400 && lower.contains("transfer-encoding")) {
        assert!(!keep);
    }
});
