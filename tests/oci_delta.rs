//! oci-delta artifacts (`delta --format oci-delta`, `verify-delta`, `--delta oci-delta`)
//! taken by the real consumers: composefs-oci 0.9.4 pulls the old image, then the delta,
//! and must end with the new image's manifest and composefs EROFS; the `oci-delta` crate
//! rebuilds every layer to its diff_id. Plain and ostree-format images; damaged deltas are
//! refused by our own check before anyone ships them.

mod common;

use common::*;
use std::path::{Path, PathBuf};

/// The full fixture tree and an update of it: a library changed in place (hard-linked), the
/// large file patched in the middle, the kernel moved to a new version directory with a few
/// bytes changed, a file added, one removed; an unchanged file beside them.
fn trees(fx: &Fixture) -> (PathBuf, PathBuf) {
    let old = fx.tree.clone();
    // Unchanged, beside changed files in their layer: copied from the old image.
    std::fs::write(
        old.join("usr/lib/libkept.so"),
        pseudo_random("kept", 60_000),
    )
    .unwrap();
    let new = fx.path("tree-b");
    run_ok(
        std::process::Command::new("cp")
            .arg("-a")
            .arg(&old)
            .arg(&new),
    );
    let patch = |rel: &str, at: usize, extra: &[u8]| {
        let p = new.join(rel);
        let mut d = std::fs::read(&p).unwrap();
        for b in &mut d[at..at + 64] {
            *b ^= 0x5a;
        }
        d.extend_from_slice(extra);
        std::fs::write(&p, d).unwrap();
    };
    patch("usr/lib/large.bin", 12_000_000, b"");
    patch("usr/lib/libx.so.1.0", 100, b"a new symbol");
    let k = new.join("usr/lib/modules/6.1.0-fixture");
    let k2 = new.join("usr/lib/modules/6.1.0-fixture2");
    std::fs::rename(&k, &k2).unwrap();
    patch("usr/lib/modules/6.1.0-fixture2/vmlinuz", 1000, b"");
    std::fs::write(new.join("usr/share/added"), pseudo_random("added", 40_000)).unwrap();
    std::fs::remove_file(new.join("usr/share/dup/c")).unwrap();
    (old, new)
}

/// Build the image `tag` of `format` from `tree` into `out` (6 layers at most), with `extra`
/// options; the build's JSON summary.
fn build(tree: &Path, out: &Path, format: &str, tag: &str, extra: &[&str]) -> serde_json::Value {
    let mut args: Vec<String> = [
        "--rootfs",
        tree.to_str().unwrap(),
        "--format",
        format,
        "--oci-dir",
        out.to_str().unwrap(),
        "--tag",
        tag,
        "--max-layers",
        "6",
        "--json",
    ]
    .map(str::to_string)
    .to_vec();
    args.extend(extra.iter().map(|s| s.to_string()));
    json(&encap_ok(args))
}

/// Images A and B of `format` from the two trees in `out`, B laid out after A.
fn images(old: &Path, new: &Path, out: &Path, format: &str) {
    build(old, out, format, "A", &[]);
    build(
        new,
        out,
        format,
        "B",
        &["--previous", &format!("{}:A", out.display())],
    );
}

fn make_delta(out: &Path, extra: &[&str]) -> serde_json::Value {
    make_delta_to(out, "B", extra)
}

/// The oci-delta from image A to image `to` of `out`, made by `ostree-encap delta`.
fn make_delta_to(out: &Path, to: &str, extra: &[&str]) -> serde_json::Value {
    let mut args = vec![
        "delta",
        "--format",
        "oci-delta",
        "--from",
        &format!("{}:A", out.display()),
        "--oci-dir",
        out.to_str().unwrap(),
        "--to",
        to,
        "--json",
    ]
    .into_iter()
    .map(str::to_string)
    .collect::<Vec<_>>();
    args.extend(extra.iter().map(|s| s.to_string()));
    json(&encap_ok(args))
}

