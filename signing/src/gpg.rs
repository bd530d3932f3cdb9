//! GPG keys for "simple signing" (`--sign-by FINGERPRINT`), tried before the long work.
//!
//! skopeo signs through gpgme with the user's `GNUPGHOME`; the same key is tried here with
//! the gpg command by signing an empty message, so that a missing key, an expired one or a
//! wrong passphrase is reported before any image is built or pushed.

use crate::{Passphrase, SigningError};
use std::io::Write;
use std::process::{Command, Stdio};

/// Check that gpg can sign with `fingerprint` (using `passphrase` if given).
///
/// # Errors
/// [`SigningError::Gpg`] with gpg's last message line, or that gpg is not installed.
pub fn check_can_sign(
    fingerprint: &str,
    passphrase: Option<&Passphrase>,
) -> Result<(), SigningError> {
    let fail = |reason: String| SigningError::Gpg {
        fingerprint: fingerprint.to_string(),
        reason,
    };
    if fingerprint.is_empty() || fingerprint.starts_with('-') {
        return Err(fail("not a key fingerprint".into()));
    }
    let mut cmd = Command::new("gpg");
    cmd.args(["--batch", "--no-tty", "--pinentry-mode", "loopback"]);
    if passphrase.is_some() {
        cmd.args(["--passphrase-fd", "0"]);
    }
    cmd.args(["--local-user", fingerprint])
        .args(["--output", "-", "--detach-sign", "/dev/null"])
        .stdin(if passphrase.is_some() {
            Stdio::piped()
        } else {
            Stdio::null()
        })
        .stdout(Stdio::null())
        .stderr(Stdio::piped());
    let mut child = cmd.spawn().map_err(|e| {
        fail(if e.kind() == std::io::ErrorKind::NotFound {
            "gpg not found: install it (Debian: apt-get install gpg) to sign with --sign-by".into()
        } else {
            format!("running gpg: {e}")
        })
    })?;
    if let (Some(p), Some(mut stdin)) = (passphrase, child.stdin.take()) {
        // A write error means gpg exited early; its status says why.
        let _ = stdin.write_all(&p.file_content());
    }
    let out = child
        .wait_with_output()
        .map_err(|e| fail(format!("running gpg: {e}")))?;
    if out.status.success() {
        return Ok(());
    }
    let text = String::from_utf8_lossy(&out.stderr);
    let last = text
        .lines()
        .rfind(|l| !l.trim().is_empty())
        .unwrap_or("gpg failed")
        .trim_start_matches("gpg: ")
        .to_string();
    Err(fail(format!("gpg cannot sign with this key: {last}")))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn an_option_looking_fingerprint_is_refused_before_gpg_runs() {
        let e = check_can_sign("--homedir=/tmp", None).unwrap_err();
        assert!(e.to_string().contains("not a key fingerprint"), "{e}");
    }
}
