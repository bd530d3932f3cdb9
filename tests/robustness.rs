//! Hostile input, damaged state and odd options: each test reproduces one defect an outside
//! test pass found (issue 13), so it fails on the code before the fix. No panic, no image
//! that fails its own `verify` with exit 0, nothing written before the inputs are checked,
//! and reading never writes.

mod common;

use common::*;
use std::path::Path;
use std::process::Output;

fn sha(data: &[u8]) -> String {
    format!(
        "sha256:{}",
        hex::encode(<sha2::Sha256 as sha2::Digest>::digest(data))
    )
}

fn put_blob(dir: &Path, data: &[u8]) -> String {
    let d = sha(data);
    std::fs::write(dir.join("blobs/sha256").join(&d[7..]), data).unwrap();
    d
}

/// Rewrite the manifest of the only image in `out` with `f` and repair the index.
fn rewrite_manifest(out: &Path, f: impl FnOnce(&mut serde_json::Value)) {
    let mut idx = index(out);
    let mdigest = idx["manifests"][0]["digest"].as_str().unwrap().to_string();
    let mut m = json(&String::from_utf8(blob(out, &mdigest)).unwrap());
    f(&mut m);
    let mbytes = serde_json::to_vec(&m).unwrap();
    idx["manifests"][0]["digest"] = put_blob(out, &mbytes).into();
    idx["manifests"][0]["size"] = mbytes.len().into();
    std::fs::write(out.join("index.json"), serde_json::to_vec(&idx).unwrap()).unwrap();
}

/// Not a panic: exit status 1 and no Rust backtrace text.
fn assert_clean_failure(o: &Output) -> String {
    let err = String::from_utf8_lossy(&o.stderr).into_owned();
    assert_eq!(
        o.status.code(),
        Some(1),
        "exit status {:?}: {err}",
        o.status
    );
    assert!(!err.contains("panicked"), "{err}");
    err
}

/// Every file and directory under `dir`, relative, sorted.
fn tree_listing(dir: &Path) -> Vec<String> {
    fn walk(root: &Path, d: &Path, out: &mut Vec<String>) {
        for e in std::fs::read_dir(d).unwrap() {
            let e = e.unwrap();
            let p = e.path();
            out.push(p.strip_prefix(root).unwrap().display().to_string());
            if e.file_type().unwrap().is_dir() {
                walk(root, &p, out);
            }
        }
    }
    let mut v = Vec::new();
    walk(dir, dir, &mut v);
    v.sort();
    v
}

// Defect 6: `diff` sliced a digest string and summed sizes without checks.
#[test]
fn diff_refuses_bad_digests_and_sizes_without_panicking() {
    let fx = Fixture::new("basic");
    let old = fx.path("old");
    encap_ok(job(&fx.repo, FIXTURE_REF, &old, &[]));
    for (bad, expect) in [
        (serde_json::json!("sha256:abc"), "digest"),
        (serde_json::json!("sha256:ééééééééééé"), "digest"),
    ] {
        let new = fx.path("new");
        let _ = std::fs::remove_dir_all(&new);
        encap_ok(job(&fx.repo, FIXTURE_REF, &new, &[]));
        rewrite_manifest(&new, |m| m["layers"][0]["digest"] = bad.clone());
        let o = encap(["diff", old.to_str().unwrap(), new.to_str().unwrap()]);
        let err = assert_clean_failure(&o);
        assert!(err.contains(expect), "{err}");
    }
    let new = fx.path("huge");
    encap_ok(job(&fx.repo, FIXTURE_REF, &new, &[]));
    rewrite_manifest(&new, |m| {
        m["layers"][0]["size"] = u64::MAX.into();
        m["layers"][0]["digest"] = format!("sha256:{}", "0".repeat(64)).into();
    });
    let o = encap(["diff", old.to_str().unwrap(), new.to_str().unwrap()]);
    let err = assert_clean_failure(&o);
    assert!(err.contains("size"), "{err}");
}

// Defect 7: an annotation that shadows a label made an image that fails its own verify.
#[test]
fn annotations_cannot_shadow_labels() {
    let fx = Fixture::new("basic");
    let out = fx.path("out");
    for a in [
        "ostree.commit=x",
        "ostree.final-diffid=sha256:00",
        "org.opencontainers.image.version=9",
    ] {
        let err = encap_err(job(&fx.repo, FIXTURE_REF, &out, &["--annotation", a]));
        let key = a.split('=').next().unwrap();
        assert!(
            err.contains("--annotation") && err.contains(key) && err.contains("label"),
            "{err}"
        );
        assert!(!out.exists(), "output created for a refused option");
    }
    // An annotation of its own is fine, and the image verifies.
    encap_ok(job(&fx.repo, FIXTURE_REF, &out, &["--annotation", "x.y=z"]));
    encap_ok(["verify", "--oci-dir", out.to_str().unwrap()]);
}

// Defect 8: --jobs 100000 panicked spawning threads, after creating the output.
#[test]
fn absurd_jobs_are_refused_before_anything_is_written() {
    let fx = Fixture::new("basic");
    let out = fx.path("out");
    let o = encap(job(&fx.repo, FIXTURE_REF, &out, &["--jobs", "100000"]));
    let err = assert_clean_failure(&o);
    assert!(err.contains("--jobs 100000"), "{err}");
    assert!(!out.exists(), "output created for a refused option");
}

