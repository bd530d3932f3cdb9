//! Copying images with skopeo, behind a small typed wrapper.
//!
//! No shell: arguments are a list; stdin is closed; stderr is captured into the error.
//! Credentials only ever travel in an auth file whose *path* we pass (`--authfile`); they are
//! never on our command line, in our messages or in logs. `--preserve-digests` makes skopeo
//! refuse anything that would change a blob, so the pushed digests are the ones we wrote.

use crate::types::Digest;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};

/// How to reach the destination.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct PushOptions {
    /// Auth file (`auth.json` format) for the destination registry.
    pub authfile: Option<PathBuf>,
    /// Require HTTPS and verify certificates (`None`: skopeo's default, which is to verify).
    pub tls_verify: Option<bool>,
    /// Directory with certificates for the destination.
    pub cert_dir: Option<PathBuf>,
    /// Also write the pushed manifest digest here.
    pub digestfile: Option<PathBuf>,
}

/// How to reach a source image (`--from docker://…`): skopeo's `--src-*` options.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct PullOptions {
    /// Auth file (`auth.json` format) for the source registry.
    pub authfile: Option<PathBuf>,
    /// Require HTTPS and verify certificates (`None`: skopeo's default, which is to verify).
    pub tls_verify: Option<bool>,
    /// Directory with certificates for the source.
    pub cert_dir: Option<PathBuf>,
}

impl PullOptions {
    /// The same checks as for a push, with the options' own names.
    fn check(&self) -> Result<(), SkopeoError> {
        let as_push = PushOptions {
            authfile: self.authfile.clone(),
            tls_verify: self.tls_verify,
            cert_dir: self.cert_dir.clone(),
            digestfile: None,
        };
        check_options(&as_push).map_err(|e| match e {
            SkopeoError::BadOption {
                option,
                path,
                reason,
            } => SkopeoError::BadOption {
                option: match option {
                    "--authfile" => "--src-authfile",
                    "--cert-dir" => "--src-cert-dir",
                    other => other,
                },
                path,
                reason,
            },
            other => other,
        })
    }
}

/// Check the options before any work: files that exist (a missing `--authfile` would
/// otherwise push without credentials). The destination itself is parsed by the caller.
///
/// # Errors
/// [`SkopeoError::BadOption`].
pub fn check_options(opts: &PushOptions) -> Result<(), SkopeoError> {
    let bad = |option, path: &Path, reason: String| SkopeoError::BadOption {
        option,
        path: path.display().to_string(),
        reason,
    };
    if let Some(f) = &opts.authfile {
        match std::fs::metadata(f) {
            Ok(m) if m.is_file() => {}
            Ok(_) => return Err(bad("--authfile", f, "not a regular file".into())),
            Err(e) => return Err(bad("--authfile", f, format!("cannot use it: {e}"))),
        }
        std::fs::File::open(f).map_err(|e| bad("--authfile", f, format!("cannot read it: {e}")))?;
    }
    if let Some(d) = &opts.cert_dir {
        if !d.is_dir() {
            return Err(bad("--cert-dir", d, "no such directory".into()));
        }
    }
    Ok(())
}

/// Why a copy failed.
#[derive(Debug, thiserror::Error)]
pub enum SkopeoError {
    /// skopeo is not installed.
    #[error("skopeo not found: install it (Debian: apt-get install skopeo) to push images")]
    NotInstalled,
    /// skopeo ran and failed.
    #[error("skopeo copy to {dest} failed (exit {status}): {stderr}")]
    Failed {
        /// Destination.
        dest: String,
        /// Exit status.
        status: String,
        /// skopeo's last error line(s).
        stderr: String,
    },
    /// An option names a file or directory that is not there.
    #[error("{option} {path}: {reason}")]
    BadOption {
        /// The option.
        option: &'static str,
        /// The path as given.
        path: String,
        /// What is wrong.
        reason: String,
    },
    /// skopeo wrote something that is not a sha256 digest to its digest file.
    #[error("pushing to {dest}: skopeo reported a digest this tool cannot read: {reason}")]
    BadDigest {
        /// Destination.
        dest: String,
        /// What is wrong with it.
        reason: String,
    },
    /// I/O around the call (temp digest file).
    #[error("pushing to {dest}")]
    Io {
        /// Destination.
        dest: String,
        /// The error.
        #[source]
        source: std::io::Error,
    },
}

/// The arguments of `skopeo copy` for these options (without the program name).
pub fn copy_args(src: &str, dest: &str, opts: &PushOptions, digestfile: &Path) -> Vec<String> {
    // `--all`: an image index (`ostree-encap index`) goes with every image it lists, not
    // only the one for this host's platform; for a single image it changes nothing.
    let mut a = vec![
        "copy".to_string(),
        "--all".into(),
        "--preserve-digests".into(),
    ];
    let (auth, certs) = (opts.authfile.as_deref(), opts.cert_dir.as_deref());
    side_args(&mut a, "dest", auth, opts.tls_verify, certs);
    a.extend(copy_ends(src, dest, digestfile));
    a
}

/// skopeo's options for one side (`src` or `dest`) of a copy, appended to `a`.
fn side_args(
    a: &mut Vec<String>,
    side: &str,
    authfile: Option<&Path>,
    tls_verify: Option<bool>,
    cert_dir: Option<&Path>,
) {
    if let Some(f) = authfile {
        a.push(format!("--{side}-authfile={}", f.display()));
    }
    if let Some(v) = tls_verify {
        a.push(format!("--{side}-tls-verify={v}"));
    }
    if let Some(d) = cert_dir {
        a.push(format!("--{side}-cert-dir={}", d.display()));
    }
}

