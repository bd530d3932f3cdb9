//! `ostree-encap serve`: an image served as an ostree repository, pulled by the real client
//! (Debian's `ostree pull`, libcurl) into archive and bare-user repositories with GPG
//! verification of the commit and the summary.

mod common;

use common::*;
use std::io::{Read, Write};
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};

/// A fresh client repository of `mode` with remote `origin` at `url`, GPG verification of
/// commits and summary on, trusting `pubkey`.
fn client(dir: &Path, mode: &str, url: &str, pubkey: &Path) -> PathBuf {
    let repo = dir.join(format!("client-{mode}"));
    ostree(&repo, ["init", &format!("--mode={mode}")]);
    ostree(
        &repo,
        [
            "remote",
            "add",
            "--set=gpg-verify=true",
            "--set=gpg-verify-summary=true",
            &format!("--gpg-import={}", pubkey.display()),
            "origin",
            url,
        ],
    );
    repo
}

/// One raw HTTP request; returns the whole response.
fn http(addr: &str, request: &str) -> Vec<u8> {
    let mut c = std::net::TcpStream::connect(addr).unwrap();
    c.write_all(request.as_bytes()).unwrap();
    let mut out = Vec::new();
    c.read_to_end(&mut out).unwrap();
    out
}

/// The basic fixture and its image at `oci:t`, made with `extra` options.
fn basic_image(extra: &[&str]) -> (Fixture, PathBuf) {
    let fx = Fixture::new("basic");
    let out = fx.path("oci");
    let mut args = vec!["--tag", "t"];
    args.extend_from_slice(extra);
    encap_ok(job(&fx.repo, FIXTURE_REF, &out, &args));
    (fx, out)
}

#[test]
fn the_real_client_pulls_a_served_image_with_signatures_checked() {
    let fx = Fixture::new("basic");
    let (pubkey, keyid) = fx.gpg_sign();
    let home = fx.dir.path().join("gnupg-signer");
    let out = fx.path("oci");
    encap_ok(job(&fx.repo, FIXTURE_REF, &out, &["--tag", "t"]));
    let tmp = fx.path("tmp");
    std::fs::create_dir(&tmp).unwrap();
    let server = serve(
        &tmp,
        &[
            "--oci-dir",
            out.to_str().unwrap(),
            "--tag",
            "t",
            "--workers",
            "2",
            "--gpg-sign",
            &keyid,
            "--gpg-homedir",
            home.to_str().unwrap(),
        ],
        1,
    )
    .unwrap();
    // Served as the ref the commit is bound to.
    assert_eq!(server.said, [format!("ref {FIXTURE_REF} {}", fx.commit)]);
    let url = format!("http://{}", server.addr);

    for mode in ["archive", "bare-user"] {
        let repo = client(fx.dir.path(), mode, &url, &pubkey);
        pull_origin(&repo, FIXTURE_REF).unwrap_or_else(|e| panic!("{mode}: {e}"));
        assert_eq!(
            ostree(&repo, ["rev-parse", &format!("origin:{FIXTURE_REF}")]),
            fx.commit
        );
        ostree(&repo, ["fsck"]);
    }

    // A client that trusts another key refuses the commit.
    let (_, other) = gpg_key(fx.dir.path(), "stranger");
    let wrong = fx.path("wrong");
    std::fs::create_dir(&wrong).unwrap();
    let repo = client(&wrong, "archive", &url, &other);
    let e = pull_origin(&repo, FIXTURE_REF).unwrap_err();
    assert!(
        e.to_lowercase().contains("gpg") || e.contains("signature"),
        "{e}"
    );

    // Many clients at once, two workers: every pull completes.
    let many = fx.path("many");
    let repos: Vec<PathBuf> = (0..6)
        .map(|i| {
            let d = many.join(i.to_string());
            std::fs::create_dir_all(&d).unwrap();
            client(&d, "archive", &url, &pubkey)
        })
        .collect();
    std::thread::scope(|s| {
        let pulls: Vec<_> = repos
            .iter()
            .map(|r| s.spawn(move || pull_origin(r, FIXTURE_REF)))
            .collect();
        for p in pulls {
            p.join().unwrap().unwrap();
        }
    });

    // HEAD and byte ranges, as ostree's client uses them.
    let head = String::from_utf8(http(
        &server.addr,
        "HEAD /config HTTP/1.1\r\nConnection: close\r\n\r\n",
    ))
    .unwrap();
    assert!(
        head.starts_with("HTTP/1.1 200") && head.ends_with("\r\n\r\n"),
        "{head}"
    );
    let len: usize = head
        .lines()
        .find_map(|l| {
            // Header names are case-insensitive (hyper writes them in lower case).
            let (name, value) = l.split_once(": ")?;
            name.eq_ignore_ascii_case("content-length").then_some(value)
        })
        .unwrap()
        .parse()
        .unwrap();
    let part = http(
        &server.addr,
        "GET /config HTTP/1.1\r\nRange: bytes=1-4\r\nConnection: close\r\n\r\n",
    );
    let text = String::from_utf8_lossy(&part);
    assert!(
        text.contains("206") && text.contains(&format!("bytes 1-4/{len}")),
        "{text}"
    );
    assert!(text.ends_with("core"), "the config starts [core]: {text}");

    // SIGTERM: a clean stop, the scratch repository removed, every request logged with its
    // bytes.
    let log = server.stop();
    assert!(log.contains(" GET /summary 200 "), "{log}");
    assert!(
        log.contains(&format!(" GET /objects/{}/", &fx.commit[..2])),
        "{log}"
    );
    assert_eq!(
        std::fs::read_dir(&tmp).unwrap().count(),
        0,
        "the scratch repository is gone"
    );
}

