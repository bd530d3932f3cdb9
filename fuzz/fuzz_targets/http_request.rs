//! serve's HTTP (repo-server: hyper with our bounds, and our request handling) on arbitrary
//! bytes sent on one connection: never a panic, well-formed answers, never a file outside
//! the served directory, and a request that carries a body closes the connection.
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
        let dir = cap_std::fs::Dir::open_ambient_dir(
            d.path().join("served"),
            cap_std::ambient_authority(),
        )
        .expect("open");
        (d, dir)
    })
}

fuzz_target!(|data: &[u8]| {
    let request = &data[..data.len().min(repo_server::MAX_HEAD)];
    let out = repo_server::answer(request, &root().1).expect("a runtime");
    let text = String::from_utf8_lossy(&out);
    // Nothing, or responses: the first a well-formed status line (HTTP/1.0 to a 1.0 client).
    assert!(
        out.is_empty() || text.starts_with("HTTP/1.1 ") || text.starts_with("HTTP/1.0 "),
        "{text:?}"
    );
    assert!(!text.contains("SECRET-BYTES"), "{text:?}");
    // A request with a body is answered once, then the connection is closed: the body is
    // never taken as a request (the served files never hold "HTTP/1.").
    if text.starts_with("HTTP/1.1 413 ") || text.starts_with("HTTP/1.0 413 ") {
        assert_eq!(text.matches("HTTP/1.").count(), 1, "{text:?}");
    }
});
