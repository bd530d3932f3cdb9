//! Signed pushes to a loopback registry (Debian's docker-registry): sigstore signatures as
//! cosign attachments, checked with OpenSSL against the public key; GPG "simple signing"
//! enforced by skopeo with a `policy.json`, as a bootc host enforces it.
//!
//! Debian 12's skopeo (1.9.3) is built with sigstore disabled for signing *and* checking
//! ("Debian-local change: sigstore disabled"), so the sigstore signatures are checked here
//! by what they are (the attachment where cosign and containers/image look for it, the
//! payload they parse, an ECDSA signature OpenSSL verifies with the public key), by the
//! sigstore project's own Rust client verifying them from the registry as `cosign verify
//! --key` does (tests/cosign-verifier, built by scripts/test.sh), and by a `sigstoreSigned`
//! policy enforced by Debian 13's skopeo (fetched by scripts/setup.sh).

mod common;

use common::*;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};

/// A sigstore key pair made by `generate-sigstore-key`: (private, public, passphrase file).
fn sigstore_key(dir: &Path, name: &str, passphrase: &str) -> (PathBuf, PathBuf, PathBuf) {
    let pass = dir.join(format!("{name}.pass"));
    std::fs::write(&pass, format!("{passphrase}\n")).unwrap();
    let prefix = dir.join(name);
    let r = json(&encap_ok([
        "generate-sigstore-key",
        "--output-prefix",
        prefix.to_str().unwrap(),
        "--passphrase-file",
        pass.to_str().unwrap(),
        "--json",
    ]));
    let private = PathBuf::from(r["private_key"].as_str().unwrap());
    let public = PathBuf::from(r["public_key"].as_str().unwrap());
    use std::os::unix::fs::PermissionsExt;
    let mode = std::fs::metadata(&private).unwrap().permissions().mode();
    assert_eq!(
        mode & 0o077,
        0,
        "the private key is readable by its owner only"
    );
    (private, public, pass)
}

/// The signatures in an attachment: (payload, DER signature) per layer, in order.
fn attachment(fx: &Fixture, imgref: &str) -> Vec<(Vec<u8>, Vec<u8>)> {
    use base64::Engine;
    let copy = fx.path(&format!("att-{}", &sha(imgref.as_bytes())[7..19]));
    let _ = std::fs::remove_dir_all(&copy);
    run_ok(Command::new("skopeo").args([
        "copy",
        "--src-tls-verify=false",
        "--preserve-digests",
        imgref,
        &format!("oci:{}:x", copy.display()),
    ]));
    let (manifest, config) = image(&copy, "x");
    let layers = manifest["layers"].as_array().unwrap();
    let diff_ids: Vec<&serde_json::Value> = layers.iter().map(|l| &l["digest"]).collect();
    assert_eq!(
        config["rootfs"]["diff_ids"]
            .as_array()
            .unwrap()
            .iter()
            .collect::<Vec<_>>(),
        diff_ids
    );
    layers
        .iter()
        .map(|l| {
            assert_eq!(
                l["mediaType"],
                "application/vnd.dev.cosign.simplesigning.v1+json"
            );
            let sig = l["annotations"]["dev.cosignproject.cosign/signature"]
                .as_str()
                .unwrap();
            (
                blob(&copy, l["digest"].as_str().unwrap()),
                base64::engine::general_purpose::STANDARD
                    .decode(sig)
                    .unwrap(),
            )
        })
        .collect()
}

/// OpenSSL's verdict on `signature` of `payload` by `public` (PEM).
fn openssl_verifies(dir: &Path, public: &Path, payload: &[u8], signature: &[u8]) -> bool {
    let (p, s) = (dir.join("payload"), dir.join("sig.der"));
    std::fs::write(&p, payload).unwrap();
    std::fs::write(&s, signature).unwrap();
    Command::new("openssl")
        .args(["dgst", "-sha256", "-verify"])
        .arg(public)
        .arg("-signature")
        .arg(&s)
        .arg(&p)
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .status()
        .expect("running openssl")
        .success()
}