#[test]
fn a_damaged_image_is_refused_before_anyone_can_pull() {
    let (fx, out) = basic_image(&["--max-layers", "0"]);
    let (manifest, _) = image(&out, "t");
    let layer = manifest["layers"][0]["digest"].as_str().unwrap();
    let blob = out.join("blobs/sha256").join(&layer[7..]);
    flip_middle_byte(&blob);
    let tmp = fx.path("tmp");
    std::fs::create_dir(&tmp).unwrap();
    let e = serve(&tmp, &["--oci-dir", out.to_str().unwrap(), "--tag", "t"], 1)
        .err()
        .expect("refused");
    assert!(
        e.contains(&layer[7..19]) || e.contains("sha256"),
        "names the blob: {e}"
    );
    assert_eq!(
        std::fs::read_dir(&tmp).unwrap().count(),
        0,
        "nothing left behind"
    );
    // A ref the commit is not bound to is refused too: the client would refuse it.
    let e = serve(
        &tmp,
        &[
            "--oci-dir",
            fx.path("oci").to_str().unwrap(),
            "--ref",
            "other=t",
        ],
        1,
    )
    .err()
    .expect("refused");
    assert!(
        e.contains("ostree.ref-binding") || e.contains("sha256"),
        "{e}"
    );
}

/// N of ostree pull's "…, N content objects fetched; …".
fn content_fetched(said: &str) -> usize {
    said.split([',', ';'])
        .find_map(|p| p.trim().strip_suffix(" content objects fetched"))
        .and_then(|n| n.trim().parse().ok())
        .unwrap_or_else(|| panic!("{said}"))
}

/// Content files (`*.file`) a pull has staged so far in `repo`'s `tmp/staging-*`.
fn staged_files(repo: &Path) -> usize {
    let mut n = 0;
    let mut stack = vec![repo.join("tmp")];
    while let Some(d) = stack.pop() {
        for e in std::fs::read_dir(&d).into_iter().flatten().flatten() {
            let p = e.path();
            if p.is_dir() {
                stack.push(p);
            } else if p.extension().is_some_and(|x| x == "file") {
                n += 1;
            }
        }
    }
    n
}

