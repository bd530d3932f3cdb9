//! Copying images with skopeo, behind a small typed wrapper.
//!
//! No shell: arguments are a list; stdin is closed; stderr is captured into the error.
//! Credentials only ever travel in an auth file whose *path* we pass (`--authfile`); they are
//! never on our command line, in our messages or in logs. `--preserve-digests` makes skopeo
//! refuse anything that would change a blob, so the pushed digests are the ones we wrote.

use crate::types::Digest;
use signing::Passphrase;
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
    /// Registries configuration directory (skopeo's `--registries.d`): where signatures go
    /// (`use-sigstore-attachments`, `lookaside-staging`). `None`: the system's.
    pub registries_d: Option<PathBuf>,
    /// Sign what is pushed with GPG (each manifest, and the index if it is one).
    pub sign_by: Option<GpgSign>,
    /// For an index whose images are already in the destination repository: copy the index
    /// alone (`--multi-arch index-only`), not its images.
    pub index_only: bool,
}

/// skopeo's GPG "simple signing" of a push (`--sign-by`); the signatures go where
/// registries.d's `lookaside-staging` says. (Sigstore signatures are not made by skopeo: the
/// Debian build of skopeo 1.9.3 has them disabled; see `ostree_encap::signatures`.)
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct GpgSign {
    /// The key's fingerprint (in the caller's `GNUPGHOME`).
    pub fingerprint: String,
    /// Its passphrase, if it has one (handed to skopeo on a pipe, never in a file or an
    /// argument).
    pub passphrase: Option<Passphrase>,
}

impl GpgSign {
    /// The signing options of `skopeo copy`; a passphrase is read from skopeo's stdin.
    fn args(&self) -> Vec<String> {
        let mut a = vec![format!("--sign-by={}", self.fingerprint)];
        if self.passphrase.is_some() {
            a.push(format!("--sign-passphrase-file={PASSPHRASE_PIPE}"));
        }
        a
    }
}

/// Where skopeo reads a signing passphrase: its stdin, a pipe we write the passphrase to and
/// close. Nothing lands on disk and nothing is on a command line (`/proc/*/cmdline`).
const PASSPHRASE_PIPE: &str = "/dev/stdin";

impl PushOptions {
    /// The destination's credentials and TLS options, for reading back from it.
    pub fn as_source(&self) -> PullOptions {
        PullOptions {
            authfile: self.authfile.clone(),
            tls_verify: self.tls_verify,
            cert_dir: self.cert_dir.clone(),
        }
    }

    /// The destination's credentials and TLS options only: no digest file, no signing.
    pub fn transport_only(&self) -> PushOptions {
        PushOptions {
            authfile: self.authfile.clone(),
            tls_verify: self.tls_verify,
            cert_dir: self.cert_dir.clone(),
            ..PushOptions::default()
        }
    }
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
            ..PushOptions::default()
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
    if let Some(d) = &opts.registries_d {
        if !d.is_dir() {
            return Err(bad("--registries.d", d, "no such directory".into()));
        }
    }
    if let Some(s) = &opts.sign_by {
        signing::gpg::check_can_sign(&s.fingerprint, s.passphrase.as_ref())?;
    }
    if let Some(f) = &opts.digestfile {
        crate::outfile::check_document(f, "--digestfile")?;
    }
    Ok(())
}

