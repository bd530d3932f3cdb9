//! Sigstore private keys in cosign's encrypted format: made here, checked before a push.
//!
//! The format (what `cosign generate-key-pair` and later skopeos' `generate-sigstore-key`
//! write, and what containers/image reads): a PEM block `ENCRYPTED SIGSTORE PRIVATE KEY`
//! (older cosign: `ENCRYPTED COSIGN PRIVATE KEY`) whose body is a JSON envelope from
//! go-securesystemslib's `encrypted` package:
//! `{"kdf":{"name":"scrypt","params":{"N":32768,"r":8,"p":1},"salt":B64},
//!   "cipher":{"name":"nacl/secretbox","nonce":B64},"ciphertext":B64}`.
//! The key is scrypt(passphrase, salt) → 32 bytes; the ciphertext is NaCl secretbox
//! (XSalsa20-Poly1305, tag first) around the PKCS#8 DER of the private key. The public key
//! is a PEM `PUBLIC KEY` (SubjectPublicKeyInfo), the form `policy.json`'s `keyPath` takes.

use crate::{Passphrase, SigningError};
use base64::engine::general_purpose::STANDARD as B64;
use base64::Engine as _;
use crypto_secretbox::aead::{Aead, KeyInit};
use crypto_secretbox::XSalsa20Poly1305;
use p256::pkcs8::{EncodePrivateKey, EncodePublicKey, LineEnding};
use rand_core::{OsRng, RngCore};
use serde::{Deserialize, Serialize};
use std::path::Path;
use zeroize::Zeroizing;

/// The PEM label cosign 2+ writes.
pub const PEM_LABEL: &str = "ENCRYPTED SIGSTORE PRIVATE KEY";
/// The PEM label cosign 1 wrote; containers/image reads both.
pub const LEGACY_PEM_LABEL: &str = "ENCRYPTED COSIGN PRIVATE KEY";

/// scrypt cost as go-securesystemslib's "standard" parameters: N = 2^15, r = 8, p = 1.
const SCRYPT_LOG_N: u8 = 15;
const SCRYPT_R: u32 = 8;
const SCRYPT_P: u32 = 1;
/// Upper bounds on a key file's scrypt parameters: a hostile file must not make the check
/// run for minutes or take gigabytes (2^20 × 8 × 128 B = 1 GiB is go-securesystemslib's
/// largest "legacy" set).
const MAX_LOG_N: u8 = 20;
const MAX_R: u32 = 8;
const MAX_P: u32 = 16;
/// Longest key file read: a P-256 key file is under 1 KiB.
const MAX_KEY_FILE: u64 = 64 * 1024;

#[derive(Serialize, Deserialize)]
struct Envelope {
    kdf: Kdf,
    cipher: Cipher,
    ciphertext: String,
}

#[derive(Serialize, Deserialize)]
struct Kdf {
    name: String,
    params: ScryptParams,
    salt: String,
}

#[derive(Serialize, Deserialize)]
struct ScryptParams {
    #[serde(rename = "N")]
    n: u64,
    r: u32,
    p: u32,
}

#[derive(Serialize, Deserialize)]
struct Cipher {
    name: String,
    nonce: String,
}

/// A new key pair: the encrypted private key and the public key, both PEM.
pub struct KeyPair {
    /// `ENCRYPTED SIGSTORE PRIVATE KEY` PEM.
    pub private_pem: Zeroizing<String>,
    /// `PUBLIC KEY` PEM, for `policy.json` and `cosign verify --key`.
    pub public_pem: String,
}

/// Make an ECDSA P-256 key pair, the private key encrypted with `passphrase`.
///
/// # Errors
/// [`SigningError::Generate`] if the system's random source or an encoder fails.
pub fn generate(passphrase: &Passphrase) -> Result<KeyPair, SigningError> {
    let gen = |e: &dyn std::fmt::Display| SigningError::Generate(e.to_string());
    let secret = p256::SecretKey::random(&mut OsRng);
    let der = secret.to_pkcs8_der().map_err(|e| gen(&e))?;
    let public_pem = secret
        .public_key()
        .to_public_key_pem(LineEnding::LF)
        .map_err(|e| gen(&e))?;
    let mut salt = [0u8; 32];
    let mut nonce = [0u8; 24];
    OsRng.fill_bytes(&mut salt);
    OsRng.fill_bytes(&mut nonce);
    let key = derive(passphrase, &salt, SCRYPT_LOG_N, SCRYPT_R, SCRYPT_P).map_err(|e| gen(&e))?;
    let sealed = XSalsa20Poly1305::new(key.as_slice().into())
        .encrypt(&nonce.into(), der.as_bytes())
        .map_err(|e| gen(&e))?;
    let envelope = Envelope {
        kdf: Kdf {
            name: "scrypt".into(),
            params: ScryptParams {
                n: 1 << SCRYPT_LOG_N,
                r: SCRYPT_R,
                p: SCRYPT_P,
            },
            salt: B64.encode(salt),
        },
        cipher: Cipher {
            name: "nacl/secretbox".into(),
            nonce: B64.encode(nonce),
        },
        ciphertext: B64.encode(sealed),
    };
    let body = serde_json::to_vec(&envelope).map_err(|e| gen(&e))?;
    Ok(KeyPair {
        private_pem: Zeroizing::new(pem(PEM_LABEL, &body)),
        public_pem,
    })
}

