//! Bad input gets a clear error that names the thing, and leaves nothing half-written.

mod common;

use common::*;
use std::path::Path;

fn args<'a>(repo: &'a str, rev: &'a str, out: &'a str) -> Vec<&'a str> {
    vec!["--repo", repo, "--ref", rev, "--oci-dir", out]
}

/// A layout with a good image tagged `good`; returns the bytes of its index.json.
fn good_layout(fx: &Fixture, out: &Path) -> Vec<u8> {
    encap_ok(job(&fx.repo, FIXTURE_REF, out, &["--tag", "good"]));
    std::fs::read(out.join("index.json")).unwrap()
}

fn assert_layout_untouched(out: &Path, index_before: &[u8]) {
    assert_eq!(
        std::fs::read(out.join("index.json")).unwrap(),
        index_before,
        "index.json changed"
    );
    encap_ok([
        "verify",
        "--oci-dir",
        out.to_str().unwrap(),
        "--tag",
        "good",
    ]);
}

#[test]
fn missing_repo_and_not_a_repo() {
    let td = tempfile::tempdir().unwrap();
    let out = td.path().join("out");
    let err = encap_err(args("/nonexistent/repo", "x", out.to_str().unwrap()));
    assert!(
        err.contains("repository /nonexistent/repo does not exist"),
        "{err}"
    );
    assert!(!out.exists(), "output created for a failed run");

    let notrepo = td.path().join("notrepo");
    std::fs::create_dir(&notrepo).unwrap();
    std::fs::write(notrepo.join("hello"), "x").unwrap();
    let err = encap_err(args(notrepo.to_str().unwrap(), "x", out.to_str().unwrap()));
    assert!(err.contains("is not an ostree repository"), "{err}");
    assert!(err.contains(notrepo.to_str().unwrap()), "{err}");
    assert!(!out.exists());
}

#[test]
fn unknown_ref_malformed_checksum_unknown_commit() {
    let fx = Fixture::new("basic");
    let repo = fx.repo.to_str().unwrap();
    let out = fx.path("out");
    let o = out.to_str().unwrap();
    let err = encap_err(args(repo, "no/such/ref", o));
    assert!(err.contains("ref \"no/such/ref\" not found"), "{err}");
    assert!(
        err.contains(FIXTURE_REF),
        "the hint lists existing refs: {err}"
    );
    let short = &fx.commit[..63];
    let err = encap_err(args(repo, short, o));
    assert!(err.contains("malformed commit checksum"), "{err}");
    let upper = fx.commit.to_uppercase();
    let err = encap_err(args(repo, &upper, o));
    assert!(err.contains("malformed commit checksum"), "{err}");
    let absent = "ab".repeat(32);
    let err = encap_err(args(repo, &absent, o));
    assert!(err.contains(&format!("commit {absent} not found")), "{err}");
    let err = encap_err(args(repo, "nosuchremote:ref", o));
    assert!(err.contains("nosuchremote:ref"), "{err}");
    assert!(!out.exists());
    // A full checksum and a remote ref work as refs, and give the same image as the branch.
    let by_commit = json(&encap_ok(
        args(repo, &fx.commit, o).into_iter().chain(["--json"]),
    ));
    ostree(
        &fx.repo,
        [
            "remote",
            "add",
            "--no-gpg-verify",
            "origin",
            "file:///nonexistent",
        ],
    );
    ostree(&fx.repo, ["refs", "--create=origin:some/ref", &fx.commit]);
    let by_remote = json(&encap_ok(
        args(repo, "origin:some/ref", o)
            .into_iter()
            .chain(["--json"]),
    ));
    let by_branch = json(&encap_ok(
        args(repo, FIXTURE_REF, o).into_iter().chain(["--json"]),
    ));
    assert_eq!(by_remote["commit"], fx.commit.as_str());
    assert_eq!(by_remote["manifest_digest"], by_commit["manifest_digest"]);
    assert_eq!(by_branch["manifest_digest"], by_commit["manifest_digest"]);
}

#[test]
fn partial_commit_is_refused() {
    let fx = Fixture::new("basic");
    std::fs::write(
        fx.repo
            .join("state")
            .join(format!("{}.commitpartial", fx.commit)),
        "",
    )
    .unwrap();
    let out = fx.path("out");
    let err = encap_err(args(
        fx.repo.to_str().unwrap(),
        FIXTURE_REF,
        out.to_str().unwrap(),
    ));
    assert!(err.contains("is partial"), "{err}");
    assert!(err.contains(&fx.commit), "{err}");
}

