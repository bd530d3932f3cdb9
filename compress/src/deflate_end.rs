//! Turn a complete raw deflate stream into one that can be continued.
//!
//! libdeflate compresses a whole buffer at a time and always marks its last block final
//! (BFINAL). To join independently compressed blocks into one deflate stream, every part but
//! the last must instead end the way zlib's sync flush ends: last block not final, then an
//! empty stored block that pads to a byte boundary (`000`, padding, `00 00 ff ff`). The final
//! block's header is somewhere inside the bit stream, so this walks the blocks — Huffman
//! headers and symbols, no output is produced — to find it, clears its BFINAL bit, and appends
//! the empty stored block. Walking is ~20x cheaper than compressing.
//!
//! Everything is checked: a stream that does not parse, or has bytes after its final block,
//! is an error, never silently passed on.

use std::fmt;

/// A stream that is not the complete, single raw deflate stream expected.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct WalkError(pub(crate) &'static str);

impl fmt::Display for WalkError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "invalid deflate stream: {}", self.0)
    }
}

impl std::error::Error for WalkError {}

/// Results of walking a stream.
pub type Result<T> = std::result::Result<T, WalkError>;

/// Extra bits of length codes 257..=285 (RFC 1951 3.2.5).
pub(crate) const LENGTH_EXTRA: [u8; 29] = [
    0, 0, 0, 0, 0, 0, 0, 0, 1, 1, 1, 1, 2, 2, 2, 2, 3, 3, 3, 3, 4, 4, 4, 4, 5, 5, 5, 5, 0,
];
/// Extra bits of distance codes 0..=29.
pub(crate) const DIST_EXTRA: [u8; 30] = [
    0, 0, 0, 0, 1, 1, 2, 2, 3, 3, 4, 4, 5, 5, 6, 6, 7, 7, 8, 8, 9, 9, 10, 10, 11, 11, 12, 12, 13,
    13,
];
/// Order in which code length code lengths are sent.
const CL_ORDER: [usize; 19] = [
    16, 17, 18, 0, 8, 7, 9, 6, 10, 5, 11, 4, 12, 3, 13, 2, 14, 1, 15,
];

/// Rewrite `stream` (one complete raw deflate stream) so that it ends with a sync-flush
/// marker instead of a final block. Builds its tables afresh; callers that walk many streams
/// keep a [`Walker`].
pub fn unfinalize(stream: &mut Vec<u8>) -> Result<()> {
    Walker::default().unfinalize(stream)
}