/// A sigstore signing key, decrypted (zeroed on drop by the p256 crate).
pub struct SigningKey(p256::ecdsa::SigningKey);

impl std::fmt::Debug for SigningKey {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("SigningKey(<redacted>)")
    }
}

impl SigningKey {
    /// Open the encrypted sigstore private key at `path` with `passphrase`.
    ///
    /// # Errors
    /// [`SigningError::Read`], [`SigningError::NotSigstoreKey`] (with what is wrong, never the
    /// key's content; also for keys other than ECDSA P-256, the only kind signed with here),
    /// [`SigningError::WrongPassphrase`].
    pub fn open(path: &Path, passphrase: &Passphrase) -> Result<SigningKey, SigningError> {
        use std::io::Read;
        let read_err = |source| SigningError::Read {
            option: "--sign-by-sigstore-private-key",
            path: path.to_path_buf(),
            source,
        };
        let mut text = Zeroizing::new(Vec::new());
        std::fs::File::open(path)
            .map_err(read_err)?
            .take(MAX_KEY_FILE)
            .read_to_end(&mut text)
            .map_err(read_err)?;
        let not_key = |reason: String| SigningError::NotSigstoreKey {
            path: path.to_path_buf(),
            reason,
        };
        let envelope = envelope_of(&text).map_err(not_key)?;
        match open(&envelope, passphrase) {
            Ok(der) => {
                use p256::pkcs8::DecodePrivateKey;
                p256::ecdsa::SigningKey::from_pkcs8_der(&der)
                    .map(SigningKey)
                    .map_err(|_| {
                        not_key(
                            "decrypted, but it is not an ECDSA P-256 PKCS#8 key (the kind \
                             cosign makes; other kinds are not supported for signing here)"
                                .into(),
                        )
                    })
            }
            Err(Unopened::Passphrase) => Err(SigningError::WrongPassphrase {
                path: path.to_path_buf(),
            }),
            Err(Unopened::Format(reason)) => Err(not_key(reason)),
        }
    }

    /// An ECDSA-SHA256 signature of `payload`, ASN.1 DER (what cosign puts, base64, in
    /// `dev.cosignproject.cosign/signature`). Deterministic (RFC 6979): the same key and
    /// payload give the same bytes, so a re-push re-creates the same attachment.
    pub fn sign(&self, payload: &[u8]) -> Vec<u8> {
        use p256::ecdsa::signature::Signer as _;
        let sig: p256::ecdsa::Signature = self.0.sign(payload);
        sig.to_der().as_bytes().to_vec()
    }

    /// The public key as PEM `PUBLIC KEY`.
    ///
    /// # Errors
    /// [`SigningError::Generate`] if encoding fails.
    pub fn public_pem(&self) -> Result<String, SigningError> {
        self.0
            .verifying_key()
            .to_public_key_pem(LineEnding::LF)
            .map_err(|e| SigningError::Generate(e.to_string()))
    }
}

/// What a sigstore signature signs: the "simple signing" payload of cosign and
/// containers/image, binding `docker_reference` (e.g. `registry.example/os:42`) to the
/// manifest digest. `optional` is null, as cosign writes it without annotations: no creator
/// and no timestamp, so the payload is the same on every run.
pub fn payload(docker_reference: &str, manifest_digest: &str) -> Vec<u8> {
    let v = serde_json::json!({
        "critical": {
            "identity": {"docker-reference": docker_reference},
            "image": {"docker-manifest-digest": manifest_digest},
            "type": "cosign container image signature",
        },
        "optional": null,
    });
    // serde_json's map is sorted: critical, identity, image, type — cosign's order too.
    v.to_string().into_bytes()
}

