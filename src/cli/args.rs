//! The command line's shape: every subcommand and option, with the help text that teaches
//! it. Values are parsed here only as far as clap can; [`super::request`] turns them into
//! library requests.

use clap::{Args, Parser, Subcommand, ValueEnum};
pub(crate) use ostree_encap::push::PushArgs;
use std::path::PathBuf;

pub(crate) const AFTER_HELP: &str = "\
Examples:
  Encapsulate a branch into an OCI layout directory, tagged:
    ostree-encap --repo repo --ref fedora/x86_64/coreos/stable --oci-dir out --tag stable

  Write an oci-archive (what coreos-assembler stores) with zstd layers:
    ostree-encap --repo repo --ref 3f2a...e9 --oci-archive fcos.ociarchive --compression zstd

  Rechunk a root filesystem (a Containerfile build stage) without `ostree commit` first:
    ostree-encap --rootfs /rootfs --prune /dev --oci-archive /out/os.ociarchive

  Check an image the way an importer reads it, including the GPG signature:
    ostree-encap verify --oci-dir out --tag stable --repo repo --gpg-keyring key.gpg

Images are reproducible: the same commit gives the same digests on every run and from every
repo mode. Timestamps come from the commit (or --created / SOURCE_DATE_EPOCH), never the clock.

Rebuilds are cheap: building the next commit into the directory that holds the last one (or
with --previous) reuses unchanged layers, and for changed gzip layers the compressed blocks
that did not change (found through DIR/ostree-encap-blocks/, a cache beside the blobs; each
reused block is checked first, so the bytes are those of a fresh build).";

/// Turn an ostree commit into an OCI image in the ostree container format.
#[derive(Parser, Debug)]
#[command(
    name = "ostree-encap",
    version,
    about,
    long_about = "Turn an ostree commit into an OCI container image in the ostree container \
                  format (\"chunked v1\") that ostree-ext, rpm-ostree and bootc import back to the \
                  same commit checksum, signatures included.",
    after_help = AFTER_HELP,
    args_conflicts_with_subcommands = true
)]
pub(crate) struct Cli {
    #[command(subcommand)]
    pub(crate) command: Option<Command>,
    #[command(flatten)]
    pub(crate) encap: EncapArgs,
}

#[derive(Subcommand, Debug)]
pub(crate) enum Command {
    /// Read an image back the way an importer does and check every blob, object and signature.
    Verify(VerifyArgs),
    /// What updating from OLD to NEW costs a client: reused and new layers, bytes to download.
    Diff(DiffArgs),
    /// Copy an image to a registry (or any skopeo destination) with its digests unchanged.
    Push(PushCmdArgs),
    /// Import an image's commit into an ostree repo, checking every object as it is written.
    Import(ImportArgs),
    /// Join per-architecture images into one multi-arch image (an OCI image index).
    #[command(after_help = INDEX_AFTER_HELP)]
    Index(IndexArgs),
    /// Serve images as an ostree repository over HTTP, for `ostree pull`.
    #[command(after_help = SERVE_AFTER_HELP)]
    Serve(ServeArgs),
    /// Make or update an ostree repository from images, for any static web server.
    #[command(after_help = MIRROR_AFTER_HELP)]
    Mirror(MirrorArgs),
    /// Store an update from an older image beside a newer one: an oci-delta (for clients
    /// that pull images) or libostree's static delta (for `ostree pull`).
    #[command(after_help = DELTA_AFTER_HELP)]
    Delta(DeltaArgs),
    /// Print the composefs digest of an image (ours or another tool's): the fs-verity digest
    /// of the composefs EROFS of its merged filesystem, as bootc and composefs-oci compute it.
    #[command(after_help = COMPOSEFS_DIGEST_AFTER_HELP)]
    ComposefsDigest(ComposefsDigestArgs),
    /// Check an oci-delta against the image it starts from: every blob, every annotation,
    /// every layer rebuilt and compared with its diff_id.
    #[command(after_help = VERIFY_DELTA_AFTER_HELP)]
    VerifyDelta(VerifyDeltaArgs),
    /// Make a sigstore key pair for --sign-by-sigstore-private-key (cosign's format).
    #[command(after_help = GENERATE_KEY_AFTER_HELP)]
    GenerateSigstoreKey(GenerateKeyArgs),
    /// Write man pages and shell completions generated from this CLI (used by `make install`).
    #[command(hide = true)]
    GenerateDocs {
        /// Directory for man pages (section 1).
        #[arg(long)]
        man_dir: PathBuf,
        /// Directory for completions (bash, zsh, fish files).
        #[arg(long)]
        completions_dir: PathBuf,
    },
}

