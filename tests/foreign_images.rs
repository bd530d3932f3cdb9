//! Images made by other writers: `import` and `verify` accept every valid ostree container
//! image, not only ours (issue 13). Here: images written by ostree-ext 0.15.3's own exporter
//! (checksum-ordered content, hard-linked `.file-xattrs`), single-layer and chunked, from a
//! GPG-signed commit. Our stricter stream order stays a separate check (`verify --strict`).

mod common;

use common::*;
use std::path::Path;
use std::process::Command;

/// Run ostree-ext's own CLI through the importer crate (tests/importer, `--cli`).
fn ostree_ext(args: &[&str]) {
    run_ok(Command::new(importer()).arg("--cli").args(args));
}

/// A content-meta JSON putting the fixture's files into three components, for ostree-ext's
/// chunking.
fn contentmeta(fx: &Fixture) -> std::path::PathBuf {
    let listing = ostree(&fx.repo, ["ls", "-R", "-C", &fx.commit, "/usr"]);
    let mut mapping = serde_json::Map::new();
    for line in listing.lines() {
        let f: Vec<&str> = line.split_whitespace().collect();
        // mode uid gid size checksum path [-> target]
        if f.len() < 6 || !f[0].starts_with('-') {
            continue;
        }
        let comp = if f[5].contains("alpha") {
            "1"
        } else if f[5].contains("modules") {
            "2"
        } else {
            "3"
        };
        mapping.insert(f[4].to_string(), comp.into());
    }
    assert!(mapping.len() > 5, "{listing}");
    let cm = fx.path("contentmeta.json");
    let doc = serde_json::json!({
        "version": 1,
        "created": "2025-03-01T00:00:00Z",
        "labels": {},
        "layers": {"1": "alpha", "2": "kernel", "3": "rest"},
        "mapping": mapping,
    });
    std::fs::write(&cm, doc.to_string()).unwrap();
    cm
}

fn check_foreign(fx: &Fixture, dir: &Path, keyring: &Path, what: &str) {
    let d = dir.to_str().unwrap();
    let (m, _) = {
        let idx = index(dir);
        let digest = idx["manifests"][0]["digest"].as_str().unwrap().to_string();
        let m = json(&String::from_utf8(blob(dir, &digest)).unwrap());
        (m, ())
    };
    let layers = m["layers"].as_array().unwrap().len();
    // verify: the commit, its signature, and the tree, without our order rules.
    let report = json(&encap_ok([
        "verify",
        "--oci-dir",
        d,
        "--repo",
        fx.repo.to_str().unwrap(),
        "--ref",
        FIXTURE_REF,
        "--gpg-keyring",
        keyring.to_str().unwrap(),
        "--json",
    ]));
    assert_eq!(report["commit"], fx.commit.as_str(), "{what}");
    assert_eq!(report["strict"], false, "{what}");
    assert_eq!(report["layers"], layers, "{what}");
    assert!(
        report["signature"].as_str().unwrap().contains("good"),
        "{what}: {report}"
    );
    // import: the same commit, signature kept, fsck clean.
    let repo = fx.path(&format!("imported-{what}"));
    let r = json(&encap_ok([
        "import",
        "--oci-dir",
        d,
        "--repo",
        repo.to_str().unwrap(),
        "--branch",
        "imported",
        "--json",
    ]));
    assert_eq!(r["commit"], fx.commit.as_str(), "{what}");
    assert_eq!(ostree(&repo, ["rev-parse", "imported"]), fx.commit);
    ostree(&repo, ["fsck"]);
    let sigs = ostree(
        &repo,
        [
            "show",
            "--print-detached-metadata-key=ostree.gpgsigs",
            &fx.commit,
        ],
    );
    assert!(!sigs.is_empty(), "{what}: detached signatures lost");
    // serve: every regular file is made from the layers (one gzip stream each, read through
    // checkpoints), none copied into the scratch repository; the real client gets the
    // commit with its signature checked.
    let tmp = fx.path(&format!("serve-tmp-{what}"));
    std::fs::create_dir(&tmp).unwrap();
    let server = serve(&tmp, &["--oci-dir", d, "--ref", FIXTURE_REF], 1)
        .unwrap_or_else(|e| panic!("{what}: {e}"));
    let copied = files_ending(&tmp, ".filez");
    let client = fx.path(&format!("client-{what}"));
    ostree(&client, ["init", "--mode=bare-user"]);
    ostree(
        &client,
        [
            "remote",
            "add",
            "--set=gpg-verify=true",
            &format!("--gpg-import={}", keyring.display()),
            "origin",
            &format!("http://{}", server.addr),
        ],
    );
    pull_origin(&client, FIXTURE_REF).unwrap_or_else(|e| panic!("{what}: {e}"));
    ostree(&client, ["fsck"]);
    assert_eq!(
        ostree(&client, ["rev-parse", &format!("origin:{FIXTURE_REF}")]),
        fx.commit
    );
    let log = server.stop();
    let made = made_from_layers(&log);
    // Every regular file's object is made from the layers (`ls -C`: mode uid gid size
    // checksum path).
    let listing = ostree(&fx.repo, ["ls", "-R", "-C", &fx.commit]);
    let regular: std::collections::BTreeSet<&str> = listing
        .lines()
        .filter(|l| l.starts_with('-'))
        .filter_map(|l| l.split_whitespace().nth(4))
        .collect();
    assert_eq!(made, regular.len(), "{what}: {log}");
    assert_eq!(
        copied, 0,
        "{what}: regular files copied into the scratch repository"
    );
}

#[test]
fn images_made_by_ostree_ext_verify_and_import() {
    let fx = Fixture::new("components");
    let (keyring, _) = fx.gpg_sign();
    // Single layer, ostree-ext's defaults.
    let single = fx.path("ext-single");
    run_ok(
        Command::new(importer())
            .arg("--encapsulate")
            .arg(&fx.repo)
            .arg(FIXTURE_REF)
            .arg(format!("oci:{}", single.display())),
    );
    check_foreign(&fx, &single, &keyring, "single");
    // Chunked by ostree-ext from content-meta.
    let chunked = fx.path("ext-chunked");
    let cm = contentmeta(&fx);
    ostree_ext(&[
        "container",
        "encapsulate",
        "--repo",
        fx.repo.to_str().unwrap(),
        "--contentmeta",
        cm.to_str().unwrap(),
        FIXTURE_REF,
        &format!("oci:{}", chunked.display()),
    ]);
    let idx = index(&chunked);
    let m = json(
        &String::from_utf8(blob(
            &chunked,
            idx["manifests"][0]["digest"].as_str().unwrap(),
        ))
        .unwrap(),
    );
    assert!(
        m["layers"].as_array().unwrap().len() >= 3,
        "not chunked: {m}"
    );
    check_foreign(&fx, &chunked, &keyring, "chunked");
    // Our images are held to our order too, by default.
    let ours = fx.path("ours");
    encap_ok(job(&fx.repo, FIXTURE_REF, &ours, &[]));
    let report = json(&encap_ok([
        "verify",
        "--oci-dir",
        ours.to_str().unwrap(),
        "--json",
    ]));
    assert_eq!(report["strict"], true);
}
