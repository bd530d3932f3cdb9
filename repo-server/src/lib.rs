//! A read-only HTTP/1.1 server for the files of one directory: what ostree's HTTP client
//! (libcurl) needs of a repository server, and no more.
//!
//! - `GET` and `HEAD` of regular files below the root; nothing else (405), no directory
//!   listings, no path that leaves the root (the root is a `cap_std::fs::Dir`).
//! - One byte range per request (`Range: bytes=A-B`, `A-`, `-N`): 206 with `Content-Range`,
//!   416 when unsatisfiable. A client that was cut off resumes a large object this way.
//! - Bounded: `workers` threads serve connections, one request at a time each; at most
//!   `queue` accepted connections wait for a worker, and while the queue is full no more are
//!   accepted (they wait in the kernel's backlog, and are served in turn). Each socket has
//!   read and write timeouts, so a stalled client frees its worker; a kept-alive connection
//!   that sends nothing for `idle` is closed, so idle clients (libcurl keeps a pool of
//!   connections) do not hold the workers others wait for.
//! - Stops when `stop` is set: no new connections; workers finish the request in hand.
//! - Every response is reported to `log` (method, path, status, body bytes, peer).
//! - Paths the root does not hold may be made on request by a [`Generated`] source (the
//!   objects `serve` reads from image layers); they are served like files, ranges included.

use cap_std::fs::Dir;
use std::io::{BufRead, BufReader, Read, Seek, SeekFrom, Write};
use std::net::{SocketAddr, TcpListener, TcpStream};
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::mpsc::{sync_channel, Receiver, TrySendError};
use std::sync::Mutex;
use std::time::Duration;

/// Longest request head accepted (request line and headers); ostree's are a few hundred bytes.
pub const MAX_HEAD: usize = 16 * 1024;
/// Most headers in a request.
const MAX_HEADERS: usize = 64;
/// How often the accept loop looks at the stop flag.
const POLL: Duration = Duration::from_millis(50);

/// Most worker threads a server runs: each is a thread with its own stack, and accepted
/// connections wait in a queue of 8 per worker; a thousand serve a busy mirror, and beyond
/// that the threads cost memory without serving faster (`--workers 1000000` panicked, and
/// `usize::MAX` overflowed the queue's capacity).
pub const MAX_WORKERS: usize = 1024;

/// How the server runs.
#[derive(Debug, Clone)]
pub struct Config {
    /// Threads serving connections.
    pub workers: usize,
    /// Accepted connections that may wait for a worker.
    pub queue: usize,
    /// Read and write timeout of each connection.
    pub timeout: Duration,
    /// How long a kept-alive connection may wait for its next request.
    pub idle: Duration,
}

impl Default for Config {
    fn default() -> Self {
        Config {
            workers: 8,
            queue: 64,
            timeout: Duration::from_secs(30),
            idle: Duration::from_millis(250),
        }
    }
}

/// Files made on request, for paths the root does not hold.
pub trait Generated: Sync {
    /// The bytes of the file at `rel` (a path below the root, already checked like a file
    /// path); `None` when it is not one of these, `Err` (answered with 500 and logged) when
    /// it is but could not be made.
    fn get(&self, rel: &str) -> Option<Result<Made, String>>;
}

/// A file made on request: its bytes, or (a big one) an open file, read from its start.
#[derive(Debug)]
pub enum Made {
    /// In memory.
    Bytes(Vec<u8>),
    /// In a file (unlinked, typically).
    File(std::fs::File),
}

/// One served request, for the access log.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Access {
    /// The client.
    pub peer: Option<SocketAddr>,
    /// `GET`, `HEAD`, ...
    pub method: String,
    /// The request target as sent.
    pub path: String,
    /// The status answered.
    pub status: u16,
    /// Body bytes sent.
    pub bytes: u64,
    /// Why a file made on request could not be made (a 500).
    pub error: Option<String>,
}

impl std::fmt::Display for Access {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let peer = self
            .peer
            .map_or_else(|| "-".to_string(), |p| p.ip().to_string());
        write!(
            f,
            "{peer} {} {} {} {}",
            self.method, self.path, self.status, self.bytes
        )?;
        if let Some(e) = &self.error {
            write!(f, " ({e})")?;
        }
        Ok(())
    }
}

