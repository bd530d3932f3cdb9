//! Chunked images: components from xattrs, content-meta and dpkg databases; stable layouts;
//! lossless import at every layer count; `diff` reporting what an update costs.
//!
//! Kept as one file over 800 lines: one test binary per feature (each binary costs a link),
//! and its tests share the fixtures and helpers at its top.

mod common;

use common::*;
use std::collections::BTreeMap;
use std::path::Path;
use std::process::Command;

fn encap_to(repo: &Path, rev: &str, out: &Path, tag: &str, extra: &[&str]) -> serde_json::Value {
    let mut a = job(repo, rev, out, &["--tag", tag, "--json"]);
    a.extend(extra.iter().map(|s| s.to_string()));
    json(&encap_ok(&a))
}

/// Component annotation of each chunk layer.
fn components_of(out: &Path, tag: &str) -> Vec<String> {
    let (m, _) = image(out, tag);
    m["layers"].as_array().unwrap()[1..]
        .iter()
        .map(|l| {
            l["annotations"]["ostree.components"]
                .as_str()
                .expect("chunk layer without ostree.components")
                .to_string()
        })
        .collect()
}

#[test]
fn xattr_components_kernel_and_large_unowned_get_their_own_layers() {
    let fx = Fixture::new("components");
    let out = fx.path("oci");
    let s = encap_to(&fx.repo, FIXTURE_REF, &out, "c", &[]);
    let comps = components_of(&out, "c");
    for want in [
        "alpha",
        "beta",
        "gamma",
        "delta",
        "ostree-boot",
        "file:/usr/lib/firmware/big.bin",
        "unowned",
    ] {
        assert!(
            comps.iter().any(|c| c == want),
            "no layer for {want}: {comps:?}"
        );
    }
    // The commit layer holds structure only; every content object is in a chunk.
    assert_eq!(s["layers"][0]["content_objects"], 0);
    let (_, cfg) = image(&out, "c");
    let history: Vec<String> = cfg["history"]
        .as_array()
        .unwrap()
        .iter()
        .map(|h| h["created_by"].as_str().unwrap().to_string())
        .collect();
    assert!(
        history[1..].iter().all(|h| h.starts_with("ostree chunk: ")),
        "{history:?}"
    );
    let layout: serde_json::Value = json(
        cfg["config"]["Labels"]["ostree-encap.layout"]
            .as_str()
            .unwrap(),
    );
    assert_eq!(layout["layers"].as_array().unwrap().len(), comps.len());
    encap_ok([
        "verify",
        "--oci-dir",
        out.to_str().unwrap(),
        "--tag",
        "c",
        "--repo",
        fx.repo.to_str().unwrap(),
    ]);
    let (repo, commit) = import(
        fx.dir.path(),
        &format!("ostree-unverified-image:oci:{}:c", out.display()),
    )
    .unwrap();
    assert_eq!(commit, fx.commit);
    ostree(&repo, ["fsck"]);
    // With xattr components off, alpha/beta/... are gone but the size rules still apply.
    let s2 = encap_to(
        &fx.repo,
        FIXTURE_REF,
        &out,
        "nox",
        &["--no-xattr-components"],
    );
    assert_ne!(s2["manifest_digest"], s["manifest_digest"]);
    let comps = components_of(&out, "nox");
    assert!(!comps.iter().any(|c| c == "alpha"), "{comps:?}");
    assert!(comps.iter().any(|c| c == "ostree-boot"), "{comps:?}");
    // --components none: no xattr, content-meta or package components, only the size rules.
    let none = encap_to(
        &fx.repo,
        FIXTURE_REF,
        &out,
        "none",
        &["--components", "none"],
    );
    let comps = components_of(&out, "none");
    assert!(
        !comps.iter().any(|c| c
            .split(',')
            .any(|x| ["alpha", "beta", "gamma", "delta"].contains(&x))),
        "{comps:?}"
    );
    assert!(comps.iter().any(|c| c == "ostree-boot"), "{comps:?}");
    assert_ne!(none["manifest_digest"], s["manifest_digest"]);
    // Same input twice: same bytes.
    let again = encap_to(&fx.repo, FIXTURE_REF, &out, "c2", &[]);
    assert_eq!(again["manifest_digest"], s["manifest_digest"]);
}

#[test]
fn lossless_at_1_8_64_127_layers_with_a_verified_signature() {
    let fx = Fixture::new("full");
    let (pubkey, _) = fx.gpg_sign();
    let imp = fx.path("imp");
    ostree(&imp, ["init", "--mode=bare-user"]);
    ostree(
        &imp,
        [
            "remote",
            "add",
            "trusted",
            "file:///nonexistent",
            &format!("--gpg-import={}", pubkey.display()),
        ],
    );
    for n in ["1", "8", "64", "127"] {
        let out = fx.path(&format!("oci-{n}"));
        let s = encap_to(&fx.repo, FIXTURE_REF, &out, "t", &["--max-layers", n]);
        let layers = s["layers"].as_array().unwrap().len();
        assert!(
            layers >= 2 && layers <= n.parse::<usize>().unwrap() + 1,
            "{n}: {layers} layers"
        );
        encap_ok([
            "verify",
            "--oci-dir",
            out.to_str().unwrap(),
            "--gpg-keyring",
            pubkey.to_str().unwrap(),
        ]);
        let commit = import_into(
            &imp,
            &format!("ostree-remote-image:trusted:oci:{}:t", out.display()),
        )
        .unwrap();
        assert_eq!(commit, fx.commit, "{n} layers");
    }
    ostree(&imp, ["fsck"]);
    // More than 127 needs an explicit opt-in.
    let out = fx.path("oci-many");
    let err = encap_err(job(&fx.repo, FIXTURE_REF, &out, &["--max-layers", "128"]));
    assert!(err.contains("--allow-many-layers"), "{err}");
    encap_to(
        &fx.repo,
        FIXTURE_REF,
        &out,
        "t",
        &["--max-layers", "200", "--allow-many-layers"],
    );
    // A plain image's layers are stacked by the runtime: containers-storage stops at 500.
    let err = encap_err(job(
        &fx.repo,
        FIXTURE_REF,
        &fx.path("oci-plain"),
        &[
            "--format",
            "plain",
            "--max-layers",
            "500",
            "--allow-many-layers",
        ],
    ));
    assert!(
        err.contains("containers-storage") && err.contains("499"),
        "{err}"
    );
    // 0 is the single-layer image.
    let s = encap_to(
        &fx.repo,
        FIXTURE_REF,
        &out,
        "single",
        &["--max-layers", "0"],
    );
    assert_eq!(s["layers"].as_array().unwrap().len(), 1);
}

