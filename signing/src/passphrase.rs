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
    /// and gpg read a passphrase file, named as `--sign-passphrase-file`. Read once: a FIFO
    /// or `/dev/fd/N` from a shell's process substitution works, and what was checked is
    /// what skopeo gets.
    ///
    /// # Errors
    /// As [`Passphrase::read_for`].
    pub fn read(path: &Path) -> Result<Passphrase, SigningError> {
        Self::read_for(path, "--sign-passphrase-file")
    }

    /// [`Passphrase::read`] of the file `option` names.
    ///
    /// # Errors
    /// [`SigningError::Read`] naming `option`; [`SigningError::BadPassphrase`] for a first
    /// line that reaches the limit (a key or `/dev/zero` given in the passphrase's place;
    /// cut there, it would be another passphrase than the file's) or holds a NUL byte (which
    /// skopeo and gpg would cut the passphrase at).
    pub fn read_for(path: &Path, option: &'static str) -> Result<Passphrase, SigningError> {
        let err = |source| SigningError::Read {
            option,
            path: path.to_path_buf(),
            source,
        };
        let bad = |reason: String| SigningError::BadPassphrase {
            option,
            path: path.to_path_buf(),
            reason,
        };
        let f = std::fs::File::open(path).map_err(err)?;
        let mut all = Zeroizing::new(Vec::new());
        f.take(MAX_PASSPHRASE_FILE)
            .read_to_end(&mut all)
            .map_err(err)?;
        let line = match all.iter().position(|&b| b == b'\n') {
            Some(end) => &all[..end],
            None if all.len() as u64 >= MAX_PASSPHRASE_FILE => {
                return Err(bad(format!(
                    "its first line is {MAX_PASSPHRASE_FILE} bytes or longer: not a passphrase"
                )))
            }
            None => &all[..],
        };
        if line.contains(&0) {
            return Err(bad("its first line holds a NUL byte".into()));
        }
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
        // The OS error is the source, not repeated in the message.
        assert!(!e.to_string().contains("No such file"), "{e}");
        let e = Passphrase::read_for(&dir.path().join("missing"), "--passphrase-file");
        assert!(e.unwrap_err().to_string().starts_with("--passphrase-file "));
        for (content, why) in [
            (vec![b'x'; MAX_PASSPHRASE_FILE as usize], "or longer"),
            (vec![b'y'; MAX_PASSPHRASE_FILE as usize + 10], "or longer"),
            (b"se\0cret\n".to_vec(), "NUL"),
        ] {
            std::fs::write(&f, &content).unwrap();
            let e = Passphrase::read(&f).unwrap_err().to_string();
            assert!(
                e.contains(why) && e.contains("--sign-passphrase-file"),
                "{e}"
            );
        }
        let e = Passphrase::read(Path::new("/dev/zero"))
            .unwrap_err()
            .to_string();
        assert!(e.contains("NUL") || e.contains("or longer"), "{e}");
        // Just under the limit, with its newline: a (long) passphrase.
        let mut long = vec![b'z'; MAX_PASSPHRASE_FILE as usize - 1];
        long[MAX_PASSPHRASE_FILE as usize - 2] = b'\n';
        std::fs::write(&f, &long).unwrap();
        assert_eq!(Passphrase::read(&f).unwrap().bytes().len(), long.len() - 1);
    }
}
