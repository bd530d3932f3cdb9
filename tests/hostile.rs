//! Untrusted images and outputs that are not ours (issue 29): what `verify` and `--from` make
//! of a stranger's image must be out of other users' reach, an output path never replaces
//! what is not a regular file, whiteouts cannot name `.` or `..`, a plain image's blobs are
//! checked to their last byte, and small inputs cannot take unbounded memory. Each test
//! builds its hostile input itself; those that need root to make device nodes skip without.

mod common;

use common::*;
use std::os::unix::fs::PermissionsExt;
use std::path::{Path, PathBuf};
use std::process::Command;

fn is_root() -> bool {
    rustix::process::geteuid().is_root()
}

/// A plain image of the basic fixture's tree, tag `t`, in `fx.path(name)`.
fn plain_base(fx: &Fixture, name: &str) -> PathBuf {
    let base = fx.path(name);
    encap_ok([
        "--rootfs",
        fx.tree.to_str().unwrap(),
        "--oci-dir",
        base.to_str().unwrap(),
        "--tag",
        "t",
        "--format",
        "plain",
    ]);
    base
}

/// `--from IMAGE --oci-dir OUT --format plain`, then `extra`.
fn from_job(image: &str, out: &Path, extra: &[&str]) -> Vec<String> {
    let mut a: Vec<String> = ["--from", image, "--oci-dir", out.to_str().unwrap()]
        .map(String::from)
        .to_vec();
    a.extend(["--format", "plain"].map(String::from));
    a.extend(extra.iter().map(|s| s.to_string()));
    a
}

/// The work directories (`.ostree-encap-*`) in `dir`.
fn work_dirs(dir: &Path) -> Vec<PathBuf> {
    std::fs::read_dir(dir)
        .unwrap()
        .flatten()
        .filter(|e| {
            e.file_name()
                .to_string_lossy()
                .starts_with(".ostree-encap-")
        })
        .map(|e| e.path())
        .collect()
}

/// Whether user `nobody` (65534) can see `path` at all (`stat` it).
fn nobody_can_stat(path: &Path) -> bool {
    Command::new("setpriv")
        .args(["--reuid=65534", "--regid=65534", "--clear-groups", "--"])
        .arg("stat")
        .arg(path)
        .stdout(std::process::Stdio::null())
        .stderr(std::process::Stdio::null())
        .status()
        .expect("running setpriv")
        .success()
}

// Defect 1: the tree of an untrusted plain image, its device node and its setuid-root shell
// included, was made in a 0755 work directory under $TMPDIR, where any local user could open
// the node or run the shell while the run lasted (and after a kill -9, until a later run).
#[test]
fn an_untrusted_images_tree_is_out_of_other_users_reach() {
    if !is_root() {
        eprintln!("skipped: making an image's device nodes needs root");
        return;
    }
    use tar::EntryType as T;
    let fx = Fixture::new("basic");
    let base = plain_base(&fx, "base");
    let mut b = tar::Builder::new(Vec::new());
    tar_entry(
        &mut b,
        "usr/bin/rootshell",
        T::Regular,
        0o4755,
        0,
        b"#!/bin/sh\n",
        None,
    );
    let mut h = tar::Header::new_ustar();
    h.set_path("usr/lib/disk").unwrap();
    h.set_entry_type(T::Char);
    h.set_mode(0o666);
    h.set_uid(0);
    h.set_gid(0);
    h.set_mtime(0);
    h.set_device_major(1).unwrap();
    h.set_device_minor(3).unwrap();
    h.set_size(0);
    h.set_cksum();
    b.append(&h, std::io::empty()).unwrap();
    derive_image(&base, "t", "evil", &b.into_inner().unwrap());
    let image = format!("{}:evil", base.display());
    let tmp = fx.path("tmp");
    std::fs::create_dir(&tmp).unwrap();
    std::fs::set_permissions(&tmp, std::fs::Permissions::from_mode(0o1777)).unwrap();
    let scratch = fx.path("scratch");
    std::fs::create_dir(&scratch).unwrap();
    let env = [("TMPDIR", tmp.as_os_str())];
    let verify: Vec<String> = ["verify", "--oci-dir", &image].map(String::from).to_vec();
    for (what, args) in [
        ("--from", from_job(&image, &fx.path("out"), &[])),
        ("verify", verify.clone()),
    ] {
        // Stopped once the tree is made: the node and the shell are on disk now.
        let paused = pause_at_with(&args, 1, &scratch, &env);
        assert_eq!(paused.point, "1 tree", "{what}");
        let dirs = work_dirs(&tmp);
        assert_eq!(dirs.len(), 1, "{what}: {dirs:?}");
        let work = &dirs[0];
        let mode = std::fs::metadata(work).unwrap().permissions().mode() & 0o7777;
        assert_eq!(mode, 0o700, "{what}: {} is {mode:o}", work.display());
        let node = work.join("tree/usr/lib/disk");
        let shell = work.join("tree/usr/bin/rootshell");
        assert!(
            node.exists() && shell.exists(),
            "{what}: the tree is elsewhere"
        );
        for p in [&node, &shell] {
            assert!(
                !nobody_can_stat(p),
                "{what}: nobody reaches {}",
                p.display()
            );
        }
        // Killed there, its tree stays in the private directory until a later run removes it.
        paused.kill();
        assert!(!nobody_can_stat(&node), "{what}");
    }
    // A later run removes the dead run's directory, and its own.
    run_ok(encap_command().env("TMPDIR", &tmp).args(&verify));
    assert_eq!(work_dirs(&tmp), Vec::<PathBuf>::new());
}

