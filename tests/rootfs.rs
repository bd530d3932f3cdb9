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

/// Give every file and directory of `tree` the mtime `when`, as a package manager's run
/// would give it a new one.
fn touch_all(tree: &Path, when: &str) {
    run_ok(
        Command::new("find")
            .arg(tree)
            .args(["-exec", "touch", "-h", "-d", when, "{}", "+"]),
    );
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

/// `--from IMAGE --oci-dir OUT --tag t --json`, then `extra`.
fn from_job(image: &str, out: &Path, extra: &[&str]) -> Vec<String> {
    let mut a = vec!["--from".to_string(), image.to_string()];
    a.extend(rootfs_job(Path::new("-"), out, extra).into_iter().skip(2));
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
    touch_all(&fx.tree, "2030-01-01T00:00:00Z");
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
    touch_all(&fx.tree, "2031-01-01T00:00:00Z");
    let e2 = layers(&fx.path("d"), Some("1700000000"));
    assert_eq!(digests(&e1), digests(&e2));
}

/// Everything `umoci unpack` must give back of a tree, by path: type, mode, owner, size and
/// content hash, symlink target, xattrs (`getfattr -e hex`), and which paths are one inode.
/// Not mtimes: plain layers have none from the disk.
fn tree_facts(root: &Path) -> std::collections::BTreeMap<String, String> {
    use std::os::unix::fs::MetadataExt;
    let mut out = std::collections::BTreeMap::new();
    let mut inodes: std::collections::BTreeMap<u64, Vec<String>> = Default::default();
    let mut stack = vec![root.to_path_buf()];
    while let Some(dir) = stack.pop() {
        for e in std::fs::read_dir(&dir).unwrap() {
            let p = e.unwrap().path();
            let rel = p.strip_prefix(root).unwrap().display().to_string();
            let md = std::fs::symlink_metadata(&p).unwrap();
            let what = if md.is_dir() {
                stack.push(p.clone());
                "dir".to_string()
            } else if md.file_type().is_symlink() {
                format!("symlink {}", std::fs::read_link(&p).unwrap().display())
            } else if !md.is_file() {
                // Device nodes and FIFOs: never opened (a FIFO would block).
                format!("node {:o} rdev {}", md.mode() & 0o170_000, md.rdev())
            } else {
                inodes.entry(md.ino()).or_default().push(rel.clone());
                format!("file {}", sha(&std::fs::read(&p).unwrap()))
            };
            out.insert(
                rel,
                format!(
                    "{what} mode {:o} owner {}:{} size {}",
                    md.mode(),
                    md.uid(),
                    md.gid(),
                    if md.is_dir() { 0 } else { md.len() }
                ),
            );
        }
    }
    for paths in inodes.values().filter(|p| p.len() > 1) {
        let mut paths = paths.clone();
        paths.sort();
        for p in &paths {
            out.get_mut(p)
                .unwrap()
                .push_str(&format!(" links {}", paths.join(",")));
        }
    }
    let dump = run_ok(
        Command::new("getfattr")
            .args(["-R", "-d", "-m", "-", "-h", "-e", "hex", "--absolute-names"])
            .arg(root),
    );
    let text = String::from_utf8_lossy(&dump.stdout).into_owned();
    let mut current = None;
    for line in text.lines() {
        if let Some(f) = line.strip_prefix("# file: ") {
            let rel = Path::new(f)
                .strip_prefix(root)
                .unwrap()
                .display()
                .to_string();
            current = Some(rel);
        } else if let (Some(c), false) = (&current, line.is_empty()) {
            if let Some(v) = out.get_mut(c) {
                v.push_str(&format!(" xattr {line}"));
            }
        }
    }
    out
}

/// `got` holds what `want` holds, as [`tree_facts`] sees it.
fn assert_same_tree(want: &Path, got: &Path) {
    let (want, got) = (tree_facts(want), tree_facts(got));
    let differ: Vec<_> = want
        .iter()
        .filter(|(k, v)| got.get(*k) != Some(v))
        .map(|(k, v)| format!("{k}: want {v}, got {:?}", got.get(k)))
        .chain(
            got.keys()
                .filter(|k| !want.contains_key(*k))
                .map(|k| format!("{k}: extra")),
        )
        .collect();
    assert!(differ.is_empty(), "{}", differ.join("\n"));
}

/// A plain image of `tree` unpacked by umoci.
fn unpack(out: &Path, bundle: &Path) -> PathBuf {
    run_ok(
        Command::new("umoci")
            .args(["unpack", "--image"])
            .arg(format!("{}:t", out.display()))
            .arg(bundle),
    );
    bundle.join("rootfs")
}

#[test]
fn a_plain_image_unpacks_to_exactly_the_tree() {
    let fx = Fixture::new("full");
    // A container build's layout: /etc at the top (the plain image shows it there).
    std::fs::rename(fx.tree.join("usr/etc"), fx.tree.join("etc")).unwrap();
    // Identical files that are not hard links stay apart; hard links stay together.
    std::fs::write(fx.tree.join("usr/share/dup/sub/e"), "duplicated content").unwrap();
    // A bootable tree's empty /sysroot, where the booted system mounts its real root
    // (bootc's composefs backend needs it): kept, with its metadata.
    std::fs::create_dir(fx.tree.join("sysroot")).unwrap();
    run_ok(
        Command::new("chmod")
            .arg("0750")
            .arg(fx.tree.join("sysroot")),
    );
    let out = fx.path("oci");
    let s = json(&encap_ok(rootfs_job(
        &fx.tree,
        &out,
        &["--format", "plain"],
    )));
    assert!(s["layers"].as_array().unwrap().len() > 3, "{s}");
    let rootfs = unpack(&out, &fx.path("bundle"));
    assert_same_tree(&fx.tree, &rootfs);
    // verify says the same, and names what differs once the tree changes.
    let ok = json(&encap_ok(on_image(
        "verify",
        &out,
        "t",
        &["--rootfs", fx.tree.to_str().unwrap(), "--json"],
    )));
    assert_eq!(ok["format"], "plain");
    assert!(ok["paths"].as_u64().unwrap() > 2000, "{ok}");
    std::fs::write(fx.tree.join("usr/share/dup/sub/e"), "changed").unwrap();
    run_ok(
        Command::new("chmod")
            .arg("0600")
            .arg(fx.tree.join("usr/bin/setgid")),
    );
    let err = encap_err(on_image(
        "verify",
        &out,
        "t",
        &["--rootfs", fx.tree.to_str().unwrap()],
    ));
    assert!(
        err.contains("2 path(s)")
            && err.contains("usr/share/dup/sub/e")
            && err.contains("usr/bin/setgid"),
        "{err}"
    );
    // Bootable (one kernel), and not claiming to be an ostree commit.
    let inspect = json(&String::from_utf8_lossy(
        &run_ok(
            Command::new("skopeo")
                .arg("inspect")
                .arg(format!("oci:{}:t", out.display())),
        )
        .stdout,
    ));
    let labels = &inspect["Labels"];
    assert_eq!(labels["containers.bootc"], "1", "{labels}");
    assert_eq!(labels["ostree.linux"], "6.1.0-fixture", "{labels}");
    assert!(labels.get("ostree.commit").is_none(), "{labels}");
    assert!(labels.get("ostree.final-diffid").is_none(), "{labels}");
}

#[test]
fn plain_layers_never_change_with_times_on_disk() {
    let fx = Fixture::new("basic");
    let digests = |out: &Path| -> Vec<String> {
        json(&encap_ok(rootfs_job(&fx.tree, out, &["--format", "plain"])))["layers"]
            .as_array()
            .unwrap()
            .iter()
            .map(|l| l["digest"].as_str().unwrap().to_string())
            .collect()
    };
    let first = digests(&fx.path("a"));
    touch_all(&fx.tree, "2030-01-01T00:00:00Z");
    assert_eq!(digests(&fx.path("b")), first);
    // A rebuild into the same layout, or with --previous, reuses every layer by its key.
    let again = json(&encap_ok(rootfs_job(
        &fx.tree,
        &fx.path("b"),
        &["--format", "plain"],
    )));
    let prev = format!("{}:t", fx.path("b").display());
    let with_prev = json(&encap_ok(rootfs_job(
        &fx.tree,
        &fx.path("e"),
        &["--format", "plain", "--previous", &prev],
    )));
    for s in [&again, &with_prev] {
        assert!(
            s["layers"]
                .as_array()
                .unwrap()
                .iter()
                .all(|l| l["reused"] == true),
            "{s}"
        );
    }
    // The same commit as the ostree format's, so the same plan; other bytes, other keys.
    let ostree_format = json(&encap_ok(rootfs_job(&fx.tree, &fx.path("c"), &[])));
    let theirs: Vec<&str> = ostree_format["layers"]
        .as_array()
        .unwrap()
        .iter()
        .map(|l| l["digest"].as_str().unwrap())
        .collect();
    assert_eq!(theirs.len(), first.len());
    assert!(first.iter().all(|d| !theirs.contains(&d.as_str())));
}

#[test]
fn from_an_image_applies_its_layers_whiteouts_included() {
    use tar::EntryType as T;
    let fx = Fixture::new("basic");
    std::fs::rename(fx.tree.join("usr/etc"), fx.tree.join("etc")).unwrap();
    let base = fx.path("base");
    encap_ok(rootfs_job(&fx.tree, &base, &["--format", "plain"]));
    // What a Containerfile's RUN leaves: a deleted file, a directory replaced (opaque, with
    // a file of this layer before the marker), new files with owners, xattrs, links.
    let mut b = tar::Builder::new(Vec::new());
    tar_entry(
        &mut b,
        "usr/share/doc/.wh.readme",
        T::Regular,
        0o644,
        0,
        b"",
        None,
    );
    tar_entry(
        &mut b,
        "usr/lib/new.bin",
        T::Regular,
        0o644,
        0,
        b"new",
        None,
    );
    tar_entry(
        &mut b,
        "usr/lib/.wh..wh..opq",
        T::Regular,
        0o644,
        0,
        b"",
        None,
    );
    tar_entry(&mut b, "opt/app/", T::Directory, 0o750, 1000, b"", None);
    let pax = pax_body(&[("SCHILY.xattr.user.app", b"1")]);
    tar_entry(
        &mut b,
        "opt/app/PaxHeaders/run",
        T::XHeader,
        0o644,
        0,
        &pax,
        None,
    );
    tar_entry(
        &mut b,
        "opt/app/run",
        T::Regular,
        0o755,
        1000,
        b"#!/bin/sh\n",
        None,
    );
    tar_entry(
        &mut b,
        "opt/app/run2",
        T::Link,
        0o755,
        1000,
        b"",
        Some("opt/app/run"),
    );
    tar_entry(
        &mut b,
        "usr/bin/hi2",
        T::Symlink,
        0o777,
        0,
        b"",
        Some("hello"),
    );
    derive_image(&base, "t", "derived", &b.into_inner().unwrap());

    // The same changes made to the tree by hand: what the image must unpack to.
    std::fs::remove_file(fx.tree.join("usr/share/doc/readme")).unwrap();
    std::fs::remove_dir_all(fx.tree.join("usr/lib")).unwrap();
    std::fs::create_dir(fx.tree.join("usr/lib")).unwrap();
    std::fs::write(fx.tree.join("usr/lib/new.bin"), "new").unwrap();
    let app = fx.tree.join("opt/app");
    std::fs::create_dir_all(&app).unwrap();
    std::fs::write(app.join("run"), "#!/bin/sh\n").unwrap();
    run_ok(
        Command::new("setfattr")
            .args(["-n", "user.app", "-v", "1"])
            .arg(app.join("run")),
    );
    std::fs::hard_link(app.join("run"), app.join("run2")).unwrap();
    std::os::unix::fs::symlink("hello", fx.tree.join("usr/bin/hi2")).unwrap();
    run_ok(
        Command::new("chown")
            .args(["1000:1000"])
            .arg(&app)
            .arg(app.join("run")),
    );
    run_ok(Command::new("chmod").args(["0750"]).arg(&app));
    run_ok(Command::new("chmod").args(["0755"]).arg(app.join("run")));
    std::fs::set_permissions(
        fx.tree.join("opt"),
        std::os::unix::fs::PermissionsExt::from_mode(0o755),
    )
    .unwrap();

    let out = fx.path("flat");
    let from = format!("{}:derived", base.display());
    encap_ok(from_job(&from, &out, &["--format", "plain"]));
    let rootfs = unpack(&out, &fx.path("bundle"));
    assert_same_tree(&fx.tree, &rootfs);

    // In the ostree format, the flattened tree imports with ostree-ext.
    let ostree_out = fx.path("flat-ostree");
    let s = json(&encap_ok(from_job(&from, &ostree_out, &[])));
    let (_, imported) = import_image(fx.dir.path(), &ostree_out);
    assert_eq!(imported, s["commit"].as_str().unwrap());
}

#[test]
fn a_hostile_layer_cannot_write_outside_the_tree() {
    use tar::EntryType as T;
    let fx = Fixture::new("basic");
    let base = fx.path("base");
    encap_ok(rootfs_job(&fx.tree, &base, &["--format", "plain"]));
    let outside = fx.path("outside");
    std::fs::create_dir(&outside).unwrap();
    /// (path, type, link target) of a layer's entries.
    type Entries<'a> = Vec<(&'a str, T, Option<String>)>;
    let cases: [(&str, Entries); 3] = [
        ("climb", vec![("../../escaped", T::Regular, None)]),
        (
            "through-symlink",
            vec![
                ("evil", T::Symlink, Some(outside.display().to_string())),
                ("evil/escaped", T::Regular, None),
            ],
        ),
        (
            "link-out",
            vec![("hard", T::Link, Some("../../../etc/passwd".into()))],
        ),
    ];
    for (name, entries) in cases {
        let mut b = tar::Builder::new(Vec::new());
        for (path, kind, link) in &entries {
            tar_entry(&mut b, path, *kind, 0o644, 0, b"", link.as_deref());
        }
        derive_image(&base, "t", name, &b.into_inner().unwrap());
        let out = fx.path(&format!("out-{name}"));
        let err = encap_err(from_job(&format!("{}:{name}", base.display()), &out, &[]));
        let last = entries.last().unwrap().0;
        assert!(err.contains(last), "{name}: {err}");
        // Named with its layer: the base image has a directory layer and chunk layers.
        assert!(
            err.contains("layer ") && err.contains(name),
            "{name}: {err}"
        );
        assert_eq!(std::fs::read_dir(&outside).unwrap().count(), 0, "{name}");
    }
}