/// The JSON envelope inside the PEM block, or what is wrong (labels and field names only).
fn envelope_of(text: &[u8]) -> Result<Envelope, String> {
    let text = std::str::from_utf8(text).map_err(|_| "not a PEM file (not text)".to_string())?;
    let begin = text
        .find("-----BEGIN ")
        .ok_or("not a PEM file (no BEGIN line)")?;
    let rest = &text[begin + "-----BEGIN ".len()..];
    let label = rest.split("-----").next().unwrap_or_default();
    if label != PEM_LABEL && label != LEGACY_PEM_LABEL {
        let label: String = label.chars().take(40).collect();
        return Err(format!(
            "a PEM \"{label}\" block, not \"{PEM_LABEL}\" (make one with `ostree-encap \
             generate-sigstore-key` or `cosign generate-key-pair`)"
        ));
    }
    let end_line = format!("-----END {label}-----");
    let body_start = rest.find('\n').ok_or("the PEM block has no body")? + 1;
    let body_end = rest
        .find(&end_line)
        .ok_or("the PEM block has no END line")?;
    if body_end < body_start {
        return Err("the PEM block has no body".into());
    }
    let b64: Zeroizing<String> = Zeroizing::new(
        rest[body_start..body_end]
            .chars()
            .filter(|c| !c.is_ascii_whitespace())
            .collect(),
    );
    let json = Zeroizing::new(
        B64.decode(b64.as_bytes())
            .map_err(|_| "the PEM body is not base64")?,
    );
    serde_json::from_slice(&json).map_err(|e| {
        format!(
            "the PEM body is not cosign's encrypted-key envelope (line {}, column {})",
            e.line(),
            e.column()
        )
    })
}

enum Unopened {
    Passphrase,
    Format(String),
}

/// The decrypted PKCS#8 DER inside the envelope.
fn open(e: &Envelope, passphrase: &Passphrase) -> Result<Zeroizing<Vec<u8>>, Unopened> {
    let bad = |s: &str| Unopened::Format(s.to_string());
    if e.kdf.name != "scrypt" {
        return Err(bad("its key derivation is not scrypt"));
    }
    if e.cipher.name != "nacl/secretbox" {
        return Err(bad("its cipher is not nacl/secretbox"));
    }
    let ScryptParams { n, r, p } = e.kdf.params;
    if !n.is_power_of_two() || n < 2 {
        return Err(bad("its scrypt N is not a power of two"));
    }
    let log_n = u8::try_from(n.trailing_zeros()).map_err(|_| bad("its scrypt N is too large"))?;
    if log_n > MAX_LOG_N || r == 0 || r > MAX_R || p == 0 || p > MAX_P {
        return Err(bad(
            "its scrypt parameters are outside the bounds cosign uses",
        ));
    }
    let salt = B64
        .decode(&e.kdf.salt)
        .map_err(|_| bad("its salt is not base64"))?;
    let nonce: [u8; 24] = B64
        .decode(&e.cipher.nonce)
        .ok()
        .and_then(|v| v.try_into().ok())
        .ok_or_else(|| bad("its nonce is not 24 base64-encoded bytes"))?;
    let sealed = B64
        .decode(&e.ciphertext)
        .map_err(|_| bad("its ciphertext is not base64"))?;
    let key = derive(passphrase, &salt, log_n, r, p).map_err(|_| bad("its scrypt parameters"))?;
    Ok(Zeroizing::new(
        XSalsa20Poly1305::new(key.as_slice().into())
            .decrypt(&nonce.into(), sealed.as_slice())
            .map_err(|_| Unopened::Passphrase)?,
    ))
}

/// scrypt(passphrase, salt) → the 32-byte secretbox key.
fn derive(
    passphrase: &Passphrase,
    salt: &[u8],
    log_n: u8,
    r: u32,
    p: u32,
) -> Result<Zeroizing<[u8; 32]>, scrypt::errors::InvalidParams> {
    let params = scrypt::Params::new(log_n, r, p, 32)?;
    let mut key = Zeroizing::new([0u8; 32]);
    // Output length 32 is valid for scrypt; the only error is the parameters'.
    scrypt::scrypt(passphrase.bytes(), salt, &params, key.as_mut_slice())
        .map_err(|_| scrypt::errors::InvalidParams)?;
    Ok(key)
}

