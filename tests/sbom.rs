//! `--sbom FILE`: an SPDX 2.3 bill of materials from the package databases in the commit,
//! checked by the SPDX project's own validator (`pyspdxtools`, from PyPI; scripts/setup.sh
//! installs it into target/spdx-tools) and against the image it describes.

mod common;

use common::*;
use std::path::{Path, PathBuf};
use std::process::Command;

/// The SPDX validator: `ENCAP_SPDX_VALIDATOR`, else target/spdx-tools/bin/pyspdxtools.
fn validator() -> PathBuf {
    let p = std::env::var_os("ENCAP_SPDX_VALIDATOR")
        .map(PathBuf::from)
        .unwrap_or_else(|| workspace_root().join("target/spdx-tools/bin/pyspdxtools"));
    assert!(
        p.exists(),
        "{}: the SPDX validator is missing; run scripts/setup.sh (it installs spdx-tools from \
         PyPI into target/spdx-tools) or set ENCAP_SPDX_VALIDATOR",
        p.display()
    );
    p
}

/// `pyspdxtools -i FILE`: Ok, or what it says is wrong.
fn validate(file: &Path) -> Result<(), String> {
    let o = Command::new(validator())
        .arg("-i")
        .arg(file)
        .output()
        .expect("running pyspdxtools");
    if o.status.success() {
        Ok(())
    } else {
        Err(format!(
            "{}{}",
            String::from_utf8_lossy(&o.stdout),
            String::from_utf8_lossy(&o.stderr)
        ))
    }
}

fn os_release(tree: &Path, id: &str, version: &str) {
    std::fs::create_dir_all(tree.join("usr/lib")).unwrap();
    std::fs::write(
        tree.join("usr/lib/os-release"),
        format!("NAME=\"Test\"\nID={id}\nVERSION_ID=\"{version}\"\n"),
    )
    .unwrap();
}

/// The SPDX package with this name, and the SPDX id of what CONTAINS it.
fn package<'a>(doc: &'a serde_json::Value, name: &str) -> (&'a serde_json::Value, String) {
    let p = doc["packages"]
        .as_array()
        .unwrap()
        .iter()
        .find(|p| p["name"] == name)
        .unwrap_or_else(|| panic!("{name} is not in the SBOM"));
    let holder = doc["relationships"]
        .as_array()
        .unwrap()
        .iter()
        .find(|r| r["relationshipType"] == "CONTAINS" && r["relatedSpdxElement"] == p["SPDXID"])
        .unwrap_or_else(|| panic!("nothing contains {name}"));
    (p, holder["spdxElementId"].as_str().unwrap().to_string())
}

/// The layer blob digest an SPDX layer package names.
fn layer_digest(doc: &serde_json::Value, id: &str) -> String {
    let l = doc["packages"]
        .as_array()
        .unwrap()
        .iter()
        .find(|p| p["SPDXID"] == id)
        .unwrap();
    format!(
        "sha256:{}",
        l["checksums"][0]["checksumValue"].as_str().unwrap()
    )
}

fn purl(p: &serde_json::Value) -> &str {
    p["externalRefs"][0]["referenceLocator"].as_str().unwrap()
}

