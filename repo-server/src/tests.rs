use super::*;
use std::io::{Read, Write};
use std::net::TcpStream;
use std::sync::Mutex;

use respond::parse_range;

#[test]
fn ranges_are_one_satisfiable_byte_range() {
    assert_eq!(parse_range("bytes=0-3", 10), Some((0, 3)));
    assert_eq!(parse_range("bytes=4-", 10), Some((4, 9)));
    assert_eq!(parse_range("bytes=-3", 10), Some((7, 9)));
    assert_eq!(parse_range("bytes=-30", 10), Some((0, 9)));
    assert_eq!(parse_range("bytes=5-100", 10), Some((5, 9)));
    for bad in [
        "bytes=10-",
        "bytes=5-4",
        "bytes=0-1,3-4",
        "items=0-1",
        "bytes=-0",
        "bytes=x-",
    ] {
        assert_eq!(parse_range(bad, 10), None, "{bad}");
    }
    assert_eq!(parse_range("bytes=0-0", 0), None);
}

fn serve_dir() -> (tempfile::TempDir, Dir) {
    let d = tempfile::tempdir().unwrap();
    std::fs::create_dir_all(d.path().join("objects/ab")).unwrap();
    std::fs::write(d.path().join("config"), b"[core]\nmode=archive-z2\n").unwrap();
    std::fs::write(d.path().join("objects/ab/cd.filez"), b"0123456789").unwrap();
    let dir = Dir::open_ambient_dir(d.path(), cap_std::ambient_authority()).unwrap();
    (d, dir)
}

/// Everything the server answers to `request`, and what it logged.
fn ask_with(
    root: &Dir,
    generated: Option<Arc<dyn Generated>>,
    request: &str,
) -> (String, Vec<Access>) {
    let seen = Arc::new(Mutex::new(Vec::new()));
    let s = Arc::clone(&seen);
    let log: Log = Arc::new(move |a: &Access| s.lock().unwrap().push(a.clone()));
    let out = answer_with(request.as_bytes(), root, generated, log).unwrap();
    let seen = seen.lock().unwrap().clone();
    (String::from_utf8_lossy(&out).into_owned(), seen)
}

/// The one answer to `request` and its log line.
fn ask(root: &Dir, request: &str) -> (String, Access) {
    let (r, mut seen) = ask_with(root, None, request);
    assert_eq!(seen.len(), 1, "{r}: {seen:?}");
    (r, seen.remove(0))
}

/// Makes `/made/*` files: their name backwards, or an error for `made/bad`.
struct Backwards;
impl Generated for Backwards {
    fn get(&self, rel: &str) -> Option<Result<Made, String>> {
        let name = rel.strip_prefix("made/")?;
        if name == "bad" {
            return Some(Err("cannot make it".into()));
        }
        if name == "file" {
            let mut f = tempfile::tempfile().unwrap();
            f.write_all(b"in a file").unwrap();
            return Some(Ok(Made::File(f)));
        }
        Some(Ok(Made::Bytes(name.bytes().rev().collect())))
    }
}

#[test]
fn files_made_on_request_are_served_like_files() {
    let (_d, root) = serve_dir();
    let ask = |req: &str| {
        let (r, mut seen) = ask_with(&root, Some(Arc::new(Backwards)), req);
        assert_eq!(seen.len(), 1, "{r}");
        (r, seen.remove(0))
    };
    let (r, a) = ask("GET /made/abcdef HTTP/1.1\r\n\r\n");
    assert!(
        r.starts_with("HTTP/1.1 200 OK\r\n") && r.ends_with("\r\n\r\nfedcba"),
        "{r}"
    );
    assert_eq!((a.status, a.bytes), (200, 6));
    let (r, a) = ask("GET /made/abcdef HTTP/1.1\r\nRange: bytes=2-3\r\n\r\n");
    assert!(
        r.contains("content-range: bytes 2-3/6\r\n") && r.ends_with("\r\n\r\ndc"),
        "{r}"
    );
    assert_eq!((a.status, a.bytes), (206, 2));
    // A big one comes as a file, read from its start whatever its position.
    let (r, a) = ask("GET /made/file HTTP/1.1\r\nRange: bytes=3-\r\n\r\n");
    assert!(r.ends_with("\r\n\r\na file"), "{r}");
    assert_eq!((a.status, a.bytes), (206, 6));
    // Files of the root come first; paths are checked before anything is made.
    let (r, _) = ask("GET /objects/ab/cd.filez HTTP/1.1\r\n\r\n");
    assert!(r.ends_with("0123456789"), "{r}");
    let (_, a) = ask("GET /made/../made/x HTTP/1.1\r\n\r\n");
    assert_eq!(a.status, 404);
    let (_, a) = ask("GET /other HTTP/1.1\r\n\r\n");
    assert_eq!(a.status, 404);
    // One that cannot be made is a 500 with the reason in the log, and the connection ends.
    let (r, a) = ask("GET /made/bad HTTP/1.1\r\n\r\nGET /config HTTP/1.1\r\n\r\n");
    assert!(r.starts_with("HTTP/1.1 500 "), "{r}");
    assert_eq!(r.matches("HTTP/1.1 ").count(), 1, "{r}");
    assert_eq!(a.status, 500);
    assert!(a.to_string().ends_with("(cannot make it)"), "{a}");
}