/// The sigstore project's client (sigstore-rs) verifying `image` (`REGISTRY/REPO:TAG` or
/// `@DIGEST`) with `public`: Ok, or what it says.
fn cosign_verify(image: &str, public: &Path) -> Result<(), String> {
    let bin = std::env::var_os("ENCAP_COSIGN_VERIFIER")
        .map(PathBuf::from)
        .unwrap_or_else(|| {
            workspace_root().join("tests/cosign-verifier/target/release/cosign-verifier")
        });
    assert!(
        bin.exists(),
        "{}: build it with `cargo build --release --manifest-path \
         tests/cosign-verifier/Cargo.toml` (scripts/test.sh does) or set ENCAP_COSIGN_VERIFIER",
        bin.display()
    );
    let o = Command::new(bin).arg(image).arg(public).output().unwrap();
    if o.status.success() {
        Ok(())
    } else {
        Err(String::from_utf8_lossy(&o.stderr).into_owned())
    }
}

fn sig_tag(registry: &Registry, repo: &str, digest: &str) -> String {
    registry.url(&format!("{repo}:sha256-{}.sig", &digest[7..]))
}

#[test]
fn sigstore_signatures_land_where_cosign_and_containers_image_look() {
    let reg = Registry::start(None);
    let fx = Fixture::new("basic");
    let (key, public, pass) = sigstore_key(fx.dir.path(), "release", "correct horse battery");
    let (other, other_public, other_pass) = sigstore_key(fx.dir.path(), "other", "another one");
    let out = fx.path("oci");
    let dest = reg.url("os/signed:1");
    let sign = |key: &Path, pass: &Path| {
        vec![
            "--sign-by-sigstore-private-key".to_string(),
            key.display().to_string(),
            "--sign-passphrase-file".into(),
            pass.display().to_string(),
        ]
    };
    let mut extra: Vec<String> = vec![
        "--tag".into(),
        "t".into(),
        "--json".into(),
        "--push".into(),
        dest.clone(),
        "--dest-tls-verify".into(),
        "false".into(),
    ];
    extra.extend(sign(&key, &pass));
    let extra_ref: Vec<&str> = extra.iter().map(String::as_str).collect();
    let s = json(&encap_ok(job(&fx.repo, FIXTURE_REF, &out, &extra_ref)));
    let digest = s["manifest_digest"].as_str().unwrap().to_string();
    assert_eq!(s["pushed"]["digest"], digest.as_str());
    let sigs = s["pushed"]["signatures"].as_array().unwrap();
    assert_eq!(sigs.len(), 1);
    assert_eq!(sigs[0]["digest"], digest.as_str());
    assert_eq!(sigs[0]["added"], true);
    let att_ref = sig_tag(&reg, "os/signed", &digest);
    assert_eq!(sigs[0]["attachment"], att_ref.as_str());

    // The payload binds this reference to this digest; OpenSSL verifies it with our public
    // key and not with another.
    let found = attachment(&fx, &att_ref);
    assert_eq!(found.len(), 1);
    let (payload, signature) = &found[0];
    let p = json(&String::from_utf8_lossy(payload));
    assert_eq!(
        p["critical"]["identity"]["docker-reference"],
        format!("127.0.0.1:{}/os/signed:1", reg.port)
    );
    assert_eq!(
        p["critical"]["image"]["docker-manifest-digest"],
        digest.as_str()
    );
    assert_eq!(p["critical"]["type"], "cosign container image signature");
    assert!(openssl_verifies(fx.dir.path(), &public, payload, signature));
    assert!(!openssl_verifies(
        fx.dir.path(),
        &other_public,
        payload,
        signature
    ));
    let mut forged = payload.clone();
    let at = forged.len() - 20;
    forged[at] ^= 1;
    assert!(!openssl_verifies(
        fx.dir.path(),
        &public,
        &forged,
        signature
    ));

    // The sigstore project's client agrees: signed with our key, not with the other.
    let image_name = format!("127.0.0.1:{}/os/signed:1", reg.port);
    cosign_verify(&image_name, &public).unwrap();
    let e = cosign_verify(&image_name, &other_public).unwrap_err();
    assert!(e.contains("not verified"), "{e}");

    // Pushing again changes nothing: the same signature is already there.
    let push = |key: &Path, pass: &Path| {
        let mut a = vec![
            "push".to_string(),
            "--oci-dir".into(),
            format!("{}:t", out.display()),
            dest.clone(),
            "--dest-tls-verify".into(),
            "false".into(),
            "--json".into(),
        ];
        a.extend(sign(key, pass));
        json(&encap_ok(a))
    };
    let again = push(&key, &pass);
    assert_eq!(again["signatures"][0]["added"], false);
    assert_eq!(attachment(&fx, &att_ref), found);
    // Another key's signature is added beside ours, which stays as it was.
    let both = push(&other, &other_pass);
    assert_eq!(both["signatures"][0]["added"], true);
    let found2 = attachment(&fx, &att_ref);
    assert_eq!(found2.len(), 2);
    assert_eq!(found2[0], found[0]);
    assert!(openssl_verifies(
        fx.dir.path(),
        &other_public,
        &found2[1].0,
        &found2[1].1
    ));

    // An unsigned push has no attachment.
    let plain = reg.url("os/plain:1");
    let r = json(&encap_ok([
        "push",
        "--oci-dir",
        &format!("{}:t", out.display()),
        &plain,
        "--dest-tls-verify",
        "false",
        "--json",
    ]));
    assert!(r.get("signatures").is_none());
    let e = cosign_verify(&format!("127.0.0.1:{}/os/plain:1", reg.port), &public).unwrap_err();
    assert!(e.contains("no signature"), "{e}");
    let o = Command::new("skopeo")
        .args(["inspect", "--raw", "--tls-verify=false"])
        .arg(sig_tag(&reg, "os/plain", &digest))
        .output()
        .unwrap();
    assert!(!o.status.success(), "no signature for an unsigned push");
}