type SymbolWalk = fn(&mut Bits<'_>, &Table, &Table) -> Result<()>;

/// Walks deflate streams, keeping its Huffman tables between blocks and streams: libdeflate
/// starts a new block every ~20 KiB of input, and allocating and filling fresh tables for
/// each (plus the fixed code's for each stream) was a fifth of the walk's time.
#[derive(Default)]
pub struct Walker {
    pub(crate) lit: Table,
    pub(crate) dist: Table,
    cl: Table,
    lengths: Vec<u8>,
    /// The fixed code's tables, built the first time a fixed block is seen.
    pub(crate) fixed: Option<(Table, Table)>,
}

impl Walker {
    /// Rewrite `stream` (one complete raw deflate stream) so that it ends with a sync-flush
    /// marker instead of a final block.
    pub fn unfinalize(&mut self, stream: &mut Vec<u8>) -> Result<()> {
        let (header, end) = self.find_final_block(stream, walk_symbols)?;
        if end.div_ceil(8) != stream.len() {
            return Err(WalkError("bytes after the final block"));
        }
        stream[header / 8] &= !(1 << (header % 8));
        // Padding bits after the end-of-block code are zero in a well-formed stream; make
        // sure, since they become the empty stored block's header (BFINAL 0, BTYPE 00).
        if end % 8 != 0 {
            let last = stream.len() - 1;
            stream[last] &= (1u8 << (end % 8)) - 1;
        }
        stream.resize((end + 3).div_ceil(8), 0);
        stream.extend_from_slice(&[0, 0, 0xff, 0xff]);
        Ok(())
    }

    /// Bit positions of the final block's header and of the end of the stream.
    fn find_final_block(&mut self, data: &[u8], walk: SymbolWalk) -> Result<(usize, usize)> {
        let mut bits = Bits::new(data);
        loop {
            let header = bits.pos();
            let last = bits.take(1)? == 1;
            match bits.take(2)? {
                0 => {
                    bits.seek(bits.pos().div_ceil(8) * 8)?;
                    let len = bits.take(16)?;
                    let nlen = bits.take(16)?;
                    if len != !nlen & 0xffff {
                        return Err(WalkError("stored block length check"));
                    }
                    bits.seek(bits.pos() + len as usize * 8)?;
                }
                1 => {
                    if self.fixed.is_none() {
                        self.fixed = Some(fixed_tables()?);
                    }
                    if let Some((lit, dist)) = &self.fixed {
                        walk(&mut bits, lit, dist)?;
                    }
                }
                2 => {
                    self.dynamic_tables(&mut bits)?;
                    walk(&mut bits, &self.lit, &self.dist)?;
                }
                _ => return Err(WalkError("reserved block type")),
            }
            if last {
                return Ok((header, bits.pos()));
            }
        }
    }

    /// Read a dynamic block's code definitions into `lit` and `dist`.
    pub(crate) fn dynamic_tables(&mut self, bits: &mut Bits<'_>) -> Result<()> {
        let hlit = bits.take(5)? as usize + 257;
        let hdist = bits.take(5)? as usize + 1;
        let hclen = bits.take(4)? as usize + 4;
        let mut cl = [0u8; 19];
        for &i in &CL_ORDER[..hclen] {
            cl[i] = bits.take(3)? as u8;
        }
        self.cl.build(&cl, Kind::CodeLengths)?;
        let lengths = &mut self.lengths;
        lengths.clear();
        while lengths.len() < hlit + hdist {
            let sym = self.cl.decode(bits)?;
            let (value, count) = match sym {
                0..=15 => (sym as u8, 1),
                16 => {
                    let prev = *lengths.last().ok_or(WalkError("repeat with no length"))?;
                    (prev, 3 + bits.take(2)? as usize)
                }
                17 => (0, 3 + bits.take(3)? as usize),
                18 => (0, 11 + bits.take(7)? as usize),
                _ => return Err(WalkError("code length symbol")),
            };
            if lengths.len() + count > hlit + hdist {
                return Err(WalkError("code lengths overrun"));
            }
            lengths.extend(std::iter::repeat_n(value, count));
        }
        self.lit.build(&lengths[..hlit], Kind::Literals)?;
        self.dist.build(&lengths[hlit..], Kind::Distances)
    }
}

/// Skip one block's symbols up to its end-of-block code.
///
/// While 8 bytes remain, the bit buffer is topped up to 56 bits once per symbol, which covers
/// the longest symbol (code 15 + extra 5 + distance code 15 + extra 13 = 48 bits), so the loop
/// needs no bounds checks. Each table entry says how many bits its symbol takes with its extra
/// bits (`Table::skip`), and the distance is skipped by multiplying with the match flag rather
/// than branching on it: whether a symbol is a literal or a match is what a branch predictor
/// cannot guess, and guessing wrong was most of the walk's time. End of block, long codes and
/// anything invalid go through the checked decoder, as do the last bytes.
fn walk_symbols(bits: &mut Bits<'_>, lit: &Table, dist: &Table) -> Result<()> {
    let (lit_mask, dist_mask) = (lit.mask(), dist.mask());
    let (lit_entries, dist_entries) = (&lit.entries[..], &dist.entries[..]);
    // A local copy: with the caller's reader behind a reference, every field went through
    // memory on each symbol, which doubled the walk's time.
    let mut b = *bits;
    while b.next + 8 <= b.data.len() {
        b.refill();
        let mut e = skip_byte(lit_entries[(b.buf & lit_mask) as usize]);
        if e & (SKIP_SPECIAL | SKIP_MATCH) == 0 {
            // A literal. Fast-path codes are at most PRIMARY_BITS (11) long, so the 56 bits
            // of a refill hold five of them: try four more before refilling.
            b.skip_unchecked(u32::from(e));
            for _ in 0..4 {
                e = skip_byte(lit_entries[(b.buf & lit_mask) as usize]);
                if e & (SKIP_SPECIAL | SKIP_MATCH) != 0 {
                    break;
                }
                b.skip_unchecked(u32::from(e));
            }
            // Anything else needs up to 48 bits: refill first.
            continue;
        }
        if e & SKIP_SPECIAL != 0 {
            *bits = b;
            let end = step_checked(bits, lit, dist)?;
            b = *bits;
            if end {
                return Ok(());
            }
            continue;
        }
        b.skip_unchecked(u32::from(e & SKIP_BITS));
        let d = skip_byte(dist_entries[(b.buf & dist_mask) as usize]);
        if d & SKIP_MATCH != 0 {
            *bits = b;
            step_distance_checked(bits, dist)?;
            b = *bits;
            continue;
        }
        b.skip_unchecked(u32::from(d & SKIP_BITS));
    }
    *bits = b;
    walk_symbols_checked(bits, lit, dist)
}

fn walk_symbols_checked(bits: &mut Bits<'_>, lit: &Table, dist: &Table) -> Result<()> {
    while !step_checked(bits, lit, dist)? {}
    Ok(())
}

/// Skip one symbol with every read checked; true at the end of the block.
fn step_checked(bits: &mut Bits<'_>, lit: &Table, dist: &Table) -> Result<bool> {
    let sym = lit.decode(bits)?;
    match sym {
        0..=255 => Ok(false),
        256 => Ok(true),
        257..=285 => {
            bits.take(u32::from(LENGTH_EXTRA[usize::from(sym - 257)]))?;
            step_distance_checked(bits, dist)?;
            Ok(false)
        }
        _ => Err(WalkError("length code")),
    }
}

fn step_distance_checked(bits: &mut Bits<'_>, dist: &Table) -> Result<()> {
    let d = dist.decode(bits)?;
    let extra = DIST_EXTRA
        .get(usize::from(d))
        .ok_or(WalkError("distance code"))?;
    bits.take(u32::from(*extra))?;
    Ok(())
}

/// `Table::skip` entries: low bits = bits the symbol takes with its extra bits.
const SKIP_BITS: u8 = 0x3f;
/// In a literal/length table: the symbol is a length, a distance follows. In a distance
/// table: the code needs the checked decoder (long or invalid). Same bit on purpose, see
/// `walk_symbols`.
const SKIP_MATCH: u8 = 0x40;
/// In a literal/length table: end of block, a long code or an invalid one.
const SKIP_SPECIAL: u8 = 0x80;

pub(crate) fn fixed_tables() -> Result<(Table, Table)> {
    let mut lit = [0u8; 288];
    for (i, l) in lit.iter_mut().enumerate() {
        *l = match i {
            0..=143 => 8,
            144..=255 => 9,
            256..=279 => 7,
            _ => 8,
        };
    }
    let mut tables = (Table::default(), Table::default());
    tables.0.build(&lit, Kind::Literals)?;
    tables.1.build(&[5u8; 30], Kind::Distances)?;
    Ok(tables)
}

/// LSB-first bit reader with a 64-bit buffer: one refill serves several symbols, which is
/// what makes the walk cheap next to compression.
#[derive(Clone, Copy)]
pub(crate) struct Bits<'a> {
    data: &'a [u8],
    /// Next byte to load into `buf`.
    next: usize,
    buf: u64,
    /// Valid bits in `buf` (the rest are zero).
    count: u32,
}