#[test]
fn every_installed_deb_is_listed_in_the_layer_that_holds_it() {
    let fx = Fixture::new("basic");
    let tree = fx.tree.clone();
    install_debs(
        fx.dir.path(),
        &tree,
        &[
            ("libfoo1", "foo", "1:2.0-1+deb12u1"),
            ("foo-tools", "foo", "1:2.0-1+deb12u1"),
            ("bar", "bar", "3.1"),
        ],
    );
    os_release(&tree, "debian", "12");
    let commit = fx.commit_tree(&tree, "with debs", "2025-04-01T00:00:00Z");
    let out = fx.path("oci");
    let file = fx.path("sbom.spdx.json");
    let s = json(&encap_ok(job(
        &fx.repo,
        &commit,
        &out,
        &[
            "--max-layers",
            "8",
            "--tag",
            "t",
            "--json",
            "--sbom",
            file.to_str().unwrap(),
        ],
    )));
    validate(&file).unwrap();
    let bytes = std::fs::read(&file).unwrap();
    let doc: serde_json::Value = serde_json::from_slice(&bytes).unwrap();
    assert_eq!(s["sbom"]["packages"], 3);
    assert_eq!(s["sbom"]["digest"], sha(&bytes).as_str());

    // The config label binds the document to the image.
    let (manifest, config) = image(&out, "t");
    assert_eq!(
        config["config"]["Labels"]["ostree-encap.sbom"],
        sha(&bytes).as_str()
    );
    assert_eq!(doc["creationInfo"]["created"], config["created"]);

    // Each package: its PURL (epoch and '+' encoded), source, and the layer with its files.
    let (foo, holder) = package(&doc, "libfoo1");
    assert_eq!(
        purl(foo),
        "pkg:deb/debian/libfoo1@1%3A2.0-1%2Bdeb12u1?arch=all&distro=debian-12"
    );
    assert_eq!(foo["versionInfo"], "1:2.0-1+deb12u1");
    assert!(foo["sourceInfo"].as_str().unwrap().ends_with(" foo"));
    assert_eq!(
        foo["licenseDeclared"], "NOASSERTION",
        "dpkg records no license"
    );
    let foo_layer = manifest["layers"]
        .as_array()
        .unwrap()
        .iter()
        .find(|l| {
            l["annotations"]["ostree.components"]
                .as_str()
                .is_some_and(|c| c.split(',').any(|c| c == "foo"))
        })
        .expect("a layer holds component foo");
    assert_eq!(
        layer_digest(&doc, &holder),
        foo_layer["digest"].as_str().unwrap()
    );
    let (_, tools_holder) = package(&doc, "foo-tools");
    assert_eq!(tools_holder, holder, "one source package, one layer");
    let (_, bar_holder) = package(&doc, "bar");
    assert_ne!(bar_holder, holder);
    // Every layer of the image is in the document, and nothing else.
    let mut listed: Vec<String> = doc["packages"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|p| p["primaryPackagePurpose"] == "ARCHIVE")
        .map(|p| layer_digest(&doc, p["SPDXID"].as_str().unwrap()))
        .collect();
    let mut layers: Vec<String> = manifest["layers"]
        .as_array()
        .unwrap()
        .iter()
        .map(|l| l["digest"].as_str().unwrap().to_string())
        .collect();
    listed.sort();
    layers.sort();
    assert_eq!(listed, layers);

    // The same build again gives the same bytes.
    let again = fx.path("sbom2.json");
    encap_ok(job(
        &fx.repo,
        &commit,
        &fx.path("oci2"),
        &["--max-layers", "8", "--sbom", again.to_str().unwrap()],
    ));
    assert!(
        std::fs::read(&again).unwrap() == bytes,
        "the SBOM is reproducible"
    );

    // One layer: every package is in it.
    let single = fx.path("single.json");
    encap_ok(job(
        &fx.repo,
        &commit,
        &fx.path("oci3"),
        &[
            "--max-layers",
            "0",
            "--tag",
            "s",
            "--sbom",
            single.to_str().unwrap(),
        ],
    ));
    validate(&single).unwrap();
    let doc1: serde_json::Value = serde_json::from_slice(&std::fs::read(&single).unwrap()).unwrap();
    let (m1, _) = image(&fx.path("oci3"), "s");
    for name in ["libfoo1", "foo-tools", "bar"] {
        let (_, h) = package(&doc1, name);
        assert_eq!(
            layer_digest(&doc1, &h),
            m1["layers"][0]["digest"].as_str().unwrap()
        );
    }
}

#[test]
fn rpms_carry_their_license_and_distribution() {
    let fx = Fixture::new("basic");
    let tree = fx.tree.clone();
    install_rpms(fx.dir.path(), &tree, "1.0", "1.0");
    os_release(&tree, "fedora", "41");
    let commit = fx.commit_tree(&tree, "with rpms", "2025-04-01T00:00:00Z");
    let file = fx.path("sbom.json");
    encap_ok(job(
        &fx.repo,
        &commit,
        &fx.path("oci"),
        &["--sbom", file.to_str().unwrap()],
    ));
    validate(&file).unwrap();
    let doc: serde_json::Value = serde_json::from_slice(&std::fs::read(&file).unwrap()).unwrap();
    let (libfoo, _) = package(&doc, "libfoo");
    assert_eq!(
        purl(libfoo),
        "pkg:rpm/fedora/libfoo@1.0-1?arch=noarch&distro=fedora-41"
    );
    assert!(libfoo["sourceInfo"].as_str().unwrap().ends_with(" foo"));
    // rpm's License tag, verbatim, as an extracted license the package points to.
    let lic = libfoo["licenseDeclared"].as_str().unwrap();
    let info = doc["hasExtractedLicensingInfos"]
        .as_array()
        .unwrap()
        .iter()
        .find(|l| l["licenseId"] == lic)
        .expect("the license is defined");
    assert_eq!(info["extractedText"], "MIT");
    for name in ["foo", "foo-tools", "bar"] {
        package(&doc, name);
    }
}

#[test]
fn an_sbom_that_cannot_be_written_stops_the_run_before_the_build() {
    let fx = Fixture::new("basic");
    let out = fx.path("oci");
    let err = encap_err(job(
        &fx.repo,
        FIXTURE_REF,
        &out,
        &["--sbom", fx.path("no/such/dir/sbom.json").to_str().unwrap()],
    ));
    assert!(
        err.contains("--sbom") && err.contains("no/such/dir"),
        "{err}"
    );
    assert!(!out.exists(), "nothing built");
}