#[test]
fn a_key_that_cannot_sign_stops_the_run_before_anything_is_built() {
    let fx = Fixture::new("basic");
    let secret = "tr0ub4dor-and-3";
    let (key, _, _) = sigstore_key(fx.dir.path(), "release", secret);
    let wrong = fx.path("wrong.pass");
    std::fs::write(&wrong, "not-the-passphrase\n").unwrap();
    let out = fx.path("oci");
    let run = |key: &Path, pass: &Path, dest: &str| {
        encap_err(job(
            &fx.repo,
            FIXTURE_REF,
            &out,
            &[
                "--push",
                dest,
                "--sign-by-sigstore-private-key",
                key.to_str().unwrap(),
                "--sign-passphrase-file",
                pass.to_str().unwrap(),
            ],
        ))
    };
    let err = run(&key, &wrong, "docker://127.0.0.1:1/os:1");
    assert!(err.contains(key.to_str().unwrap()), "names the key: {err}");
    assert!(err.contains("passphrase does not decrypt"), "{err}");
    assert!(
        !err.contains("not-the-passphrase") && !err.contains(secret),
        "{err}"
    );
    assert!(!out.exists(), "nothing built");

    // Not a key: named, and its content not echoed.
    let notkey = fx.path("notkey");
    std::fs::write(
        &notkey,
        "-----BEGIN PRIVATE KEY-----\nU0VDUkVUQllURVM=\n-----END PRIVATE KEY-----\n",
    )
    .unwrap();
    let err = run(&notkey, &wrong, "docker://127.0.0.1:1/os:1");
    assert!(
        err.contains("\"PRIVATE KEY\"") && !err.contains("U0VDUkVU"),
        "{err}"
    );

    // Signatures live in a registry: another destination is refused.
    let pass = fx.path("release.pass");
    let err = run(
        &key,
        &pass,
        &format!("oci:{}:x", fx.path("elsewhere").display()),
    );
    assert!(err.contains("must be docker://"), "{err}");

    // A GPG key that is not there.
    let home = fx.path("emptyhome");
    std::fs::create_dir(&home).unwrap();
    let o = encap_command()
        .env("GNUPGHOME", &home)
        .args(job(
            &fx.repo,
            FIXTURE_REF,
            &out,
            &[
                "--push",
                "docker://127.0.0.1:1/os:1",
                "--sign-by",
                "0123456789ABCDEF",
            ],
        ))
        .output()
        .unwrap();
    let err = String::from_utf8_lossy(&o.stderr);
    assert!(!o.status.success());
    assert!(
        err.contains("--sign-by 0123456789ABCDEF") && err.contains("No secret key"),
        "{err}"
    );
    assert!(!out.exists(), "nothing built");

    // Signing options without a destination.
    let err = encap_err(job(
        &fx.repo,
        FIXTURE_REF,
        &out,
        &["--sign-by", "0123456789ABCDEF"],
    ));
    assert!(err.contains("need --push"), "{err}");
}

