//! A tar-diff encoder and applier: rebuild a new layer's tar, byte for byte, from the files
//! of an old image.
//!
//! A tar-diff (`application/vnd.tar-diff`, containers/tar-diff) is 8 magic bytes and one zstd
//! stream of operations: emit literal bytes (DATA), open a file of the old tree (OPEN), copy
//! from it (COPY), add literal deltas to its bytes (ADD_DATA, what bsdiff's diff part becomes),
//! seek in it (SEEK). The consumer (the `oci-delta` crate, composefs-oci, the Go tool) runs the
//! ops against the old image it already has and checks the result against the layer's diff_id.
//!
//! This crate is pure: it knows tar streams and the op format, nothing of OCI or ostree.
//! - [`tar`]: a streaming reader of tar members that keeps every byte (what is not file
//!   content is passed on as raw bytes), so that an encoder can emit the stream exactly.
//! - [`source`]: the old tree as the encoder sees it: which file holds the same bytes, which
//!   is similar enough to diff against (same path, else basename, else version-less stem).
//! - [`mod@encode`]: the encoder: OPEN/COPY for files the old tree holds, a bsdiff (the `bidiff`
//!   crate's matcher) turned into ADD_DATA/DATA/SEEK for similar files, DATA for the rest.
//! - [`mod@apply`]: an applier with every size bounded, for checking a delta before it ships.
//! - [`ops`]: the wire format (magic, op codes, varints) shared by both directions.
//!
//! The output is `tardf1` (ops 0–4), which every applier accepts; see `limits` for the bounds.

pub mod apply;
pub mod encode;
pub mod limits;
pub mod ops;
pub mod source;
pub mod tar;

#[cfg(test)]
mod tests;

pub use apply::{apply, ApplySource};
pub use encode::{encode, Options, Stats};
pub use source::{Source, SourceFile, SourceIndex};

/// What can go wrong while encoding or applying a tar-diff.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    /// Reading the input or writing the output failed.
    #[error("{0}")]
    Io(#[from] std::io::Error),
    /// The tar-diff stream is not one this crate accepts (bad magic, unknown op, a bound
    /// exceeded, a truncated record).
    #[error("tar-diff: {0}")]
    Format(String),
    /// The old tree does not hold what an op asks for.
    #[error("tar-diff source {path}: {reason}")]
    Source {
        /// The source path the op named.
        path: String,
        /// What was wrong.
        reason: String,
    },
}
