//! The encoder: a new layer's tar in, a `tardf1` tar-diff out.
//!
//! Every byte of the input is emitted, in order, by some op: header blocks, extension
//! records, padding and the trailer as DATA; each regular file's content as OPEN + COPY when
//! the old tree has a file with the same bytes, as a bsdiff against a similar old file
//! (ADD_DATA for the matched part, DATA for the literal part, SEEK between them), or as DATA.
//! The content's sha256 is checked before a COPY is chosen, so the rebuilt stream is the
//! input whatever the old tree or the tar's quirks.

use crate::limits::{MAGIC_V1, MAX_DIFF_SIZE, MAX_EXTRA_FRACTION_256, OPEN_OVERHEAD};
use crate::ops::OpWriter;
use crate::source::{Held, Source};
use crate::tar::{Kind, TarReader};
use crate::Error;
use std::io::{self, Read, Write};

/// How to encode.
#[derive(Debug, Clone)]
pub struct Options {
    /// zstd level of the op stream.
    pub level: i32,
    /// Largest file diffed with bsdiff (see [`crate::limits::MAX_DIFF_SIZE`]).
    pub max_diff_size: u64,
}

impl Default for Options {
    fn default() -> Self {
        Options {
            level: crate::limits::DEFAULT_LEVEL,
            max_diff_size: MAX_DIFF_SIZE,
        }
    }
}

/// What an encoding did.
#[derive(Debug, Clone, Default, PartialEq, Eq, serde::Serialize)]
pub struct Stats {
    /// Bytes of the rebuilt tar.
    pub tar_bytes: u64,
    /// Regular files whose content was copied from an identical old file.
    pub copied: u64,
    /// Bytes those files hold.
    pub copied_bytes: u64,
    /// Files diffed against a similar old file.
    pub diffed: u64,
    /// Bytes those files hold.
    pub diffed_bytes: u64,
    /// Files sent whole (no source, or a diff not worth it).
    pub literal: u64,
    /// Bytes those files hold.
    pub literal_bytes: u64,
}

fn literal<W: Write>(ops: &mut OpWriter<W>, c: &mut Held) -> io::Result<()> {
    let mut r = c.reader()?;
    let mut buf = vec![0u8; 1 << 20];
    loop {
        let k = r.read(&mut buf)?;
        if k == 0 {
            return Ok(());
        }
        ops.data(&buf[..k])?;
    }
}

/// The bsdiff of `new` against `old` as ops, if it is worth it: the matcher's matches cover
/// `new` in order; a match adds to `old` from its start, then emits literal bytes.
fn bsdiff_ops<W: Write>(
    ops: &mut OpWriter<W>,
    path: &str,
    old: &[u8],
    new: &[u8],
) -> io::Result<bool> {
    let mut matches = Vec::new();
    let params = bidiff::DiffParams::default();
    let never: Result<(), std::convert::Infallible> = bidiff::diff(old, new, &params, |m| {
        matches.push(m);
        Ok(())
    });
    if let Err(e) = never {
        match e {}
    }
    // Check the cover before trusting it, and count the literal bytes.
    let mut at = 0usize;
    let mut extra = 0u64;
    for m in &matches {
        let copy_start = m.add_new_start + m.add_length;
        if m.add_new_start != at
            || copy_start > m.copy_end
            || m.copy_end > new.len()
            || m.add_old_start + m.add_length > old.len()
        {
            return Ok(false);
        }
        extra += (m.copy_end - copy_start) as u64;
        at = m.copy_end;
    }
    if at != new.len() || extra * 256 > new.len() as u64 * MAX_EXTRA_FRACTION_256 {
        return Ok(false);
    }
    ops.open(path)?;
    let mut pos = 0usize;
    let mut delta = Vec::new();
    for m in &matches {
        if m.add_length > 0 {
            if m.add_old_start != pos {
                ops.seek(m.add_old_start as u64)?;
            }
            delta.clear();
            delta.extend(
                new[m.add_new_start..m.add_new_start + m.add_length]
                    .iter()
                    .zip(&old[m.add_old_start..])
                    .map(|(n, o)| n.wrapping_sub(*o)),
            );
            ops.add(&delta)?;
            pos = m.add_old_start + m.add_length;
        }
        ops.data(&new[m.add_new_start + m.add_length..m.copy_end])?;
    }
    Ok(true)
}

/// Encode the tar stream `tar` against `source`, writing the tar-diff to `out`.
///
/// # Errors
/// Reading the tar or a source file, or writing, failed.
pub fn encode<R: Read, W: Write>(
    tar: R,
    source: &dyn Source,
    out: W,
    opts: &Options,
) -> Result<Stats, Error> {
    let mut out = out;
    out.write_all(MAGIC_V1)?;
    let z = zstd::stream::write::Encoder::new(out, opts.level)?;
    let mut ops = OpWriter::new(z);
    let mut t = TarReader::new(tar);
    let mut stats = Stats::default();
    let mut raw = Vec::new();
    loop {
        raw.clear();
        let Some(m) = t.next(&mut raw)? else {
            ops.data(&raw)?;
            let mut buf = vec![0u8; 1 << 16];
            loop {
                let k = t.rest().read(&mut buf)?;
                if k == 0 {
                    break;
                }
                ops.data(&buf[..k])?;
            }
            break;
        };
        ops.data(&raw)?;
        if m.size > 0 {
            let mut c = t.content(m.size);
            if m.kind == Kind::Regular {
                let (mut content, sha, whole) = Held::take(&mut c, m.size)?;
                let same = source
                    .same(&sha, m.size)
                    .filter(|f| whole && m.size > f.path.len() as u64 + OPEN_OVERHEAD);
                if let Some(f) = same {
                    ops.open(&f.path)?;
                    ops.copy(m.size)?;
                    stats.copied += 1;
                    stats.copied_bytes += m.size;
                } else {
                    let mut done = false;
                    if let Held::Memory(new) = &content {
                        if whole && m.size <= opts.max_diff_size {
                            if let Some(f) = source.similar(&m.path, m.size).filter(|f| {
                                f.size <= opts.max_diff_size
                                    && m.size > f.path.len() as u64 + OPEN_OVERHEAD
                            }) {
                                if let Some(old) = source.content(&f)? {
                                    if old.len() as u64 == f.size
                                        && bsdiff_ops(&mut ops, &f.path, &old, new)?
                                    {
                                        done = true;
                                        stats.diffed += 1;
                                        stats.diffed_bytes += m.size;
                                    }
                                }
                            }
                        }
                    }
                    if !done {
                        literal(&mut ops, &mut content)?;
                        stats.literal += 1;
                        stats.literal_bytes += m.size;
                    }
                }
            } else {
                let mut buf = vec![0u8; 1 << 16];
                loop {
                    let k = c.read(&mut buf)?;
                    if k == 0 {
                        break;
                    }
                    ops.data(&buf[..k])?;
                }
            }
        }
        raw.clear();
        t.padding(m.size, &mut raw)?;
        ops.data(&raw)?;
    }
    stats.tar_bytes = ops.emitted;
    let z = ops.finish()?;
    z.finish()?.flush()?;
    Ok(stats)
}
