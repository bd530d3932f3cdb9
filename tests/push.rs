//! Pushing to a real registry (Debian's docker-registry) started on loopback by the test:
//! one plain-HTTP instance and one with htpasswd auth.

mod common;

use common::*;
use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::{Duration, Instant};

fn authfile(dir: &Path, port: u16, user: &str, pass: &str) -> PathBuf {
    use base64::Engine;
    let token = base64::engine::general_purpose::STANDARD.encode(format!("{user}:{pass}"));
    let p = dir.join(format!("auth-{user}-{}.json", pass.len()));
    std::fs::write(
        &p,
        serde_json::json!({"auths": {format!("127.0.0.1:{port}"): {"auth": token}}}).to_string(),
    )
    .unwrap();
    p
}

#[test]
fn push_keeps_our_digests_and_the_image_reads_back() {
    let reg = Registry::start(None);
    let fx = Fixture::new("basic");
    let out = fx.path("oci");
    let digestfile = fx.path("digest");
    let dest = reg.url("os/basic:1");
    let s = json(&encap_ok(job(
        &fx.repo,
        FIXTURE_REF,
        &out,
        &[
            "--tag",
            "t",
            "--json",
            "--push",
            &dest,
            "--dest-tls-verify",
            "false",
            "--digestfile",
            digestfile.to_str().unwrap(),
        ],
    )));
    let ours = s["manifest_digest"].as_str().unwrap();
    assert_eq!(s["pushed"]["digest"], ours);
    assert_eq!(std::fs::read_to_string(&digestfile).unwrap().trim(), ours);
    // To a stream, in place: the digest on standard output.
    let to_stdout = encap_ok([
        "push",
        "--oci-dir",
        &format!("{}:t", out.display()),
        &dest,
        "--dest-tls-verify",
        "false",
        "--digestfile",
        "/dev/stdout",
    ]);
    assert!(to_stdout.contains(ours), "{to_stdout}");
    let o = run_ok(Command::new("skopeo").args(["inspect", "--tls-verify=false", &dest]));
    let v = json(&String::from_utf8_lossy(&o.stdout));
    assert_eq!(v["Digest"], ours);
    assert_eq!(v["Labels"]["ostree.commit"], fx.commit.as_str());
    // Copy it back and check every object.
    let back = fx.path("back");
    run_ok(Command::new("skopeo").args([
        "copy",
        "--src-tls-verify=false",
        &dest,
        &format!("oci:{}:b", back.display()),
    ]));
    let r = json(&encap_ok([
        "verify",
        "--oci-dir",
        back.to_str().unwrap(),
        "--tag",
        "b",
        "--json",
    ]));
    assert_eq!(r["manifest_digest"], ours);
    assert_eq!(r["commit"], fx.commit.as_str());
    // And the real client imports what came back from the registry (the loopback registry
    // is plain HTTP, which ostree-ext's image proxy would only reach with registries.conf
    // changes on the host).
    let imp = fx.path("imp");
    ostree(&imp, ["init", "--mode=bare-user"]);
    let commit = import_into(
        &imp,
        &format!("ostree-unverified-image:oci:{}:b", back.display()),
    )
    .unwrap();
    assert_eq!(commit, fx.commit);

    // The push subcommand, from an oci-archive too.
    let archive = fx.path("img.ociarchive");
    encap_ok(job(&fx.repo, FIXTURE_REF, &archive, &[]));
    let p = json(&encap_ok([
        "push",
        "--oci-archive",
        archive.to_str().unwrap(),
        &reg.url("os/basic:archive"),
        "--dest-tls-verify",
        "false",
        "--json",
    ]));
    let p2 = json(&encap_ok([
        "push",
        "--oci-dir",
        &format!("{}:t", out.display()),
        &reg.url("os/basic:2"),
        "--dest-tls-verify",
        "false",
        "--json",
    ]));
    assert_eq!(p2["digest"], ours);
    assert!(p["digest"].as_str().unwrap().starts_with("sha256:"));
}

