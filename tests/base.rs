//! Derived images that keep their base (issue 31, `--base IMAGE`): the base image's layers
//! come first in the new image, unchanged (same blobs, same order, same diff_ids), the rest
//! holds only what the derived tree adds, changes or removes, and the image's filesystem is
//! the derived tree's: unpacking it gives the same commit checksum as the derived tree
//! itself (content, owners, modes, xattrs, symlinks, directories). Two images derived from
//! one base share every base layer.

mod common;

use common::*;
use std::path::Path;
use std::process::Command;

const CREATED: &str = "2025-04-01T00:00:00Z";

/// `--rootfs TREE --format plain` (or `--from IMAGE` with `from`), plus `extra`, into the
/// layout `out` under `tag`; the `--json` summary.
fn plain(source: (&str, &str), out: &Path, tag: &str, extra: &[&str]) -> serde_json::Value {
    let mut args = vec![
        source.0,
        source.1,
        "--format",
        "plain",
        "--oci-dir",
        out.to_str().unwrap(),
        "--tag",
        tag,
        "--created",
        CREATED,
        "--json",
    ];
    args.extend_from_slice(extra);
    json(&encap_ok(args))
}

fn sh(script: &str, dir: &Path) {
    run_ok(Command::new("sh").args(["-ec", script]).current_dir(dir));
}

/// The manifest's layer digests and the config's diff_ids of `tag` in `out`.
fn layers(out: &Path, tag: &str) -> (Vec<String>, Vec<String>) {
    let (manifest, config) = image(out, tag);
    let digests = manifest["layers"]
        .as_array()
        .unwrap()
        .iter()
        .map(|l| l["digest"].as_str().unwrap().to_string())
        .collect();
    let diff_ids = config["rootfs"]["diff_ids"]
        .as_array()
        .unwrap()
        .iter()
        .map(|d| d.as_str().unwrap().to_string())
        .collect();
    (digests, diff_ids)
}

