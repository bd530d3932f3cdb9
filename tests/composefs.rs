//! composefs digests (`composefs-digest`) equal to what composefs-oci 0.9.4 computes when it
//! pulls the image as bootc does (tests/delta-consumers `composefs-id`): plain and
//! ostree-format images, hard links, xattrs (an SELinux label, a file capability), device
//! nodes and FIFOs, whiteouts, layers of another writer without explicit parent
//! directories, bootable trees; `--composefs` builds and `verify` of what they publish.

mod common;

use common::*;
use std::path::Path;

/// Our digests of the image `dir:tag`, and composefs-oci's: they must be equal.
fn same_digests(dir: &Path, tag: &str) -> serde_json::Value {
    let ours = json(&encap_ok([
        "composefs-digest",
        "--oci-dir",
        &format!("{}:{tag}", dir.display()),
        "--json",
    ]));
    let theirs = consumer_composefs_id(&format!("oci:{}:{tag}", dir.display()))
        .unwrap_or_else(|e| panic!("composefs-oci refused {tag}: {e}"));
    assert_eq!(
        ours["merged"], theirs["merged"],
        "{tag}: ours {ours} theirs {theirs}"
    );
    assert_eq!(
        ours["bootable"], theirs["bootable"],
        "{tag}: ours {ours} theirs {theirs}"
    );
    assert_eq!(ours["algorithm"], "fsverity-sha512-12");
    // The text form is the merged digest alone, for scripts.
    let text = encap_ok([
        "composefs-digest",
        "--oci-dir",
        &format!("{}:{tag}", dir.display()),
    ]);
    assert_eq!(text.trim(), ours["merged"].as_str().unwrap());
    ours
}

/// A copy of the fixture's tree at `name`.
fn copy_tree(fx: &Fixture, name: &str) -> std::path::PathBuf {
    let tree = fx.path(name);
    run_ok(
        std::process::Command::new("cp")
            .arg("-a")
            .arg(&fx.tree)
            .arg(&tree),
    );
    tree
}

/// A copy of the fixture's tree that can boot: `/boot`, `/sysroot`, a kernel.
fn bootable_tree(fx: &Fixture, name: &str) -> std::path::PathBuf {
    let tree = copy_tree(fx, name);
    for d in ["boot", "sysroot", "usr/lib/modules/6.1.0-x"] {
        std::fs::create_dir_all(tree.join(d)).unwrap();
    }
    std::fs::write(
        tree.join("usr/lib/modules/6.1.0-x/vmlinuz"),
        pseudo_random("k", 90_000),
    )
    .unwrap();
    tree
}

/// Build the image `tag` of `tree` into `out` with `extra` options; its JSON summary.
fn rootfs_image(tree: &Path, out: &Path, tag: &str, extra: &[&str]) -> serde_json::Value {
    let mut args = vec![
        "--rootfs".to_string(),
        tree.display().to_string(),
        "--oci-dir".into(),
        out.display().to_string(),
        "--tag".into(),
        tag.into(),
        "--json".into(),
    ];
    args.extend(extra.iter().map(|s| s.to_string()));
    json(&encap_ok(args))
}

#[test]
fn plain_and_ostree_images_of_the_full_fixture_get_composefs_oci_s_digest() {
    let fx = Fixture::new("full");
    let out = fx.path("oci");
    rootfs_image(&fx.tree, &out, "plain", &["--format", "plain"]);
    encap_ok(job(&fx.repo, &fx.commit, &out, &["--tag", "ostree", "-q"]));
    let plain = same_digests(&out, "plain");
    let ostree = same_digests(&out, "ostree");
    // The two formats hold different trees (the ostree one has its repository under
    // /sysroot); the same tree in another layout is the same digest.
    assert_ne!(plain["merged"], ostree["merged"]);
    rootfs_image(
        &fx.tree,
        &out,
        "plain-3",
        &["--format", "plain", "--max-layers", "3"],
    );
    assert_eq!(same_digests(&out, "plain-3")["merged"], plain["merged"]);
}

