//! Test harness: builds fixture commits from `fixtures/*.tree` with the real `ostree` CLI, runs
//! the real `ostree-encap` binary, and builds the ostree-ext importer (tests/importer).
#![allow(dead_code)]

use std::collections::BTreeMap;
use std::ffi::OsStr;
use std::os::unix::ffi::OsStrExt;
use std::os::unix::fs::{symlink, PermissionsExt};
use std::path::{Path, PathBuf};
use std::process::{Command, Output, Stdio};
use std::sync::OnceLock;

pub const FIXTURE_REF: &str = "fixture/x86_64/test";

/// The workspace root (this module is shared by the root crate's and cosa-plugin's tests).
pub fn workspace_root() -> PathBuf {
    let m = Path::new(env!("CARGO_MANIFEST_DIR"));
    if m.join("fixtures").is_dir() {
        m.to_path_buf()
    } else {
        m.parent().expect("workspace root").to_path_buf()
    }
}

/// Run a command, returning its output; panics with stderr if it fails.
pub fn run_ok(cmd: &mut Command) -> Output {
    let out = cmd
        .stdin(Stdio::null())
        .output()
        .unwrap_or_else(|e| panic!("spawning {cmd:?}: {e}"));
    assert!(
        out.status.success(),
        "{cmd:?} failed: {}\n{}",
        String::from_utf8_lossy(&out.stderr),
        String::from_utf8_lossy(&out.stdout)
    );
    out
}

pub fn ostree<I, S>(repo: &Path, args: I) -> String
where
    I: IntoIterator<Item = S>,
    S: AsRef<OsStr>,
{
    let out = run_ok(
        Command::new("ostree")
            .arg(format!("--repo={}", repo.display()))
            .args(args),
    );
    String::from_utf8_lossy(&out.stdout).trim().to_string()
}

/// Run `ostree-encap` with args; returns the output (success or not).
pub fn encap<I, S>(args: I) -> Output
where
    I: IntoIterator<Item = S>,
    S: AsRef<OsStr>,
{
    encap_command()
        .args(args)
        .stdin(Stdio::null())
        .output()
        .expect("running ostree-encap")
}

/// The `ostree-encap` binary under test, with no `SOURCE_DATE_EPOCH` from the environment.
pub fn encap_command() -> Command {
    let bin = option_env!("CARGO_BIN_EXE_ostree-encap")
        .map(PathBuf::from)
        .unwrap_or_else(|| workspace_root().join("target/debug/ostree-encap"));
    let mut c = Command::new(bin);
    c.env_remove("SOURCE_DATE_EPOCH");
    c
}

/// The main job's arguments as tests write them: `--repo REPO --ref REV`, then `--oci-dir OUT`
/// (`--oci-archive OUT` when OUT ends in `.ociarchive`), then `extra`.
pub fn job(repo: &Path, rev: &str, out: &Path, extra: &[&str]) -> Vec<String> {
    let target = if out.extension().is_some_and(|e| e == "ociarchive") {
        "--oci-archive"
    } else {
        "--oci-dir"
    };
    let mut a: Vec<String> = vec![
        "--repo".into(),
        repo.display().to_string(),
        "--ref".into(),
        rev.into(),
        target.into(),
        out.display().to_string(),
    ];
    a.extend(extra.iter().map(|s| s.to_string()));
    a
}

