//! A running `ostree-encap serve` for tests: started with `TMPDIR` set, its address and the
//! lines it printed before serving, stopped with SIGTERM and its access log read.

use super::*;
use std::io::{BufRead, BufReader, Read};
use std::path::Path;
use std::process::{Child, Command, Stdio};

/// A running `serve`, killed on drop unless [`Server::stop`] stopped it.
pub struct Server {
    pub child: Child,
    /// `127.0.0.1:PORT`.
    pub addr: String,
    /// The `ref …` and `delta …` lines printed after `serving http://…/`.
    pub said: Vec<String>,
    /// Reads stderr (the access log) while it serves: a full pipe would stop the server.
    log: Option<std::thread::JoinHandle<String>>,
}

impl Drop for Server {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

impl Server {
    /// SIGTERM, a clean exit, and the access log (stderr).
    pub fn stop(mut self) -> String {
        run_ok(Command::new("kill").args(["-TERM", &self.child.id().to_string()]));
        let status = self.child.wait().unwrap();
        assert!(status.success(), "{status:?}");
        self.log.take().unwrap().join().unwrap()
    }
}

/// Start `serve --listen 127.0.0.1:0 ARGS` with `TMPDIR=tmp`; waits for its "serving" line
/// and reads the `lines` lines after it. Err: what it said on stderr when it did not start.
pub fn serve(tmp: &Path, args: &[&str], lines: usize) -> Result<Server, String> {
    let mut child = encap_command()
        .args(["serve", "--listen", "127.0.0.1:0"])
        .args(args)
        .env("TMPDIR", tmp)
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let mut out = BufReader::new(child.stdout.take().unwrap()).lines();
    let first = out.next().and_then(Result::ok);
    let Some(addr) = first
        .as_deref()
        .and_then(|l| l.strip_prefix("serving http://"))
        .map(|a| a.trim_end_matches('/').to_string())
    else {
        let o = child.wait_with_output().unwrap();
        return Err(String::from_utf8_lossy(&o.stderr).into_owned());
    };
    // The rest of stdout stays empty while it serves.
    let said = out.take(lines).map(Result::unwrap).collect();
    let mut stderr = child.stderr.take().unwrap();
    let log = std::thread::spawn(move || {
        let mut log = String::new();
        stderr.read_to_string(&mut log).unwrap();
        log
    });
    Ok(Server {
        child,
        addr,
        said,
        log: Some(log),
    })
}

/// A new repository of `mode` at `path` with remote `origin` at `url`, without GPG checks.
pub fn client_repo(path: &Path, mode: &str, url: &str) -> std::path::PathBuf {
    ostree(path, ["init", &format!("--mode={mode}")]);
    ostree(path, ["remote", "add", "--no-gpg-verify", "origin", url]);
    path.to_path_buf()
}

/// How many content objects `serve` said it makes from the layers (stderr, before the log).
pub fn made_from_layers(log: &str) -> usize {
    log.lines()
        .find_map(|l| l.split_once(" content objects are made").map(|(n, _)| n))
        .and_then(|n| n.parse().ok())
        .unwrap_or_else(|| panic!("no count of objects made from layers: {log}"))
}

/// Files below `dir` whose name ends with `suffix`.
pub fn files_ending(dir: &Path, suffix: &str) -> usize {
    let mut n = 0;
    for e in std::fs::read_dir(dir).unwrap().flatten() {
        let t = e.file_type().unwrap();
        if t.is_dir() {
            n += files_ending(&e.path(), suffix);
        } else if e.file_name().to_string_lossy().ends_with(suffix) {
            n += 1;
        }
    }
    n
}

/// Pull the fixture's ref from `server` into a new `mode` repository at `path`: `ostree
/// fsck` clean, and the ref is `commit`.
pub fn pull_checked(server: &Server, path: &Path, mode: &str, commit: &str) {
    let client = client_repo(path, mode, &format!("http://{}", server.addr));
    pull_origin(&client, FIXTURE_REF).unwrap();
    ostree(&client, ["fsck"]);
    assert_eq!(
        ostree(&client, ["rev-parse", &format!("origin:{FIXTURE_REF}")]),
        commit
    );
}

/// How many objects the server said it makes from layers, having served (200) at least as
/// many `.filez` objects.
pub fn served_from_layers(log: &str) -> usize {
    let made = made_from_layers(log);
    assert!(
        log.lines().filter(|l| l.contains(".filez 200 ")).count() >= made,
        "{log}"
    );
    made
}