#[test]
fn from_an_ostree_image_with_a_derived_layer_leaves_its_repository_out() {
    use tar::EntryType as T;
    let fx = Fixture::new("full");
    // The fixture commit in the ostree format, and a layer added on top of it.
    let base = fx.path("base");
    encap_ok(job(&fx.repo, FIXTURE_REF, &base, &["--tag", "t"]));
    let mut b = tar::Builder::new(Vec::new());
    tar_entry(
        &mut b,
        "usr/bin/added",
        T::Regular,
        0o755,
        0,
        b"added\n",
        None,
    );
    tar_entry(
        &mut b,
        "usr/share/dup/.wh.c",
        T::Regular,
        0o644,
        0,
        b"",
        None,
    );
    derive_image(&base, "t", "derived", &b.into_inner().unwrap());
    let out = fx.path("oci");
    let s = json(&encap_ok(from_job(
        &format!("{}:derived", base.display()),
        &out,
        &[],
    )));
    let commit = s["commit"].as_str().unwrap().to_string();
    let (repo, imported) = import_image(fx.dir.path(), &out);
    assert_eq!(imported, commit);
    ostree(&repo, ["fsck"]);
    // The fixture's tree, plus and minus the layer; no sysroot/ostree/repo of the old commit.
    let mut want: Vec<String> = listing(&fx.repo, &fx.commit)
        .lines()
        .filter(|l| !l.ends_with("/usr/share/dup/c"))
        .map(str::to_string)
        .collect();
    let got = listing(&repo, &commit);
    let added: Vec<&str> = got
        .lines()
        .filter(|l| l.contains("/usr/bin/added"))
        .collect();
    assert_eq!(added.len(), 1, "{got}");
    want.push(added[0].to_string());
    want.sort();
    let mut got: Vec<String> = got.lines().map(str::to_string).collect();
    got.sort();
    // Directories above a changed entry have new dirtree checksums: compare files only.
    let files = |v: &[String]| -> Vec<String> {
        v.iter().filter(|l| !l.starts_with('d')).cloned().collect()
    };
    assert_eq!(files(&got), files(&want));
    assert!(
        !got.iter().any(|l| l.contains("/sysroot/ostree")),
        "{got:?}"
    );
}

