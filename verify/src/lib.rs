//! Reading ostree container images back: the other direction from `encapsulate`.
//!
//! - [`stream`]: check decompressed layer streams the way an importer reads them (every
//!   entry, name and object checksum; the commit's tree complete and nothing beside it),
//!   optionally writing each object into a repository as it verifies.
//! - [`signature`]: GPG (through libostree) and ed25519 signatures of the commit.
//! - [`import`]: the repository side of an import: create or open it, one transaction,
//!   committed only when everything verified.
//! - [`targuard`]: a reader that bounds the tar entries the tar crate buffers whole (PAX
//!   headers, GNU long names), for every layer read from outside.
//!
//! The format's facts come from `ostree-format`, shared with the writer.

pub mod import;
pub mod signature;
pub mod stream;
pub mod targuard;

pub use stream::{StreamVerifier, VerifiedCommit, VerifyError};