#[test]
fn a_derived_image_keeps_its_base_layers_and_holds_only_the_difference() {
    let fx = Fixture::new("basic");
    let out = fx.path("oci");
    let tree = fx.tree.to_str().unwrap();
    plain(("--rootfs", tree), &out, "base", &[]);
    let (base_layers, base_diff_ids) = layers(&out, "base");

    // Derived trees: the base's, with files changed, added, removed, re-moded, a symlink
    // retargeted, a file become a directory and a directory become a file.
    let derived = fx.path("derived");
    run_ok(Command::new("cp").arg("-a").arg(&fx.tree).arg(&derived));
    sh(
        "echo changed > usr/share/derived-changed 2>/dev/null || true
         mkdir -p usr/share/added && echo new > usr/share/added/file
         f=$(find usr -type f -size +0 | sort | head -1); echo rewritten > \"$f\"
         g=$(find usr -type f | sort | sed -n 2p); rm \"$g\"
         h=$(find usr -type f | sort | sed -n 3p); chmod 0600 \"$h\"
         ln -s added/file usr/share/a-link
         mkdir -p usr/lib/was-dir && echo x > usr/lib/was-dir/x
         echo file > usr/lib/was-file",
        &derived,
    );
    let derived_b = fx.path("derived-b");
    run_ok(Command::new("cp").arg("-a").arg(&fx.tree).arg(&derived_b));
    sh(
        "mkdir -p usr/lib/was-dir && echo x > usr/lib/was-dir/x
         echo file > usr/lib/was-file",
        &derived_b,
    );
    // The base itself must have what the derived tree changes the type of.
    let base2 = fx.path("base2");
    run_ok(Command::new("cp").arg("-a").arg(&derived_b).arg(&base2));
    plain(("--rootfs", base2.to_str().unwrap()), &out, "base2", &[]);
    let (base2_layers, base2_diff_ids) = layers(&out, "base2");
    sh(
        "rm -r usr/lib/was-dir && echo now-a-file > usr/lib/was-dir
         rm usr/lib/was-file && mkdir usr/lib/was-file && echo in > usr/lib/was-file/in",
        &derived,
    );

    for (tree, base_tag, want_layers, want_diff_ids) in [
        (&derived, "base2", &base2_layers, &base2_diff_ids),
        (&derived_b, "base", &base_layers, &base_diff_ids),
    ] {
        let tag = format!("on-{base_tag}");
        // The derived image as any tool would hand it to us, then rechunked on its base.
        let whole = plain(("--rootfs", tree.to_str().unwrap()), &out, "whole", &[]);
        let on_base = plain(
            ("--from", &format!("oci:{}:whole", out.display())),
            &out,
            &tag,
            &["--base", &format!("oci:{}:{base_tag}", out.display())],
        );
        let (got_layers, got_diff_ids) = layers(&out, &tag);
        let n = want_layers.len();
        assert!(got_layers.len() > n, "{got_layers:?}");
        assert_eq!(
            &got_layers[..n],
            &want_layers[..],
            "the base's layers first, unchanged"
        );
        assert_eq!(&got_diff_ids[..n], &want_diff_ids[..]);
        // Our layers hold only the difference: fewer bytes than the whole tree's layers.
        let ours: u64 = on_base["layers"]
            .as_array()
            .unwrap()
            .iter()
            .map(|l| l["uncompressed_size"].as_u64().unwrap())
            .sum();
        let all: u64 = whole["layers"]
            .as_array()
            .unwrap()
            .iter()
            .map(|l| l["uncompressed_size"].as_u64().unwrap())
            .sum();
        assert!(
            ours < all,
            "{ours} bytes of difference against {all} of the tree"
        );
        // Unpacked (whiteouts applied), the image is the derived tree: the same commit.
        let again = plain(
            ("--from", &format!("oci:{}:{tag}", out.display())),
            &fx.path(&format!("again-{tag}")),
            "t",
            &[],
        );
        assert_eq!(
            again["commit"], whole["commit"],
            "{tag}: the tree it unpacks to"
        );
        // And umoci, a runtime's unpacker, takes it.
        let bundle = fx.path(&format!("bundle-{tag}"));
        run_ok(
            Command::new("umoci")
                .args(["unpack", "--image"])
                .arg(format!("{}:{tag}", out.display()))
                .arg(&bundle),
        );
        assert!(bundle.join("rootfs/usr/lib/was-file").exists());
    }

    // Two images derived from one base share every base layer (by digest, in order).
    let other = fx.path("other");
    run_ok(Command::new("cp").arg("-a").arg(&fx.tree).arg(&other));
    sh("echo other > usr/share/other-file", &other);
    let o = plain(
        ("--rootfs", other.to_str().unwrap()),
        &out,
        "other",
        &[
            "--base",
            &format!("oci:{}:base", out.display()),
            "--provenance",
        ],
    );
    // Its provenance names the base image, by the digest whose layers it kept.
    let base_digest = tagged(&out, "base");
    let subject = o["manifest_digest"].as_str().unwrap();
    let artifact = blob_json(
        &out,
        referrers(&out, subject)["manifests"][0]["digest"]
            .as_str()
            .unwrap(),
    );
    let statement = blob_json(&out, artifact["layers"][0]["digest"].as_str().unwrap());
    let deps = &statement["predicate"]["buildDefinition"]["resolvedDependencies"];
    assert_eq!(
        deps[1]["digest"]["sha256"],
        &base_digest[7..],
        "{statement}"
    );
    let (other_layers, _) = layers(&out, "other");
    let (first, _) = layers(&out, "on-base");
    let n = base_layers.len();
    assert_eq!(other_layers[..n], first[..n]);
    assert_ne!(other_layers[n..], first[n..]);
}

#[test]
fn base_is_refused_where_it_cannot_work() {
    let fx = Fixture::new("basic");
    let out = fx.path("oci");
    plain(("--rootfs", fx.tree.to_str().unwrap()), &out, "base", &[]);
    let base = format!("oci:{}:base", out.display());
    let err = encap_err([
        "--rootfs",
        fx.tree.to_str().unwrap(),
        "--oci-dir",
        out.to_str().unwrap(),
        "--base",
        &base,
    ]);
    assert!(
        err.contains("--base") && err.contains("--format plain"),
        "{err}"
    );
    let err = encap_err(job(&fx.repo, FIXTURE_REF, &out, &["--base", &base]));
    assert!(err.contains("--base") && err.contains("--from"), "{err}");
    let err = encap_err([
        "--rootfs",
        fx.tree.to_str().unwrap(),
        "--format",
        "plain",
        "--oci-dir",
        out.to_str().unwrap(),
        "--base",
        &format!("oci:{}:nothing", out.display()),
    ]);
    assert!(err.contains("nothing"), "{err}");
}

