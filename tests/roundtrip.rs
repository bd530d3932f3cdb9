//! Lossless round trips, checked by real tools: the ostree-ext 0.15.3 importer, `ostree fsck`,
//! `skopeo`, `umoci`, and our own `verify`. Plus reproducibility across runs and repo modes.
//!
//! Kept as one file over 800 lines: one test binary per feature (each binary costs a link),
//! and its tests share the fixtures and helpers at its top.

mod common;

use common::*;
use std::collections::BTreeMap;
use std::os::unix::fs::MetadataExt;
use std::path::Path;
use std::process::Command;

/// Pinned digests of `fixtures/basic.tree` (gzip, tag-independent). If the format changes on
/// purpose, update these and say why in the commit: every client would re-download.
const BASIC_COMMIT: &str = "2499446d76c86c58c792367ee07c00d8627bba1eb04cef9194c2d676fdd8b3ae";
const BASIC_MANIFEST: &str =
    "sha256:499cfcdbc338024e8cc401812d92b3371029f2a9b3e43387aa8514d22641747d";
/// The same commit as a single-layer image (`--max-layers 0`).
const BASIC_MANIFEST_SINGLE: &str =
    "sha256:3e737d44154575772b790c64638220abbf9dafee7085ee5fda09e3e6a79b4b0f";

fn encap_json(repo: &Path, rev: &str, out: &Path, extra: &[&str]) -> serde_json::Value {
    let mut args = job(repo, rev, out, &["--json"]);
    args.extend(extra.iter().map(|s| s.to_string()));
    json(&encap_ok(&args))
}

#[test]
fn full_fixture_round_trips_through_ostree_ext_from_every_repo_mode() {
    let fx = Fixture::new("full");
    let mut digests = BTreeMap::new();
    for mode in ["archive", "bare", "bare-user"] {
        let repo = fx.repo_in_mode(mode);
        let out = fx.path(&format!("oci-{mode}"));
        let s = encap_json(&repo, FIXTURE_REF, &out, &["--tag", "t"]);
        assert_eq!(s["commit"], fx.commit.as_str());
        digests.insert(mode, s["manifest_digest"].as_str().unwrap().to_string());
        let v = encap_ok(on_image(
            "verify",
            &out,
            "t",
            &["--repo", repo.to_str().unwrap(), "--json"],
        ));
        assert_eq!(json(&v)["commit"], fx.commit.as_str());
    }
    let first = digests["archive"].clone();
    assert!(
        digests.values().all(|d| *d == first),
        "digests differ by repo mode: {digests:?}"
    );

    // The real client imports it back to the same commit, and the result passes fsck.
    let out = fx.path("oci-archive");
    let (repo, commit) = import(
        fx.dir.path(),
        &format!("ostree-unverified-image:oci:{}:t", out.display()),
    )
    .unwrap();
    assert_eq!(commit, fx.commit);
    // Same commit checksum plus a clean fsck means every object came back bit for bit.
    ostree(&repo, ["fsck"]);
    assert_eq!(
        ostree(&repo, ["ls", "-R", "-X", &fx.commit]),
        ostree(&fx.repo, ["ls", "-R", "-X", &fx.commit])
    );
}

/// Archive objects are read without libostree (encapsulate/src/objread/): small ones inflated
/// whole, big ones streamed. Both give what libostree gives from a bare-user copy.
#[test]
fn archive_objects_small_and_big_match_bare_user() {
    let fx = Fixture::new("basic");
    let tree = fx.tree.clone();
    // Beyond INFLATE_WHOLE_MAX (4 MiB): streamed; and a compressible one under it.
    std::fs::write(tree.join("usr/lib/big.bin"), pseudo_random("big", 6 << 20)).unwrap();
    std::fs::write(tree.join("usr/lib/text.txt"), "ostree ".repeat(50_000)).unwrap();
    let commit = fx.commit_tree(&tree, "big and small", "2025-03-02T00:00:00Z");
    let bare_user = fx.repo_in_mode("bare-user");
    let a = encap_json(&fx.repo, &commit, &fx.path("a"), &["--max-layers", "0"]);
    let b = encap_json(&bare_user, &commit, &fx.path("b"), &["--max-layers", "0"]);
    assert_eq!(a["manifest_digest"], b["manifest_digest"]);
    assert_eq!(a["commit"], commit.as_str());
}

