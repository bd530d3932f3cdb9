//! A read-only HTTP/1.1 server for the files of one directory: what ostree's HTTP client
//! (libcurl) needs of a repository server, and no more.
//!
//! HTTP/1.1 itself is `hyper`'s (through `hyper-util` on `tokio`): parsing request heads,
//! framing, keep-alive and pipelining, `400`/`431` for heads it cannot take, and the
//! header-read deadline. What is ours is small, and in `respond`:
//!
//! - `GET` and `HEAD` of regular files below the root; nothing else (405), no directory
//!   listings, no path that leaves the root (the root is a `cap_std::fs::Dir`).
//! - One byte range per request (`Range: bytes=A-B`, `A-`, `-N`): 206 with `Content-Range`,
//!   416 when unsatisfiable. A client that was cut off resumes a large object this way.
//! - Request bodies are refused (413, or 400 for `Transfer-Encoding`) and the connection
//!   closed: no request here has one.
//! - Paths the root does not hold may be made on request by a [`Generated`] source (the
//!   objects `serve` reads from image layers); they are served like files, ranges included.
//! - Every response is reported to `log` (method, path, status, body bytes, peer), once its
//!   body is sent or abandoned; so are heads refused by hyper and connections closed at
//!   the header deadline.
//!
//! And the bounds around it, each in [`Config`]: at most `connections` open at once (more
//! wait in the kernel's backlog, not accepted); a request head must arrive whole within
//! `header_timeout` of the connection opening or going idle, so neither a slowloris client
//! nor an idle kept-alive connection holds anything for long; a response whose writes
//! stall for `stall_timeout` is abandoned; a request is answered within `request_timeout`
//! or abandoned. Opening files and making objects run on `workers` blocking threads, so
//! a slow object delays its own client, never the connections' I/O. Slow and idle
//! connections cost a task each, not a thread: they cannot starve the others.
//! Stops when `stop` is set: no new connections; those open finish the request in hand.

mod respond;
mod stall;

use cap_std::fs::Dir;
use hyper_util::rt::{TokioIo, TokioTimer};
use std::net::{SocketAddr, TcpListener};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::Duration;
use tokio::sync::Semaphore;

/// Longest request head accepted (request line and headers); ostree's are a few hundred bytes.
pub const MAX_HEAD: usize = 16 * 1024;
/// Most headers in a request; libcurl sends fewer than ten.
const MAX_HEADERS: usize = 64;
/// hyper's buffer per connection: a whole head fits; bodies are never read.
const MAX_BUF: usize = 4 * MAX_HEAD;
/// How often the accept loop looks at the stop flag.
const POLL: Duration = Duration::from_millis(50);
/// Threads for the connections' I/O: copying bytes to sockets is cheap; the blocking work
/// (opening files, making objects) has its own `workers`.
const IO_THREADS: usize = 2;

/// Most worker threads a server runs: each is a thread with its own stack; a thousand make
/// objects for a busy mirror, and beyond that the threads cost memory without serving
/// faster (`--workers 1000000` panicked, and `usize::MAX` overflowed a capacity).
pub const MAX_WORKERS: usize = 1024;
/// Most connections a server may hold open: each takes a file descriptor (`ulimit -n`
/// must allow it) and up to `MAX_BUF` (64 KiB) of buffer.
pub const MAX_CONNECTIONS: usize = 65536;

/// How the server runs.
#[derive(Debug, Clone)]
pub struct Config {
    /// Threads opening files and making objects (`Generated`).
    pub workers: usize,
    /// Connections open at once; more wait in the kernel's backlog.
    pub connections: usize,
    /// How long a request head may take to arrive whole, counted from the connection's
    /// opening or its last response: the slowloris bound, and the keep-alive idle bound.
    pub header_timeout: Duration,
    /// How long a response's writes may stall (the client reads nothing) before it is
    /// abandoned and the connection closed.
    pub stall_timeout: Duration,
    /// How long a request may take from its head to its last body byte.
    pub request_timeout: Duration,
}

/// Default [`Config::workers`].
pub const WORKERS: usize = 8;
/// Default [`Config::connections`]: Debian's default open-file limit is 1024, and half of
/// it for connections leaves the rest for the files being served.
pub const CONNECTIONS: usize = 512;
/// Default [`Config::header_timeout`], seconds: ostree's heads take a few hundred bytes,
/// sent at once; ten seconds is generous on any link, and short for a slowloris client.
pub const HEADER_TIMEOUT: u64 = 10;
/// Default [`Config::stall_timeout`], seconds.
pub const STALL_TIMEOUT: u64 = 30;
/// Default [`Config::request_timeout`], seconds: the largest objects over a slow link
/// (600 MB at 1 MB/s).
pub const REQUEST_TIMEOUT: u64 = 600;

