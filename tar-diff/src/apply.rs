//! An applier with every size bounded: rebuilds the tar a tar-diff describes, so that a
//! producer can check its delta against the layer's diff_id before shipping it, and so that
//! a delta from elsewhere can be checked. Accepts `tardf1` only (what this crate writes).

use crate::limits::{MAGIC_V1, MAGIC_V2, MAX_ADD_DATA, MAX_APPLY_DATA, MAX_PATH};
use crate::ops::{OP_ADD_DATA, OP_COPY, OP_DATA, OP_OPEN, OP_SEEK};
use crate::Error;
use std::io::{self, BufRead, BufReader, Read, Write};

/// The old tree, as the applier reads it.
pub trait ApplySource {
    /// A regular file of the old tree, positioned at 0.
    ///
    /// # Errors
    /// There is no such regular file, or it could not be opened.
    fn open(&mut self, path: &str) -> io::Result<Box<dyn ReadSeek>>;
}

/// What an opened source file must do.
pub trait ReadSeek: Read + io::Seek {}
impl<T: Read + io::Seek> ReadSeek for T {}

fn format(msg: impl Into<String>) -> Error {
    Error::Format(msg.into())
}

fn uvarint(r: &mut impl BufRead) -> Result<u64, Error> {
    let mut v: u64 = 0;
    for i in 0..10 {
        let mut b = [0u8; 1];
        r.read_exact(&mut b)
            .map_err(|_| format("a record is cut short"))?;
        let bits = u64::from(b[0] & 0x7f);
        if i == 9 && b[0] > 1 {
            return Err(format("a varint overflows 64 bits"));
        }
        v |= bits << (7 * i);
        if b[0] & 0x80 == 0 {
            return Ok(v);
        }
    }
    Err(format("a varint is longer than 10 bytes"))
}

/// A path an op may OPEN: relative, UTF-8, no `.`/`..`/empty components.
fn clean(path: &[u8]) -> Result<&str, Error> {
    let p = std::str::from_utf8(path).map_err(|_| format("OPEN of a path that is not UTF-8"))?;
    if p.is_empty()
        || p.starts_with('/')
        || p.split('/').any(|c| c.is_empty() || c == "." || c == "..")
    {
        return Err(format(format!("OPEN of {p:?}: not a plain relative path")));
    }
    Ok(p)
}

/// One op record, its bounds checked; the payload of DATA and ADD_DATA is still to read.
enum Op {
    Data(u64),
    Open(String),
    Copy(u64),
    AddData(u64),
    Seek(u64),
}

/// The op records of a tar-diff, one at a time: the magic checked, the zstd window bounded.
struct Ops<R: Read> {
    r: BufReader<zstd::stream::read::Decoder<'static, BufReader<R>>>,
}

impl<R: Read> Ops<R> {
    fn new(mut delta: R) -> Result<Self, Error> {
        let mut magic = [0u8; 8];
        delta
            .read_exact(&mut magic)
            .map_err(|_| format("shorter than its magic"))?;
        if &magic == MAGIC_V2 {
            return Err(format(
                "tardf2 (zstd patch-from ops) is not accepted, only tardf1",
            ));
        }
        if &magic != MAGIC_V1 {
            return Err(format("not a tar-diff (bad magic)"));
        }
        let mut z = zstd::stream::read::Decoder::new(delta)?;
        // Bound the decoder's window as the consumers do (2^27), so that a hostile frame
        // cannot make it allocate more.
        z.window_log_max(27)?;
        Ok(Ops {
            r: BufReader::new(z),
        })
    }

    /// The next record; `None` at the end of the stream (between records).
    fn next(&mut self) -> Result<Option<Op>, Error> {
        if self.r.fill_buf()?.is_empty() {
            return Ok(None);
        }
        let mut op = [0u8; 1];
        self.r.read_exact(&mut op)?;
        let size = uvarint(&mut self.r)?;
        Ok(Some(match op[0] {
            OP_DATA if size > MAX_APPLY_DATA => {
                return Err(format(format!(
                    "DATA of {size} bytes is over the bound of {MAX_APPLY_DATA}"
                )))
            }
            OP_DATA => Op::Data(size),
            OP_OPEN => {
                if size as usize > MAX_PATH {
                    return Err(format(format!(
                        "OPEN path of {size} bytes is over {MAX_PATH}"
                    )));
                }
                let mut p = vec![0u8; size as usize];
                self.r
                    .read_exact(&mut p)
                    .map_err(|_| format("OPEN is cut short"))?;
                Op::Open(clean(&p)?.to_string())
            }
            OP_COPY => Op::Copy(size),
            OP_ADD_DATA if size as usize > MAX_ADD_DATA => {
                return Err(format(format!(
                    "ADD_DATA of {size} bytes is over {MAX_ADD_DATA}"
                )))
            }
            OP_ADD_DATA => Op::AddData(size),
            OP_SEEK => Op::Seek(size),
            other => return Err(format(format!("unknown op {other}"))),
        }))
    }