/// Everything the consumers and our checks must say about the delta from A to B in `out`.
fn delta_taken_by_consumers(fx: &Fixture, old: &Path, out: &Path) {
    let archive = fx.path("update.ociarchive");
    let dir = fx.path("update-dir");
    let r = make_delta(
        out,
        &["--output", &format!("oci-archive:{}", archive.display())],
    );
    let d = &r["delta"];
    let new_manifest = tagged(out, "B");
    assert_eq!(r["subject"], new_manifest.as_str());
    assert_eq!(
        d["plan"]["source_config"],
        image(out, "A").0["config"]["digest"]
    );
    let layers = d["layers"].as_array().unwrap();
    assert!(!layers.is_empty());
    let sum = |k: &str| {
        layers
            .iter()
            .map(|l| l["encoding"][k].as_u64().unwrap())
            .sum::<u64>()
    };
    assert!(
        sum("diffed") >= 3,
        "the library, the large file and the moved kernel are diffed: {d}"
    );
    assert!(
        sum("copied") >= 1,
        "unchanged files in changed layers are copied: {d}"
    );
    let (download, without) = (
        d["download_bytes"].as_u64().unwrap(),
        d["layers_download_bytes"].as_u64().unwrap(),
    );
    assert!(
        download * 4 < without,
        "the delta ({download}) is much smaller than the layers ({without})"
    );

    // Reproducible: made again (and written as a directory this time), the same artifact.
    let again = make_delta(out, &["--output", &format!("oci:{}", dir.display())]);
    assert_eq!(
        again["delta"]["manifest"]["digest"],
        d["manifest"]["digest"]
    );
    let refs = referrers(out, &new_manifest);
    let listed: Vec<_> = refs["manifests"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|e| e["annotations"]["io.github.containers.delta.source-config"].is_string())
        .collect();
    assert_eq!(listed.len(), 1, "made twice, listed once: {refs}");
    assert_eq!(listed[0]["digest"], d["manifest"]["digest"]);
    let m = blob_json(out, d["manifest"]["digest"].as_str().unwrap());
    assert_eq!(
        m["artifactType"],
        "application/vnd.io.github.containers.oci-delta.v1"
    );
    assert_eq!(m["subject"]["digest"], new_manifest.as_str());
    assert_eq!(
        m["config"]["mediaType"],
        "application/vnd.oci.empty.v1+json"
    );

    // `diff` reports what each way costs.
    let df = json(&encap_ok([
        "diff",
        &format!("{}:A", out.display()),
        &format!("{}:B", out.display()),
        "--json",
    ]));
    assert_eq!(df["oci_delta_bytes"], d["download_bytes"], "{df}");
    assert_eq!(df["download_bytes"], d["layers_download_bytes"], "{df}");
    assert!(df["static_delta_bytes"].is_null(), "{df}");

    // Our own check, on the file and on what is stored beside the image.
    let from = format!("{}:A", out.display());
    let v = json(&encap_ok([
        "verify-delta",
        "--delta",
        &format!("oci-archive:{}", archive.display()),
        "--from",
        &from,
        "--json",
    ]));
    assert_eq!(v[0]["target"], new_manifest.as_str());
    encap_ok([
        "verify-delta",
        "--oci-dir",
        out.to_str().unwrap(),
        "--to",
        "B",
        "--from",
        &from,
    ]);

    // composefs-oci: old image, then the delta (as an archive and as a directory) → the
    // new image's manifest digest and the EROFS a direct pull makes.
    for delta in [
        format!("oci-archive:{}", archive.display()),
        format!("oci:{}", dir.display()),
    ] {
        let p = consumer_pull(
            &format!("oci:{}:A", out.display()),
            &delta,
            &format!("oci:{}:B", out.display()),
        )
        .unwrap_or_else(|e| panic!("composefs-oci refused {delta}: {e}"));
        assert_eq!(p["via_delta_manifest"], new_manifest.as_str(), "{p}");
        assert_eq!(p["direct_manifest"], new_manifest.as_str(), "{p}");
        assert_eq!(p["via_delta_erofs"], p["direct_erofs"], "{p}");
    }
    // The oci-delta crate: every carried layer rebuilt to its diff_id from the old files.
    let rb = consumer_rebuild(&dir, old).unwrap_or_else(|e| panic!("oci-delta refused it: {e}"));
    assert_eq!(
        rb["layers_rebuilt"].as_u64().unwrap(),
        layers.len() as u64,
        "{rb}"
    );
    assert_eq!(rb["target_manifest"], new_manifest.as_str());
}