/// An image to read: an OCI layout directory or an oci-archive, and a tag.
#[derive(Args, Debug)]
pub(crate) struct ImageSource {
    /// OCI layout directory (DIR:TAG names the tag too).
    #[arg(
        long,
        value_name = "DIR[:TAG]",
        required_unless_present = "oci_archive",
        conflicts_with = "oci_archive"
    )]
    pub(crate) oci_dir: Option<String>,
    /// oci-archive file.
    #[arg(long, value_name = "FILE")]
    pub(crate) oci_archive: Option<PathBuf>,
    /// Tag of the image (default: the only image in the layout).
    #[arg(long)]
    pub(crate) tag: Option<String>,
}

impl ImageSource {
    /// The image these flags name (`--oci-dir DIR[:TAG]` or `--oci-archive FILE`, `--tag`).
    pub(crate) fn image_ref(&self) -> anyhow::Result<ostree_encap::ImageRef> {
        use ostree_encap::image_ref::{FileSystem, ImageRef};
        Ok(ImageRef::from_flags(
            self.oci_dir.as_deref(),
            self.oci_archive.as_deref(),
            self.tag.as_deref(),
            &FileSystem,
        )?)
    }
}

pub(crate) const SERVE_AFTER_HELP: &str = "\
Each image's commit is imported into a scratch archive repository in $TMPDIR, every object
checked (a damaged image is refused before the server listens), with its detached metadata
(signatures) as it is; the summary is written, and signed with --gpg-sign. Regular files are
not copied into it: each is made from its layer when asked for, checked again. gzip and
uncompressed layers (any writer's; an oci-archive is read in place) are read where they lie;
a zstd layer cannot be read at an offset, so it is decoded once at start into separately
deflated blocks in an unlinked file in $TMPDIR (a copy, smaller than the layer's tar). The
repository is served read-only (GET, HEAD, byte ranges) until SIGTERM or SIGINT, then
removed. On stderr: how many objects are made from layers and what is kept in unlinked
files, then one access log line per request: peer, method, path, status, body bytes.

Example:
  ostree-encap serve --oci-archive os.ociarchive --ref os/x86_64/stable --listen 0.0.0.0:8080
  # on a client:
  ostree remote add --gpg-import=os.gpg os http://server:8080
  ostree pull os os/x86_64/stable";

#[derive(Args, Debug)]
pub(crate) struct ServeArgs {
    /// OCI layout directory holding the images.
    #[arg(
        long,
        value_name = "DIR",
        required_unless_present = "oci_archive",
        conflicts_with = "oci_archive"
    )]
    pub(crate) oci_dir: Option<PathBuf>,
    /// oci-archive holding the image.
    #[arg(long, value_name = "FILE")]
    pub(crate) oci_archive: Option<PathBuf>,
    /// Serve the image tagged TAG (repeatable), as the ref its commit is bound to
    /// (ostree.ref-binding), else as ref TAG.
    #[arg(long = "tag", value_name = "TAG")]
    pub(crate) tags: Vec<String>,
    /// Serve the image tagged TAG (or the only image) as ref NAME (repeatable).
    #[arg(long = "ref", value_name = "NAME[=TAG]")]
    pub(crate) refs: Vec<String>,
    /// Address to listen on (port 0: any free port; the address is printed).
    #[arg(long, value_name = "ADDR:PORT", default_value = "127.0.0.1:8080")]
    pub(crate) listen: String,
    /// Threads opening files and making objects from layers (slow clients and idle
    /// connections hold none: they cost a task each, not a thread).
    #[arg(long, default_value_t = repo_server::WORKERS)]
    pub(crate) workers: usize,
    /// Connections open at once; more wait in the kernel's backlog and are served in turn.
    /// Each takes a file descriptor: keep it below the open-file limit (`ulimit -n`).
    #[arg(long, value_name = "N", default_value_t = repo_server::CONNECTIONS)]
    pub(crate) connections: usize,
    /// Seconds a request head may take to arrive whole, from the connection's opening or
    /// its last response: slow senders and idle kept-alive connections are closed after it.
    #[arg(long, value_name = "SECS", default_value_t = repo_server::HEADER_TIMEOUT)]
    pub(crate) header_timeout: u64,
    /// Seconds a response may stall (the client reads nothing) before the connection is
    /// closed.
    #[arg(long, value_name = "SECS", default_value_t = repo_server::STALL_TIMEOUT)]
    pub(crate) timeout: u64,
    /// Seconds a request may take, from its head to its last byte.
    #[arg(long, value_name = "SECS", default_value_t = repo_server::REQUEST_TIMEOUT)]
    pub(crate) request_timeout: u64,
    #[command(flatten)]
    pub(crate) summary_signing: SummarySignArgs,
}

