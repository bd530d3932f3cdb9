//! `cosa buildextend-container` in fake coreos-assembler working directories built from cosa's
//! example files, with real ostree repos, the real schema and real skopeo.

#[path = "../../tests/common/mod.rs"]
mod common;

use common::*;
use serde_json::Value;
use std::path::{Path, PathBuf};
use std::process::{Command, Output, Stdio};

/// Vendored cosa schema and our own example build metadata (see fixtures/cosa/README.md).
fn cosa_fixtures() -> PathBuf {
    workspace_root().join("fixtures/cosa")
}

fn schema() -> PathBuf {
    cosa_fixtures().join("meta.schema.json")
}

fn plugin(workdir: &Path, args: &[&str]) -> Output {
    cosa_cmd(
        env!("CARGO_BIN_EXE_cmd-buildextend-container"),
        workdir,
        args,
    )
}

/// A cosa command of ours, in `workdir`, with the vendored schema.
fn cosa_cmd(bin: &str, workdir: &Path, args: &[&str]) -> Output {
    Command::new(bin)
        .arg("--workdir")
        .arg(workdir)
        .arg("--schema")
        .arg(schema())
        .args(args)
        .stdin(Stdio::null())
        .output()
        .unwrap()
}

fn plugin_ok(workdir: &Path, args: &[&str]) -> String {
    let o = plugin(workdir, args);
    assert!(
        o.status.success(),
        "plugin failed: {}",
        String::from_utf8_lossy(&o.stderr)
    );
    String::from_utf8_lossy(&o.stdout).into_owned()
}

fn plugin_err(workdir: &Path, args: &[&str]) -> String {
    let o = plugin(workdir, args);
    assert!(
        !o.status.success(),
        "plugin unexpectedly succeeded: {}",
        String::from_utf8_lossy(&o.stdout)
    );
    String::from_utf8_lossy(&o.stderr).into_owned()
}

fn validate(meta: &Value) {
    let s: Value = serde_json::from_slice(&std::fs::read(schema()).unwrap()).unwrap();
    let v = jsonschema::validator_for(&s).unwrap();
    let errors: Vec<String> = v.iter_errors(meta).map(|e| e.to_string()).collect();
    assert!(errors.is_empty(), "{errors:?}");
}

/// A cosa workdir: tmp/repo (archive) holding two consecutive commits, builds.json with build
/// "2" (x86_64 + aarch64) newest and build "1" (x86_64), meta.json files made from cosa's
/// example meta.
struct Cosa {
    fx: Fixture,
    work: PathBuf,
    commits: [String; 2],
}

fn cosa() -> Cosa {
    let fx = Fixture::new("components");
    let work = fx.path("cosa");
    std::fs::create_dir_all(work.join("tmp")).unwrap();
    // cosa's tmp/repo is an archive repo.
    run_ok(
        Command::new("cp")
            .arg("-a")
            .arg(&fx.repo)
            .arg(work.join("tmp/repo")),
    );
    let tree = fx.tree.clone();
    std::fs::write(
        tree.join("usr/lib/beta/b1"),
        pseudo_random("beta v2", 50_000),
    )
    .unwrap();
    let c2 = ostree(
        &work.join("tmp/repo"),
        [
            "commit",
            "--branch=fixture/x86_64/test",
            &format!("--tree=dir={}", tree.display()),
            "--subject=2",
            "--timestamp=2025-03-02T00:00:00Z",
        ],
    );
    let example: Value =
        serde_json::from_slice(&std::fs::read(cosa_fixtures().join("example-meta.json")).unwrap())
            .unwrap();
    for (id, arch, commit) in [
        ("1", "x86_64", &fx.commit),
        ("2", "x86_64", &c2),
        ("2", "aarch64", &c2),
    ] {
        let mut m = example.clone();
        m["buildid"] = id.into();
        m["ostree-commit"] = commit.as_str().into();
        m["coreos-assembler.basearch"] = arch.into();
        let dir = work.join("builds").join(id).join(arch);
        std::fs::create_dir_all(&dir).unwrap();
        std::fs::write(
            dir.join("meta.json"),
            serde_json::to_vec_pretty(&m).unwrap(),
        )
        .unwrap();
    }
    std::fs::write(
        work.join("builds/builds.json"),
        r#"{"schema-version":"1.0.0","builds":[{"id":"2","arches":["x86_64","aarch64"]},{"id":"1","arches":["x86_64"]}],"timestamp":"2025-03-02T00:00:00Z"}"#,
    )
    .unwrap();
    let commit1 = fx.commit.clone();
    Cosa {
        fx,
        work,
        commits: [commit1, c2],
    }
}

