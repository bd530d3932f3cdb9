//! A streaming tar reader that loses no byte.
//!
//! An encoder must rebuild the layer exactly, so this reader never interprets more than it
//! must: it returns each member's header blocks (PAX and GNU extension records included) as
//! raw bytes, the member's name, type and content size, and lets the caller read the content
//! and then the padding. Anything it does not understand (a block that is not a valid header,
//! an extension record too large to hold) ends the member walk: the caller passes the rest
//! of the stream on as raw bytes, so a strange tar costs compression, never correctness.

use std::io::{self, Read};

/// A tar block.
pub const BLOCK: usize = 512;
/// Largest extension record (PAX, GNU long name) read into memory; a larger one ends the
/// walk (its bytes then go on raw).
pub const MAX_EXTENSION: u64 = 1 << 20;

/// What a member is, as far as an encoder cares.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Kind {
    /// A regular file (`0`, NUL, `7`): its content follows the header.
    Regular,
    /// A hard link to an earlier member (`1`).
    HardLink,
    /// A symbolic link (`2`).
    Symlink,
    /// A directory (`5`).
    Directory,
    /// Anything else (devices, FIFOs, sparse files, vendor types).
    Other(u8),
}

/// One member's header, read.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Member {
    /// Its path, without a leading `./` or `/` or a trailing `/` (lossy if not UTF-8; see
    /// `utf8`).
    pub path: String,
    /// Whether the path is valid UTF-8 (a tar-diff can OPEN only such paths).
    pub utf8: bool,
    /// Its type.
    pub kind: Kind,
    /// A link's target, normalized like `path`.
    pub link: String,
    /// Permission bits.
    pub mode: u32,
    /// Bytes of content that follow the header (0 for links, directories, devices, FIFOs,
    /// whatever their size field says, as GNU and Go tar read them).
    pub size: u64,
}

impl Member {
    /// The last component of the path.
    pub fn basename(&self) -> &str {
        basename(&self.path)
    }
}

/// The last component of a path.
pub fn basename(path: &str) -> &str {
    path.rsplit('/').next().unwrap_or(path)
}

/// A path as tar writers spell it, made comparable: no leading `./` or `/`, no trailing `/`.
pub fn normalize(mut p: &str) -> &str {
    loop {
        if let Some(rest) = p.strip_prefix("./") {
            p = rest;
        } else if let Some(rest) = p.strip_prefix('/') {
            p = rest;
        } else {
            break;
        }
    }
    p.trim_end_matches('/')
}

/// Reads members from a tar stream; see the module docs.
pub struct TarReader<R> {
    r: R,
}

fn field(b: &[u8]) -> &[u8] {
    let end = b.iter().position(|&c| c == 0).unwrap_or(b.len());
    &b[..end]
}

/// A numeric header field: octal (spaces and NULs around it), or GNU base-256.
fn number(b: &[u8]) -> Option<u64> {
    if b.first().is_some_and(|&c| c & 0x80 != 0) {
        if b[0] == 0xff {
            return None;
        }
        let mut v: u64 = u64::from(b[0] & 0x7f);
        for &c in &b[1..] {
            v = v.checked_mul(256)?.checked_add(u64::from(c))?;
        }
        return Some(v);
    }
    let s = std::str::from_utf8(field(b))
        .ok()?
        .trim_matches(|c| c == ' ' || c == '\0');
    if s.is_empty() {
        return Some(0);
    }
    u64::from_str_radix(s, 8).ok()
}

fn checksum_ok(h: &[u8; BLOCK]) -> bool {
    let Some(want) = number(&h[148..156]) else {
        return false;
    };
    let sum: u64 = h
        .iter()
        .enumerate()
        .map(|(i, &c)| {
            if (148..156).contains(&i) {
                u64::from(b' ')
            } else {
                u64::from(c)
            }
        })
        .sum();
    sum == want
}

/// PAX records `LEN key=value\n`: the values of `path`, `linkpath` and `size`.
fn pax(
    data: &[u8],
    path: &mut Option<Vec<u8>>,
    link: &mut Option<Vec<u8>>,
    size: &mut Option<u64>,
) {
    let mut rest = data;
    while !rest.is_empty() {
        let Some(sp) = rest.iter().position(|&c| c == b' ') else {
            return;
        };
        let Some(len) = std::str::from_utf8(&rest[..sp])
            .ok()
            .and_then(|s| s.parse::<usize>().ok())
        else {
            return;
        };
        if len <= sp + 1 || len > rest.len() {
            return;
        }
        let rec = &rest[sp + 1..len];
        let rec = rec.strip_suffix(b"\n").unwrap_or(rec);
        if let Some(eq) = rec.iter().position(|&c| c == b'=') {
            let (k, v) = (&rec[..eq], &rec[eq + 1..]);
            match k {
                b"path" => *path = Some(v.to_vec()),
                b"linkpath" => *link = Some(v.to_vec()),
                b"size" => *size = std::str::from_utf8(v).ok().and_then(|s| s.parse().ok()),
                _ => {}
            }
        }
        rest = &rest[len..];
    }
}