#[test]
fn a_client_killed_mid_pull_resumes_without_fetching_again_what_it_had() {
    // Big enough that a pull over loopback takes a second or two: 24 files of 4 MB that do
    // not compress.
    let fx = Fixture::new("basic");
    let big = fx.tree.join("usr/share/big");
    std::fs::create_dir_all(&big).unwrap();
    let mut random = std::fs::File::open("/dev/urandom").unwrap();
    for i in 0..24 {
        let mut data = vec![0u8; 4_000_000];
        random.read_exact(&mut data).unwrap();
        std::fs::write(big.join(format!("f{i}")), data).unwrap();
    }
    let commit = fx.commit_tree(&fx.tree, "big", "2025-04-01T00:00:00Z");
    let out = fx.path("oci");
    encap_ok(job(
        &fx.repo,
        &commit,
        &out,
        &["--tag", "t", "--max-layers", "0", "--compression", "zstd"],
    ));
    let tmp = fx.path("tmp");
    std::fs::create_dir(&tmp).unwrap();
    let server = serve(&tmp, &["--oci-dir", out.to_str().unwrap(), "--tag", "t"], 1).unwrap();
    let repo = client_repo(
        &fx.path("client"),
        "bare-user",
        &format!("http://{}", server.addr),
    );
    // Killed (SIGKILL, no chance to clean up) once a few objects are staged.
    let mut first = Command::new("ostree")
        .arg(format!("--repo={}", repo.display()))
        .args(["pull", "origin", FIXTURE_REF])
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(60);
    while staged_files(&repo) < 3 {
        assert!(
            first.try_wait().unwrap().is_none(),
            "the pull ended before it could be killed"
        );
        assert!(std::time::Instant::now() < deadline, "nothing staged");
        std::thread::sleep(std::time::Duration::from_millis(5));
    }
    first.kill().unwrap();
    first.wait().unwrap();
    let staged = staged_files(&repo);
    assert!(staged < 24, "killed before the end: {staged} staged");

    // The next pull completes, and fetches only what was not staged.
    let o = Command::new("ostree")
        .arg(format!("--repo={}", repo.display()))
        .args(["pull", "origin", FIXTURE_REF])
        .stdin(Stdio::null())
        .output()
        .unwrap();
    assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
    let said = String::from_utf8_lossy(&o.stdout);
    assert_eq!(
        ostree(&repo, ["rev-parse", &format!("origin:{FIXTURE_REF}")]),
        commit
    );
    ostree(&repo, ["fsck"]);
    // A client starting from nothing fetches them all.
    let fresh = client_repo(
        &fx.path("fresh"),
        "bare-user",
        &format!("http://{}", server.addr),
    );
    let all = ostree(&fresh, ["pull", "origin", FIXTURE_REF]);
    let (resumed, total) = (content_fetched(&said), content_fetched(&all));
    assert!(
        resumed + staged <= total,
        "{staged} were staged, then {resumed} fetched; {total} in all"
    );
    server.stop();
}

/// Our gzip layers have a block index beside them: their content objects are made from the
/// layers on request, and the scratch repository holds only metadata while a client pulls
/// the whole commit. A layer without its index, or with one that does not match the blob,
/// is read through checkpoints made at start instead, and a zstd layer through blocks made
/// of it at start, with the same result. A blob changed under the running server is
/// answered with 500, never with other bytes, either way.
#[test]
fn content_objects_are_made_from_the_layers_not_copied() {
    let (fx, out) = basic_image(&[]);
    let index_dir = out.join("ostree-encap-blocks");
    let saved = fx.path("blocks-saved");
    run_ok(Command::new("cp").arg("-a").arg(&index_dir).arg(&saved));
    // (.filez files in the scratch repository, objects made from layers) per case.
    let mut counts = Vec::new();
    for case in [
        "indexed",
        "no index",
        "wrong index",
        "blob changed",
        "blob changed, no index",
    ] {
        let _ = std::fs::remove_dir_all(&index_dir);
        match case {
            "no index" | "blob changed, no index" => {}
            "wrong index" => {
                run_ok(Command::new("cp").arg("-a").arg(&saved).arg(&index_dir));
                // Each index still parses, but its first block's CRC is another.
                for e in std::fs::read_dir(&index_dir).unwrap().flatten() {
                    let text = std::fs::read_to_string(e.path()).unwrap();
                    let mut lines: Vec<String> = text.lines().map(str::to_string).collect();
                    let first = &mut lines[3];
                    let flipped = if first.starts_with('0') { "1" } else { "0" };
                    first.replace_range(0..1, flipped);
                    std::fs::write(e.path(), lines.join("\n") + "\n").unwrap();
                }
            }
            _ => {
                run_ok(Command::new("cp").arg("-a").arg(&saved).arg(&index_dir));
            }
        }
        let tmp = fx.path(&format!("tmp-{case}"));
        std::fs::create_dir(&tmp).unwrap();
        let server = serve(&tmp, &["--oci-dir", out.to_str().unwrap(), "--tag", "t"], 1).unwrap();
        let in_repo = files_ending(&tmp, ".filez");
        let mut changed = None;
        if case.starts_with("blob changed") {
            // The biggest layer: a middle byte of its compressed data changes.
            let (m, _) = image(&out, "t");
            let layer = m["layers"]
                .as_array()
                .unwrap()
                .iter()
                .max_by_key(|l| l["size"].as_u64().unwrap())
                .unwrap()["digest"]
                .as_str()
                .unwrap()
                .to_string();
            let blob = out.join("blobs/sha256").join(&layer[7..]);
            let before = std::fs::read(&blob).unwrap();
            flip_middle_byte(&blob);
            changed = Some((blob, before));
        }
        let client = client_repo(
            &fx.path(&format!("client-{case}")),
            "bare-user",
            &format!("http://{}", server.addr),
        );
        let pulled = pull_origin(&client, FIXTURE_REF);
        let log = server.stop();
        let made = made_from_layers(&log);
        let served_filez = log.lines().filter(|l| l.contains(".filez 200 ")).count();
        match case {
            "indexed" => {
                pulled.unwrap_or_else(|e| panic!("{case}: {e}"));
                ostree(&client, ["fsck"]);
                assert!(made > 0 && served_filez >= made, "{case}: {log}");
                counts.push((in_repo, made));
            }
            "no index" | "wrong index" => {
                pulled.unwrap_or_else(|e| panic!("{case}: {e}"));
                ostree(&client, ["fsck"]);
                assert!(made > 0 && served_filez >= made, "{case}: {log}");
                counts.push((in_repo, made));
            }
            _ => {
                assert!(pulled.is_err(), "{case}: the pull took a changed blob");
                assert!(
                    log.lines().any(|l| l.contains(".filez 500 ")),
                    "{case}: {log}"
                );
                let (blob, before) = changed.take().unwrap();
                std::fs::write(blob, before).unwrap();
            }
        }
    }
    // Only symlinks (which an archive repository keeps as .filez too) are in the
    // repository; every regular file is made from the layers instead, by either way in.
    assert_eq!(counts[1], counts[0], "{counts:?}");
    assert_eq!(counts[2], counts[0], "{counts:?}");
    assert_eq!(zstd_served(), counts[0], "{counts:?}");
}