#[test]
fn contentmeta_json_assigns_components() {
    let fx = Fixture::new("basic");
    let line = ostree(&fx.repo, ["ls", "-C", &fx.commit, "/usr/lib/data.bin"]);
    let data = line.split_whitespace().nth(4).unwrap();
    let cm = fx.path("contentmeta.json");
    std::fs::write(
        &cm,
        serde_json::json!({"version": 1, "created": "2025-01-01T00:00:00Z", "labels": {}, "layers": {"7": "my-data"}, "mapping": {data: "7", "ab".repeat(32): "7"}})
            .to_string(),
    )
    .unwrap();
    let out = fx.path("oci");
    encap_to(
        &fx.repo,
        FIXTURE_REF,
        &out,
        "cm",
        &["--contentmeta", cm.to_str().unwrap()],
    );
    let comps = components_of(&out, "cm");
    assert!(comps.contains(&"my-data".to_string()), "{comps:?}");
    std::fs::write(&cm, "{not json").unwrap();
    let err = encap_err(job(
        &fx.repo,
        FIXTURE_REF,
        &out,
        &["--contentmeta", cm.to_str().unwrap()],
    ));
    assert!(
        err.contains("contentmeta.json") && err.contains("invalid content-meta JSON"),
        "{err}"
    );
}

#[test]
fn dpkg_database_groups_by_source_package_and_updates_touch_few_layers() {
    let fx = Fixture::new("basic");
    let tree = fx.tree.clone();
    let pkgs: Vec<(String, String)> = (0..30)
        .map(|i| (format!("pkg{i:02}"), format!("src{:02}", i / 2)))
        .collect();
    let list: Vec<(&str, &str, &str)> = pkgs
        .iter()
        .map(|(n, s)| (n.as_str(), s.as_str(), "1.0"))
        .collect();
    install_debs(fx.dir.path(), &tree, &list);
    let c1 = fx.commit_tree(&tree, "with packages", "2025-04-01T00:00:00Z");
    let out = fx.path("oci");
    encap_to(&fx.repo, &c1, &out, "v1", &["--max-layers", "8"]);
    let comps = components_of(&out, "v1");
    let all: Vec<&str> = comps.iter().flat_map(|c| c.split(',')).collect();
    for i in 0..15 {
        assert!(
            all.contains(&format!("src{i:02}").as_str()),
            "source package src{i:02} missing: {comps:?}"
        );
    }
    assert!(
        !all.iter().any(|c| c.starts_with("pkg")),
        "binary names must be grouped by source: {comps:?}"
    );

    // A security update of one source package (two binaries).
    install_debs(
        fx.dir.path(),
        &tree,
        &[("pkg06", "src03", "1.1"), ("pkg07", "src03", "1.1")],
    );
    let c2 = fx.commit_tree(&tree, "update src03", "2025-05-01T00:00:00Z");
    encap_to(&fx.repo, &c2, &out, "v2", &["--max-layers", "8"]);
    encap_to(
        &fx.repo,
        &c2,
        &out,
        "v2p",
        &[
            "--max-layers",
            "8",
            "--previous",
            &format!("{}:v1", out.display()),
        ],
    );
    for tag in ["v2", "v2p"] {
        let d = json(&encap_ok([
            "diff",
            &format!("{}:v1", out.display()),
            &format!("{}:{tag}", out.display()),
            "--json",
        ]));
        let new: Vec<&serde_json::Value> = d["layers"]
            .as_array()
            .unwrap()
            .iter()
            .filter(|l| l["reused"] == false)
            .collect();
        // The commit layer always changes; dpkg's status file and lists are unowned content;
        // then the layer holding src03.
        assert!(new.len() <= 3, "{tag}: {} new layers: {d:#}", new.len());
        assert!(
            new.iter().any(|l| l["components"]
                .as_str()
                .is_some_and(|c| c.split(',').any(|x| x == "src03"))),
            "{tag}: {d:#}"
        );
        assert!(d["reused_share"].as_f64().unwrap() > 0.5, "{tag}: {d:#}");
        let dl: u64 = new.iter().map(|l| l["size"].as_u64().unwrap()).sum();
        assert!(d["download_bytes"].as_u64().unwrap() > dl);
        let (repo, commit) = import(
            fx.dir.path(),
            &format!("ostree-unverified-image:oci:{}:{tag}", out.display()),
        )
        .unwrap();
        assert_eq!(commit, c2);
        ostree(&repo, ["fsck"]);
    }
    // Text output names reused and new layers.
    let text = encap_ok([
        "diff",
        &format!("{}:v1", out.display()),
        &format!("{}:v2p", out.display()),
    ]);
    assert!(
        text.contains("reused") && text.contains("NEW") && text.contains("% of the image reused"),
        "{text}"
    );
}