pub(crate) const MIRROR_AFTER_HELP: &str = "\
Each image's commit is imported into the archive-mode repository (created if missing), every
object checked, with its detached metadata (signatures); its ref is the name --ref gives,
else the one ref its commit is bound to (ostree.ref-binding), else the image's tag. Then the
summary is written (signed with --gpg-sign). With --deltas, the static deltas stored beside
each image (`ostree-encap delta`) are added, and one is generated from the commit a ref
pointed at before to its new one. Re-running adds images and moves refs; nothing is pruned.

Example: carry releases to a machine without a registry, then update from the stick:
  ostree-encap mirror --repo /media/usb/os --deltas oci:out:42 oci:out:43
  ostree remote add --no-gpg-verify usb file:///media/usb/os && ostree pull usb os/stable";

#[derive(Args, Debug)]
pub(crate) struct MirrorArgs {
    /// Images to add (DIR, DIR:TAG, oci:DIR:TAG, oci-archive:FILE[:TAG]), each under the ref
    /// its commit is bound to, else its tag.
    #[arg(value_name = "IMAGE")]
    pub(crate) images: Vec<String>,
    /// Add IMAGE under ref NAME (repeatable).
    #[arg(long = "ref", value_name = "NAME=IMAGE")]
    pub(crate) refs: Vec<String>,
    /// The repository (archive mode; created if missing).
    #[arg(long, value_name = "DIR")]
    pub(crate) repo: PathBuf,
    /// Add the static deltas stored beside the images, and generate one from each ref's
    /// previous commit to its new one.
    #[arg(long)]
    pub(crate) deltas: bool,
    #[command(flatten)]
    pub(crate) summary_signing: SummarySignArgs,
    /// Print the refs and deltas as JSON.
    #[arg(long)]
    pub(crate) json: bool,
}

pub(crate) const DELTA_AFTER_HELP: &str = "\
Two kinds of update, both stored in DIR beside the new image as OCI 1.1 artifacts listed
under its referrers tag sha256-<hex of its manifest digest>, which `push` copies along.

--format oci-delta (containers/oci-delta, for bootc, podman and composefs clients): the new
image's manifest and config, and for each layer whose diff_id the old image lacks a
tar-diff that rebuilds the layer's tar byte for byte from the old image's files (copies of
unchanged files, bsdiff of changed ones, new bytes), or the layer itself when that is
smaller. Works for plain and ostree-format images; needs no ostree repository. --output
also writes it alone as a delta file (oci:DIR or oci-archive:FILE), which clients take
like an image: `composefs-oci pull oci-archive:FILE`. Check one with `verify-delta`.

--format ostree (the default; libostree's static delta, for `ostree pull` from `serve` and
`mirror`): both images are imported into a scratch repository in $TMPDIR with every object
checked, then libostree's generator runs (rollsum and bsdiff, lzma parts). Needs
ostree-format images.

Reproducible: the same two images give the same artifact digest.

Examples: build the update beside the last release, then add the deltas from it:
  ostree-encap --repo repo --ref os/stable --oci-dir out --tag 43 --previous out:42
  ostree-encap delta --format oci-delta --from out:42 --oci-dir out --to 43 \\
    --output oci-archive:update-42-43.ociarchive
  ostree-encap delta --from out:42 --oci-dir out --to 43";

/// `--composefs[=HOW]`.
#[derive(ValueEnum, Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum ComposefsArg {
    /// Annotations on the manifest and its config descriptor.
    Inline,
    /// A referrer artifact beside the image.
    Referrer,
}

/// `delta --format`.
#[derive(ValueEnum, Clone, Copy, Debug, PartialEq, Eq, Default)]
pub(crate) enum DeltaFormat {
    /// libostree's static delta, for `ostree pull`.
    #[default]
    Ostree,
    /// An oci-delta artifact with tar-diffs, for clients that pull images.
    OciDelta,
}

#[derive(Args, Debug)]
pub(crate) struct DeltaArgs {
    /// The older image (DIR, DIR:TAG or an oci-archive): the delta starts there.
    #[arg(long, value_name = "IMAGE")]
    pub(crate) from: String,
    /// OCI layout directory holding the newer image; the delta is stored here.
    #[arg(long, value_name = "DIR")]
    pub(crate) oci_dir: PathBuf,
    /// Tag of the newer image in DIR (default: its only image).
    #[arg(long, value_name = "TAG")]
    pub(crate) to: Option<String>,
    /// Which kind of update.
    #[arg(long, value_enum, default_value_t = DeltaFormat::Ostree)]
    pub(crate) format: DeltaFormat,
    /// With --format oci-delta: also write the delta alone as a delta file, oci:DIR (a new
    /// or empty directory) or oci-archive:FILE.
    #[arg(long, value_name = "DEST")]
    pub(crate) output: Option<String>,
    /// With --format oci-delta: layers encoded at once (default: one per CPU; each holds
    /// at most one bsdiff of a file up to 32 MiB). The delta is the same for any value.
    #[arg(long, short = 'j', default_value_t = 0, value_name = "N")]
    pub(crate) jobs: usize,
    /// Print the result as JSON.
    #[arg(long)]
    pub(crate) json: bool,
}

