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

/// Config label holding the digest (`sha256:<hex>`) of the SPDX bill of materials written
/// beside the image (`--sbom FILE`): the document names the image's layers, so it cannot be
/// inside the image; the label binds the two (check with `sha256sum FILE`).
pub const LABEL_SBOM: &str = "ostree-encap.sbom";

/// The bill of materials stored as a referrer of its image (in the output layout or archive,
/// under the referrers tag; `push` carries it): what `syft` + ORAS or `cosign attach sbom`
/// do by hand, with the artifact type SPDX registers for its JSON.
pub mod sbom {
    /// The artifact's `artifactType`, and the media type of its one blob.
    pub const ARTIFACT_TYPE: &str = "application/spdx+json";
    /// The blob's title (file name).
    pub const FILE: &str = "sbom.spdx.json";
    /// Manifest and index-entry annotation marking our bill of materials (its value: the
    /// document's format), so that a rebuild replaces it.
    pub const ANNOTATION: &str = "ostree-encap.sbom";
    /// The annotation's value.
    pub const FORMAT: &str = "spdx-2.3";
}

/// The build's provenance (`--provenance`), an in-toto statement with a SLSA v1 predicate,
/// stored as a referrer of its image like the bill of materials: what `cosign attest` attaches
/// by hand; signed at push with a sigstore key as a cosign attestation (docs/cli.md).
pub mod provenance {
    /// The artifact's `artifactType`, and the media type of its one blob.
    pub const ARTIFACT_TYPE: &str = "application/vnd.in-toto+json";
    /// The blob's title (file name).
    pub const FILE: &str = "provenance.intoto.json";
    /// Manifest and index-entry annotation: the statement's predicate type, as ORAS and
    /// cosign's referrers name it.
    pub const ANNOTATION_PREDICATE: &str = "in-toto.io/predicate-type";
}

/// Default number of chunk layers: ostree-ext's default, well under the limits below.
pub const DEFAULT_MAX_LAYERS: usize = 64;
/// Most chunk layers allowed without `--allow-many-layers`: Docker's overlay2 refuses images
/// of more than 128 layers (127 chunks + the commit layer).
pub const MAX_LAYERS_SAFE: usize = 127;
/// Hard upper bound even with `--allow-many-layers` (beyond it, nothing we know unpacks it).
/// ostree-ext imports an ostree-format image's layers into a repository, never stacking them.
pub const MAX_LAYERS_HARD: usize = 1000;
/// Hard upper bound for a plain image (`--format plain`), whose layers a runtime stacks:
/// containers-storage (podman, buildah, bootc's storage) refuses more than 500 layers, and
/// the first layer holds the directories. Docker's overlay2 stops at 128 (see
/// [`MAX_LAYERS_SAFE`]); older bootc versions at 64.
pub const MAX_LAYERS_PLAIN: usize = 499;

/// Labels a user must not set by hand: they describe the content and a wrong value would make
/// importers misread the image.
pub const RESERVED_LABELS: [&str; 4] = [LABEL_COMMIT, LABEL_FINAL_DIFFID, LABEL_LAYOUT, LABEL_SBOM];

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
    /// Docker's gzip layer type, which images converted from Docker's format still carry;
    /// read, never written.
    pub const DOCKER_LAYER_GZIP: &str = "application/vnd.docker.image.rootfs.diff.tar.gzip";

    /// How a layer of `media_type` is compressed, by the name `compress::decoder` takes:
    /// `Some(Some("gzip"))`, `Some(Some("zstd"))`, `Some(None)` for a plain tar; `None` for
    /// a media type that is not a layer this tool reads.
    pub fn layer_coding(media_type: &str) -> Option<Option<&'static str>> {
        match media_type {
            LAYER_GZIP | DOCKER_LAYER_GZIP => Some(Some("gzip")),
            LAYER_ZSTD => Some(Some("zstd")),
            LAYER_TAR => Some(None),
            _ => None,
        }
    }
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

/// Directory of a layout (beside `blobs`) holding, per gzip blob we wrote, where each block's
/// compressed bytes lie in it (`blocks`), named by the blob's hex digest. A cache for
/// rebuilds: not part of the OCI layout, left out of archives, ignored when damaged.
pub const BLOCK_INDEX_DIR: &str = "ostree-encap-blocks";
/// Directory of a layout (beside `blobs`) holding, per layer blob a build with `--composefs`
/// wrote or read, the composefs entries read from its tar (`sealing::stored`), named by the
/// blob's hex digest: a rebuild that reuses the layer need not inflate and hash it again
/// (about 1 GB of SHA-512 for an OS image). A cache like the block index: not part of the
/// OCI layout, left out of archives, never copied from another layout, ignored when damaged.
/// It is trusted as the layout's own layers are (a build reuses a layer of its output
/// layout by its key without proof); `composefs-digest` and `verify` never read it.
pub const COMPOSEFS_ENTRIES_DIR: &str = "ostree-encap-composefs";

