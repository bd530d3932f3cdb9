//! How an image was built, as an in-toto statement with a SLSA provenance v1 predicate
//! (`--provenance`), stored beside the image as a referrer of it like the bill of materials:
//! what pipelines attach today with `cosign attest`. Plain data in, canonical JSON out: the
//! same build gives the same bytes (no clock is read, and no time is recorded: the image's
//! `created` is in the image it names).

use oci::types::Digest;
use serde_json::{json, Value};
use std::collections::BTreeMap;

/// The statement's `_type`.
pub const STATEMENT_TYPE: &str = "https://in-toto.io/Statement/v1";
/// The predicate's type, also the referrer's `in-toto.io/predicate-type` annotation.
pub const PREDICATE_TYPE: &str = "https://slsa.dev/provenance/v1";
/// What kind of build this is: the parameters below are ostree-encap's options.
pub const BUILD_TYPE: &str = "urn:ostree-encap:build:v1";
/// Who built it: this tool (its version is in `builder.version`).
pub const BUILDER_ID: &str = "urn:ostree-encap";

/// Where the image's content came from.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Input {
    /// A commit of a repository (`--repo`, `--ref`).
    Commit {
        /// The ref or checksum given.
        rev: String,
    },
    /// A root filesystem (`--rootfs DIR`).
    Tree {
        /// The directory given.
        path: String,
    },
    /// An image's layers (`--from IMAGE`).
    Image {
        /// The image argument given.
        reference: String,
    },
}

impl Input {
    /// Where the request's content comes from, as it was given.
    pub fn of(req: &crate::request::EncapsulateRequest) -> Input {
        match &req.rootfs {
            None => Input::Commit {
                rev: req.rev.clone(),
            },
            Some(r) => match &r.tree {
                crate::TreeInput::Dir(p) => Input::Tree {
                    path: p.display().to_string(),
                },
                crate::TreeInput::Image(i, _) => Input::Image {
                    reference: i.to_string(),
                },
            },
        }
    }

    /// Its kind (`commit`, `rootfs`, `image`) and the argument given.
    pub fn given(&self) -> (&'static str, &str) {
        match self {
            Input::Commit { rev } => ("commit", rev),
            Input::Tree { path } => ("rootfs", path),
            Input::Image { reference } => ("image", reference),
        }
    }
}

/// What a statement says.
#[derive(Debug, Clone)]
pub struct Build<'a> {
    /// The image built: its tag (or `image`) and manifest digest.
    pub name: &'a str,
    /// Its manifest digest.
    pub manifest: &'a Digest,
    /// The input.
    pub input: Input,
    /// The commit checksum the image holds (for a tree or an image: the commit made of it),
    /// a SHA-256 of the commit object.
    pub commit: &'a str,
    /// The options that shape the output (format, compression, layers, ...).
    pub options: BTreeMap<&'static str, Value>,
    /// The image the tree was derived from (`--base`) and its manifest digest: its layers
    /// are in the image as they were.
    pub base: Option<(String, Digest)>,
}

/// The in-toto statement of `b`.
pub fn statement(b: &Build<'_>) -> Value {
    let (kind, given) = b.input.given();
    let mut dependencies = vec![json!({
        "name": "ostree commit",
        "uri": format!("ostree:{}", b.commit),
        "digest": {"sha256": b.commit},
    })];
    if let Some((name, digest)) = &b.base {
        dependencies.push(json!({
            "name": "base image",
            "uri": name,
            "digest": {"sha256": digest.hex()},
        }));
    }
    json!({
        "_type": STATEMENT_TYPE,
        "subject": [{"name": b.name, "digest": {"sha256": b.manifest.hex()}}],
        "predicateType": PREDICATE_TYPE,
        "predicate": {
            "buildDefinition": {
                "buildType": BUILD_TYPE,
                "externalParameters": {
                    "source": {"kind": kind, "given": given},
                    "options": b.options,
                },
                "resolvedDependencies": dependencies,
            },
            "runDetails": {
                "builder": {
                    "id": BUILDER_ID,
                    "version": {"ostree-encap": env!("CARGO_PKG_VERSION")},
                },
            },
        },
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_statement_names_its_image_input_and_options_and_nothing_of_the_clock() {
        let manifest: Digest = format!("sha256:{}", "ab".repeat(32)).parse().unwrap();
        let commit = "cd".repeat(32);
        let b = Build {
            name: "latest",
            manifest: &manifest,
            input: Input::Tree {
                path: "/rootfs".into(),
            },
            commit: &commit,
            options: BTreeMap::from([("format", json!("plain"))]),
            base: Some(("oci:base".into(), manifest.clone())),
        };
        let s = statement(&b);
        assert_eq!(s["_type"], STATEMENT_TYPE);
        assert_eq!(s["subject"][0]["digest"]["sha256"], "ab".repeat(32));
        assert_eq!(s["predicateType"], PREDICATE_TYPE);
        let def = &s["predicate"]["buildDefinition"];
        assert_eq!(def["externalParameters"]["source"]["kind"], "rootfs");
        assert_eq!(def["externalParameters"]["options"]["format"], "plain");
        assert_eq!(def["resolvedDependencies"][0]["digest"]["sha256"], commit);
        assert_eq!(def["resolvedDependencies"][1]["uri"], "oci:base");
        assert_eq!(
            def["resolvedDependencies"][1]["digest"]["sha256"],
            "ab".repeat(32)
        );
        // Reproducible: the same build, the same bytes; no time anywhere.
        let bytes = oci::json::canonical(&s);
        assert_eq!(bytes, oci::json::canonical(&statement(&b)));
        let text = String::from_utf8(bytes).unwrap();
        assert!(
            !text.contains("startedOn") && !text.contains("finishedOn"),
            "{text}"
        );
    }
}