pub(crate) const COMPOSEFS_DIGEST_AFTER_HELP: &str = "\
The image's layers are merged as composefs-oci merges them (whiteouts applied, the most
derived directory metadata kept, hard links kept), then composefs-rs's OCI transform (/ takes
/usr's metadata, /run emptied, only security.capability xattrs kept) and its EROFS writer
(format V1) give the image whose fs-verity digest (SHA-512, 4 KiB blocks) this prints in hex.
--bootable prints the digest after the boot transform (/boot and /sysroot emptied, SELinux
labels from the image's own policy): the value a sealed UKI carries as
composefs.digest=v1-sha512-12:<hex>. --json prints both and the config's digest.

Examples:
  ostree-encap composefs-digest --oci-dir out:43
  ostree-encap composefs-digest --oci-archive os.ociarchive --bootable";

#[derive(Args, Debug)]
pub(crate) struct ComposefsDigestArgs {
    #[command(flatten)]
    pub(crate) image: ImageSource,
    /// Print the bootable variant's digest (fails for an image without /boot or /sysroot).
    #[arg(long)]
    pub(crate) bootable: bool,
    /// Layers read at once (default: one per CPU).
    #[arg(long, short = 'j', default_value_t = 0, value_name = "N")]
    pub(crate) jobs: usize,
    /// Print the digests as JSON.
    #[arg(long)]
    pub(crate) json: bool,
}

pub(crate) const VERIFY_DELTA_AFTER_HELP: &str = "\
Checks what a client would rely on, before anyone ships the delta: its artifactType; the
source-config annotation names the --from image's config; the new manifest and config it
carries (digests, diff_ids); each image-layer entry's delta.to names a layer of the new
image, exactly once; every new layer is either in the old image (by diff_id) or carried;
every tar-diff is applied against the old image's files and every carried layer
decompressed, and the result's sha256 must be the layer's diff_id.

Examples:
  ostree-encap verify-delta --delta oci-archive:update-42-43.ociarchive --from out:42
  ostree-encap verify-delta --oci-dir out --to 43 --from out:42   # the deltas stored beside 43";

#[derive(Args, Debug)]
pub(crate) struct VerifyDeltaArgs {
    /// A delta file: oci:DIR, DIR or oci-archive:FILE whose index lists the delta alone.
    #[arg(
        long,
        value_name = "DELTA",
        required_unless_present = "oci_dir",
        conflicts_with = "oci_dir"
    )]
    pub(crate) delta: Option<String>,
    /// Or: the layout holding the new image; the oci-deltas stored beside it that start
    /// from --from are checked.
    #[arg(long, value_name = "DIR")]
    pub(crate) oci_dir: Option<PathBuf>,
    /// With --oci-dir: the new image's tag (default: its only image).
    #[arg(long, value_name = "TAG", requires = "oci_dir")]
    pub(crate) to: Option<String>,
    /// The image the delta starts from (DIR, DIR:TAG or an oci-archive).
    #[arg(long, value_name = "IMAGE")]
    pub(crate) from: String,
    /// Layers checked at once (default: one per CPU).
    #[arg(long, short = 'j', default_value_t = 0, value_name = "N")]
    pub(crate) jobs: usize,
    /// Print the result as JSON.
    #[arg(long)]
    pub(crate) json: bool,
}

/// Signing a repository's summary (`serve`, `mirror`).
#[derive(Args, Debug)]
pub(crate) struct SummarySignArgs {
    /// Sign the summary with this GPG key.
    #[arg(long, value_name = "KEYID")]
    pub(crate) gpg_sign: Option<String>,
    /// GnuPG home for --gpg-sign.
    #[arg(long, value_name = "DIR", requires = "gpg_sign")]
    pub(crate) gpg_homedir: Option<PathBuf>,
}

impl SummarySignArgs {
    /// The signing these flags ask for, if any.
    pub(crate) fn signing(&self) -> Option<ostree_encap::mirror::SummarySigning> {
        self.gpg_sign
            .as_ref()
            .map(|k| ostree_encap::mirror::SummarySigning {
                key_id: k.clone(),
                homedir: self.gpg_homedir.clone(),
            })
    }
}