fn meta(work: &Path, id: &str, arch: &str) -> Value {
    serde_json::from_slice(
        &std::fs::read(work.join("builds").join(id).join(arch).join("meta.json")).unwrap(),
    )
    .unwrap()
}

#[test]
fn builds_record_and_keep_layouts_stable() {
    let c = cosa();
    let before = meta(&c.work, "1", "x86_64");
    validate(&before);
    plugin_ok(&c.work, &["--build", "1", "--arch", "x86_64"]);
    let after = meta(&c.work, "1", "x86_64");
    validate(&after);
    let name = "fedora-coreos-1-container.x86_64.ociarchive";
    let art = c.work.join("builds/1/x86_64").join(name);
    let img = &after["images"]["container"];
    assert_eq!(img["path"], name);
    assert_eq!(img["skip-compression"], true);
    let data = std::fs::read(&art).unwrap();
    assert_eq!(img["size"], data.len());
    assert_eq!(
        img["sha256"],
        hex::encode(<sha2::Sha256 as sha2::Digest>::digest(&data))
    );
    assert!(std::fs::metadata(&art).unwrap().permissions().readonly());
    // Unrelated keys are untouched, in their order.
    let mut stripped = after.clone();
    stripped["images"]
        .as_object_mut()
        .unwrap()
        .remove("container");
    assert_eq!(
        serde_json::to_string(&stripped).unwrap(),
        serde_json::to_string(&before).unwrap()
    );
    // The image carries the build's commit and cosa's labels, and imports losslessly.
    let (oci, _tmp) =
        ostree_encap::open_layout(&ostree_encap::Target::Archive(art.clone())).unwrap();
    let r = ostree_encap::verify(&oci, &Default::default()).unwrap();
    assert_eq!(r.commit, c.commits[0]);
    let resolved = oci.resolve(None).unwrap();
    assert_eq!(
        resolved.config.labels()["com.coreos.osname"],
        "fedora-coreos"
    );
    let (_, commit) = import(
        c.fx.dir.path(),
        &format!("ostree-unverified-image:oci-archive:{}", art.display()),
    )
    .unwrap();
    assert_eq!(commit, c.commits[0]);

    // Idempotent: a second run skips and changes nothing; --force rebuilds the same bytes.
    let out = plugin_ok(&c.work, &["--build", "1", "--arch", "x86_64"]);
    assert!(out.contains("already exists; skipping"), "{out}");
    assert_eq!(std::fs::read(&art).unwrap(), data);
    plugin_ok(&c.work, &["--build", "1", "--arch", "x86_64", "--force"]);
    assert_eq!(
        std::fs::read(&art).unwrap(),
        data,
        "rebuild is not reproducible"
    );

    // The next build follows its parent's layout: only the changed component's layer and
    // the commit layer are new.
    let out = plugin_ok(&c.work, &["--arch", "x86_64"]);
    assert!(out.contains("layout kept from"), "{out}");
    let art2 = c
        .work
        .join("builds/2/x86_64/fedora-coreos-2-container.x86_64.ociarchive");
    let d = ostree_encap::diff(art.to_str().unwrap(), art2.to_str().unwrap()).unwrap();
    assert_eq!(d.new_layers, 2, "{d:#?}");
    validate(&meta(&c.work, "2", "x86_64"));
    // Multi-arch builds.json: the aarch64 build of the same id.
    plugin_ok(&c.work, &["--arch", "aarch64"]);
    let a = meta(&c.work, "2", "aarch64");
    assert_eq!(
        a["images"]["container"]["path"],
        "fedora-coreos-2-container.aarch64.ociarchive"
    );
    let (oci, _tmp) = ostree_encap::open_layout(&ostree_encap::Target::Archive(
        c.work
            .join("builds/2/aarch64/fedora-coreos-2-container.aarch64.ociarchive"),
    ))
    .unwrap();
    assert_eq!(oci.resolve(None).unwrap().config.architecture, "arm64");
}

