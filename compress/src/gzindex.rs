//! Random access into gzip blobs of any writer, through checkpoints (as zlib's `zran.c`).
//!
//! A gzip layer written by another tool is one deflate stream: any byte may refer back up to
//! 32 KiB, so it can only be read from its start. Inflating it once and noting, about every
//! `span` bytes of output, where a deflate block starts (its bit position) and the 32 KiB of
//! output before it makes every offset reachable by inflating from the checkpoint before
//! it: at most one span plus one block. `serve` reads content objects this way from layers
//! it did not write (ours carry a block index instead, `crate::blocks`).
//!
//! zlib can stop at block boundaries and resume at a bit position, but flate2 exposes
//! neither, so this is a small inflater of its own on the tables of [`crate::deflate_end`].
//! While the checkpoints are made, every gzip member's CRC-32 and length are checked against
//! its trailer; a stream that does not parse, is truncated, or has anything but gzip members
//! in it is an error, never a shorter output.

use crate::deflate_end::{fixed_tables, Bits, Table, WalkError, Walker, DIST_EXTRA, LENGTH_EXTRA};
use std::io;

/// How far back deflate refers: the output a checkpoint keeps.
pub const WINDOW: usize = 32 << 10;

/// A deflate block may not inflate to more than this: hostile input must not make the
/// server allocate without bound (zlib's blocks hold at most ~4 MiB of output, libdeflate's
/// less).
pub const MAX_BLOCK_OUTPUT: usize = 64 << 20;

/// Compressed bytes read ahead for one header or block; doubled while a block does not fit,
/// up to [`MAX_BLOCK_INPUT`].
const FIRST_READ: usize = 256 << 10;

/// The largest compressed block (or gzip header) read.
const MAX_BLOCK_INPUT: usize = 64 << 20;

/// Length bases of codes 257..=285 (RFC 1951 3.2.5).
const LENGTH_BASE: [u16; 29] = [
    3, 4, 5, 6, 7, 8, 9, 10, 11, 13, 15, 17, 19, 23, 27, 31, 35, 43, 51, 59, 67, 83, 99, 115, 131,
    163, 195, 227, 258,
];

/// Distance bases of codes 0..=29.
const DIST_BASE: [u16; 30] = [
    1, 2, 3, 4, 5, 7, 9, 13, 17, 25, 33, 49, 65, 97, 129, 193, 257, 385, 513, 769, 1025, 1537,
    2049, 3073, 4097, 6145, 8193, 12289, 16385, 24577,
];

/// Where the compressed bytes come from: read at any offset (a blob where it lies, or
/// memory).
pub trait ReadAt {
    /// Read into `buf` from `offset`; 0 at the end.
    ///
    /// # Errors
    /// As the source's reads.
    fn read_at(&self, buf: &mut [u8], offset: u64) -> io::Result<usize>;
}

impl ReadAt for [u8] {
    fn read_at(&self, buf: &mut [u8], offset: u64) -> io::Result<usize> {
        let from = usize::try_from(offset)
            .unwrap_or(usize::MAX)
            .min(self.len());
        let n = buf.len().min(self.len() - from);
        buf[..n].copy_from_slice(&self[from..from + n]);
        Ok(n)
    }
}

impl<T: ReadAt + ?Sized> ReadAt for &T {
    fn read_at(&self, buf: &mut [u8], offset: u64) -> io::Result<usize> {
        (**self).read_at(buf, offset)
    }
}

/// A place where inflating can start: a gzip member's header or a deflate block's.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Checkpoint {
    /// Offset in the uncompressed stream.
    pub out: u64,
    /// Bit position in the compressed file (bit 0 of byte `bit / 8` is bit `bit`).
    pub bit: u64,
    /// At a member's header (its window is empty: members do not refer to each other).
    pub header: bool,
    /// The output before `out`, up to [`WINDOW`] bytes.
    pub window: Vec<u8>,
}

/// What comes next in the stream.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Next {
    Header,
    Block,
    Trailer,
    End,
}

