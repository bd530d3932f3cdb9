//! Test harness, shared by every integration test (and cosa-plugin's): running the real
//! `ostree-encap` and `ostree` binaries (here), fixture commits ([`fixtures`]), reading
//! layouts back ([`layout`]), hand-made hostile layers ([`layers`]), the ostree-ext importer
//! ([`importer`]), throwaway GPG keys ([`gpg`]), a loopback registry ([`registry`]), real
//! dpkg/rpm databases ([`packages`]) and runs stopped at their pause points for kill -9 tests
//! ([`faults`]).
#![allow(dead_code)]

mod consumers;
mod faults;
mod fixtures;
mod gpg;
mod importer;
mod layers;
mod layout;
mod packages;
mod registry;
mod serving;

// Each test crate uses a different part of the harness.
#[allow(unused_imports)]
pub use {
    consumers::*, faults::*, fixtures::*, gpg::*, importer::*, layers::*, layout::*, packages::*,
    registry::*, serving::*,
};

use std::ffi::OsStr;
use std::path::{Path, PathBuf};
use std::process::{Command, Output, Stdio};

pub const FIXTURE_REF: &str = "fixture/x86_64/test";

/// The workspace root (this module is shared by the root crate's and cosa-plugin's tests).
pub fn workspace_root() -> PathBuf {
    let m = Path::new(env!("CARGO_MANIFEST_DIR"));
    if m.join("fixtures").is_dir() {
        m.to_path_buf()
    } else {
        m.parent().expect("workspace root").to_path_buf()
    }
}

/// Run a command, returning its output; panics with stderr if it fails.
pub fn run_ok(cmd: &mut Command) -> Output {
    let out = cmd
        .stdin(Stdio::null())
        .output()
        .unwrap_or_else(|e| panic!("spawning {cmd:?}: {e}"));
    assert!(
        out.status.success(),
        "{cmd:?} failed: {}\n{}",
        String::from_utf8_lossy(&out.stderr),
        String::from_utf8_lossy(&out.stdout)
    );
    out
}

pub fn ostree<I, S>(repo: &Path, args: I) -> String
where
    I: IntoIterator<Item = S>,
    S: AsRef<OsStr>,
{
    let out = run_ok(
        Command::new("ostree")
            .arg(format!("--repo={}", repo.display()))
            .args(args),
    );
    String::from_utf8_lossy(&out.stdout).trim().to_string()
}

/// Run `ostree-encap` with args; returns the output (success or not).
pub fn encap<I, S>(args: I) -> Output
where
    I: IntoIterator<Item = S>,
    S: AsRef<OsStr>,
{
    encap_command()
        .args(args)
        .stdin(Stdio::null())
        .output()
        .expect("running ostree-encap")
}

/// The `ostree-encap` binary under test, with no `SOURCE_DATE_EPOCH` from the environment.
pub fn encap_command() -> Command {
    let bin = option_env!("CARGO_BIN_EXE_ostree-encap")
        .map(PathBuf::from)
        .unwrap_or_else(|| workspace_root().join("target/debug/ostree-encap"));
    let mut c = Command::new(bin);
    c.env_remove("SOURCE_DATE_EPOCH");
    c
}

/// The main job's arguments as tests write them: `--repo REPO --ref REV`, then `--oci-dir OUT`
/// (`--oci-archive OUT` when OUT ends in `.ociarchive`), then `extra`.
pub fn job(repo: &Path, rev: &str, out: &Path, extra: &[&str]) -> Vec<String> {
    let target = if out.extension().is_some_and(|e| e == "ociarchive") {
        "--oci-archive"
    } else {
        "--oci-dir"
    };
    let mut a: Vec<String> = vec![
        "--repo".into(),
        repo.display().to_string(),
        "--ref".into(),
        rev.into(),
        target.into(),
        out.display().to_string(),
    ];
    a.extend(extra.iter().map(|s| s.to_string()));
    a
}

/// Run `ostree-encap`, requiring success; returns stdout.
pub fn encap_ok<I, S>(args: I) -> String
where
    I: IntoIterator<Item = S>,
    S: AsRef<OsStr>,
{
    let out = encap(args);
    assert!(
        out.status.success(),
        "ostree-encap failed: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8_lossy(&out.stdout).into_owned()
}

/// Run `ostree-encap` expecting failure; returns stderr.
pub fn encap_err<I, S>(args: I) -> String
where
    I: IntoIterator<Item = S>,
    S: AsRef<OsStr>,
{
    let out = encap(args);
    assert!(
        !out.status.success(),
        "ostree-encap unexpectedly succeeded: {}",
        String::from_utf8_lossy(&out.stdout)
    );
    String::from_utf8_lossy(&out.stderr).into_owned()
}

/// `VERB --oci-dir OUT:TAG` then `extra`: how tests name an image to `verify` or `import`.
pub fn on_image(verb: &str, out: &Path, tag: &str, extra: &[&str]) -> Vec<String> {
    let mut a = vec![
        verb.to_string(),
        "--oci-dir".to_string(),
        format!("{}:{tag}", out.display()),
    ];
    a.extend(extra.iter().map(|s| s.to_string()));
    a
}

/// A finished command: Ok, or its stderr.
pub fn ok_or_stderr(o: Output) -> Result<(), String> {
    if o.status.success() {
        Ok(())
    } else {
        Err(String::from_utf8_lossy(&o.stderr).into_owned())
    }
}

/// `ostree pull origin REV` into `repo`: Ok, or its stderr.
pub fn pull_origin(repo: &Path, rev: &str) -> Result<(), String> {
    let o = Command::new("ostree")
        .arg(format!("--repo={}", repo.display()))
        .args(["pull", "origin", rev])
        .stdin(std::process::Stdio::null())
        .output()
        .unwrap();
    ok_or_stderr(o)
}

/// Parse `--json` output.
pub fn json(s: &str) -> serde_json::Value {
    serde_json::from_str(s).unwrap_or_else(|e| panic!("not JSON ({e}): {s}"))
}
