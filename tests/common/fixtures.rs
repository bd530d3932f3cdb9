//! Fixture commits: trees described by `fixtures/*.tree`, committed by the real `ostree` CLI.

use super::*;
use std::collections::BTreeMap;
use std::ffi::OsStr;
use std::os::unix::ffi::OsStrExt;
use std::os::unix::fs::{symlink, PermissionsExt};
use std::path::{Path, PathBuf};
use std::process::Command;

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