/// Paths (hard links to objects: the tree as the image shows it) in each chunk layer of `tag`.
fn chunk_paths(out: &Path, tag: &str) -> Vec<(String, Vec<String>)> {
    let (m, _) = image(out, tag);
    m["layers"].as_array().unwrap()[1..]
        .iter()
        .map(|l| {
            let data = blob(out, l["digest"].as_str().unwrap());
            let mut ar = tar::Archive::new(flate2::read::GzDecoder::new(&data[..]));
            let paths = ar
                .entries()
                .unwrap()
                .map(|e| e.unwrap().path().unwrap().display().to_string())
                .filter(|p| !p.starts_with("sysroot/"))
                .collect();
            let comps = l["annotations"]["ostree.components"].as_str().unwrap();
            (comps.to_string(), paths)
        })
        .collect()
}

#[test]
fn state_caches_and_bytecode_go_where_they_change() {
    let fx = Fixture::new("basic");
    let tree = fx.tree.clone();
    // Packages that ship Python and own a cache directory, as python3 modules and man-db do.
    install_debs_with(
        fx.dir.path(),
        &tree,
        &[("pya", "pya", "1.0"), ("pyb", "pyb", "1.0")],
        |name, d| {
            let py = d.join(format!("usr/lib/python3/dist-packages/{name}"));
            std::fs::create_dir_all(&py).unwrap();
            std::fs::write(py.join("mod.py"), format!("NAME = {name:?}\n")).unwrap();
            std::fs::create_dir_all(d.join(format!("var/cache/{name}"))).unwrap();
            std::fs::create_dir_all(d.join(format!("var/lib/{name}"))).unwrap();
        },
    );
    // What their maintainer scripts and ldconfig leave behind, listed by no package.
    for name in ["pya", "pyb"] {
        let cache = tree.join(format!("usr/lib/python3/dist-packages/{name}/__pycache__"));
        std::fs::create_dir_all(&cache).unwrap();
        std::fs::write(
            cache.join("mod.cpython-311.pyc"),
            pseudo_random(&format!("{name}-pyc"), 3000),
        )
        .unwrap();
        std::fs::write(
            tree.join(format!("var/cache/{name}/index.db")),
            pseudo_random(&format!("{name}-cache"), 9000),
        )
        .unwrap();
    }
    // Data a maintainer script made in the package's own directory under /var (a database
    // cluster, as postgresql-common's makes): it changes with use, not with the package.
    std::fs::create_dir_all(tree.join("var/lib/pya/cluster")).unwrap();
    std::fs::write(
        tree.join("var/lib/pya/cluster/base.db"),
        pseudo_random("pya-data", 1_200_000),
    )
    .unwrap();
    std::fs::write(
        tree.join("var/lib/pyb/seen"),
        pseudo_random("pyb-data", 700),
    )
    .unwrap();
    std::fs::write(tree.join("usr/etc/ld.so.cache"), pseudo_random("ld", 8800)).unwrap();
    let c = fx.commit_tree(&tree, "python and caches", "2025-04-01T00:00:00Z");
    let out = fx.path("oci");
    encap_to(&fx.repo, &c, &out, "t", &[]);
    let layers = chunk_paths(&out, "t");
    let layer_of = |path: &str| -> &str {
        layers
            .iter()
            .find(|(_, ps)| ps.iter().any(|p| p == path))
            .map(|(c, _)| c.as_str())
            .unwrap_or_else(|| panic!("{path} in no chunk layer: {layers:?}"))
    };
    for name in ["pya", "pyb"] {
        let dir = format!("usr/lib/python3/dist-packages/{name}");
        // Byte code with the package that ships its source.
        assert_eq!(
            layer_of(&format!("{dir}/__pycache__/mod.cpython-311.pyc")),
            name
        );
        assert_eq!(layer_of(&format!("{dir}/mod.py")), name);
        // A cache in the package's own directory is state, not the package's.
        assert_eq!(layer_of(&format!("var/cache/{name}/index.db")), "state");
    }
    assert_eq!(layer_of("etc/ld.so.cache"), "state");
    assert_eq!(layer_of("var/lib/dpkg/status"), "state");
    // Unlisted data under /var never joins the package owning its directory: a directory of
    // it big enough is its own component (kept when the package changes), a small one state.
    assert_eq!(layer_of("var/lib/pya/cluster/base.db"), "data:/var/lib/pya");
    assert_eq!(layer_of("var/lib/pyb/seen"), "state");
    // dpkg's per-package files stay with their package; unclaimed files are the catch-all.
    assert_eq!(layer_of("var/lib/dpkg/info/pya.list"), "pya");
    assert_eq!(layer_of("usr/bin/hello"), "unowned");
}

