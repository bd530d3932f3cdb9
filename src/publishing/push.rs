//! Copying a local image to any skopeo destination with its digests unchanged (`push`,
//! `--push`), signed if asked. The destination is parsed, the options checked and the
//! signing key tried before the long work.

use crate::image_ref::DockerRef;
use crate::image_ref::ImageRef;
use crate::signatures::{sign_pushed, Signed};
use anyhow::{Context, Result};
use oci::skopeo::PushOptions;
use serde::Serialize;
use signing::sigstore::SigningKey;
use std::path::{Path, PathBuf};

/// A checked push: where to, how, and signed by what.
#[derive(Debug)]
pub struct Push {
    /// The destination, transport included.
    pub dest: ImageRef,
    /// Credentials, TLS, digest file and GPG signing options.
    pub options: PushOptions,
    /// The sigstore key, opened, and the registry destination it signs for.
    sigstore: Option<(SigningKey, DockerRef)>,
}

/// A sigstore key to open: the key file and its passphrase.
#[derive(Debug)]
pub struct SigstoreKey {
    /// The `ENCRYPTED SIGSTORE PRIVATE KEY` file.
    pub path: PathBuf,
    /// Its passphrase.
    pub passphrase: signing::Passphrase,
}

/// What a push did.
#[derive(Debug, Clone, Serialize)]
pub struct Pushed {
    /// The destination as given.
    pub destination: String,
    /// The pushed manifest (or index) digest.
    pub digest: oci::types::Digest,
    /// Sigstore signatures stored (the manifest, and each manifest of an index).
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub signatures: Vec<Signed>,
    /// GPG key that signed it, if any.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub signed_by: Option<String>,
    /// Where the image's referrers (static deltas, SBOM, provenance) went, if it has any.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub referrers: Option<String>,
    /// Where the referrers of each image of a pushed index went.
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub platform_referrers: Vec<String>,
    /// Provenance statements signed as cosign attestations (with the sigstore key).
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub attestations: Vec<Signed>,
}

impl Push {
    /// Parse `dest` (it must name its transport), check the options' files exist and that
    /// the signing key works — all before the long work.
    ///
    /// # Errors
    /// A destination without a transport, a missing `--authfile` or `--cert-dir`, a key that
    /// cannot sign (wrong passphrase, not a key), a sigstore key with a destination that is
    /// not a registry.
    pub fn new(dest: &str, options: PushOptions, sigstore: Option<SigstoreKey>) -> Result<Push> {
        let dest = ImageRef::parse_destination("destination", dest)?;
        oci::skopeo::check_options(&options)?;
        let sigstore = match sigstore {
            Some(k) => Some((
                SigningKey::open(&k.path, &k.passphrase)?,
                DockerRef::parse(&dest.to_string())
                    .context("--sign-by-sigstore-private-key stores signatures in the registry")?,
            )),
            None => None,
        };
        Ok(Push {
            dest,
            options,
            sigstore,
        })
    }

    /// Copy `src` (a local layout or archive) there, then store its sigstore signatures.
    ///
    /// # Errors
    /// skopeo's own message, naming the destination.
    pub fn run(&self, src: &ImageRef) -> Result<Pushed> {
        let digest = oci::skopeo::copy(&src.to_string(), &self.dest.to_string(), &self.options)?;
        let signatures = match &self.sigstore {
            Some((key, dest)) => sign_pushed(dest, &digest, key, &self.options)?,
            None => Vec::new(),
        };
        let referrers = self.push_referrers(src, &digest)?;
        let members = index_members(src)?;
        let mut platform_referrers = Vec::new();
        for d in &members {
            platform_referrers.extend(self.push_referrers(src, d)?);
        }
        // The provenance statements stored beside the images are signed as cosign
        // attestations with the same key.
        let mut attestations = Vec::new();
        if let Some((key, dest)) = &self.sigstore {
            for d in std::iter::once(&digest).chain(&members) {
                if let Some(statement) = provenance_of(src, d)? {
                    attestations.push(crate::signatures::attest(
                        dest,
                        d,
                        &statement,
                        crate::building::provenance::PREDICATE_TYPE,
                        key,
                        &self.options,
                    )?);
                }
            }
        }
        Ok(Pushed {
            destination: self.dest.to_string(),
            digest,
            signatures,
            signed_by: self.options.sign_by.as_ref().map(|s| s.fingerprint.clone()),
            referrers,
            platform_referrers,
            attestations,
        })
    }