/// Why a copy failed.
#[derive(Debug, thiserror::Error)]
pub enum SkopeoError {
    /// An output path that may not be written (`--digestfile`).
    #[error(transparent)]
    OutFile(#[from] crate::outfile::OutFileError),
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
    /// The signing key cannot be used.
    #[error(transparent)]
    Signing(#[from] signing::SigningError),
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
    let mut a = Vec::new();
    if let Some(d) = &opts.registries_d {
        // A global option: before the command.
        a.push(format!("--registries.d={}", d.display()));
    }
    a.extend([
        "copy".to_string(),
        "--all".into(),
        "--preserve-digests".into(),
    ]);
    let (auth, certs) = (opts.authfile.as_deref(), opts.cert_dir.as_deref());
    side_args(&mut a, "dest", auth, opts.tls_verify, certs);
    if let Some(s) = &opts.sign_by {
        a.extend(s.args());
    }
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

/// Whether a copy into a local layout must keep the source's digests.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Digests {
    /// Blobs and manifest as the source has them (`--preserve-digests`): an image that is
    /// then pushed, indexed or compared by digest. skopeo refuses the copy where it would
    /// have to change a layer's representation.
    Preserve,
    /// Whatever the copy gives: an image that is only read for its content (`--from`).
    /// containers-storage keeps layers uncompressed, so its images can only be copied so.
    MayChange,
}

/// The arguments of `skopeo copy` that fetch `src` into the local `dest` (without the
/// program name).
pub fn pull_args(
    src: &str,
    dest: &str,
    opts: &PullOptions,
    digests: Digests,
    digestfile: &Path,
) -> Vec<String> {
    let mut a = vec!["copy".to_string()];
    if digests == Digests::Preserve {
        a.push("--preserve-digests".into());
    }
    let (auth, certs) = (opts.authfile.as_deref(), opts.cert_dir.as_deref());
    side_args(&mut a, "src", auth, opts.tls_verify, certs);
    a.extend(copy_ends(src, dest, digestfile));
    a
}

/// Copy `src` (`docker://…`, `containers-storage:…`) into the local `dest` (`oci:DIR:TAG`),
/// keeping its digests or not; returns the manifest digest (of the copy).
///
/// # Errors
/// [`SkopeoError`] naming the destination, with skopeo's own message.
pub fn pull(
    src: &str,
    dest: &str,
    opts: &PullOptions,
    digests: Digests,
) -> Result<Digest, SkopeoError> {
    opts.check()?;
    run_copy(
        dest,
        |digestfile| pull_args(src, dest, opts, digests, digestfile),
        None,
        None,
    )
}

/// The manifest (or index) `imgref` names, as the registry serves it (`skopeo inspect
/// --raw`), with the source-side options `opts`. `Ok(None)` when the registry says there is
/// no such manifest.
///
/// # Errors
/// [`SkopeoError`] with skopeo's message.
pub fn inspect_raw(imgref: &str, opts: &PullOptions) -> Result<Option<Vec<u8>>, SkopeoError> {
    inspect(imgref, opts, &["--raw"])
}

/// The config blob of the image `imgref` names, as the registry serves it (`skopeo inspect
/// --config --raw`).
///
/// # Errors
/// [`SkopeoError`] with skopeo's message (also when there is no such image).
pub fn inspect_config_raw(imgref: &str, opts: &PullOptions) -> Result<Vec<u8>, SkopeoError> {
    inspect(imgref, opts, &["--config", "--raw"])?.ok_or_else(|| SkopeoError::Failed {
        dest: imgref.to_string(),
        status: "1".into(),
        stderr: "no such image".into(),
    })
}

fn inspect(
    imgref: &str,
    opts: &PullOptions,
    what: &[&str],
) -> Result<Option<Vec<u8>>, SkopeoError> {
    opts.check()?;
    let mut a = vec!["inspect".to_string()];
    a.extend(what.iter().map(|s| s.to_string()));
    // `inspect` names its options without the side.
    if let Some(f) = &opts.authfile {
        a.push(format!("--authfile={}", f.display()));
    }
    if let Some(v) = opts.tls_verify {
        a.push(format!("--tls-verify={v}"));
    }
    if let Some(d) = &opts.cert_dir {
        a.push(format!("--cert-dir={}", d.display()));
    }
    a.push(imgref.to_string());
    let out = Command::new("skopeo")
        .args(&a)
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .output()
        .map_err(|e| spawn_error(imgref, e))?;
    if out.status.success() {
        return Ok(Some(out.stdout));
    }
    let msg = last_lines(&out.stderr);
    if is_not_found(&msg) {
        return Ok(None);
    }
    Err(SkopeoError::Failed {
        dest: imgref.to_string(),
        status: out.status.code().map_or("signal".into(), |c| c.to_string()),
        stderr: msg,
    })
}

/// Whether skopeo's message says the registry has no such manifest (distribution's
/// `manifest unknown`, other registries' 404 wording).
fn is_not_found(msg: &str) -> bool {
    let m = msg.to_ascii_lowercase();
    m.contains("manifest unknown") || m.contains("not found") || m.contains("name unknown")
}

/// skopeo's last three non-empty stderr lines, logrus wrapping removed.
fn last_lines(stderr: &[u8]) -> String {
    let text = String::from_utf8_lossy(stderr);
    let lines: Vec<&str> = text.lines().filter(|l| !l.trim().is_empty()).collect();
    let start = lines.len().saturating_sub(3);
    clean(&lines[start..].join(" / "))
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
        opts.sign_by.as_ref().and_then(|s| s.passphrase.as_ref()),
    )
}

/// Run `skopeo` with the arguments `args(digestfile)` makes; returns the digest it wrote,
/// also written to `keep` if given. A `passphrase` goes to skopeo's stdin.
fn run_copy(
    dest: &str,
    args: impl FnOnce(&Path) -> Vec<String>,
    keep: Option<&Path>,
    passphrase: Option<&Passphrase>,
) -> Result<Digest, SkopeoError> {
    let io = |source| SkopeoError::Io {
        dest: dest.to_string(),
        source,
    };
    let tmp = tempfile::tempdir().map_err(io)?;
    let digestfile = tmp.path().join("digest");
    let mut child = Command::new("skopeo")
        .args(args(&digestfile))
        .stdin(if passphrase.is_some() {
            Stdio::piped()
        } else {
            Stdio::null()
        })
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .spawn()
        .map_err(|e| spawn_error(dest, e))?;
    if let (Some(p), Some(mut stdin)) = (passphrase, child.stdin.take()) {
        use std::io::Write;
        // One line, then EOF (the pipe closes as `stdin` drops). A write error means skopeo
        // exited early; its status and stderr say why.
        let _ = stdin.write_all(&p.file_content());
    }
    let out = child.wait_with_output().map_err(io)?;
    if !out.status.success() {
        return Err(SkopeoError::Failed {
            dest: dest.to_string(),
            status: out.status.code().map_or("signal".into(), |c| c.to_string()),
            stderr: last_lines(&out.stderr),
        });
    }
    let text = std::fs::read_to_string(&digestfile).map_err(io)?;
    let digest = Digest::parse(text.trim()).map_err(|e| SkopeoError::BadDigest {
        dest: dest.to_string(),
        reason: e.to_string(),
    })?;
    if let Some(f) = keep {
        crate::outfile::write_document(f, "--digestfile", digest.as_str().as_bytes())?;
    }
    Ok(digest)
}

/// skopeo could not be started: not installed, or another I/O error about `what`.
fn spawn_error(what: &str, e: std::io::Error) -> SkopeoError {
    if e.kind() == std::io::ErrorKind::NotFound {
        SkopeoError::NotInstalled
    } else {
        SkopeoError::Io {
            dest: what.to_string(),
            source: e,
        }
    }
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
        let d = Path::new("/tmp/d");
        let a = pull_args("docker://r/i:1", "oci:/w:from", &opts, Digests::Preserve, d);
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
        let a = pull_args(
            "containers-storage:x",
            "oci:/w:from",
            &opts,
            Digests::MayChange,
            d,
        );
        assert!(!a.iter().any(|x| x == "--preserve-digests"), "{a:?}");
        assert_eq!(a[a.len() - 2..], ["containers-storage:x", "oci:/w:from"]);
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
            ..PushOptions::default()
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
    fn a_passphrase_goes_on_stdin_never_in_the_arguments() {
        let opts = PushOptions {
            registries_d: Some("/etc/rd".into()),
            sign_by: Some(GpgSign {
                fingerprint: "ABCD".into(),
                passphrase: Some(Passphrase::from_bytes(b"hunter2")),
            }),
            ..PushOptions::default()
        };
        let a = copy_args("oci:/x:t", "docker://r/i:1", &opts, Path::new("/tmp/d"));
        assert_eq!(
            a[0], "--registries.d=/etc/rd",
            "a global option, before the command"
        );
        assert_eq!(a[1], "copy");
        assert!(a.contains(&"--sign-by=ABCD".to_string()));
        assert!(a.contains(&"--sign-passphrase-file=/dev/stdin".to_string()));
        assert!(!a.iter().any(|x| x.contains("hunter2")));
        assert!(!format!("{opts:?}").contains("hunter2"));
    }

    #[test]
    fn logrus_lines_are_cleaned() {
        assert_eq!(
            clean(r#"time="x" level=fatal msg="unauthorized: authentication required""#),
            "unauthorized: authentication required"
        );
    }
}