/// The loose object file of the content at `path` in the fixture commit.
fn object_file(repo: &Path, commit: &str, path: &str, ext: &str) -> (String, std::path::PathBuf) {
    let line = ostree(repo, ["ls", "-C", commit, path]);
    let checksum = line.split_whitespace().nth(4).unwrap().to_string();
    let f = repo
        .join("objects")
        .join(&checksum[..2])
        .join(format!("{}.{ext}", &checksum[2..]));
    assert!(f.exists(), "{}", f.display());
    (checksum, f)
}

#[test]
fn corrupt_object_in_bare_user_repo_is_caught_and_nothing_is_written() {
    let fx = Fixture::new("basic");
    let repo = fx.repo_in_mode("bare-user");
    let out = fx.path("out");
    let before = good_layout(&fx, &out);
    let (checksum, f) = object_file(&repo, &fx.commit, "/usr/lib/data.bin", "file");
    let mut data = std::fs::read(&f).unwrap();
    data[1000] ^= 0x40;
    std::fs::write(&f, &data).unwrap();
    // A single layer: chunk layers whose key is already in `out` would be reused without
    // reading (tests/chunking.rs), and this run must read the object.
    let err = encap_err(job(
        &repo,
        FIXTURE_REF,
        &out,
        &["--tag", "bad", "--max-layers", "0"],
    ));
    assert!(err.contains(&checksum), "names the object: {err}");
    assert!(err.contains("usr/lib/data.bin"), "names the path: {err}");
    assert!(err.contains("corrupt"), "{err}");
    assert_layout_untouched(&out, &before);
}

/// Bare-user objects are read straight from their files (encapsulate/src/objread/): the
/// owner and mode in `user.ostreemeta` are covered by the checksum check like the bytes, and
/// an object the direct path cannot read gets libostree's error, naming the object.
#[test]
fn bare_user_direct_reads_check_metadata_and_report_missing_objects() {
    let fx = Fixture::new("basic");
    let repo = fx.repo_in_mode("bare-user");
    let out = fx.path("out");
    let before = good_layout(&fx, &out);
    let (checksum, f) = object_file(&repo, &fx.commit, "/usr/lib/data.bin", "file");
    let meta = std::process::Command::new("getfattr")
        .args(["--only-values", "-n", "user.ostreemeta"])
        .arg(&f)
        .output()
        .unwrap();
    assert!(meta.status.success(), "getfattr: {meta:?}");
    let mut meta = meta.stdout;
    assert!(meta.len() >= 12, "(uuua(ayay)) starts with three u32");
    // Mode bits, big-endian: 0644 -> 0600. Content is untouched.
    meta[11] &= !0o44;
    let set = |value: &[u8]| {
        let hex: String = value.iter().map(|b| format!("{b:02x}")).collect();
        let st = std::process::Command::new("setfattr")
            .args(["-n", "user.ostreemeta", "-v", &format!("0x{hex}")])
            .arg(&f)
            .status()
            .unwrap();
        assert!(st.success());
    };
    let pristine_meta = {
        let mut m = meta.clone();
        m[11] |= 0o44;
        m
    };
    set(&meta);
    let single = ["--tag", "bad", "--max-layers", "0"];
    let err = encap_err(job(&repo, FIXTURE_REF, &out, &single));
    assert!(err.contains(&checksum), "names the object: {err}");
    assert!(err.contains("usr/lib/data.bin"), "names the path: {err}");
    assert_layout_untouched(&out, &before);

    // No metadata xattr at all: libostree's reading of the object fails too, and says so.
    set(&pristine_meta);
    let rm = std::process::Command::new("setfattr")
        .args(["-x", "user.ostreemeta"])
        .arg(&f)
        .status()
        .unwrap();
    assert!(rm.success());
    let err = encap_err(job(&repo, FIXTURE_REF, &out, &single));
    assert!(err.contains(&checksum), "names the object: {err}");
    assert_layout_untouched(&out, &before);

    std::fs::remove_file(&f).unwrap();
    let err = encap_err(job(&repo, FIXTURE_REF, &out, &single));
    assert!(
        err.contains(&format!("content object {checksum}")) && err.contains("is missing"),
        "{err}"
    );
    assert_layout_untouched(&out, &before);

    // Its whole objects/XX directory gone (objects are opened from their XX directory's fd).
    let prefix = f.parent().unwrap();
    std::fs::rename(prefix, prefix.with_extension("gone")).unwrap();
    let err = encap_err(job(&repo, FIXTURE_REF, &out, &single));
    assert!(
        err.contains(&format!("content object {checksum}")) && err.contains("is missing"),
        "{err}"
    );
    assert_layout_untouched(&out, &before);
}

