//! Signing keys for pushed images, checked before the long work.
//!
//! skopeo does the signing itself (`--sign-by-sigstore-private-key`, `--sign-by`); this crate
//! makes sure the key it will be given works *before* an image is built, so a wrong
//! passphrase fails in a second instead of after the build and the upload. It also makes
//! sigstore key pairs in cosign's encrypted format, because the skopeo of Debian 12 (1.9.3)
//! signs with such keys but cannot make them.
//!
//! Secrets never leave this crate in a message: errors name the key file or fingerprint and
//! what is wrong, never the key's bytes or the passphrase. Passphrases and decrypted keys are
//! zeroed when dropped.

pub mod gpg;
pub mod passphrase;
pub mod sigstore;

pub use passphrase::Passphrase;

use std::path::PathBuf;

/// Why a key cannot be used.
#[derive(Debug, thiserror::Error)]
pub enum SigningError {
    /// A file (key or passphrase) cannot be read.
    #[error("{option} {}: cannot read it", path.display())]
    Read {
        /// The option that named it.
        option: &'static str,
        /// The path as given.
        path: PathBuf,
        /// The error.
        #[source]
        source: std::io::Error,
    },
    /// A passphrase file whose first line cannot be a passphrase.
    #[error("{option} {}: {reason}", path.display())]
    BadPassphrase {
        /// The option that named it.
        option: &'static str,
        /// The path as given.
        path: PathBuf,
        /// What is wrong.
        reason: String,
    },
    /// The key file is not an encrypted sigstore (cosign) private key.
    #[error("--sign-by-sigstore-private-key {}: {reason}", path.display())]
    NotSigstoreKey {
        /// The key file.
        path: PathBuf,
        /// What was found instead.
        reason: String,
    },
    /// The passphrase does not open the key.
    #[error(
        "--sign-by-sigstore-private-key {}: the passphrase does not decrypt this key \
         (check --sign-passphrase-file)", path.display()
    )]
    WrongPassphrase {
        /// The key file.
        path: PathBuf,
    },
    /// GPG cannot sign with this key.
    #[error("--sign-by {fingerprint}: {reason}")]
    Gpg {
        /// The key's fingerprint as given.
        fingerprint: String,
        /// gpg's own last message line.
        reason: String,
    },
    /// Making a key pair failed (random source, encoding).
    #[error("making a sigstore key pair: {0}")]
    Generate(String),
}
