//! A reader that bounds the tar entries the `tar` crate reads whole into memory.
//!
//! The crate buffers a PAX extended header (`x`) and a GNU long name or long link (`L`,
//! `K`) entirely before the entry they describe, however large their size field says they
//! are: a 1.5 GiB PAX header in a 6.8 MB gzip layer took 1.6 GB of memory. [`TarGuard`] sits
//! between the decompressed layer and the crate, follows the stream's structure as the crate
//! does (headers, GNU sparse extension blocks, data padded to 512 bytes, a PAX `size`
//! overriding the next entry's), and fails the read at such a header when its size is over
//! [`format::MAX_TAR_META_ENTRY`], before a byte of it is buffered.
//!
//! It uses the crate's own parsers (header fields, PAX records), so where it cannot parse a
//! header the crate cannot either: from there on it only passes bytes through, and the crate
//! reports the error. After the end-of-archive block it passes everything through too (the
//! crate stops reading entries there; what follows is read only to be hashed).

use ostree_format as format;
use std::io::{self, Read};

const BLOCK: usize = 512;
/// Offset of `isextended` in a GNU sparse extension block (21 sparse entries of 24 bytes).
const EXT_IS_EXTENDED: usize = 504;

#[derive(Debug)]
enum State {
    /// Reading a 512-byte header; `filled` bytes of it so far.
    Header { filled: usize },
    /// Reading a GNU sparse extension block; then `data` bytes of the entry.
    SparseExt { filled: usize, data: u64 },
    /// `left` bytes of the entry's data and padding; `capture`: keep the first `keep` for
    /// a PAX header's records.
    Data { left: u64, keep: u64, capture: bool },
    /// Past the end-of-archive block, or past a header the crate will refuse.
    Pass,
}

/// See the module documentation.
#[derive(Debug)]
pub struct TarGuard<R> {
    inner: R,
    limit: u64,
    state: State,
    block: [u8; BLOCK],
    captured: Vec<u8>,
    /// The `size` of the PAX header read last, for the next entry that is not a header
    /// extension.
    pending_size: Option<u64>,
}

impl<R: Read> TarGuard<R> {
    /// Guard `inner` with the limit [`format::MAX_TAR_META_ENTRY`].
    pub fn new(inner: R) -> Self {
        Self::with_limit(inner, format::MAX_TAR_META_ENTRY)
    }

    /// Guard `inner`, allowing buffered entries of at most `limit` bytes.
    pub fn with_limit(inner: R, limit: u64) -> Self {
        TarGuard {
            inner,
            limit,
            state: State::Header { filled: 0 },
            block: [0; BLOCK],
            captured: Vec::new(),
            pending_size: None,
        }
    }

    /// The reader inside.
    pub fn into_inner(self) -> R {
        self.inner
    }

    /// A whole header is in `self.block`: check it, and choose what follows.
    fn on_header(&mut self) -> io::Result<()> {
        if self.block.iter().all(|&b| b == 0) {
            self.state = State::Pass;
            return Ok(());
        }
        let h = tar::Header::from_byte_slice(&self.block);
        let ty = h.entry_type();
        let Ok(mut size) = h.entry_size() else {
            self.state = State::Pass;
            return Ok(());
        };
        let extension = ty.is_gnu_longname()
            || ty.is_gnu_longlink()
            || ty.is_pax_local_extensions()
            || ty.is_pax_global_extensions();
        if !extension {
            if let Some(s) = self.pending_size {
                size = s;
            }
        }
        let recognized = h.as_gnu().is_some() || h.as_ustar().is_some();
        let buffered = recognized
            && (ty.is_gnu_longname() || ty.is_gnu_longlink() || ty.is_pax_local_extensions());
        if buffered && size > self.limit {
            let what = if ty.is_pax_local_extensions() {
                "PAX extended header"
            } else if ty.is_gnu_longname() {
                "GNU long name"
            } else {
                "GNU long link"
            };
            return Err(io::Error::new(
                io::ErrorKind::InvalidData,
                format!(
                    "a {what} entry of {size} bytes: refused, at most {} bytes are read \
                     for one",
                    self.limit
                ),
            ));
        }
        if !buffered {
            // The crate hands this entry out with the PAX records read before it.
            self.pending_size = None;
        }
        let Some(padded) = size
            .checked_add(BLOCK as u64 - 1)
            .map(|s| s & !(BLOCK as u64 - 1))
        else {
            self.state = State::Pass;
            return Ok(());
        };
        let capture = recognized && ty.is_pax_local_extensions();
        let sparse_ext =
            !buffered && ty.is_gnu_sparse() && h.as_gnu().is_some_and(|g| g.is_extended());
        self.state = if sparse_ext {
            State::SparseExt {
                filled: 0,
                data: padded,
            }
        } else {
            State::Data {
                left: padded,
                keep: size,
                capture,
            }
        };
        self.after_data_if_empty();
        Ok(())
    }