/// Archive objects are read without libostree: a damaged header or a damaged deflate stream
/// in a big (streamed) object is still an error naming the object, and nothing is written.
#[test]
fn damaged_archive_objects_are_named() {
    let fx = Fixture::new("basic");
    let tree = fx.tree.clone();
    std::fs::write(tree.join("usr/lib/big.bin"), pseudo_random("big", 6 << 20)).unwrap();
    let commit = fx.commit_tree(&tree, "big", "2025-03-02T00:00:00Z");
    let out = fx.path("out");
    let (checksum, f) = object_file(&fx.repo, &commit, "/usr/lib/big.bin", "filez");
    let pristine = std::fs::read(&f).unwrap();
    for (what, damage) in [("deflate stream", pristine.len() / 2), ("header length", 0)] {
        let mut data = pristine.clone();
        data[damage] ^= 0x5a;
        std::fs::write(&f, &data).unwrap();
        let err = encap_err(job(&fx.repo, &commit, &out, &["--max-layers", "0"]));
        assert!(err.contains(&checksum), "{what}: names the object: {err}");
        assert!(
            err.contains("usr/lib/big.bin"),
            "{what}: names the path: {err}"
        );
        assert!(
            !out.exists(),
            "{what}: a new output dir must be removed on failure"
        );
    }
}

#[test]
fn corrupt_and_missing_objects_in_archive_repo() {
    let fx = Fixture::new("basic");
    let repo = fx.repo.to_str().unwrap();
    let (checksum, f) = object_file(&fx.repo, &fx.commit, "/usr/lib/data.bin", "filez");
    let pristine = std::fs::read(&f).unwrap();
    let mut data = pristine.clone();
    let n = data.len();
    data[n - 100] ^= 0x01;
    std::fs::write(&f, &data).unwrap();
    let out = fx.path("new-out");
    let err = encap_err(args(repo, FIXTURE_REF, out.to_str().unwrap()));
    assert!(
        err.contains(&checksum) && err.contains("usr/lib/data.bin"),
        "{err}"
    );
    assert!(!out.exists(), "a new output dir must be removed on failure");
    // Missing object.
    std::fs::remove_file(&f).unwrap();
    let err = encap_err(args(repo, FIXTURE_REF, out.to_str().unwrap()));
    assert!(
        err.contains(&format!("content object {checksum}")) && err.contains("is missing"),
        "{err}"
    );
    // Missing dirtree.
    std::fs::write(&f, &pristine).unwrap();
    let line = ostree(&fx.repo, ["ls", "-d", "-C", &fx.commit, "/usr/share/doc"]);
    let tree = line.split_whitespace().nth(4).unwrap().to_string();
    std::fs::remove_file(
        fx.repo
            .join("objects")
            .join(&tree[..2])
            .join(format!("{}.dirtree", &tree[2..])),
    )
    .unwrap();
    let err = encap_err(args(repo, FIXTURE_REF, out.to_str().unwrap()));
    assert!(
        err.contains(&format!("dirtree object {tree}")) && err.contains("usr/share/doc"),
        "{err}"
    );
    // Archive output: no file appears.
    let archive = fx.path("x.ociarchive");
    let err = encap_err([
        "--repo",
        repo,
        "--ref",
        FIXTURE_REF,
        "--oci-archive",
        archive.to_str().unwrap(),
    ]);
    assert!(err.contains(&tree), "{err}");
    assert!(!archive.exists());
    assert!(std::fs::read_dir(fx.dir.path()).unwrap().all(|e| !e
        .unwrap()
        .file_name()
        .to_string_lossy()
        .starts_with(".ostree-encap-")));
}