/// A bare-user repo whose objects live in its parent repo (`core.parent`): the direct reads
/// find no file and fall back to libostree, which looks in the parent. Same image as from the
/// parent itself.
#[test]
fn objects_in_a_parent_repo_are_found() {
    let fx = Fixture::new("basic");
    let parent = fx.repo_in_mode("bare-user");
    let child = fx.path("child");
    ostree(&child, ["init", "--mode=bare-user"]);
    ostree(
        &child,
        ["config", "set", "core.parent", parent.to_str().unwrap()],
    );
    let from_parent = encap_json(&parent, &fx.commit, &fx.path("p"), &["--max-layers", "0"]);
    let from_child = encap_json(&child, &fx.commit, &fx.path("c"), &["--max-layers", "0"]);
    assert_eq!(
        from_parent["manifest_digest"],
        from_child["manifest_digest"]
    );
    assert!(
        std::fs::read_dir(child.join("objects"))
            .unwrap()
            .next()
            .is_none(),
        "the child holds no objects of its own"
    );
}

#[test]
fn basic_fixture_from_bare_user_only_matches_archive_and_golden_digests() {
    let fx = Fixture::new("basic");
    let a = encap_json(&fx.repo, FIXTURE_REF, &fx.path("a"), &[]);
    let buo = fx.repo_in_mode("bare-user-only");
    let b = encap_json(&buo, &fx.commit, &fx.path("b"), &[]);
    assert_eq!(
        a, b,
        "archive and bare-user-only sources must give identical images"
    );
    // Run again into the same dir: identical again, and nothing compressed twice.
    let c = encap_json(&fx.repo, FIXTURE_REF, &fx.path("a"), &[]);
    assert_eq!(a["manifest_digest"], c["manifest_digest"]);
    assert_eq!(a["config_digest"], c["config_digest"]);
    let digests = |v: &serde_json::Value| -> Vec<serde_json::Value> {
        v["layers"]
            .as_array()
            .unwrap()
            .iter()
            .map(|l| l["digest"].clone())
            .collect()
    };
    assert_eq!(digests(&a), digests(&c));
    assert!(
        c["layers"]
            .as_array()
            .unwrap()
            .iter()
            .all(|l| l["reused"] == true),
        "{c:#}"
    );
    // Golden values: the commit itself (made by the ostree CLI) and our manifest.
    assert_eq!(
        fx.commit, BASIC_COMMIT,
        "the fixture commit changed: check fixtures/basic.tree"
    );
    assert_eq!(
        a["manifest_digest"], BASIC_MANIFEST,
        "the image bytes changed"
    );
    let single = encap_json(&buo, FIXTURE_REF, &fx.path("c"), &["--max-layers", "0"]);
    assert_eq!(
        single["manifest_digest"], BASIC_MANIFEST_SINGLE,
        "the single-layer image bytes changed"
    );
    let (repo, commit) = import(
        fx.dir.path(),
        &format!("ostree-unverified-image:oci:{}", fx.path("b").display()),
    )
    .unwrap();
    assert_eq!(commit, fx.commit);
    ostree(&repo, ["fsck"]);
}

