//! The real oci-delta consumers (tests/delta-consumers: composefs-oci 0.9.4 and the
//! `oci-delta` crate 0.1.1), which our deltas must satisfy.

use super::*;
use std::path::{Path, PathBuf};
use std::process::Command;
use std::sync::OnceLock;

/// The consumer binary, built once per test run. CI builds it up front;
/// `ENCAP_DELTA_CONSUMERS` may point at a prebuilt binary.
pub fn delta_consumers() -> PathBuf {
    static BIN: OnceLock<PathBuf> = OnceLock::new();
    BIN.get_or_init(|| {
        if let Ok(p) = std::env::var("ENCAP_DELTA_CONSUMERS") {
            return PathBuf::from(p);
        }
        let manifest = workspace_root().join("tests/delta-consumers/Cargo.toml");
        run_ok(
            Command::new(env!("CARGO"))
                .args(["build", "--release", "--quiet", "--manifest-path"])
                .arg(&manifest),
        );
        workspace_root().join("tests/delta-consumers/target/release/delta-consumers")
    })
    .clone()
}

/// The consumer binary's JSON for `args`, or its stderr.
fn consumer(args: &[&std::ffi::OsStr]) -> Result<serde_json::Value, String> {
    let out = Command::new(delta_consumers())
        .args(args)
        .env("RUST_BACKTRACE", "0")
        .output()
        .unwrap();
    if !out.status.success() {
        return Err(String::from_utf8_lossy(&out.stderr).into_owned());
    }
    Ok(serde_json::from_slice(&out.stdout).unwrap())
}

/// composefs-oci pulls `old`, then `delta` into the same repository, and `new` into
/// another: its JSON (manifest digests and EROFS ids both ways), or its stderr.
pub fn consumer_pull(old: &str, delta: &str, new: &str) -> Result<serde_json::Value, String> {
    consumer(&["pull".as_ref(), old.as_ref(), delta.as_ref(), new.as_ref()])
}

/// The `oci-delta` crate rebuilds every layer of the delta file `delta_dir` (a layout)
/// against the files under `source`: its JSON, or its stderr.
pub fn consumer_rebuild(delta_dir: &Path, source: &Path) -> Result<serde_json::Value, String> {
    consumer(&[
        "rebuild".as_ref(),
        delta_dir.as_os_str(),
        source.as_os_str(),
    ])
}

/// composefs-oci pulls `image` (`oci:DIR:TAG`) into fresh SHA-512 repositories as bootc
/// does: its JSON (`merged`, `bootable` or null), or its stderr.
pub fn consumer_composefs_id(image: &str) -> Result<serde_json::Value, String> {
    consumer(&["composefs-id".as_ref(), image.as_ref()])
}
