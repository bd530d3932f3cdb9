//! One request answered: which methods and paths are served, byte ranges, refused bodies,
//! files from the root or made on request (on a worker thread), and the response body that
//! reports itself to the access log when it is done.

use crate::{Access, Made, Shared};
use bytes::Bytes;
use http_body::{Frame, SizeHint};
use hyper::body::Incoming;
use hyper::header::{self, HeaderValue};
use hyper::{Method, Request, Response, StatusCode};
use std::convert::Infallible;
use std::future::Future;
use std::io::{Seek, SeekFrom};
use std::net::SocketAddr;
use std::pin::Pin;
use std::sync::Arc;
use std::task::{Context, Poll};
use tokio::io::{AsyncRead, ReadBuf};
use tokio::time::{Instant, Sleep};

/// Bytes read from a file per body frame.
const CHUNK: u64 = 128 * 1024;
/// Files up to this size are read whole when opened (one blocking job per request).
const SMALL: u64 = CHUNK;

/// What a worker found for a path.
enum Found {
    /// A regular file (of the root or made), positioned at its start, and its size.
    File(std::fs::File, u64),
    Bytes(Vec<u8>),
    Missing,
    /// A file made on request that could not be made.
    Failed(String),
}

/// Answer one request (hyper calls this for each request head it parsed).
pub(crate) async fn respond(
    shared: Arc<Shared>,
    peer: Option<SocketAddr>,
    req: Request<Incoming>,
) -> Result<Response<Sending>, Infallible> {
    let deadline = Instant::now() + shared.config.request_timeout;
    let target = req
        .uri()
        .path_and_query()
        .map_or_else(|| req.uri().to_string(), |p| p.as_str().to_string());
    let access = Access {
        peer,
        method: req.method().as_str().to_string(),
        path: req.uri().to_string(),
        status: 400,
        bytes: 0,
        error: None,
    };
    let reply = Reply {
        access,
        log: Arc::clone(&shared.log),
    };
    // No request here has a body, and none is read: refused, and the connection closed
    // (hyper frames bodies correctly, but a request that sends one is not one of ostree's).
    if !http_body::Body::is_end_stream(req.body()) {
        let chunked = req.headers().contains_key(header::TRANSFER_ENCODING);
        let status = if chunked { 400 } else { 413 };
        return Ok(reply.empty(status, &[], true));
    }
    let with_body = match *req.method() {
        Method::GET => true,
        Method::HEAD => false,
        _ => {
            return Ok(reply.empty(
                405,
                &[(header::ALLOW, HeaderValue::from_static("GET, HEAD"))],
                false,
            ))
        }
    };
    let Some(rel) = checked_rel(&target).map(str::to_string) else {
        return Ok(reply.empty(404, &[], false));
    };
    let found = tokio::time::timeout_at(deadline, find(&shared, rel)).await;
    let (body, size) = match found {
        Ok(Found::File(f, size)) => (Body::File(tokio::fs::File::from_std(f)), size),
        Ok(Found::Bytes(b)) => {
            let size = b.len() as u64;
            (Body::Bytes(Bytes::from(b)), size)
        }
        Ok(Found::Missing) => return Ok(reply.empty(404, &[], false)),
        Ok(Found::Failed(e)) => return Ok(reply.failed(e)),
        Err(_) => return Ok(reply.failed("not found or made within the request deadline".into())),
    };
    let (status, start, len) = match range(&req, size) {
        Ok(r) => r,
        Err(()) => {
            let cr = header_value(&format!("bytes */{size}"));
            return Ok(reply.empty(416, &[(header::CONTENT_RANGE, cr)], false));
        }
    };
    let body = match body {
        _ if !with_body => Body::Empty,
        Body::Bytes(b) => Body::Bytes(b.slice(start as usize..(start + len) as usize)),
        Body::File(mut f) => {
            use tokio::io::AsyncSeekExt;
            if let Err(e) = f.seek(SeekFrom::Start(start)).await {
                return Ok(reply.failed(format!("seeking: {e}")));
            }
            Body::File(f)
        }
        Body::Empty => Body::Empty,
    };
    Ok(reply.body(status, (start, len, size), body, with_body, deadline))
}