#[test]
fn every_compression_imports_and_verifies() {
    let fx = Fixture::new("basic");
    for comp in ["gzip", "zstd", "none"] {
        let out = fx.path(&format!("oci-{comp}"));
        let s = encap_json(
            &fx.repo,
            FIXTURE_REF,
            &out,
            &["--compression", comp, "--tag", comp],
        );
        let media = s["layers"][0]["media_type"].as_str().unwrap();
        let want = match comp {
            "gzip" => "application/vnd.oci.image.layer.v1.tar+gzip",
            "zstd" => "application/vnd.oci.image.layer.v1.tar+zstd",
            _ => "application/vnd.oci.image.layer.v1.tar",
        };
        assert_eq!(media, want);
        encap_ok(["verify", "--oci-dir", out.to_str().unwrap()]);
        let (_, commit) = import(
            fx.dir.path(),
            &format!("ostree-unverified-image:oci:{}:{comp}", out.display()),
        )
        .unwrap();
        assert_eq!(commit, fx.commit);
    }
}

#[test]
fn gpg_signed_commit_keeps_its_signature_through_import() {
    let fx = Fixture::new("basic");
    let (pubkey, keyid) = fx.gpg_sign();
    let out = fx.path("oci");
    encap_json(&fx.repo, FIXTURE_REF, &out, &["--tag", "signed"]);

    let ok = encap_ok([
        "verify",
        "--oci-dir",
        out.to_str().unwrap(),
        "--gpg-keyring",
        pubkey.to_str().unwrap(),
    ]);
    assert!(ok.contains("good GPG signature"), "{ok}");
    assert!(ok.contains(&keyid), "{ok}");
    // Another key must not verify it.
    let (_, other) = gpg_key(fx.dir.path(), "stranger");
    let err = encap_err([
        "verify",
        "--oci-dir",
        out.to_str().unwrap(),
        "--gpg-keyring",
        other.to_str().unwrap(),
    ]);
    assert!(
        err.contains("no valid signature") || err.contains("public key not found"),
        "{err}"
    );

    // ostree-ext verifies the signature against a remote that trusts the key.
    let imp = fx.path("import-verified");
    ostree(&imp, ["init", "--mode=bare-user"]);
    ostree(
        &imp,
        [
            "remote",
            "add",
            "trusted",
            "file:///nonexistent",
            &format!("--gpg-import={}", pubkey.display()),
        ],
    );
    ostree(
        &imp,
        [
            "remote",
            "add",
            "distrusted",
            "file:///nonexistent",
            &format!("--gpg-import={}", other.display()),
        ],
    );
    let commit = import_into(
        &imp,
        &format!("ostree-remote-image:trusted:oci:{}:signed", out.display()),
    )
    .unwrap();
    assert_eq!(commit, fx.commit);
    ostree(&imp, ["fsck"]);
    let err = import_into(
        &imp,
        &format!(
            "ostree-remote-image:distrusted:oci:{}:signed",
            out.display()
        ),
    )
    .unwrap_err();
    assert!(
        err.to_lowercase().contains("signature") || err.contains("gpg"),
        "{err}"
    );
    // And the detached metadata came through intact: ostree itself verifies it.
    let shown = ostree(&imp, ["show", "--gpg-verify-remote=trusted", &fx.commit]);
    assert!(shown.contains("Good signature"), "{shown}");
}

#[test]
fn unsigned_image_fails_verified_import() {
    let fx = Fixture::new("basic");
    let (_, pubkey) = gpg_key(fx.dir.path(), "signer");
    let out = fx.path("oci");
    encap_json(&fx.repo, FIXTURE_REF, &out, &[]);
    let imp = fx.path("imp");
    ostree(&imp, ["init", "--mode=bare-user"]);
    ostree(
        &imp,
        [
            "remote",
            "add",
            "trusted",
            "file:///nonexistent",
            &format!("--gpg-import={}", pubkey.display()),
        ],
    );
    assert!(import_into(
        &imp,
        &format!("ostree-remote-image:trusted:oci:{}", out.display())
    )
    .is_err());
    let err = encap_err([
        "verify",
        "--oci-dir",
        out.to_str().unwrap(),
        "--gpg-keyring",
        pubkey.to_str().unwrap(),
    ]);
    assert!(err.contains("no detached metadata"), "{err}");
}