#[test]
fn authenticated_push_and_wrong_password() {
    let reg = Registry::start(Some(("builder", "s3cret-pass")));
    let fx = Fixture::new("basic");
    let out = fx.path("oci");
    encap_ok(job(&fx.repo, FIXTURE_REF, &out, &["--tag", "t"]));
    let good = authfile(fx.dir.path(), reg.port, "builder", "s3cret-pass");
    let bad = authfile(fx.dir.path(), reg.port, "builder", "wrong-password-xyz");
    let src = format!("{}:t", out.display());
    let ok = json(&encap_ok([
        "push",
        "--oci-dir",
        &src,
        &reg.url("os/auth:1"),
        "--dest-tls-verify",
        "false",
        "--authfile",
        good.to_str().unwrap(),
        "--json",
    ]));
    assert!(ok["digest"].as_str().unwrap().starts_with("sha256:"));
    let err = encap_err([
        "push",
        "--oci-dir",
        &src,
        &reg.url("os/auth:2"),
        "--dest-tls-verify",
        "false",
        "--authfile",
        bad.to_str().unwrap(),
    ]);
    assert!(
        err.contains("unauthorized") || err.contains("authentication"),
        "{err}"
    );
    assert!(
        err.contains(&reg.url("os/auth:2")),
        "names the destination: {err}"
    );
    assert!(
        !err.contains("wrong-password-xyz"),
        "the password leaked: {err}"
    );
    let err = encap_err([
        "push",
        "--oci-dir",
        &src,
        &reg.url("os/auth:3"),
        "--dest-tls-verify",
        "false",
    ]);
    assert!(
        err.contains("unauthorized") || err.contains("authentication"),
        "{err}"
    );
}

#[test]
fn unreachable_registry_and_bad_destinations_fail_fast() {
    let fx = Fixture::new("basic");
    let out = fx.path("oci");
    encap_ok(job(&fx.repo, FIXTURE_REF, &out, &["--tag", "t"]));
    let port = free_port();
    let dest = format!("docker://127.0.0.1:{port}/nobody/home:1");
    let start = Instant::now();
    let err = encap_err([
        "push",
        "--oci-dir",
        &format!("{}:t", out.display()),
        &dest,
        "--dest-tls-verify",
        "false",
    ]);
    // Not a speed limit: a refused connection is final at once, and this only catches a
    // push that keeps retrying it (a loaded machine stays far below this).
    assert!(
        start.elapsed() < Duration::from_secs(90),
        "took {:?}",
        start.elapsed()
    );
    assert!(
        err.contains(&dest) && (err.contains("connection refused") || err.contains("connect")),
        "{err}"
    );
    let err = encap_err([
        "push",
        "--oci-dir",
        &format!("{}:t", out.display()),
        "registry.example.com/x:1",
    ]);
    assert!(err.contains("names no transport"), "{err}");
    // --push checks the destination before doing the work.
    let fresh = fx.path("never");
    let err = encap_err(job(&fx.repo, FIXTURE_REF, &fresh, &["--push", "nowhere"]));
    assert!(err.contains("names no transport"), "{err}");
    assert!(!fresh.exists());
    let err = encap_err(["push", "--oci-dir", fx.repo.to_str().unwrap(), &dest]);
    assert!(err.contains("is not an OCI image layout"), "{err}");
}

/// `--from docker://…` reads the image through skopeo (`--src-tls-verify false` for this
/// plain-HTTP registry) and gives the very image that `--from` of its local copy gives.
#[test]
fn from_a_registry_image_is_the_same_as_from_its_local_copy() {
    let reg = Registry::start(None);
    let fx = Fixture::new("basic");
    let local = fx.path("local");
    encap_ok([
        "--rootfs",
        fx.tree.to_str().unwrap(),
        "--format",
        "plain",
        "--oci-dir",
        local.to_str().unwrap(),
        "--tag",
        "t",
    ]);
    let dest = reg.url("os/plain:1");
    run_ok(Command::new("skopeo").args([
        "copy",
        "--dest-tls-verify=false",
        &format!("oci:{}:t", local.display()),
        &dest,
    ]));
    let digest = |from: &str, out: &str, extra: &[&str]| -> String {
        let o = run_ok(
            encap_command()
                .args(["--from", from, "--format", "plain", "--json", "--oci-dir"])
                .arg(fx.path(out))
                .args(extra),
        );
        json(&String::from_utf8_lossy(&o.stdout))["manifest_digest"]
            .as_str()
            .unwrap()
            .to_string()
    };
    let a = digest(&format!("{}:t", local.display()), "a", &[]);
    let b = digest(&dest, "b", &["--src-tls-verify", "false"]);
    assert_eq!(a, b);
    // Without it, skopeo's own refusal is passed on, naming the image.
    let out = encap_command()
        .args(["--from", &dest, "--oci-dir"])
        .arg(fx.path("c"))
        .output()
        .unwrap();
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(
        !out.status.success() && err.contains(&dest) && err.contains("HTTP"),
        "{err}"
    );
}