#[test]
fn files_are_served_whole_in_part_or_not_at_all() {
    let (_d, root) = serve_dir();
    let (r, a) = ask(
        &root,
        "GET /objects/ab/cd.filez HTTP/1.1\r\nHost: x\r\n\r\n",
    );
    assert!(
        r.starts_with("HTTP/1.1 200 OK\r\n") && r.ends_with("\r\n\r\n0123456789"),
        "{r}"
    );
    assert_eq!((a.status, a.bytes), (200, 10));
    let (r, a) = ask(&root, "HEAD /config HTTP/1.1\r\n\r\n");
    assert!(
        r.contains("content-length: 23\r\n") && r.ends_with("\r\n\r\n"),
        "{r}"
    );
    assert_eq!((a.status, a.bytes), (200, 0));
    let (r, a) = ask(
        &root,
        "GET /objects/ab/cd.filez HTTP/1.1\r\nRange: bytes=2-4\r\n\r\n",
    );
    assert!(
        r.contains("206 Partial Content") && r.contains("content-range: bytes 2-4/10"),
        "{r}"
    );
    assert!(r.ends_with("234"), "{r}");
    assert_eq!(a.bytes, 3);
    let (r, _) = ask(&root, "GET /config HTTP/1.1\r\nRange: bytes=99-\r\n\r\n");
    assert!(r.contains("416") && r.contains("bytes */23"), "{r}");
    for path in [
        "/",
        "/objects",
        "/objects/../config",
        "/nothing",
        "//config",
        "/config?x",
        "/%63onfig",
    ] {
        let (r, a) = ask(&root, &format!("GET {path} HTTP/1.1\r\n\r\n"));
        assert_eq!(a.status, 404, "{path}: {r}");
    }
    let (r, a) = ask(&root, "DELETE /config HTTP/1.1\r\n\r\n");
    assert_eq!(a.status, 405);
    assert!(r.contains("allow: GET, HEAD\r\n"), "{r}");
    // A head hyper cannot parse is answered by hyper, and logged by us.
    let (r, a) = ask(&root, "garbage\r\n\r\n");
    assert!(r.starts_with("HTTP/1.1 400 "), "{r}");
    assert_eq!(a.status, 400);
    // Requests on one connection are answered in turn (ostree's client pipelines none,
    // but keeps connections alive).
    let (r, seen) = ask_with(
        &root,
        None,
        "GET /config HTTP/1.1\r\n\r\nHEAD /objects/ab/cd.filez HTTP/1.1\r\n\r\n",
    );
    assert_eq!(r.matches("HTTP/1.1 200 OK").count(), 2, "{r}");
    assert_eq!(seen.len(), 2);
}

/// Each hostile request on its own connection to a running server: the whole answer
/// the client gets before the server closes the connection.
#[test]
fn bodies_big_heads_and_fifos_are_refused_and_nothing_is_smuggled() {
    let (d, root) = serve_dir();
    let fifo = d.path().join("objects/ab/fifo");
    let made = std::process::Command::new("mkfifo").arg(&fifo).status();
    assert!(made.unwrap().success());
    let smuggled = "GET /objects/ab/cd.filez HTTP/1.1\r\n\r\n";
    let big = format!(
        "GET /config HTTP/1.1\r\nX: {}\r\n\r\n",
        "a".repeat(MAX_HEAD)
    );
    let many = format!(
        "GET /config HTTP/1.1\r\n{}\r\n",
        (0..=MAX_HEADERS)
            .map(|i| format!("X-{i}: y\r\n"))
            .collect::<String>()
    );
    let cases: Vec<(String, &str)> = vec![
        (
            format!(
                "POST /config HTTP/1.1\r\nContent-Length: {}\r\n\r\n{smuggled}",
                smuggled.len()
            ),
            "HTTP/1.1 413 ",
        ),
        (
            format!(
                "GET /config HTTP/1.1\r\nContent-Length: {}\r\n\r\n{smuggled}",
                smuggled.len()
            ),
            "HTTP/1.1 413 ",
        ),
        (
            format!(
                "GET /config HTTP/1.1\r\nTransfer-Encoding: chunked\r\n\r\n{:x}\r\n\
                 {smuggled}\r\n0\r\n\r\n",
                smuggled.len()
            ),
            "HTTP/1.1 400 ",
        ),
        (big, "HTTP/1.1 431 "),
        (many, "HTTP/1.1 431 "),
        (
            "GET /objects/ab/fifo HTTP/1.1\r\nConnection: close\r\n\r\n".to_string(),
            "HTTP/1.1 404 ",
        ),
    ];
    let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let addr = listener.local_addr().unwrap();
    let stop = AtomicBool::new(false);
    let config = Config {
        workers: 2,
        ..Config::default()
    };
    std::thread::scope(|s| {
        let server = s.spawn(|| serve(listener, root, None, &config, &stop, Arc::new(|_| {})));
        let answers: Vec<String> = cases
            .iter()
            .map(|(req, _)| {
                let mut c = TcpStream::connect(addr).unwrap();
                c.set_read_timeout(Some(Duration::from_secs(10))).unwrap();
                let _ = c.write_all(req.as_bytes());
                let mut all = Vec::new();
                let _ = c.read_to_end(&mut all);
                String::from_utf8_lossy(&all).into_owned()
            })
            .collect();
        stop.store(true, Ordering::Relaxed);
        server.join().unwrap().unwrap();
        for ((req, want), got) in cases.iter().zip(answers) {
            assert!(
                got.starts_with(want),
                "{:?}: {got:?}",
                &req[..req.len().min(60)]
            );
            // One answer, then the connection closed: the body was never a request.
            assert_eq!(got.matches("HTTP/1.1 ").count(), 1, "{got:?}");
            assert!(!got.contains("0123456789"), "{got:?}");
        }
    });
}

