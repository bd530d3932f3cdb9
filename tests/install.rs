//! `make install` honours DESTDIR/PREFIX, and `ostree encap` works as an ostree CLI extension
//! with Debian's ostree. The install test installs the binaries this test run built
//! (`make install-files BUILDDIR=target/debug`) into a temp DESTDIR, generating the docs in a
//! temp dir: no release build, nothing written to the source tree.

mod common;

use common::*;
use std::path::Path;
use std::process::Command;

#[test]
fn make_install_into_destdir() {
    let td = tempfile::tempdir().unwrap();
    let dest = td.path().join("root");
    let top = workspace_root();
    // The plugin's binary is another package's: built here if this run did not build it.
    run_ok(
        Command::new(std::env::var("CARGO").unwrap_or_else(|_| "cargo".into()))
            .current_dir(&top)
            .args(["build", "--quiet", "-p", "cosa-plugin", "--bins"]),
    );
    let bin = Path::new(env!("CARGO_BIN_EXE_ostree-encap"));
    let o = Command::new("make")
        .arg("-C")
        .arg(&top)
        .arg("install-files")
        .arg(format!("BUILDDIR={}", bin.parent().unwrap().display()))
        .arg(format!("DOCSDIR={}", td.path().join("docs").display()))
        .arg(format!("DESTDIR={}", dest.display()))
        .arg("PREFIX=/usr")
        .output()
        .unwrap();
    assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
    for f in [
        "usr/bin/ostree-encap",
        "usr/lib/coreos-assembler/cmd-buildextend-container",
        "usr/lib/coreos-assembler/cmd-buildextend-container-manifest",
        "usr/share/man/man1/ostree-encap.1",
        "usr/share/man/man1/ostree-encap-verify.1",
        "usr/share/bash-completion/completions/ostree-encap",
        "usr/share/zsh/site-functions/_ostree-encap",
        "usr/share/fish/vendor_completions.d/ostree-encap.fish",
    ] {
        assert!(dest.join(f).is_file(), "{f} not installed");
    }
    let link = dest.join("usr/libexec/libostree/ext/ostree-encap");
    assert_eq!(
        std::fs::read_link(&link).unwrap(),
        Path::new("/usr/bin/ostree-encap")
    );
    let man = std::fs::read_to_string(dest.join("usr/share/man/man1/ostree-encap.1")).unwrap();
    assert!(
        man.contains("max\\-layers") || man.contains("max-layers"),
        "man page lacks options"
    );
    let bash =
        std::fs::read_to_string(dest.join("usr/share/bash-completion/completions/ostree-encap"))
            .unwrap();
    assert!(bash.contains("--oci-dir"));
}

/// Removes the extension link it made, even when the test fails.
struct ExtLink(&'static Path);
impl Drop for ExtLink {
    fn drop(&mut self) {
        let _ = std::fs::remove_file(self.0);
    }
}

#[test]
fn ostree_encap_runs_as_an_ostree_extension() {
    let ext = Path::new("/usr/libexec/libostree/ext/ostree-encap");
    if ext.exists() {
        // An installed copy: use it as it is.
    } else {
        std::fs::create_dir_all(ext.parent().unwrap())
            .expect("the test needs root to place the extension link");
        std::os::unix::fs::symlink(workspace_root().join("target/debug/ostree-encap"), ext)
            .unwrap();
    }
    let _guard = ExtLink(ext);
    let fx = Fixture::new("basic");
    let out = fx.path("oci");
    let o = run_ok(Command::new("ostree").args([
        "encap",
        "--repo",
        fx.repo.to_str().unwrap(),
        "--ref",
        FIXTURE_REF,
        "--oci-dir",
        out.to_str().unwrap(),
        "--json",
    ]));
    let s = json(&String::from_utf8_lossy(&o.stdout));
    assert_eq!(s["commit"], fx.commit.as_str());
    let o = run_ok(Command::new("ostree").args([
        "encap",
        "verify",
        "--oci-dir",
        out.to_str().unwrap(),
    ]));
    assert!(String::from_utf8_lossy(&o.stdout).contains(&fx.commit));
}