#[test]
fn output_that_is_something_else_or_unwritable() {
    let fx = Fixture::new("basic");
    let repo = fx.repo.to_str().unwrap();
    let foreign = fx.path("foreign");
    std::fs::create_dir(&foreign).unwrap();
    std::fs::write(foreign.join("important.txt"), "keep me").unwrap();
    let err = encap_err(args(repo, FIXTURE_REF, foreign.to_str().unwrap()));
    assert!(
        err.contains("neither empty nor an OCI image layout") && err.contains("important.txt"),
        "{err}"
    );
    assert_eq!(
        std::fs::read_dir(&foreign).unwrap().count(),
        1,
        "nothing added to a foreign dir"
    );
    let file = fx.path("plainfile");
    std::fs::write(&file, "x").unwrap();
    let err = encap_err(args(repo, FIXTURE_REF, file.to_str().unwrap()));
    assert!(err.contains("is not a directory"), "{err}");
    let below_file = file.join("sub");
    let err = encap_err(args(repo, FIXTURE_REF, below_file.to_str().unwrap()));
    assert!(err.contains(below_file.to_str().unwrap()), "{err}");
    let err = encap_err([
        "--repo",
        repo,
        "--ref",
        FIXTURE_REF,
        "--oci-archive",
        "/nonexistent-dir/x.ociarchive",
    ]);
    assert!(err.contains("/nonexistent-dir"), "{err}");
}

#[test]
fn bad_options_name_the_option() {
    let fx = Fixture::new("basic");
    let repo = fx.repo.to_str().unwrap();
    let out = fx.path("out");
    let before = good_layout(&fx, &out);
    let o = out.to_str().unwrap();
    let base = [
        "--repo",
        repo,
        "--ref",
        FIXTURE_REF,
        "--oci-dir",
        o,
        "--tag",
        "good",
    ];
    let run =
        |extra: &[&str]| encap_err(base.iter().chain(extra.iter()).copied().collect::<Vec<_>>());

    let err = run(&["--label", "novalue"]);
    assert!(
        err.contains("--label \"novalue\": expected KEY=VALUE"),
        "{err}"
    );
    let err = run(&["--annotation", "=v"]);
    assert!(err.contains("--annotation"), "{err}");
    let err = run(&["--label", "ostree.commit=fake"]);
    assert!(err.contains("cannot be overridden"), "{err}");
    let err = run(&["--copymeta", "no.such.key"]);
    assert!(
        err.contains("--copymeta no.such.key") && err.contains("no key"),
        "{err}"
    );
    let bad = fx.path("bad.json");
    std::fs::write(&bad, "{\"Env\": [").unwrap();
    let err = run(&["--config", bad.to_str().unwrap()]);
    assert!(
        err.contains("invalid --config JSON") && err.contains("bad.json"),
        "{err}"
    );
    std::fs::write(&bad, "[1,2]").unwrap();
    let err = run(&["--config", bad.to_str().unwrap()]);
    assert!(err.contains("expected a JSON object"), "{err}");
    let err = run(&["--config", "/nonexistent.json"]);
    assert!(err.contains("/nonexistent.json"), "{err}");
    let err = run(&["--created", "last tuesday"]);
    assert!(
        err.contains("--created") && err.contains("last tuesday"),
        "{err}"
    );
    let err = encap_err(["--ref", FIXTURE_REF, "--oci-dir", o]);
    assert!(err.contains("--repo is required"), "{err}");
    let err = encap_err(["--repo", repo, "--ref", FIXTURE_REF]);
    assert!(err.contains("--oci-dir or --oci-archive"), "{err}");
    assert_layout_untouched(&out, &before);
}

#[test]
fn verify_names_missing_tags_and_non_layouts() {
    let fx = Fixture::new("basic");
    let out = fx.path("out");
    good_layout(&fx, &out);
    encap_ok(job(&fx.repo, FIXTURE_REF, &out, &["--tag", "other"]));
    let err = encap_err([
        "verify",
        "--oci-dir",
        out.to_str().unwrap(),
        "--tag",
        "nope",
    ]);
    assert!(
        err.contains("no image tagged \"nope\"") && err.contains("good, other"),
        "{err}"
    );
    let err = encap_err(["verify", "--oci-dir", out.to_str().unwrap()]);
    assert!(err.contains("holds 2 images"), "{err}");
    let err = encap_err(["verify", "--oci-dir", fx.repo.to_str().unwrap()]);
    assert!(err.contains("oci-layout"), "{err}");
    // --repo with another ref's commit.
    let err = encap_err([
        "verify",
        "--oci-dir",
        out.to_str().unwrap(),
        "--tag",
        "good",
        "--repo",
        "/nonexistent",
    ]);
    assert!(err.contains("/nonexistent"), "{err}");
}

