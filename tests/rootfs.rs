//! `--rootfs`: a plain tree made into a commit on the fly. The commit must be the one
//! `ostree commit --tree=dir=` makes of the same tree (same dirtrees, dirmetas, content
//! checksums), the image must import with the ostree-ext 0.15.3 importer, what the format
//! cannot hold is refused by path, and times on disk never reach a content layer.

mod common;

use common::*;
use std::path::{Path, PathBuf};
use std::process::Command;

/// `ostree ls -R -C -X` of `rev` in `repo`: every path with its mode, owner, xattrs and
/// checksums (for a directory, its dirtree and dirmeta).
fn listing(repo: &Path, rev: &str) -> String {
    ostree(repo, ["ls", "-R", "-C", "-X", rev])
}

fn rootfs_job(tree: &Path, out: &Path, extra: &[&str]) -> Vec<String> {
    let mut a = vec![
        "--rootfs".to_string(),
        tree.display().to_string(),
        "--oci-dir".into(),
        out.display().to_string(),
        "--tag".into(),
        "t".into(),
        "--json".into(),
    ];
    a.extend(extra.iter().map(|s| s.to_string()));
    a
}

fn import_image(dir: &Path, out: &Path) -> (PathBuf, String) {
    import(
        dir,
        &format!("ostree-unverified-image:oci:{}:t", out.display()),
    )
    .unwrap()
}

#[test]
fn a_rootfs_becomes_the_commit_ostree_commit_makes_and_imports_with_ostree_ext() {
    // Modes, owners, hard links, symlinks, long and odd names, xattrs (user and security),
    // empty directories, a kernel: everything the format must carry.
    let fx = Fixture::new("full");
    let out = fx.path("oci");
    let s = json(&encap_ok(rootfs_job(&fx.tree, &out, &[])));
    let commit = s["commit"].as_str().unwrap().to_string();
    encap_ok(on_image("verify", &out, "t", &[]));
    let (repo, imported) = import_image(fx.dir.path(), &out);
    assert_eq!(imported, commit);
    ostree(&repo, ["fsck"]);
    // The same tree, object for object, as the ostree CLI committed it.
    assert_eq!(listing(&repo, &commit), listing(&fx.repo, &fx.commit));
    // One kernel: bootable, as `ostree commit --bootable` marks it.
    assert_eq!(
        ostree(
            &repo,
            ["show", "--print-metadata-key=ostree.linux", commit.as_str()]
        ),
        "'6.1.0-fixture'"
    );
}

#[test]
fn etc_at_the_top_is_committed_as_usr_etc_and_both_are_refused() {
    let fx = Fixture::new("basic");
    // What a container build leaves: /etc, not /usr/etc.
    std::fs::rename(fx.tree.join("usr/etc"), fx.tree.join("etc")).unwrap();
    let out = fx.path("oci");
    let s = json(&encap_ok(rootfs_job(&fx.tree, &out, &[])));
    let commit = s["commit"].as_str().unwrap().to_string();
    let (repo, imported) = import_image(fx.dir.path(), &out);
    assert_eq!(imported, commit);
    // The fixture commit was made of the ostree layout: the same root.
    let root = |r: &Path, c: &str| ostree(r, ["ls", "-d", "-C", c, "/"]);
    assert_eq!(root(&repo, &commit), root(&fx.repo, &fx.commit));
    encap_ok(on_image("verify", &out, "t", &[]));

    std::fs::create_dir_all(fx.tree.join("usr/etc")).unwrap();
    let err = encap_err(rootfs_job(&fx.tree, &fx.path("oci-both"), &[]));
    assert!(err.contains("both /etc and /usr/etc"), "{err}");
    assert!(!fx.path("oci-both").join("index.json").exists());
}