#[test]
fn whiteouts_layers_without_parents_and_bootable_trees_get_composefs_oci_s_digest() {
    let fx = Fixture::new("basic");
    let tree = bootable_tree(&fx, "boot-tree");
    std::fs::write(tree.join("boot/loader.conf"), "timeout 3\n").unwrap();
    std::fs::write(tree.join("usr/lib/gone"), "removed by the next layer\n").unwrap();
    std::fs::create_dir_all(tree.join("usr/share/opq")).unwrap();
    std::fs::write(
        tree.join("usr/share/opq/old"),
        "hidden by an opaque whiteout\n",
    )
    .unwrap();
    // A device node and a FIFO (which plain images keep), an SELinux label and a file
    // capability (composefs-rs keeps only security.capability).
    std::fs::create_dir_all(tree.join("dev")).unwrap();
    run_ok(
        std::process::Command::new("mknod")
            .args(["-m", "0666"])
            .arg(tree.join("dev/null"))
            .args(["c", "1", "3"]),
    );
    run_ok(
        std::process::Command::new("mkfifo")
            .args(["-m", "0600"])
            .arg(tree.join("dev/fifo")),
    );
    let bin = tree.join("usr/lib/modules/6.1.0-x/vmlinuz");
    run_ok(
        std::process::Command::new("setfattr")
            .args(["-n", "security.selinux", "-v", "system_u:object_r:bin_t:s0"])
            .arg(&bin),
    );
    run_ok(
        std::process::Command::new("setfattr")
            .args([
                "-n",
                "security.capability",
                "-v",
                "0x0100000200200000000000000000000000000000",
            ])
            .arg(&bin),
    );
    let out = fx.path("oci");
    rootfs_image(&tree, &out, "base", &["--format", "plain"]);
    let base = same_digests(&out, "base");
    // A plain image keeps the tree's /sysroot, empty (an ostree-format image keeps its
    // repository there), so composefs-rs's boot transform takes both.
    assert!(base["bootable"].is_string(), "{base}");
    assert_ne!(base["bootable"], base["merged"], "/boot emptied");
    rootfs_image(&tree, &out, "ostree", &["--prune", "/dev"]);
    let ostree = same_digests(&out, "ostree");
    assert!(
        ostree["bootable"].is_string(),
        "/boot and /sysroot: bootable {ostree}"
    );
    assert_ne!(ostree["bootable"], ostree["merged"], "/boot emptied");

    // A layer as another writer makes it: no entries for the parent directories, a
    // whiteout, an opaque directory, a new large file.
    let mut b = tar::Builder::new(Vec::new());
    tar_entry(
        &mut b,
        "usr/lib/.wh.gone",
        tar::EntryType::Regular,
        0o644,
        0,
        b"",
        None,
    );
    tar_entry(
        &mut b,
        "usr/share/opq/.wh..wh..opq",
        tar::EntryType::Regular,
        0o644,
        0,
        b"",
        None,
    );
    tar_entry(
        &mut b,
        "usr/share/opq/new",
        tar::EntryType::Regular,
        0o644,
        0,
        b"new\n",
        None,
    );
    tar_entry(
        &mut b,
        "usr/lib/added.bin",
        tar::EntryType::Regular,
        0o755,
        0,
        &pseudo_random("a", 5000),
        None,
    );
    derive_image(&out, "base", "derived", &b.into_inner().unwrap());
    let derived = same_digests(&out, "derived");
    assert_ne!(derived["merged"], base["merged"]);

    // `--from` of the two-layer image: whiteouts applied, one plain image of the result,
    // whose layers list every directory. composefs-oci's digest again; where the tree is the
    // same, so is the digest, unless only directory metadata the other writer left implied.
    encap_ok([
        "--from",
        &format!("{}:derived", out.display()),
        "--format",
        "plain",
        "--oci-dir",
        out.to_str().unwrap(),
        "--tag",
        "flattened",
        "-q",
    ]);
    let flat = same_digests(&out, "flattened");
    assert_eq!(
        flat["merged"], derived["merged"],
        "the same tree, the same digest"
    );
}

