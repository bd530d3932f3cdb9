//! OCI image layout output for ostree-encap: blobs, config, manifest, index, archive.
//!
//! - [`keys`]: every label/annotation key, media type and limit, with the reason for each.
//! - [`spec`]: the image metadata as a pure plan (labels, created, architecture, config).
//! - [`ocidir`]: the layout directory (atomic blobs and index, verified reads).
//! - [`pgz`]: parallel, reproducible gzip for layer blobs (with `deflate_end`).
//! - [`hashing`]: SHA-256 on the way through readers and writers.
//! - [`archive`]: deterministic `oci-archive` tars.
//! - [`oci`]: the JSON documents; [`json`]: canonical serialization.

pub mod archive;
pub mod blocks;
mod deflate_end;
pub mod hashing;
pub mod json;
pub mod keys;
pub mod oci;
pub mod ocidir;
pub mod pgz;
pub mod skopeo;
pub mod spec;
mod syncbehind;

pub use ocidir::{Compression, OciDir, OciError, WrittenLayer};