#[test]
fn a_plain_update_goes_through_an_oci_delta_the_real_consumers_take() {
    let fx = Fixture::new("full");
    let (old, new) = trees(&fx);
    let out = fx.path("plain");
    images(&old, &new, &out, "plain");
    delta_taken_by_consumers(&fx, &old, &out);
}

#[test]
fn an_ostree_format_update_goes_through_an_oci_delta_the_real_consumers_take() {
    let fx = Fixture::new("full");
    let (old, new) = trees(&fx);
    let out = fx.path("ostree");
    images(&old, &new, &out, "ostree");
    // The oci-delta crate rebuilds its layers from the plain tree, which has no
    // sysroot/ostree: the tar-diffs name deployed paths, never the old image's objects.
    delta_taken_by_consumers(&fx, &old, &out);
}

/// A copy of the delta file `dir` whose manifest `forge` changed, re-hashed as a forger
/// would (so that only the checks of what it says can catch it).
fn forged(fx: &Fixture, dir: &Path, name: &str, forge: impl Fn(&mut serde_json::Value)) -> PathBuf {
    let copy = fx.path(name);
    run_ok(
        std::process::Command::new("cp")
            .arg("-a")
            .arg(dir)
            .arg(&copy),
    );
    let mut idx = index(&copy);
    let mut m = blob_json(&copy, idx["manifests"][0]["digest"].as_str().unwrap());
    forge(&mut m);
    let bytes = serde_json::to_vec(&m).unwrap();
    idx["manifests"][0]["digest"] = put_blob(&copy, &bytes).into();
    idx["manifests"][0]["size"] = bytes.len().into();
    std::fs::write(copy.join("index.json"), serde_json::to_vec(&idx).unwrap()).unwrap();
    copy
}

#[test]
fn damaged_or_forged_deltas_are_refused_before_anyone_ships_them() {
    let fx = Fixture::new("full");
    let (old, new) = trees(&fx);
    let out = fx.path("plain");
    images(&old, &new, &out, "plain");
    let dir = fx.path("update-dir");
    make_delta(&out, &["--output", &format!("oci:{}", dir.display())]);
    let from = format!("{}:A", out.display());
    let check = |d: &Path| {
        encap_err([
            "verify-delta",
            "--delta",
            d.to_str().unwrap(),
            "--from",
            &from,
        ])
    };
    encap_ok([
        "verify-delta",
        "--delta",
        dir.to_str().unwrap(),
        "--from",
        &from,
    ]);
    let m = blob_json(
        &dir,
        index(&dir)["manifests"][0]["digest"].as_str().unwrap(),
    );
    let layer_entries: Vec<usize> = (0..m["layers"].as_array().unwrap().len())
        .filter(|&i| {
            m["layers"][i]["annotations"]["io.github.containers.delta.content"] == "image-layer"
        })
        .collect();
    assert!(layer_entries.len() >= 2, "{m}");

    // A flipped byte in a tar-diff.
    let flipped = fx.path("flipped");
    run_ok(
        std::process::Command::new("cp")
            .arg("-a")
            .arg(&dir)
            .arg(&flipped),
    );
    let td = m["layers"][layer_entries[0]]["digest"].as_str().unwrap();
    flip_middle_byte(&flipped.join("blobs/sha256").join(&td[7..]));
    let e = check(&flipped);
    assert!(e.contains(&td[..19]), "names the damaged blob: {e}");

    // source-config of another image (the new one's own config).
    let other = image(&out, "B").0["config"]["digest"]
        .as_str()
        .unwrap()
        .to_string();
    let d = forged(&fx, &dir, "wrong-source", |m| {
        m["annotations"]["io.github.containers.delta.source-config"] = other.clone().into();
    });
    let e = check(&d);
    assert!(
        e.contains("source-config") && e.contains(&other) && e.contains("another image"),
        "{e}"
    );

    // A delta.to that names no layer of the new image.
    let d = forged(&fx, &dir, "wrong-to", |m| {
        let i = layer_entries[0];
        m["layers"][i]["annotations"]["io.github.containers.delta.to"] = other.clone().into();
    });
    let e = check(&d);
    assert!(
        e.contains("delta.to") && e.contains("names no layer of the new image"),
        "{e}"
    );

    // Two tar-diffs swapped (every digest intact): each rebuilds another layer.
    let d = forged(&fx, &dir, "swapped", |m| {
        let (a, b) = (layer_entries[0], layer_entries[1]);
        let ta = m["layers"][a]["annotations"]["io.github.containers.delta.to"].clone();
        let tb = m["layers"][b]["annotations"]["io.github.containers.delta.to"].clone();
        m["layers"][a]["annotations"]["io.github.containers.delta.to"] = tb;
        m["layers"][b]["annotations"]["io.github.containers.delta.to"] = ta;
    });
    let e = check(&d);
    assert!(e.contains("not its diff_id"), "{e}");

    // A changed layer left out: the client could not make the new image.
    let d = forged(&fx, &dir, "missing", |m| {
        m["layers"].as_array_mut().unwrap().remove(layer_entries[0]);
    });
    let e = check(&d);
    assert!(
        e.contains("neither in the delta nor in the old image"),
        "{e}"
    );

    // Not a delta at all: an image layout.
    let e = encap_err([
        "verify-delta",
        "--delta",
        out.to_str().unwrap(),
        "--from",
        &from,
    ]);
    assert!(e.contains("exactly one manifest"), "{e}");
}