/// Rust ignores SIGPIPE, so a bare `println!` panics when the reader has gone
/// (`ostree-encap ... | head -1`). The result lines treat that as the reader's choice, and the
/// process still cleans up: the temp dir an archive `--previous` was unpacked into is gone.
#[test]
fn closed_stdout_ends_quietly_not_with_a_panic() {
    let fx = Fixture::new("basic");
    let previous = fx.path("previous.ociarchive");
    encap_ok(job(&fx.repo, FIXTURE_REF, &previous, &[]));
    let tmp = fx.path("tmp");
    std::fs::create_dir(&tmp).unwrap();
    let out = fx.path("out");
    let mut child = encap_command()
        .args(job(
            &fx.repo,
            FIXTURE_REF,
            &out,
            &["--previous", previous.to_str().unwrap()],
        ))
        .env("TMPDIR", &tmp)
        .stdin(std::process::Stdio::null())
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped())
        .spawn()
        .unwrap();
    // The reader goes away before anything is printed.
    drop(child.stdout.take());
    let result = child.wait_with_output().unwrap();
    let stderr = String::from_utf8_lossy(&result.stderr);
    assert!(!stderr.contains("panicked"), "{stderr}");
    assert!(!stderr.contains("error"), "nothing to report: {stderr}");
    assert_eq!(
        result.status.code(),
        Some(141),
        "128 + SIGPIPE, like other tools: {stderr}"
    );
    let left: Vec<_> = std::fs::read_dir(&tmp).unwrap().collect();
    assert!(left.is_empty(), "temp files left behind: {left:?}");
    // The image was complete before its summary was printed.
    encap_ok([
        "verify",
        "--oci-dir",
        out.to_str().unwrap(),
        "--repo",
        fx.repo.to_str().unwrap(),
    ]);
}

/// Image arguments go through one parser: the same forms mean the same in `verify`,
/// `import`, `diff` and `--previous`, and refusals name the option and the argument.
#[test]
fn image_arguments_mean_the_same_everywhere() {
    let fx = Fixture::new("basic");
    let out = fx.path("oci");
    good_layout(&fx, &out);
    let dir = out.to_str().unwrap();
    let tagged = format!("{dir}:good");
    let explicit = format!("oci:{dir}:good");
    // DIR:TAG in --oci-dir, as push always took it; oci:DIR:TAG where an image is named.
    let v = json(&encap_ok(["verify", "--oci-dir", &tagged, "--json"]));
    assert_eq!(v["commit"], fx.commit.as_str());
    let d = json(&encap_ok(["diff", &tagged, &explicit, "--json"]));
    assert_eq!(d["new_layers"], 0);
    let next = fx.path("next");
    encap_ok(job(
        &fx.repo,
        FIXTURE_REF,
        &next,
        &["--previous", &explicit],
    ));
    // A tag given twice, an empty tag, a missing directory: named.
    let err = encap_err(["verify", "--oci-dir", &tagged, "--tag", "good"]);
    assert!(
        err.contains(&format!("--oci-dir {tagged}")) && err.contains("--tag"),
        "{err}"
    );
    let err = encap_err(["diff", &format!("{dir}:"), dir]);
    assert!(
        err.contains("OLD") && err.contains("tag after ':' is empty"),
        "{err}"
    );
    let err = encap_err(["import", "--oci-dir", "/nonexistent/x:t", "--repo", dir]);
    assert!(
        err.contains("--oci-dir /nonexistent/x:t: no such directory"),
        "{err}"
    );
    // A registry image is read by skopeo, not by us: the refusal says what to run.
    let err = encap_err(["diff", "docker://quay.io/x/y:1", dir]);
    assert!(
        err.contains("OLD docker://quay.io/x/y:1") && err.contains("skopeo copy"),
        "{err}"
    );
    let err = encap_err(job(
        &fx.repo,
        FIXTURE_REF,
        &next,
        &["--previous", "/nonexistent"],
    ));
    assert!(
        err.contains(
            "--previous /nonexistent: no such OCI directory, oci-archive or manifest file"
        ),
        "{err}"
    );
}