#[test]
fn a_build_with_composefs_publishes_the_digests_and_verify_checks_them() {
    let fx = Fixture::new("full");
    let out = fx.path("oci");
    let build = |tag: &str, extra: &[&str]| rootfs_image(&fx.tree, &out, tag, extra);
    for format in ["plain", "ostree"] {
        let without = build(&format!("{format}-n"), &["--format", format]);
        let with = build(&format!("{format}-c"), &["--format", format, "--composefs"]);
        assert!(without.get("composefs").is_none(), "{without}");
        // The layers and the config are the same bytes; only the manifest's annotations
        // (and the config descriptor's) differ.
        let (mn, _) = image(&out, &format!("{format}-n"));
        let (mc, _) = image(&out, &format!("{format}-c"));
        assert_eq!(mn["layers"], mc["layers"]);
        assert_eq!(mn["config"]["digest"], mc["config"]["digest"]);
        assert!(mn["annotations"]
            .get("composefs.merged.erofs.v1.fsverity-sha512-12")
            .is_none());
        let merged = &mc["annotations"]["composefs.merged.erofs.v1.fsverity-sha512-12"];
        assert_eq!(merged, &with["composefs"]["merged"]);
        assert_eq!(
            mc["config"]["annotations"]["composefs.config.fsverity-sha512-12"],
            with["composefs"]["config"]
        );
        // composefs-oci agrees, and computes the same for the image without annotations.
        let theirs = consumer_composefs_id(&format!("oci:{}:{format}-c", out.display())).unwrap();
        assert_eq!(merged, &theirs["merged"], "{format}");
        let bootable =
            mc["annotations"].get("composefs.merged.bootable.erofs.v1.fsverity-sha512-12");
        assert_eq!(
            bootable.unwrap_or(&serde_json::Value::Null),
            &theirs["bootable"],
            "{format}"
        );
        assert_eq!(
            same_digests(&out, &format!("{format}-n"))["merged"],
            *merged
        );
        // verify checks what is published.
        let v = json(&encap_ok([
            "verify",
            "--oci-dir",
            &format!("{}:{format}-c", out.display()),
            "--json",
        ]));
        assert_eq!(v["composefs_verified"], true, "{v}");
        let v = json(&encap_ok([
            "verify",
            "--oci-dir",
            &format!("{}:{format}-n", out.display()),
            "--json",
        ]));
        assert_eq!(v["composefs_verified"], false, "{v}");
    }
    // Layers reused from a previous build are read back, the others as they are written:
    // the same digests either way.
    let again = build(
        "plain-c2",
        &[
            "--format",
            "plain",
            "--composefs",
            "--previous",
            &format!("{}:plain-n", out.display()),
        ],
    );
    assert!(
        again["layers"]
            .as_array()
            .unwrap()
            .iter()
            .any(|l| l["reused"] == true),
        "{again}"
    );
    let (m2, _) = image(&out, "plain-c2");
    let (mc, _) = image(&out, "plain-c");
    assert_eq!(m2["annotations"], mc["annotations"]);

    // The referrer form: the image unchanged (the same manifest as without the flag), the
    // digests in an artifact under its referrers tag, which verify checks too.
    let r = build("plain-r", &["--format", "plain", "--composefs=referrer"]);
    assert_eq!(r["manifest_digest"], tagged(&out, "plain-n").as_str());
    let (pc, _) = image(&out, "plain-c");
    assert_eq!(
        r["composefs"]["merged"],
        pc["annotations"]["composefs.merged.erofs.v1.fsverity-sha512-12"]
    );
    assert_eq!(
        r["composefs"]["config"],
        pc["config"]["annotations"]["composefs.config.fsverity-sha512-12"]
    );
    let refs = referrers(&out, r["manifest_digest"].as_str().unwrap());
    let entry = refs["manifests"]
        .as_array()
        .unwrap()
        .iter()
        .find(|e| e["annotations"]["ostree-encap.composefs"].is_string())
        .unwrap_or_else(|| panic!("{refs}"))
        .clone();
    let art = blob_json(&out, entry["digest"].as_str().unwrap());
    assert_eq!(art["artifactType"], "application/vnd.composefs.metadata.v1");
    assert_eq!(art["subject"]["digest"], r["manifest_digest"]);
    let keys: Vec<&str> = art["layers"]
        .as_array()
        .unwrap()
        .iter()
        .flat_map(|l| {
            l["annotations"]
                .as_object()
                .unwrap()
                .keys()
                .map(String::as_str)
        })
        .collect();
    assert_eq!(
        keys,
        [
            "composefs.manifest.fsverity-sha512-12",
            "composefs.config.fsverity-sha512-12",
            "composefs.merged.erofs.v1.fsverity-sha512-12"
        ]
    );
    let v = json(&encap_ok([
        "verify",
        "--oci-dir",
        &format!("{}:plain-r", out.display()),
        "--json",
    ]));
    assert_eq!(v["composefs_verified"], true, "{v}");
    // Made again: one artifact, not two.
    build("plain-r", &["--format", "plain", "--composefs=referrer"]);
    let refs = referrers(&out, r["manifest_digest"].as_str().unwrap());
    assert_eq!(refs["manifests"].as_array().unwrap().len(), 1, "{refs}");

    // A forged digest is refused by verify, naming the key and both values.
    let (mut m, c) = image(&out, "plain-c");
    m["annotations"]["composefs.merged.erofs.v1.fsverity-sha512-12"] = "00".repeat(64).into();
    add_image(&out, "forged", m, c);
    let e = encap_err(["verify", "--oci-dir", &format!("{}:forged", out.display())]);
    assert!(
        e.contains("composefs.merged.erofs.v1.fsverity-sha512-12") && e.contains(&"00".repeat(64)),
        "{e}"
    );
}