/// The fixture built for two architectures, tagged `t` in `amd64` and `arm64`: (amd64
/// layout, arm64 layout, their manifest digests).
fn two_arches(fx: &Fixture) -> (PathBuf, PathBuf, Vec<String>) {
    let (amd, arm) = (fx.path("amd64"), fx.path("arm64"));
    let mut digests = Vec::new();
    for (dir, arch) in [(&amd, "x86_64"), (&arm, "aarch64")] {
        let s = json(&encap_ok(job(
            &fx.repo,
            FIXTURE_REF,
            dir,
            &["--arch", arch, "--tag", "t", "--json"],
        )));
        digests.push(s["manifest_digest"].as_str().unwrap().to_string());
    }
    (amd, arm, digests)
}

/// registries.d for the loopback registry: GPG signatures in a lookaside `file://` store.
fn lookaside_config(dir: &Path, port: u16) -> PathBuf {
    let d = dir.join("registries.d");
    let store = dir.join("lookaside");
    std::fs::create_dir_all(&d).unwrap();
    std::fs::create_dir_all(&store).unwrap();
    std::fs::write(
        d.join("loopback.yaml"),
        format!(
            "docker:\n  127.0.0.1:{port}:\n    lookaside: file://{0}\n    lookaside-staging: file://{0}\n",
            store.display()
        ),
    )
    .unwrap();
    d
}

/// A policy that accepts images from the loopback registry only if `requirement` holds.
fn policy(dir: &Path, name: &str, port: u16, requirement: serde_json::Value) -> PathBuf {
    let p = dir.join(format!("policy-{name}.json"));
    let policy = serde_json::json!({
        "default": [{"type": "reject"}],
        "transports": {"docker": {format!("127.0.0.1:{port}"): [requirement]}}
    });
    std::fs::write(&p, policy.to_string()).unwrap();
    p
}

/// Images from the loopback registry must be GPG-signed by `pubkey`.
fn gpg_policy(dir: &Path, name: &str, port: u16, pubkey: &Path) -> PathBuf {
    let signed_by =
        serde_json::json!({"type": "signedBy", "keyType": "GPGKeys", "keyPath": pubkey});
    policy(dir, &format!("gpg-{name}"), port, signed_by)
}

/// Pull `imgref` under `policy` as a client would; Ok or skopeo's message.
fn pull_under(
    fx: &Fixture,
    policy: &Path,
    registries_d: &Path,
    imgref: &str,
    arch: Option<&str>,
) -> Result<(), String> {
    pull_with(
        Command::new("skopeo"),
        fx,
        policy,
        registries_d,
        imgref,
        arch,
    )
}