#[test]
fn missing_commit_is_re_imported_from_images_ostree() {
    let c = cosa();
    // Give build 1 an images.ostree oci-archive (as cosa does), then drop the repo cache.
    let dir = c.work.join("builds/1/x86_64");
    let ostree_name = "fedora-coreos-1-ostree.x86_64.ociarchive";
    let req = ostree_encap::EncapsulateRequest {
        repo: c.work.join("tmp/repo"),
        rev: c.commits[0].clone(),
        chunking: ostree_encap::ChunkOptions {
            max_layers: 0,
            ..Default::default()
        },
        ..Default::default()
    };
    ostree_encap::encapsulate_to(
        &req,
        &ostree_encap::Target::Archive(dir.join(ostree_name)),
        &mut ostree_encap::NoProgress,
    )
    .unwrap();
    let mut m = meta(&c.work, "1", "x86_64");
    let (sha, size) = cosa_plugin::sha256_file(&dir.join(ostree_name)).unwrap();
    m["images"]["ostree"] = serde_json::json!({"path": ostree_name, "sha256": sha, "size": size});
    std::fs::write(
        dir.join("meta.json"),
        serde_json::to_vec_pretty(&m).unwrap(),
    )
    .unwrap();
    std::fs::remove_dir_all(c.work.join("tmp/repo")).unwrap();
    let o = plugin(&c.work, &["--build", "1", "--arch", "x86_64"]);
    assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
    assert!(String::from_utf8_lossy(&o.stderr).contains("re-importing"));
    ostree(&c.work.join("tmp/repo"), ["fsck"]);
    let art = dir.join("fedora-coreos-1-container.x86_64.ociarchive");
    let (oci, _tmp) = ostree_encap::open_layout(&ostree_encap::Target::Archive(art)).unwrap();
    assert_eq!(
        ostree_encap::verify(&oci, &Default::default())
            .unwrap()
            .commit,
        c.commits[0]
    );
    validate(&meta(&c.work, "1", "x86_64"));
    // A tampered images.ostree is refused, and leaves no commit behind.
    std::fs::remove_dir_all(c.work.join("tmp/repo")).unwrap();
    let p = dir.join(ostree_name);
    let mut data = std::fs::read(&p).unwrap();
    let n = data.len();
    data[n / 2] ^= 0x20;
    std::fs::write(&p, data).unwrap();
    let err = plugin_err(&c.work, &["--build", "1", "--arch", "x86_64", "--force"]);
    assert!(
        err.contains("re-importing") || err.contains("blob"),
        "{err}"
    );
    let r = ostree::Repo::new_for_path(c.work.join("tmp/repo"));
    if r.open(ostree::gio::Cancellable::NONE).is_ok() {
        assert!(!r
            .has_object(
                ostree::ObjectType::Commit,
                &c.commits[0],
                ostree::gio::Cancellable::NONE
            )
            .unwrap());
    }
}

#[test]
fn cosa_push_path_works_against_a_loopback_registry() {
    let c = cosa();
    plugin_ok(&c.work, &["--build", "1", "--arch", "x86_64"]);
    let art = c
        .work
        .join("builds/1/x86_64/fedora-coreos-1-container.x86_64.ociarchive");
    let reg = Registry::start(None);
    let dest = reg.url("coreos/fcos:1");
    run_ok(Command::new("skopeo").args([
        "copy",
        "--dest-tls-verify=false",
        &format!("oci-archive:{}", art.display()),
        &dest,
    ]));
    let o = run_ok(Command::new("skopeo").args(["inspect", "--tls-verify=false", &dest]));
    let v: Value = serde_json::from_slice(&o.stdout).unwrap();
    let (oci, _tmp) = ostree_encap::open_layout(&ostree_encap::Target::Archive(art)).unwrap();
    assert_eq!(
        v["Digest"],
        oci.resolve(None).unwrap().descriptor.digest.as_str()
    );
}