/// Issue 31: the bill of materials is stored beside the image as a referrer (artifactType
/// `application/spdx+json`, subject = the image) under the referrers tag, and so is the
/// provenance statement (`--provenance`: in-toto, SLSA v1), each replaced when the same
/// image is built again, and carried by `push` to a registry without the referrers API
/// (Debian's), where they are found again through that tag: subject and digests checked,
/// the document as written, still valid for `pyspdxtools`.
#[test]
fn the_sbom_and_provenance_are_referrers_of_their_image_and_a_push_carries_them() {
    let reg = Registry::start(None);
    let fx = Fixture::new("basic");
    let tree = fx.tree.clone();
    install_debs(fx.dir.path(), &tree, &[("bar", "bar", "3.1")]);
    os_release(&tree, "debian", "12");
    let commit = fx.commit_tree(&tree, "with debs", "2025-04-01T00:00:00Z");
    let out = fx.path("oci");
    let file = fx.path("sbom.spdx.json");
    let build = || {
        json(&encap_ok(job(
            &fx.repo,
            &commit,
            &out,
            &[
                "--tag",
                "t",
                "--json",
                "--sbom",
                file.to_str().unwrap(),
                "--provenance",
            ],
        )))
    };
    let s = build();
    // Built again into the same layout: the same image, one SBOM referrer, not two.
    assert_eq!(build()["manifest_digest"], s["manifest_digest"]);
    let subject = s["manifest_digest"].as_str().unwrap().to_string();
    let sbom = std::fs::read(&file).unwrap();
    let tag = format!("sha256-{}", &subject[7..]);
    let referrers = referrers(&out, &subject);
    let entries = referrers["manifests"].as_array().unwrap();
    assert_eq!(entries.len(), 2, "{referrers}");
    let find = |kind: &str| {
        entries
            .iter()
            .map(|e| e["digest"].as_str().unwrap().to_string())
            .find(|d| blob_json(&out, d)["artifactType"] == kind)
            .unwrap_or_else(|| panic!("no {kind} referrer: {referrers}"))
    };
    let artifact_digest = find("application/spdx+json");
    let provenance_digest = find("application/vnd.in-toto+json");
    let provenance = blob_json(&out, &provenance_digest);
    assert_eq!(provenance["subject"]["digest"], subject.as_str());
    let statement = blob_json(&out, provenance["layers"][0]["digest"].as_str().unwrap());
    assert_eq!(statement["_type"], "https://in-toto.io/Statement/v1");
    assert_eq!(statement["predicateType"], "https://slsa.dev/provenance/v1");
    assert_eq!(statement["subject"][0]["digest"]["sha256"], &subject[7..]);
    let def = &statement["predicate"]["buildDefinition"];
    assert_eq!(
        def["resolvedDependencies"][0]["digest"]["sha256"],
        commit.as_str()
    );
    assert_eq!(def["externalParameters"]["source"]["kind"], "commit");
    let check = |artifact: &serde_json::Value| {
        assert_eq!(artifact["artifactType"], "application/spdx+json");
        assert_eq!(artifact["subject"]["digest"], subject.as_str());
        assert_eq!(artifact["layers"][0]["digest"], sha(&sbom).as_str());
        assert_eq!(artifact["layers"][0]["mediaType"], "application/spdx+json");
    };
    check(&blob_json(&out, &artifact_digest));

    // Pushed with the image; found through the referrers tag in the registry.
    let r = json(&encap_ok([
        "push",
        "--oci-dir",
        &format!("{}:t", out.display()),
        &reg.url("os/x:t"),
        "--dest-tls-verify",
        "false",
        "--json",
    ]));
    assert_eq!(r["referrers"], reg.url(&format!("os/x:{tag}")).as_str());
    let raw = |reference: &str| {
        let o = run_ok(Command::new("skopeo").args([
            "inspect",
            "--raw",
            "--tls-verify=false",
            &reg.url(reference),
        ]));
        json(&String::from_utf8_lossy(&o.stdout))
    };
    let pushed = raw(&format!("os/x:{tag}"));
    assert_eq!(pushed, referrers, "the referrers index as it was");
    check(&raw(&format!("os/x@{artifact_digest}")));
    assert_eq!(raw(&format!("os/x@{provenance_digest}")), provenance);
    // The document itself, from the registry's blob store: the bytes written, valid SPDX.
    let host = reg.url("os/x");
    let host = host
        .strip_prefix("docker://")
        .and_then(|h| h.strip_suffix("/os/x"))
        .unwrap();
    let blob = http_get(host, &format!("/v2/os/x/blobs/{}", sha(&sbom)));
    assert_eq!(blob, sbom);
    let fetched = fx.path("fetched.spdx.json");
    std::fs::write(&fetched, &blob).unwrap();
    validate(&fetched).unwrap();
}

/// The body of `GET path` from the HTTP server at `host` (loopback, HTTP/1.0: the whole
/// answer, then the server closes); panics unless it is a 200.
fn http_get(host: &str, path: &str) -> Vec<u8> {
    use std::io::{Read, Write};
    let mut c = std::net::TcpStream::connect(host).unwrap();
    write!(c, "GET {path} HTTP/1.0\r\nHost: {host}\r\n\r\n").unwrap();
    let mut all = Vec::new();
    c.read_to_end(&mut all).unwrap();
    let end = all.windows(4).position(|w| w == b"\r\n\r\n").unwrap();
    let head = String::from_utf8_lossy(&all[..end]);
    assert!(
        head.starts_with("HTTP/1.0 200") || head.starts_with("HTTP/1.1 200"),
        "{head}"
    );
    all[end + 4..].to_vec()
}