/// containers/image's policy check of sigstore signatures, as a bootc host runs it: Debian
/// 13's skopeo (Debian 12's has sigstore disabled), fetched by scripts/setup.sh.
fn policy_skopeo() -> Command {
    let bin = std::env::var_os("ENCAP_POLICY_SKOPEO")
        .map(PathBuf::from)
        .unwrap_or_else(|| workspace_root().join("target/policy-skopeo/bin/skopeo"));
    assert!(
        bin.exists(),
        "{}: scripts/setup.sh fetches it, or set ENCAP_POLICY_SKOPEO to a skopeo built with sigstore",
        bin.display()
    );
    Command::new(bin)
}

/// Pull `imgref` with the skopeo `c` under `policy`; Ok or skopeo's message.
fn pull_with(
    mut c: Command,
    fx: &Fixture,
    policy: &Path,
    registries_d: &Path,
    imgref: &str,
    arch: Option<&str>,
) -> Result<(), String> {
    let dest = fx.path(&format!(
        "pulled-{}",
        &sha(format!("{imgref}{arch:?}{}", policy.display()).as_bytes())[7..19]
    ));
    c.arg("--policy")
        .arg(policy)
        .arg("--registries.d")
        .arg(registries_d)
        .args(["copy", "--remove-signatures", "--src-tls-verify=false"]);
    if let Some(a) = arch {
        c.args(["--override-os", "linux", "--override-arch", a]);
    }
    let o = c
        .arg(imgref)
        .arg(format!("oci:{}:x", dest.display()))
        .stdin(Stdio::null())
        .output()
        .unwrap();
    ok_or_stderr(o)
}

#[test]
fn gpg_signed_pushes_pass_a_policy_that_requires_them_and_nothing_else_does() {
    let reg = Registry::start(None);
    let fx = Fixture::new("basic");
    let (home, pubkey) = gpg_key(fx.dir.path(), "release");
    let fingerprint = gpg_key_id(&home);
    let (_, other_pubkey) = gpg_key(fx.dir.path(), "other");
    let rd = lookaside_config(fx.dir.path(), reg.port);
    let policy = gpg_policy(fx.dir.path(), "release", reg.port, &pubkey);
    let other_policy = gpg_policy(fx.dir.path(), "other", reg.port, &other_pubkey);

    // Two architectures joined in an index, pushed and signed: the index and each image.
    let (amd, arm, _) = two_arches(&fx);
    let signed = reg.url("os/multi:1");
    let o = encap_command()
        .env("GNUPGHOME", &home)
        .args([
            "index",
            "--oci-dir",
            fx.path("multi").to_str().unwrap(),
            "--json",
            "--push",
            &signed,
            "--dest-tls-verify",
            "false",
            "--sign-by",
            &fingerprint,
            "--registries.d",
            rd.to_str().unwrap(),
            &format!("{}:t", amd.display()),
            &format!("{}:t", arm.display()),
        ])
        .stdin(Stdio::null())
        .output()
        .unwrap();
    assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
    let r = json(&String::from_utf8_lossy(&o.stdout));
    assert_eq!(r["pushed"]["signed_by"], fingerprint.as_str());
    let signatures = walk(&fx.dir.path().join("lookaside"));
    assert_eq!(
        signatures.len(),
        3,
        "the index and both images are signed: {signatures:?}"
    );

    // A client of each architecture gets its image past the policy.
    for arch in ["amd64", "arm64"] {
        pull_under(&fx, &policy, &rd, &signed, Some(arch))
            .unwrap_or_else(|e| panic!("{arch}: {e}"));
    }
    // Signed by another key: refused. Unsigned: refused.
    let e = pull_under(&fx, &other_policy, &rd, &signed, Some("amd64")).unwrap_err();
    assert!(e.contains("rejected"), "{e}");
    let unsigned = reg.url("os/unsigned:1");
    encap_ok([
        "push",
        "--oci-dir",
        &format!("{}:t", amd.display()),
        &unsigned,
        "--dest-tls-verify",
        "false",
    ]);
    let e = pull_under(&fx, &policy, &rd, &unsigned, None).unwrap_err();
    assert!(
        e.contains("A signature was required, but no signature exists"),
        "{e}"
    );
}