/// A FIFO at `path`.
fn mkfifo(path: &Path) {
    run_ok(Command::new("mkfifo").arg(path));
}

/// What is at `path`, as `stat -c %F` says it (not following a symlink).
fn file_type(path: &Path) -> String {
    let o = run_ok(Command::new("stat").args(["-c", "%F"]).arg(path));
    String::from_utf8_lossy(&o.stdout).trim().to_string()
}

// Defect 2: --sbom, --oci-archive and --digestfile renamed a regular file over whatever was
// at the path: a device node, a FIFO, a symlink (exit 0). Now the archive is refused for all
// of them; the SBOM and the digest go into a FIFO or a character device in place (a pipe,
// /dev/stdout), and are refused for the rest.
#[test]
fn outputs_never_replace_what_is_not_a_regular_file() {
    let fx = Fixture::new("basic");
    let d = fx.path("odd");
    std::fs::create_dir(&d).unwrap();
    mkfifo(&d.join("fifo"));
    std::os::unix::fs::symlink("/etc/hostname", d.join("link")).unwrap();
    std::fs::create_dir(d.join("dir")).unwrap();
    // (name, what stat says it is, whether a document may stream into it in place)
    let mut odd = vec![
        ("fifo", "fifo", true),
        ("link", "symbolic link", false),
        ("dir", "directory", false),
    ];
    if is_root() {
        // A node of our own, never the machine's /dev/null.
        run_ok(
            Command::new("mknod")
                .arg(d.join("null"))
                .args(["c", "1", "3"]),
        );
        odd.push(("null", "character special file", true));
    }
    let out = fx.path("out");
    let repo = fx.repo.to_str().unwrap();
    for (name, kind, stream) in &odd {
        let p = d.join(name);
        let path = p.to_str().unwrap();
        // The archive is renamed into place: refused for all of them.
        let err = encap_err(["--repo", repo, "--ref", FIXTURE_REF, "--oci-archive", path]);
        assert!(
            err.contains("--oci-archive")
                && err.contains(path)
                && err.contains("not a regular file"),
            "--oci-archive {name}: {err}"
        );
        assert_eq!(&file_type(&p), kind, "--oci-archive {name}");
        let sbom = job(&fx.repo, FIXTURE_REF, &out, &["--sbom", path]);
        if *stream {
            // Written in place, as a shell's `>` would, and left what it was.
            let reader = (*name == "fifo").then(|| {
                let p = p.clone();
                std::thread::spawn(move || std::fs::read(p).unwrap())
            });
            encap_ok(&sbom);
            if let Some(r) = reader {
                let got = r.join().unwrap();
                assert!(got.starts_with(b"{") && got.ends_with(b"}\n"), "{name}");
            }
            std::fs::remove_dir_all(&out).unwrap();
        } else {
            let err = encap_err(&sbom);
            assert!(
                err.contains("--sbom") && err.contains(path) && err.contains("not a regular file"),
                "--sbom {name}: {err}"
            );
            // Refused before any work: no output layout made.
            assert!(!out.exists(), "--sbom {name}");
        }
        assert_eq!(&file_type(&p), kind, "--sbom {name}");
    }
    assert_eq!(
        std::fs::read_link(d.join("link")).unwrap(),
        Path::new("/etc/hostname")
    );
    // push --digestfile: refused before skopeo runs (the registry is never asked).
    encap_ok(job(&fx.repo, FIXTURE_REF, &out, &["--tag", "t"]));
    for name in ["link", "dir"] {
        let err = encap_err([
            "push",
            "--oci-dir",
            &format!("{}:t", out.display()),
            "docker://127.0.0.1:9/x:1",
            "--digestfile",
            d.join(name).to_str().unwrap(),
        ]);
        assert!(
            err.contains("--digestfile") && err.contains("not a regular file"),
            "{err}"
        );
    }
    // generate-sigstore-key --output-prefix DIR/ made hidden DIR/.private and DIR/.pub.
    let pass = fx.path("pass");
    std::fs::write(&pass, "secret\n").unwrap();
    let keys = fx.path("keys");
    std::fs::create_dir(&keys).unwrap();
    for prefix in [format!("{}/", keys.display()), keys.display().to_string()] {
        let err = encap_err([
            "generate-sigstore-key",
            "--output-prefix",
            &prefix,
            "--passphrase-file",
            pass.to_str().unwrap(),
        ]);
        assert!(err.contains("names a directory"), "{err}");
    }
    assert_eq!(std::fs::read_dir(&keys).unwrap().count(), 0);
}