#[test]
fn a_rebuild_takes_reused_layers_entries_from_its_cache_and_verify_reads_the_layers() {
    let fx = Fixture::new("full");
    let out = fx.path("oci");
    let build = |tree: &Path, tag: &str, extra: &[&str]| {
        let mut args = vec!["--format", "plain"];
        args.extend(extra);
        rootfs_image(tree, &out, tag, &args)
    };
    let cache = out.join("ostree-encap-composefs");
    let layers_of = |tag: &str| -> Vec<String> {
        image(&out, tag).0["layers"]
            .as_array()
            .unwrap()
            .iter()
            .map(|l| {
                l["digest"]
                    .as_str()
                    .unwrap()
                    .trim_start_matches("sha256:")
                    .to_string()
            })
            .collect()
    };
    // Without the flag, no cache. The first build with it reuses every layer (the same
    // keys), reads each back and keeps its entries.
    build(&fx.tree, "n", &[]);
    assert!(!cache.exists());
    let first = build(&fx.tree, "c", &["--composefs"]);
    let n = layers_of("c").len();
    assert_eq!(
        first["composefs"]["layers"],
        serde_json::json!({"written": 0, "stored": 0, "read_back": n})
    );
    for hex in layers_of("c") {
        assert!(cache.join(&hex).is_file(), "{hex}");
    }

    // A changed tree: its new layers read as they are written, the others from the cache,
    // none read back; composefs-oci agrees with the result.
    let changed = copy_tree(&fx, "changed-tree");
    std::fs::write(changed.join("usr/lib/changed"), pseudo_random("c", 70_000)).unwrap();
    let mixed = build(&changed, "mixed", &["--composefs"]);
    let l = &mixed["composefs"]["layers"];
    assert!(
        l["written"].as_u64() > Some(0) && l["stored"].as_u64() > Some(0) && l["read_back"] == 0,
        "{mixed}"
    );
    let theirs = consumer_composefs_id(&format!("oci:{}:mixed", out.display())).unwrap();
    assert_eq!(mixed["composefs"]["merged"], theirs["merged"]);
    assert_eq!(mixed["composefs"]["bootable"], theirs["bootable"]);
    // The layers it wrote are kept too.
    for hex in layers_of("mixed") {
        assert!(cache.join(&hex).is_file(), "{hex}");
    }

    // A damaged cache file is not taken: that layer is read back (and kept again).
    let first_layer = cache.join(&layers_of("c")[0]);
    flip_middle_byte(&first_layer);
    let again = build(&fx.tree, "c2", &["--composefs"]);
    assert_eq!(
        again["composefs"]["layers"],
        serde_json::json!({"written": 0, "stored": n - 1, "read_back": 1})
    );
    assert_eq!(again["composefs"]["merged"], first["composefs"]["merged"]);
    let rebuilt = build(&fx.tree, "c3", &["--composefs"]);
    assert_eq!(rebuilt["composefs"]["layers"]["stored"], n);

    // The cache is trusted as the layout's own layers are (a build reuses those by their
    // key); verify is not a build and reads the layers: a cache file that holds another
    // layer's entries gives a wrong published digest, which verify refuses.
    let hexes = layers_of("c");
    std::fs::copy(cache.join(&hexes[n - 2]), cache.join(&hexes[n - 1])).unwrap();
    let forged = build(&fx.tree, "forged", &["--composefs"]);
    assert_ne!(forged["composefs"]["merged"], first["composefs"]["merged"]);
    let err = encap_err(["verify", "--oci-dir", &format!("{}:forged", out.display())]);
    assert!(
        err.contains("composefs.merged.erofs.v1.fsverity-sha512-12") && err.contains("layers give"),
        "{err}"
    );
    // composefs-digest reads the layers too.
    let digest = encap_ok([
        "composefs-digest",
        "--oci-dir",
        &format!("{}:forged", out.display()),
    ]);
    assert_eq!(
        digest.trim(),
        first["composefs"]["merged"].as_str().unwrap()
    );
}