#[test]
fn errors_name_the_problem() {
    let c = cosa();
    let elsewhere = c.fx.path("not-cosa");
    std::fs::create_dir_all(&elsewhere).unwrap();
    let err = plugin_err(&elsewhere, &[]);
    assert!(
        err.contains("not a coreos-assembler working directory"),
        "{err}"
    );
    let err = plugin_err(&c.work, &["--build", "99"]);
    assert!(err.contains("build 99 not found"), "{err}");
    let err = plugin_err(&c.work, &["--build", "1", "--arch", "s390x"]);
    assert!(err.contains("has no s390x build"), "{err}");
    // The library's limits hold here too (they used to live in the CLI only).
    let before = std::fs::read(c.work.join("builds/1/x86_64/meta.json")).unwrap();
    let err = plugin_err(
        &c.work,
        &["--build", "1", "--arch", "x86_64", "--max-layers", "5000"],
    );
    assert!(err.contains("--max-layers 5000"), "{err}");
    assert!(!c
        .work
        .join("builds/1/x86_64/fedora-coreos-1-container.x86_64.ociarchive")
        .exists());
    assert_eq!(
        std::fs::read(c.work.join("builds/1/x86_64/meta.json")).unwrap(),
        before
    );
    // A meta.json that fails the schema.
    let p = c.work.join("builds/1/x86_64/meta.json");
    let mut m = meta(&c.work, "1", "x86_64");
    m.as_object_mut().unwrap().remove("name");
    std::fs::write(&p, serde_json::to_vec(&m).unwrap()).unwrap();
    let err = plugin_err(&c.work, &["--build", "1", "--arch", "x86_64"]);
    assert!(
        err.contains("does not validate") && err.contains("name"),
        "{err}"
    );
    // A commit that is nowhere.
    let mut m = meta(&c.work, "2", "x86_64");
    m["ostree-commit"] = "ab".repeat(32).into();
    std::fs::write(
        c.work.join("builds/2/x86_64/meta.json"),
        serde_json::to_vec(&m).unwrap(),
    )
    .unwrap();
    let err = plugin_err(&c.work, &["--arch", "x86_64", "--previous", "none"]);
    assert!(
        err.contains(&"ab".repeat(32)) && err.contains("not in tmp/repo"),
        "{err}"
    );
    assert!(!c
        .work
        .join("builds/2/x86_64/fedora-coreos-2-container.x86_64.ociarchive")
        .exists());
}

#[test]
fn concurrent_meta_updates_lose_nothing() {
    let c = cosa();
    let p = c.work.join("builds/1/x86_64/meta.json");
    let check = cosa_plugin::MetaCheck::load(Some(&schema())).unwrap();
    std::thread::scope(|s| {
        for i in 0..8 {
            let (p, check) = (&p, &check);
            s.spawn(move || {
                cosa_plugin::update_meta(p, check, |m| {
                    m["images"].as_object_mut().unwrap().insert(
                        format!("extra-{i}"),
                        serde_json::json!({"path": format!("x{i}"), "sha256": "00"}),
                    );
                    Ok(())
                })
                .unwrap();
            });
        }
    });
    let m = meta(&c.work, "1", "x86_64");
    for i in 0..8 {
        assert!(
            m["images"].get(format!("extra-{i}")).is_some(),
            "lost extra-{i}: {m:#}"
        );
    }
    validate(&m);
}

fn manifest_cmd(workdir: &Path, args: &[&str]) -> Output {
    cosa_cmd(
        env!("CARGO_BIN_EXE_cmd-buildextend-container-manifest"),
        workdir,
        args,
    )
}