/// A server that holds no more than `connections` open: the next client is accepted once
/// the header deadline has closed an idle one, and is answered then; clients that stop
/// reading their response are cut off after the stall timeout.
#[test]
fn connections_are_bounded_and_idle_ones_closed_at_the_header_deadline() {
    let (_d, root) = serve_dir();
    let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let addr = listener.local_addr().unwrap();
    let stop = AtomicBool::new(false);
    let seen = Arc::new(Mutex::new(Vec::new()));
    let s2 = Arc::clone(&seen);
    let config = Config {
        workers: 1,
        connections: 2,
        header_timeout: Duration::from_millis(500),
        ..Config::default()
    };
    std::thread::scope(|s| {
        let server = s.spawn(|| {
            let log: Log = Arc::new(move |a: &Access| s2.lock().unwrap().push(a.clone()));
            serve(listener, root, None, &config, &stop, log)
        });
        let mut idle: Vec<TcpStream> = (0..2).map(|_| TcpStream::connect(addr).unwrap()).collect();
        // One has had an answer and is kept alive; the deadline runs again while it idles.
        idle[0].write_all(b"GET /config HTTP/1.1\r\n\r\n").unwrap();
        let mut got = Vec::new();
        while !got.ends_with(b"mode=archive-z2\n") {
            let mut buf = [0u8; 256];
            let n = idle[0].read(&mut buf).unwrap();
            assert!(n > 0, "{}", String::from_utf8_lossy(&got));
            got.extend_from_slice(&buf[..n]);
        }
        std::thread::sleep(Duration::from_millis(100));
        // The third connects (the kernel's backlog takes it) and asks; it is answered
        // only after the server closed both idle ones.
        let mut third = TcpStream::connect(addr).unwrap();
        third
            .set_read_timeout(Some(Duration::from_secs(30)))
            .unwrap();
        third
            .write_all(b"GET /config HTTP/1.1\r\nConnection: close\r\n\r\n")
            .unwrap();
        let mut answer = String::new();
        let _ = third.read_to_string(&mut answer);
        for c in &mut idle {
            c.set_read_timeout(Some(Duration::from_millis(1))).unwrap();
            // Closed by the server (EOF) before the third was answered: no data waits.
            assert!(matches!(c.read(&mut [0u8; 8]), Ok(0)), "idle not closed");
        }
        stop.store(true, Ordering::Relaxed);
        server.join().unwrap().unwrap();
        assert!(answer.starts_with("HTTP/1.1 200 OK"), "{answer}");
    });
    let seen = seen.lock().unwrap();
    let timeouts = seen.iter().filter(|a| a.status == 408).count();
    assert_eq!(timeouts, 2, "{seen:?}");
    assert_eq!(
        seen.iter()
            .filter(|a| a.status == 200 && a.bytes == 23)
            .count(),
        2,
        "{seen:?}"
    );
}

