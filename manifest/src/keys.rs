//! Every label, annotation key, media type and limit of the image, in one place, each with
//! the reason it exists.

/// Config label (and manifest annotation) naming the ostree commit; importers read it to know
/// which commit the image carries.
pub const LABEL_COMMIT: &str = "ostree.commit";
/// The diffid of the last ostree layer. Layers after it are "derived" (container builds on
/// top); importers use it to split ostree content from the rest. Must be in `rootfs.diff_ids`
/// exactly once.
pub const LABEL_FINAL_DIFFID: &str = "ostree.final-diffid";
/// Set to `true` when the commit's metadata has `ostree.bootable`, so bootc/rpm-ostree accept
/// the image as a host image.
pub const LABEL_BOOTABLE: &str = "ostree.bootable";
/// bootc requires either this (`1`) or `ostree.bootable`; we set both for bootable commits.
pub const LABEL_BOOTC: &str = "containers.bootc";
/// Kernel version, from commit metadata `ostree.linux`.
pub const LABEL_LINUX: &str = "ostree.linux";
/// Image version, from commit metadata `version`; registries and UIs show it.
pub const LABEL_VERSION: &str = "org.opencontainers.image.version";
/// Tag name in `index.json`, as skopeo and podman read `oci:DIR:TAG`.
pub const ANNOTATION_REF_NAME: &str = "org.opencontainers.image.ref.name";
/// Layer annotation: a digest of everything a layer's blob is made from (object checksums,
/// paths, directory metadata, stream format, compression settings, and for the commit layer
/// the commit and its detached metadata), computed from
/// the plan without reading objects, then a space and the uncompressed size. A rebuild (same
/// directory or `--previous`) reuses a blob whose key matches without reading or hashing its
/// objects (the size is kept so its report stays complete). Ours alone; others ignore it.
pub const ANNOTATION_LAYER_KEY: &str = "ostree-encap.layer-key";
/// Layer annotation: comma-joined sorted component names of a chunk layer; tools detect
/// chunked images by every layer but the first carrying it.
pub const ANNOTATION_COMPONENTS: &str = "ostree.components";

/// Config label holding the chunk layout (JSON: component names of each chunk layer) that
/// `--previous` reads back. A config label because layer annotations are lost when images are
/// re-pushed by some tools, while the config blob travels unchanged.
pub const LABEL_LAYOUT: &str = "ostree-encap.layout";

/// Default number of chunk layers: ostree-ext's default, well under the limits below.
pub const DEFAULT_MAX_LAYERS: usize = 64;
/// Most chunk layers allowed without `--allow-many-layers`: Docker's overlay2 refuses images
/// of more than 128 layers (127 chunks + the commit layer).
pub const MAX_LAYERS_SAFE: usize = 127;
/// Hard upper bound even with `--allow-many-layers` (beyond it, nothing we know unpacks it).
pub const MAX_LAYERS_HARD: usize = 1000;

/// Labels a user must not set by hand: they describe the content and a wrong value would make
/// importers misread the image.
pub const RESERVED_LABELS: [&str; 3] = [LABEL_COMMIT, LABEL_FINAL_DIFFID, LABEL_LAYOUT];

/// Commit metadata keys read for the image.
pub mod meta {
    /// Image version.
    pub const VERSION: &str = "version";
    /// Bootable marker set by `ostree commit --bootable`.
    pub const BOOTABLE: &str = "ostree.bootable";
    /// Kernel version set by `ostree commit --bootable`.
    pub const LINUX: &str = "ostree.linux";
    /// Keys that may name the commit's CPU architecture, first match wins: ostree has no
    /// standard key, these are the ones build tools are known to write.
    pub const ARCHITECTURE: [&str; 3] = [
        "ostree.architecture",
        "coreos-assembler.basearch",
        "architecture",
    ];
}