// Defect 9: file options were read whole, without a limit.
#[test]
fn file_options_are_read_with_a_limit() {
    let fx = Fixture::new("basic");
    let out = fx.path("out");
    for flag in ["--config", "--contentmeta"] {
        let start = std::time::Instant::now();
        let o = encap(job(&fx.repo, FIXTURE_REF, &out, &[flag, "/dev/zero"]));
        let err = assert_clean_failure(&o);
        assert!(
            err.contains(flag) && err.contains("/dev/zero") && err.contains("larger than"),
            "{err}"
        );
        assert!(
            start.elapsed().as_secs() < 20,
            "{flag} took {:?}",
            start.elapsed()
        );
        assert!(!out.exists());
    }
}

// Defect 11: a short hex prefix was taken as a commit (and hid all-hex branch names).
#[test]
fn ref_is_a_full_checksum_or_a_branch() {
    let fx = Fixture::new("basic");
    let out = fx.path("out");
    let prefix = &fx.commit[..8];
    let err = encap_err(job(&fx.repo, prefix, &out, &[]));
    assert!(
        err.contains(prefix) && err.contains("full 64-hex") && err.contains("branch"),
        "{err}"
    );
    assert!(!out.exists());
    // An all-hex branch name is a branch.
    ostree(&fx.repo, ["refs", "--create=cafe", &fx.commit]);
    let s = json(&encap_ok(job(&fx.repo, "cafe", &out, &["--json"])));
    assert_eq!(s["commit"], fx.commit.as_str());
}

// Defect 12: empty, multi-line or non-ASCII tags and arches were accepted.
#[test]
fn tags_and_arches_are_validated() {
    let fx = Fixture::new("basic");
    let out = fx.path("out");
    for tag in ["", "a\nb", "tägg", "-lead", &"x".repeat(129)] {
        let err = encap_err(job(&fx.repo, FIXTURE_REF, &out, &["--tag", tag]));
        assert!(err.contains("--tag"), "{tag:?}: {err}");
        assert!(!out.exists());
    }
    for arch in ["", "x86 64", "notanarch"] {
        let err = encap_err(job(&fx.repo, FIXTURE_REF, &out, &["--arch", arch]));
        assert!(err.contains("--arch"), "{arch:?}: {err}");
        assert!(!out.exists());
    }
    // Good ones, aliases included.
    let s = json(&encap_ok(job(
        &fx.repo,
        FIXTURE_REF,
        &out,
        &["--tag", "v1.2_3-rc.4", "--arch", "aarch64", "--json"],
    )));
    assert_eq!(s["architecture"], "arm64");
}

// Defect 14: reading a layout created blobs/sha256 in it.
#[test]
fn reading_never_writes() {
    let fx = Fixture::new("basic");
    let out = fx.path("out");
    encap_ok(job(&fx.repo, FIXTURE_REF, &out, &[]));
    let bare = fx.path("bare");
    std::fs::create_dir(&bare).unwrap();
    std::fs::copy(out.join("oci-layout"), bare.join("oci-layout")).unwrap();
    std::fs::copy(out.join("index.json"), bare.join("index.json")).unwrap();
    let before = tree_listing(&bare);
    let b = bare.to_str().unwrap();
    for args in [
        vec!["verify", "--oci-dir", b],
        vec!["diff", b, out.to_str().unwrap()],
        vec!["import", "--oci-dir", b, "--repo", "/nonexistent/never"],
    ] {
        let err = encap_err(&args);
        assert!(!err.contains("refusing to write"), "{args:?}: {err}");
        assert_eq!(tree_listing(&bare), before, "{args:?} wrote into its input");
    }
    assert!(!Path::new("/nonexistent/never").exists());
}

// Defect 15: import and push checked some arguments only after doing the work.
#[test]
fn import_and_push_check_arguments_first() {
    let fx = Fixture::new("basic");
    let out = fx.path("out");
    encap_ok(job(&fx.repo, FIXTURE_REF, &out, &[]));
    let o = out.to_str().unwrap();
    // A bad branch name: refused before any object is stored.
    let repo = fx.path("imported");
    ostree(&repo, ["init", "--mode=archive"]);
    let before = tree_listing(&repo);
    let err = encap_err([
        "import",
        "--oci-dir",
        o,
        "--repo",
        repo.to_str().unwrap(),
        "--branch",
        "../x",
    ]);
    assert!(err.contains("--branch") && err.contains("../x"), "{err}");
    assert_eq!(
        tree_listing(&repo),
        before,
        "import stored objects before refusing"
    );
    // A non-empty directory that is not a repo: refused, and left as it was.
    let other = fx.path("other");
    std::fs::create_dir(&other).unwrap();
    std::fs::write(other.join("notes.txt"), "mine").unwrap();
    let err = encap_err(["import", "--oci-dir", o, "--repo", other.to_str().unwrap()]);
    assert!(
        err.contains(other.to_str().unwrap()) && err.contains("not"),
        "{err}"
    );
    assert_eq!(tree_listing(&other), vec!["notes.txt".to_string()]);
    // A missing auth file is an error, not a push without credentials.
    let err = encap_err([
        "push",
        "--oci-dir",
        o,
        "--authfile",
        "/nonexistent/auth.json",
        "oci:/nonexistent-dest",
    ]);
    assert!(
        err.contains("--authfile") && err.contains("/nonexistent/auth.json"),
        "{err}"
    );
    let err = encap_err(job(
        &fx.repo,
        FIXTURE_REF,
        &fx.path("out2"),
        &[
            "--push",
            "oci:/tmp/x",
            "--authfile",
            "/nonexistent/auth.json",
        ],
    ));
    assert!(err.contains("--authfile"), "{err}");
    assert!(!fx.path("out2").exists());
}