impl<'a> Bits<'a> {
    pub(crate) fn new(data: &'a [u8]) -> Self {
        Bits {
            data,
            next: 0,
            buf: 0,
            count: 0,
        }
    }

    /// Bit position of the next unread bit.
    pub(crate) fn pos(&self) -> usize {
        self.next * 8 - self.count as usize
    }

    #[inline(always)]
    fn refill(&mut self) {
        if let Some(word) = self.data.get(self.next..self.next + 8) {
            let mut w = [0u8; 8];
            w.copy_from_slice(word);
            self.buf |= u64::from_le_bytes(w) << self.count;
            let bytes = (63 - self.count) / 8;
            self.next += bytes as usize;
            self.count += bytes * 8;
        } else {
            while self.count <= 56 && self.next < self.data.len() {
                self.buf |= u64::from(self.data[self.next]) << self.count;
                self.next += 1;
                self.count += 8;
            }
        }
    }

    /// Up to 32 bits, zero past the end of the data (callers check what they consume).
    #[inline(always)]
    fn peek(&mut self, n: u32) -> u32 {
        if self.count < n {
            self.refill();
        }
        (self.buf & ((1u64 << n) - 1)) as u32
    }

    #[inline(always)]
    fn consume(&mut self, n: u32) -> Result<()> {
        if n > self.count {
            return Err(WalkError("truncated"));
        }
        self.buf >>= n;
        self.count -= n;
        Ok(())
    }

