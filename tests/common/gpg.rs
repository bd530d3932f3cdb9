//! Throwaway GPG keys for signed fixture commits.

use super::*;
use std::os::unix::fs::PermissionsExt;
use std::path::{Path, PathBuf};
use std::process::Command;

/// A throwaway GPG key: returns (gnupg home, public keyring file).
pub fn gpg_key(dir: &Path, name: &str) -> (PathBuf, PathBuf) {
    let home = dir.join(format!("gnupg-{name}"));
    std::fs::create_dir_all(&home).unwrap();
    std::fs::set_permissions(&home, std::fs::Permissions::from_mode(0o700)).unwrap();
    run_ok(
        Command::new("gpg")
            .arg("--homedir")
            .arg(&home)
            .args(["--batch", "--passphrase", "", "--quick-gen-key"])
            .arg(format!("{name} <{name}@example.invalid>"))
            .args(["ed25519", "sign", "never"]),
    );
    let pubkey = dir.join(format!("{name}.gpg"));
    let out = run_ok(
        Command::new("gpg")
            .arg("--homedir")
            .arg(&home)
            .args(["--batch", "--export"]),
    );
    std::fs::write(&pubkey, out.stdout).unwrap();
    (home, pubkey)
}

/// Key id (fingerprint) of the only key in a GNUPGHOME.
pub fn gpg_key_id(home: &Path) -> String {
    let out = run_ok(Command::new("gpg").arg("--homedir").arg(home).args([
        "--batch",
        "--with-colons",
        "--list-secret-keys",
    ]));
    String::from_utf8_lossy(&out.stdout)
        .lines()
        .find(|l| l.starts_with("fpr:"))
        .and_then(|l| l.split(':').nth(9))
        .expect("fingerprint")
        .to_string()
}
