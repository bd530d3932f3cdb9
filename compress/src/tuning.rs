//! Every setting that decides compressed bytes or compression speed, each with the
//! measurement that chose it. Changing one that decides bytes changes
//! [`crate::Compression::settings`], and so every layer key: a blob made with other settings
//! is never reused as if it were made with these.

/// gzip level, in libdeflate's scale. Level 5 with blocks of ~192 KiB (below) writes no more
/// bytes than level 6 did with ~96 KiB blocks, for 10% less CPU: corpus B single layer
/// 375.44 against 375.66 MB, 20.3 against 22.7 s CPU (three alternating runs each,
/// docs/performance.md); the bigger window more than pays for level 5's shorter searches. At
/// the same blocks level 5 costs 0.5% of bytes and saves ~14% of deflate CPU; level 7 saves
/// 0.3% for 43% more. Either way 1.7-3% smaller than zlib -6, what ostree-ext writes.
/// libdeflate is pinned (Cargo.lock) so the bytes are the same on every machine.
pub const GZIP_LEVEL: i32 = 5;
/// Input blocks of the parallel gzip writer are cut where the content says so (a gear hash
/// over the last 64 bytes has its top [`GZIP_BLOCK_BITS`] bits clear), at least
/// [`GZIP_BLOCK_MIN`] and at most [`GZIP_BLOCK_MAX`] bytes apart. Cut points that follow
/// content, not offsets, keep the output the same for any thread count, and let an unchanged
/// run of files in a changed layer be cut into the same blocks as last time, so their
/// compressed bytes can be reused ([`crate::blocks`]). Measured on the corpus update
/// (`compress/examples/cdc_try`, level 6): share of a changed layer's bytes in blocks the
/// previous build had / whole image: 32 KiB + 2^16 45% / 375.3 MB; 64 KiB + 2^17 (taken)
/// 39% / 372.9 MB; fixed 1 MiB blocks 1% / 370.9 MB (blocks share no window). 64 KiB + 2^17
/// with level 5 keeps the bytes of 32 KiB + 2^16 at level 6 for less CPU (see
/// [`GZIP_LEVEL`]); the rebuild of the ~5% update (A -> C, 64 chunks) went 1.32-1.41 ->
/// 1.40-1.53 s, still ~13% of a full build.
pub const GZIP_BLOCK_MIN: usize = 64 * 1024;
/// See [`GZIP_BLOCK_MIN`]: the mean block is about `MIN + 2^BITS` bytes.
pub const GZIP_BLOCK_BITS: u32 = 17;
/// See [`GZIP_BLOCK_MIN`]: bounds a block's memory, and the cost of a changed byte.
pub const GZIP_BLOCK_MAX: usize = 512 * 1024;
/// Blocks in flight per compressor thread in the gzip writer. Blocks average ~192 KiB, so
/// this is ~1.5 MiB per thread (4 MiB at worst), and every block buffer ends up touched to
/// the largest block it held. With 2 per thread (enough for 1 MiB blocks) the workers
/// starved whenever the reader stalled with ~96 KiB blocks (single-layer gzip 13.9 -> 13.0
/// s at 16); since layers are read by several threads (`encapsulate`'s batches) the reader
/// stalls less, and 16 held ~20 MB more at the peak of a 64-chunk build of a million files
/// (bench/many-files 1000000: 288 -> 268 MiB at 8).
pub const GZIP_IN_FLIGHT: usize = 8;
/// Block reuse offers at most this many blocks (~80 bytes of memory each, ~20 MiB; about 20
/// images of a 1 GB tree): a layout that keeps many builds must not make every build slower
/// and bigger in memory. The previous image's blocks are offered first.
pub const BLOCK_REUSE_MAX_BLOCKS: usize = 256 * 1024;
/// Block reuse tries at most this many blocks with the same length and CRC before compressing
/// (each try reads and inflates one block).
pub const BLOCK_REUSE_TRIES: usize = 4;
/// zstd level: zstd's default. It only sets what the parameters below leave alone (the
/// entropy stage, match sampling); the match finder itself is set here, which also pins it.
pub const ZSTD_LEVEL: i32 = 3;
/// zstd match finder: the single-hash "fast" one (what level 1 uses) with a 2^17-entry table,
/// a window of 2^23 and matches from 5 bytes, where level 3 alone uses "dfast" (two tables)
/// with a window of 2^21. Measured on corpus B's single-layer stream
/// (`compress/examples/zstd_params`, one worker, three alternating runs): 343.81 MB against
/// 343.78 MB for level 3 alone, ~14% less zstd CPU (median 6.22 against 7.24 s). The bigger
/// window finds what the simpler finder misses. Also measured: dfast with window 2^22 and a
/// 2^16 hash table, 344.05 MB at ~6% less CPU (session 6's first choice); fast with window
/// 2^22, 345.7 MB at -18%; fast with a 2^18 table, 342.4 MB at level 3's CPU. Decoders need
/// an 8 MiB window, far under every client's limit.
pub const ZSTD_STRATEGY: zstd::zstd_safe::Strategy = zstd::zstd_safe::Strategy::ZSTD_fast;
/// See [`ZSTD_STRATEGY`].
pub const ZSTD_WINDOW_LOG: u32 = 23;
/// See [`ZSTD_STRATEGY`].
pub const ZSTD_HASH_LOG: u32 = 17;
/// See [`ZSTD_STRATEGY`].
pub const ZSTD_MIN_MATCH: u32 = 5;
/// Input per zstd job in multithreaded mode: what level 3's window gave by default (zstd sizes
/// jobs at 4 windows). Each worker holds a job's input and output, so 32 MiB jobs (what the
/// larger window would default to) took peak RSS to 258 MiB with no gain in speed.
pub const ZSTD_JOB_SIZE: u32 = 8 * 1024 * 1024;
