//! The workspace's crates depend on each other as docs/architecture.md says ("Dependencies
//! point one way"), read from `cargo metadata`: a new dependency between our crates is a
//! change to the architecture, made here and in the docs together.

use std::collections::{BTreeMap, BTreeSet};

/// Each of our crates and the crates of ours it may depend on (normal dependencies).
const ALLOWED: [(&str, &[&str]); 15] = [
    ("layering", &[]),
    ("ostree-format", &[]),
    ("compress", &[]),
    ("signing", &[]),
    ("sbom", &[]),
    ("repo-server", &[]),
    // The tar-diff format knows tar streams, nothing of OCI or ostree.
    ("tar-diff", &[]),
    // Work on threads, results in order: knows nothing of what the work is.
    ("parallel", &[]),
    // Updates between images: oci-deltas (tar-diffs of layers) and static deltas.
    ("deltas", &["oci", "compress", "tar-diff", "parallel"]),
    // composefs digests: tar streams in, digests out, by the composefs-rs crates.
    ("sealing", &[]),
    ("oci", &["signing"]),
    ("encapsulate", &["layering", "ostree-format", "parallel"]),
    // The stream verifier and the writer share only the format's facts.
    ("verify", &["ostree-format"]),
    (
        "ostree-encap",
        &[
            "layering",
            "ostree-format",
            "compress",
            "signing",
            "sbom",
            "repo-server",
            "oci",
            "encapsulate",
            "verify",
            "deltas",
            "sealing",
            "parallel",
        ],
    ),
    (
        "cosa-plugin",
        &["ostree-encap", "oci", "compress", "encapsulate"],
    ),
];

#[test]
fn our_crates_depend_on_each_other_as_documented() {
    let out = std::process::Command::new(env!("CARGO"))
        .args([
            "metadata",
            "--no-deps",
            "--format-version",
            "1",
            "--offline",
        ])
        .current_dir(env!("CARGO_MANIFEST_DIR"))
        .output()
        .expect("running cargo metadata");
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let meta: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    let ours: BTreeSet<String> = meta["packages"]
        .as_array()
        .unwrap()
        .iter()
        .map(|p| p["name"].as_str().unwrap().to_string())
        .collect();
    let allowed: BTreeMap<&str, &[&str]> = ALLOWED.into_iter().collect();
    assert_eq!(
        ours,
        allowed
            .keys()
            .map(|k| k.to_string())
            .collect::<BTreeSet<_>>(),
        "a crate was added or removed: list it here and in docs/architecture.md"
    );
    let mut wrong = Vec::new();
    for p in meta["packages"].as_array().unwrap() {
        let name = p["name"].as_str().unwrap();
        for d in p["dependencies"].as_array().unwrap() {
            let dep = d["name"].as_str().unwrap();
            // Normal dependencies only: tests may use anything.
            if d["kind"].is_null() && ours.contains(dep) && !allowed[name].contains(&dep) {
                wrong.push(format!("{name} -> {dep}"));
            }
        }
    }
    assert_eq!(wrong, Vec::<String>::new());
}