fn text(b: &[u8]) -> (String, bool) {
    match std::str::from_utf8(b) {
        Ok(s) => (normalize(s).to_string(), true),
        Err(_) => (normalize(&String::from_utf8_lossy(b)).to_string(), false),
    }
}

/// Padding after `size` bytes of content.
pub fn padding(size: u64) -> usize {
    ((BLOCK as u64 - size % BLOCK as u64) % BLOCK as u64) as usize
}

impl<R: Read> TarReader<R> {
    /// Members of `r`.
    pub fn new(r: R) -> Self {
        TarReader { r }
    }

    /// Read a whole block, or as much as there is before the end (returned count).
    fn block(&mut self, b: &mut [u8; BLOCK]) -> io::Result<usize> {
        let mut n = 0;
        while n < BLOCK {
            match self.r.read(&mut b[n..]) {
                Ok(0) => break,
                Ok(k) => n += k,
                Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
                Err(e) => return Err(e),
            }
        }
        Ok(n)
    }

    /// The next member's header: its header blocks and extension records are appended to
    /// `raw`. `None` at the end of the members (a zero block, a block that is no header,
    /// the end of the stream): what was read of it is in `raw`, and the rest of the stream is
    /// [`TarReader::rest`].
    ///
    /// # Errors
    /// Reading failed.
    pub fn next(&mut self, raw: &mut Vec<u8>) -> io::Result<Option<Member>> {
        let (mut xpath, mut xlink, mut xsize) = (None, None, None);
        loop {
            let mut h = [0u8; BLOCK];
            let n = self.block(&mut h)?;
            raw.extend_from_slice(&h[..n]);
            if n < BLOCK || !checksum_ok(&h) {
                return Ok(None);
            }
            let Some(hsize) = number(&h[124..136]) else {
                return Ok(None);
            };
            let flag = h[156];
            match flag {
                b'x' | b'g' | b'L' | b'K' => {
                    if hsize > MAX_EXTENSION {
                        return Ok(None);
                    }
                    let mut data = vec![0u8; hsize as usize + padding(hsize)];
                    let got = read_full(&mut self.r, &mut data)?;
                    raw.extend_from_slice(&data[..got]);
                    if got < data.len() {
                        return Ok(None);
                    }
                    let data = &data[..hsize as usize];
                    match flag {
                        b'x' => pax(data, &mut xpath, &mut xlink, &mut xsize),
                        b'L' => xpath = Some(field(data).to_vec()),
                        b'K' => xlink = Some(field(data).to_vec()),
                        _ => {} // global records: nothing an encoder needs
                    }
                    continue;
                }
                _ => {}
            }
            let kind = match flag {
                b'0' | 0 | b'7' => Kind::Regular,
                b'1' => Kind::HardLink,
                b'2' => Kind::Symlink,
                b'5' => Kind::Directory,
                other => Kind::Other(other),
            };
            let ustar = &h[257..263] == b"ustar\0";
            let name = xpath.take().unwrap_or_else(|| {
                let name = field(&h[0..100]);
                let prefix = field(&h[345..500]);
                if ustar && !prefix.is_empty() {
                    [prefix, b"/", name].concat()
                } else {
                    name.to_vec()
                }
            });
            let link = xlink.take().unwrap_or_else(|| field(&h[157..257]).to_vec());
            let (path, utf8) = text(&name);
            let no_content = matches!(flag, b'1' | b'2' | b'3' | b'4' | b'5' | b'6');
            let size = if no_content {
                0
            } else {
                xsize.take().unwrap_or(hsize)
            };
            return Ok(Some(Member {
                path,
                utf8,
                kind,
                link: text(&link).0,
                mode: number(&h[100..108]).unwrap_or(0) as u32,
                size,
            }));
        }
    }

    /// The current member's content: read exactly its `size` bytes from it.
    pub fn content(&mut self, size: u64) -> io::Take<&mut R> {
        (&mut self.r).take(size)
    }

    /// Append the padding after `size` bytes of content to `raw`.
    ///
    /// # Errors
    /// Reading failed (a short stream is not an error: the bytes there are go to `raw`).
    pub fn padding(&mut self, size: u64, raw: &mut Vec<u8>) -> io::Result<()> {
        let mut pad = [0u8; BLOCK];
        let want = padding(size);
        let got = read_full(&mut self.r, &mut pad[..want])?;
        raw.extend_from_slice(&pad[..got]);
        Ok(())
    }

    /// The rest of the stream, after [`TarReader::next`] returned `None`.
    pub fn rest(&mut self) -> &mut R {
        &mut self.r
    }
}

/// Read until `buf` is full or the stream ends; the count read.
pub fn read_full(r: &mut impl Read, buf: &mut [u8]) -> io::Result<usize> {
    let mut n = 0;
    while n < buf.len() {
        match r.read(&mut buf[n..]) {
            Ok(0) => break,
            Ok(k) => n += k,
            Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
            Err(e) => return Err(e),
        }
    }
    Ok(n)
}