pub(crate) const GENERATE_KEY_AFTER_HELP: &str = "\
Writes PREFIX.private (an ECDSA P-256 key encrypted with the passphrase: PEM \"ENCRYPTED
SIGSTORE PRIVATE KEY\", as `cosign generate-key-pair` writes it; mode 0600) and PREFIX.pub
(the public key for policy.json's keyPath and `cosign verify --key`). Neither file may exist.

Example: make a key, push signed, and require the signature on pull:
  ostree-encap generate-sigstore-key --output-prefix os-signing --passphrase-file pass
  ostree-encap push --oci-dir out docker://registry.example/os:42 \\
      --sign-by-sigstore-private-key os-signing.private --sign-passphrase-file pass";

#[derive(Args, Debug)]
pub(crate) struct GenerateKeyArgs {
    /// Write PREFIX.private and PREFIX.pub.
    #[arg(long, value_name = "PREFIX")]
    pub(crate) output_prefix: PathBuf,
    /// The passphrase that encrypts the private key: the first line of FILE.
    #[arg(long, value_name = "FILE")]
    pub(crate) passphrase_file: PathBuf,
    /// Print the files written as JSON.
    #[arg(long)]
    pub(crate) json: bool,
}

#[derive(Args, Debug)]
pub(crate) struct ImportArgs {
    #[command(flatten)]
    pub(crate) image: ImageSource,
    /// Repository to import into (created in archive mode if missing).
    #[arg(long, value_name = "PATH")]
    pub(crate) repo: PathBuf,
    /// Point this branch at the imported commit.
    #[arg(long, value_name = "BRANCH")]
    pub(crate) branch: Option<String>,
    /// Print the report as JSON.
    #[arg(long)]
    pub(crate) json: bool,
}

#[derive(Args, Debug)]
pub(crate) struct PushCmdArgs {
    #[command(flatten)]
    pub(crate) image: ImageSource,
    /// Destination, with its transport: docker://registry/repo:tag, oci:DIR:TAG, ...
    pub(crate) dest: String,
    #[command(flatten)]
    pub(crate) push: PushArgs,
    /// Print the result as JSON.
    #[arg(long)]
    pub(crate) json: bool,
}

pub(crate) const INDEX_AFTER_HELP: &str = "\
Each image's platform comes from its config (os, architecture, variant; arm64 is listed as
arm64/v8, as clients ask for it). Entries are sorted by platform and the index is canonical
JSON: the same images give the same index digest. Refused: two images for one platform, an
image without an architecture or with one that is not a GOARCH value, and images whose
org.opencontainers.image.version labels differ (unless --allow-mixed-versions).

Example: build each architecture on its own builder, then join and push:
  ostree-encap --repo repo --ref os/x86_64 --arch amd64 --oci-dir amd64
  ostree-encap --repo repo --ref os/aarch64 --arch arm64 --oci-dir arm64
  ostree-encap index --oci-dir os --tag 42 amd64 arm64
  skopeo copy --all --preserve-digests oci:os:42 docker://registry.example/os:42";

#[derive(Args, Debug)]
pub(crate) struct IndexArgs {
    /// Output OCI layout directory (created if missing): the index and every image's blobs
    /// (hard-linked from the inputs where the filesystem allows, else copied).
    #[arg(long, value_name = "DIR")]
    pub(crate) oci_dir: PathBuf,
    /// Tag the index in the output layout.
    #[arg(long)]
    pub(crate) tag: Option<String>,
    /// Join images whose org.opencontainers.image.version labels differ.
    #[arg(long)]
    pub(crate) allow_mixed_versions: bool,
    /// Then copy the index and every image it lists to DEST (docker://REGISTRY/REPO:TAG, or
    /// any skopeo destination), digests unchanged.
    #[arg(long, value_name = "DEST")]
    pub(crate) push: Option<String>,
    #[command(flatten)]
    pub(crate) push_opts: PushArgs,
    /// Print the result as JSON.
    #[arg(long)]
    pub(crate) json: bool,
    /// For docker:// images: require HTTPS and verify certificates (default true).
    #[arg(long, value_name = "BOOL")]
    pub(crate) src_tls_verify: Option<bool>,
    /// For docker:// images: auth file (auth.json format); its content is never printed.
    #[arg(long, value_name = "FILE")]
    pub(crate) src_authfile: Option<PathBuf>,
    /// For docker:// images: directory with certificates (*.crt, *.cert, *.key).
    #[arg(long, value_name = "DIR")]
    pub(crate) src_cert_dir: Option<PathBuf>,
    /// The per-architecture images, one per platform: DIR, DIR:TAG, an oci-archive, or
    /// docker://REF (read from the registry; its layers are fetched only when OUT must hold
    /// them: not when every image is already in the --push repository).
    #[arg(required = true, value_name = "IMAGE")]
    pub(crate) images: Vec<String>,
}