#[test]
fn a_gpg_key_with_a_passphrase_signs_and_the_passphrase_is_never_shown() {
    let reg = Registry::start(None);
    let fx = Fixture::new("basic");
    // A key with a passphrase.
    let home = fx.path("gnupg-locked");
    std::fs::create_dir_all(&home).unwrap();
    use std::os::unix::fs::PermissionsExt;
    std::fs::set_permissions(&home, std::fs::Permissions::from_mode(0o700)).unwrap();
    let secret = "s3cret-on-a-pipe";
    run_ok(
        Command::new("gpg")
            .arg("--homedir")
            .arg(&home)
            .args([
                "--batch",
                "--pinentry-mode",
                "loopback",
                "--passphrase",
                secret,
            ])
            .args([
                "--quick-gen-key",
                "Locked <l@example.invalid>",
                "ed25519",
                "sign",
                "never",
            ]),
    );
    let fingerprint = gpg_key_id(&home);
    let rd = lookaside_config(fx.dir.path(), reg.port);
    let out = fx.path("oci");
    encap_ok(job(&fx.repo, FIXTURE_REF, &out, &["--tag", "t"]));
    let pass = fx.path("pass");
    let wrong = fx.path("wrong");
    std::fs::write(&pass, format!("{secret}\n")).unwrap();
    std::fs::write(&wrong, "wr0ng\n").unwrap();
    let push = |pass: &Path| {
        encap_command()
            .env("GNUPGHOME", &home)
            .args([
                "push",
                "--oci-dir",
                &format!("{}:t", out.display()),
                &reg.url("os/locked:1"),
                "--dest-tls-verify",
                "false",
                "--sign-by",
                &fingerprint,
                "--sign-passphrase-file",
                pass.to_str().unwrap(),
                "--registries.d",
                rd.to_str().unwrap(),
            ])
            .stdin(Stdio::null())
            .output()
            .unwrap()
    };
    let o = push(&wrong);
    let err = String::from_utf8_lossy(&o.stderr);
    assert!(!o.status.success());
    assert!(
        err.contains(&fingerprint) && !err.contains("wr0ng"),
        "{err}"
    );
    let o = push(&pass);
    assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
    let all = format!(
        "{}{}",
        String::from_utf8_lossy(&o.stdout),
        String::from_utf8_lossy(&o.stderr)
    );
    assert!(!all.contains(secret), "{all}");
    let signatures = walk(&fx.dir.path().join("lookaside"));
    assert_eq!(signatures.len(), 1, "{signatures:?}");
}

fn walk(dir: &Path) -> Vec<PathBuf> {
    let mut out = Vec::new();
    for e in std::fs::read_dir(dir).unwrap() {
        let p = e.unwrap().path();
        if p.is_dir() {
            out.extend(walk(&p));
        } else {
            out.push(p);
        }
    }
    out
}

#[test]
fn a_sigstore_signed_index_is_verified_for_itself_and_each_image() {
    let reg = Registry::start(None);
    let fx = Fixture::new("basic");
    let (key, public, pass) = sigstore_key(fx.dir.path(), "release", "index key");
    let (amd, arm, digests) = two_arches(&fx);
    let r = json(&encap_ok([
        "index",
        "--oci-dir",
        fx.path("multi").to_str().unwrap(),
        "--json",
        "--push",
        &reg.url("os/multi:1"),
        "--dest-tls-verify",
        "false",
        "--sign-by-sigstore-private-key",
        key.to_str().unwrap(),
        "--sign-passphrase-file",
        pass.to_str().unwrap(),
        &format!("{}:t", amd.display()),
        &format!("{}:t", arm.display()),
    ]));
    let signed: Vec<&str> = r["pushed"]["signatures"]
        .as_array()
        .unwrap()
        .iter()
        .map(|s| s["digest"].as_str().unwrap())
        .collect();
    assert_eq!(signed.len(), 3, "the index and both images: {signed:?}");
    assert_eq!(signed[0], r["index_digest"].as_str().unwrap());
    let repo = format!("127.0.0.1:{}/os/multi", reg.port);
    cosign_verify(&format!("{repo}:1"), &public).unwrap();
    for d in &digests {
        assert!(signed.contains(&d.as_str()), "{d} signed");
        cosign_verify(&format!("{repo}@{d}"), &public).unwrap_or_else(|e| panic!("{d}: {e}"));
    }
}