/// gzip of `data`, one member.
fn gzip(data: &[u8]) -> Vec<u8> {
    use std::io::Write;
    let mut e = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::fast());
    e.write_all(data).unwrap();
    e.finish().unwrap()
}

// Defect 5: whiteouts named `.wh.`, `.wh..` and `.wh...` were applied: at the image root,
// `.wh...` emptied the root's parent (the tool's own work directory), then failed with a
// misleading "Directory not empty".
#[test]
fn whiteouts_of_dot_and_dot_dot_are_refused_by_name() {
    use tar::EntryType as T;
    let fx = Fixture::new("basic");
    let base = plain_base(&fx, "base");
    for (n, entry) in [".wh...", ".wh..", ".wh.", "usr/.wh...", "usr/.wh.."]
        .into_iter()
        .enumerate()
    {
        let mut b = tar::Builder::new(Vec::new());
        tar_entry(&mut b, entry, T::Regular, 0o644, 0, b"", None);
        let tag = format!("w{n}");
        derive_image(&base, "t", &tag, &b.into_inner().unwrap());
        let image = format!("{}:{tag}", base.display());
        let out = fx.path(&format!("out{n}"));
        for args in [
            from_job(&image, &out, &[]),
            ["verify", "--oci-dir", &image].map(String::from).to_vec(),
        ] {
            let err = encap_err(&args);
            assert!(
                err.contains(&format!("{entry:?}"))
                    && err.contains("whiteout")
                    && err.contains("layer "),
                "{entry}: {err}"
            );
            assert!(!err.contains("not empty"), "{err}");
        }
        assert!(!out.exists());
    }
    // The tree the image was made of is still whole.
    assert!(fx.tree.join("usr").is_dir());
}

