//! Hostile input, damaged state and odd options: each test reproduces one defect an outside
//! test pass found (issue 13), so it fails on the code before the fix. No panic, no image
//! that fails its own `verify` with exit 0, nothing written before the inputs are checked,
//! and reading never writes.

mod common;

use common::*;
use std::path::Path;
use std::process::Output;

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
    // /dev/zero never ends: read without a limit, it would fill memory until the run is
    // killed, never exit 1 with this message. No clock needed to tell.
    for flag in ["--config", "--contentmeta"] {
        let o = encap(job(&fx.repo, FIXTURE_REF, &out, &[flag, "/dev/zero"]));
        let err = assert_clean_failure(&o);
        assert!(
            err.contains(flag) && err.contains("/dev/zero") && err.contains("larger than"),
            "{err}"
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
        let flag = format!("--tag={tag}");
        let err = encap_err(job(&fx.repo, FIXTURE_REF, &out, &[&flag]));
        assert!(err.contains("--tag"), "{tag:?}: {err}");
        assert!(!out.exists());
    }
    for arch in ["", "x86 64", "notanarch"] {
        let flag = format!("--arch={arch}");
        let err = encap_err(job(&fx.repo, FIXTURE_REF, &out, &[&flag]));
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

fn encap_to(repo: &Path, rev: &str, out: &Path, tag: &str, extra: &[&str]) -> Output {
    let mut a = job(repo, rev, out, &["--tag", tag, "--json"]);
    a.extend(extra.iter().map(|s| s.to_string()));
    encap(&a)
}

fn ok_json(o: &Output) -> serde_json::Value {
    assert!(
        o.status.success(),
        "ostree-encap failed: {}",
        String::from_utf8_lossy(&o.stderr)
    );
    json(&String::from_utf8_lossy(&o.stdout))
}

fn verify_tag(out: &Path, tag: &str) {
    encap_ok(["verify", "--oci-dir", out.to_str().unwrap(), "--tag", tag]);
}

/// A second commit of the `components` fixture with one component changed.
fn second_commit(fx: &Fixture) -> String {
    let tree = fx.tree.clone();
    std::fs::write(tree.join("usr/lib/beta/b1"), pseudo_random("v2", 40_000)).unwrap();
    fx.commit_tree(&tree, "beta changed", "2025-03-02T00:00:00Z")
}

/// Rewrite the image tagged `tag` in `out`: `f` edits (manifest, config); the config and
/// manifest are re-hashed and the index repaired, as a forger would.
fn forge(out: &Path, tag: &str, f: impl FnOnce(&mut serde_json::Value, &mut serde_json::Value)) {
    let (mut m, mut c) = image(out, tag);
    f(&mut m, &mut c);
    let cbytes = serde_json::to_vec(&c).unwrap();
    m["config"]["digest"] = put_blob(out, &cbytes).into();
    m["config"]["size"] = cbytes.len().into();
    let mbytes = serde_json::to_vec(&m).unwrap();
    let mut idx = index(out);
    for d in idx["manifests"].as_array_mut().unwrap() {
        if d["annotations"]["org.opencontainers.image.ref.name"] == tag {
            d["digest"] = put_blob(out, &mbytes).into();
            d["size"] = mbytes.len().into();
        }
    }
    std::fs::write(out.join("index.json"), serde_json::to_vec(&idx).unwrap()).unwrap();
}

// Defect 1: a --previous layer was reused on its key annotation alone.
#[test]
fn poisoned_previous_layers_are_rebuilt_not_reused() {
    let fx = Fixture::new("components");
    let c2 = second_commit(&fx);
    let fresh = ok_json(&encap_to(&fx.repo, &c2, &fx.path("fresh"), "b", &[]));
    // (a) 260 bytes of garbage under layer 1's key; (b) layer 2's real blob and diff_id
    // under layer 1's key: a valid gzip with a consistent diff_id, but the wrong objects.
    for case in ["garbage", "swapped"] {
        let old = fx.path(&format!("old-{case}"));
        ok_json(&encap_to(&fx.repo, FIXTURE_REF, &old, "a", &[]));
        forge(&old, "a", |m, c| {
            if case == "garbage" {
                let junk = pseudo_random("junk", 260);
                m["layers"][1]["digest"] = put_blob(&old, &junk).into();
                m["layers"][1]["size"] = junk.len().into();
            } else {
                for k in ["digest", "size"] {
                    m["layers"][1][k] = m["layers"][2][k].clone();
                }
                c["rootfs"]["diff_ids"][1] = c["rootfs"]["diff_ids"][2].clone();
            }
        });
        let out = fx.path(&format!("new-{case}"));
        let prev = format!("{}:a", old.display());
        let o = encap_to(&fx.repo, &c2, &out, "b", &["--previous", &prev]);
        let s = ok_json(&o);
        let err = String::from_utf8_lossy(&o.stderr);
        assert!(
            err.contains("warning") && err.contains("--previous"),
            "{case}: {err}"
        );
        assert_eq!(s["manifest_digest"], fresh["manifest_digest"], "{case}");
        verify_tag(&out, "b");
    }
}

// Defect 2: a damaged blob already in the output was reused, and kept by the blob writer.
#[test]
fn damaged_blobs_in_the_output_are_replaced_not_reused() {
    let fx = Fixture::new("components");
    let out = fx.path("out");
    let a = ok_json(&encap_to(&fx.repo, FIXTURE_REF, &out, "a", &[]));
    let flip = |digest: &str| {
        let path = out.join("blobs/sha256").join(&digest[7..]);
        let mut bytes = std::fs::read(&path).unwrap();
        let mid = bytes.len() / 2;
        bytes[mid] ^= 0x01;
        std::fs::remove_file(&path).unwrap();
        std::fs::write(&path, &bytes).unwrap();
    };
    // One chunk layer and the config: the same commit again reuses or rewrites both.
    flip(a["layers"][1]["digest"].as_str().unwrap());
    flip(a["config_digest"].as_str().unwrap());
    let b = ok_json(&encap_to(&fx.repo, FIXTURE_REF, &out, "b", &[]));
    assert_eq!(a["manifest_digest"], b["manifest_digest"]);
    assert_eq!(b["layers"][1]["reused"], false, "a damaged blob was reused");
    verify_tag(&out, "b");
    verify_tag(&out, "a");
    // Without index.json, the blob writer alone must not keep a damaged file either.
    flip(a["layers"][2]["digest"].as_str().unwrap());
    std::fs::remove_file(out.join("index.json")).unwrap();
    ok_json(&encap_to(&fx.repo, FIXTURE_REF, &out, "c", &[]));
    verify_tag(&out, "c");
}

// Defect 3: concurrent runs into one layout lost tags, failed spuriously, and a failing run
// removed a directory holding another run's image.
#[test]
fn concurrent_runs_keep_every_tag_and_never_delete_each_other() {
    let fx = Fixture::new("basic");
    for round in 0..6 {
        let out = fx.path(&format!("shared-{round}"));
        let spawn = |tag: &str, extra: &[&str]| {
            let mut a = job(&fx.repo, FIXTURE_REF, &out, &["--tag", tag]);
            a.extend(extra.iter().map(|s| s.to_string()));
            encap_command()
                .args(&a)
                .stdin(std::process::Stdio::null())
                .stdout(std::process::Stdio::piped())
                .stderr(std::process::Stdio::piped())
                .spawn()
                .unwrap()
        };
        // Two good runs and one that fails after creating the directory.
        let runs = [
            spawn("a", &[]),
            spawn("bad", &["--copymeta", "no.such.key"]),
            spawn("b", &["--max-layers", "0"]),
        ];
        let outs: Vec<Output> = runs
            .into_iter()
            .map(|c| c.wait_with_output().unwrap())
            .collect();
        assert!(!outs[1].status.success());
        for (o, tag) in [(&outs[0], "a"), (&outs[2], "b")] {
            let err = String::from_utf8_lossy(&o.stderr);
            assert!(o.status.success(), "round {round}, tag {tag}: {err}");
            verify_tag(&out, tag);
        }
        let tags: Vec<String> = index(&out)["manifests"]
            .as_array()
            .unwrap()
            .iter()
            .map(|d| {
                d["annotations"]["org.opencontainers.image.ref.name"]
                    .as_str()
                    .unwrap()
                    .into()
            })
            .collect();
        assert_eq!(tags.len(), 2, "round {round}: {tags:?}");
    }
}

// Defect 13: a failed run into d/e/f left d/e; a failed run into an existing layout left
// blobs that nothing uses.
#[test]
fn failed_runs_leave_nothing_behind() {
    let fx = Fixture::new("basic");
    let base = fx.path("d");
    let deep = base.join("e/f");
    let err = encap_err(job(
        &fx.repo,
        FIXTURE_REF,
        &deep,
        &["--copymeta", "no.such.key"],
    ));
    assert!(err.contains("no.such.key"), "{err}");
    assert!(!base.exists(), "left {:?}", tree_listing(&fx.path("")));
    // Into an existing layout: a run that fails after writing layers removes its blobs.
    let out = fx.path("out");
    encap_ok(job(&fx.repo, FIXTURE_REF, &out, &["--tag", "good"]));
    let before = tree_listing(&out);
    // A second commit, and a copymeta key it lacks: its layers are written, then it fails.
    let tree = fx.tree.clone();
    std::fs::write(tree.join("new-file"), "new").unwrap();
    let c2 = fx.commit_tree(&tree, "two", "2025-03-02T00:00:00Z");
    let err = encap_err(job(
        &fx.repo,
        &c2,
        &out,
        &["--tag", "t", "--label", "x=y", "--copymeta", "nope"],
    ));
    assert!(err.contains("nope"), "{err}");
    assert_eq!(tree_listing(&out), before);
    verify_tag(&out, "good");
}

/// A tmpfs of `size` mounted at `dir` for the life of the guard (needs root, as CI runs).
struct SmallFs(std::path::PathBuf);

impl SmallFs {
    fn mount(dir: &Path, size: &str) -> SmallFs {
        std::fs::create_dir_all(dir).unwrap();
        run_ok(
            std::process::Command::new("mount")
                .args(["-t", "tmpfs", "-o", &format!("size={size}"), "tmpfs"])
                .arg(dir),
        );
        SmallFs(dir.to_path_buf())
    }
}

impl Drop for SmallFs {
    fn drop(&mut self) {
        let _ = std::process::Command::new("umount").arg(&self.0).status();
    }
}

// Defect 10: a full output disk was reported as a corrupt object in the source repo, with
// the OS error printed twice.
#[test]
fn full_disk_names_the_output_not_the_source() {
    let fx = Fixture::new("basic");
    let fs = SmallFs::mount(&fx.path("small"), "160k");
    let out = fs.0.join("out");
    // A small image fits; a bigger one into the same layout does not.
    encap_ok(job(
        &fx.repo,
        FIXTURE_REF,
        &out,
        &["--tag", "good", "--compression", "zstd"],
    ));
    let before = tree_listing(&out);
    for extra in [&["--compression", "none", "--max-layers", "0"][..], &[][..]] {
        let mut args = vec!["--tag", "big"];
        args.extend_from_slice(extra);
        let err = assert_clean_failure(&encap(job(&fx.repo, FIXTURE_REF, &out, &args)));
        assert!(err.contains("No space left on device"), "{err}");
        assert_eq!(err.matches("No space left").count(), 1, "{err}");
        assert!(err.contains(out.to_str().unwrap()), "{err}");
        assert!(!err.contains("corrupt"), "{err}");
        assert_eq!(tree_listing(&out), before, "{extra:?}");
        verify_tag(&out, "good");
    }
    // Into a new directory: nothing left.
    let fresh = fs.0.join("fresh");
    let err = encap_err(job(
        &fx.repo,
        FIXTURE_REF,
        &fresh,
        &["--compression", "none"],
    ));
    assert!(err.contains("No space left on device"), "{err}");
    assert!(!fresh.exists());
}

/// Names in a layout that are not part of the layout format or our caches: temp files.
fn stray_files(out: &Path) -> Vec<String> {
    let is_hex = |s: &str| s.len() == 64 && s.bytes().all(|b| b.is_ascii_hexdigit());
    tree_listing(out)
        .into_iter()
        .filter(|p| {
            let ok = matches!(
                p.as_str(),
                "oci-layout"
                    | "index.json"
                    | "blobs"
                    | "blobs/sha256"
                    | "ostree-encap-blocks"
                    | "ostree-encap-composefs"
            ) || p
                .strip_prefix("blobs/sha256/")
                .or_else(|| p.strip_prefix("ostree-encap-blocks/"))
                .or_else(|| p.strip_prefix("ostree-encap-composefs/"))
                .is_some_and(is_hex);
            !ok
        })
        .collect()
}

/// `runs` pause points out of `total`, spread evenly over the run (the first and the last
/// among them), numbered from 1.
fn spread(total: usize, runs: usize) -> Vec<usize> {
    (0..runs)
        .map(|i| 1 + i * (total - 1) / (runs - 1).max(1))
        .collect()
}

// Fault injection: SIGKILL at points spread over a run into an existing layout and into an
// existing oci-archive, each run stopped at a point it announced (a layer begun, a blob
// linked, the index about to be replaced, an archive entry written, the archive about to be
// renamed), so each kill lands mid-way whatever the machine's speed. Earlier images stay
// intact, no temp files stay behind (for the archive after the next run, which removes the
// dead run's work directory), reruns succeed.
#[test]
fn kill_9_at_random_points_loses_nothing() {
    let fx = Fixture::new("basic");
    // The earlier images are of the fixture commit; the killed runs write a bigger one (the
    // branch moves to it), whose layers are not in the output yet.
    let small = ostree(&fx.repo, ["rev-parse", FIXTURE_REF]);
    let tree = fx.tree.clone();
    for i in 0..6 {
        let p = tree.join(format!("usr/share/bulk/f{i}"));
        std::fs::create_dir_all(p.parent().unwrap()).unwrap();
        std::fs::write(&p, pseudo_random(&format!("bulk{i}"), 1_500_000)).unwrap();
    }
    let big = fx.commit_tree(&tree, "bulk", "2025-03-02T00:00:00Z");
    let out = fx.path("out");
    encap_ok(job(&fx.repo, &small, &out, &["--tag", "good"]));
    let archive = fx.path("img.ociarchive");
    encap_ok(job(&fx.repo, &small, &archive, &[]));
    let archive_bytes = std::fs::read(&archive).unwrap();
    let scratch = fx.path("points");
    std::fs::create_dir(&scratch).unwrap();
    // The points each job passes, counted on a copy of `out`: a run reuses the layers the
    // layout's images already have, so the census must start from what the killed runs find
    // (which they do not change: a killed run's blobs are in no image).
    let census = fx.path("census");
    run_ok(
        std::process::Command::new("cp")
            .arg("-a")
            .arg(&out)
            .arg(&census),
    );
    let into_dir = pause_points(&job(&fx.repo, &big, &census, &["--tag", "c"]), &scratch);
    let into_archive = pause_points(
        &job(&fx.repo, &big, &fx.path("census.ociarchive"), &[]),
        &scratch,
    );
    for want in ["layer", "blob", "index"] {
        assert!(into_dir.iter().any(|p| p == want), "{want}: {into_dir:?}");
    }
    for want in ["archive-entry", "archive-rename"] {
        assert!(
            into_archive.iter().any(|p| p == want),
            "{want}: {into_archive:?}"
        );
    }
    let runs = 8;
    let mut seen = std::collections::BTreeSet::new();
    for (round, (kd, ka)) in spread(into_dir.len(), runs)
        .into_iter()
        .zip(spread(into_archive.len(), runs))
        .enumerate()
    {
        let tag = format!("t{round}");
        let at = pause_at(&job(&fx.repo, &big, &out, &["--tag", &tag]), kd, &scratch).kill();
        verify_tag(&out, "good");
        assert_eq!(
            stray_files(&out),
            Vec::<String>::new(),
            "round {round}, killed at {at}"
        );
        assert!(
            !index(&out)["manifests"]
                .as_array()
                .unwrap()
                .iter()
                .any(|m| m["annotations"]["org.opencontainers.image.ref.name"] == tag.as_str()),
            "round {round}: killed at {at}, yet tag {tag} is in the index"
        );
        seen.insert(at);
        let at = pause_at(&job(&fx.repo, &big, &archive, &[]), ka, &scratch).kill();
        // Stopped before its rename, so the old archive whole, never a torn one.
        assert_eq!(
            std::fs::read(&archive).unwrap(),
            archive_bytes,
            "round {round}, killed at {at}"
        );
        seen.insert(at);
    }
    eprintln!("kill -9 at: {seen:?}");
    // Reruns succeed and leave nothing: no work directory beside the archive.
    encap_ok(job(&fx.repo, &big, &out, &["--tag", "after"]));
    verify_tag(&out, "after");
    verify_tag(&out, "good");
    encap_ok(job(&fx.repo, &big, &archive, &[]));
    encap_ok(["verify", "--oci-archive", archive.to_str().unwrap()]);
    let leftovers: Vec<_> = std::fs::read_dir(fx.path(""))
        .unwrap()
        .flatten()
        .map(|e| e.file_name().to_string_lossy().into_owned())
        .filter(|n| n.starts_with(".ostree-encap-") || n.starts_with(".tmp"))
        .collect();
    assert_eq!(leftovers, Vec::<String>::new());
}

// Fault injection: a read-only output (a filesystem remounted read-only, which stops root
// too): a clear error naming the layout, the earlier image intact, and a rerun after it is
// writable again succeeds.
#[test]
fn read_only_output_is_an_error_and_changes_nothing() {
    let fx = Fixture::new("basic");
    let fs = SmallFs::mount(&fx.path("ro"), "8m");
    let out = fs.0.join("out");
    encap_ok(job(&fx.repo, FIXTURE_REF, &out, &["--tag", "good"]));
    let before = tree_listing(&out);
    let remount = |mode: &str| {
        run_ok(
            std::process::Command::new("mount")
                .args(["-o", &format!("remount,{mode}")])
                .arg(&fs.0),
        );
    };
    remount("ro");
    for target in [out.clone(), fs.0.join("new"), fs.0.join("img.ociarchive")] {
        let o = encap(job(&fx.repo, FIXTURE_REF, &target, &["--tag", "t2"]));
        let err = assert_clean_failure(&o);
        assert!(err.contains("Read-only file system"), "{err}");
        assert!(err.contains(fs.0.to_str().unwrap()), "{err}");
    }
    assert_eq!(tree_listing(&out), before);
    verify_tag(&out, "good");
    remount("rw");
    encap_ok(job(&fx.repo, FIXTURE_REF, &out, &["--tag", "t2"]));
    verify_tag(&out, "t2");
    verify_tag(&out, "good");
}

/// Other tools' entries in index.json keep every field they had when we add a tag: a
/// platform variant and OS version, artifactType, urls, data, unknown extension fields,
/// and the index's own extra members.
#[test]
fn other_tools_index_entries_keep_every_field() {
    let fx = Fixture::new("basic");
    let out = fx.path("oci");
    ok_json(&encap_to(&fx.repo, FIXTURE_REF, &out, "ours", &[]));
    let mut idx = index(&out);
    let ours = idx["manifests"][0].clone();
    let foreign = serde_json::json!({
        "mediaType": "application/vnd.oci.image.manifest.v1+json",
        "digest": ours["digest"],
        "size": ours["size"],
        "artifactType": "application/vnd.example.sbom",
        "urls": ["https://example.com/blob"],
        "data": "e30=",
        "platform": {
            "architecture": "arm64",
            "os": "linux",
            "variant": "v8",
            "os.version": "12",
            "os.features": ["x"]
        },
        "annotations": {"org.opencontainers.image.ref.name": "theirs"},
        "io.example.extension": {"kept": true}
    });
    idx["manifests"]
        .as_array_mut()
        .unwrap()
        .push(foreign.clone());
    idx["annotations"] = serde_json::json!({"io.example.index": "kept"});
    std::fs::write(out.join("index.json"), idx.to_string()).unwrap();
    ok_json(&encap_to(&fx.repo, FIXTURE_REF, &out, "second", &[]));
    let after = index(&out);
    let theirs: Vec<&serde_json::Value> = after["manifests"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|d| d["annotations"]["org.opencontainers.image.ref.name"] == "theirs")
        .collect();
    assert_eq!(theirs, [&foreign], "{after:#}");
    assert_eq!(after["annotations"]["io.example.index"], "kept");
    assert_eq!(after["manifests"].as_array().unwrap().len(), 3);
}

/// A --previous image's layer descriptors may carry fields of their own (`urls`,
/// annotations, extensions): a reused layer is described afresh, so the new image is the
/// same as a fresh build's, whatever the previous image said.
#[test]
fn reused_layers_carry_nothing_of_the_previous_descriptor() {
    let fx = Fixture::new("components");
    let c2 = second_commit(&fx);
    let fresh = ok_json(&encap_to(&fx.repo, &c2, &fx.path("fresh"), "b", &[]));
    let old = fx.path("old");
    ok_json(&encap_to(&fx.repo, FIXTURE_REF, &old, "a", &[]));
    forge(&old, "a", |m, _| {
        for l in m["layers"].as_array_mut().unwrap() {
            l["urls"] = serde_json::json!(["https://example.com/x"]);
            l["io.example.extension"] = serde_json::json!(1);
            l["annotations"]["io.example.note"] = "x".into();
        }
    });
    let prev = format!("{}:a", old.display());
    let out = fx.path("new");
    let s = ok_json(&encap_to(&fx.repo, &c2, &out, "b", &["--previous", &prev]));
    assert!(s["layers"]
        .as_array()
        .unwrap()
        .iter()
        .any(|l| l["reused"] == true));
    assert_eq!(s["manifest_digest"], fresh["manifest_digest"]);
}

/// A failed run into an empty directory the user made leaves it empty: the layout skeleton
/// the run wrote there is its own to remove; the directory is not.
#[test]
fn failed_runs_leave_a_given_empty_directory_empty() {
    let fx = Fixture::new("basic");
    let out = fx.path("given");
    std::fs::create_dir(&out).unwrap();
    let err = encap_err(job(&fx.repo, "no/such/ref", &out, &[]));
    assert!(err.contains("no/such/ref"), "{err}");
    assert!(out.is_dir(), "the user's directory was removed");
    assert_eq!(tree_listing(&out), Vec::<String>::new(), "left behind");
}