    /// The image's referrers tag (its static deltas, `crate::deltas`, and its bill of
    /// materials, `oci::referrers`), copied after it to a
    /// registry under the same tag, so that registries without the referrers API keep them.
    /// Nothing when the layout has none or the destination is not a registry.
    fn push_referrers(
        &self,
        src: &ImageRef,
        digest: &oci::types::Digest,
    ) -> Result<Option<String>> {
        let Ok(dest) = DockerRef::parse(&self.dest.to_string()) else {
            return Ok(None);
        };
        let tag = crate::deltas::referrers_tag(digest);
        // Only index.json is read: an archive is not unpacked to look.
        let index = match src {
            ImageRef::Dir { .. } => src.open_layout()?.0.read_index()?,
            ImageRef::Archive { path, .. } => {
                let f = std::fs::File::open(path)
                    .with_context(|| format!("opening oci-archive {}", path.display()))?;
                oci::archive::read_index(std::io::BufReader::new(f))
                    .with_context(|| path.display().to_string())?
            }
            _ => return Ok(None),
        };
        let from = src.with_tag(Some(tag.clone()));
        let has_referrers = index.manifests.iter().any(|d| {
            d.annotations
                .as_ref()
                .and_then(|a| a.get(oci::keys::ANNOTATION_REF_NAME))
                == Some(&tag)
        });
        if !has_referrers {
            return Ok(None);
        }
        let to = format!("docker://{}:{tag}", dest.repository);
        // Signing and the digest file are the image's: the referrers are copied as they are.
        let options = PushOptions {
            digestfile: None,
            sign_by: None,
            index_only: false,
            ..self.options.clone()
        };
        oci::skopeo::copy(&from.to_string(), &to, &options).with_context(|| {
            format!("copying the referrers of {digest} (static deltas, SBOM) to {to}")
        })?;
        Ok(Some(to))
    }
}

/// The provenance statement stored beside the image `digest` in the layout `src` names
/// (`--provenance`), if there is one.
fn provenance_of(src: &ImageRef, digest: &oci::types::Digest) -> Result<Option<Vec<u8>>> {
    let ImageRef::Dir { .. } = src else {
        return Ok(None);
    };
    let oci = src.open_layout()?.0;
    let tag = oci::referrers::tag(digest);
    let index = match oci.find(Some(&tag)) {
        Ok(d) if d.media_type == oci::keys::media::INDEX => d,
        _ => return Ok(None),
    };
    let index: oci::types::Index = oci.read_json_blob(&index, "referrers index")?;
    for entry in &index.manifests {
        let m: serde_json::Value = oci.read_json_blob(entry, "referrer manifest")?;
        if m["artifactType"] != oci::keys::provenance::ARTIFACT_TYPE {
            continue;
        }
        let layer: oci::types::Descriptor = serde_json::from_value(m["layers"][0].clone())
            .with_context(|| format!("the provenance artifact {}", entry.digest))?;
        let mut bytes = Vec::new();
        std::io::Read::read_to_end(&mut oci.open_blob(&layer)?, &mut bytes)
            .with_context(|| format!("reading the provenance {}", layer.digest))?;
        return Ok(Some(bytes));
    }
    Ok(None)
}