// Defect 6: a plain image's gzip layer blob that did not match its digest was accepted by
// --from (exit 0) and verify ("OK: plain image"): the blob was read only as far as the
// decoder wanted (its first gzip member), not to its end. Here an image's layer has two
// members, the second an empty one; its file is then changed in that second member only
// (another empty member of the same length): the same tar, the same size, another digest.
#[test]
fn a_plain_images_blobs_are_checked_to_their_last_byte() {
    use tar::EntryType as T;
    let fx = Fixture::new("basic");
    let base = plain_base(&fx, "base");
    let mut b = tar::Builder::new(Vec::new());
    tar_entry(
        &mut b,
        "usr/share/extra",
        T::Regular,
        0o644,
        0,
        b"extra\n",
        None,
    );
    let tar = b.into_inner().unwrap();
    let empty_member = |mtime: u32| {
        let mut e = flate2::GzBuilder::new()
            .mtime(mtime)
            .write(Vec::new(), flate2::Compression::fast());
        std::io::Write::flush(&mut e).unwrap();
        e.finish().unwrap()
    };
    let mut two = gzip(&tar);
    two.extend_from_slice(&empty_member(1));
    let gz = "application/vnd.oci.image.layer.v1.tar+gzip";
    derive_image_blob(&base, "t", "two", &two, gz, &sha(&tar));
    let two_image = format!("{}:two", base.display());
    // Go's reader (and now ours) takes both members as the one layer.
    encap_ok(["verify", "--oci-dir", &two_image]);
    let (manifest, _) = image(&base, "two");
    let digest = manifest["layers"].as_array().unwrap().last().unwrap()["digest"]
        .as_str()
        .unwrap()
        .to_string();
    let mut changed = gzip(&tar);
    changed.extend_from_slice(&empty_member(2));
    assert_eq!(changed.len(), two.len());
    assert_ne!(changed, two);
    let path = base
        .join("blobs/sha256")
        .join(digest.strip_prefix("sha256:").unwrap());
    std::fs::write(&path, &changed).unwrap();
    let out = fx.path("out");
    for args in [
        from_job(&two_image, &out, &[]),
        ["verify", "--oci-dir", &two_image]
            .map(String::from)
            .to_vec(),
    ] {
        let err = encap_err(&args);
        assert!(err.contains(&digest), "{err}");
        assert!(!out.exists());
    }
}

// Defect 7: a 1.5 GiB PAX extended header inside a 6.8 MB layer took 1.6 GB of memory: the
// tar crate reads such a header whole before the entry it describes. Here 256 MiB of PAX
// header in a gzip layer of about 256 KiB: refused by size, before a byte of it is kept.
#[test]
fn an_oversized_pax_header_is_refused_before_it_is_read() {
    use std::io::Write;
    let fx = Fixture::new("basic");
    let base = plain_base(&fx, "base");
    let size: u64 = 256 << 20;
    let mut h = tar::Header::new_ustar();
    h.set_entry_type(tar::EntryType::XHeader);
    h.set_path("././@PaxHeader").unwrap();
    h.set_size(size);
    h.set_mode(0o644);
    h.set_cksum();
    // The tar streamed into gzip: the test keeps no 256 MiB buffer either.
    let mut gz = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::fast());
    let mut diff = <sha2::Sha256 as sha2::Digest>::new();
    let mut put = |b: &[u8]| {
        gz.write_all(b).unwrap();
        sha2::Digest::update(&mut diff, b);
    };
    put(h.as_bytes());
    let zeros = vec![0u8; 1 << 20];
    for _ in 0..(size >> 20) {
        put(&zeros);
    }
    put(&[0; 1024]);
    let blob = gz.finish().unwrap();
    let diff_id = format!("sha256:{}", hex::encode(sha2::Digest::finalize(diff)));
    let gzip_type = "application/vnd.oci.image.layer.v1.tar+gzip";
    derive_image_blob(&base, "t", "pax", &blob, gzip_type, &diff_id);
    let image = format!("{}:pax", base.display());
    let out = fx.path("out");
    for args in [
        from_job(&image, &out, &[]),
        ["verify", "--oci-dir", &image].map(String::from).to_vec(),
    ] {
        let err = encap_err(&args);
        assert!(
            err.contains("PAX extended header") && err.contains(&size.to_string()),
            "{err}"
        );
        assert!(err.contains("layer "), "{err}");
    }
}