    /// Drop `n` bits known to be buffered (after a refill with 8 bytes left: 56 of them).
    #[inline(always)]
    fn skip_unchecked(&mut self, n: u32) {
        self.buf >>= n;
        self.count -= n;
    }

    #[inline(always)]
    pub(crate) fn take(&mut self, n: u32) -> Result<u32> {
        let v = self.peek(n);
        self.consume(n)?;
        Ok(v)
    }

    /// Continue at a bit position (used for stored blocks, which are byte-aligned).
    pub(crate) fn seek(&mut self, pos: usize) -> Result<()> {
        if pos > self.data.len() * 8 {
            return Err(WalkError("truncated"));
        }
        self.next = pos / 8;
        self.buf = 0;
        self.count = 0;
        let rest = (pos % 8) as u32;
        self.take(rest).map(|_| ())
    }
}

/// Codes up to this long are decoded with one lookup; longer ones (rare by construction: a
/// code's length grows as its symbol gets rarer) bit by bit. Tables stay in L1 cache, and
/// libdeflate starts a block every ~20 KiB of input, so both size and build time matter:
/// on 400 MB of a real layer tar (`probe::walk_speed`) 11 bits walked 157-168 MB/s of
/// compressed input, 10 bits 148-153.
const PRIMARY_BITS: u32 = 11;

/// Which alphabet a table decodes: decides the walk's skip byte of each entry.
#[derive(Clone, Copy)]
enum Kind {
    CodeLengths,
    Literals,
    Distances,
}

/// The walk's byte of a table entry (`SKIP_*`).
#[inline(always)]
fn skip_byte(entry: u32) -> u8 {
    entry as u8
}

/// A canonical Huffman code: a lookup table indexed by the next `bits` input bits for short
/// codes, and the canonical (count, sorted symbols) form for the rest. Rebuilt in place for
/// each block, so its buffers are allocated once per walker.
#[derive(Default)]
pub(crate) struct Table {
    bits: u32,
    /// Per lookup index: `symbol << 16 | code length << 8 | skip byte` (`SKIP_*`, for the
    /// fast walk; 0 in code length tables). Code length 0 marks bit patterns that start no
    /// short code (a long code or none).
    entries: Vec<u32>,
    /// Codes of each length.
    count: [u16; 16],
    /// Symbols ordered by (code length, symbol): canonical code order.
    sorted: Vec<u16>,
}

impl Table {
    fn build(&mut self, lengths: &[u8], kind: Kind) -> Result<()> {
        let max = u32::from(lengths.iter().copied().max().unwrap_or(0));
        if max > 15 {
            return Err(WalkError("code length over 15"));
        }
        let bits = max.min(PRIMARY_BITS);
        let mut count = [0u16; 16];
        for &l in lengths {
            count[usize::from(l)] += 1;
        }
        count[0] = 0;
        let mut next = [0u32; 16];
        let mut code = 0u32;
        for len in 1..16 {
            code = (code + u32::from(count[len - 1])) << 1;
            next[len] = code;
        }
        let mut offset = [0usize; 16];
        for len in 1..16 {
            offset[len] = offset[len - 1] + usize::from(count[len - 1]);
        }
        self.sorted.clear();
        self.sorted.resize(offset[15] + usize::from(count[15]), 0);
        // What a pattern that starts no short code tells the fast walk: go the checked way.
        let none = u32::from(match kind {
            Kind::Literals => SKIP_SPECIAL,
            Kind::Distances => SKIP_MATCH,
            Kind::CodeLengths => 0,
        });
        self.entries.clear();
        self.entries.resize(1 << bits, none);
        self.bits = bits;
        self.count = count;
        for (sym, &len) in lengths.iter().enumerate() {
            if len == 0 {
                continue;
            }
            let l = usize::from(len);
            let c = next[l];
            next[l] += 1;
            if c >= 1 << len {
                return Err(WalkError("over-subscribed code"));
            }
            let sym = u16::try_from(sym).map_err(|_| WalkError("symbol"))?;
            self.sorted[offset[l]] = sym;
            offset[l] += 1;
            if u32::from(len) > bits {
                continue;
            }
            let skip = match kind {
                Kind::CodeLengths => 0,
                Kind::Literals => match sym {
                    0..=255 => len,
                    257..=285 => (len + LENGTH_EXTRA[usize::from(sym - 257)]) | SKIP_MATCH,
                    _ => SKIP_SPECIAL,
                },
                Kind::Distances => match DIST_EXTRA.get(usize::from(sym)) {
                    Some(extra) => len + extra,
                    None => SKIP_MATCH,
                },
            };
            let entry = u32::from(sym) << 16 | u32::from(len) << 8 | u32::from(skip);
            let reversed = c.reverse_bits() >> (32 - u32::from(len));
            let mut i = reversed as usize;
            while i < self.entries.len() {
                self.entries[i] = entry;
                i += 1 << len;
            }
        }
        Ok(())
    }