#[test]
fn ed25519_signature_is_checked_in_process() {
    use ed25519_dalek::Signer;
    use ostree::gio;
    let fx = Fixture::new("basic");
    let signing = ed25519_dalek::SigningKey::from_bytes(&[7u8; 32]);
    let stranger = ed25519_dalek::SigningKey::from_bytes(&[9u8; 32]);
    let repo = ostree::Repo::new_for_path(&fx.repo);
    repo.open(gio::Cancellable::NONE).unwrap();
    let (commit_v, _) = repo.load_commit(&fx.commit).unwrap();
    let sig = signing.sign(commit_v.data());
    let meta = verify::signature::ed25519_detached_metadata(&[sig.to_bytes()]);
    let meta_v = ostree::glib::Variant::from_bytes_with_type(
        &ostree::glib::Bytes::from(&meta[..]),
        ostree::glib::VariantTy::VARDICT,
    );
    repo.write_commit_detached_metadata(&fx.commit, Some(&meta_v), gio::Cancellable::NONE)
        .unwrap();

    let out = fx.path("oci");
    encap_json(&fx.repo, FIXTURE_REF, &out, &[]);
    use base64::Engine;
    let b64 = |k: &ed25519_dalek::SigningKey| {
        base64::engine::general_purpose::STANDARD.encode(k.verifying_key().to_bytes())
    };
    let ok = encap_ok([
        "verify",
        "--oci-dir",
        out.to_str().unwrap(),
        "--ed25519-key",
        &b64(&signing),
    ]);
    assert!(ok.contains("1 good ed25519 signature"), "{ok}");
    let keyfile = fx.path("keys.txt");
    std::fs::write(&keyfile, format!("{}\n{}\n", b64(&stranger), b64(&signing))).unwrap();
    encap_ok([
        "verify",
        "--oci-dir",
        out.to_str().unwrap(),
        "--ed25519-key",
        keyfile.to_str().unwrap(),
    ]);
    let err = encap_err([
        "verify",
        "--oci-dir",
        out.to_str().unwrap(),
        "--ed25519-key",
        &b64(&stranger),
    ]);
    assert!(err.contains("none valid"), "{err}");
    let err = encap_err([
        "verify",
        "--oci-dir",
        out.to_str().unwrap(),
        "--ed25519-key",
        "not-base64!",
    ]);
    assert!(err.contains("bad key"), "{err}");
    // The detached metadata reaches the importer unchanged.
    let (imp, commit) = import(
        fx.dir.path(),
        &format!("ostree-unverified-image:oci:{}", out.display()),
    )
    .unwrap();
    assert_eq!(commit, fx.commit);
    let r2 = ostree::Repo::new_for_path(&imp);
    r2.open(gio::Cancellable::NONE).unwrap();
    let got = r2
        .read_commit_detached_metadata(&fx.commit, gio::Cancellable::NONE)
        .unwrap()
        .unwrap();
    assert_eq!(got.data(), &meta[..]);
}

