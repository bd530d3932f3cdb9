//! Updates between images, for clients that pull container images: oci-delta artifacts.
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
//!
//! (libostree's static deltas, the update format of `ostree pull`, are made by the root
//! crate, which holds the ostree bindings.)

pub mod oci_delta;
pub mod tree;
