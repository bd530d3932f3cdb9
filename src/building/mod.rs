//! Building an image: the request, checked before any work (`request`); request → plan →
//! layers → image into an open layout (`build`); the previous build and the layers already
//! made (`reuse`); layout directories and oci-archives, and cleaning up after a failed run
//! (`output`); the SBOM and provenance stored beside an image (`attached`, `provenance`);
//! derived images that keep their base's layers (`base`); the commit facts the metadata is
//! made from (`facts`).
//! Reads images through `reading`, never the other way.

pub mod attached;
pub mod base;
pub mod build;
pub mod facts;
pub mod output;
pub mod provenance;
pub mod request;
pub mod reuse;