/// The manifests of the image index `src` names in a layout (none when it names an image, or
/// is not a layout): their referrers go with the index.
fn index_members(src: &ImageRef) -> Result<Vec<oci::types::Digest>> {
    let ImageRef::Dir { tag, .. } = src else {
        return Ok(Vec::new());
    };
    let oci = src.open_layout()?.0;
    let desc = oci.find(tag.as_deref())?;
    if desc.media_type != oci::keys::media::INDEX {
        return Ok(Vec::new());
    }
    let index: oci::types::Index = oci.read_json_blob(&desc, "image index")?;
    Ok(index.manifests.into_iter().map(|d| d.digest).collect())
}

impl std::fmt::Display for Pushed {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "pushed   {} ({})", self.destination, self.digest)?;
        if let Some(k) = &self.signed_by {
            write!(f, "\nsigned   by GPG key {k}")?;
        }
        for s in &self.signatures {
            let how = if s.added { "signed" } else { "already signed" };
            write!(f, "\n{how:<8} {} ({})", s.digest, s.attachment)?;
        }
        for r in self.referrers.iter().chain(&self.platform_referrers) {
            write!(f, "\nreferrers {r}")?;
        }
        for s in &self.attestations {
            let how = if s.added {
                "attested"
            } else {
                "already attested"
            };
            write!(f, "\n{how:<8} {} ({})", s.digest, s.attachment)?;
        }
        Ok(())
    }
}

/// The push options as the command lines take them (`--push` and `push` of ostree-encap, the
/// coreos-assembler plugins): one definition, so every front end names and checks them alike.
#[derive(clap::Args, Debug, Default, PartialEq, Eq)]
pub struct PushArgs {
    /// Auth file for the destination registry (auth.json format); its content is never printed.
    #[arg(long, value_name = "FILE")]
    pub authfile: Option<PathBuf>,
    /// Require HTTPS and verify certificates of the destination (default true).
    #[arg(long, value_name = "BOOL")]
    pub dest_tls_verify: Option<bool>,
    /// Directory with certificates (*.crt, *.cert, *.key) for the destination.
    #[arg(long, value_name = "DIR")]
    pub cert_dir: Option<PathBuf>,
    /// Write the pushed manifest digest to FILE.
    #[arg(long, value_name = "FILE")]
    pub digestfile: Option<PathBuf>,
    /// Sign each pushed manifest (and the index) with this sigstore private key (cosign's
    /// encrypted format; see generate-sigstore-key); the signatures go to the registry as
    /// cosign attachments (tag `sha256-<digest>.sig`), where cosign and containers/image look.
    #[arg(long, value_name = "FILE", requires = "sign_passphrase_file")]
    pub sign_by_sigstore_private_key: Option<PathBuf>,
    /// Sign each pushed manifest (and the index) with this GPG key ("simple signing"; the
    /// signatures go to registries.d's lookaside-staging).
    #[arg(
        long,
        value_name = "FINGERPRINT",
        conflicts_with = "sign_by_sigstore_private_key"
    )]
    pub sign_by: Option<String>,
    /// The signing key's passphrase: the first line of FILE (a FIFO or <(...) works: it is
    /// read once; for GPG it reaches skopeo on a pipe, never on a command line).
    #[arg(long, value_name = "FILE")]
    pub sign_passphrase_file: Option<PathBuf>,
    /// Registries configuration directory for skopeo (default: /etc/containers/registries.d):
    /// where signatures are stored.
    #[arg(long = "registries.d", value_name = "DIR")]
    pub registries_d: Option<PathBuf>,
}