/// A bootable tree (`/boot`, `/sysroot`, a kernel) with an SELinux policy in the form
/// composefs-boot reads (`/etc/selinux/config` naming the policy, its `file_contexts` and
/// `file_contexts.local`), the last labelling the kernel its own way.
fn tree_with_policy(fx: &Fixture, name: &str) -> std::path::PathBuf {
    let tree = bootable_tree(fx, name);
    let files = tree.join("usr/etc/selinux/targeted/contexts/files");
    std::fs::create_dir_all(&files).unwrap();
    std::fs::write(
        tree.join("usr/etc/selinux/config"),
        "SELINUX=enforcing\nSELINUXTYPE=targeted\n",
    )
    .unwrap();
    std::fs::write(
        files.join("file_contexts"),
        "/.*\tsystem_u:object_r:default_t:s0\n\
         /usr/bin(/.*)?\tsystem_u:object_r:bin_t:s0\n\
         /usr/lib/modules(/.*)?\tsystem_u:object_r:modules_object_t:s0\n",
    )
    .unwrap();
    std::fs::write(
        files.join("file_contexts.local"),
        "/usr/lib/modules/6\\.1\\.0-x/vmlinuz\tsystem_u:object_r:local_kernel_t:s0\n",
    )
    .unwrap();
    tree
}