    /// An entry with no data (or a capture done): back to headers.
    fn after_data_if_empty(&mut self) {
        if let State::Data {
            left: 0, capture, ..
        } = self.state
        {
            if capture {
                self.pending_size = pax_size(&self.captured);
                self.captured.clear();
            }
            self.state = State::Header { filled: 0 };
        }
    }
}

/// The `size` record of PAX records, read as the tar crate reads it (the first one; none if
/// a record before it is malformed or its value is not a number).
fn pax_size(records: &[u8]) -> Option<u64> {
    for ext in tar::PaxExtensions::new(records) {
        let ext = ext.ok()?;
        if ext.key() == Ok("size") {
            return ext.value().ok()?.parse().ok();
        }
    }
    None
}

impl<R: Read> Read for TarGuard<R> {
    fn read(&mut self, out: &mut [u8]) -> io::Result<usize> {
        if out.is_empty() {
            return Ok(0);
        }
        let want = match self.state {
            State::Pass => return self.inner.read(out),
            State::Header { filled } | State::SparseExt { filled, .. } => BLOCK - filled,
            State::Data { left, .. } => usize::try_from(left).unwrap_or(usize::MAX),
        };
        let n = want.min(out.len());
        let n = self.inner.read(&mut out[..n])?;
        if n == 0 {
            return Ok(0);
        }
        let got = &out[..n];
        match &mut self.state {
            State::Pass => {}
            State::Header { filled } => {
                self.block[*filled..*filled + n].copy_from_slice(got);
                *filled += n;
                if *filled == BLOCK {
                    self.on_header()?;
                }
            }
            State::SparseExt { filled, data } => {
                self.block[*filled..*filled + n].copy_from_slice(got);
                *filled += n;
                if *filled == BLOCK {
                    let data = *data;
                    self.state = if self.block[EXT_IS_EXTENDED] != 0 {
                        State::SparseExt { filled: 0, data }
                    } else {
                        State::Data {
                            left: data,
                            keep: 0,
                            capture: false,
                        }
                    };
                    self.after_data_if_empty();
                }
            }
            State::Data {
                left,
                keep,
                capture,
            } => {
                if *capture {
                    let room = usize::try_from(*keep)
                        .unwrap_or(usize::MAX)
                        .saturating_sub(self.captured.len());
                    self.captured.extend_from_slice(&got[..n.min(room)]);
                }
                *left -= n as u64;
                self.after_data_if_empty();
            }
        }
        Ok(n)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn pax_header(b: &mut tar::Builder<Vec<u8>>, body: &[u8]) {
        let mut h = tar::Header::new_ustar();
        h.set_entry_type(tar::EntryType::XHeader);
        h.set_path("././@PaxHeader").unwrap();
        h.set_size(body.len() as u64);
        h.set_mode(0o644);
        h.set_cksum();
        b.append(&h, body).unwrap();
    }

    fn file(b: &mut tar::Builder<Vec<u8>>, path: &str, data: &[u8]) {
        let mut h = tar::Header::new_gnu();
        h.set_size(data.len() as u64);
        h.set_mode(0o644);
        // Long paths become a GNU long-name entry first.
        b.append_data(&mut h, path, data).unwrap();
    }

    /// Every entry's path and content, read through `r`.
    fn read_all(r: impl Read) -> io::Result<Vec<(String, Vec<u8>)>> {
        let mut ar = tar::Archive::new(r);
        let mut out = Vec::new();
        for e in ar.entries()? {
            let mut e = e?;
            let mut data = Vec::new();
            e.read_to_end(&mut data)?;
            out.push((e.path()?.display().to_string(), data));
        }
        Ok(out)
    }

    #[test]
    fn a_normal_stream_reads_the_same_through_the_guard() {
        let mut b = tar::Builder::new(Vec::new());
        file(&mut b, "a", b"hello");
        // A long name (GNU `L`), a PAX header with a path and xattrs.
        file(&mut b, &format!("{}f", "d/".repeat(200)), &[7; 3000]);
        pax_header(&mut b, b"27 SCHILY.xattr.user.a=xyz\n");
        file(&mut b, "b", b"");
        let mut tar = b.into_inner().unwrap();
        tar.extend_from_slice(b"trailing bytes after the end");
        let plain = read_all(&tar[..]).unwrap();
        let mut guarded = TarGuard::with_limit(&tar[..], 4096);
        assert_eq!(read_all(&mut guarded).unwrap(), plain);
        let mut rest = Vec::new();
        guarded.read_to_end(&mut rest).unwrap();
        assert!(rest.ends_with(b"trailing bytes after the end"));
    }

    #[test]
    fn oversized_headers_fail_before_they_are_read() {
        for ty in [
            tar::EntryType::XHeader,
            tar::EntryType::GNULongName,
            tar::EntryType::GNULongLink,
        ] {
            let mut h = tar::Header::new_gnu();
            h.set_entry_type(ty);
            h.set_path("x").unwrap();
            h.set_size(1 << 40);
            h.set_cksum();
            // The header alone: a read of its body would hit EOF, not the limit.
            let bytes = h.as_bytes().to_vec();
            let e = read_all(TarGuard::with_limit(&bytes[..], 1 << 20)).unwrap_err();
            assert!(e.to_string().contains("refused"), "{ty:?}: {e}");
            // At the limit it is read (and here fails short of data instead).
            let mut h2 = h.clone();
            h2.set_size(1 << 20);
            h2.set_cksum();
            let e = read_all(TarGuard::with_limit(h2.as_bytes().as_slice(), 1 << 20));
            assert!(e.is_err_and(|e| !e.to_string().contains("refused")));
        }
    }

    #[test]
    fn a_pax_size_moves_the_next_header_as_the_crate_reads_it() {
        // The PAX size says the file holds 1024 bytes where its header says 0: the next
        // header is after those 1024 bytes, and there an oversized long name is caught.
        let body = b"13 size=1024\n";
        let mut x = tar::Header::new_ustar();
        x.set_entry_type(tar::EntryType::XHeader);
        x.set_path("././@PaxHeader").unwrap();
        x.set_size(body.len() as u64);
        x.set_cksum();
        let mut raw = x.as_bytes().to_vec();
        raw.extend_from_slice(body);
        raw.resize(2 * BLOCK, 0);
        let mut h = tar::Header::new_gnu();
        h.set_path("f").unwrap();
        h.set_size(0);
        h.set_cksum();
        raw.extend_from_slice(h.as_bytes());
        let mut long = tar::Header::new_gnu();
        long.set_entry_type(tar::EntryType::GNULongName);
        long.set_path("././@LongLink").unwrap();
        long.set_size(1 << 30);
        long.set_cksum();
        // 1024 bytes of "data" that hold what looks like an oversized PAX header: a reader
        // that missed the PAX size would stop there, with another message.
        let mut fake = tar::Header::new_ustar();
        fake.set_entry_type(tar::EntryType::XHeader);
        fake.set_path("././@PaxHeader").unwrap();
        fake.set_size(1 << 30);
        fake.set_cksum();
        let mut data = fake.as_bytes().to_vec();
        data.resize(1024, 0);
        data[512..1024].copy_from_slice(&[1; 512]);
        raw.extend_from_slice(&data);
        raw.extend_from_slice(long.as_bytes());
        let e = read_all(TarGuard::with_limit(&raw[..], 4096)).unwrap_err();
        assert!(e.to_string().contains("GNU long name"), "{e}");
    }
}