/// An ostree-format base (a bootc base image) gets the difference as derived layers, plain as
/// a container build's are, behind its own layers and config labels; the real importer
/// (ostree-ext 0.15.3, as bootc and rpm-ostree import) takes the base commit from the base's
/// layers and merges ours over it, with our changes, additions and removals.
#[test]
fn an_ostree_base_gets_derived_layers_the_real_importer_merges() {
    let fx = Fixture::new("basic");
    let out = fx.path("oci");
    encap_ok(job(
        &fx.repo,
        FIXTURE_REF,
        &out,
        &["--tag", "base", "--created", CREATED],
    ));
    let (base_layers, base_diff_ids) = layers(&out, "base");
    let (_, base_config) = image(&out, "base");
    let base_labels = &base_config["config"]["Labels"];

    // The derived tree as a container build has it: the base image unpacked (its
    // repository under sysroot/ and the files at their paths, /etc at the top), then changed.
    let bundle = fx.path("bundle");
    run_ok(
        Command::new("umoci")
            .args(["unpack", "--image"])
            .arg(format!("{}:base", out.display()))
            .arg(&bundle),
    );
    let derived = bundle.join("rootfs");
    sh(
        "mkdir -p usr/share/derived && echo added > usr/share/derived/added
         f=$(find usr/bin usr/lib -type f -size +0 | sort | head -1); rm \"$f\"; echo rewritten > \"$f\"; echo \"$f\" > ../../changed
         g=$(find usr/bin usr/lib -type f | sort | sed -n 2p); rm \"$g\"; echo \"$g\" > ../../removed
         mkdir -p etc && echo derived > etc/derived.conf",
        &derived,
    );
    let read = |name: &str| {
        std::fs::read_to_string(fx.dir.path().join(name))
            .unwrap()
            .trim()
            .to_string()
    };
    let (changed, removed) = (read("changed"), read("removed"));
    let s = json(&encap_ok([
        "--rootfs",
        derived.to_str().unwrap(),
        "--prune",
        "/sysroot",
        "--oci-dir",
        out.to_str().unwrap(),
        "--tag",
        "derived",
        "--base",
        &format!("oci:{}:base", out.display()),
        "--created",
        CREATED,
        "--json",
    ]));
    let (got_layers, got_diff_ids) = layers(&out, "derived");
    let n = base_layers.len();
    assert!(got_layers.len() > n);
    assert_eq!(got_layers[..n], base_layers[..]);
    assert_eq!(got_diff_ids[..n], base_diff_ids[..]);
    // The base's labels: its commit, and where its ostree layers end.
    let (_, config) = image(&out, "derived");
    let labels = &config["config"]["Labels"];
    assert_eq!(labels["ostree.commit"], fx.commit.as_str());
    assert_eq!(
        labels["ostree.final-diffid"],
        base_labels["ostree.final-diffid"]
    );
    assert_eq!(labels["ostree.final-diffid"], base_diff_ids[n - 1].as_str());
    assert!(s["layers"].as_array().unwrap().len() + n == got_layers.len());

    let (repo, base_commit, merge) = import_layered(
        fx.dir.path(),
        &format!("ostree-unverified-image:oci:{}:derived", out.display()),
    )
    .unwrap_or_else(|e| panic!("the importer refused it: {e}"));
    assert_eq!(base_commit, fx.commit);
    assert_ne!(merge, fx.commit);
    assert_eq!(
        ostree(&repo, ["cat", &merge, "/usr/share/derived/added"]),
        "added"
    );
    assert_eq!(
        ostree(&repo, ["cat", &merge, &format!("/{changed}")]),
        "rewritten"
    );
    assert_eq!(
        ostree(&repo, ["cat", &merge, "/usr/etc/derived.conf"]),
        "derived"
    );
    let listed = ostree(&repo, ["ls", "-R", &merge, "/usr"]);
    assert!(
        !listed.contains(&format!("/{removed}\n")) && !listed.ends_with(&format!("/{removed}")),
        "{removed} is gone"
    );
    // Still there in the base.
    assert!(ostree(&repo, ["ls", "-R", &base_commit, "/usr"]).contains(&format!("/{removed}")));
}