#[test]
fn two_arches_are_pushed_as_one_index_and_recorded_in_each_meta() {
    let c = cosa();
    let reg = Registry::start(None);
    let repo = format!("127.0.0.1:{}/fcos", reg.port);
    // x86_64: built and pushed on its own, as a builder of one arch does.
    let own = reg.url("fcos:2-x86_64");
    plugin_ok(
        &c.work,
        &[
            "--build",
            "2",
            "--arch",
            "x86_64",
            "--push",
            &own,
            "--dest-tls-verify",
            "false",
        ],
    );
    let m = meta(&c.work, "2", "x86_64");
    validate(&m);
    let rec = &m["base-oscontainer"];
    assert_eq!(rec["image"], repo.as_str());
    assert_eq!(rec["tags"], serde_json::json!(["2-x86_64"]));
    let raw = run_ok(Command::new("skopeo").args(["inspect", "--raw", "--tls-verify=false", &own]));
    assert_eq!(
        rec["digest"],
        sha(&raw.stdout).as_str(),
        "the digest the registry serves"
    );
    // aarch64: built, not pushed.
    plugin_ok(&c.work, &["--build", "2", "--arch", "aarch64"]);

    // Joined, pushed under two tags, recorded in both arches' meta.json.
    let o = manifest_cmd(
        &c.work,
        &[
            "--build",
            "2",
            "--repo",
            &repo,
            "--tag",
            "2",
            "--tag",
            "stable",
            "--dest-tls-verify",
            "false",
        ],
    );
    assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
    let stable = reg.url("fcos:stable");
    let raw =
        run_ok(Command::new("skopeo").args(["inspect", "--raw", "--tls-verify=false", &stable]));
    let index: Value = serde_json::from_slice(&raw.stdout).unwrap();
    assert_eq!(
        index["mediaType"],
        "application/vnd.oci.image.index.v1+json"
    );
    let list_digest = sha(&raw.stdout);
    let raw2 = run_ok(Command::new("skopeo").args([
        "inspect",
        "--raw",
        "--tls-verify=false",
        &reg.url("fcos:2"),
    ]));
    assert_eq!(sha(&raw2.stdout), list_digest, "both tags name the index");
    for (arch, goarch) in [("x86_64", "amd64"), ("aarch64", "arm64")] {
        let m = meta(&c.work, "2", arch);
        validate(&m);
        let rec = &m["base-oscontainer"];
        assert_eq!(rec["image"], repo.as_str());
        assert_eq!(rec["manifest-list-digest"], list_digest.as_str());
        assert_eq!(rec["tags"], serde_json::json!(["2", "stable"]));
        let entry = index["manifests"]
            .as_array()
            .unwrap()
            .iter()
            .find(|e| e["platform"]["architecture"] == goarch)
            .unwrap_or_else(|| panic!("no {goarch} in the index"));
        assert_eq!(rec["digest"], entry["digest"], "{arch}");
        // What a client of that arch pulls is that image.
        let pulled = c.fx.path(&format!("pulled-{arch}"));
        run_ok(Command::new("skopeo").args([
            "copy",
            "--src-tls-verify=false",
            "--override-os",
            "linux",
            "--override-arch",
            goarch,
            &stable,
            &format!("oci:{}:x", pulled.display()),
        ]));
        assert_eq!(
            index_of(&pulled)["manifests"][0]["digest"],
            rec["digest"],
            "{arch}"
        );
        // The image config still says which build it is.
        assert!(m["images"]["container"]["path"].is_string());
    }

    // An arch without its image is named, and nothing is pushed.
    let d = c.work.join("builds/2/aarch64");
    let mut m = meta(&c.work, "2", "aarch64");
    m["images"].as_object_mut().unwrap().remove("container");
    std::fs::write(d.join("meta.json"), serde_json::to_vec_pretty(&m).unwrap()).unwrap();
    let o = manifest_cmd(
        &c.work,
        &[
            "--build",
            "2",
            "--repo",
            &repo,
            "--tag",
            "other",
            "--dest-tls-verify",
            "false",
        ],
    );
    let err = String::from_utf8_lossy(&o.stderr);
    assert!(!o.status.success());
    assert!(
        err.contains("aarch64") && err.contains("cosa buildextend-container"),
        "{err}"
    );
    let o = Command::new("skopeo")
        .args([
            "inspect",
            "--raw",
            "--tls-verify=false",
            &reg.url("fcos:other"),
        ])
        .output()
        .unwrap();
    assert!(!o.status.success(), "nothing pushed");
}

fn index_of(dir: &Path) -> Value {
    serde_json::from_slice(&std::fs::read(dir.join("index.json")).unwrap()).unwrap()
}