#[test]
fn labels_annotations_and_config_follow_the_commit_and_options() {
    let fx = Fixture::new("full");
    let cfg = fx.path("config.json");
    std::fs::write(
        &cfg,
        r#"{"Env":["PATH=/usr/bin"],"Labels":{"from.config":"yes"},"StopSignal":"SIGRTMIN+3"}"#,
    )
    .unwrap();
    let out = fx.path("oci");
    encap_json(
        &fx.repo,
        FIXTURE_REF,
        &out,
        &[
            "--tag",
            "t",
            "--label",
            "vendor=Example",
            "--annotation",
            "only.manifest=1",
            "--copymeta",
            "custom.key",
            "--copymeta-opt",
            "absent.key",
            "--config",
            cfg.to_str().unwrap(),
            "--arch",
            "aarch64",
            "--cmd",
            "/usr/bin/bash",
            "-l",
        ],
    );
    let (m, c) = image(&out, "t");
    let labels = &c["config"]["Labels"];
    assert_eq!(labels["ostree.commit"], fx.commit.as_str());
    assert_eq!(labels["ostree.bootable"], "true");
    assert_eq!(labels["containers.bootc"], "1");
    assert_eq!(labels["ostree.linux"], "6.1.0-fixture");
    assert_eq!(labels["org.opencontainers.image.version"], "2.5");
    assert_eq!(labels["custom.key"], "custom value");
    assert_eq!(labels["vendor"], "Example");
    assert_eq!(labels["from.config"], "yes");
    assert!(labels.get("absent.key").is_none());
    let diff_ids = c["rootfs"]["diff_ids"].as_array().unwrap();
    assert_eq!(&labels["ostree.final-diffid"], diff_ids.last().unwrap());
    assert!(diff_ids.len() > 2, "the full fixture is chunked by default");
    assert_eq!(c["config"]["Env"][0], "PATH=/usr/bin");
    assert_eq!(
        c["config"]["Cmd"],
        serde_json::json!(["/usr/bin/bash", "-l"])
    );
    assert_eq!(c["architecture"], "arm64");
    assert_eq!(c["os"], "linux");
    assert_eq!(c["created"], "2025-02-03T04:05:06Z");
    assert_eq!(c["history"][0]["created"], "2025-02-03T04:05:06Z");
    assert!(c["history"][0]["created_by"]
        .as_str()
        .unwrap()
        .contains("full fixture"));
    for (k, v) in labels.as_object().unwrap() {
        assert_eq!(&m["annotations"][k], v, "manifest annotation {k}");
    }
    assert_eq!(m["annotations"]["only.manifest"], "1");
    assert!(labels.get("only.manifest").is_none());
    let idx = index(&out);
    assert_eq!(idx["manifests"][0]["platform"]["architecture"], "arm64");

    // --created wins over SOURCE_DATE_EPOCH, which wins over the commit time.
    let out2 = fx.path("oci2");
    let o = encap_command()
        .args(job(&fx.repo, FIXTURE_REF, &out2, &["--tag", "sde"]))
        .env("SOURCE_DATE_EPOCH", "86400")
        .output()
        .unwrap();
    assert!(o.status.success());
    assert_eq!(image(&out2, "sde").1["created"], "1970-01-02T00:00:00Z");
    encap_ok(job(
        &fx.repo,
        FIXTURE_REF,
        &out2,
        &["--tag", "cr", "--created", "2030-01-01T00:00:00+02:00"],
    ));
    assert_eq!(image(&out2, "cr").1["created"], "2029-12-31T22:00:00Z");
}

#[test]
fn tags_accumulate_and_replace_in_one_layout() {
    let fx = Fixture::new("basic");
    let out = fx.path("oci");
    let a = encap_json(&fx.repo, FIXTURE_REF, &out, &["--tag", "a"]);
    let b = encap_json(
        &fx.repo,
        FIXTURE_REF,
        &out,
        &["--tag", "b", "--label", "x=1"],
    );
    encap_json(
        &fx.repo,
        FIXTURE_REF,
        &out,
        &["--tag", "a", "--label", "x=2"],
    );
    let idx = index(&out);
    let tags: Vec<_> = idx["manifests"]
        .as_array()
        .unwrap()
        .iter()
        .map(|d| d["annotations"]["org.opencontainers.image.ref.name"].clone())
        .collect();
    assert_eq!(tags, vec!["a", "b"]);
    assert_eq!(idx["manifests"][1]["digest"], b["manifest_digest"]);
    assert_ne!(idx["manifests"][0]["digest"], a["manifest_digest"]);
    assert_eq!(image(&out, "a").1["config"]["Labels"]["x"], "2");
    // skopeo reads both.
    for t in ["a", "b"] {
        let o =
            run_ok(Command::new("skopeo").args(["inspect", &format!("oci:{}:{t}", out.display())]));
        let v = json(&String::from_utf8_lossy(&o.stdout));
        assert_eq!(v["Labels"]["ostree.commit"], fx.commit.as_str());
    }
}