/// The caches kept beside a layout's blobs, one file per blob in a directory of each kind.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Sidecar {
    /// [`BLOCK_INDEX_DIR`].
    BlockIndex,
    /// [`COMPOSEFS_ENTRIES_DIR`].
    ComposefsEntries,
}

impl Sidecar {
    /// Every kind.
    pub const ALL: [Sidecar; 2] = [Sidecar::BlockIndex, Sidecar::ComposefsEntries];

    /// Its directory in the layout.
    pub fn dir(self) -> &'static str {
        match self {
            Sidecar::BlockIndex => BLOCK_INDEX_DIR,
            Sidecar::ComposefsEntries => COMPOSEFS_ENTRIES_DIR,
        }
    }
}
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
/// gzip worker keeps `compress::tuning::GZIP_IN_FLIGHT` blocks), and the kernel may refuse to spawn them.
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

/// oci-delta artifacts (containers/oci-delta): an update from one image to another as the
/// new image's manifest and config plus, for each changed layer, a tar-diff against the old
/// image's files or the layer itself. Values as the Go producer writes them and the Rust
/// consumers (`oci-delta` 0.1.1, composefs-oci 0.9.4) read them.
pub mod oci_delta {
    /// The artifact's `artifactType`: consumers refuse any other.
    pub const ARTIFACT_TYPE: &str = "application/vnd.io.github.containers.oci-delta.v1";
    /// Media type of a tar-diff blob.
    pub const TAR_DIFF: &str = "application/vnd.tar-diff";
    /// Manifest annotation (required): the old image's config digest, by which a client
    /// finds the image the delta applies to.
    pub const SOURCE_CONFIG: &str = "io.github.containers.delta.source-config";
    /// Manifest annotation: the old image's manifest digest (informational).
    pub const SOURCE: &str = "io.github.containers.delta.source";
    /// Manifest annotation: the new image's manifest digest (informational).
    pub const TARGET: &str = "io.github.containers.delta.target";
    /// Manifest annotation: JSON array of the new image's layer digests left out (the old
    /// image has their diff_ids); written only when not empty.
    pub const REUSED: &str = "io.github.containers.delta.reused";
    /// Manifest annotation: the diff_ids of those layers, in the same order.
    pub const REUSED_DIFF_ID: &str = "io.github.containers.delta.reused-diff-id";
    /// Layer annotation: what the entry is (one of the `CONTENT_*` values).
    pub const CONTENT: &str = "io.github.containers.delta.content";
    /// `CONTENT` of the new image's manifest, byte for byte.
    pub const CONTENT_MANIFEST: &str = "image-manifest";
    /// `CONTENT` of the new image's config, byte for byte.
    pub const CONTENT_CONFIG: &str = "image-config";
    /// `CONTENT` of a changed layer (a tar-diff, or the layer blob itself).
    pub const CONTENT_LAYER: &str = "image-layer";
    /// Layer annotation of an `image-layer`: the digest of the new image's layer it makes.
    pub const TO: &str = "io.github.containers.delta.to";
}

/// Static deltas stored beside an image as OCI 1.1 artifacts (`ostree-encap delta`): one
/// artifact manifest per delta, whose `subject` is the image the delta leads to, found
/// through the referrers tag schema (a tag `sha256-<hex of the subject digest>` on an image
/// index of the referrers) so that layouts and registries without the referrers API keep it.
pub mod delta {
    /// The artifact's `artifactType`.
    pub const ARTIFACT_TYPE: &str = "application/vnd.ostree.static-delta.v1";
    /// The superblock blob (a GVariant: the delta's metadata and the list of its parts).
    pub const SUPERBLOCK: &str = "application/vnd.ostree.static-delta.superblock.v1";
    /// One part blob (compressed operations and object data).
    pub const PART: &str = "application/vnd.ostree.static-delta.part.v1";
    /// The empty config the OCI 1.1 artifact guidance asks for, and its two bytes.
    pub const EMPTY_CONFIG: &str = "application/vnd.oci.empty.v1+json";
    /// Content of the empty config.
    pub const EMPTY_CONFIG_DATA: &[u8] = b"{}";
    /// Manifest and index-entry annotation: the commit the delta starts from.
    pub const ANNOTATION_FROM: &str = "org.ostree.static-delta.from";
    /// Manifest and index-entry annotation: the commit the delta leads to.
    pub const ANNOTATION_TO: &str = "org.ostree.static-delta.to";
    /// Layer annotation: the file's name in the delta's directory (`superblock`, `0`, ...).
    pub const ANNOTATION_TITLE: &str = "org.opencontainers.image.title";
    /// The superblock's file name.
    pub const SUPERBLOCK_FILE: &str = "superblock";
    /// Prefix of a referrers tag: `sha256-` then the subject digest's hex.
    pub const REFERRERS_TAG_PREFIX: &str = "sha256-";
}