#[test]
fn the_merged_trees_selinux_policy_labels_the_bootable_digest() {
    let fx = Fixture::new("basic");
    let out = fx.path("oci");
    let tree = tree_with_policy(&fx, "policy-tree");
    rootfs_image(&tree, &out, "plain", &["--format", "plain"]);
    let plain = same_digests(&out, "plain");
    assert!(plain["bootable"].is_string(), "{plain}");
    rootfs_image(&tree, &out, "ostree", &[]);
    let ostree = same_digests(&out, "ostree");
    assert!(ostree["bootable"].is_string(), "{ostree}");

    // The policy decides the labels: without file_contexts.local the kernel is labelled
    // as its directory is, and the bootable digest differs.
    let other = tree_with_policy(&fx, "policy-tree-2");
    std::fs::remove_file(other.join("usr/etc/selinux/targeted/contexts/files/file_contexts.local"))
        .unwrap();
    rootfs_image(&other, &out, "no-local", &["--format", "plain"]);
    let no_local = same_digests(&out, "no-local");
    assert_ne!(no_local["bootable"], plain["bootable"]);

    // Later layers change the policy as they change any file: a whiteout removes
    // file_contexts.local, an opaque directory hides it, a new file_contexts replaces the
    // old. Each time the policy is the merged tree's, as composefs-oci reads it.
    let files = "etc/selinux/targeted/contexts/files";
    let derive = |tag: &str, entries: &[(&str, &[u8])]| {
        let mut b = tar::Builder::new(Vec::new());
        for (path, data) in entries {
            tar_entry(&mut b, path, tar::EntryType::Regular, 0o644, 0, data, None);
        }
        derive_image(&out, "plain", tag, &b.into_inner().unwrap());
        same_digests(&out, tag)
    };
    let whiteout = derive(
        "whiteout",
        &[(&format!("{files}/.wh.file_contexts.local"), b"")],
    );
    assert_eq!(whiteout["bootable"], no_local["bootable"], "{whiteout}");
    let opaque = derive(
        "opaque",
        &[
            (&format!("{files}/.wh..wh..opq"), b""),
            (
                &format!("{files}/file_contexts"),
                b"/.*\tsystem_u:object_r:default_t:s0\n",
            ),
        ],
    );
    assert_ne!(opaque["bootable"], plain["bootable"]);
    derive(
        "replaced",
        &[(
            &format!("{files}/file_contexts"),
            b"/.*\tsystem_u:object_r:other_t:s0\n",
        )],
    );
}

#[test]
fn composefs_builds_of_commits_from_images_and_derived_images_publish_composefs_oci_s_digest() {
    let fx = Fixture::new("basic");
    let out = fx.path("oci");
    let dir = out.display().to_string();
    // What a build publishes (inline) must be what composefs-oci computes for its image.
    let check = |summary: serde_json::Value, tag: &str| {
        let theirs = consumer_composefs_id(&format!("oci:{dir}:{tag}")).unwrap();
        assert_eq!(summary["composefs"]["merged"], theirs["merged"], "{tag}");
        assert_eq!(
            summary["composefs"]["bootable"], theirs["bootable"],
            "{tag}"
        );
        let (m, _) = image(&out, tag);
        assert_eq!(
            m["annotations"]["composefs.merged.erofs.v1.fsverity-sha512-12"], theirs["merged"],
            "{tag}"
        );
    };
    // A commit from the repository (the main job).
    let commit = json(&encap_ok(job(
        &fx.repo,
        &fx.commit,
        &out,
        &["--tag", "commit", "--composefs", "--json"],
    )));
    check(commit, "commit");
    // --from an image (ours, ostree format) into a plain image.
    let from = json(&encap_ok([
        "--from",
        &format!("oci:{dir}:commit"),
        "--format",
        "plain",
        "--oci-dir",
        &dir,
        "--tag",
        "from",
        "--composefs",
        "--json",
    ]));
    check(from, "from");
    // A derived tree on that base (--base): the base's layers first, unchanged.
    let derived = copy_tree(&fx, "derived-tree");
    std::fs::write(derived.join("usr/lib/added"), pseudo_random("d", 9000)).unwrap();
    std::fs::remove_file(derived.join("usr/share/doc/readme-copy")).unwrap();
    let on_base = json(&encap_ok([
        "--rootfs",
        derived.to_str().unwrap(),
        "--format",
        "plain",
        "--base",
        &format!("oci:{dir}:from"),
        "--oci-dir",
        &dir,
        "--tag",
        "derived",
        "--composefs",
        "--json",
    ]));
    check(on_base, "derived");
}