#[test]
fn previous_layout_is_read_from_label_annotations_archive_and_manifest() {
    let fx = Fixture::new("components");
    let out = fx.path("oci");
    encap_to(&fx.repo, FIXTURE_REF, &out, "v1", &["--max-layers", "3"]);
    let want = components_of(&out, "v1");
    // Same commit with the previous layout: same layers, whatever the source of the layout.
    let archive = fx.path("v1.ociarchive");
    run_ok(Command::new("skopeo").args([
        "copy",
        &format!("oci:{}:v1", out.display()),
        &format!("oci-archive:{}", archive.display()),
    ]));
    let (m, _) = image(&out, "v1");
    let mfile = fx.path("manifest.json");
    std::fs::write(&mfile, m.to_string()).unwrap();
    let mut digests = BTreeMap::new();
    for (name, prev) in [
        ("dir", format!("{}:v1", out.display())),
        ("archive", archive.display().to_string()),
        ("manifest", mfile.display().to_string()),
    ] {
        let s = encap_to(
            &fx.repo,
            FIXTURE_REF,
            &out,
            name,
            &["--max-layers", "3", "--previous", &prev],
        );
        assert_eq!(components_of(&out, name), want, "{name}");
        digests.insert(name, s["layers"].clone());
    }
    assert_eq!(digests["dir"], digests["archive"]);
    let err = encap_err(job(
        &fx.repo,
        FIXTURE_REF,
        &out,
        &["--previous", "/nonexistent/img"],
    ));
    assert!(err.contains("--previous /nonexistent/img"), "{err}");
    // A garbage manifest file is an error, not a panic.
    std::fs::write(&mfile, "{\"layers\": 5}").unwrap();
    let err = encap_err(job(
        &fx.repo,
        FIXTURE_REF,
        &out,
        &["--previous", mfile.to_str().unwrap()],
    ));
    assert!(err.contains("not an OCI manifest"), "{err}");
}

#[test]
fn jobs_do_not_change_the_output() {
    let fx = Fixture::new("full");
    let mut digests = Vec::new();
    for jobs in ["1", "2", "5"] {
        let out = fx.path(&format!("oci-j{jobs}"));
        let s = encap_to(&fx.repo, FIXTURE_REF, &out, "t", &["--jobs", jobs]);
        digests.push(s["manifest_digest"].as_str().unwrap().to_string());
    }
    assert!(digests.windows(2).all(|w| w[0] == w[1]), "{digests:?}");
}

#[test]
fn rebuild_reuses_unchanged_layers_without_changing_bytes() {
    let fx = Fixture::new("components");
    let out = fx.path("oci");
    let first = encap_to(&fx.repo, FIXTURE_REF, &out, "a", &[]);
    assert!(first["layers"]
        .as_array()
        .unwrap()
        .iter()
        .all(|l| l["reused"] == false));
    let again = encap_to(&fx.repo, FIXTURE_REF, &out, "b", &[]);
    assert!(
        again["layers"]
            .as_array()
            .unwrap()
            .iter()
            .all(|l| l["reused"] == true),
        "{again:#}"
    );
    assert_eq!(again["manifest_digest"], first["manifest_digest"]);
    // Change one component: only its layer (and the commit layer) is compressed again.
    let tree = fx.tree.clone();
    std::fs::write(
        tree.join("usr/lib/beta/b1"),
        pseudo_random("changed", 50_000),
    )
    .unwrap();
    let c2 = fx.commit_tree(&tree, "beta changed", "2025-03-02T00:00:00Z");
    let next = encap_to(&fx.repo, &c2, &out, "c", &[]);
    let fresh: Vec<&serde_json::Value> = next["layers"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|l| l["reused"] == false)
        .collect();
    assert_eq!(fresh.len(), 2, "{next:#}");
    assert!(
        fresh
            .iter()
            .any(|l| l["components"] == serde_json::json!(["beta"])),
        "{next:#}"
    );
    // A fresh directory gives the same bytes.
    let other = encap_to(&fx.repo, &c2, &fx.path("fresh"), "c", &[]);
    assert_eq!(other["manifest_digest"], next["manifest_digest"]);
    encap_ok(["verify", "--oci-dir", out.to_str().unwrap(), "--tag", "c"]);
    // Another compression is another blob: nothing reused.
    let z = encap_to(&fx.repo, &c2, &out, "z", &["--compression", "zstd"]);
    assert!(z["layers"]
        .as_array()
        .unwrap()
        .iter()
        .all(|l| l["reused"] == false));
}