    fn mask(&self) -> u64 {
        (1u64 << self.bits) - 1
    }

    #[inline(always)]
    pub(crate) fn decode(&self, bits: &mut Bits<'_>) -> Result<u16> {
        let entry = self.entries[bits.peek(self.bits) as usize];
        let len = (entry >> 8) & 0xff;
        if len != 0 {
            bits.consume(len)?;
            return Ok((entry >> 16) as u16);
        }
        self.decode_long(bits)
    }

    /// Canonical decoding one bit at a time (codes are sent first bit = most significant).
    #[cold]
    #[inline(never)]
    fn decode_long(&self, bits: &mut Bits<'_>) -> Result<u16> {
        let v = bits.peek(15);
        let (mut code, mut first, mut index) = (0i32, 0i32, 0usize);
        for len in 1..16u32 {
            code |= ((v >> (len - 1)) & 1) as i32;
            let count = i32::from(self.count[len as usize]);
            if code - first < count {
                bits.consume(len)?;
                return self
                    .sorted
                    .get(index + (code - first) as usize)
                    .copied()
                    .ok_or(WalkError("no such code"));
            }
            index += count as usize;
            first = (first + count) << 1;
            code <<= 1;
        }
        Err(WalkError("no such code"))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::io::{Read, Write};

    fn zlib_raw(data: &[u8], level: u32) -> Vec<u8> {
        let mut e = flate2::write::DeflateEncoder::new(Vec::new(), flate2::Compression::new(level));
        e.write_all(data).expect("write");
        e.finish().expect("finish")
    }

    fn inflate(data: &[u8]) -> Vec<u8> {
        let mut out = Vec::new();
        flate2::read::DeflateDecoder::new(data)
            .read_to_end(&mut out)
            .expect("valid deflate");
        out
    }

    fn noise(len: usize) -> Vec<u8> {
        let mut x = 0x2545_f491_4f6c_dd1d_u64;
        (0..len)
            .map(|_| {
                x ^= x << 13;
                x ^= x >> 7;
                x ^= x << 17;
                x as u8
            })
            .collect()
    }

    #[test]
    fn joined_streams_inflate_to_the_joined_inputs() {
        let text: Vec<u8> = b"the quick brown fox jumps over the lazy dog; "
            .iter()
            .cycle()
            .take(200_000)
            .copied()
            .collect();
        // Empty (fixed block), short (fixed), text (dynamic), noise at level 0 (stored) and
        // at level 6 (stored blocks chosen by the compressor).
        let parts: Vec<(Vec<u8>, u32)> = vec![
            (Vec::new(), 6),
            (b"a".to_vec(), 6),
            (text.clone(), 6),
            (noise(70_000), 0),
            (noise(70_000), 6),
            (text[..1000].to_vec(), 9),
        ];
        let mut joined = Vec::new();
        let mut expected = Vec::new();
        for (i, (data, level)) in parts.iter().enumerate() {
            let mut z = zlib_raw(data, *level);
            if i + 1 < parts.len() {
                unfinalize(&mut z).expect("walks");
                assert_eq!(&z[z.len() - 4..], &[0, 0, 0xff, 0xff]);
            }
            joined.extend_from_slice(&z);
            expected.extend_from_slice(data);
        }
        assert_eq!(inflate(&joined), expected);
    }

    #[test]
    fn libdeflate_output_walks() {
        let mut c = libdeflater::Compressor::new(libdeflater::CompressionLvl::default());
        let data: Vec<u8> = (0..300_000u32)
            .flat_map(|i| (i % 251).to_le_bytes())
            .collect();
        let mut out = vec![0; c.deflate_compress_bound(data.len())];
        let n = c.deflate_compress(&data, &mut out).expect("compress");
        out.truncate(n);
        let mut tail = zlib_raw(b"end", 6);
        unfinalize(&mut out).expect("walks");
        out.append(&mut tail);
        let mut expected = data;
        expected.extend_from_slice(b"end");
        assert_eq!(inflate(&out), expected);
    }

    #[test]
    fn rejects_what_is_not_one_complete_stream() {
        let z = zlib_raw(&noise(5000), 6);
        let mut truncated = z[..z.len() / 2].to_vec();
        assert!(unfinalize(&mut truncated).is_err());
        let mut trailing = z.clone();
        trailing.push(0);
        assert!(unfinalize(&mut trailing).is_err());
        assert!(unfinalize(&mut vec![0xff]).is_err(), "reserved block type");
        assert!(unfinalize(&mut Vec::new()).is_err());
    }

    /// Zipf-distributed bytes with matches at many distances: rare symbols get codes longer
    /// than the lookup table (so the walk's slow path runs), both for literals and distances.
    fn skewed(len: usize) -> Vec<u8> {
        let mut x = 0x9e37_79b9_7f4a_7c15_u64;
        let mut next = move || {
            x ^= x << 13;
            x ^= x >> 7;
            x ^= x << 17;
            x
        };
        let mut v: Vec<u8> = Vec::with_capacity(len);
        while v.len() < len {
            let r = next();
            if r % 5 == 0 && v.len() > 40_000 {
                // A copy from a Zipf-distributed distance back.
                let d = 1 + (30_000 / (1 + (next() % 3000) as usize));
                let n = 3 + (next() % 20) as usize;
                for _ in 0..n {
                    let b = v[v.len() - d];
                    v.push(b);
                }
            } else {
                let k = (next() % 100_000) as f64 / 100_000.0;
                v.push((1.0 / (1.0 - k * 0.999)).min(255.0) as u8);
            }
        }
        v.truncate(len);
        v
    }

    #[test]
    fn fast_walk_agrees_with_checked_walk() {
        let data = skewed(400_000);
        let mut c = libdeflater::Compressor::new(libdeflater::CompressionLvl::default());
        let mut streams = vec![
            zlib_raw(&data, 6),
            zlib_raw(&data, 1),
            zlib_raw(&data[..3000], 9),
        ];
        let mut out = vec![0; c.deflate_compress_bound(data.len())];
        let n = c.deflate_compress(&data, &mut out).expect("compress");
        out.truncate(n);
        streams.push(out);
        let mut long_codes = false;
        // One walker for every stream, as a gzip worker keeps it: tables rebuilt in place
        // must not carry anything over from the previous block or stream.
        let mut walker = Walker::default();
        for z in streams.iter().chain(streams.iter().rev()) {
            let mut bits = Bits::new(z);
            bits.take(1).expect("header");
            if bits.take(2).expect("type") == 2 {
                let mut w = Walker::default();
                w.dynamic_tables(&mut bits).expect("tables");
                long_codes |= w.lit.count[PRIMARY_BITS as usize + 1..]
                    .iter()
                    .any(|&c| c > 0);
                long_codes |= w.dist.count[PRIMARY_BITS as usize + 1..]
                    .iter()
                    .any(|&c| c > 0);
            }
            assert_eq!(
                walker.find_final_block(z, walk_symbols),
                Walker::default().find_final_block(z, walk_symbols_checked)
            );
            let mut joined = z.clone();
            walker.unfinalize(&mut joined).expect("walks");
            joined.extend_from_slice(&zlib_raw(b"x", 6));
            let mut expected = data[..inflate(z).len()].to_vec();
            expected.push(b'x');
            assert_eq!(inflate(&joined), expected);
        }
        assert!(
            long_codes,
            "the sample must exercise codes longer than the lookup table"
        );
    }
}
