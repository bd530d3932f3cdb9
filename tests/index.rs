//! `ostree-encap index`: per-architecture images joined into one OCI image index, read back
//! by skopeo the way a client of each architecture reads it, and imported by ostree-ext.

mod common;

use common::*;
use std::path::Path;
use std::process::Command;

/// The fixture's commit as an image for `arch`, version `version`, in `dir` (tag `t`).
fn arch_image(fx: &Fixture, dir: &Path, arch: &str, version: &str) -> serde_json::Value {
    let label = format!("org.opencontainers.image.version={version}");
    json(&encap_ok(job(
        &fx.repo,
        FIXTURE_REF,
        dir,
        &["--arch", arch, "--tag", "t", "--label", &label, "--json"],
    )))
}

/// What a client of `arch` pulls from `imgref` (skopeo with `extra` options): the digest of
/// the one manifest it copies, and the layout it copied it to (tag `x`).
fn pull(
    fx: &Fixture,
    imgref: &str,
    arch: &str,
    extra: &[&str],
) -> (serde_json::Value, std::path::PathBuf) {
    let copy = fx.path(&format!("pulled-{arch}-{}", extra.len()));
    let dest = format!("oci:{}:x", copy.display());
    let mut args = vec!["copy"];
    args.extend_from_slice(extra);
    args.extend([
        "--override-os",
        "linux",
        "--override-arch",
        arch,
        imgref,
        &dest,
    ]);
    run_ok(Command::new("skopeo").args(&args));
    (index(&copy)["manifests"][0]["digest"].clone(), copy)
}

fn skopeo_raw(imgref: &str) -> serde_json::Value {
    let o = run_ok(Command::new("skopeo").args(["inspect", "--raw", imgref]));
    serde_json::from_slice(&o.stdout).expect("skopeo prints JSON")
}

#[test]
fn an_index_serves_each_architecture_its_own_image() {
    let fx = Fixture::new("basic");
    let (amd, arm) = (fx.path("amd64"), fx.path("arm64"));
    let a = arch_image(&fx, &amd, "x86_64", "1.0");
    let b = arch_image(&fx, &arm, "aarch64", "1.0");
    assert_ne!(a["manifest_digest"], b["manifest_digest"]);
    let out = fx.path("multi");
    let arm_arg = format!("{}:t", arm.display());
    let amd_arg = format!("{}:t", amd.display());
    // Given in the "wrong" order: entries are sorted by platform.
    let r = json(&encap_ok([
        "index",
        "--oci-dir",
        out.to_str().unwrap(),
        "--tag",
        "1.0",
        "--json",
        &arm_arg,
        &amd_arg,
    ]));
    let imgref = format!("oci:{}:1.0", out.display());
    let raw = skopeo_raw(&imgref);
    assert_eq!(raw["mediaType"], "application/vnd.oci.image.index.v1+json");
    let m = raw["manifests"].as_array().expect("manifests");
    assert_eq!(m.len(), 2);
    assert_eq!(m[0]["platform"]["architecture"], "amd64");
    assert_eq!(m[0]["digest"], a["manifest_digest"]);
    assert_eq!(m[1]["platform"]["architecture"], "arm64");
    assert_eq!(m[1]["platform"]["variant"], "v8");
    assert_eq!(m[1]["digest"], b["manifest_digest"]);
    assert_eq!(r["manifests"][1]["platform"], "linux/arm64/v8");
    let digest = r["index_digest"].as_str().unwrap();
    assert_eq!(
        sha(&blob(&out, digest)),
        digest,
        "the index blob is what it is named"
    );

    // What a client of each architecture pulls is that architecture's image, byte for byte.
    for (arch, want) in [("amd64", &a), ("arm64", &b)] {
        let (got, copy) = pull(&fx, &imgref, arch, &[]);
        assert_eq!(got, want["manifest_digest"], "{arch}");
        // And it is still our ostree image: the importer takes it to the same commit.
        let (_, commit) = import(
            fx.dir.path(),
            &format!("ostree-unverified-image:oci:{}:x", copy.display()),
        )
        .unwrap_or_else(|e| panic!("{arch}: {e}"));
        assert_eq!(commit, fx.commit, "{arch}");
    }

    // The same images again, into another directory and in the other order: the same index.
    let again = fx.path("multi2");
    let r2 = json(&encap_ok([
        "index",
        "--oci-dir",
        again.to_str().unwrap(),
        "--json",
        &amd_arg,
        &arm_arg,
    ]));
    assert_eq!(r2["index_digest"], r["index_digest"]);
    // The layout is whole: skopeo copies it with every image.
    run_ok(Command::new("skopeo").args([
        "copy",
        "--all",
        "--preserve-digests",
        &imgref,
        &format!("oci:{}:all", fx.path("all").display()),
    ]));
}