/// Serve `root` (and what `generated` makes) on `listener` until `stop` is set.
///
/// # Errors
/// The listener fails (accepting, setting it non-blocking).
pub fn serve(
    listener: TcpListener,
    root: &Dir,
    generated: Option<&dyn Generated>,
    config: &Config,
    stop: &AtomicBool,
    log: &(dyn Fn(&Access) + Sync),
) -> std::io::Result<()> {
    listener.set_nonblocking(true)?;
    let (tx, rx) = sync_channel::<TcpStream>(config.queue);
    let rx = Mutex::new(rx);
    let waiting = AtomicUsize::new(0);
    std::thread::scope(|s| {
        for _ in 0..config.workers.max(1) {
            s.spawn(|| worker(&rx, (root, generated), config, &waiting, stop, log));
        }
        let result = accept_loop(&listener, &tx, config, &waiting, stop);
        // Workers end when the queue closes and drains.
        drop(tx);
        result
    })
}

fn accept_loop(
    listener: &TcpListener,
    tx: &std::sync::mpsc::SyncSender<TcpStream>,
    config: &Config,
    waiting: &AtomicUsize,
    stop: &AtomicBool,
) -> std::io::Result<()> {
    while !stop.load(Ordering::Relaxed) {
        match listener.accept() {
            Ok((stream, _)) => {
                stream.set_nonblocking(false)?;
                let _ = stream.set_read_timeout(Some(config.timeout));
                let _ = stream.set_write_timeout(Some(config.timeout));
                let _ = stream.set_nodelay(true);
                // A full queue stops accepting: later clients wait in the backlog.
                waiting.fetch_add(1, Ordering::Relaxed);
                let mut next = stream;
                loop {
                    match tx.try_send(next) {
                        Ok(()) => break,
                        Err(TrySendError::Full(s)) => {
                            if stop.load(Ordering::Relaxed) {
                                return Ok(());
                            }
                            next = s;
                            std::thread::sleep(POLL / 5);
                        }
                        Err(TrySendError::Disconnected(_)) => return Ok(()),
                    }
                }
            }
            Err(e) if e.kind() == std::io::ErrorKind::WouldBlock => std::thread::sleep(POLL),
            Err(e) if e.kind() == std::io::ErrorKind::Interrupted => {}
            Err(e) => return Err(e),
        }
    }
    Ok(())
}

/// The directory served, and what is made on request.
type Source<'a> = (&'a Dir, Option<&'a dyn Generated>);

fn worker(
    rx: &Mutex<Receiver<TcpStream>>,
    root: Source<'_>,
    config: &Config,
    waiting: &AtomicUsize,
    stop: &AtomicBool,
    log: &(dyn Fn(&Access) + Sync),
) {
    loop {
        let next = match rx.lock() {
            Ok(r) => r.recv_timeout(POLL),
            Err(_) => return,
        };
        match next {
            Ok(stream) => {
                waiting.fetch_sub(1, Ordering::Relaxed);
                connection(stream, root, config.idle, waiting, stop, log)
            }
            Err(std::sync::mpsc::RecvTimeoutError::Timeout) => {}
            Err(std::sync::mpsc::RecvTimeoutError::Disconnected) => return,
        }
    }
}