impl Default for Config {
    fn default() -> Self {
        Config {
            workers: WORKERS,
            connections: CONNECTIONS,
            header_timeout: Duration::from_secs(HEADER_TIMEOUT),
            stall_timeout: Duration::from_secs(STALL_TIMEOUT),
            request_timeout: Duration::from_secs(REQUEST_TIMEOUT),
        }
    }
}

/// Files made on request, for paths the root does not hold.
pub trait Generated: Send + Sync {
    /// The bytes of the file at `rel` (a path below the root, already checked like a file
    /// path); `None` when it is not one of these, `Err` (answered with 500 and logged) when
    /// it is but could not be made. Called on a worker thread: it may block.
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
    /// `GET`, `HEAD`, ...; `-` for a head that could not be read.
    pub method: String,
    /// The request target as sent.
    pub path: String,
    /// The status answered.
    pub status: u16,
    /// Body bytes sent.
    pub bytes: u64,
    /// What went wrong: an object that could not be made (a 500), a head refused or never
    /// completed, a response cut short.
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

/// Where the access log goes.
pub type Log = Arc<dyn Fn(&Access) + Send + Sync>;

/// What every request of a server shares.
pub(crate) struct Shared {
    pub(crate) root: Dir,
    pub(crate) generated: Option<Arc<dyn Generated>>,
    pub(crate) log: Log,
    /// Permits for the blocking work, `Config::workers` of them.
    pub(crate) work: Arc<Semaphore>,
    pub(crate) config: Config,
}

impl Shared {
    /// What a server of `config` shares, its bounds clamped to what is supported.
    fn new(
        root: Dir,
        generated: Option<Arc<dyn Generated>>,
        log: Log,
        config: &Config,
    ) -> Arc<Shared> {
        let workers = config.workers.clamp(1, MAX_WORKERS);
        Arc::new(Shared {
            root,
            generated,
            log,
            work: Arc::new(Semaphore::new(workers)),
            config: Config {
                workers,
                connections: config.connections.clamp(1, MAX_CONNECTIONS),
                ..config.clone()
            },
        })
    }
}

/// Serve `root` (and what `generated` makes) on `listener` until `stop` is set.
///
/// # Errors
/// The runtime cannot start, or the listener fails (other than running out of file
/// descriptors or a client gone before it was accepted, which wait and go on).
pub fn serve(
    listener: TcpListener,
    root: Dir,
    generated: Option<Arc<dyn Generated>>,
    config: &Config,
    stop: &AtomicBool,
    log: Log,
) -> std::io::Result<()> {
    let shared = Shared::new(root, generated, log, config);
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(IO_THREADS)
        // The workers' permits bound the blocking work; the other half of the pool reads
        // files for bodies, so a busy worker pool never stalls a transfer under way.
        .max_blocking_threads(2 * shared.config.workers)
        .thread_name("serve")
        .enable_all()
        .build()?;
    listener.set_nonblocking(true)?;
    let result = runtime.block_on(accept_loop(listener, &shared, stop));
    // Objects still being made for clients gone are not waited for.
    runtime.shutdown_timeout(shared.config.stall_timeout);
    result
}

/// hyper's HTTP/1 server, with our bounds.
fn http1(config: &Config) -> hyper::server::conn::http1::Builder {
    let mut b = hyper::server::conn::http1::Builder::new();
    b.timer(TokioTimer::new())
        .header_read_timeout(config.header_timeout)
        .max_headers(MAX_HEADERS)
        .max_header_size(MAX_HEAD)
        .max_buf_size(MAX_BUF)
        .half_close(true);
    b
}

async fn accept_loop(
    listener: TcpListener,
    shared: &Arc<Shared>,
    stop: &AtomicBool,
) -> std::io::Result<()> {
    let listener = tokio::net::TcpListener::from_std(listener)?;
    let open = Arc::new(Semaphore::new(shared.config.connections));
    let graceful = hyper_util::server::graceful::GracefulShutdown::new();
    let http = http1(&shared.config);
    loop {
        // A connection is accepted only with a permit: past the bound, clients wait in
        // the kernel's backlog, and are served in turn.
        let permit = tokio::select! {
            p = Arc::clone(&open).acquire_owned() => p.map_err(std::io::Error::other)?,
            () = stopped(stop) => break,
        };
        let (stream, peer) = tokio::select! {
            r = listener.accept() => match r {
                Ok(a) => a,
                Err(e) if transient(&e) => {
                    tokio::time::sleep(POLL).await;
                    continue;
                }
                Err(e) => return Err(e),
            },
            () = stopped(stop) => break,
        };
        let _ = stream.set_nodelay(true);
        let io = TokioIo::new(stall::Stalling::new(stream, shared.config.stall_timeout));
        let s = Arc::clone(shared);
        let service = hyper::service::service_fn(move |req| {
            respond::respond(Arc::clone(&s), Some(peer), req)
        });
        let conn = graceful.watch(http.serve_connection(io, service));
        let s = Arc::clone(shared);
        tokio::spawn(async move {
            if let Err(e) = conn.await {
                connection_error(&s, Some(peer), &e);
            }
            drop(permit);
        });
    }
    // No new connections; idle ones close now, busy ones after the response in hand.
    drop(listener);
    let _ = tokio::time::timeout(shared.config.stall_timeout, graceful.shutdown()).await;
    Ok(())
}

/// Returns once `stop` is set.
async fn stopped(stop: &AtomicBool) {
    while !stop.load(Ordering::Relaxed) {
        tokio::time::sleep(POLL).await;
    }
}

/// Accept errors that pass: out of file descriptors (wait for connections to close), a
/// client that left before it was accepted.
fn transient(e: &std::io::Error) -> bool {
    use std::io::ErrorKind::*;
    matches!(
        e.kind(),
        ConnectionAborted | ConnectionReset | Interrupted | WouldBlock
    ) || matches!(e.raw_os_error(), Some(23 | 24)) // ENFILE, EMFILE
}

/// Log what ended a connection when it is the client's doing and no response said it:
/// heads hyper refused (it answered 400 or 431 itself) and heads not complete in time (no
/// answer; the connection is closed). A client that just left is not logged.
fn connection_error(shared: &Shared, peer: Option<SocketAddr>, e: &hyper::Error) {
    let (status, why) = if e.is_parse_too_large() {
        (
            431,
            format!("request head over {MAX_HEAD} bytes or {MAX_HEADERS} headers"),
        )
    } else if e.is_parse() {
        (400, "unparsable request head".to_string())
    } else if e.is_timeout() {
        (
            408,
            format!(
                "no whole request head within {} s: closed without an answer",
                shared.config.header_timeout.as_secs_f64()
            ),
        )
    } else {
        return;
    };
    (shared.log)(&Access {
        peer,
        method: "-".into(),
        path: "-".into(),
        status,
        bytes: 0,
        error: Some(why),
    });
}

/// Everything a server sends back for the bytes `request`, sent on one connection that the
/// client then half-closes: for the `http_request` fuzz target and the tests, through the
/// same hyper configuration and request handling as [`serve`], without a socket.
///
/// # Errors
/// The runtime cannot start, or `root` cannot be duplicated.
pub fn answer(request: &[u8], root: &Dir) -> std::io::Result<Vec<u8>> {
    answer_with(request, root, None, Arc::new(|_: &Access| {}))
}

fn answer_with(
    request: &[u8],
    root: &Dir,
    generated: Option<Arc<dyn Generated>>,
    log: Log,
) -> std::io::Result<Vec<u8>> {
    use tokio::io::{AsyncReadExt, AsyncWriteExt};
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()?;
    let shared = Shared::new(root.try_clone()?, generated, log, &Config::default());
    let config = &shared.config;
    runtime.block_on(async {
        // Big enough for every answer to a head of MAX_HEAD bytes, so that the client
        // can write the whole request before it reads.
        let (mut client, server) = tokio::io::duplex(1 << 20);
        let service =
            hyper::service::service_fn(|req| respond::respond(Arc::clone(&shared), None, req));
        let conn = http1(config).serve_connection(TokioIo::new(server), service);
        let talk = async {
            client.write_all(request).await?;
            client.shutdown().await?;
            let mut out = Vec::new();
            client.read_to_end(&mut out).await?;
            Ok::<_, std::io::Error>(out)
        };
        let (served, out) = tokio::join!(conn, talk);
        if let Err(e) = served {
            connection_error(&shared, None, &e);
        }
        out
    })
}

#[cfg(test)]
mod tests;