/// OCI media types.
pub mod media {
    /// Image index (index.json).
    pub const INDEX: &str = "application/vnd.oci.image.index.v1+json";
    /// Image manifest.
    pub const MANIFEST: &str = "application/vnd.oci.image.manifest.v1+json";
    /// Image config.
    pub const CONFIG: &str = "application/vnd.oci.image.config.v1+json";
    /// Uncompressed layer.
    pub const LAYER_TAR: &str = "application/vnd.oci.image.layer.v1.tar";
    /// gzip layer: the only compressed type every deployed client (ostree-ext < 0.13.4 too)
    /// accepts, hence the default.
    pub const LAYER_GZIP: &str = "application/vnd.oci.image.layer.v1.tar+gzip";
    /// zstd layer.
    pub const LAYER_ZSTD: &str = "application/vnd.oci.image.layer.v1.tar+zstd";
}

/// OCI layout file names.
pub mod layout {
    /// Marker file of an OCI image layout.
    pub const OCI_LAYOUT: &str = "oci-layout";
    /// Its content.
    pub const OCI_LAYOUT_CONTENT: &str = "{\"imageLayoutVersion\":\"1.0.0\"}";
    /// The index.
    pub const INDEX_JSON: &str = "index.json";
    /// Blob directory.
    pub const BLOBS: &str = "blobs";
    /// sha256 blobs.
    pub const BLOBS_SHA256: &str = "blobs/sha256";
}

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
/// compressed bytes can be reused (`blocks`). Measured on the corpus update
/// (`manifest/examples/cdc_try`, level 6): share of a changed layer's bytes in blocks the
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
/// this is ~3 MiB per thread (8 MiB at worst); with 2 per thread (enough for 1 MiB blocks)
/// the workers starved whenever the reader stalled with ~96 KiB blocks: single-layer gzip
/// 13.9 -> 13.0 s.
pub const GZIP_IN_FLIGHT: usize = 16;
/// Directory of a layout (beside `blobs`) holding, per gzip blob we wrote, where each block's
/// compressed bytes lie in it (`blocks`), named by the blob's hex digest. A cache for
/// rebuilds: not part of the OCI layout, left out of archives, ignored when damaged.
pub const BLOCK_INDEX_DIR: &str = "ostree-encap-blocks";
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
/// (`manifest/examples/zstd_params`, one worker, three alternating runs): 343.81 MB against
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
/// A layer blob is fdatasynced in the background every this many bytes, so that the fsync
/// that makes it durable only writes the tail (see `syncbehind`). 32 MiB: a few syncs per
/// big layer, none for the many small ones.
pub const SYNC_BEHIND: u64 = 32 * 1024 * 1024;
/// Buffer between compressor and blob file.
pub const BLOB_BUFFER: usize = 256 * 1024;
/// Longest `created_by` history text; long component lists are cut (UIs show one line).
pub const MAX_CREATED_BY: usize = 1024;

/// Most threads `--jobs` may ask for. Layers are written `jobs` at a time, each with up to
/// `jobs` compressor threads; past a few hundred the threads only compete for memory (each
/// gzip worker keeps [`GZIP_IN_FLIGHT`] blocks), and the kernel may refuse to spawn them.
pub const MAX_JOBS: usize = 256;

/// Largest `--config` file: the OCI config's `config` member is a few KiB in practice
/// (Env, Cmd, Labels); a larger file is a mistake (`--config /dev/zero`), not an input.
pub const MAX_CONFIG_FILE: u64 = 4 * 1024 * 1024;

/// Largest `--contentmeta` file: ostree-ext's content-meta JSON lists every object's
/// checksum and its component, ~100 bytes per object; 256 MiB covers 2 million objects.
pub const MAX_CONTENTMETA_FILE: u64 = 256 * 1024 * 1024;

/// Largest key file (`--gpg-keyring`, `--ed25519-key FILE`): exported keyrings of a few keys
/// are kilobytes.
pub const MAX_KEY_FILE: u64 = 16 * 1024 * 1024;

/// Longest tag: the OCI distribution spec's tag grammar, `[A-Za-z0-9_][A-Za-z0-9._-]{0,127}`.
pub const MAX_TAG_LEN: usize = 128;

/// The GOARCH values an OCI `architecture` may take (the image spec defers to Go's list);
/// `--arch` and commit metadata also take the kernel/rpm aliases `spec::oci_arch` maps.
pub const GOARCH: [&str; 15] = [
    "386", "amd64", "arm", "arm64", "loong64", "mips", "mipsle", "mips64", "mips64le", "ppc64",
    "ppc64le", "riscv64", "s390x", "sparc64", "wasm",
];