/// A copy of the basic fixture's tree with `status` as its dpkg status file.
fn tree_with_dpkg_status(fx: &Fixture, name: &str, status: &[u8]) -> PathBuf {
    let tree = fx.path(name);
    run_ok(Command::new("cp").arg("-a").arg(&fx.tree).arg(&tree));
    let db = tree.join("var/lib/dpkg");
    std::fs::create_dir_all(&db).unwrap();
    std::fs::write(db.join("status"), status).unwrap();
    tree
}

// Defect 8: a dpkg status over the 64 MiB limit was skipped without a word (no package in
// the SBOM, no components for planning); a stanza with an empty `Package:` gave a nameless
// package; a package without a version got the invalid PURL `pkg:deb/debian/name@?...`.
#[test]
fn package_databases_are_read_whole_or_refused_and_nameless_stanzas_skipped() {
    let fx = Fixture::new("basic");
    let status = b"Package: \nStatus: install ok installed\nVersion: 1\n\n\
Package: noversion\nStatus: install ok installed\nArchitecture: amd64\n\n\
Package: good\nStatus: install ok installed\nVersion: 2.0-1\nArchitecture: amd64\n\n";
    let tree = tree_with_dpkg_status(&fx, "tree-dpkg", status);
    let sbom = fx.path("sbom.json");
    encap_ok([
        "--rootfs",
        tree.to_str().unwrap(),
        "--oci-dir",
        fx.path("out").to_str().unwrap(),
        "--sbom",
        sbom.to_str().unwrap(),
    ]);
    let doc = json(&std::fs::read_to_string(&sbom).unwrap());
    let purls: Vec<&str> = doc["packages"]
        .as_array()
        .unwrap()
        .iter()
        .filter_map(|p| p["externalRefs"][0]["referenceLocator"].as_str())
        .collect();
    assert_eq!(purls.len(), 2, "{purls:?}");
    assert!(
        purls
            .iter()
            .any(|p| p.starts_with("pkg:deb/debian/good@2.0-1?")),
        "{purls:?}"
    );
    assert!(
        purls
            .iter()
            .any(|p| p.starts_with("pkg:deb/debian/noversion?arch=amd64")),
        "{purls:?}"
    );
    assert!(
        !purls.iter().any(|p| p.contains("/@") || p.contains("@?")),
        "{purls:?}"
    );
    // One byte over the limit: an error naming the file and the limit, and no image.
    let big = fx.path("big");
    run_ok(Command::new("cp").arg("-a").arg(&fx.tree).arg(&big));
    std::fs::create_dir_all(big.join("var/lib/dpkg")).unwrap();
    let f = std::fs::File::create(big.join("var/lib/dpkg/status")).unwrap();
    f.set_len((64 << 20) + 1).unwrap();
    let out = fx.path("out-big");
    let err = encap_err([
        "--rootfs",
        big.to_str().unwrap(),
        "--oci-dir",
        out.to_str().unwrap(),
    ]);
    assert!(
        err.contains("var/lib/dpkg/status")
            && err.contains(&(64u64 << 20).to_string())
            && err.contains("dpkg status"),
        "{err}"
    );
    assert!(!out.exists());
}

/// Image `new_tag` in `dir`: image `tag` with its config's `created` set to `created`.
fn with_created(dir: &Path, tag: &str, new_tag: &str, created: &str) {
    let (manifest, mut config) = image(dir, tag);
    config["created"] = created.into();
    add_image(dir, new_tag, manifest, config);
}