#[test]
fn images_a_client_could_not_choose_between_are_refused_and_nothing_is_written() {
    let fx = Fixture::new("basic");
    let (one, two, newer) = (fx.path("one"), fx.path("two"), fx.path("newer"));
    arch_image(&fx, &one, "x86_64", "1.0");
    arch_image(&fx, &two, "x86_64", "1.0");
    arch_image(&fx, &newer, "aarch64", "2.0");
    let out = fx.path("out");
    let run = |images: &[&Path], extra: &[&str]| {
        let mut args: Vec<String> = vec!["index".into(), "--oci-dir".into()];
        args.push(out.to_str().unwrap().into());
        args.extend(extra.iter().map(|s| s.to_string()));
        args.extend(images.iter().map(|p| format!("{}:t", p.display())));
        args
    };
    let err = encap_err(run(&[&one, &two], &[]));
    assert!(err.contains("linux/amd64"), "{err}");
    assert!(
        err.contains(one.to_str().unwrap()) && err.contains(two.to_str().unwrap()),
        "names both images: {err}"
    );
    assert!(!out.exists(), "a refused index leaves no output directory");

    let err = encap_err(run(&[&one, &newer], &[]));
    assert!(
        err.contains("\"1.0\"")
            && err.contains("\"2.0\"")
            && err.contains("--allow-mixed-versions"),
        "{err}"
    );
    assert!(!out.exists());
    let r = json(&encap_ok(run(
        &[&one, &newer],
        &["--allow-mixed-versions", "--json"],
    )));
    assert_eq!(r["manifests"].as_array().map(Vec::len), Some(2));

    let err = encap_err(run(&[&fx.path("nothing-here")], &[]));
    assert!(err.contains("nothing-here"), "{err}");
}

/// `index --push`: the index and both images reach a real registry with their digests, and
/// a client of each architecture pulls its own image from there.
#[test]
fn an_index_pushed_to_a_registry_keeps_its_digest_and_serves_each_architecture() {
    let reg = Registry::start(None);
    let fx = Fixture::new("basic");
    let (amd, arm) = (fx.path("amd64"), fx.path("arm64"));
    let a = arch_image(&fx, &amd, "x86_64", "1.0");
    let b = arch_image(&fx, &arm, "aarch64", "1.0");
    let out = fx.path("multi");
    let digestfile = fx.path("digest");
    let dest = reg.url("os/multi:1.0");
    let r = json(&encap_ok([
        "index",
        "--oci-dir",
        out.to_str().unwrap(),
        "--tag",
        "1.0",
        "--push",
        &dest,
        "--dest-tls-verify",
        "false",
        "--digestfile",
        digestfile.to_str().unwrap(),
        "--json",
        &format!("{}:t", amd.display()),
        &format!("{}:t", arm.display()),
    ]));
    let digest = r["index_digest"].as_str().unwrap();
    assert_eq!(r["pushed"]["digest"], digest);
    assert_eq!(std::fs::read_to_string(&digestfile).unwrap().trim(), digest);
    let o = run_ok(Command::new("skopeo").args(["inspect", "--raw", "--tls-verify=false", &dest]));
    assert_eq!(
        sha(&o.stdout),
        digest,
        "the registry serves our index bytes"
    );
    for (arch, want) in [("amd64", &a), ("arm64", &b)] {
        let (got, copy) = pull(&fx, &dest, arch, &["--src-tls-verify=false"]);
        assert_eq!(got, want["manifest_digest"], "{arch}");
        // What the registry served is still our ostree image: the importer takes it to the
        // commit.
        let (_, commit) = import(
            fx.dir.path(),
            &format!("ostree-unverified-image:oci:{}:x", copy.display()),
        )
        .unwrap_or_else(|e| panic!("{arch}: {e}"));
        assert_eq!(commit, fx.commit, "{arch}");
    }
    // `push` of the index alone does the same.
    let dest2 = reg.url("os/multi:again");
    encap_ok([
        "push",
        "--oci-dir",
        &format!("{}:1.0", out.display()),
        &dest2,
        "--dest-tls-verify",
        "false",
    ]);
    let o = run_ok(Command::new("skopeo").args(["inspect", "--raw", "--tls-verify=false", &dest2]));
    assert_eq!(sha(&o.stdout), digest);
    // And the commands that read one image say what an index is.
    let err = encap_err(["verify", "--oci-dir", &format!("{}:1.0", out.display())]);
    assert!(err.contains("image index"), "{err}");
}

