//! A signing passphrase, read once, the way skopeo reads `--sign-passphrase-file`.

use crate::SigningError;
use std::io::Read;
use std::path::Path;
use zeroize::Zeroizing;

/// Longest passphrase file read: a passphrase is one line; a bigger file is a mistake (a key
/// given in the passphrase's place), and reading stops there rather than holding it.
const MAX_PASSPHRASE_FILE: u64 = 64 * 1024;

/// A passphrase: never printed (`Debug` shows nothing of it), zeroed on drop.
#[derive(Clone)]
pub struct Passphrase(Zeroizing<Vec<u8>>);

impl std::fmt::Debug for Passphrase {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("Passphrase(<redacted>)")
    }
}

impl PartialEq for Passphrase {
    fn eq(&self, other: &Self) -> bool {
        self.bytes() == other.bytes()
    }
}

impl Eq for Passphrase {}

impl Passphrase {
    /// The first line of `path` without its `\n`, as skopeo (c/common's `ReadPassphraseFile`)
    /// and gpg read a passphrase file. Read once: a FIFO or `/dev/fd/N` from a shell's
    /// process substitution works, and what was checked is what skopeo gets.
    ///
    /// # Errors
    /// [`SigningError::Read`] naming `--sign-passphrase-file`.
    pub fn read(path: &Path) -> Result<Passphrase, SigningError> {
        let err = |source| SigningError::Read {
            option: "--sign-passphrase-file",
            path: path.to_path_buf(),
            source,
        };
        let f = std::fs::File::open(path).map_err(err)?;
        let mut all = Zeroizing::new(Vec::new());
        f.take(MAX_PASSPHRASE_FILE)
            .read_to_end(&mut all)
            .map_err(err)?;
        let line = all.split(|&b| b == b'\n').next().unwrap_or(&[]);
        Ok(Passphrase(Zeroizing::new(line.to_vec())))
    }

    /// A passphrase from bytes (key generation, tests).
    pub fn from_bytes(bytes: &[u8]) -> Passphrase {
        Passphrase(Zeroizing::new(bytes.to_vec()))
    }

    /// The passphrase's bytes.
    pub fn bytes(&self) -> &[u8] {
        &self.0
    }

    /// What a passphrase file for skopeo holds: the passphrase and a newline.
    pub fn file_content(&self) -> Zeroizing<Vec<u8>> {
        let mut v = Zeroizing::new(Vec::with_capacity(self.0.len() + 1));
        v.extend_from_slice(&self.0);
        v.push(b'\n');
        v
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_first_line_is_the_passphrase_and_debug_hides_it() {
        let dir = tempfile::tempdir().unwrap();
        let f = dir.path().join("p");
        for (content, want) in [
            (&b"s3cret\n"[..], &b"s3cret"[..]),
            (b"s3cret", b"s3cret"),
            (b"two words \nsecond line\n", b"two words "),
            (b"\n", b""),
            (b"", b""),
        ] {
            std::fs::write(&f, content).unwrap();
            let p = Passphrase::read(&f).unwrap();
            assert_eq!(p.bytes(), want);
            assert!(!format!("{p:?}").contains("s3cret"));
        }
        let e = Passphrase::read(&dir.path().join("missing")).unwrap_err();
        assert!(e.to_string().starts_with("--sign-passphrase-file "), "{e}");
    }
}
