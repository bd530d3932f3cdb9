//! Checking commit signatures carried in detached metadata.
//!
//! GPG goes through libostree's own verifier (the one `ostree pull` uses). ed25519 is checked
//! in-process, because Debian's libostree 2022.7 is built without libsodium: the
//! `ostree.sign.ed25519` entry (`aay` of 64-byte signatures over the commit object's bytes) is
//! verified against the given public keys.

use base64::Engine;
use ostree::gio;
use ostree::glib;
use ostree::prelude::*;
use ostree_format::checksum::variant_of;
use std::path::Path;

/// Detached-metadata key of GPG signatures.
pub const GPG_SIGS_KEY: &str = "ostree.gpgsigs";
/// Detached-metadata key of ed25519 signatures.
pub const ED25519_SIGS_KEY: &str = "ostree.sign.ed25519";

/// Why a signature check failed.
#[derive(Debug, thiserror::Error)]
pub enum SignatureError {
    /// The commit has no detached metadata at all.
    #[error("commit {commit} has no detached metadata, so no signatures")]
    Unsigned {
        /// Commit checksum.
        commit: String,
    },
    /// The detached metadata has no entry for this signature type.
    #[error("commit {commit} has no {key} entry in its detached metadata")]
    NoSignatures {
        /// Commit checksum.
        commit: String,
        /// Detached metadata key looked for.
        key: &'static str,
    },
    /// Signatures exist, but none verifies with the given keys.
    #[error("no valid signature on commit {commit}: {reason}")]
    Invalid {
        /// Commit checksum.
        commit: String,
        /// Details.
        reason: String,
    },
    /// The key given cannot be used.
    #[error("bad key {key}: {reason}")]
    BadKey {
        /// The key or key file as given.
        key: String,
        /// What is wrong.
        reason: String,
    },
    /// libostree or I/O failure while checking.
    #[error("checking signatures of {commit}: {reason}")]
    Failed {
        /// Commit checksum.
        commit: String,
        /// Details.
        reason: String,
    },
}

fn detached_lookup(
    commit: &str,
    commitmeta: Option<&[u8]>,
    key: &'static str,
) -> Result<Vec<Vec<u8>>, SignatureError> {
    let Some(meta) = commitmeta else {
        return Err(SignatureError::Unsigned {
            commit: commit.into(),
        });
    };
    let v = variant_of(meta, "a{sv}");
    let dict = glib::VariantDict::new(Some(&v));
    let sigs = dict
        .lookup_value(key, Some(glib::VariantTy::new("aay").expect("static type")))
        .ok_or(SignatureError::NoSignatures {
            commit: commit.into(),
            key,
        })?;
    Ok(sigs.get::<Vec<Vec<u8>>>().unwrap_or_default())
}

/// Verify the GPG signatures of a commit against the keys in `keyring` (a keyring file as
/// `gpg --export` writes it). Returns a one-line description of the good signature(s).
///
/// # Errors
/// [`SignatureError`] naming the commit.
pub fn verify_gpg(
    commit: &str,
    commit_bytes: &[u8],
    commitmeta: Option<&[u8]>,
    keyring: &Path,
) -> Result<String, SignatureError> {
    // Fail early with a precise message when there is nothing to check.
    let sigs = detached_lookup(commit, commitmeta, GPG_SIGS_KEY)?;
    if sigs.is_empty() {
        return Err(SignatureError::NoSignatures {
            commit: commit.into(),
            key: GPG_SIGS_KEY,
        });
    }
    if !keyring.is_file() {
        return Err(SignatureError::BadKey {
            key: keyring.display().to_string(),
            reason: "not a readable keyring file".into(),
        });
    }
    let failed = |e: &dyn std::fmt::Display| SignatureError::Failed {
        commit: commit.into(),
        reason: e.to_string(),
    };
    let tmp = tempfile::tempdir().map_err(|e| failed(&e))?;
    let repo =
        scratch_repo(tmp.path(), commit, commit_bytes, commitmeta).map_err(|e| failed(&e))?;
    let keyring_file = gio::File::for_path(keyring);
    let empty_dir = tmp.path().join("no-system-keyrings");
    std::fs::create_dir(&empty_dir).map_err(|e| failed(&e))?;
    // An empty keyring dir keeps system-wide trusted keys out of the decision: only the key
    // the user named counts.
    let result = repo
        .verify_commit_ext(
            commit,
            Some(&gio::File::for_path(&empty_dir)),
            Some(&keyring_file),
            gio::Cancellable::NONE,
        )
        .map_err(|e| SignatureError::Invalid {
            commit: commit.into(),
            reason: e.message().to_string(),
        })?;
    let valid = result.count_valid();
    if valid == 0 {
        return Err(SignatureError::Invalid {
            commit: commit.into(),
            reason: format!(
                "{} signature(s), none valid for this keyring",
                result.count_all()
            ),
        });
    }
    // `all(i)` is the full attribute tuple; index 0 is "valid", 5 the key fingerprint.
    let fingerprints: Vec<String> = (0..result.count_all())
        .filter_map(|i| {
            let v = result.all(i);
            let valid = v.try_child_value(0)?.get::<bool>()?;
            let fpr = v.try_child_value(5)?.get::<String>()?;
            valid.then_some(fpr)
        })
        .collect();
    Ok(format!(
        "{valid} good GPG signature(s){}",
        if fingerprints.is_empty() {
            String::new()
        } else {
            format!(" by {}", fingerprints.join(", "))
        }
    ))
}