/// zstd layers cannot be read at an offset: each is decoded once at start into independent
/// blocks in an unlinked scratch file, and every regular file is made from those, as from
/// a gzip layer. Returns (`.filez` in the scratch repository, objects made from layers).
fn zstd_served() -> (usize, usize) {
    let (fx, out) = basic_image(&["--compression", "zstd"]);
    let tmp = fx.path("tmp");
    std::fs::create_dir(&tmp).unwrap();
    let server = serve(&tmp, &["--oci-dir", out.to_str().unwrap(), "--tag", "t"], 1).unwrap();
    let in_repo = files_ending(&tmp, ".filez");
    let client = client_repo(
        &fx.path("client"),
        "bare-user",
        &format!("http://{}", server.addr),
    );
    pull_origin(&client, FIXTURE_REF).unwrap();
    ostree(&client, ["fsck"]);
    let log = server.stop();
    assert!(log.contains("(zstd layers: "), "how much is copied: {log}");
    (in_repo, made_from_layers(&log))
}

/// Uncompressed layers are read in place too: every regular file is made from them, and a
/// whole pull gives the commit.
#[test]
fn uncompressed_layers_are_read_in_place() {
    let (fx, out) = basic_image(&["--compression", "none"]);
    let tmp = fx.path("tmp");
    std::fs::create_dir(&tmp).unwrap();
    let server = serve(&tmp, &["--oci-dir", out.to_str().unwrap(), "--tag", "t"], 1).unwrap();
    pull_checked(&server, &fx.path("client"), "archive", &fx.commit);
    assert!(served_from_layers(&server.stop()) > 0);
}

/// An oci-archive is read where its blobs lie: nothing of it is copied to `$TMPDIR` (its
/// layers have no block index, so they are read through checkpoints), every regular file is
/// made from the layers, and a whole pull gives the commit.
#[test]
fn an_oci_archive_is_served_in_place() {
    let fx = Fixture::new("full");
    let archive = fx.path("os.ociarchive");
    encap_ok(job(&fx.repo, FIXTURE_REF, &archive, &["--tag", "t"]));
    let size = std::fs::metadata(&archive).unwrap().len();
    let tmp = fx.path("tmp");
    std::fs::create_dir(&tmp).unwrap();
    let server = serve(
        &tmp,
        &["--oci-archive", archive.to_str().unwrap(), "--tag", "t"],
        1,
    )
    .unwrap();
    let held: u64 = walk_sizes(&tmp);
    assert!(
        held < size / 2,
        "$TMPDIR holds {held} bytes while serving a {size}-byte archive"
    );
    pull_checked(&server, &fx.path("client"), "bare-user", &fx.commit);
    assert!(served_from_layers(&server.stop()) > 0);
}

/// Bytes of the regular files below `dir`.
fn walk_sizes(dir: &Path) -> u64 {
    let mut n = 0;
    for e in std::fs::read_dir(dir).unwrap().flatten() {
        let m = e.metadata().unwrap();
        if m.is_dir() {
            n += walk_sizes(&e.path());
        } else {
            n += m.len();
        }
    }
    n
}

/// What a slowloris client saw: whether the server closed its connection, and how many
/// header bytes it had sent by then.
struct Slow {
    closed: bool,
    sent: usize,
}