/// A changed layer is not compressed from scratch: blocks of it that the previous build had
/// (same dir or `--previous`) are copied from the old blob, found through the block index
/// kept beside the blobs. The bytes are those of a fresh build; a damaged index changes
/// nothing but the time; archives leave the index out.
#[test]
fn changed_layer_reuses_unchanged_blocks_without_changing_bytes() {
    let fx = Fixture::new("basic");
    let tree = fx.path("tree");
    let dir = tree.join("usr/share/many");
    std::fs::create_dir_all(&dir).unwrap();
    // ~6 MB in ~30 blocks of ~192 KiB, so one changed file spoils a small share of them.
    for i in 0..120 {
        std::fs::write(
            dir.join(format!("f{i:03}")),
            pseudo_random(&format!("file {i}"), 50_000),
        )
        .unwrap();
    }
    let c1 = fx.commit_tree(&tree, "many", "2025-01-01T00:00:00Z");
    std::fs::write(dir.join("f060"), pseudo_random("file 60 v2", 50_000)).unwrap();
    let c2 = fx.commit_tree(&tree, "one changed", "2025-01-02T00:00:00Z");
    let single = ["--max-layers", "0"];
    let out = fx.path("oci");
    let first = encap_to(&fx.repo, &c1, &out, "a", &single);
    // Single-layer images: the one layer holds the commit and all content.
    let last = |v: &serde_json::Value| v["layers"].as_array().unwrap().last().unwrap().clone();
    let first_content = last(&first);
    assert_eq!(first_content["reused_block_bytes"], 0);
    // The index of each gzip blob is kept beside the blobs, named by its digest.
    let hex = &first_content["digest"].as_str().unwrap()[7..];
    let index = out.join("ostree-encap-blocks").join(hex);
    let text = std::fs::read_to_string(&index).unwrap();
    assert!(text.lines().count() > 20, "{text}");

    let fresh = encap_to(&fx.repo, &c2, &fx.path("fresh"), "b", &single);
    let again = encap_to(&fx.repo, &c2, &out, "b", &single);
    assert_eq!(again["manifest_digest"], fresh["manifest_digest"]);
    let content = last(&again);
    assert_eq!(content["reused"], false);
    let total = content["uncompressed_size"].as_u64().unwrap();
    let reused = content["reused_block_bytes"].as_u64().unwrap();
    // One file of 120 changed: all but the blocks around it come from the old blob.
    assert!(reused > total * 8 / 10, "{reused} of {total}");
    assert!(reused < total, "{reused} of {total}");
    encap_ok(["verify", "--oci-dir", out.to_str().unwrap(), "--tag", "b"]);

    // --previous from another directory: its index is used (and copied along with any
    // reused blob).
    let prev = format!("{}:a", out.display());
    let with_prev = |name: &str| {
        encap_to(
            &fx.repo,
            &c2,
            &fx.path(name),
            "b",
            &["--max-layers", "0", "--previous", &prev],
        )
    };
    let via_prev = with_prev("via-prev");
    assert_eq!(via_prev["manifest_digest"], fresh["manifest_digest"]);
    assert!(last(&via_prev)["reused_block_bytes"].as_u64().unwrap() > total * 8 / 10);

    // An index that points at the wrong bytes: every block fails its check, nothing reused,
    // same bytes.
    let lines: Vec<&str> = text.lines().collect();
    let (head, rest) = lines.split_at(3);
    let (entries, end) = rest.split_at(rest.len() - 1);
    // Keep offsets and lengths in order (so the index parses) but give each entry the CRC and
    // length of its neighbour.
    let shuffled: Vec<String> = entries
        .iter()
        .enumerate()
        .map(|(i, l)| {
            let f: Vec<&str> = l.split(' ').collect();
            let next: Vec<&str> = entries[(i + 1) % entries.len()].split(' ').collect();
            format!("{} {} {} {} {}", next[0], next[1], f[2], f[3], f[4])
        })
        .collect();
    let lying = [head.join("\n"), shuffled.join("\n"), end.join("\n")].join("\n") + "\n";
    std::fs::write(&index, lying).unwrap();
    let lied_to = with_prev("lied-to");
    assert_eq!(lied_to["manifest_digest"], fresh["manifest_digest"]);
    assert_eq!(last(&lied_to)["reused_block_bytes"], 0, "{lied_to:#}");
    // Garbage: ignored.
    std::fs::write(&index, "not an index").unwrap();
    let garbage = with_prev("garbage");
    assert_eq!(garbage["manifest_digest"], fresh["manifest_digest"]);

    // oci-archive output holds the OCI layout only.
    let archive = fx.path("c2.ociarchive");
    encap_ok(job(&fx.repo, &c2, &archive, &["--max-layers", "0"]));
    let listing = Command::new("tar")
        .arg("tf")
        .arg(&archive)
        .output()
        .unwrap();
    let listing = String::from_utf8_lossy(&listing.stdout);
    assert!(listing.contains("index.json"), "{listing}");
    assert!(!listing.contains("ostree-encap-blocks"), "{listing}");
}

#[test]
fn rpm_database_groups_by_source_package() {
    let fx = Fixture::new("basic");
    let tree = fx.tree.clone();
    install_rpms(fx.dir.path(), &tree, "1.0", "1.0");
    assert!(tree.join("usr/lib/sysimage/rpm/rpmdb.sqlite").exists());
    let c1 = fx.commit_tree(&tree, "with rpms", "2025-04-01T00:00:00Z");
    let out = fx.path("oci");
    encap_to(&fx.repo, &c1, &out, "v1", &["--max-layers", "8"]);
    let comps = components_of(&out, "v1");
    let all: Vec<&str> = comps.iter().flat_map(|c| c.split(',')).collect();
    assert!(all.contains(&"foo") && all.contains(&"bar"), "{comps:?}");
    assert!(
        !all.contains(&"libfoo") && !all.contains(&"foo-tools"),
        "binaries must be grouped by source: {comps:?}"
    );
    // An update of foo changes foo's layer (and the rpmdb in the unowned layer), not bar's.
    install_rpms(fx.dir.path(), &tree, "1.1", "1.0");
    let c2 = fx.commit_tree(&tree, "foo 1.1", "2025-05-01T00:00:00Z");
    encap_to(&fx.repo, &c2, &out, "v2", &["--max-layers", "8"]);
    let d = json(&encap_ok([
        "diff",
        &format!("{}:v1", out.display()),
        &format!("{}:v2", out.display()),
        "--json",
    ]));
    let layer = |name: &str| {
        d["layers"]
            .as_array()
            .unwrap()
            .iter()
            .find(|l| {
                l["components"]
                    .as_str()
                    .is_some_and(|c| c.split(',').any(|x| x == name))
            })
            .cloned()
            .unwrap_or_else(|| panic!("no layer with {name}: {d:#}"))
    };
    assert_eq!(layer("bar")["reused"], true, "{d:#}");
    assert_eq!(layer("foo")["reused"], false, "{d:#}");
    let (repo, commit) = import(
        fx.dir.path(),
        &format!("ostree-unverified-image:oci:{}:v2", out.display()),
    )
    .unwrap();
    assert_eq!(commit, c2);
    ostree(&repo, ["fsck"]);
}