/// Run `ostree-encap`, requiring success; returns stdout.
pub fn encap_ok<I, S>(args: I) -> String
where
    I: IntoIterator<Item = S>,
    S: AsRef<OsStr>,
{
    let out = encap(args);
    assert!(
        out.status.success(),
        "ostree-encap failed: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8_lossy(&out.stdout).into_owned()
}

/// Run `ostree-encap` expecting failure; returns stderr.
pub fn encap_err<I, S>(args: I) -> String
where
    I: IntoIterator<Item = S>,
    S: AsRef<OsStr>,
{
    let out = encap(args);
    assert!(
        !out.status.success(),
        "ostree-encap unexpectedly succeeded: {}",
        String::from_utf8_lossy(&out.stdout)
    );
    String::from_utf8_lossy(&out.stderr).into_owned()
}

/// `%XX` unescaping for fixture paths and texts.
fn unescape(s: &str) -> Vec<u8> {
    let b = s.as_bytes();
    let mut out = Vec::new();
    let mut i = 0;
    while i < b.len() {
        if b[i] == b'%' && i + 2 < b.len() {
            let hex = std::str::from_utf8(&b[i + 1..i + 3]).unwrap();
            out.push(u8::from_str_radix(hex, 16).unwrap_or_else(|_| panic!("bad escape in {s}")));
            i += 3;
        } else {
            out.push(b[i]);
            i += 1;
        }
    }
    out
}

fn p(root: &Path, rel: &str) -> PathBuf {
    root.join(OsStr::from_bytes(&unescape(rel)))
}

/// Deterministic pseudo-random bytes (xorshift seeded by the path).
pub fn pseudo_random(seed: &str, n: usize) -> Vec<u8> {
    let mut x: u64 = 0x9E37_79B9_7F4A_7C15;
    for b in seed.bytes() {
        x = (x ^ b as u64).wrapping_mul(0x100_0000_01B3);
    }
    let mut out = Vec::with_capacity(n + 8);
    while out.len() < n {
        x ^= x << 13;
        x ^= x >> 7;
        x ^= x << 17;
        out.extend_from_slice(&x.to_le_bytes());
    }
    out.truncate(n);
    out
}

fn owner(fields: &[&str], at: usize) -> (u32, u32) {
    match (fields.get(at), fields.get(at + 1)) {
        (Some(u), Some(g)) if u.parse::<u32>().is_ok() && g.parse::<u32>().is_ok() => {
            (u.parse().unwrap(), g.parse().unwrap())
        }
        _ => (0, 0),
    }
}

/// The rest of `line` from its `n`th whitespace-separated token on.
fn rest_from(line: &str, n: usize) -> &str {
    let mut rest = line.trim_start();
    for _ in 0..n {
        let end = rest.find(char::is_whitespace).unwrap_or(rest.len());
        rest = rest[end..].trim_start();
    }
    rest
}

fn ensure_parent(path: &Path) {
    if let Some(parent) = path.parent() {
        std::fs::create_dir_all(parent).unwrap();
    }
}

/// Commit options collected from a fixture.
#[derive(Default, Debug)]
pub struct CommitOpts {
    pub subject: String,
    pub timestamp: String,
    pub version: Option<String>,
    pub bootable: bool,
    pub meta: BTreeMap<String, String>,
}

/// Build the tree of `fixtures/NAME.tree` under `root`; returns its commit options.
pub fn build_tree(name: &str, root: &Path) -> CommitOpts {
    let desc_path = workspace_root()
        .join("fixtures")
        .join(format!("{name}.tree"));
    let desc = std::fs::read_to_string(&desc_path)
        .unwrap_or_else(|e| panic!("{}: {e}", desc_path.display()));
    std::fs::create_dir_all(root).unwrap();
    let mut opts = CommitOpts {
        timestamp: "2025-01-01T00:00:00Z".into(),
        ..Default::default()
    };
    // Modes and owners are applied at the end, deepest first, so restrictive directory modes
    // don't stop us from filling them.
    let mut chmods: Vec<(PathBuf, u32, u32, u32)> = Vec::new();
    for line in desc.lines() {
        let line = line.trim_end();
        if line.trim().is_empty() || line.trim_start().starts_with('#') {
            continue;
        }
        let f: Vec<&str> = line.split_whitespace().collect();
        match f[0] {
            "commit" => {
                let rest = line["commit".len()..].trim();
                let (k, v) = rest.split_once('=').expect("commit KEY=VALUE");
                match k {
                    "subject" => opts.subject = v.into(),
                    "timestamp" => opts.timestamp = v.into(),
                    "version" => opts.version = Some(v.into()),
                    "bootable" => opts.bootable = v == "true",
                    k if k.starts_with("meta.") => {
                        opts.meta.insert(k["meta.".len()..].into(), v.into());
                    }
                    other => panic!("unknown commit option {other}"),
                }
            }
            "dir" => {
                let path = p(root, f[1]);
                std::fs::create_dir_all(&path).unwrap();
                let (u, g) = owner(&f, 3);
                chmods.push((path, u32::from_str_radix(f[2], 8).unwrap(), u, g));
            }
            "file" => {
                let path = p(root, f[1]);
                ensure_parent(&path);
                let mode = u32::from_str_radix(f[2], 8).unwrap();
                let numeric = |i: usize| f.get(i).is_some_and(|s| s.parse::<u32>().is_ok());
                let (u, g, spec_at) = if numeric(3) && numeric(4) {
                    (f[3].parse().unwrap(), f[4].parse().unwrap(), 5)
                } else {
                    (0, 0, 3)
                };
                let spec = rest_from(line, spec_at);
                let data = if let Some(t) = spec.strip_prefix("text:") {
                    unescape(t)
                } else if let Some(n) = spec.strip_prefix("size:") {
                    pseudo_random(f[1], n.parse().unwrap())
                } else if spec == "empty" {
                    Vec::new()
                } else {
                    panic!("bad file spec {spec}")
                };
                std::fs::write(&path, data).unwrap();
                chmods.push((path, mode, u, g));
            }
            "symlink" => {
                let path = p(root, f[1]);
                ensure_parent(&path);
                symlink(OsStr::from_bytes(&unescape(f[2])), &path).unwrap();
                let (u, g) = owner(&f, 3);
                std::os::unix::fs::lchown(&path, Some(u), Some(g)).unwrap();
            }
            "hardlink" => {
                let path = p(root, f[1]);
                ensure_parent(&path);
                std::fs::hard_link(p(root, f[2]), &path).unwrap();
            }
            "xattr" => {
                let path = p(root, f[1]);
                let value = if let Some(t) = f[3].strip_prefix("text:") {
                    unescape(t)
                } else if let Some(h) = f[3].strip_prefix("hex:") {
                    hex::decode(h).unwrap()
                } else {
                    panic!("bad xattr value {}", f[3])
                };
                run_ok(
                    Command::new("setfattr")
                        .arg("-h")
                        .arg("-n")
                        .arg(f[2])
                        .arg("-v")
                        .arg(format!("0x{}", hex::encode(&value)))
                        .arg(&path),
                );
            }
            "many" => {
                let dir = p(root, f[1]);
                std::fs::create_dir_all(&dir).unwrap();
                let n: usize = f[2].parse().unwrap();
                for i in 0..n {
                    std::fs::write(dir.join(format!("f{i:05}")), format!("file {i}\n")).unwrap();
                }
            }
            "deep" => {
                let mut dir = p(root, f[1]);
                let n: usize = f[2].parse().unwrap();
                for _ in 0..n {
                    dir = dir.join("d");
                }
                std::fs::create_dir_all(&dir).unwrap();
                std::fs::write(dir.join("bottom"), "deep\n").unwrap();
            }
            other => panic!("unknown fixture directive {other}"),
        }
    }
    chmods.sort_by_key(|(p, ..)| std::cmp::Reverse(p.components().count()));
    for (path, mode, u, g) in chmods {
        std::os::unix::fs::lchown(&path, Some(u), Some(g)).unwrap();
        std::fs::set_permissions(&path, std::fs::Permissions::from_mode(mode)).unwrap();
    }
    opts
}

/// A fixture commit in an archive repo.
pub struct Fixture {
    pub dir: tempfile::TempDir,
    pub repo: PathBuf,
    pub commit: String,
    pub tree: PathBuf,
}

impl Fixture {
    /// Build `fixtures/NAME.tree` and commit it to an archive repo (ref [`FIXTURE_REF`]).
    pub fn new(name: &str) -> Fixture {
        let dir = tempfile::tempdir().unwrap();
        let tree = dir.path().join("tree");
        let opts = build_tree(name, &tree);
        let repo = dir.path().join("repo-archive");
        ostree(&repo, ["init", "--mode=archive"]);
        let mut args: Vec<String> = vec![
            "commit".into(),
            format!("--branch={FIXTURE_REF}"),
            format!("--tree=dir={}", tree.display()),
            format!("--subject={}", opts.subject),
            format!("--timestamp={}", opts.timestamp),
        ];
        if let Some(v) = &opts.version {
            args.push(format!("--add-metadata-string=version={v}"));
        }
        for (k, v) in &opts.meta {
            args.push(format!("--add-metadata-string={k}={v}"));
        }
        if opts.bootable {
            args.push("--bootable".into());
        }
        let commit = ostree(&repo, &args);
        Fixture {
            dir,
            repo,
            commit,
            tree,
        }
    }

    /// Commit the tree at `tree` as the next commit on [`FIXTURE_REF`]; returns its checksum.
    pub fn commit_tree(&self, tree: &Path, subject: &str, timestamp: &str) -> String {
        ostree(
            &self.repo,
            [
                "commit".to_string(),
                format!("--branch={FIXTURE_REF}"),
                format!("--tree=dir={}", tree.display()),
                format!("--subject={subject}"),
                format!("--timestamp={timestamp}"),
            ],
        )
    }

    /// A copy of the repo in another mode (via `ostree pull-local`).
    pub fn repo_in_mode(&self, mode: &str) -> PathBuf {
        if mode == "archive" {
            return self.repo.clone();
        }
        let r = self.dir.path().join(format!("repo-{mode}"));
        if !r.exists() {
            ostree(&r, ["init", &format!("--mode={mode}")]);
            ostree(&r, ["pull-local", self.repo.to_str().unwrap(), FIXTURE_REF]);
        }
        r
    }

    /// Make a GPG key named "signer" and sign the fixture commit with it (`ostree gpg-sign`);
    /// returns (exported public keyring, key id).
    pub fn gpg_sign(&self) -> (PathBuf, String) {
        let (home, pubkey) = gpg_key(self.dir.path(), "signer");
        let keyid = gpg_key_id(&home);
        ostree(
            &self.repo,
            [
                "gpg-sign",
                &format!("--gpg-homedir={}", home.display()),
                &self.commit,
                &keyid,
            ],
        );
        (pubkey, keyid)
    }

    pub fn path(&self, name: &str) -> PathBuf {
        self.dir.path().join(name)
    }
}

/// The importer binary (tests/importer, ostree-ext 0.15.3), built once per test run. CI builds
/// it up front; `ENCAP_IMPORTER` may point at a prebuilt binary.
pub fn importer() -> PathBuf {
    static BIN: OnceLock<PathBuf> = OnceLock::new();
    BIN.get_or_init(|| {
        if let Ok(p) = std::env::var("ENCAP_IMPORTER") {
            return PathBuf::from(p);
        }
        let manifest = workspace_root().join("tests/importer/Cargo.toml");
        run_ok(
            Command::new(env!("CARGO"))
                .args(["build", "--release", "--quiet", "--manifest-path"])
                .arg(&manifest),
        );
        workspace_root().join("tests/importer/target/release/encap-importer")
    })
    .clone()
}

/// Import `imgref` into a fresh bare-user repo with ostree-ext; returns (repo, commit).
pub fn import(dir: &Path, imgref: &str) -> Result<(PathBuf, String), String> {
    let repo = dir.join(format!(
        "import-{}",
        hex::encode(&imgref.as_bytes()[imgref.len().saturating_sub(6)..])
    ));
    let _ = std::fs::remove_dir_all(&repo);
    ostree(&repo, ["init", "--mode=bare-user"]);
    import_into(&repo, imgref).map(|c| (repo, c))
}

/// Import `imgref` into an existing repo; returns the commit or the importer's stderr.
pub fn import_into(repo: &Path, imgref: &str) -> Result<String, String> {
    let out = Command::new(importer())
        .arg(repo)
        .arg(imgref)
        .stdin(Stdio::null())
        .output()
        .expect("running importer");
    if !out.status.success() {
        return Err(String::from_utf8_lossy(&out.stderr).into_owned());
    }
    let v: serde_json::Value = serde_json::from_slice(&out.stdout).expect("importer JSON");
    Ok(v["commit"].as_str().unwrap().to_string())
}

/// Parse `--json` output.
pub fn json(s: &str) -> serde_json::Value {
    serde_json::from_str(s).unwrap_or_else(|e| panic!("not JSON ({e}): {s}"))
}

/// Read index.json of a layout.
pub fn index(dir: &Path) -> serde_json::Value {
    json(&std::fs::read_to_string(dir.join("index.json")).unwrap())
}

/// Read a blob by `sha256:` digest.
pub fn blob(dir: &Path, digest: &str) -> Vec<u8> {
    std::fs::read(
        dir.join("blobs/sha256")
            .join(digest.strip_prefix("sha256:").unwrap()),
    )
    .unwrap()
}

/// (manifest, config) of the image tagged `tag`.
pub fn image(dir: &Path, tag: &str) -> (serde_json::Value, serde_json::Value) {
    let idx = index(dir);
    let desc = idx["manifests"]
        .as_array()
        .unwrap()
        .iter()
        .find(|d| d["annotations"]["org.opencontainers.image.ref.name"] == tag)
        .unwrap_or_else(|| panic!("no tag {tag} in {idx}"))
        .clone();
    let m = json(&String::from_utf8(blob(dir, desc["digest"].as_str().unwrap())).unwrap());
    let c = json(&String::from_utf8(blob(dir, m["config"]["digest"].as_str().unwrap())).unwrap());
    (m, c)
}

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

/// A registry process on 127.0.0.1, killed on drop.
pub struct Registry {
    child: std::process::Child,
    pub port: u16,
    _dir: tempfile::TempDir,
}

impl Drop for Registry {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

pub fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port()
}

impl Registry {
    /// Start a registry; with `user`, htpasswd auth for that user and password.
    pub fn start(user: Option<(&str, &str)>) -> Registry {
        let dir = tempfile::tempdir().unwrap();
        let port = free_port();
        let mut config = format!(
            "version: 0.1\nlog: {{ level: error }}\nstorage: {{ filesystem: {{ rootdirectory: {} }} }}\nhttp: {{ addr: 127.0.0.1:{port} }}\n",
            dir.path().join("data").display()
        );
        if let Some((u, p)) = user {
            let out = run_ok(Command::new("htpasswd").args(["-Bbn", u, p]));
            std::fs::write(dir.path().join("htpasswd"), out.stdout).unwrap();
            config.push_str(&format!(
                "auth: {{ htpasswd: {{ realm: test, path: {} }} }}\n",
                dir.path().join("htpasswd").display()
            ));
        }
        std::fs::write(dir.path().join("config.yml"), config).unwrap();
        let child = Command::new("docker-registry")
            .arg("serve")
            .arg(dir.path().join("config.yml"))
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .expect("starting docker-registry");
        let r = Registry {
            child,
            port,
            _dir: dir,
        };
        // Bounded wait for the port to open.
        for _ in 0..100 {
            if std::net::TcpStream::connect(("127.0.0.1", port)).is_ok() {
                return r;
            }
            std::thread::sleep(std::time::Duration::from_millis(50));
        }
        panic!("registry on port {port} did not start");
    }

    pub fn url(&self, repo: &str) -> String {
        format!("docker://127.0.0.1:{}/{repo}", self.port)
    }
}
