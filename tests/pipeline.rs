//! Image pipelines (issue 31): the tool as an image made by itself (`make image`,
//! scripts/image.sh), reproducible; that image as a stage of a Containerfile built by
//! `buildah build --isolation=chroot`, rechunking the root filesystem of an earlier stage into
//! an oci-archive that the last stage starts `FROM`; and `--from containers-storage:` of the
//! image buildah just built. docs/rechunking.md shows exactly this Containerfile and these
//! flags. Needs root and buildah (scripts/setup.sh installs it); skips with a message without.

mod common;

use common::*;
use std::path::{Path, PathBuf};
use std::process::Command;

/// The Containerfile docs/rechunking.md shows: `rootfs` is the tree to rechunk (here a base
/// image and one file added), the second stage runs ostree-encap from its image with that tree
/// and the build context bind-mounted, the last starts from what it wrote.
const CONTAINERFILE: &str = "\
FROM oci-archive:base.ociarchive AS rootfs
COPY hello.txt /usr/share/hello.txt

FROM oci-archive:ostree-encap.ociarchive AS rechunk
RUN --mount=type=bind,from=rootfs,src=/,target=/rootfs \\
    --mount=type=bind,src=out,target=/out,rw=true \\
    [\"/usr/bin/ostree-encap\", \"--rootfs\", \"/rootfs\", \"--format\", \"plain\", \\
     \"--oci-archive\", \"/out/chunked.ociarchive\", \"--tag\", \"latest\"]

FROM oci-archive:out/chunked.ociarchive
";

/// Whether this machine can run the pipeline (root, buildah); says why not.
fn can_build() -> bool {
    let root = Command::new("id")
        .arg("-u")
        .output()
        .is_ok_and(|o| o.stdout == b"0\n");
    let buildah = Command::new("buildah").arg("--version").output().is_ok();
    if !(root && buildah) {
        eprintln!("skipped: needs root and buildah (scripts/setup.sh installs it)");
    }
    root && buildah
}

/// scripts/image.sh with this build's binary into `out`; returns its "image ..." line.
fn make_image(out: &Path) -> String {
    let bin = encap_command().get_program().to_owned();
    let o = run_ok(
        Command::new("bash")
            .arg(workspace_root().join("scripts/image.sh"))
            .arg(out)
            .env("BIN", bin)
            .env("SOURCE_DATE_EPOCH", "1700000000"),
    );
    String::from_utf8_lossy(&o.stdout).trim().to_string()
}

/// The digest named `what` (`manifest`, `config`) in a build's summary.
fn digest_line(summary: &str, what: &str) -> String {
    summary
        .lines()
        .find_map(|l| l.strip_prefix(what).map(|d| d.trim().to_string()))
        .unwrap_or_else(|| panic!("no {what} line: {summary}"))
}

/// buildah on a private store in `dir` (vfs: no mounts left behind, any file system).
fn buildah(dir: &Path) -> Command {
    let mut c = Command::new("buildah");
    c.arg("--root")
        .arg(dir.join("root"))
        .arg("--runroot")
        .arg(dir.join("run"))
        .args(["--storage-driver", "vfs"]);
    c
}

#[test]
fn the_tool_image_rechunks_a_containerfile_stage_and_its_result_reads_back() {
    if !can_build() {
        return;
    }
    let fx = Fixture::new("basic");
    let ctx = fx.path("context");
    std::fs::create_dir_all(ctx.join("out")).unwrap();

    // The tool's image, twice: the same bytes.
    let first = make_image(&ctx.join("ostree-encap.ociarchive"));
    let second = make_image(&fx.path("again.ociarchive"));
    let digest = |line: &str| {
        line.split_whitespace()
            .nth(2)
            .unwrap_or_default()
            .to_string()
    };
    assert!(digest(&first).starts_with("sha256:"), "{first}");
    assert_eq!(digest(&first), digest(&second), "{first}\n{second}");
    let size = std::fs::metadata(ctx.join("ostree-encap.ociarchive"))
        .unwrap()
        .len();
    assert!(size < 150 << 20, "the tool's image is {size} bytes");

    // A base image for the first stage: the fixture tree, plain.
    encap_ok([
        "--rootfs",
        fx.tree.to_str().unwrap(),
        "--format",
        "plain",
        "--oci-archive",
        ctx.join("base.ociarchive").to_str().unwrap(),
        "--tag",
        "latest",
    ]);
    std::fs::write(ctx.join("hello.txt"), "hello from the build\n").unwrap();
    std::fs::write(ctx.join("Containerfile"), CONTAINERFILE).unwrap();
    let store = fx.path("store");
    // In the context directory: buildah reads `oci-archive:` paths from the working
    // directory, not from the context.
    run_ok(
        buildah(&store)
            .args(["build", "--isolation=chroot", "--skip-unused-stages=false"])
            .args(["-t", "localhost/rechunked:test", "."])
            .current_dir(&ctx),
    );

    // What the stage wrote is our image, and a plain image verify accepts.
    let archive = ctx.join("out/chunked.ociarchive");
    let verified = encap_ok(["verify", "--oci-archive", archive.to_str().unwrap()]);
    assert!(verified.contains("OK"), "{verified}");
    let inspect = |what: &str| {
        let o =
            run_ok(buildah(&store).args(["inspect", "--format", what, "localhost/rechunked:test"]));
        String::from_utf8_lossy(&o.stdout).trim().to_string()
    };
    // The final stage is that image: its config (the image ID) and layers are ours.
    let summary = encap_ok([
        "--from",
        &format!("oci-archive:{}:latest", archive.display()),
        "--format",
        "plain",
        "--oci-dir",
        fx.path("copy").to_str().unwrap(),
        "--tag",
        "t",
    ]);
    let config = digest_line(&summary, "config");
    assert_eq!(format!("sha256:{}", inspect("{{.FromImageID}}")), config);
    let layers = summary.lines().filter(|l| l.starts_with("layer ")).count();
    assert_eq!(inspect("{{len .OCIv1.RootFS.DiffIDs}}"), layers.to_string());
    assert!(
        inspect("{{.OCIv1.Config.Labels}}").contains("ostree-encap.layout"),
        "labels"
    );
    // The rechunked tree has the file the first stage added.
    let flat = fx.path("flat");
    std::fs::create_dir(&flat).unwrap();
    let o = run_ok(
        Command::new("tar")
            .arg("-xf")
            .arg(&archive)
            .arg("-C")
            .arg(&flat),
    );
    drop(o);
    let has_hello = walk_files(&flat).iter().any(|b| {
        let out = Command::new("tar")
            .arg("-xzOf")
            .arg(b)
            .arg("usr/share/hello.txt")
            .output()
            .unwrap();
        out.stdout == b"hello from the build\n"
    });
    assert!(has_hello, "usr/share/hello.txt in the rechunked layers");

    // And the image buildah holds reads back through containers-storage: to the same image.
    let storage = format!(
        "containers-storage:[vfs@{}+{}]localhost/rechunked:test",
        store.join("root").display(),
        store.join("run").display()
    );
    let again = encap_ok([
        "--from",
        &storage,
        "--format",
        "plain",
        "--oci-dir",
        fx.path("from-storage").to_str().unwrap(),
        "--tag",
        "t",
    ]);
    assert_eq!(
        digest_line(&again, "manifest"),
        digest_line(&summary, "manifest")
    );
}

/// Every regular file below `dir`.
fn walk_files(dir: &Path) -> Vec<PathBuf> {
    let mut out = Vec::new();
    for e in std::fs::read_dir(dir).unwrap().flatten() {
        let t = e.file_type().unwrap();
        if t.is_dir() {
            out.extend(walk_files(&e.path()));
        } else if t.is_file() {
            out.push(e.path());
        }
    }
    out
}