#[test]
fn device_nodes_and_fifos_are_kept_in_plain_images_and_refused_in_the_ostree_format() {
    let fx = Fixture::new("basic");
    std::fs::rename(fx.tree.join("usr/etc"), fx.tree.join("etc")).unwrap();
    for d in ["dev", "run"] {
        std::fs::create_dir(fx.tree.join(d)).unwrap();
    }
    run_ok(
        Command::new("mknod")
            .args(["-m", "0666"])
            .arg(fx.tree.join("dev/null"))
            .args(["c", "1", "3"]),
    );
    run_ok(
        Command::new("mknod")
            .args(["-m", "0660"])
            .arg(fx.tree.join("dev/sda"))
            .args(["b", "8", "0"]),
    );
    run_ok(
        Command::new("chown")
            .arg("0:6")
            .arg(fx.tree.join("dev/sda")),
    );
    run_ok(
        Command::new("mkfifo")
            .args(["-m", "0600"])
            .arg(fx.tree.join("run/initctl")),
    );
    let out = fx.path("oci");
    encap_ok(rootfs_job(&fx.tree, &out, &["--format", "plain"]));
    let rootfs = unpack(&out, &fx.path("bundle"));
    assert_same_tree(&fx.tree, &rootfs);
    // The same tree twice: the same image (the nodes are part of the first layer's key).
    let again = json(&encap_ok(rootfs_job(
        &fx.tree,
        &fx.path("oci2"),
        &["--format", "plain"],
    )));
    let first = json(&encap_ok(rootfs_job(
        &fx.tree,
        &out,
        &["--format", "plain"],
    )));
    assert_eq!(again["manifest_digest"], first["manifest_digest"]);
    assert!(first["layers"]
        .as_array()
        .unwrap()
        .iter()
        .all(|l| l["reused"] == true));
    encap_ok(on_image(
        "verify",
        &out,
        "t",
        &["--rootfs", fx.tree.to_str().unwrap()],
    ));
    // Pruned at build, pruned at verify.
    let pruned = fx.path("oci-pruned");
    encap_ok(rootfs_job(
        &fx.tree,
        &pruned,
        &["--format", "plain", "--prune", "/run"],
    ));
    let tree = fx.tree.to_str().unwrap();
    encap_ok(on_image(
        "verify",
        &pruned,
        "t",
        &["--rootfs", tree, "--prune", "/run"],
    ));
    let err = encap_err(on_image("verify", &pruned, "t", &["--rootfs", tree]));
    assert!(err.contains("run: in the tree, not in the image"), "{err}");
    // A commit cannot hold them: refused by path, with the way out.
    let err = encap_err(rootfs_job(&fx.tree, &fx.path("oci-ostree"), &[]));
    assert!(
        err.contains("dev/null") && err.contains("--format plain"),
        "{err}"
    );
}

/// `--from containers-storage:…` (where `podman build` leaves its result) reads the image
/// through skopeo and gives the very image `--from` of its OCI copy gives. containers-storage
/// keeps layers uncompressed, so its blobs are not the layout's: the fetch must not ask skopeo
/// to keep digests. The store here is a vfs one in the test's directory.
#[test]
fn from_containers_storage_is_the_same_as_from_its_oci_copy() {
    let fx = Fixture::new("basic");
    let local = fx.path("local");
    encap_ok(rootfs_job(&fx.tree, &local, &["--format", "plain"]));
    let store = format!(
        "containers-storage:[vfs@{}+{}]localhost/os:1",
        fx.path("graph").display(),
        fx.path("run").display()
    );
    run_ok(Command::new("skopeo").args(["copy", &format!("oci:{}:t", local.display()), &store]));
    let digest = |from: &str, out: &str| -> String {
        let s = json(&encap_ok(from_job(
            from,
            &fx.path(out),
            &["--format", "plain"],
        )));
        s["manifest_digest"].as_str().unwrap().to_string()
    };
    let a = digest(&format!("{}:t", local.display()), "a");
    let b = digest(&store, "b");
    assert_eq!(a, b);
}