/// Layers far larger than a gzip block and a zstd job, so both compressors really split their
/// input across threads: the bytes must not depend on `--jobs`, and ostree-ext (a
/// single-member gzip reader) must import the commit unchanged.
#[test]
fn big_layers_compress_in_parallel_to_the_same_bytes() {
    let fx = Fixture::new("basic");
    let tree = fx.path("big");
    std::fs::create_dir_all(tree.join("usr/share/big")).unwrap();
    // Compressible text (long-range repeats make blocks matter) and incompressible noise.
    let words = pseudo_random("words", 4096);
    let text: Vec<u8> = (0..6_000_000u32)
        .map(|i| {
            let w = words[(i as usize / 7) % words.len()];
            if i % 7 == 6 {
                b' '
            } else {
                b'a' + w % 26
            }
        })
        .collect();
    for i in 0..4 {
        std::fs::write(
            tree.join(format!("usr/share/big/text{i}")),
            &text[i * 1000..],
        )
        .unwrap();
    }
    std::fs::write(
        tree.join("usr/share/big/noise"),
        pseudo_random("noise", 3_000_000),
    )
    .unwrap();
    let commit = fx.commit_tree(&tree, "big", "2025-01-01T00:00:00Z");
    for compression in ["gzip", "zstd"] {
        let mut digests = Vec::new();
        for jobs in ["1", "3"] {
            let out = fx.path(&format!("oci-{compression}-{jobs}"));
            let s = encap_to(
                &fx.repo,
                &commit,
                &out,
                "t",
                &[
                    "--max-layers",
                    "0",
                    "--compression",
                    compression,
                    "-j",
                    jobs,
                ],
            );
            digests.push(s["manifest_digest"].as_str().unwrap().to_string());
        }
        assert_eq!(
            digests[0], digests[1],
            "{compression}: --jobs changed the bytes"
        );
        let out = fx.path(&format!("oci-{compression}-3"));
        let imgref = format!("ostree-unverified-image:oci:{}:t", out.display());
        let (_, imported) = import(fx.dir.path(), &imgref)
            .unwrap_or_else(|e| panic!("{compression}: import failed: {e}"));
        assert_eq!(imported, commit, "{compression}");
    }
}

/// Chunk layers carry a key computed from the plan; a rebuild into the same directory finds
/// unchanged layers by key without reading their objects' content. Shown by corrupting an
/// object in the repo: the rebuild still succeeds with every chunk reused (and the same
/// bytes), while a build into a fresh directory, which must read it, names the object.
#[test]
fn rebuild_finds_layers_by_key_without_reading_objects() {
    let fx = Fixture::new("components");
    let repo = fx.repo_in_mode("bare-user");
    let out = fx.path("oci");
    let first = encap_to(&repo, FIXTURE_REF, &out, "a", &[]);
    let (m, _) = image(&out, "a");
    let chunks = &m["layers"].as_array().unwrap()[1..];
    assert!(!chunks.is_empty());
    for l in chunks {
        let key = l["annotations"]["ostree-encap.layer-key"].as_str().unwrap();
        let (digest, size) = key.split_once(' ').unwrap();
        assert!(digest.starts_with("sha256:") && digest.len() == 71, "{key}");
        assert!(size.parse::<u64>().unwrap() > 0, "{key}");
    }
    // Corrupt one regular-file object of a chunk layer (same size, so only reading notices).
    let victim = ostree(&repo, ["rev-parse", FIXTURE_REF]);
    let listing = ostree(&repo, ["ls", "-R", "-C", &victim, "/usr/lib/beta"]);
    let checksum = listing
        .lines()
        .find(|l| l.starts_with('-'))
        .and_then(|l| l.split_whitespace().nth(4))
        .unwrap()
        .to_string();
    let obj = repo.join(format!(
        "objects/{}/{}.file",
        &checksum[..2],
        &checksum[2..]
    ));
    let len = std::fs::metadata(&obj).unwrap().len() as usize;
    std::fs::write(&obj, pseudo_random("corrupt", len)).unwrap();
    let again = encap_to(&repo, FIXTURE_REF, &out, "b", &[]);
    assert_eq!(again["manifest_digest"], first["manifest_digest"]);
    assert!(
        again["layers"].as_array().unwrap()[1..]
            .iter()
            .all(|l| l["reused"] == true),
        "{again:#}"
    );
    let err = encap_err(job(&repo, FIXTURE_REF, &fx.path("fresh"), &[]));
    assert!(err.contains(&checksum), "{err}");
}