/// registries.d for the loopback registry: sigstore signatures as registry attachments.
fn attachments_config(dir: &Path, port: u16) -> PathBuf {
    let d = dir.join("registries.d-sigstore");
    std::fs::create_dir_all(&d).unwrap();
    std::fs::write(
        d.join("loopback.yaml"),
        format!("docker:\n  127.0.0.1:{port}:\n    use-sigstore-attachments: true\n"),
    )
    .unwrap();
    d
}

/// Images from the loopback registry must be sigstore-signed by `public`.
fn sigstore_policy(dir: &Path, name: &str, port: u16, public: &Path) -> PathBuf {
    let signed = serde_json::json!({"type": "sigstoreSigned", "keyPath": public});
    policy(dir, &format!("sigstore-{name}"), port, signed)
}

#[test]
fn sigstore_signed_pushes_pass_a_policy_that_requires_them_and_nothing_else_does() {
    let reg = Registry::start(None);
    let fx = Fixture::new("basic");
    let (key, public, pass) = sigstore_key(fx.dir.path(), "release", "policy key");
    let (other, other_public, other_pass) = sigstore_key(fx.dir.path(), "other", "not it");
    let rd = attachments_config(fx.dir.path(), reg.port);
    let policy = sigstore_policy(fx.dir.path(), "release", reg.port, &public);
    let other_policy = sigstore_policy(fx.dir.path(), "other", reg.port, &other_public);
    let pull = |policy: &Path, imgref: &str, arch: Option<&str>| {
        pull_with(policy_skopeo(), &fx, policy, &rd, imgref, arch)
    };

    // Two architectures joined in an index, pushed and signed: the index and each image.
    let (amd, arm, digests) = two_arches(&fx);
    let signed = reg.url("os/multi:1");
    let index = |key: &Path, pass: &Path, dest: &str| {
        encap_ok([
            "index",
            "--oci-dir",
            fx.path(&format!("multi-{}", &sha(dest.as_bytes())[7..15]))
                .to_str()
                .unwrap(),
            "--push",
            dest,
            "--dest-tls-verify",
            "false",
            "--sign-by-sigstore-private-key",
            key.to_str().unwrap(),
            "--sign-passphrase-file",
            pass.to_str().unwrap(),
            &format!("{}:t", amd.display()),
            &format!("{}:t", arm.display()),
        ])
    };
    index(&key, &pass, &signed);

    // A client of each architecture gets its image past the policy, by tag through the index
    // and by each image's own digest.
    for arch in ["amd64", "arm64"] {
        pull(&policy, &signed, Some(arch)).unwrap_or_else(|e| panic!("{arch}: {e}"));
    }
    let repo = reg.url("os/multi");
    for d in &digests {
        pull(&policy, &format!("{repo}@{d}"), None).unwrap_or_else(|e| panic!("{d}: {e}"));
    }
    // Signed by another key: refused.
    let e = pull(&other_policy, &signed, Some("amd64")).unwrap_err();
    assert!(e.contains("rejected"), "{e}");
    // Signed only by another key: refused by our policy, accepted by its own.
    let elsewhere = reg.url("os/elsewhere:1");
    index(&other, &other_pass, &elsewhere);
    let e = pull(&policy, &elsewhere, Some("amd64")).unwrap_err();
    assert!(e.contains("rejected"), "{e}");
    pull(&other_policy, &elsewhere, Some("amd64")).unwrap();
    // Unsigned: refused.
    let unsigned = reg.url("os/unsigned:1");
    encap_ok([
        "push",
        "--oci-dir",
        &format!("{}:t", amd.display()),
        &unsigned,
        "--dest-tls-verify",
        "false",
    ]);
    let e = pull(&policy, &unsigned, None).unwrap_err();
    assert!(
        e.contains("A signature was required, but no signature exists"),
        "{e}"
    );
}