/// The status, first byte and length `req` asks of a file of `size` bytes: all of it
/// (200) or its one range (206); `Err` for a range it cannot have (416).
fn range(req: &Request<Incoming>, size: u64) -> Result<(u16, u64, u64), ()> {
    match req.headers().get(header::RANGE) {
        None => Ok((200, 0, size)),
        Some(r) => match r.to_str().ok().and_then(|r| parse_range(r, size)) {
            Some((a, b)) => Ok((206, a, b - a + 1)),
            None => Err(()),
        },
    }
}

/// Open the file at `rel` below the root, or have it made, on a worker thread.
async fn find(shared: &Arc<Shared>, rel: String) -> Found {
    let Ok(permit) = Arc::clone(&shared.work).acquire_owned().await else {
        return Found::Failed("the server is stopping".into());
    };
    let s = Arc::clone(shared);
    let found = tokio::task::spawn_blocking(move || {
        let _permit = permit;
        if let Some(f) = open(&s.root, &rel) {
            let size = f.metadata().map(|m| m.len()).unwrap_or(0);
            let mut f = f.into_std();
            if size <= SMALL {
                // Read here, on the worker that opened it: most objects are small, and a
                // body read through tokio's file would cost a blocking job per chunk.
                use std::io::Read;
                let mut bytes = Vec::with_capacity(size as usize);
                return match (&mut f).take(size).read_to_end(&mut bytes) {
                    Ok(n) if n as u64 == size => Found::Bytes(bytes),
                    Ok(_) => Found::Failed("it shrank while it was read".into()),
                    Err(e) => Found::Failed(format!("reading it: {e}")),
                };
            }
            return Found::File(f, size);
        }
        match s.generated.as_ref().and_then(|g| g.get(&rel)) {
            None => Found::Missing,
            Some(Err(e)) => Found::Failed(e),
            Some(Ok(Made::Bytes(b))) => Found::Bytes(b),
            Some(Ok(Made::File(mut f))) => {
                let size = f.metadata().map(|m| m.len());
                match (size, f.seek(SeekFrom::Start(0))) {
                    (Ok(size), Ok(_)) => Found::File(f, size),
                    (Err(e), _) | (_, Err(e)) => Found::Failed(format!("reading it back: {e}")),
                }
            }
        }
    })
    .await;
    found.unwrap_or_else(|e| Found::Failed(format!("making it: {e}")))
}

/// A response about to be made, and what the log will say of it.
struct Reply {
    access: Access,
    log: crate::Log,
}

impl Reply {
    /// A response without a body; `close` ends the connection after it.
    fn empty(
        mut self,
        status: u16,
        headers: &[(header::HeaderName, HeaderValue)],
        close: bool,
    ) -> Response<Sending> {
        self.access.status = status;
        let mut r = Response::new(Sending::new(Body::Empty, 0, None, self));
        *r.status_mut() = StatusCode::from_u16(status).unwrap_or(StatusCode::BAD_REQUEST);
        let h = r.headers_mut();
        h.insert(header::CONTENT_LENGTH, HeaderValue::from_static("0"));
        for (k, v) in headers {
            h.insert(k.clone(), v.clone());
        }
        if close {
            h.insert(header::CONNECTION, HeaderValue::from_static("close"));
        }
        r
    }

    /// A 500 for a file that could not be made: the reason in the log, and the connection
    /// closed.
    fn failed(mut self, why: String) -> Response<Sending> {
        self.access.error = Some(why);
        self.empty(500, &[], true)
    }

    /// A file's bytes `start..start + len` of `size` with `status` (200 or 206), from
    /// `body` (already at `start`); only the head when not `with_body`.
    fn body(
        mut self,
        status: u16,
        (start, len, size): (u64, u64, u64),
        body: Body,
        with_body: bool,
        deadline: Instant,
    ) -> Response<Sending> {
        self.access.status = status;
        let sent = if with_body { len } else { 0 };
        let mut r = Response::new(Sending::new(body, sent, Some(deadline), self));
        *r.status_mut() = StatusCode::from_u16(status).unwrap_or(StatusCode::OK);
        let h = r.headers_mut();
        h.insert(header::CONTENT_LENGTH, HeaderValue::from(len));
        h.insert(
            header::CONTENT_TYPE,
            HeaderValue::from_static("application/octet-stream"),
        );
        h.insert(header::ACCEPT_RANGES, HeaderValue::from_static("bytes"));
        if status == 206 {
            let cr = format!("bytes {start}-{}/{size}", start + len - 1);
            h.insert(header::CONTENT_RANGE, header_value(&cr));
        }
        r
    }
}