/// libostree verifies commits it holds, so the commit and its detached metadata are staged
/// in a scratch repository at `dir`; nothing else is needed for a signature check.
fn scratch_repo(
    dir: &Path,
    commit: &str,
    commit_bytes: &[u8],
    commitmeta: Option<&[u8]>,
) -> Result<ostree::Repo, glib::Error> {
    let repo = ostree::Repo::new_for_path(dir);
    repo.create(ostree::RepoMode::Archive, gio::Cancellable::NONE)?;
    let commit_v = variant_of(commit_bytes, "(a{sv}aya(say)sstayay)");
    let meta_v = variant_of(commitmeta.unwrap_or_default(), "a{sv}");
    repo.prepare_transaction(gio::Cancellable::NONE)?;
    repo.write_metadata(
        ostree::ObjectType::Commit,
        Some(commit),
        &commit_v,
        gio::Cancellable::NONE,
    )?;
    repo.commit_transaction(gio::Cancellable::NONE)?;
    repo.write_commit_detached_metadata(commit, Some(&meta_v), gio::Cancellable::NONE)?;
    Ok(repo)
}

/// Parse ed25519 public keys: `key` is either a base64 key or a file of base64 keys, one per
/// line (the format of ostree's `--keys-file`).
///
/// # Errors
/// [`SignatureError::BadKey`] if no key can be decoded to 32 bytes.
pub fn parse_ed25519_keys(key: &str) -> Result<Vec<ed25519_dalek::VerifyingKey>, SignatureError> {
    let bad = |reason: String| SignatureError::BadKey {
        key: key.into(),
        reason,
    };
    let text = if Path::new(key).is_file() {
        std::fs::read_to_string(key).map_err(|e| bad(e.to_string()))?
    } else {
        key.to_string()
    };
    let mut keys = Vec::new();
    for line in text.lines().map(str::trim).filter(|l| !l.is_empty()) {
        let raw = base64::engine::general_purpose::STANDARD
            .decode(line)
            .map_err(|e| bad(format!("not base64: {e}")))?;
        let arr: [u8; 32] = raw.as_slice().try_into().map_err(|_| {
            bad(format!(
                "an ed25519 public key is 32 bytes, this is {}",
                raw.len()
            ))
        })?;
        keys.push(
            ed25519_dalek::VerifyingKey::from_bytes(&arr)
                .map_err(|e| bad(format!("invalid ed25519 point: {e}")))?,
        );
    }
    if keys.is_empty() {
        return Err(bad("no key found".into()));
    }
    Ok(keys)
}

/// Verify the `ostree.sign.ed25519` signatures of a commit against `keys`. Returns how many
/// signatures verified.
///
/// # Errors
/// [`SignatureError`] naming the commit.
pub fn verify_ed25519(
    commit: &str,
    commit_bytes: &[u8],
    commitmeta: Option<&[u8]>,
    keys: &[ed25519_dalek::VerifyingKey],
) -> Result<usize, SignatureError> {
    let sigs = detached_lookup(commit, commitmeta, ED25519_SIGS_KEY)?;
    let mut good = 0;
    for sig in &sigs {
        let Ok(arr) = <[u8; 64]>::try_from(sig.as_slice()) else {
            continue;
        };
        let sig = ed25519_dalek::Signature::from_bytes(&arr);
        if keys
            .iter()
            .any(|k| k.verify_strict(commit_bytes, &sig).is_ok())
        {
            good += 1;
        }
    }
    if good == 0 {
        return Err(SignatureError::Invalid {
            commit: commit.into(),
            reason: format!(
                "{} ed25519 signature(s), none valid for the given key(s)",
                sigs.len()
            ),
        });
    }
    Ok(good)
}

/// Serialize detached metadata holding ed25519 signatures, as `ostree sign` would store it.
/// Used by tests and by tools that sign commits in-process.
pub fn ed25519_detached_metadata(signatures: &[[u8; 64]]) -> Vec<u8> {
    let sigs: Vec<Vec<u8>> = signatures.iter().map(|s| s.to_vec()).collect();
    let dict = glib::VariantDict::new(None);
    dict.insert_value(ED25519_SIGS_KEY, &sigs.to_variant());
    dict.end().data().to_vec()
}