/// Inflates a gzip file one header, block or trailer at a time, keeping the output of the
/// last block and at least [`WINDOW`] bytes before it.
struct Inflater<S> {
    src: S,
    /// Compressed bytes from file offset `base`.
    buf: Vec<u8>,
    base: u64,
    /// The next bit, within `buf`.
    bit: usize,
    /// `buf` reaches the end of the file.
    eof: bool,
    /// Output: the window, then what the caller has not taken (from `taken`).
    hist: Vec<u8>,
    taken: usize,
    /// Uncompressed offset of the end of `hist`.
    out: u64,
    next: Next,
    /// The current member's CRC-32 and length; `None` when it was entered by a checkpoint.
    member: Option<(crc32fast::Hasher, u64)>,
    tables: Walker,
}

fn invalid(what: impl std::fmt::Display) -> io::Error {
    io::Error::new(io::ErrorKind::InvalidData, format!("gzip stream: {what}"))
}

impl<S: ReadAt> Inflater<S> {
    fn at(src: S, cp: &Checkpoint) -> Self {
        Inflater {
            src,
            buf: Vec::new(),
            base: cp.bit / 8,
            bit: (cp.bit % 8) as usize,
            eof: false,
            hist: cp.window.clone(),
            taken: cp.window.len(),
            out: cp.out,
            next: if cp.header { Next::Header } else { Next::Block },
            member: None,
            tables: Walker::default(),
        }
    }

    /// Where the stream is now, as a checkpoint (call between blocks).
    fn checkpoint(&self) -> Checkpoint {
        let header = self.next == Next::Header;
        let window = if header {
            Vec::new()
        } else {
            self.hist[self.hist.len().saturating_sub(WINDOW)..].to_vec()
        };
        Checkpoint {
            out: self.out,
            bit: self.base * 8 + self.bit as u64,
            header,
            window,
        }
    }

    /// At least `want` bytes from the next one in `buf`, unless the file ends first.
    fn fill(&mut self, want: usize) -> io::Result<()> {
        let at = self.bit / 8;
        if self.buf.len() - at >= want || self.eof {
            return Ok(());
        }
        self.buf.drain(..at);
        self.base += at as u64;
        self.bit -= at * 8;
        let goal = want.max(1 << 20);
        while self.buf.len() < goal {
            let have = self.buf.len();
            self.buf.resize(goal, 0);
            let n = loop {
                match self
                    .src
                    .read_at(&mut self.buf[have..], self.base + have as u64)
                {
                    Err(e) if e.kind() == io::ErrorKind::Interrupted => continue,
                    r => break r,
                }
            };
            let n = match n {
                Ok(n) => n,
                Err(e) => {
                    self.buf.truncate(have);
                    return Err(e);
                }
            };
            self.buf.truncate(have + n);
            if n == 0 {
                self.eof = true;
                break;
            }
        }
        Ok(())
    }