/// Serve requests on one connection until the client closes it, asks to, an error or a
/// timeout ends it, or the server stops.
fn connection(
    stream: TcpStream,
    root: Source<'_>,
    idle: Duration,
    waiting: &AtomicUsize,
    stop: &AtomicBool,
    log: &(dyn Fn(&Access) + Sync),
) {
    let peer = stream.peer_addr().ok();
    let Ok(control) = stream.try_clone() else {
        return;
    };
    let Ok(write_half) = stream.try_clone() else {
        return;
    };
    let mut out = std::io::BufWriter::new(write_half);
    let mut input = BufReader::new(stream);
    loop {
        let head = match read_head(&mut input) {
            Ok(Some(h)) => h,
            Err(e) if e.kind() == std::io::ErrorKind::InvalidData => {
                // Over MAX_HEAD: said, then closed (the rest of it is never read).
                let _ = write_head(&mut out, 431, &[], 0, false);
                let _ = out.flush();
                log(&Access {
                    peer,
                    method: "-".into(),
                    path: "-".into(),
                    status: 431,
                    bytes: 0,
                    error: Some(format!("request head over {MAX_HEAD} bytes")),
                });
                return;
            }
            Ok(None) | Err(_) => return,
        };
        // Keep the connection only while nobody waits for a worker: a client's idle
        // connection must not hold one another client needs.
        let may_keep = waiting.load(Ordering::Relaxed) == 0 && !stop.load(Ordering::Relaxed);
        let (access, keep_alive) = respond(&head, root, &mut out, peer, may_keep);
        log(&access);
        if out.flush().is_err() || !keep_alive || stop.load(Ordering::Relaxed) {
            return;
        }
        // The next request must come soon, or the worker goes to someone else.
        if control.set_read_timeout(Some(idle)).is_err() {
            return;
        }
    }
}

/// Bytes of one request head (through the blank line); `None` at a clean end of stream.
fn read_head(input: &mut impl BufRead) -> std::io::Result<Option<Vec<u8>>> {
    let mut head = Vec::new();
    loop {
        let mut line = Vec::new();
        let n = input
            .by_ref()
            .take((MAX_HEAD - head.len()) as u64 + 1)
            .read_until(b'\n', &mut line)?;
        if n == 0 {
            return if head.is_empty() {
                Ok(None)
            } else {
                Err(std::io::ErrorKind::UnexpectedEof.into())
            };
        }
        head.extend_from_slice(&line);
        if head.len() > MAX_HEAD {
            return Err(std::io::ErrorKind::InvalidData.into());
        }
        if line == b"\r\n" || line == b"\n" {
            if head.len() == line.len() {
                // Blank lines between requests are allowed (RFC 9112, 2.2).
                head.clear();
                continue;
            }
            return Ok(Some(head));
        }
    }
}

/// Answer the request head `head` (bytes through its blank line, at most [`MAX_HEAD`] of
/// them) from `root` into `out`, as a connection does: for the `http_request` fuzz target.
/// Returns the status sent and whether the connection would stay open.
pub fn answer(head: &[u8], root: &Dir, out: &mut Vec<u8>) -> (u16, bool) {
    let (access, keep) = respond(head, (root, None), out, None, true);
    (access.status, keep)
}