/// The digest file and both ends, which close every `skopeo copy` command line.
fn copy_ends(src: &str, dest: &str, digestfile: &Path) -> [String; 3] {
    [
        format!("--digestfile={}", digestfile.display()),
        src.to_string(),
        dest.to_string(),
    ]
}

/// The arguments of `skopeo copy` that fetch `src` into the local `dest` (without the
/// program name).
pub fn pull_args(src: &str, dest: &str, opts: &PullOptions, digestfile: &Path) -> Vec<String> {
    let mut a = vec!["copy".to_string(), "--preserve-digests".into()];
    let (auth, certs) = (opts.authfile.as_deref(), opts.cert_dir.as_deref());
    side_args(&mut a, "src", auth, opts.tls_verify, certs);
    a.extend(copy_ends(src, dest, digestfile));
    a
}

/// Copy `src` (`docker://…`, `containers-storage:…`) into the local `dest` (`oci:DIR:TAG`);
/// returns the manifest digest.
///
/// # Errors
/// [`SkopeoError`] naming the destination, with skopeo's own message.
pub fn pull(src: &str, dest: &str, opts: &PullOptions) -> Result<Digest, SkopeoError> {
    opts.check()?;
    run_copy(
        dest,
        |digestfile| pull_args(src, dest, opts, digestfile),
        None,
    )
}

/// Copy `src` (e.g. `oci:/path:tag`) to `dest`; returns the pushed manifest digest.
///
/// # Errors
/// [`SkopeoError`] naming the destination, with skopeo's own message.
pub fn copy(src: &str, dest: &str, opts: &PushOptions) -> Result<Digest, SkopeoError> {
    check_options(opts)?;
    run_copy(
        dest,
        |digestfile| copy_args(src, dest, opts, digestfile),
        opts.digestfile.as_deref(),
    )
}

/// Run `skopeo` with the arguments `args(digestfile)` makes; returns the digest it wrote,
/// also written to `keep` if given.
fn run_copy(
    dest: &str,
    args: impl FnOnce(&Path) -> Vec<String>,
    keep: Option<&Path>,
) -> Result<Digest, SkopeoError> {
    let io = |source| SkopeoError::Io {
        dest: dest.to_string(),
        source,
    };
    let tmp = tempfile::tempdir().map_err(io)?;
    let digestfile = tmp.path().join("digest");
    let out = Command::new("skopeo")
        .args(args(&digestfile))
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .output()
        .map_err(|e| {
            if e.kind() == std::io::ErrorKind::NotFound {
                SkopeoError::NotInstalled
            } else {
                io(e)
            }
        })?;
    if !out.status.success() {
        let text = String::from_utf8_lossy(&out.stderr);
        let last: Vec<&str> = text.lines().filter(|l| !l.trim().is_empty()).collect();
        let msg = last
            .iter()
            .rev()
            .take(3)
            .rev()
            .copied()
            .collect::<Vec<_>>()
            .join(" / ");
        return Err(SkopeoError::Failed {
            dest: dest.to_string(),
            status: out.status.code().map_or("signal".into(), |c| c.to_string()),
            stderr: clean(&msg),
        });
    }
    let text = std::fs::read_to_string(&digestfile).map_err(io)?;
    let digest = Digest::parse(text.trim()).map_err(|e| SkopeoError::BadDigest {
        dest: dest.to_string(),
        reason: e.to_string(),
    })?;
    if let Some(f) = keep {
        std::fs::write(f, digest.as_str()).map_err(io)?;
    }
    Ok(digest)
}

/// skopeo prints logrus lines (`time=... level=fatal msg="..."`); keep the message.
fn clean(line: &str) -> String {
    match line.find("msg=") {
        Some(i) => line[i + 4..].trim_matches('"').replace("\\\"", "\""),
        None => line.to_string(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn pull_args_set_the_source_side() {
        let opts = PullOptions {
            authfile: Some("/run/auth.json".into()),
            tls_verify: Some(false),
            cert_dir: None,
        };
        let a = pull_args("docker://r/i:1", "oci:/w:from", &opts, Path::new("/tmp/d"));
        assert_eq!(
            a,
            [
                "copy",
                "--preserve-digests",
                "--src-authfile=/run/auth.json",
                "--src-tls-verify=false",
                "--digestfile=/tmp/d",
                "docker://r/i:1",
                "oci:/w:from"
            ]
        );
        let missing = PullOptions {
            authfile: Some("/nonexistent/auth.json".into()),
            ..PullOptions::default()
        };
        let err = missing.check().unwrap_err().to_string();
        assert!(
            err.starts_with("--src-authfile /nonexistent/auth.json"),
            "{err}"
        );
    }

    #[test]
    fn args_are_a_list_with_no_credentials() {
        let opts = PushOptions {
            authfile: Some("/run/auth.json".into()),
            tls_verify: Some(false),
            cert_dir: Some("/certs".into()),
            digestfile: None,
        };
        let a = copy_args("oci:/x:t", "docker://r/i:1", &opts, Path::new("/tmp/d"));
        assert_eq!(
            a,
            [
                "copy",
                "--all",
                "--preserve-digests",
                "--dest-authfile=/run/auth.json",
                "--dest-tls-verify=false",
                "--dest-cert-dir=/certs",
                "--digestfile=/tmp/d",
                "oci:/x:t",
                "docker://r/i:1"
            ]
        );
    }

    #[test]
    fn logrus_lines_are_cleaned() {
        assert_eq!(
            clean(r#"time="x" level=fatal msg="unauthorized: authentication required""#),
            "unauthorized: authentication required"
        );
    }
}