/// Images that live only in a registry (each architecture's builder pushed its own): read
/// with `skopeo inspect`, joined, and pushed as an index without fetching a layer; or, when
/// the output must hold them, fetched by digest into a complete layout.
#[test]
fn registry_images_are_joined_without_downloading_their_layers() {
    let reg = Registry::start(None);
    let fx = Fixture::new("basic");
    let (amd, arm) = (fx.path("amd64"), fx.path("arm64"));
    let a = arch_image(&fx, &amd, "x86_64", "1.0");
    let b = arch_image(&fx, &arm, "aarch64", "1.0");
    let (amd_ref, arm_ref) = (reg.url("os/multi:1.0-amd64"), reg.url("os/multi:1.0-arm64"));
    for (dir, dest) in [(&amd, &amd_ref), (&arm, &arm_ref)] {
        encap_ok([
            "push",
            "--oci-dir",
            &format!("{}:t", dir.display()),
            dest,
            "--dest-tls-verify",
            "false",
        ]);
    }
    let dest = reg.url("os/multi:1.0");
    let out = fx.path("index-only");
    let r = json(&encap_ok([
        "index",
        "--oci-dir",
        out.to_str().unwrap(),
        "--tag",
        "1.0",
        "--src-tls-verify",
        "false",
        "--push",
        &dest,
        "--dest-tls-verify",
        "false",
        "--json",
        &arm_ref,
        &amd_ref,
    ]));
    let digest = r["index_digest"].as_str().unwrap();
    assert_eq!(r["manifests"][0]["digest"], a["manifest_digest"]);
    assert_eq!(r["manifests"][1]["digest"], b["manifest_digest"]);
    // The same index as one made from the local copies.
    let local = json(&encap_ok([
        "index",
        "--oci-dir",
        fx.path("local").to_str().unwrap(),
        "--json",
        &format!("{}:t", amd.display()),
        &format!("{}:t", arm.display()),
    ]));
    assert_eq!(local["index_digest"], digest);
    let o = run_ok(Command::new("skopeo").args(["inspect", "--raw", "--tls-verify=false", &dest]));
    assert_eq!(sha(&o.stdout), digest, "the registry serves our index");
    for (arch, want) in [("amd64", &a), ("arm64", &b)] {
        let (got, _) = pull(&fx, &dest, arch, &["--src-tls-verify=false"]);
        assert_eq!(got, want["manifest_digest"], "{arch}");
    }
    // No layer was fetched: the output holds the index, the manifests and the configs only.
    let (manifest, _) = image(&amd, "t");
    for l in manifest["layers"].as_array().unwrap() {
        let hex = &l["digest"].as_str().unwrap()[7..];
        assert!(
            !out.join("blobs/sha256").join(hex).exists(),
            "layer {hex} was downloaded"
        );
    }
    assert!(out
        .join("blobs/sha256")
        .join(&a["manifest_digest"].as_str().unwrap()[7..])
        .exists());

    // Without a push to that repository the output must hold everything: the registry
    // image's layers are fetched (by digest) and the layout is complete.
    let full = fx.path("full");
    encap_ok([
        "index",
        "--oci-dir",
        full.to_str().unwrap(),
        "--tag",
        "x",
        "--src-tls-verify",
        "false",
        &amd_ref,
        &format!("{}:t", arm.display()),
    ]);
    run_ok(Command::new("skopeo").args([
        "copy",
        "--all",
        "--preserve-digests",
        &format!("oci:{}:x", full.display()),
        &format!("oci:{}:x", fx.path("copied").display()),
    ]));
    // An index is not an image to list.
    let err = encap_err([
        "index",
        "--oci-dir",
        fx.path("nested").to_str().unwrap(),
        "--src-tls-verify",
        "false",
        &dest,
    ]);
    assert!(err.contains("index"), "{err}");
    assert!(!fx.path("nested").exists());
}