/// Parse and answer one request; returns what to log and whether the connection stays.
fn respond(
    head: &[u8],
    (root, generated): Source<'_>,
    out: &mut impl Write,
    peer: Option<SocketAddr>,
    may_keep: bool,
) -> (Access, bool) {
    let mut headers = [httparse::EMPTY_HEADER; MAX_HEADERS];
    let mut req = httparse::Request::new(&mut headers);
    let mut access = Access {
        peer,
        method: "-".into(),
        path: "-".into(),
        status: 400,
        bytes: 0,
        error: None,
    };
    let parsed = matches!(req.parse(head), Ok(httparse::Status::Complete(_)));
    let (Some(method), Some(path), true) = (req.method, req.path, parsed) else {
        let _ = write_head(out, 400, &[], 0, false);
        return (access, false);
    };
    access.method = method.to_string();
    access.path = path.to_string();
    let header = |name: &str| {
        req.headers
            .iter()
            .find(|h| h.name.eq_ignore_ascii_case(name))
            .and_then(|h| std::str::from_utf8(h.value).ok())
    };
    // HTTP/1.1 keeps the connection unless told otherwise; HTTP/1.0 closes unless told.
    let connection = header("connection").map(str::to_ascii_lowercase);
    let keep_alive = may_keep
        && match req.version {
            Some(1) => connection.as_deref() != Some("close"),
            _ => connection.as_deref() == Some("keep-alive"),
        };
    // No request here has a body, and none is read: a body left on the connection would be
    // taken as the next request (smuggling through a front proxy). A request that says it
    // has one is refused, and the connection closed.
    let chunked = header("transfer-encoding").is_some();
    let length = header("content-length").map(str::trim);
    if chunked || length.is_some_and(|l| l != "0") {
        access.status = if chunked { 400 } else { 413 };
        let _ = write_head(out, access.status, &[], 0, false);
        return (access, false);
    }
    let with_body = match method {
        "GET" => true,
        "HEAD" => false,
        _ => {
            access.status = 405;
            let _ = write_head(out, 405, &[("Allow", "GET, HEAD".into())], 0, keep_alive);
            return (access, keep_alive);
        }
    };
    let made = || {
        let rel = checked_rel(path)?;
        generated?.get(rel)
    };
    let mut body = match open(root, path) {
        Some(file) => Made::File(file.into_std()),
        None => match made() {
            Some(Ok(m)) => m,
            Some(Err(e)) => {
                access.status = 500;
                access.error = Some(e);
                let _ = write_head(out, 500, &[], 0, false);
                return (access, false);
            }
            None => {
                access.status = 404;
                let _ = write_head(out, 404, &[], 0, keep_alive);
                return (access, keep_alive);
            }
        },
    };
    let size = match &body {
        Made::File(file) => file.metadata().map(|m| m.len()).unwrap_or(0),
        Made::Bytes(b) => b.len() as u64,
    };
    let range = header("range").map(|r| parse_range(r, size));
    let (status, start, len, extra) = match range {
        None => (200, 0, size, vec![]),
        Some(Some((a, b))) => (
            206,
            a,
            b - a + 1,
            vec![("Content-Range", format!("bytes {a}-{b}/{size}"))],
        ),
        Some(None) => {
            access.status = 416;
            let cr = [("Content-Range", format!("bytes */{size}"))];
            let _ = write_head(out, 416, &cr, 0, keep_alive);
            return (access, keep_alive);
        }
    };
    access.status = status;
    let mut hdrs = vec![("Accept-Ranges", "bytes".to_string())];
    hdrs.extend(extra);
    if write_head(out, status, &hdrs, len, keep_alive).is_err() {
        return (access, false);
    }
    if with_body {
        let sent = match &mut body {
            Made::File(file) => file
                .seek(SeekFrom::Start(start))
                .and_then(|_| std::io::copy(&mut file.take(len), out)),
            Made::Bytes(b) => {
                let from = start as usize;
                let part = &b[from..from + len as usize];
                out.write_all(part).map(|()| len)
            }
        };
        match sent {
            Ok(n) => access.bytes = n,
            Err(_) => return (access, false),
        }
        if access.bytes != len {
            // The file shrank under us: the client must not take it as whole.
            return (access, false);
        }
    }
    (access, keep_alive)
}

/// The regular file a request path names below `root`: `/a/b` only (no query, no `..`, no
/// empty or dot segments, no percent-escapes: ostree's paths need none).
fn open(root: &Dir, path: &str) -> Option<cap_std::fs::File> {
    let rel = checked_rel(path)?;
    // Looked at before it is opened: opening a FIFO blocks until a writer comes (a worker,
    // and SIGTERM's clean stop, waited forever).
    if !root.metadata(rel).ok()?.is_file() {
        return None;
    }
    let f = root.open(rel).ok()?;
    f.metadata().ok()?.is_file().then_some(f)
}

/// The path below the root a request path names: `/a/b` only (no query, no `..`, no empty
/// or dot segments, no percent-escapes).
fn checked_rel(path: &str) -> Option<&str> {
    let rel = path.strip_prefix('/')?;
    if rel.is_empty()
        || rel
            .split('/')
            .any(|s| s.is_empty() || s == "." || s == ".." || s.contains(['%', '?', '#', '\\']))
    {
        return None;
    }
    Some(rel)
}

/// The one byte range of a `Range` header, inclusive, within `size`; `None` when it cannot
/// be satisfied (or is not one `bytes` range).
fn parse_range(value: &str, size: u64) -> Option<(u64, u64)> {
    let spec = value.trim().strip_prefix("bytes=")?;
    if spec.contains(',') || size == 0 {
        return None;
    }
    let (a, b) = spec.split_once('-')?;
    let (a, b) = (a.trim(), b.trim());
    if a.is_empty() {
        let n: u64 = b.parse().ok()?;
        if n == 0 {
            return None;
        }
        return Some((size.saturating_sub(n), size - 1));
    }
    let start: u64 = a.parse().ok()?;
    let end = if b.is_empty() {
        size - 1
    } else {
        b.parse::<u64>().ok()?.min(size - 1)
    };
    (start <= end && start < size).then_some((start, end))
}