#[derive(Args, Debug)]
pub(crate) struct DiffArgs {
    /// The image the client has: DIR, DIR:TAG or an oci-archive.
    pub(crate) old: String,
    /// The image it updates to.
    pub(crate) new: String,
    /// Print a machine-readable JSON report.
    #[arg(long)]
    pub(crate) json: bool,
}

#[derive(Args, Debug)]
// The --src-* options reach the images a build reads: --from's and --base's.
#[group(id = "read_images", args = ["from", "base"], multiple = true)]
pub(crate) struct EncapArgs {
    /// Source ostree repository (any mode: archive, bare, bare-user, bare-user-only).
    #[arg(long, value_name = "PATH")]
    pub(crate) repo: Option<PathBuf>,
    /// Commit to encapsulate: a branch, REMOTE:REF, or a full 64-hex checksum.
    #[arg(long = "ref", value_name = "REF")]
    pub(crate) rev: Option<String>,
    /// Encapsulate a plain root filesystem instead of a commit (a Containerfile build stage,
    /// a mounted image): it is made into a commit on the fly, as `ostree commit` would, without
    /// copying its content. A top-level etc is committed as usr/etc (see docs/rechunking.md).
    #[arg(long, value_name = "DIR", conflicts_with_all = ["repo", "rev"])]
    pub(crate) rootfs: Option<PathBuf>,
    /// Encapsulate the filesystem of an image (DIR[:TAG], an oci-archive, or any skopeo
    /// source: containers-storage:NAME, docker://REF): its layers are applied in order, OCI
    /// whiteouts included, to a work directory under $TMPDIR, then taken as --rootfs.
    #[arg(long, value_name = "IMAGE", conflicts_with_all = ["repo", "rev", "rootfs"])]
    pub(crate) from: Option<String>,
    /// The image the --from or --rootfs tree was derived from (DIR[:TAG], an oci-archive,
    /// or any skopeo source): its layers go first into the new image, unchanged, so that every
    /// image derived from it shares them; only what the tree adds, changes or removes on top
    /// of it is planned into new layers (whiteouts for removals). On an ostree-format base
    /// (a bootc base) they are plain derived layers, as a container build makes, and the
    /// image keeps the base's labels; a plain base takes --format plain.
    #[arg(long, value_name = "IMAGE")]
    pub(crate) base: Option<String>,
    /// With --from or --base a registry: require HTTPS and verify certificates (default true).
    #[arg(long, value_name = "BOOL", requires = "read_images")]
    pub(crate) src_tls_verify: Option<bool>,
    /// With --from or --base a registry: auth file (auth.json format); never printed.
    #[arg(long, value_name = "FILE", requires = "read_images")]
    pub(crate) src_authfile: Option<PathBuf>,
    /// With --from or --base a registry: directory with certificates (*.crt, *.cert, *.key).
    #[arg(long, value_name = "DIR", requires = "read_images")]
    pub(crate) src_cert_dir: Option<PathBuf>,
    /// Leave PATH (and everything below it) out of the --rootfs or --from tree (repeatable),
    /// e.g. --prune /sysroot.
    #[arg(long, value_name = "PATH")]
    pub(crate) prune: Vec<String>,
    /// Write an OCI image layout here (created if missing; other tags in it are kept).
    #[arg(long, value_name = "DIR", conflicts_with = "oci_archive")]
    pub(crate) oci_dir: Option<PathBuf>,
    /// Write an oci-archive file instead of a directory (replaced atomically).
    #[arg(long, value_name = "FILE")]
    pub(crate) oci_archive: Option<PathBuf>,
    /// Tag of the image in the layout (org.opencontainers.image.ref.name).
    #[arg(long)]
    pub(crate) tag: Option<String>,
    /// Config label KEY=VALUE (repeatable; also copied to manifest annotations).
    #[arg(long = "label", value_name = "KEY=VALUE")]
    pub(crate) labels: Vec<String>,
    /// Manifest-only annotation KEY=VALUE (repeatable).
    #[arg(long = "annotation", value_name = "KEY=VALUE")]
    pub(crate) annotations: Vec<String>,
    /// Copy a commit metadata string key to a label; error if the commit lacks it.
    #[arg(long = "copymeta", value_name = "KEY")]
    pub(crate) copymeta: Vec<String>,
    /// Copy a commit metadata string key to a label if present.
    #[arg(long = "copymeta-opt", value_name = "KEY")]
    pub(crate) copymeta_opt: Vec<String>,
    /// JSON file with the OCI config's `config` member (Env, Entrypoint, Cmd, Labels, ...).
    #[arg(long, value_name = "FILE")]
    pub(crate) config: Option<PathBuf>,
    /// Container command (sets Cmd); takes the rest of the arguments.
    #[arg(long, num_args = 1.., allow_hyphen_values = true, value_name = "ARG")]
    pub(crate) cmd: Option<Vec<String>>,
    /// Image architecture (default: the commit's architecture metadata, else the host's).
    #[arg(long, value_name = "ARCH")]
    pub(crate) arch: Option<String>,
    /// Image creation time, RFC 3339 (default: SOURCE_DATE_EPOCH if set, else the commit time).
    #[arg(long, value_name = "RFC3339")]
    pub(crate) created: Option<String>,
    /// Layer compression.
    #[arg(long, value_enum, default_value_t = CompressionArg::Gzip)]
    pub(crate) compression: CompressionArg,
    /// Image format: the ostree container format, or the filesystem itself (bootc-style).
    #[arg(long, value_enum, default_value_t = FormatArg::Ostree)]
    pub(crate) format: FormatArg,
    /// Chunk layers besides the commit layer (0: one layer holding everything).
    #[arg(long, default_value_t = oci::keys::DEFAULT_MAX_LAYERS, value_name = "N")]
    pub(crate) max_layers: usize,
    /// Allow more than 127 chunk layers (Docker's overlay2 cannot unpack such images).
    #[arg(long)]
    pub(crate) allow_many_layers: bool,
    /// Where components (the units layers are cut along) come from.
    #[arg(long, value_enum, default_value_t = ComponentsArg::Auto)]
    pub(crate) components: ComponentsArg,
    /// Do not use user.component xattrs.
    #[arg(long)]
    pub(crate) no_xattr_components: bool,
    /// Do not read the package database (dpkg) in the commit.
    #[arg(long)]
    pub(crate) no_package_components: bool,
    /// Content-meta JSON mapping objects to components (the format the ostree-ext CLI takes).
    #[arg(long, value_name = "FILE")]
    pub(crate) contentmeta: Option<PathBuf>,
    /// Also write a bill of materials to FILE: SPDX 2.3 JSON listing the installed rpm or
    /// dpkg packages (name, version, source package, architecture, license where the
    /// database has one, PURL) and the layer holding each; its digest goes into the config
    /// label ostree-encap.sbom. Written once the image is in place; reproducible.
    #[arg(long, value_name = "FILE")]
    pub(crate) sbom: Option<PathBuf>,
    /// Also store how the image was built beside it: an in-toto statement with a SLSA
    /// provenance v1 predicate (input, commit, options, tool version; no time), a referrer
    /// of the image under its referrers tag, carried by push like the SBOM. Reproducible.
    #[arg(long)]
    pub(crate) provenance: bool,
    /// Also compute the image's composefs digests (as bootc and composefs-oci compute them:
    /// the merged image's EROFS, its bootable variant, the config) and publish them as the
    /// composefs sealing draft's annotations: composefs.merged.erofs.v1.fsverity-sha512-12
    /// and composefs.merged.bootable… on the manifest, composefs.config… on its config
    /// descriptor (`--composefs` or `--composefs=inline`); or `--composefs=referrer`: as the
    /// draft's referrer artifact (application/vnd.composefs.metadata.v1, under the image's
    /// referrers tag, carried by push), the image itself unchanged. Images built without it
    /// are unchanged. Each layer's composefs entries are kept in DIR/ostree-encap-composefs/
    /// (a cache, like DIR/ostree-encap-blocks/), so a rebuild does not read the layers it
    /// reuses again. See `composefs-digest`.
    #[arg(long, value_enum, num_args = 0..=1, require_equals = true, default_missing_value = "inline", value_name = "HOW")]
    pub(crate) composefs: Option<ComposefsArg>,
    /// The previous build's image (DIR, DIR:TAG, oci-archive, or manifest JSON): keep its
    /// layout where it still fits, so updates download less; reuse its unchanged layers and
    /// (from a DIR) unchanged gzip blocks instead of compressing them again.
    #[arg(long, value_name = "IMAGE")]
    pub(crate) previous: Option<String>,
    /// Also store the static delta from --previous's commit to the new one in the output
    /// layout, as `ostree-encap delta` does (needs --oci-dir, and a --previous image, not
    /// a manifest file).
    #[arg(long, requires_all = ["previous", "oci_dir"])]
    pub(crate) static_delta: bool,
    /// Also store an update from --previous beside the new image: `oci-delta` (tar-diffs,
    /// for clients that pull images: bootc, podman, composefs) or `ostree` (libostree's
    /// static delta, for `ostree pull`; the same as --static-delta), as `ostree-encap delta`
    /// does. Needs --oci-dir and a --previous image, not a manifest file.
    #[arg(long, value_enum, value_name = "KIND", requires_all = ["previous", "oci_dir"], conflicts_with = "static_delta")]
    pub(crate) delta: Option<DeltaFormat>,
    /// Threads: layers written at once, and compressor threads per layer (default: one per
    /// CPU). The output is the same for any value.
    #[arg(long, short = 'j', default_value_t = 0, value_name = "N")]
    pub(crate) jobs: usize,
    /// After writing, copy the image here with skopeo (e.g. docker://registry/os/image:tag).
    #[arg(long, value_name = "DEST")]
    pub(crate) push: Option<String>,
    #[command(flatten)]
    pub(crate) push_opts: PushArgs,
    /// Print a machine-readable JSON summary on stdout.
    #[arg(long)]
    pub(crate) json: bool,
    /// No progress output.
    #[arg(long, short)]
    pub(crate) quiet: bool,
    /// Print the wall time of each phase on stderr (read tree, components, plan, write
    /// layers, assemble), also with --quiet or --json: where a slow build spends its time.
    #[arg(long)]
    pub(crate) timings: bool,
}