#[test]
fn oci_archive_is_deterministic_and_readable_by_skopeo() {
    let fx = Fixture::new("basic");
    let a1 = fx.path("one.ociarchive");
    let a2 = fx.path("two.ociarchive");
    for a in [&a1, &a2] {
        encap_ok(job(&fx.repo, FIXTURE_REF, a, &[]));
    }
    assert_eq!(std::fs::read(&a1).unwrap(), std::fs::read(&a2).unwrap());
    let o =
        run_ok(Command::new("skopeo").args(["inspect", &format!("oci-archive:{}", a1.display())]));
    assert_eq!(
        json(&String::from_utf8_lossy(&o.stdout))["Labels"]["ostree.commit"],
        fx.commit.as_str()
    );
    encap_ok(["verify", "--oci-archive", a1.to_str().unwrap()]);
    // skopeo copy to a dir keeps our digests.
    let copied = fx.path("copied");
    run_ok(Command::new("skopeo").args([
        "copy",
        &format!("oci-archive:{}", a1.display()),
        &format!("oci:{}:c", copied.display()),
    ]));
    encap_ok([
        "verify",
        "--oci-dir",
        copied.to_str().unwrap(),
        "--tag",
        "c",
    ]);
    let no_tmp = std::fs::read_dir(fx.dir.path())
        .unwrap()
        .filter_map(|e| e.ok())
        .all(|e| {
            !e.file_name()
                .to_string_lossy()
                .starts_with(".ostree-encap-")
        });
    assert!(no_tmp, "work directories left behind");
}

/// Metadata of one path, for tree comparisons.
#[derive(Debug, PartialEq, Eq)]
struct Node {
    kind: &'static str,
    mode: u32,
    uid: u32,
    gid: u32,
    content: String,
    xattrs: BTreeMap<String, String>,
}

fn user_xattrs(path: &Path) -> BTreeMap<String, String> {
    let o = Command::new("getfattr")
        .args(["-h", "-d", "-m", "^user\\.", "-e", "hex"])
        .arg(path)
        .output()
        .unwrap();
    String::from_utf8_lossy(&o.stdout)
        .lines()
        .filter_map(|l| l.split_once('='))
        .map(|(k, v)| (k.to_string(), v.to_string()))
        .collect()
}

fn walk(root: &Path) -> BTreeMap<String, Node> {
    let mut out = BTreeMap::new();
    let mut stack = vec![root.to_path_buf()];
    while let Some(dir) = stack.pop() {
        for e in std::fs::read_dir(&dir).unwrap() {
            let e = e.unwrap();
            let path = e.path();
            let md = std::fs::symlink_metadata(&path).unwrap();
            let rel = path
                .strip_prefix(root)
                .unwrap()
                .to_string_lossy()
                .into_owned();
            let (kind, content) = if md.file_type().is_symlink() {
                (
                    "symlink",
                    std::fs::read_link(&path)
                        .unwrap()
                        .to_string_lossy()
                        .into_owned(),
                )
            } else if md.is_dir() {
                stack.push(path.clone());
                ("dir", String::new())
            } else {
                (
                    "file",
                    hex::encode(<sha2::Sha256 as sha2::Digest>::digest(
                        std::fs::read(&path).unwrap(),
                    )),
                )
            };
            let mode = if kind == "symlink" {
                0
            } else {
                md.mode() & 0o7777
            };
            out.insert(
                rel,
                Node {
                    kind,
                    mode,
                    uid: md.uid(),
                    gid: md.gid(),
                    content,
                    xattrs: user_xattrs(&path),
                },
            );
        }
    }
    out
}