#[test]
fn what_the_format_cannot_hold_is_refused_by_path_and_prune_leaves_it_out() {
    let fx = Fixture::new("basic");
    let out = fx.path("oci");
    run_ok(Command::new("mkfifo").arg(fx.tree.join("usr/lib/a-fifo")));
    let err = encap_err(rootfs_job(&fx.tree, &out, &[]));
    assert!(
        err.contains("usr/lib/a-fifo") && err.contains("FIFO"),
        "{err}"
    );
    assert!(!out.join("index.json").exists(), "nothing half-written");
    std::fs::remove_file(fx.tree.join("usr/lib/a-fifo")).unwrap();

    // Files under /sysroot would collide with the image's repository there.
    std::fs::create_dir_all(fx.tree.join("sysroot/ostree")).unwrap();
    std::fs::write(fx.tree.join("sysroot/ostree/stray"), "x").unwrap();
    let err = encap_err(rootfs_job(&fx.tree, &out, &[]));
    assert!(
        err.contains("sysroot/ostree/stray") && err.contains("--prune /sysroot"),
        "{err}"
    );
    // Pruned, the rest is the fixture's tree exactly.
    let s = json(&encap_ok(rootfs_job(
        &fx.tree,
        &out,
        &["--prune", "/sysroot/"],
    )));
    let commit = s["commit"].as_str().unwrap().to_string();
    let (repo, _) = import_image(fx.dir.path(), &out);
    assert_eq!(listing(&repo, &commit), listing(&fx.repo, &fx.commit));

    // --prune belongs to --rootfs.
    let err = encap_err(job(&fx.repo, FIXTURE_REF, &out, &["--prune", "/x"]));
    assert!(err.contains("--rootfs"), "{err}");
}

#[test]
fn times_on_disk_never_change_a_content_layer() {
    let fx = Fixture::new("basic");
    // A component, so that there are chunk layers beside the commit layer.
    run_ok(
        Command::new("setfattr")
            .args(["-n", "user.component", "-v", "hello"])
            .arg(fx.tree.join("usr/bin/hello")),
    );
    let layers = |out: &Path, epoch: Option<&str>| -> Vec<serde_json::Value> {
        let mut c = encap_command();
        c.args(rootfs_job(&fx.tree, out, &[]));
        if let Some(e) = epoch {
            c.env("SOURCE_DATE_EPOCH", e);
        }
        let o = run_ok(&mut c);
        let s = json(&String::from_utf8_lossy(&o.stdout));
        s["layers"].as_array().unwrap().clone()
    };
    let first = layers(&fx.path("a"), None);
    assert!(
        first
            .iter()
            .any(|l| l["components"] == serde_json::json!(["hello"])),
        "the xattr names a component: {first:?}"
    );
    // Every file and directory gets a new mtime, as a package manager's run would give it.
    run_ok(Command::new("find").arg(&fx.tree).args([
        "-exec",
        "touch",
        "-h",
        "-d",
        "2030-01-01T00:00:00Z",
        "{}",
        "+",
    ]));
    let touched = layers(&fx.path("b"), None);
    let digests = |l: &[serde_json::Value]| -> Vec<String> {
        l.iter()
            .map(|x| x["digest"].as_str().unwrap().to_string())
            .collect()
    };
    let (d1, d2) = (digests(&first), digests(&touched));
    assert_eq!(d1.len(), d2.len());
    // The commit layer carries the commit, whose timestamp is the newest mtime; no other does.
    assert_ne!(d1[0], d2[0]);
    assert_eq!(d1[1..], d2[1..]);
    // With the time given, the whole image is the same whatever the disk says.
    let e1 = layers(&fx.path("c"), Some("1700000000"));
    run_ok(Command::new("find").arg(&fx.tree).args([
        "-exec",
        "touch",
        "-h",
        "-d",
        "2031-01-01T00:00:00Z",
        "{}",
        "+",
    ]));
    let e2 = layers(&fx.path("d"), Some("1700000000"));
    assert_eq!(digests(&e1), digests(&e2));
}
