//! Reading images back: the one parser for image arguments and opening what they name
//! (`image_ref`), layer decoding (`codec`), an image's layers applied to a directory
//! (`flatten`, for `--from` and plain images), `verify` and `import` (`check`), comparing
//! trees (`treecmp`), what an update costs (`diff`), and content objects read from layers at
//! any offset (`layer_objects`: block indexes, gzip checkpoints, zstd blocks; `serve` and
//! `import` for serving use them), composefs digests of an image (`composefs`). The lowest
//! family: it imports no other.

pub mod check;
pub mod codec;
pub mod composefs;
pub mod diff;
pub mod flatten;
pub mod image_ref;
pub mod layer_objects;
pub mod treecmp;