#[test]
fn umoci_unpack_matches_ostree_checkout() {
    let fx = Fixture::new("full");
    let out = fx.path("oci");
    encap_json(&fx.repo, FIXTURE_REF, &out, &["--tag", "t"]);
    let co = fx.path("checkout");
    ostree(&fx.repo, ["checkout", FIXTURE_REF, co.to_str().unwrap()]);
    let bundle = fx.path("bundle");
    run_ok(
        Command::new("umoci")
            .args(["unpack", "--image", &format!("{}:t", out.display())])
            .arg(&bundle),
    );
    let want = walk(&co);
    let got = walk(&bundle.join("rootfs"));
    let mut compared = 0;
    for (path, node) in &want {
        let mapped = match path.strip_prefix("usr/etc") {
            Some(rest) => format!("etc{rest}"),
            None => path.clone(),
        };
        let g = got
            .get(&mapped)
            .unwrap_or_else(|| panic!("{path} missing from the unpacked image"));
        assert_eq!(g, node, "{path}");
        compared += 1;
    }
    assert!(compared > 2000, "compared only {compared} paths");
    // What the image adds: the embedded repo, /var/tmp.
    for extra in got
        .keys()
        .filter(|k| !want.contains_key(*k) && !k.starts_with("etc"))
    {
        assert!(
            extra.starts_with("sysroot") || extra == "var/tmp",
            "unexpected path {extra}"
        );
    }
}

#[test]
fn import_writes_the_same_commit_into_any_repo_mode_and_re_exports_identically() {
    let fx = Fixture::new("full");
    let (pubkey, _) = fx.gpg_sign();
    let out = fx.path("oci");
    let first = encap_json(&fx.repo, FIXTURE_REF, &out, &["--tag", "t"]);
    for mode in ["archive", "bare-user", "bare"] {
        let repo = fx.path(&format!("imported-{mode}"));
        ostree(&repo, ["init", &format!("--mode={mode}")]);
        let r = json(&encap_ok(on_image(
            "import",
            &out,
            "t",
            &[
                "--repo",
                repo.to_str().unwrap(),
                "--branch",
                "imported/ref",
                "--json",
            ],
        )));
        assert_eq!(r["commit"], fx.commit.as_str());
        ostree(&repo, ["fsck"]);
        assert_eq!(ostree(&repo, ["rev-parse", "imported/ref"]), fx.commit);
        // The signature came along and verifies against the key.
        ostree(
            &repo,
            [
                "remote",
                "add",
                "k",
                "file:///nonexistent",
                &format!("--gpg-import={}", pubkey.display()),
            ],
        );
        assert!(
            ostree(&repo, ["show", "--gpg-verify-remote=k", &fx.commit]).contains("Good signature")
        );
        // Exporting the imported commit gives the very same image.
        let again = encap_json(
            &repo,
            "imported/ref",
            &fx.path(&format!("again-{mode}")),
            &["--tag", "t"],
        );
        assert_eq!(again["manifest_digest"], first["manifest_digest"], "{mode}");
    }
    // A corrupt image is refused and leaves no commit in the repo.
    let layer = image(&out, "t").0["layers"][1]["digest"]
        .as_str()
        .unwrap()
        .to_string();
    let p = out.join("blobs/sha256").join(&layer[7..]);
    let mut data = std::fs::read(&p).unwrap();
    let n = data.len();
    data[n / 3] ^= 0x04;
    std::fs::write(&p, data).unwrap();
    let repo = fx.path("imported-bad");
    let err = encap_err(on_image(
        "import",
        &out,
        "t",
        &["--repo", repo.to_str().unwrap()],
    ));
    assert!(err.contains(&layer), "{err}");
    // A repository the failed import created is removed again: nothing half-written.
    assert!(!repo.exists(), "a failed import left the repo it created");
    // Into an existing repository: nothing committed, no ref.
    ostree(&repo, ["init", "--mode=archive"]);
    let err = encap_err(on_image(
        "import",
        &out,
        "t",
        &["--repo", repo.to_str().unwrap(), "--branch", "b"],
    ));
    assert!(err.contains(&layer), "{err}");
    let listed = ostree(&repo, ["refs"]);
    assert!(listed.is_empty());
    let objects = std::process::Command::new("find")
        .arg(repo.join("objects"))
        .args(["-name", "*.commit"])
        .output()
        .unwrap();
    assert!(objects.stdout.is_empty(), "a commit was left behind");
}