fn reason(status: u16) -> &'static str {
    match status {
        200 => "OK",
        206 => "Partial Content",
        400 => "Bad Request",
        404 => "Not Found",
        405 => "Method Not Allowed",
        413 => "Content Too Large",
        416 => "Range Not Satisfiable",
        431 => "Request Header Fields Too Large",
        500 => "Internal Server Error",
        _ => "",
    }
}

fn write_head(
    out: &mut impl Write,
    status: u16,
    headers: &[(&str, String)],
    len: u64,
    keep_alive: bool,
) -> std::io::Result<()> {
    let mut h = format!("HTTP/1.1 {status} {}\r\n", reason(status));
    h.push_str(&format!("Content-Length: {len}\r\n"));
    if status == 200 || status == 206 {
        h.push_str("Content-Type: application/octet-stream\r\n");
    }
    for (k, v) in headers {
        h.push_str(&format!("{k}: {v}\r\n"));
    }
    h.push_str(if keep_alive {
        "Connection: keep-alive\r\n\r\n"
    } else {
        "Connection: close\r\n\r\n"
    });
    out.write_all(h.as_bytes())
}

#[cfg(test)]
mod tests {
    use super::*;

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

    /// Each hostile request on its own connection to a running server: the whole answer
    /// the client gets before the server closes the connection.
    #[test]
    fn bodies_big_heads_and_fifos_are_refused_and_nothing_is_smuggled() {
        let (d, root) = serve_dir();
        let fifo = d.path().join("objects/ab/fifo");
        let made = std::process::Command::new("mkfifo").arg(&fifo).status();
        assert!(made.unwrap().success());
        let listener = TcpListener::bind("127.0.0.1:0").unwrap();
        let addr = listener.local_addr().unwrap();
        let stop = AtomicBool::new(false);
        let config = Config {
            workers: 2,
            queue: 2,
            timeout: Duration::from_secs(5),
            idle: Duration::from_millis(200),
        };
        let smuggled = "GET /objects/ab/cd.filez HTTP/1.1\r\n\r\n";
        let big = format!(
            "GET /config HTTP/1.1\r\nX: {}\r\n\r\n",
            "a".repeat(MAX_HEAD)
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
            (
                "GET /objects/ab/fifo HTTP/1.1\r\n\r\n".to_string(),
                "HTTP/1.1 404 ",
            ),
        ];
        std::thread::scope(|s| {
            let server = s.spawn(|| serve(listener, &root, None, &config, &stop, &|_| {}));
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

    fn serve_dir() -> (tempfile::TempDir, Dir) {
        let d = tempfile::tempdir().unwrap();
        std::fs::create_dir_all(d.path().join("objects/ab")).unwrap();
        std::fs::write(d.path().join("config"), b"[core]\nmode=archive-z2\n").unwrap();
        std::fs::write(d.path().join("objects/ab/cd.filez"), b"0123456789").unwrap();
        let dir = Dir::open_ambient_dir(d.path(), cap_std::ambient_authority()).unwrap();
        (d, dir)
    }

    fn ask(root: &Dir, request: &str) -> (String, Access) {
        let mut out = Vec::new();
        let head = request.as_bytes();
        let (access, _) = respond(head, (root, None), &mut out, None, true);
        (String::from_utf8(out).unwrap(), access)
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
            let mut out = Vec::new();
            let (a, keep) = respond(
                req.as_bytes(),
                (&root, Some(&Backwards)),
                &mut out,
                None,
                true,
            );
            (String::from_utf8(out).unwrap(), a, keep)
        };
        let (r, a, keep) = ask("GET /made/abcdef HTTP/1.1\r\n\r\n");
        assert!(
            r.starts_with("HTTP/1.1 200 OK\r\n") && r.ends_with("\r\n\r\nfedcba"),
            "{r}"
        );
        assert_eq!((a.status, a.bytes, keep), (200, 6, true));
        let (r, a, _) = ask("GET /made/abcdef HTTP/1.1\r\nRange: bytes=2-3\r\n\r\n");
        assert!(
            r.contains("Content-Range: bytes 2-3/6\r\n") && r.ends_with("\r\n\r\ndc"),
            "{r}"
        );
        assert_eq!((a.status, a.bytes), (206, 2));
        // A big one comes as a file, read from its start whatever its position.
        let (r, a, _) = ask("GET /made/file HTTP/1.1\r\nRange: bytes=3-\r\n\r\n");
        assert!(r.ends_with("\r\n\r\na file"), "{r}");
        assert_eq!((a.status, a.bytes), (206, 6));
        // Files of the root come first; paths are checked before anything is made.
        let (r, _, _) = ask("GET /objects/ab/cd.filez HTTP/1.1\r\n\r\n");
        assert!(r.ends_with("0123456789"), "{r}");
        let (_, a, _) = ask("GET /made/../made/x HTTP/1.1\r\n\r\n");
        assert_eq!(a.status, 404);
        let (_, a, _) = ask("GET /other HTTP/1.1\r\n\r\n");
        assert_eq!(a.status, 404);
        // One that cannot be made is a 500 with the reason in the log, and the connection ends.
        let (r, a, keep) = ask("GET /made/bad HTTP/1.1\r\n\r\n");
        assert!(r.starts_with("HTTP/1.1 500 "), "{r}");
        assert_eq!((a.status, keep), (500, false));
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
            r.contains("Content-Length: 23\r\n") && r.ends_with("\r\n\r\n"),
            "{r}"
        );
        assert_eq!((a.status, a.bytes), (200, 0));
        let (r, a) = ask(
            &root,
            "GET /objects/ab/cd.filez HTTP/1.1\r\nRange: bytes=2-4\r\n\r\n",
        );
        assert!(
            r.contains("206 Partial Content") && r.contains("Content-Range: bytes 2-4/10"),
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
        let (_, a) = ask(&root, "DELETE /config HTTP/1.1\r\n\r\n");
        assert_eq!(a.status, 405);
        let (_, a) = ask(&root, "garbage\r\n\r\n");
        assert_eq!(a.status, 400);
    }

    #[test]
    fn a_served_directory_answers_clients_in_parallel_and_stops_when_told() {
        let (_d, root) = serve_dir();
        let listener = TcpListener::bind("127.0.0.1:0").unwrap();
        let addr = listener.local_addr().unwrap();
        let stop = AtomicBool::new(false);
        let seen = Mutex::new(Vec::new());
        let log = |a: &Access| seen.lock().unwrap().push(a.clone());
        let config = Config {
            workers: 2,
            queue: 2,
            timeout: Duration::from_secs(5),
            idle: Duration::from_millis(200),
        };
        std::thread::scope(|s| {
            let server = s.spawn(|| serve(listener, &root, None, &config, &stop, &log));
            // More clients than workers and queue: the rest wait, none is refused. Each asks
            // twice, on two connections (a kept-alive one is closed when others wait).
            let clients: Vec<_> = (0..12)
                .map(|_| {
                    s.spawn(move || {
                        ["/config", "/objects/ab/cd.filez"].map(|path| {
                            let mut c = TcpStream::connect(addr).unwrap();
                            c.set_read_timeout(Some(Duration::from_secs(10))).unwrap();
                            let req = format!("GET {path} HTTP/1.1\r\nConnection: close\r\n\r\n");
                            c.write_all(req.as_bytes()).unwrap();
                            let mut all = String::new();
                            let _ = c.read_to_string(&mut all);
                            all
                        })
                    })
                })
                .collect();
            let answers: Vec<_> = clients.into_iter().map(|c| c.join()).collect();
            // Stop the server before judging, so a failure cannot leave it running.
            stop.store(true, Ordering::Relaxed);
            server.join().unwrap().unwrap();
            for a in answers {
                let [config, object] = a.unwrap();
                assert!(config.starts_with("HTTP/1.1 200 OK"), "{config}");
                assert!(object.ends_with("0123456789"), "{object}");
            }
        });
        let seen = seen.into_inner().unwrap();
        assert_eq!(seen.len(), 24);
        assert_eq!(seen.iter().map(|a| a.bytes).sum::<u64>(), 12 * (23 + 10));
    }
}