#[derive(Args, Debug)]
pub(crate) struct VerifyArgs {
    #[command(flatten)]
    pub(crate) image: ImageSource,
    /// Also require the commit to match this repository.
    #[arg(long, value_name = "PATH")]
    pub(crate) repo: Option<PathBuf>,
    /// With --repo: the ref whose commit the image must carry.
    #[arg(long = "ref", value_name = "REF", requires = "repo")]
    pub(crate) rev: Option<String>,
    /// Verify the commit's GPG signature against this keyring file (gpg --export output).
    #[arg(long, value_name = "FILE")]
    pub(crate) gpg_keyring: Option<PathBuf>,
    /// Verify the commit's ed25519 signature with this base64 public key (or a file of them).
    #[arg(long, value_name = "KEY")]
    pub(crate) ed25519_key: Option<String>,
    /// Also require the stream order ostree-encap writes (content objects in path order).
    /// Default: on for images ostree-encap made (they carry its layer keys), off for
    /// images of other writers (ostree-ext, rpm-ostree write checksum order).
    #[arg(long, overrides_with = "no_strict")]
    pub(crate) strict: bool,
    /// Never require ostree-encap's own stream order.
    #[arg(long)]
    pub(crate) no_strict: bool,
    /// A plain image (--format plain): also require its filesystem to equal this tree
    /// (paths, types, owners, modes, contents, links, xattrs; not times).
    #[arg(long, value_name = "DIR")]
    pub(crate) rootfs: Option<PathBuf>,
    /// With --rootfs: paths left out of the image when it was made (repeatable).
    #[arg(long, value_name = "PATH", requires = "rootfs")]
    pub(crate) prune: Vec<String>,
    /// Print a machine-readable JSON report on stdout.
    #[arg(long)]
    pub(crate) json: bool,
}