/// Call `f` with each member and a reader of its content (it may read any part of it; the
/// rest is skipped). Stops at the end of the members.
///
/// # Errors
/// Reading failed, or `f` failed.
pub fn walk<R: Read>(
    r: R,
    mut f: impl FnMut(&Member, &mut dyn Read) -> io::Result<()>,
) -> io::Result<()> {
    let mut t = TarReader::new(r);
    let mut raw = Vec::new();
    loop {
        raw.clear();
        let Some(m) = t.next(&mut raw)? else {
            return Ok(());
        };
        let mut content = t.content(m.size);
        f(&m, &mut content)?;
        io::copy(&mut content, &mut io::sink())?;
        raw.clear();
        t.padding(m.size, &mut raw)?;
    }
}

#[cfg(test)]
pub(crate) mod tests {
    use super::*;

    /// A tar with a long (GNU/PAX) name, a hard link, a directory, a symlink and a file.
    pub(crate) fn sample() -> Vec<u8> {
        let mut b = ::tar::Builder::new(Vec::new());
        let mut h = ::tar::Header::new_gnu();
        h.set_entry_type(::tar::EntryType::Directory);
        h.set_mode(0o755);
        h.set_size(0);
        b.append_data(&mut h, "./usr/", &[][..]).unwrap();
        let mut h = ::tar::Header::new_ustar();
        h.set_mode(0o644);
        h.set_size(5);
        b.append_data(&mut h, "usr/a", &b"hello"[..]).unwrap();
        let long = format!("usr/{}/f", "d".repeat(150));
        let mut h = ::tar::Header::new_gnu();
        h.set_mode(0o600);
        h.set_size(3);
        b.append_data(&mut h, &long, &b"abc"[..]).unwrap();
        let mut h = ::tar::Header::new_gnu();
        h.set_entry_type(::tar::EntryType::Link);
        h.set_size(0);
        b.append_link(&mut h, "usr/b", "usr/a").unwrap();
        let mut h = ::tar::Header::new_gnu();
        h.set_entry_type(::tar::EntryType::Symlink);
        h.set_size(0);
        b.append_link(&mut h, "usr/s", "a").unwrap();
        b.into_inner().unwrap()
    }

    #[test]
    fn members_and_raw_bytes_add_up_to_the_stream() {
        let tar = sample();
        let mut t = TarReader::new(&tar[..]);
        let mut out = Vec::new();
        let mut seen = Vec::new();
        loop {
            let mut raw = Vec::new();
            let m = t.next(&mut raw).unwrap();
            out.extend_from_slice(&raw);
            let Some(m) = m else { break };
            let mut c = Vec::new();
            t.content(m.size).read_to_end(&mut c).unwrap();
            out.extend_from_slice(&c);
            let mut raw = Vec::new();
            t.padding(m.size, &mut raw).unwrap();
            out.extend_from_slice(&raw);
            seen.push((m.path.clone(), m.kind, m.link.clone(), m.size, c));
        }
        t.rest().read_to_end(&mut out).unwrap();
        assert_eq!(out, tar, "every byte is passed on, in order");
        let long = format!("usr/{}/f", "d".repeat(150));
        assert_eq!(
            seen,
            vec![
                ("usr".into(), Kind::Directory, String::new(), 0, vec![]),
                (
                    "usr/a".into(),
                    Kind::Regular,
                    String::new(),
                    5,
                    b"hello".to_vec()
                ),
                (long, Kind::Regular, String::new(), 3, b"abc".to_vec()),
                ("usr/b".into(), Kind::HardLink, "usr/a".into(), 0, vec![]),
                ("usr/s".into(), Kind::Symlink, "a".into(), 0, vec![]),
            ]
        );
    }

    #[test]
    fn a_bad_header_ends_the_walk_without_losing_bytes() {
        let mut tar = sample();
        tar[BLOCK + 148] ^= 1; // the second header's checksum
        let mut t = TarReader::new(&tar[..]);
        let mut raw = Vec::new();
        assert!(t.next(&mut raw).unwrap().is_some());
        t.padding(0, &mut raw).unwrap();
        assert!(t.next(&mut raw).unwrap().is_none());
        t.rest().read_to_end(&mut raw).unwrap();
        assert_eq!(raw, tar);
    }

    #[test]
    fn numbers_octal_and_base256() {
        assert_eq!(number(b"0000644\0"), Some(0o644));
        assert_eq!(number(b"  12 \0"), Some(0o12));
        assert_eq!(number(b"\0\0\0"), Some(0));
        assert_eq!(number(&[0x80, 0, 0, 1, 0]), Some(256));
        assert_eq!(number(b"9"), None);
        assert_eq!(normalize("./usr/bin/"), "usr/bin");
        assert_eq!(normalize("/./a"), "a");
    }
}