/// `--previous` from another directory or an oci-archive: unchanged chunk layers are copied
/// from it (verified) instead of compressed again, and the image is byte-identical to a fresh
/// build and verifies on its own.
#[test]
fn previous_image_blobs_are_copied_not_recompressed() {
    let fx = Fixture::new("components");
    let old = fx.path("old");
    encap_to(&fx.repo, FIXTURE_REF, &old, "a", &[]);
    let archive = fx.path("old.ociarchive");
    encap_ok(job(&fx.repo, FIXTURE_REF, &archive, &[]));
    let tree = fx.tree.clone();
    std::fs::write(tree.join("usr/lib/beta/b1"), pseudo_random("v2", 40_000)).unwrap();
    let c2 = fx.commit_tree(&tree, "beta changed", "2025-03-02T00:00:00Z");
    let fresh = encap_to(&fx.repo, &c2, &fx.path("fresh"), "b", &[]);
    for (name, prev) in [
        ("from-dir", format!("{}:a", old.display())),
        ("from-archive", archive.display().to_string()),
    ] {
        let out = fx.path(name);
        let s = encap_to(&fx.repo, &c2, &out, "b", &["--previous", &prev]);
        assert_eq!(s["manifest_digest"], fresh["manifest_digest"], "{name}");
        let layers = s["layers"].as_array().unwrap();
        let new: Vec<_> = layers.iter().filter(|l| l["reused"] == false).collect();
        assert_eq!(new.len(), 2, "only the commit layer and beta's: {s:#}");
        assert!(layers.len() > 3, "{s:#}");
        encap_ok(["verify", "--oci-dir", out.to_str().unwrap(), "--tag", "b"]);
        if name == "from-dir" {
            // Same filesystem: reused blobs are hard links to the previous layout's, not copies.
            use std::os::unix::fs::MetadataExt;
            let (m, _) = image(&old, "a");
            let shared = m["layers"]
                .as_array()
                .unwrap()
                .iter()
                .filter_map(|l| {
                    let hex = &l["digest"].as_str().unwrap()[7..];
                    let here = std::fs::metadata(out.join("blobs/sha256").join(hex)).ok()?;
                    let there = std::fs::metadata(old.join("blobs/sha256").join(hex)).unwrap();
                    Some(here.ino() == there.ino())
                })
                .collect::<Vec<_>>();
            assert_eq!(shared.len(), layers.len() - 2, "{shared:?}");
            assert!(shared.iter().all(|s| *s), "{shared:?}");
        }
    }
    // A previous image whose blob is corrupt is not trusted: the layer is compressed again.
    // (A new file, as bit rot in one copy would look; rewriting in place would also change
    // the outputs above, which share the inode.)
    let (m, _) = image(&old, "a");
    let victim = m["layers"][1]["digest"].as_str().unwrap();
    let path = old.join("blobs/sha256").join(&victim[7..]);
    let mut bytes = std::fs::read(&path).unwrap();
    let last = bytes.len() - 1;
    bytes[last] ^= 0xff;
    std::fs::remove_file(&path).unwrap();
    std::fs::write(&path, &bytes).unwrap();
    let out = fx.path("from-corrupt");
    let prev = format!("{}:a", old.display());
    let s = encap_to(&fx.repo, &c2, &out, "b", &["--previous", &prev]);
    assert_eq!(s["manifest_digest"], fresh["manifest_digest"]);
    encap_ok(["verify", "--oci-dir", out.to_str().unwrap(), "--tag", "b"]);
}

/// Across filesystems a previous blob cannot be hard-linked: it is copied, still checked, and
/// the image is the same. (`/dev/shm` is a mount of its own, so another device.)
#[test]
fn previous_on_another_filesystem_is_copied() {
    use std::os::unix::fs::MetadataExt;
    let shm = Path::new("/dev/shm");
    assert!(
        shm.is_dir(),
        "this test needs /dev/shm as a second filesystem"
    );
    let fx = Fixture::new("components");
    let elsewhere = tempfile::tempdir_in(shm).unwrap();
    let old = elsewhere.path().join("old");
    encap_to(&fx.repo, FIXTURE_REF, &old, "a", &[]);
    let tree = fx.tree.clone();
    std::fs::write(tree.join("usr/lib/beta/b1"), pseudo_random("v2", 40_000)).unwrap();
    let c2 = fx.commit_tree(&tree, "beta changed", "2025-03-02T00:00:00Z");
    let fresh = encap_to(&fx.repo, &c2, &fx.path("fresh"), "b", &[]);
    let out = fx.path("new");
    let prev = format!("{}:a", old.display());
    let s = encap_to(&fx.repo, &c2, &out, "b", &["--previous", &prev]);
    assert_eq!(s["manifest_digest"], fresh["manifest_digest"]);
    let blob = |dir: &Path, l: &serde_json::Value| {
        let d = l["digest"].as_str().unwrap();
        std::fs::metadata(dir.join("blobs/sha256").join(&d[7..])).unwrap()
    };
    let reused: Vec<_> = s["layers"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|l| l["reused"] == true)
        .collect();
    assert!(reused.len() > 2, "{s:#}");
    for l in reused {
        let (here, there) = (blob(&out, l), blob(&old, l));
        assert_ne!(
            here.dev(),
            there.dev(),
            "the two layouts are on different filesystems"
        );
        assert_eq!(here.len(), there.len());
    }
    encap_ok(["verify", "--oci-dir", out.to_str().unwrap(), "--tag", "b"]);
}

/// With `--previous` and no layer budget left, a new component joins a previous layer that
/// changes anyway (found by comparing layer keys), instead of forcing a merge of layers that
/// would otherwise be reused.
#[test]
fn previous_puts_new_components_where_they_cost_nothing() {
    let fx = Fixture::new("components");
    let old = fx.path("old");
    let a = encap_to(&fx.repo, FIXTURE_REF, &old, "a", &["--max-layers", "7"]);
    assert_eq!(a["layers"].as_array().unwrap().len(), 8, "{a:#}");
    let tree = fx.tree.clone();
    std::fs::write(tree.join("usr/lib/beta/b1"), pseudo_random("b1 v2", 50_000)).unwrap();
    let eps = tree.join("usr/lib/epsilon");
    std::fs::create_dir_all(&eps).unwrap();
    std::fs::write(eps.join("e1"), pseudo_random("e1", 5_000)).unwrap();
    run_ok(
        Command::new("setfattr")
            .args(["-n", "user.component", "-v", "epsilon"])
            .arg(&eps),
    );
    let c2 = fx.commit_tree(&tree, "beta changed, epsilon added", "2025-03-02T00:00:00Z");
    let prev = format!("{}:a", old.display());
    let b = encap_to(
        &fx.repo,
        &c2,
        &fx.path("new"),
        "b",
        &["--max-layers", "7", "--previous", &prev],
    );
    let layers = b["layers"].as_array().unwrap();
    assert_eq!(layers.len(), 8, "{b:#}");
    let new: Vec<_> = layers.iter().filter(|l| l["reused"] == false).collect();
    assert_eq!(new.len(), 2, "commit layer and beta's only: {b:#}");
    assert!(
        new.iter()
            .any(|l| l["components"] == serde_json::json!(["beta", "epsilon"])),
        "{b:#}"
    );
}