    /// Copy the `size` bytes of the current record's payload to `out`.
    fn payload(&mut self, size: u64, out: &mut impl Write) -> Result<(), Error> {
        if io::copy(&mut (&mut self.r).take(size), out)? != size {
            return Err(format("a payload is cut short"));
        }
        Ok(())
    }
}

/// The current source file, with its path for messages.
struct Current(Option<(String, Box<dyn ReadSeek>)>);

impl Current {
    fn get(&mut self) -> Result<(&str, &mut Box<dyn ReadSeek>), Error> {
        match &mut self.0 {
            Some((p, f)) => Ok((p.as_str(), f)),
            None => Err(format("an op reads a source before any OPEN")),
        }
    }
}

fn past_end(path: &str, what: &str) -> Error {
    Error::Source {
        path: path.to_string(),
        reason: format!("{what} reads past its end"),
    }
}

/// Apply the tar-diff `delta` against `source`, writing the rebuilt stream to `out`;
/// returns its length.
///
/// # Errors
/// The delta is malformed or exceeds a bound ([`Error::Format`]), names a source file that
/// is not there or is too short ([`Error::Source`]), or I/O failed.
pub fn apply(
    delta: impl Read,
    source: &mut dyn ApplySource,
    mut out: impl Write,
) -> Result<u64, Error> {
    let mut ops = Ops::new(delta)?;
    let mut current = Current(None);
    let mut written = 0u64;
    let mut buf = vec![0u8; 1 << 16];
    let mut src = vec![0u8; 1 << 16];
    while let Some(op) = ops.next()? {
        match op {
            Op::Data(size) => {
                ops.payload(size, &mut out)?;
                written += size;
            }
            Op::Open(path) => {
                let f = source.open(&path).map_err(|e| Error::Source {
                    path: path.clone(),
                    reason: e.to_string(),
                })?;
                current.0 = Some((path, f));
            }
            Op::Copy(size) => {
                let (path, f) = current.get()?;
                if io::copy(&mut f.take(size), &mut out)? != size {
                    return Err(past_end(path, &format!("COPY of {size} bytes")));
                }
                written += size;
            }
            Op::AddData(size) => {
                let (path, f) = current.get()?;
                let mut left = size as usize;
                while left > 0 {
                    let k = left.min(buf.len());
                    ops.r
                        .read_exact(&mut buf[..k])
                        .map_err(|_| format("ADD_DATA is cut short"))?;
                    f.read_exact(&mut src[..k])
                        .map_err(|_| past_end(path, "ADD_DATA"))?;
                    for (d, s) in buf[..k].iter_mut().zip(&src[..k]) {
                        *d = d.wrapping_add(*s);
                    }
                    out.write_all(&buf[..k])?;
                    left -= k;
                }
                written += size;
            }
            Op::Seek(to) => {
                current.get()?.1.seek(io::SeekFrom::Start(to))?;
            }
        }
    }
    Ok(written)
}

/// The source paths a tar-diff OPENs, in order of first use, without applying it: what an
/// applier must have at hand.
///
/// # Errors
/// As [`apply`] for a malformed stream.
pub fn opened(delta: impl Read) -> Result<Vec<String>, Error> {
    let mut ops = Ops::new(delta)?;
    let mut seen = std::collections::HashSet::new();
    let mut out = Vec::new();
    while let Some(op) = ops.next()? {
        match op {
            Op::Data(size) | Op::AddData(size) => ops.payload(size, &mut io::sink())?,
            Op::Open(path) => {
                if seen.insert(path.clone()) {
                    out.push(path);
                }
            }
            Op::Copy(_) | Op::Seek(_) => {}
        }
    }
    Ok(out)
}
