//! ostree-encap: turn an ostree commit into a reproducible OCI image in the ostree container
//! format ("chunked v1"), and check such images.
//!
//! This crate is the orchestration over three libraries, in parse → plan → execute order:
//! [`encapsulate`] reads the commit and writes tar streams, [`layering`] plans which objects go
//! into which layer, [`manifest`] writes the OCI layout. The binaries only parse arguments and
//! render results; everything a front end needs is here, so the CLI and the coreos-assembler
//! plugin check and do the same things.
//!
//! - [`request`]: what to encapsulate, checked before any work; what a run reports.
//! - [`build`]: request → plan → layers → image, into an open layout.
//! - [`reuse`]: the previous build's layout and layers already made.
//! - [`output`]: layout directories and oci-archives, and cleaning up after a failed run.
//! - [`image_ref`]: the one parser for every image argument.
//! - [`push`]: copying an image to a registry with skopeo.
//! - [`signatures`]: sigstore signatures of pushed images, stored as registry attachments.
//! - [`serve`]: images as an ostree repository over HTTP (`ostree pull`).
//! - [`mirror`]: ostree repositories made of images (refs, deltas, summary).
//! - [`deltas`]: static deltas between images, stored beside them as OCI artifacts.
//! - [`codec`]: where `compress` meets the layout (encoders, media types, decoding).
//! - [`check`]: `verify` and `import`, reading images back.
//! - [`diff`]: what an update costs a client.
//! - [`index`]: one multi-arch image index from per-architecture images.
//! - [`exit`]: the exit status for an error, shared by both binaries.

/// `println!` for results, used by both binaries. Rust ignores SIGPIPE, so `println!` panics
/// when the reader has gone (`ostree-encap ... | head -1`); this returns [`StdoutClosed`]
/// instead, which `main` turns into a quiet exit with the status a SIGPIPE death gives in
/// shells, like other Unix tools — after the stack unwinds, so temporary directories (an
/// `--previous` archive's index) are still removed. Other write errors are returned as they
/// are. The calling function must return `anyhow::Result`.
#[macro_export]
macro_rules! out {
    ($($arg:tt)*) => {{
        use std::io::Write as _;
        if let Err(e) = writeln!(std::io::stdout().lock(), $($arg)*) {
            if e.kind() == std::io::ErrorKind::BrokenPipe {
                return Err(anyhow::Error::new($crate::exit::StdoutClosed));
            }
            return Err(anyhow::Error::from(e).context("writing to standard output"));
        }
    }};
}

pub mod build;
pub mod check;
pub mod codec;
pub mod deltas;
pub mod diff;
pub mod exit;
pub mod flatten;
pub mod image_ref;
pub mod index;
pub mod layer_objects;
pub mod mirror;
pub mod output;
mod parallel;
pub mod push;
pub mod request;
pub mod reuse;
pub mod serve;
pub mod signatures;
pub mod treecmp;
pub mod workdir;

pub use build::{commit_facts, encapsulate_into, host_arch};
pub use check::{import, verify, VerifyReport, VerifyRequest};
pub use diff::{diff, DiffLayer, DiffReport};
pub use image_ref::ImageRef;
pub use output::{encapsulate_to, open_layout, Target};
pub use request::{
    read_option_file, ChunkOptions, EncapsulateRequest, LayerSummary, NoProgress, Progress,
    RootfsInput, Summary, TreeInput,
};
pub use reuse::{open_previous, Previous};

pub use exit::StdoutClosed;
