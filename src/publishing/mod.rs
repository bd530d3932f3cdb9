//! Publishing images: copying to registries with skopeo, static deltas carried along
//! (`push`), sigstore signatures stored as registry attachments (`signatures`), joining
//! per-architecture images into one index (`index`). The top family.

pub mod index;
pub mod push;
pub mod signatures;