#[test]
fn a_build_with_delta_oci_delta_stores_it_and_a_push_carries_it() {
    let reg = Registry::start(None);
    let fx = Fixture::new("full");
    let (old, new) = trees(&fx);
    let out = fx.path("plain");
    build(&old, &out, "plain", "A", &[]);
    let prev = format!("{}:A", out.display());
    let b = build(
        &new,
        &out,
        "plain",
        "C",
        &["--previous", &prev, "--delta", "oci-delta"],
    );
    let subject = b["manifest_digest"].as_str().unwrap();
    let artifact = b["oci_delta"]["delta"]["manifest"]["digest"]
        .as_str()
        .unwrap();
    assert_eq!(b["oci_delta"]["subject"], subject);
    encap_ok([
        "verify-delta",
        "--oci-dir",
        out.to_str().unwrap(),
        "--to",
        "C",
        "--from",
        &format!("{}:A", out.display()),
    ]);
    // The same artifact as `ostree-encap delta` makes afterwards.
    let again = make_delta_to(&out, "C", &[]);
    assert_eq!(again["delta"]["manifest"]["digest"], artifact);

    let r = json(&encap_ok([
        "push",
        "--oci-dir",
        &format!("{}:C", out.display()),
        &reg.url("os/x:C"),
        "--dest-tls-verify",
        "false",
        "--json",
    ]));
    let tag = format!("sha256-{}", &subject[7..]);
    assert_eq!(r["referrers"], reg.url(&format!("os/x:{tag}")).as_str());
    let inspect = |r: &str| {
        let raw = run_ok(std::process::Command::new("skopeo").args([
            "inspect",
            "--raw",
            "--tls-verify=false",
            r,
        ]));
        json(&String::from_utf8_lossy(&raw.stdout))
    };
    let index = inspect(&reg.url(&format!("os/x:{tag}")));
    assert_eq!(index["manifests"][0]["digest"], artifact, "{index}");
    let m = inspect(&reg.url(&format!("os/x@{artifact}")));
    assert_eq!(
        m["artifactType"],
        "application/vnd.io.github.containers.oci-delta.v1"
    );
    assert_eq!(m["subject"]["digest"], subject);

    // Asked for with --static-delta too, or of a manifest file: refused before the build.
    let e = encap_err([
        "--rootfs",
        new.to_str().unwrap(),
        "--oci-dir",
        out.to_str().unwrap(),
        "--previous",
        &format!("{}:A", out.display()),
        "--delta",
        "oci-delta",
        "--static-delta",
    ]);
    assert!(e.contains("--static-delta") || e.contains("--delta"), "{e}");
}