/// `--compression`.
#[derive(ValueEnum, Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum CompressionArg {
    /// gzip by libdeflate at level 5: every client reads it.
    Gzip,
    /// zstd at level 3 with the fast match finder and an 8 MiB window, multithreaded: faster
    /// to write and to read; the client must read zstd layers.
    Zstd,
    /// Uncompressed tar layers.
    None,
}

impl From<CompressionArg> for compress::Compression {
    fn from(c: CompressionArg) -> Self {
        match c {
            CompressionArg::Gzip => compress::Compression::Gzip,
            CompressionArg::Zstd => compress::Compression::Zstd,
            CompressionArg::None => compress::Compression::None,
        }
    }
}

/// `--format`.
#[derive(ValueEnum, Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum FormatArg {
    /// The ostree container format: ostree-ext, rpm-ostree and bootc import it to the same
    /// commit checksum, signatures included.
    Ostree,
    /// The filesystem itself, as chunkah and build-chunked-oci write bootable images: files
    /// at their paths, hard links kept, xattrs as PAX records, mtimes 0 (as ostree deploys
    /// them); the first layer holds the directories. No ostree.commit label.
    Plain,
}

impl From<FormatArg> for encapsulate::StreamFormat {
    fn from(f: FormatArg) -> Self {
        match f {
            FormatArg::Ostree => encapsulate::StreamFormat::Ostree,
            FormatArg::Plain => encapsulate::StreamFormat::Plain,
        }
    }
}

/// `--components`.
#[derive(ValueEnum, Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum ComponentsArg {
    /// user.component xattrs, --contentmeta, and the package database (dpkg, rpm).
    Auto,
    /// Only the size rules: kernel and initramfs, large unowned files.
    None,
}