/// A tree of 5,000+ small files in 50 directories, with runs of 100 KB files (past a batch's
/// byte budget), files over 1 MiB (left to the writer), an empty file, a symlink and a hard
/// link, committed to a bare-user repo on branch `many`; returns (repo, commit).
fn many_files_repo(dir: &Path) -> (std::path::PathBuf, String) {
    let tree = dir.join("tree");
    for d in 0..50 {
        let sub = tree.join(format!("usr/share/many/d{d}"));
        std::fs::create_dir_all(&sub).unwrap();
        for f in 0..100 {
            std::fs::write(sub.join(format!("f{f}")), format!("file {d}/{f}\n")).unwrap();
        }
    }
    let big = tree.join("usr/share/many/d7/big");
    std::fs::create_dir_all(&big).unwrap();
    for i in 0..40u8 {
        std::fs::write(big.join(format!("b{i}")), vec![i; 100_000 + usize::from(i)]).unwrap();
    }
    std::fs::write(big.join("huge1"), pseudo_random("huge1", 1_500_000)).unwrap();
    std::fs::write(big.join("huge2"), pseudo_random("huge2", 3_000_000)).unwrap();
    std::fs::write(big.join("empty"), b"").unwrap();
    std::os::unix::fs::symlink("../d8/f1", big.join("link")).unwrap();
    std::fs::hard_link(big.join("b3"), big.join("b3-again")).unwrap();
    let repo = dir.join("repo");
    ostree(&repo, ["init", "--mode=bare-user"]);
    let commit = ostree(
        &repo,
        [
            "commit".to_string(),
            "--branch=many".into(),
            format!("--tree=dir={}", tree.display()),
            "--timestamp=2026-01-01T00:00:00Z".into(),
        ],
    );
    (repo, commit)
}

/// A layer of more objects than `BATCH_LAYER_MIN_OBJECTS` is read and tarred in batches by
/// several threads, big files and the tail of a full batch streamed by the writer: the
/// bytes must be the ones one thread writes, from every repo mode, and verify.
#[test]
fn many_files_are_written_alike_by_any_number_of_threads() {
    let dir = tempfile::tempdir().unwrap();
    let (repo, commit) = many_files_repo(dir.path());
    let archive = dir.path().join("archive");
    ostree(&archive, ["init", "--mode=archive"]);
    ostree(&archive, ["pull-local", repo.to_str().unwrap(), "many"]);
    let mut digests = BTreeMap::new();
    for (name, r) in [("bare-user", &repo), ("archive", &archive)] {
        for jobs in ["1", "3"] {
            for layers in ["0", "4"] {
                let out = dir.path().join(format!("out-{name}-{jobs}-{layers}"));
                let s = encap_to(r, &commit, &out, "t", &["-j", jobs, "--max-layers", layers]);
                let objects: u64 = s["layers"]
                    .as_array()
                    .unwrap()
                    .iter()
                    .map(|l| l["content_objects"].as_u64().unwrap_or(0))
                    .sum();
                assert!(objects > 5_000, "{s}");
                encap_ok(on_image("verify", &out, "t", &[]));
                digests
                    .entry(layers)
                    .or_insert_with(Vec::new)
                    .push((format!("{name} -j {jobs}"), s["manifest_digest"].clone()));
            }
        }
    }
    for (layers, runs) in digests {
        assert!(
            runs.iter().all(|(_, d)| *d == runs[0].1),
            "--max-layers {layers}: {runs:?}"
        );
    }
}

/// A damaged object read by a batch worker fails the run with the error that names it,
/// however far ahead the other workers are, and leaves no image behind.
#[test]
fn a_damaged_object_in_a_batched_layer_fails_the_run() {
    let dir = tempfile::tempdir().unwrap();
    let (repo, commit) = many_files_repo(dir.path());
    let listing = ostree(&repo, ["ls", "-C", &commit, "/usr/share/many/d30/f42"]);
    let checksum = listing.split_whitespace().nth(4).unwrap().to_string();
    let object = repo.join(format!(
        "objects/{}/{}.file",
        &checksum[..2],
        &checksum[2..]
    ));
    let mut bytes = std::fs::read(&object).unwrap();
    bytes[0] ^= 1;
    std::fs::write(&object, bytes).unwrap();
    let out = dir.path().join("out");
    let err = encap_err(job(&repo, &commit, &out, &["-j", "3", "--max-layers", "0"]));
    assert!(
        err.contains(&checksum) && err.contains("usr/share/many/d30/f42"),
        "{err}"
    );
    let index = out.join("index.json");
    assert!(
        !index.exists() || !std::fs::read_to_string(&index).unwrap().contains("sha256:"),
        "an image was written: {:?}",
        std::fs::read_to_string(&index)
    );
}