fn header_value(s: &str) -> HeaderValue {
    HeaderValue::from_str(s).unwrap_or_else(|_| HeaderValue::from_static("-"))
}

/// Where a response's bytes come from.
pub(crate) enum Body {
    Empty,
    Bytes(Bytes),
    /// A file, read from its current position.
    File(tokio::fs::File),
}

/// A response body: sends `left` bytes from its source, fails once the request's deadline
/// passes, and logs the request when it is dropped (sent, or abandoned by a client gone).
pub(crate) struct Sending {
    body: Body,
    left: u64,
    deadline: Option<Pin<Box<Sleep>>>,
    reply: Reply,
    expected: u64,
}

impl Sending {
    fn new(body: Body, left: u64, deadline: Option<Instant>, reply: Reply) -> Self {
        Sending {
            body,
            left,
            deadline: deadline.map(|d| Box::pin(tokio::time::sleep_until(d))),
            reply,
            expected: left,
        }
    }

    fn fail(&mut self, why: String) -> Poll<Option<Result<Frame<Bytes>, std::io::Error>>> {
        self.left = 0;
        self.reply.access.error = Some(why.clone());
        Poll::Ready(Some(Err(std::io::Error::other(why))))
    }
}

impl http_body::Body for Sending {
    type Data = Bytes;
    type Error = std::io::Error;

    fn poll_frame(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
    ) -> Poll<Option<Result<Frame<Self::Data>, Self::Error>>> {
        let this = &mut *self;
        if this.left == 0 {
            return Poll::Ready(None);
        }
        if let Some(d) = &mut this.deadline {
            if d.as_mut().poll(cx).is_ready() {
                return this.fail("the request deadline passed".into());
            }
        }
        let chunk = match &mut this.body {
            Body::Empty => return this.fail("nothing to send".into()),
            Body::Bytes(b) => {
                let n = this.left.min(b.len() as u64) as usize;
                if n == 0 {
                    return this.fail("the file shrank".into());
                }
                b.split_to(n)
            }
            Body::File(f) => {
                let mut buf = vec![0u8; this.left.min(CHUNK) as usize];
                let mut rb = ReadBuf::new(&mut buf);
                match Pin::new(f).poll_read(cx, &mut rb) {
                    Poll::Pending => return Poll::Pending,
                    Poll::Ready(Err(e)) => return this.fail(format!("reading: {e}")),
                    Poll::Ready(Ok(())) => {}
                }
                let n = rb.filled().len();
                if n == 0 {
                    // The file shrank under us: the client must not take it as whole.
                    return this.fail("the file shrank".into());
                }
                buf.truncate(n);
                Bytes::from(buf)
            }
        };
        this.left -= chunk.len() as u64;
        this.reply.access.bytes += chunk.len() as u64;
        Poll::Ready(Some(Ok(Frame::data(chunk))))
    }

    fn is_end_stream(&self) -> bool {
        self.left == 0
    }

    fn size_hint(&self) -> SizeHint {
        SizeHint::with_exact(self.left)
    }
}

impl Drop for Sending {
    fn drop(&mut self) {
        let a = &mut self.reply.access;
        if a.bytes < self.expected && a.error.is_none() {
            a.error = Some(format!(
                "the client took {} of {} bytes",
                a.bytes, self.expected
            ));
        }
        (self.reply.log)(a);
    }
}

/// The regular file a request path names below `root`: `/a/b` only (no query, no `..`, no
/// empty or dot segments, no percent-escapes: ostree's paths need none).
fn open(root: &cap_std::fs::Dir, rel: &str) -> Option<cap_std::fs::File> {
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
pub(crate) fn checked_rel(path: &str) -> Option<&str> {
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
pub(crate) fn parse_range(value: &str, size: u64) -> Option<(u64, u64)> {
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