/// A PEM block: base64 in 64-character lines, as Go's encoding/pem writes it.
fn pem(label: &str, body: &[u8]) -> String {
    let b64 = Zeroizing::new(B64.encode(body));
    let mut out = format!("-----BEGIN {label}-----\n");
    for chunk in b64.as_bytes().chunks(64) {
        out.push_str(std::str::from_utf8(chunk).unwrap_or_default());
        out.push('\n');
    }
    out.push_str(&format!("-----END {label}-----\n"));
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    fn write(dir: &Path, name: &str, text: &str) -> std::path::PathBuf {
        let p = dir.join(name);
        std::fs::write(&p, text).unwrap();
        p
    }

    #[test]
    fn a_made_key_opens_with_its_passphrase_only() {
        let dir = tempfile::tempdir().unwrap();
        let pass = Passphrase::from_bytes(b"correct horse");
        let pair = generate(&pass).unwrap();
        assert!(pair
            .private_pem
            .starts_with("-----BEGIN ENCRYPTED SIGSTORE PRIVATE KEY-----\n"));
        assert!(pair.public_pem.starts_with("-----BEGIN PUBLIC KEY-----\n"));
        assert!(pair.private_pem.lines().all(|l| l.len() <= 64));
        let key = write(dir.path(), "k", &pair.private_pem);
        SigningKey::open(&key, &pass).unwrap();
        let e = SigningKey::open(&key, &Passphrase::from_bytes(b"correct horse ")).unwrap_err();
        assert!(matches!(e, SigningError::WrongPassphrase { .. }), "{e}");
        assert!(!e.to_string().contains("horse"), "{e}");

        // It signs what its public key verifies, the same bytes each time.
        let opened = SigningKey::open(&key, &pass).unwrap();
        assert_eq!(opened.public_pem().unwrap(), pair.public_pem);
        let body = payload("registry.example/os:42", "sha256:abc");
        let sig = opened.sign(&body);
        assert_eq!(sig, opened.sign(&body));
        use p256::ecdsa::signature::Verifier as _;
        use p256::pkcs8::DecodePublicKey as _;
        let public = p256::ecdsa::VerifyingKey::from_public_key_pem(&pair.public_pem).unwrap();
        let parsed = p256::ecdsa::Signature::from_der(&sig).unwrap();
        public.verify(&body, &parsed).unwrap();
        assert!(public.verify(b"other", &parsed).is_err());

        // The legacy label reads the same.
        let legacy = pair.private_pem.replace(PEM_LABEL, LEGACY_PEM_LABEL);
        SigningKey::open(&write(dir.path(), "legacy", &legacy), &pass).unwrap();
    }

    #[test]
    fn the_payload_is_cosigns_simple_signing_document() {
        assert_eq!(
            String::from_utf8(payload("r.example/os:1", "sha256:00ff")).unwrap(),
            r#"{"critical":{"identity":{"docker-reference":"r.example/os:1"},"image":{"docker-manifest-digest":"sha256:00ff"},"type":"cosign container image signature"},"optional":null}"#
        );
    }

    #[test]
    fn what_is_not_a_key_is_named_without_its_content() {
        let dir = tempfile::tempdir().unwrap();
        let pass = Passphrase::from_bytes(b"x");
        let plain = "-----BEGIN PRIVATE KEY-----\nTUlTU1BFTExFRA==\n-----END PRIVATE KEY-----\n";
        let e = SigningKey::open(&write(dir.path(), "plain", plain), &pass).unwrap_err();
        let msg = e.to_string();
        assert!(msg.contains("\"PRIVATE KEY\""), "{msg}");
        assert!(!msg.contains("TUlT"), "{msg}");

        let pair = generate(&pass).unwrap();
        let hostile = pair.private_pem.clone();
        // A forged envelope asking for a huge scrypt cost is refused without running it.
        let body: String = hostile
            .lines()
            .filter(|l| !l.starts_with("-----"))
            .collect();
        let json = String::from_utf8(B64.decode(body).unwrap()).unwrap();
        let forged = json.replace("\"N\":32768", "\"N\":1073741824");
        assert_ne!(forged, json);
        let f = write(dir.path(), "forged", &pem(PEM_LABEL, forged.as_bytes()));
        let e = SigningKey::open(&f, &pass).unwrap_err().to_string();
        assert!(e.contains("scrypt parameters"), "{e}");

        for (name, text) in [
            ("empty", ""),
            ("garbage", "not a key at all"),
            ("nobody", "-----BEGIN ENCRYPTED SIGSTORE PRIVATE KEY-----\n"),
            (
                "notjson",
                "-----BEGIN ENCRYPTED SIGSTORE PRIVATE KEY-----\naGVsbG8=\n-----END ENCRYPTED SIGSTORE PRIVATE KEY-----\n",
            ),
        ] {
            let e = SigningKey::open(&write(dir.path(), name, text), &pass).unwrap_err();
            assert!(matches!(e, SigningError::NotSigstoreKey { .. }), "{name}: {e}");
        }
    }
}