/// Progress is drawn on a terminal (layers, objects, MiB, rate) and nowhere else: not with
/// `--quiet`, not when stderr is a pipe. `script` gives the run a pseudo-terminal.
#[test]
fn progress_on_a_terminal_only() {
    let fx = Fixture::new("basic");
    let bin = option_env!("CARGO_BIN_EXE_ostree-encap")
        .map(std::path::PathBuf::from)
        .unwrap_or_else(|| workspace_root().join("target/debug/ostree-encap"));
    let on_tty = |extra: &str, out: &str| -> String {
        let cmd = format!(
            "{} {} {extra}",
            bin.display(),
            job(&fx.repo, FIXTURE_REF, &fx.path(out), &[]).join(" ")
        );
        let o = Command::new("script")
            .args(["-q", "-e", "-c", &cmd, "/dev/null"])
            .stdin(std::process::Stdio::null())
            .output()
            .expect("running script");
        assert!(o.status.success(), "{cmd}: {o:?}");
        String::from_utf8_lossy(&o.stdout).into_owned()
    };
    let shown = on_tty("", "tty");
    let layers = json(&encap_ok(job(
        &fx.repo,
        FIXTURE_REF,
        &fx.path("count"),
        &["--json"],
    )))["layers"]
        .as_array()
        .unwrap()
        .len();
    assert!(
        shown.contains(&format!("layers {layers}/{layers}")),
        "final progress line: {shown:?}"
    );
    assert!(
        shown.contains("objects ") && shown.contains("MiB/s"),
        "{shown:?}"
    );
    let quiet = on_tty("--quiet", "tty-quiet");
    assert!(
        !quiet.contains("objects ") && !quiet.contains("MiB/s"),
        "{quiet:?}"
    );
    let piped = encap(job(&fx.repo, FIXTURE_REF, &fx.path("piped"), &[]));
    assert!(piped.status.success());
    let err = String::from_utf8_lossy(&piped.stderr);
    assert!(!err.contains("MiB/s") && !err.contains('\r'), "{err:?}");
}

/// Signing a commit changes its detached metadata, not its checksum: a rebuild into the same
/// directory must write a new commit layer (its key covers the signatures), never reuse the
/// unsigned one.
#[test]
fn re_signed_commit_gets_a_new_commit_layer() {
    let fx = Fixture::new("basic");
    let out = fx.path("oci");
    let before = encap_json(&fx.repo, FIXTURE_REF, &out, &["--tag", "unsigned"]);
    assert_eq!(before["layers"][0]["reused"], false);
    let again = encap_json(&fx.repo, FIXTURE_REF, &out, &["--tag", "again"]);
    assert_eq!(
        again["layers"][0]["reused"], true,
        "same commit, same layer"
    );
    let (pubkey, _) = fx.gpg_sign();
    let signed = encap_json(&fx.repo, FIXTURE_REF, &out, &["--tag", "signed"]);
    assert_eq!(signed["layers"][0]["reused"], false, "{signed:#}");
    assert_ne!(signed["layers"][0]["digest"], before["layers"][0]["digest"]);
    let ok = encap_ok([
        "verify",
        "--oci-dir",
        out.to_str().unwrap(),
        "--tag",
        "signed",
        "--gpg-keyring",
        pubkey.to_str().unwrap(),
    ]);
    assert!(ok.contains("good GPG signature"), "{ok}");
}