// Defect 8 (times): an unparsable `created` became a 1970 commit without a word; a pre-1970
// one gave "out of range integral type conversion attempted".
#[test]
fn an_images_created_time_is_parsed_or_refused_by_name() {
    let fx = Fixture::new("basic");
    let base = plain_base(&fx, "base");
    with_created(&base, "t", "bad", "yesterday at noon");
    with_created(&base, "t", "old", "1969-07-20T20:17:40Z");
    let bad = format!("{}:bad", base.display());
    let out = fx.path("out");
    let err = encap_err(from_job(&bad, &out, &[]));
    assert!(
        err.contains("\"yesterday at noon\"")
            && err.contains("RFC 3339")
            && err.contains("--created"),
        "{err}"
    );
    assert!(!out.exists());
    // With a time given, the image's own is not needed.
    encap_ok(from_job(&bad, &out, &["--created", "2025-01-01T00:00:00Z"]));
    let err = encap_err(from_job(
        &format!("{}:old", base.display()),
        &fx.path("o2"),
        &[],
    ));
    assert!(
        err.contains("before 1970") && err.contains("-14182940"),
        "{err}"
    );
    assert!(!err.contains("integral type"), "{err}");
}

// Defect 8 (outputs in the tree): --oci-dir inside the --rootfs tree packed the output into
// the image (a different image on every run).
#[test]
fn an_output_inside_the_rootfs_tree_is_refused_unless_pruned() {
    let fx = Fixture::new("basic");
    let tree = fx.path("tree-copy");
    run_ok(Command::new("cp").arg("-a").arg(&fx.tree).arg(&tree));
    let rootfs = |out: &str, extra: &[&str]| {
        let mut a = vec!["--rootfs".to_string(), tree.display().to_string()];
        a.extend([out.to_string()]);
        a.extend(extra.iter().map(|s| s.to_string()));
        a
    };
    for (flag, path) in [
        ("--oci-dir", tree.join("usr/out")),
        ("--oci-archive", tree.join("img.ociarchive")),
    ] {
        let mut args = rootfs(flag, &[]);
        args.push(path.display().to_string());
        let err = encap_err(&args);
        assert!(
            err.contains("inside the --rootfs tree") && err.contains(flag),
            "{err}"
        );
        assert!(!path.exists());
    }
    // Through a symlink to the tree, and the SBOM too.
    let link = fx.path("link");
    std::os::unix::fs::symlink(&tree, &link).unwrap();
    let err = encap_err([
        "--rootfs",
        tree.to_str().unwrap(),
        "--oci-dir",
        fx.path("out").to_str().unwrap(),
        "--sbom",
        link.join("sbom.json").to_str().unwrap(),
    ]);
    assert!(
        err.contains("--sbom") && err.contains("inside the --rootfs tree"),
        "{err}"
    );
    // Left out with --prune, it is fine.
    std::fs::create_dir(tree.join("build")).unwrap();
    encap_ok([
        "--rootfs",
        tree.to_str().unwrap(),
        "--prune",
        "build",
        "--oci-dir",
        tree.join("build/out").to_str().unwrap(),
    ]);
}

// Defect 9 (bounds): serve --workers 18446744073709551615 panicked (capacity overflow) and
// --workers 1000000 panicked, hung and left the scratch repository; a passphrase file's
// first line was cut at 64 KiB without a word and /dev/zero was accepted; a missing
// --passphrase-file was named --sign-passphrase-file, with the OS error twice.
#[test]
fn option_values_are_bounded_and_named_before_any_work() {
    let fx = Fixture::new("basic");
    let out = fx.path("out");
    encap_ok(job(&fx.repo, FIXTURE_REF, &out, &["--tag", "t"]));
    let tmp = fx.path("tmp");
    std::fs::create_dir(&tmp).unwrap();
    let bad = ["18446744073709551615", "1000000", "0"].map(|v| ("--workers", v));
    let bounds = [
        ("--connections", "0"),
        ("--connections", "18446744073709551615"),
        ("--header-timeout", "0"),
        ("--timeout", "18446744073709551615"),
        ("--request-timeout", "0"),
    ];
    for (flag, value) in bad.into_iter().chain(bounds) {
        let o = encap_command()
            .env("TMPDIR", &tmp)
            .args(["serve", "--oci-dir", out.to_str().unwrap(), "--ref", "os=t"])
            .args(["--listen", "127.0.0.1:0", flag, value])
            .stdin(std::process::Stdio::null())
            .output()
            .unwrap();
        let err = String::from_utf8_lossy(&o.stderr);
        assert_eq!(o.status.code(), Some(1), "{flag} {value}: {err}");
        assert!(err.contains(&format!("{flag} {value}")), "{err}");
        assert!(!err.contains("panicked"), "{err}");
        assert_eq!(std::fs::read_dir(&tmp).unwrap().count(), 0, "{flag}");
    }
    let keys = fx.path("keys");
    std::fs::create_dir(&keys).unwrap();
    let gen = |pass: &Path| {
        encap_err([
            "generate-sigstore-key",
            "--output-prefix",
            keys.join("k").to_str().unwrap(),
            "--passphrase-file",
            pass.to_str().unwrap(),
        ])
    };
    let err = gen(&fx.path("missing"));
    assert!(
        err.contains("--passphrase-file") && !err.contains("--sign-passphrase-file"),
        "{err}"
    );
    assert_eq!(err.matches("No such file").count(), 1, "{err}");
    let long = fx.path("long");
    std::fs::write(&long, vec![b'p'; 100 << 10]).unwrap();
    for p in [long.as_path(), Path::new("/dev/zero")] {
        let err = gen(p);
        assert!(err.contains("--passphrase-file"), "{err}");
    }
    assert_eq!(std::fs::read_dir(&keys).unwrap().count(), 0);
}