/// Issue 31: each platform's SBOM and provenance (referrers of its image) come into the index
/// layout with it, and `index --push` carries them: the registry lists them under each
/// platform's referrers tag, the subject being that platform's image.
#[test]
fn an_index_carries_the_sbom_and_provenance_of_each_platform() {
    let reg = Registry::start(None);
    let fx = Fixture::new("basic");
    let mut images = Vec::new();
    for arch in ["x86_64", "aarch64"] {
        let dir = fx.path(arch);
        let sbom = fx.path(&format!("{arch}.spdx.json"));
        let s = json(&encap_ok(job(
            &fx.repo,
            FIXTURE_REF,
            &dir,
            &[
                "--arch",
                arch,
                "--tag",
                "t",
                "--json",
                "--sbom",
                sbom.to_str().unwrap(),
                "--provenance",
            ],
        )));
        images.push((
            dir,
            s["manifest_digest"].as_str().unwrap().to_string(),
            sbom,
        ));
    }
    let out = fx.path("multi");
    let dest = reg.url("os/multi:1.0");
    let mut args = vec![
        "index".to_string(),
        "--oci-dir".into(),
        out.display().to_string(),
        "--tag".into(),
        "1.0".into(),
        "--push".into(),
        dest.clone(),
        "--dest-tls-verify".into(),
        "false".into(),
        "--json".into(),
    ];
    args.extend(images.iter().map(|(d, _, _)| format!("{}:t", d.display())));
    let r = json(&encap_ok(&args));
    let pushed: Vec<&str> = r["pushed"]["platform_referrers"]
        .as_array()
        .unwrap_or_else(|| panic!("no platform referrers pushed: {r}"))
        .iter()
        .map(|v| v.as_str().unwrap())
        .collect();
    assert_eq!(pushed.len(), 2, "{r}");
    for (_, manifest, sbom) in &images {
        let tag = format!("sha256-{}", &manifest[7..]);
        assert!(
            pushed.contains(&reg.url(&format!("os/multi:{tag}")).as_str()),
            "{r}"
        );
        let o = run_ok(Command::new("skopeo").args([
            "inspect",
            "--raw",
            "--tls-verify=false",
            &reg.url(&format!("os/multi:{tag}")),
        ]));
        let index = json(&String::from_utf8_lossy(&o.stdout));
        let mut kinds = Vec::new();
        for e in index["manifests"].as_array().unwrap() {
            let o = run_ok(Command::new("skopeo").args([
                "inspect",
                "--raw",
                "--tls-verify=false",
                &reg.url(&format!("os/multi@{}", e["digest"].as_str().unwrap())),
            ]));
            let a = json(&String::from_utf8_lossy(&o.stdout));
            assert_eq!(a["subject"]["digest"], manifest.as_str());
            if a["artifactType"] == "application/spdx+json" {
                let bytes = std::fs::read(sbom).unwrap();
                assert_eq!(a["layers"][0]["digest"], sha(&bytes).as_str());
            }
            kinds.push(a["artifactType"].as_str().unwrap().to_string());
        }
        kinds.sort();
        assert_eq!(
            kinds,
            ["application/spdx+json", "application/vnd.in-toto+json"]
        );
    }
}
