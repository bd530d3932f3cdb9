//! Read an ostree commit through libostree and write it as ostree container tar streams.
//!
//! - [`source`]: open a repo of any mode, resolve a ref, walk the tree into an [`Inventory`]
//!   (`source::inventory`: the objects and their paths, compactly).
//! - [`rootfs`]: make a commit of a plain tree (metadata objects only; `rootfs::files` hashes
//!   and later loads the tree's files), paths of any length (`longpath`).
//! - [`components`]: which object belongs to which component (`components::packages`: the
//!   rpm and dpkg databases read without their tools).
//! - [`export`]: write a planned layer ([`layering::LayerPlan`]) as a tar stream, recomputing
//!   every object checksum on the way (`export::order`: the stream order and the layer key).
//!   Content objects are read by `objread`: straight from the files of bare-user,
//!   bare-user-only and archive repos, through libostree otherwise.
//!
//! Reading such streams back is the `verify` crate's; the facts of the format both share
//! (names, paths, object kinds, checksums) are the `ostree-format` crate's.

pub mod components;
pub mod export;
mod longpath;
mod objread;
/// Entry points for the fuzz targets in `fuzz/` (feature `fuzzing`): private parsers of
/// outside bytes, reached exactly as the product reaches them.
#[cfg(feature = "fuzzing")]
pub mod fuzzing {
    pub use crate::objread::filez_content;
}
mod prefetch;
pub mod rootfs;
pub mod rpmdb;
pub mod source;
pub mod tarwrite;

pub use export::{layer_key, write_layer, LayerStats, OrderedLayer, StreamFormat};
use ostree_format::ObjKind;
pub use source::{open, open_tree, CommitInfo, Inventory, MetaValue, Source};

/// Errors reading a commit or writing its layers, typed so that a caller can tell a missing
/// repository from an unknown ref or a corrupt object; each names what is at fault. The CLI
/// prints them with their sources and exits 1 (`src/exit.rs`: one status for every error,
/// documented in docs/cli.md).
#[derive(Debug, thiserror::Error)]
pub enum EncapError {
    /// The repo path does not exist.
    #[error("repository {repo} does not exist")]
    RepoNotFound {
        /// Path as given.
        repo: String,
    },
    /// The path exists but libostree cannot open it as a repo.
    #[error("{repo} is not an ostree repository")]
    NotARepo {
        /// Path as given.
        repo: String,
        /// libostree's error.
        #[source]
        source: ostree::glib::Error,
    },
    /// Something that looks like a checksum but is not 64 lowercase hex digits.
    #[error("malformed commit checksum {rev:?}: a checksum is 64 lowercase hex digits")]
    MalformedChecksum {
        /// The rev as given.
        rev: String,
    },
    /// Hex digits that are neither a full checksum nor a branch: libostree would take them as
    /// a commit prefix, which silently changes meaning when a commit or branch is added.
    #[error("--ref {rev:?} is neither a full 64-hex commit checksum nor a branch in {repo}; give the full checksum (`ostree rev-parse {rev}` finds it)")]
    AbbreviatedChecksum {
        /// Repo path.
        repo: String,
        /// The rev as given.
        rev: String,
    },
    /// A ref that the repo does not have.
    #[error("ref {rev:?} not found in repository {repo}{}", known_hint(.known))]
    UnknownRef {
        /// Repo path.
        repo: String,
        /// The rev as given.
        rev: String,
        /// Some refs the repo has, for the hint.
        known: Vec<String>,
    },
    /// A checksum that names no commit in the repo.
    #[error("commit {commit} not found in repository {repo}")]
    UnknownCommit {
        /// Repo path.
        repo: String,
        /// Commit checksum.
        commit: String,
    },
    /// The commit is marked partial (pulled without all its objects).
    #[error("commit {commit} in {repo} is partial (not all of its objects were pulled); pull it fully first")]
    PartialCommit {
        /// Repo path.
        repo: String,
        /// Commit checksum.
        commit: String,
    },
    /// An object the commit needs is absent.
    #[error("{kind} object {checksum} (at {path}) is missing from repository {repo}")]
    MissingObject {
        /// Repo path.
        repo: String,
        /// Object kind.
        kind: ObjKind,
        /// Object checksum.
        checksum: String,
        /// A tree path that leads to it.
        path: String,
    },
    /// An object's bytes do not hash to its name.
    #[error("{kind} object {checksum} (at {path}) is corrupt: its content hashes to {actual}")]
    ChecksumMismatch {
        /// Object kind.
        kind: ObjKind,
        /// Expected checksum (its name).
        checksum: String,
        /// What the bytes hash to.
        actual: String,
        /// A tree path that leads to it.
        path: String,
    },
    /// An object cannot be read or parsed.
    #[error("{kind} object {checksum} (at {path}) is corrupt: {reason}")]
    Corrupt {
        /// Object kind.
        kind: ObjKind,
        /// Object checksum.
        checksum: String,
        /// A tree path that leads to it.
        path: String,
        /// What is wrong.
        reason: String,
    },
    /// The commit's rpm database cannot be read.
    #[error("rpm database {path} in the commit")]
    RpmDatabase {
        /// Its tar path.
        path: String,
        /// What went wrong.
        #[source]
        source: crate::rpmdb::RpmError,
    },
    /// A plain tree holds something the format cannot, or cannot be read.
    #[error("root filesystem {root}: {path}: {reason}")]
    Tree {
        /// The tree's root, as given.
        root: String,
        /// The path under the root.
        path: String,
        /// What is wrong.
        reason: String,
    },
    /// Some other libostree failure.
    #[error("repository {repo}: {what}")]
    Repo {
        /// Repo path.
        repo: String,
        /// What was being done.
        what: String,
        /// libostree's error.
        #[source]
        source: ostree::glib::Error,
    },

    /// A file the build reads whole (a package database, os-release) is over its limit.
    #[error(
        "{path} in the tree is {size} bytes, over the {limit}-byte limit for {what}: \
         refused rather than left out (its packages would be missing from the SBOM and \
         the layer plan)"
    )]
    TooLarge {
        /// Tar path of the file.
        path: String,
        /// Its size.
        size: u64,
        /// The limit.
        limit: u64,
        /// What kind of file it is.
        what: &'static str,
    },
    /// The plan does not fit the commit.
    #[error("invalid layer plan: {reason}")]
    Plan {
        /// What is wrong.
        reason: String,
    },
    /// Writing the output failed.
    #[error("{what}")]
    Io {
        /// What was being written.
        what: String,
        /// The I/O error.
        #[source]
        source: std::io::Error,
    },
}

fn known_hint(known: &[String]) -> String {
    if known.is_empty() {
        " (the repository has no refs)".into()
    } else {
        format!(" (refs in this repository include: {})", known.join(", "))
    }
}