/// Issue 29: a tree may hold paths longer than PATH_MAX (`ostree commit` takes them, working
/// relative to each directory's descriptor); `--rootfs` read them by full path and failed
/// with "File name too long". Now both formats take them, and `--from` of the plain image
/// gives the same image again.
#[test]
fn paths_longer_than_path_max_are_taken_by_rootfs_and_from() {
    let fx = Fixture::new("basic");
    let root = fx.path("long-root");
    // 20 directories of 250 bytes, made one `cd` at a time (no call takes the whole path).
    let script = r#"mkdir -p "$1/usr" && cd "$1/usr" || exit 1
        for i in $(seq 10 29); do d=d$i$(printf '%0247d' 0); mkdir "$d" && cd "$d" || exit 1; done
        echo deep > file && ln -s file link && pwd | wc -c"#;
    // bash: dash's `cd` builds the whole path and fails past PATH_MAX.
    let o = Command::new("bash")
        .args(["-c", script, "bash", root.to_str().unwrap()])
        .output()
        .unwrap();
    assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
    let depth: usize = String::from_utf8_lossy(&o.stdout).trim().parse().unwrap();
    assert!(depth > 5000, "{depth}");
    let plain = fx.path("plain");
    let ostree_format = fx.path("ostree");
    let again = fx.path("again");
    let config = |dir: &Path, extra: &[&str]| {
        let mut args = vec![
            "--rootfs",
            root.to_str().unwrap(),
            "--oci-dir",
            dir.to_str().unwrap(),
            "--tag",
            "t",
        ];
        args.extend_from_slice(extra);
        let out = encap_ok(args);
        out.lines()
            .find_map(|l| l.strip_prefix("config").map(|c| c.trim().to_string()))
            .unwrap_or_else(|| panic!("no config line: {out}"))
    };
    let plain_config = config(&plain, &["--format", "plain"]);
    config(&ostree_format, &[]);
    encap_ok([
        "verify",
        "--oci-dir",
        ostree_format.to_str().unwrap(),
        "--tag",
        "t",
    ]);
    // The deep file is in the plain image's layers, with its content.
    let listed = Command::new("sh")
        .arg("-c")
        .arg(r#"for b in "$1"/blobs/sha256/*; do tar -xzOf "$b" --wildcards '*/file' 2>/dev/null; done"#)
        .args(["sh", plain.to_str().unwrap()])
        .output()
        .unwrap();
    assert_eq!(String::from_utf8_lossy(&listed.stdout), "deep\n");
    let out = encap_ok([
        "--from",
        &format!("oci:{}:t", plain.display()),
        "--oci-dir",
        again.to_str().unwrap(),
        "--tag",
        "t",
        "--format",
        "plain",
    ]);
    assert!(out.contains(&plain_config), "{out}\nwant {plain_config}");
}
