//! Updates between images, stored beside the newer image as OCI artifacts under its
//! referrers tag (which `push` carries): oci-delta artifacts for clients that pull container
//! images (bootc, podman, composefs), and libostree's static deltas for `ostree pull`.
//!
//! An oci-delta artifact (containers/oci-delta) holds the new image's manifest and config
//! byte for byte and, for each layer the old image lacks (by diff_id), a tar-diff that
//! rebuilds the layer's tar from the old image's files, or the layer blob itself when that is
//! smaller. A client that has the old image downloads the artifact instead of the changed
//! layers and ends with the new image, same manifest digest.
//!
//! - [`oci_delta::plan`]: which layers are reused and which go in (plain data).
//! - [`oci_delta::create`]: the tar-diffs and the artifact, written into a layout.
//! - [`oci_delta::verify`]: a stored artifact checked against the old image: every
//!   annotation, every blob, every tar-diff applied and compared with its diff_id.
//! - [`tree`]: the old image's merged tree with the content of the files a step needs.
//! - [`static_delta`]: libostree's static deltas: generated in a repository, their
//!   timestamp pinned, stored as an artifact, read back, installed into a repository.
//!
//! The tar-diff format itself (encoder, applier) is the `tar-diff` crate's; opening images
//! by their command-line names and importing commits is the root crate's.

pub mod oci_delta;
pub mod static_delta;
pub mod tree;