/// Issue 31: a provenance statement stored beside the image (`--provenance`) is signed at
/// push as cosign attests: a DSSE envelope in the attachment `sha256-<hex>.att`, its
/// signature over DSSE's pre-authentication encoding verified by OpenSSL with our public
/// key (and not with another), its payload the statement about this image. A second push
/// adds nothing.
#[test]
fn a_pushed_provenance_is_signed_as_a_cosign_attestation() {
    use base64::Engine;
    let reg = Registry::start(None);
    let fx = Fixture::new("basic");
    let (key, public, pass) = sigstore_key(fx.dir.path(), "release", "correct horse battery");
    let (_, other_public, _) = sigstore_key(fx.dir.path(), "other", "another one");
    let out = fx.path("oci");
    let dest = reg.url("os/attested:1");
    let push = || {
        json(&encap_ok(job(
            &fx.repo,
            FIXTURE_REF,
            &out,
            &[
                "--tag",
                "t",
                "--json",
                "--provenance",
                "--push",
                &dest,
                "--dest-tls-verify",
                "false",
                "--sign-by-sigstore-private-key",
                key.to_str().unwrap(),
                "--sign-passphrase-file",
                pass.to_str().unwrap(),
            ],
        )))
    };
    let s = push();
    let digest = s["manifest_digest"].as_str().unwrap().to_string();
    let att = s["pushed"]["attestations"].as_array().unwrap();
    assert_eq!(att.len(), 1, "{s}");
    assert_eq!(att[0]["digest"], digest.as_str());
    assert_eq!(att[0]["added"], true);
    let att_ref = reg.url(&format!("os/attested:sha256-{}.att", &digest[7..]));
    assert_eq!(att[0]["attachment"], att_ref.as_str());

    let copy = fx.path("att");
    run_ok(Command::new("skopeo").args([
        "copy",
        "--src-tls-verify=false",
        "--preserve-digests",
        &att_ref,
        &format!("oci:{}:x", copy.display()),
    ]));
    let (manifest, _) = image(&copy, "x");
    let layers = manifest["layers"].as_array().unwrap();
    assert_eq!(layers.len(), 1);
    let l = &layers[0];
    assert_eq!(l["mediaType"], "application/vnd.dsse.envelope.v1+json");
    assert_eq!(
        l["annotations"]["predicateType"],
        "https://slsa.dev/provenance/v1"
    );
    let envelope = json(&String::from_utf8_lossy(&blob(
        &copy,
        l["digest"].as_str().unwrap(),
    )));
    assert_eq!(envelope["payloadType"], "application/vnd.in-toto+json");
    let b64 = base64::engine::general_purpose::STANDARD;
    let payload = b64.decode(envelope["payload"].as_str().unwrap()).unwrap();
    let signature = b64
        .decode(envelope["signatures"][0]["sig"].as_str().unwrap())
        .unwrap();
    let statement = json(&String::from_utf8_lossy(&payload));
    assert_eq!(statement["subject"][0]["digest"]["sha256"], &digest[7..]);
    assert_eq!(statement["predicateType"], "https://slsa.dev/provenance/v1");
    let mut pae = format!(
        "DSSEv1 {} application/vnd.in-toto+json {} ",
        "application/vnd.in-toto+json".len(),
        payload.len()
    )
    .into_bytes();
    pae.extend_from_slice(&payload);
    assert!(openssl_verifies(fx.dir.path(), &public, &pae, &signature));
    assert!(!openssl_verifies(
        fx.dir.path(),
        &other_public,
        &pae,
        &signature
    ));
    assert!(!openssl_verifies(
        fx.dir.path(),
        &public,
        &payload,
        &signature
    ));

    // Pushed again: the same attestation is there already.
    let again = push();
    assert_eq!(again["pushed"]["attestations"][0]["added"], false);
}