/// A client that sends a request head one byte every 200 ms, never finishing it, until the
/// server closes the connection or `done` is set.
fn slowloris(addr: &str, done: &std::sync::atomic::AtomicBool) -> Slow {
    use std::sync::atomic::Ordering;
    let mut sent = 0;
    let Ok(mut c) = std::net::TcpStream::connect(addr) else {
        return Slow { closed: true, sent };
    };
    let head = b"GET /config HTTP/1.1\r\nHost: x\r\n";
    let _ = c.write_all(head);
    sent += head.len();
    c.set_read_timeout(Some(std::time::Duration::from_millis(200)))
        .unwrap();
    while !done.load(Ordering::Relaxed) {
        let mut byte = [0u8; 1];
        match c.read(&mut byte) {
            // The server answered (a 408, say) or closed: either ends the stall.
            Ok(_) => return Slow { closed: true, sent },
            Err(e) if e.kind() == std::io::ErrorKind::WouldBlock => {}
            Err(_) => return Slow { closed: true, sent },
        }
        if c.write_all(b"X").is_err() {
            return Slow { closed: true, sent };
        }
        sent += 1;
    }
    Slow {
        closed: false,
        sent,
    }
}

/// Issue 29, defect 3: 200 idle connections and 16 slowloris clients (request heads sent a
/// byte at a time) do not keep a real `ostree pull` from completing, and the server closes
/// each of them once its header deadline passes. All on loopback, bounded in count and time.
#[test]
fn a_real_pull_completes_while_idle_and_slowloris_connections_are_open() {
    use std::sync::atomic::{AtomicBool, Ordering};
    let (fx, out) = basic_image(&[]);
    let tmp = fx.path("tmp");
    std::fs::create_dir(&tmp).unwrap();
    let server = serve(
        &tmp,
        &[
            "--oci-dir",
            out.to_str().unwrap(),
            "--tag",
            "t",
            "--header-timeout",
            "3",
        ],
        1,
    )
    .unwrap();
    let addr = server.addr.clone();
    let done = AtomicBool::new(false);
    std::thread::scope(|s| {
        let idle: Vec<std::net::TcpStream> = (0..200)
            .filter_map(|_| std::net::TcpStream::connect(&addr).ok())
            .collect();
        let slow: Vec<_> = (0..16)
            .map(|_| s.spawn(|| slowloris(&addr, &done)))
            .collect();
        std::thread::sleep(std::time::Duration::from_millis(500));
        // The pull: a hang guard of 60 s (it takes well under a second unloaded).
        let client = client_repo(&fx.path("client"), "bare-user", &format!("http://{addr}"));
        let pulled = Command::new("timeout")
            .args(["60", "ostree", &format!("--repo={}", client.display())])
            .args(["pull", "origin", FIXTURE_REF])
            .stdin(Stdio::null())
            .output()
            .unwrap();
        // Every idle connection is closed by the server (EOF), all within a guard of 60 s.
        let guard = std::time::Instant::now() + std::time::Duration::from_secs(60);
        let left = || {
            guard
                .saturating_duration_since(std::time::Instant::now())
                .max(std::time::Duration::from_millis(1))
        };
        let idle_closed = idle
            .into_iter()
            .filter(|c| {
                c.set_read_timeout(Some(left())).unwrap();
                matches!((&*c).read(&mut [0u8; 64]), Ok(0))
            })
            .count();
        // The slow clients are closed too: wait for them within the same guard, then stop them.
        while slow.iter().any(|t| !t.is_finished()) && std::time::Instant::now() < guard {
            std::thread::sleep(std::time::Duration::from_millis(100));
        }
        done.store(true, Ordering::Relaxed);
        let slow: Vec<Slow> = slow.into_iter().map(|t| t.join().unwrap()).collect();
        assert!(
            pulled.status.success(),
            "the pull under load: {}",
            String::from_utf8_lossy(&pulled.stderr)
        );
        ostree(&client, ["fsck"]);
        assert_eq!(
            ostree(&client, ["rev-parse", &format!("origin:{FIXTURE_REF}")]),
            fx.commit
        );
        assert_eq!(idle_closed, 200, "idle connections the server closed");
        for c in &slow {
            assert!(
                c.closed,
                "a slowloris client still open after {} bytes",
                c.sent
            );
        }
        // None sent more than a header deadline's worth: 3 s at 5 bytes a second, and then some.
        assert!(
            slow.iter().all(|c| c.sent < 30 + 60),
            "{:?}",
            slow.iter().map(|c| c.sent).collect::<Vec<_>>()
        );
    });
    let log = server.stop();
    assert!(log.contains(" 200 "), "{log}");
}
