//! OCI images for ostree-encap: everything about the image that is not the ostree content.
//! It takes layer bytes through any [`LayerEncoder`] and never looks at which codec that is.
//!
//! - [`types`]: the JSON documents (descriptors, digests, manifests, configs, indexes), typed
//!   and checked on parse; [`json`]: their canonical serialization.
//! - [`spec`]: the image metadata as a pure plan (labels, created, architecture, config).
//! - [`keys`]: every label/annotation key, media type and limit, with the reason for each.
//! - [`ocidir`]: the layout directory (atomic blobs and index, locks, verified reads).
//! - [`hashing`]: SHA-256 on the way through readers and writers.
//! - [`archive`]: deterministic `oci-archive` tars.
//! - [`outfile`]: output files a user names, never replacing what is not a regular file.
//! - [`skopeo`]: copying an image to a registry, with credentials kept out of sight.
//! - [`faults`]: pause points for fault-injection tests (debug builds only).

pub mod archive;
pub mod faults;
pub mod hashing;
pub mod json;
pub mod keys;
pub mod ocidir;
pub mod outfile;
pub mod referrers;
pub mod skopeo;
pub mod spec;
mod syncbehind;
pub mod types;

pub use ocidir::{LayerEncoder, OciDir, OciError, WrittenLayer};
