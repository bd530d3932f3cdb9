//! The ostree-ext 0.15.3 importer (tests/importer), the peer our images must satisfy.

use super::*;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::sync::OnceLock;

/// The importer binary (tests/importer, ostree-ext 0.15.3), built once per test run. CI builds
/// it up front; `ENCAP_IMPORTER` may point at a prebuilt binary.
pub fn importer() -> PathBuf {
    static BIN: OnceLock<PathBuf> = OnceLock::new();
    BIN.get_or_init(|| {
        if let Ok(p) = std::env::var("ENCAP_IMPORTER") {
            return PathBuf::from(p);
        }
        let manifest = workspace_root().join("tests/importer/Cargo.toml");
        run_ok(
            Command::new(env!("CARGO"))
                .args(["build", "--release", "--quiet", "--manifest-path"])
                .arg(&manifest),
        );
        workspace_root().join("tests/importer/target/release/encap-importer")
    })
    .clone()
}

/// Import `imgref` into a fresh bare-user repo with ostree-ext; returns (repo, commit).
pub fn import(dir: &Path, imgref: &str) -> Result<(PathBuf, String), String> {
    let repo = dir.join(format!(
        "import-{}",
        hex::encode(&imgref.as_bytes()[imgref.len().saturating_sub(6)..])
    ));
    let _ = std::fs::remove_dir_all(&repo);
    ostree(&repo, ["init", "--mode=bare-user"]);
    import_into(&repo, imgref).map(|c| (repo, c))
}

/// Import `imgref` into an existing repo; returns the commit or the importer's stderr.
pub fn import_into(repo: &Path, imgref: &str) -> Result<String, String> {
    let v = run_importer(&[], repo, imgref)?;
    Ok(v["commit"].as_str().unwrap().to_string())
}

/// Import the derived image `imgref` (ostree layers, then plain layers) into a fresh
/// bare-user repo as bootc does (ostree-ext's `prepare` and `import`); returns (repo, base
/// commit, merge commit).
pub fn import_layered(dir: &Path, imgref: &str) -> Result<(PathBuf, String, String), String> {
    let repo = dir.join("import-layered");
    let _ = std::fs::remove_dir_all(&repo);
    ostree(&repo, ["init", "--mode=bare-user"]);
    let v = run_importer(&["--layered"], &repo, imgref)?;
    let s = |k: &str| v[k].as_str().unwrap().to_string();
    Ok((repo, s("base_commit"), s("merge_commit")))
}

/// The importer's JSON for `FLAGS REPO IMGREF`, or its stderr.
fn run_importer(flags: &[&str], repo: &Path, imgref: &str) -> Result<serde_json::Value, String> {
    let out = Command::new(importer())
        .args(flags)
        .arg(repo)
        .arg(imgref)
        .stdin(Stdio::null())
        .output()
        .expect("running importer");
    if !out.status.success() {
        return Err(String::from_utf8_lossy(&out.stderr).into_owned());
    }
    Ok(serde_json::from_slice(&out.stdout).expect("importer JSON"))
}