impl PushArgs {
    /// The push to `dest` these options describe, checked (a passphrase file is read here,
    /// once; the signing key is tried).
    ///
    /// # Errors
    /// As [`Push::new`]; an unreadable passphrase file; a passphrase without a key.
    pub fn push(&self, dest: &str) -> anyhow::Result<Push> {
        let passphrase = match &self.sign_passphrase_file {
            Some(f) => Some(signing::Passphrase::read(f)?),
            None => None,
        };
        let (sigstore, sign_by) = match (&self.sign_by_sigstore_private_key, &self.sign_by) {
            (Some(path), _) => {
                // clap requires the passphrase file with the key.
                let passphrase = passphrase.unwrap_or_else(|| signing::Passphrase::from_bytes(b""));
                (
                    Some(SigstoreKey {
                        path: path.clone(),
                        passphrase,
                    }),
                    None,
                )
            }
            (None, Some(fingerprint)) => (
                None,
                Some(oci::skopeo::GpgSign {
                    fingerprint: fingerprint.clone(),
                    passphrase,
                }),
            ),
            (None, None) if passphrase.is_some() => anyhow::bail!(
                "--sign-passphrase-file needs --sign-by-sigstore-private-key or --sign-by"
            ),
            (None, None) => (None, None),
        };
        let options = oci::skopeo::PushOptions {
            authfile: self.authfile.clone(),
            tls_verify: self.dest_tls_verify,
            cert_dir: self.cert_dir.clone(),
            digestfile: self.digestfile.clone(),
            registries_d: self.registries_d.clone(),
            sign_by,
            index_only: false,
        };
        Push::new(dest, options, sigstore)
    }
}

/// The files [`generate_sigstore_key`] wrote.
#[derive(Debug, Clone, serde::Serialize)]
pub struct KeyFiles {
    /// `PREFIX.private`, mode 0600.
    pub private_key: PathBuf,
    /// `PREFIX.pub`.
    pub public_key: PathBuf,
}

/// Make a sigstore key pair encrypted with the first line of `passphrase_file`, written to
/// `PREFIX.private` (0600) and `PREFIX.pub` (the names skopeo's `generate-sigstore-key`
/// uses). Neither may exist; if the second cannot be written the first is removed.
///
/// # Errors
/// Either file exists or cannot be written; the passphrase file cannot be read.
pub fn generate_sigstore_key(prefix: &Path, passphrase_file: &Path) -> Result<KeyFiles> {
    // `dir/` would give the hidden files `dir/.private` and `dir/.pub`.
    if prefix.as_os_str().as_encoded_bytes().ends_with(b"/") || prefix.is_dir() {
        anyhow::bail!(
            "--output-prefix {}: names a directory; give a file name prefix, e.g. {}",
            prefix.display(),
            prefix.join("release").display()
        );
    }
    let passphrase = signing::Passphrase::read_for(passphrase_file, "--passphrase-file")?;
    let with = |ext: &str| {
        let mut s = prefix.as_os_str().to_owned();
        s.push(ext);
        PathBuf::from(s)
    };
    let files = KeyFiles {
        private_key: with(".private"),
        public_key: with(".pub"),
    };
    for f in [&files.private_key, &files.public_key] {
        if f.symlink_metadata().is_ok() {
            anyhow::bail!("{}: already exists; not overwriting a key", f.display());
        }
    }
    let pair = signing::sigstore::generate(&passphrase)?;
    write_new(&files.private_key, pair.private_pem.as_bytes(), 0o600)?;
    if let Err(e) = write_new(&files.public_key, pair.public_pem.as_bytes(), 0o644) {
        let _ = std::fs::remove_file(&files.private_key);
        return Err(e);
    }
    Ok(files)
}

/// Create `path` (it must not exist) with `mode` and `data`, synced.
fn write_new(path: &Path, data: &[u8], mode: u32) -> Result<()> {
    use std::io::Write;
    use std::os::unix::fs::OpenOptionsExt;
    let mut f = std::fs::OpenOptions::new()
        .write(true)
        .create_new(true)
        .mode(mode)
        .open(path)
        .with_context(|| format!("creating {}", path.display()))?;
    f.write_all(data)
        .and_then(|()| f.sync_all())
        .with_context(|| format!("writing {}", path.display()))
}