    /// Run `unit` on the buffered input from the next bit, reading more while it runs out;
    /// on success the input up to where it stopped is consumed.
    fn parse<T>(
        &mut self,
        mut unit: impl FnMut(&mut Bits<'_>, &[u8], &mut Vec<u8>, &mut Walker) -> Result<T, WalkError>,
    ) -> io::Result<T> {
        let mut want = FIRST_READ;
        loop {
            self.fill(want)?;
            let before = self.hist.len();
            let mut bits = Bits::new(&self.buf);
            let r = bits
                .seek(self.bit)
                .and_then(|()| unit(&mut bits, &self.buf, &mut self.hist, &mut self.tables));
            match r {
                Ok(v) => {
                    self.bit = bits.pos();
                    return Ok(v);
                }
                Err(WalkError("truncated")) if !self.eof => {
                    self.hist.truncate(before);
                    if want >= MAX_BLOCK_INPUT {
                        return Err(invalid(format_args!(
                            "a deflate block or header over {} MiB",
                            MAX_BLOCK_INPUT >> 20
                        )));
                    }
                    want *= 2;
                }
                Err(e) => {
                    self.hist.truncate(before);
                    return Err(invalid(format_args!(
                        "{} (at byte {})",
                        e.0,
                        self.base + (self.bit / 8) as u64
                    )));
                }
            }
        }
    }

    /// Inflate the next header, block or trailer; false at the end of the stream.
    fn step(&mut self) -> io::Result<bool> {
        match self.next {
            Next::End => return Ok(false),
            Next::Header => {
                self.parse(|bits, data, _, _| gzip_header(bits, data))?;
                self.member = Some((crc32fast::Hasher::new(), 0));
                self.next = Next::Block;
            }
            Next::Block => {
                let start = self.hist.len();
                let last = self.parse(inflate_block)?;
                let new = &self.hist[start..];
                if let Some((crc, len)) = &mut self.member {
                    crc.update(new);
                    *len += new.len() as u64;
                }
                self.out += new.len() as u64;
                if last {
                    self.next = Next::Trailer;
                }
            }
            Next::Trailer => {
                let (crc, isize) = self.parse(|bits, _, _, _| {
                    bits.seek(bits.pos().div_ceil(8) * 8)?;
                    let crc = bits.take(16)? | bits.take(16)? << 16;
                    let isize = bits.take(16)? | bits.take(16)? << 16;
                    Ok((crc, isize))
                })?;
                if let Some((h, len)) = self.member.take() {
                    if h.finalize() != crc || len as u32 != isize {
                        return Err(invalid(format_args!(
                            "member ending at byte {} does not match its CRC-32 and length",
                            self.base + (self.bit / 8) as u64
                        )));
                    }
                }
                self.fill(1)?;
                self.next = if self.buf.len() == self.bit / 8 {
                    Next::End
                } else {
                    Next::Header
                };
            }
        }
        Ok(true)
    }

    /// The output not taken yet.
    fn output(&self) -> &[u8] {
        &self.hist[self.taken..]
    }

    /// Mark the output taken, keeping the window.
    fn take(&mut self) {
        self.taken = self.hist.len();
        if self.hist.len() > 4 * WINDOW {
            let drop = self.hist.len() - WINDOW;
            self.hist.drain(..drop);
            self.taken = self.hist.len();
        }
    }
}

/// A gzip member header (RFC 1952 2.3), byte-aligned.
fn gzip_header(bits: &mut Bits<'_>, data: &[u8]) -> Result<(), WalkError> {
    if bits.take(16)? != 0x8b1f {
        return Err(WalkError("not a gzip member"));
    }
    if bits.take(8)? != 8 {
        return Err(WalkError("compression method is not deflate"));
    }
    let flags = bits.take(8)?;
    // MTIME (4 bytes), XFL, OS.
    for _ in 0..3 {
        bits.take(16)?;
    }
    if flags & 0x04 != 0 {
        let xlen = bits.take(16)? as usize;
        bits.seek(bits.pos() + xlen * 8)?;
    }
    for flag in [0x08, 0x10] {
        if flags & flag != 0 {
            // A zero-terminated name or comment.
            let from = bits.pos() / 8;
            let end = data
                .get(from..)
                .and_then(|rest| rest.iter().position(|&b| b == 0))
                .ok_or(WalkError("truncated"))?;
            bits.seek((from + end + 1) * 8)?;
        }
    }
    if flags & 0x02 != 0 {
        bits.take(16)?;
    }
    if flags & 0xe0 != 0 {
        return Err(WalkError("reserved header flags"));
    }
    Ok(())
}

/// One deflate block appended to `hist` (which holds the output before it); true if it was
/// the last.
fn inflate_block(
    bits: &mut Bits<'_>,
    data: &[u8],
    hist: &mut Vec<u8>,
    tables: &mut Walker,
) -> Result<bool, WalkError> {
    let last = bits.take(1)? == 1;
    match bits.take(2)? {
        0 => {
            bits.seek(bits.pos().div_ceil(8) * 8)?;
            let len = bits.take(16)?;
            if bits.take(16)? != !len & 0xffff {
                return Err(WalkError("stored block length check"));
            }
            let from = bits.pos() / 8;
            let bytes = data
                .get(from..from + len as usize)
                .ok_or(WalkError("truncated"))?;
            hist.extend_from_slice(bytes);
            bits.seek((from + len as usize) * 8)?;
        }
        1 => {
            if tables.fixed.is_none() {
                tables.fixed = Some(fixed_tables()?);
            }
            let (lit, dist) = tables.fixed.as_ref().ok_or(WalkError("fixed tables"))?;
            inflate_symbols(bits, lit, dist, hist)?;
        }
        2 => {
            tables.dynamic_tables(bits)?;
            inflate_symbols(bits, &tables.lit, &tables.dist, hist)?;
        }
        _ => return Err(WalkError("reserved block type")),
    }
    Ok(last)
}

fn inflate_symbols(
    bits: &mut Bits<'_>,
    lit: &Table,
    dist: &Table,
    hist: &mut Vec<u8>,
) -> Result<(), WalkError> {
    let limit = hist.len() + MAX_BLOCK_OUTPUT;
    loop {
        let sym = lit.decode(bits)?;
        if sym < 256 {
            hist.push(sym as u8);
            continue;
        }
        if sym == 256 {
            return Ok(());
        }
        let i = usize::from(sym - 257);
        let (base, extra) = LENGTH_BASE
            .get(i)
            .zip(LENGTH_EXTRA.get(i))
            .ok_or(WalkError("length code"))?;
        let len = usize::from(*base) + bits.take(u32::from(*extra))? as usize;
        let d = usize::from(dist.decode(bits)?);
        let (base, extra) = DIST_BASE
            .get(d)
            .zip(DIST_EXTRA.get(d))
            .ok_or(WalkError("distance code"))?;
        let distance = usize::from(*base) + bits.take(u32::from(*extra))? as usize;
        if distance > hist.len() {
            return Err(WalkError("distance too far back"));
        }
        if hist.len() + len > limit {
            return Err(WalkError("a block inflates to too much"));
        }
        let from = hist.len() - distance;
        if distance >= len {
            hist.extend_from_within(from..from + len);
        } else {
            // Overlapping: the copy repeats the last `distance` bytes.
            for k in from..from + len {
                let b = hist[k];
                hist.push(b);
            }
        }
    }
}

/// Inflate the whole gzip file `src`, checking every member against its trailer, and give
/// `point` a checkpoint at its start and then at the first block boundary after every
/// `span` bytes of output. Returns the uncompressed length.
///
/// # Errors
/// Reading `src`; a stream that is not a complete sequence of valid gzip members; what
/// `point` returns.
pub fn checkpoints<S: ReadAt>(
    src: S,
    span: u64,
    mut point: impl FnMut(Checkpoint) -> io::Result<()>,
) -> io::Result<u64> {
    let start = Checkpoint {
        out: 0,
        bit: 0,
        header: true,
        window: Vec::new(),
    };
    let mut inf = Inflater::at(src, &start);
    point(start)?;
    let mut last = 0u64;
    while inf.step()? {
        inf.take();
        if inf.next == Next::Block && inf.out - last >= span {
            point(inf.checkpoint())?;
            last = inf.out;
        }
    }
    Ok(inf.out)
}

/// Append `len` bytes of output from checkpoint `from` of gzip file `src` to `out`.
///
/// # Errors
/// Reading `src`; a stream that does not parse from there or ends before `len` bytes.
pub fn read_from<S: ReadAt>(
    src: S,
    from: &Checkpoint,
    len: usize,
    out: &mut Vec<u8>,
) -> io::Result<()> {
    let goal = out.len() + len;
    let mut inf = Inflater::at(src, from);
    while out.len() < goal {
        if !inf.step()? {
            return Err(invalid(format_args!(
                "ends {} bytes early",
                goal - out.len()
            )));
        }
        let new = inf.output();
        out.extend_from_slice(&new[..new.len().min(goal - out.len())]);
        inf.take();
    }
    Ok(())
}

#[cfg(test)]
mod tests;
