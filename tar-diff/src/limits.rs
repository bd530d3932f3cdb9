//! Every bound of the format and of this crate, with why.

/// Magic of a version 1 tar-diff: ops 0–4 only. Every applier accepts it (the Go tar-patch,
/// the `oci-delta` crate, composefs-oci's own applier before 0.9.3).
pub const MAGIC_V1: &[u8; 8] = b"tardf1\n\0";
/// Magic of a version 2 tar-diff (adds op 5, zstd `--patch-from` frames). Refused by this
/// crate's applier: we never write it, and older appliers refuse it too.
pub const MAGIC_V2: &[u8; 8] = b"tardf2\n\0";

/// Largest DATA payload written at once (the Go encoder's chunk size): appliers buffer one
/// payload at a time.
pub const MAX_DATA_CHUNK: usize = 4 << 20;
/// Largest OPEN path, as the Go and Rust appliers check.
pub const MAX_PATH: usize = 4096;
/// Largest ADD_DATA payload, as the Go and Rust appliers check.
pub const MAX_ADD_DATA: usize = 100 << 20;
/// Largest DATA payload this crate's applier takes: a hostile delta must not make it
/// allocate more (its own encoder writes at most [`MAX_DATA_CHUNK`]).
pub const MAX_APPLY_DATA: u64 = 64 << 20;

/// Largest file (new or old) that is diffed with bsdiff. The matcher holds the old file,
/// the new one, the old file's suffix array (4 bytes per byte) and the diff (1 byte per
/// byte): about 7× this per diff running, so two at a time on a 2-core machine stay under
/// 512 MiB. Larger changed files go as DATA (still COPY when unchanged). 32 MiB covers every
/// changed file of the Debian corpus update but none of its few whole-kernel-size blobs.
pub const MAX_DIFF_SIZE: u64 = 32 << 20;
/// Content of a file up to this size is held in memory while it is hashed; larger content
/// goes to an unlinked temporary file, so memory stays bounded whatever the layer holds.
pub const MAX_BUFFERED: u64 = MAX_DIFF_SIZE;
/// Files no larger than this many bytes beyond their source path's length are not worth
/// an OPEN (the Go encoder's rule): they go as DATA.
pub const OPEN_OVERHEAD: u64 = 4;
/// Sizes of a file and its diff source may differ by at most this factor...
pub const SIMILAR_RATIO: u64 = 10;
/// ...unless both are smaller than this (the Go encoder's rule).
pub const SIMILAR_SMALL: u64 = 64 << 10;
/// A bsdiff whose literal (extra) bytes are more than this fraction (in 1/256) of the new
/// file is not used: the file goes as DATA, which zstd compresses as well and the applier
/// need not read a source for.
pub const MAX_EXTRA_FRACTION_256: u64 = 192;
/// zstd level of the op stream by default (19: the op stream is made once and downloaded
/// by every client; level 19's window (8 MiB) stays under the 128 MiB decoder limit).
pub const DEFAULT_LEVEL: i32 = 19;