#[test]
fn a_served_directory_answers_clients_in_parallel_and_stops_when_told() {
    let (_d, root) = serve_dir();
    let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let addr = listener.local_addr().unwrap();
    let stop = AtomicBool::new(false);
    let seen = Arc::new(Mutex::new(Vec::new()));
    let s2 = Arc::clone(&seen);
    let log: Log = Arc::new(move |a: &Access| s2.lock().unwrap().push(a.clone()));
    let config = Config {
        workers: 2,
        connections: 4,
        ..Config::default()
    };
    std::thread::scope(|s| {
        let server = s.spawn(|| serve(listener, root, None, &config, &stop, log));
        // More clients than connections: the rest wait, none is refused. Each asks twice,
        // on one kept-alive connection.
        let clients: Vec<_> = (0..12)
            .map(|_| {
                s.spawn(move || {
                    let mut c = TcpStream::connect(addr).unwrap();
                    c.set_read_timeout(Some(Duration::from_secs(10))).unwrap();
                    let req = "GET /config HTTP/1.1\r\n\r\n\
                               GET /objects/ab/cd.filez HTTP/1.1\r\nConnection: close\r\n\r\n";
                    c.write_all(req.as_bytes()).unwrap();
                    let mut all = String::new();
                    let _ = c.read_to_string(&mut all);
                    all
                })
            })
            .collect();
        let answers: Vec<_> = clients.into_iter().map(|c| c.join()).collect();
        // Stop the server before judging, so a failure cannot leave it running.
        stop.store(true, Ordering::Relaxed);
        server.join().unwrap().unwrap();
        for a in answers {
            let a = a.unwrap();
            assert!(a.starts_with("HTTP/1.1 200 OK"), "{a}");
            assert_eq!(a.matches("HTTP/1.1 200 OK").count(), 2, "{a}");
            assert!(a.ends_with("0123456789"), "{a}");
        }
    });
    let seen = seen.lock().unwrap();
    assert_eq!(seen.len(), 24);
    assert_eq!(seen.iter().map(|a| a.bytes).sum::<u64>(), 12 * (23 + 10));
}

/// Serve a directory holding an 8 MiB file with `config`, let `client` talk to it, and
/// return what was logged.
fn with_big_file(config: Config, client: impl FnOnce(SocketAddr) + Send) -> Vec<Access> {
    let (d, root) = serve_dir();
    std::fs::write(d.path().join("big"), vec![7u8; 8 << 20]).unwrap();
    let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let addr = listener.local_addr().unwrap();
    let stop = AtomicBool::new(false);
    let seen = Arc::new(Mutex::new(Vec::new()));
    let s2 = Arc::clone(&seen);
    let log: Log = Arc::new(move |a: &Access| s2.lock().unwrap().push(a.clone()));
    std::thread::scope(|s| {
        let server = s.spawn(|| serve(listener, root, None, &config, &stop, log));
        client(addr);
        stop.store(true, Ordering::Relaxed);
        server.join().unwrap().unwrap();
    });
    let seen = seen.lock().unwrap().clone();
    seen
}

/// A client that stops reading its response is cut off once the stall deadline passes; one
/// that reads too slowly to finish within the request deadline is cut off then. Both are
/// logged with what they got.
#[test]
fn stalled_and_slow_responses_are_cut_off_at_their_deadlines() {
    let request = b"GET /big HTTP/1.1\r\n\r\n";
    let stalled = Config {
        stall_timeout: Duration::from_millis(500),
        ..Config::default()
    };
    let seen = with_big_file(stalled, |addr| {
        let mut c = TcpStream::connect(addr).unwrap();
        c.write_all(request).unwrap();
        // Read nothing until the server gave up on us (within a guard of 30 s).
        c.set_read_timeout(Some(Duration::from_secs(30))).unwrap();
        std::thread::sleep(Duration::from_secs(2));
        let mut all = Vec::new();
        let _ = c.read_to_end(&mut all);
        assert!(all.len() < (8 << 20), "got all {} bytes", all.len());
    });
    assert_eq!(seen.len(), 1, "{seen:?}");
    assert_eq!(seen[0].status, 200);
    assert!(seen[0].bytes < 8 << 20, "{seen:?}");
    assert!(
        seen[0]
            .error
            .as_deref()
            .unwrap_or("")
            .contains("the client took"),
        "{seen:?}"
    );

    let slow = Config {
        request_timeout: Duration::from_secs(1),
        ..Config::default()
    };
    let seen = with_big_file(slow, |addr| {
        let mut c = TcpStream::connect(addr).unwrap();
        c.write_all(request).unwrap();
        c.set_read_timeout(Some(Duration::from_secs(30))).unwrap();
        // 64 KiB every 50 ms: 8 MiB would take 6.4 s.
        let mut total = 0;
        let mut buf = vec![0u8; 64 << 10];
        while let Ok(n @ 1..) = c.read(&mut buf) {
            total += n;
            std::thread::sleep(Duration::from_millis(50));
        }
        assert!(total < (8 << 20), "got all {total} bytes");
    });
    assert_eq!(seen.len(), 1, "{seen:?}");
    assert_eq!(
        seen[0].error.as_deref(),
        Some("the request deadline passed"),
        "{seen:?}"
    );
}
