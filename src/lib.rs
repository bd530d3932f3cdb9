//! ostree-encap: turn an ostree commit into a reproducible OCI image in the ostree container
//! format ("chunked v1"), and check such images.
//!
//! This crate is the orchestration over the stage libraries: [`encapsulate`] reads the commit
//! (or makes one of a tree) and writes tar streams, [`layering`] plans which objects go into
//! which layer, [`oci`] writes and reads the layout, [`compress`] the layers' bytes, `verify`
//! checks streams. The binaries only parse arguments and render results; everything a front
//! end needs is here, so the CLI and the coreos-assembler plugin check and do the same things.
//!
//! Its modules sit in four families, each a folder, lowest first; a module imports from its
//! own family and the ones below, never above, and no two modules import each other around a
//! circle (`tests/module_graph.rs` checks both):
//!
//! - [`reading`]: images read back. [`image_ref`] (the one parser for image arguments, and
//!   opening what they name), [`codec`] (where `compress` meets the layout), [`flatten`] (an
//!   image's layers applied to a directory), [`check`] (`verify`, `import`), [`treecmp`],
//!   [`diff`](mod@diff) (what an update costs a client), [`layer_objects`] (content objects read
//!   from layers at any offset).
//! - [`building`]: images made. [`request`] (checked before any work; what a run reports),
//!   [`build`] (request → plan → layers → image), [`reuse`] (the previous build, layers
//!   already made), [`output`] (layouts and archives, cleanup after a failed run).
//! - [`repositories`]: images as ostree repositories. [`mirror`], [`deltas`] (static deltas
//!   as OCI artifacts), [`serve`] (for `ostree pull`).
//! - [`publishing`]: images sent on. [`push`], [`signatures`] (sigstore attachments),
//!   [`index`] (multi-arch indexes).
//!
//! Shared by all: [`workdir`] (locked work directories), [`optfile`] (files options name,
//! read with a limit), `parallel`, [`exit`] (the exit status for an error).

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

pub mod building;
pub mod exit;
pub mod optfile;
use ::parallel;
pub use parallel::threads;
pub mod publishing;
pub mod reading;
pub mod repositories;
pub mod workdir;

// Every module at its old path too (`crate::build`, `ostree_encap::flatten`, ...): callers
// and the modules themselves name modules, not families.
pub use building::{build, output, request, reuse};
pub use publishing::{index, push, signatures};
pub use reading::{check, codec, composefs, diff, flatten, image_ref, layer_objects, treecmp};
pub use repositories::{deltas, mirror, oci_deltas, serve};

pub use build::{commit_facts, encapsulate_into, host_arch};
pub use check::{import, verify, VerifyReport, VerifyRequest};
pub use diff::{diff, DiffLayer, DiffReport};
pub use image_ref::ImageRef;
pub use optfile::read_option_file;
pub use output::{encapsulate_to, open_layout, Target};
pub use request::{
    ChunkOptions, EncapsulateRequest, LayerSummary, NoProgress, Progress, RootfsInput, Summary,
    TreeInput,
};
pub use reuse::{open_previous, Previous};

pub use exit::StdoutClosed;
