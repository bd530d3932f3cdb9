//! Reading an rpm database (sqlite backend, rpm ≥ 4.16) without the rpm binary.
//!
//! `Packages(hnum, blob)` holds one header per installed package. A header blob is:
//! big-endian `il` (entry count) and `dl` (data length), `il` 16-byte entries
//! `(tag, type, offset, count)`, then `dl` bytes of data. We read the name, version, release,
//! source rpm, file list (dirnames/dirindexes/basenames) and changelog times.

use std::collections::BTreeMap;
use std::path::Path;

const TAG_NAME: i32 = 1000;
const TAG_VERSION: i32 = 1001;
const TAG_RELEASE: i32 = 1002;
const TAG_EPOCH: i32 = 1003;
const TAG_LICENSE: i32 = 1014;
const TAG_ARCH: i32 = 1022;
const TAG_CHANGELOGTIME: i32 = 1080;
const TAG_SOURCERPM: i32 = 1044;
const TAG_DIRINDEXES: i32 = 1116;
const TAG_BASENAMES: i32 = 1117;
const TAG_DIRNAMES: i32 = 1118;

const TYPE_INT32: i32 = 4;
const TYPE_STRING: i32 = 6;
const TYPE_STRING_ARRAY: i32 = 8;
const TYPE_I18NSTRING: i32 = 9;

/// Most entries a header may claim (rpm's own limit is 0xffff).
const MAX_ENTRIES: usize = 0xffff;

/// One installed rpm package.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RpmPackage {
    /// Package name.
    pub name: String,
    /// Source package name (from the source rpm's file name).
    pub source: String,
    /// `version-release`.
    pub evr: String,
    /// Epoch, when the package has one.
    pub epoch: Option<u32>,
    /// Architecture (`x86_64`, `noarch`, ...).
    pub arch: String,
    /// The License tag as the package declares it (SPDX expressions in newer Fedora,
    /// free text in older packages).
    pub license: Option<String>,
    /// Absolute paths of its files.
    pub files: Vec<String>,
    /// Changelog entry times (seconds since the epoch), newest first as rpm stores them.
    pub changelog_times: Vec<u32>,
}

#[derive(Debug)]
enum Value {
    Int32(Vec<u32>),
    Strings(Vec<String>),
}

/// Parse one header blob. One function on purpose (~100 lines): it walks the header in the
/// order of its format (counts, index entries, data) and keeps every bounds check next to the
/// read it guards.
///
/// # Errors
/// A description of the first inconsistency (truncated data, offsets out of range).
pub fn parse_header(blob: &[u8]) -> Result<RpmPackage, String> {
    let be = |b: &[u8], at: usize| -> Result<u32, String> {
        b.get(at..at + 4)
            .map(|s| u32::from_be_bytes([s[0], s[1], s[2], s[3]]))
            .ok_or_else(|| "header truncated".to_string())
    };
    let il = be(blob, 0)? as usize;
    let dl = be(blob, 4)? as usize;
    if il > MAX_ENTRIES {
        return Err(format!("header claims {il} entries"));
    }
    let data_start = 8 + il * 16;
    let data = blob
        .get(data_start..data_start + dl)
        .ok_or_else(|| "header data truncated".to_string())?;
    let mut values: BTreeMap<i32, Value> = BTreeMap::new();
    for i in 0..il {
        let e = 8 + i * 16;
        let tag = be(blob, e)? as i32;
        let ty = be(blob, e + 4)? as i32;
        let off = be(blob, e + 8)? as usize;
        let count = be(blob, e + 12)? as usize;
        if !matches!(
            tag,
            TAG_NAME
                | TAG_VERSION
                | TAG_RELEASE
                | TAG_EPOCH
                | TAG_LICENSE
                | TAG_ARCH
                | TAG_CHANGELOGTIME
                | TAG_SOURCERPM
                | TAG_DIRINDEXES
                | TAG_BASENAMES
                | TAG_DIRNAMES
        ) {
            continue;
        }
        let v = match ty {
            TYPE_INT32 => {
                let bytes = data
                    .get(off..off + count * 4)
                    .ok_or("int32 array out of range")?;
                Value::Int32(
                    bytes
                        .chunks_exact(4)
                        .map(|c| u32::from_be_bytes([c[0], c[1], c[2], c[3]]))
                        .collect(),
                )
            }
            TYPE_STRING | TYPE_STRING_ARRAY | TYPE_I18NSTRING => {
                let n = if ty == TYPE_STRING { 1 } else { count };
                let mut out = Vec::with_capacity(n.min(MAX_ENTRIES));
                let mut at = off;
                for _ in 0..n {
                    let rest = data.get(at..).ok_or("string out of range")?;
                    let end = rest
                        .iter()
                        .position(|&b| b == 0)
                        .ok_or("unterminated string")?;
                    out.push(String::from_utf8_lossy(&rest[..end]).into_owned());
                    at += end + 1;
                }
                Value::Strings(out)
            }
            _ => continue,
        };
        values.insert(tag, v);
    }
    let string = |t: i32| match values.get(&t) {
        Some(Value::Strings(s)) => s.first().cloned(),
        _ => None,
    };
    let strings = |t: i32| match values.get(&t) {
        Some(Value::Strings(s)) => s.clone(),
        _ => Vec::new(),
    };
    let ints = |t: i32| match values.get(&t) {
        Some(Value::Int32(v)) => v.clone(),
        _ => Vec::new(),
    };
    let name = string(TAG_NAME).ok_or("header has no name")?;
    let source = string(TAG_SOURCERPM)
        .and_then(|s| source_name(&s))
        .unwrap_or_else(|| name.clone());
    let dirs = strings(TAG_DIRNAMES);
    let files = strings(TAG_BASENAMES)
        .into_iter()
        .zip(ints(TAG_DIRINDEXES))
        .filter_map(|(base, di)| dirs.get(di as usize).map(|d| format!("{d}{base}")))
        .collect();
    Ok(RpmPackage {
        evr: format!(
            "{}-{}",
            string(TAG_VERSION).unwrap_or_default(),
            string(TAG_RELEASE).unwrap_or_default()
        ),
        epoch: ints(TAG_EPOCH).first().copied(),
        arch: string(TAG_ARCH).unwrap_or_default(),
        license: string(TAG_LICENSE).filter(|l| !l.is_empty()),
        name,
        source,
        files,
        changelog_times: ints(TAG_CHANGELOGTIME),
    })
}

/// `openssl-3.0.7-27.el9.src.rpm` → `openssl`.
pub fn source_name(srpm: &str) -> Option<String> {
    let stem = srpm
        .strip_suffix(".src.rpm")
        .or_else(|| srpm.strip_suffix(".nosrc.rpm"))?;
    let mut parts = stem.rsplitn(3, '-');
    let (_release, _version, name) = (parts.next()?, parts.next()?, parts.next()?);
    (!name.is_empty()).then(|| name.to_string())
}

/// Read every package of an rpmdb.sqlite (with its `-wal` file, whose pages may not be
/// checkpointed yet). The files are copied to a private temp dir first: sqlite may write
/// its shared-memory index, and the database in the commit must not be touched.
///
/// # Errors
/// A message naming the database.
pub fn read_database(db: &[u8], wal: Option<&[u8]>) -> Result<Vec<RpmPackage>, RpmError> {
    let io = |what: &'static str| move |source| RpmError::Io { what, source };
    let tmp = tempfile::tempdir().map_err(io("creating a temp dir for the rpm database"))?;
    let path = tmp.path().join("rpmdb.sqlite");
    std::fs::write(&path, db).map_err(io("copying the rpm database"))?;
    if let Some(w) = wal {
        std::fs::write(tmp.path().join("rpmdb.sqlite-wal"), w)
            .map_err(io("copying the rpm database's WAL"))?;
    }
    read_path(&path)
}

fn read_path(path: &Path) -> Result<Vec<RpmPackage>, RpmError> {
    let sql = |what: &'static str| move |source| RpmError::Sqlite { what, source };
    let conn = rusqlite::Connection::open(path).map_err(sql("opening the rpm database"))?;
    let mut stmt = conn
        .prepare("SELECT hnum, blob FROM Packages ORDER BY hnum")
        .map_err(sql("reading the rpm database"))?;
    let rows = stmt
        .query_map([], |r| Ok((r.get::<_, i64>(0)?, r.get::<_, Vec<u8>>(1)?)))
        .map_err(sql("reading the rpm database"))?;
    let mut out = Vec::new();
    for row in rows {
        let (hnum, blob) = row.map_err(sql("reading the rpm database"))?;
        out.push(parse_header(&blob).map_err(|reason| RpmError::Header { hnum, reason })?);
    }
    out.sort_by(|a, b| a.name.cmp(&b.name));
    Ok(out)
}

/// Why the rpm database of a commit could not be read.
#[derive(Debug, thiserror::Error)]
pub enum RpmError {
    /// Copying it to a private place failed.
    #[error("{what}")]
    Io {
        /// What was being done.
        what: &'static str,
        /// The I/O error.
        #[source]
        source: std::io::Error,
    },
    /// sqlite could not read it.
    #[error("{what}")]
    Sqlite {
        /// What was being done.
        what: &'static str,
        /// sqlite's error.
        #[source]
        source: rusqlite::Error,
    },
    /// A package header is not a valid rpm header.
    #[error("rpm header {hnum}: {reason}")]
    Header {
        /// Its number in the database.
        hnum: i64,
        /// The first inconsistency found.
        reason: String,
    },
}

#[cfg(test)]
mod tests {
    use super::*;

    fn header(entries: &[(i32, i32, Vec<u8>, u32)]) -> Vec<u8> {
        let mut data = Vec::new();
        let mut index = Vec::new();
        for (tag, ty, bytes, count) in entries {
            index.extend_from_slice(&tag.to_be_bytes());
            index.extend_from_slice(&ty.to_be_bytes());
            index.extend_from_slice(&(data.len() as u32).to_be_bytes());
            index.extend_from_slice(&count.to_be_bytes());
            data.extend_from_slice(bytes);
        }
        let mut out = Vec::new();
        out.extend_from_slice(&(entries.len() as u32).to_be_bytes());
        out.extend_from_slice(&(data.len() as u32).to_be_bytes());
        out.extend(index);
        out.extend(data);
        out
    }

    #[test]
    fn parses_names_files_and_changelog() {
        let h = header(&[
            (TAG_NAME, TYPE_STRING, b"libfoo\0".to_vec(), 1),
            (TAG_VERSION, TYPE_STRING, b"1.2\0".to_vec(), 1),
            (TAG_RELEASE, TYPE_STRING, b"3.fc40\0".to_vec(), 1),
            (
                TAG_SOURCERPM,
                TYPE_STRING,
                b"foo-1.2-3.fc40.src.rpm\0".to_vec(),
                1,
            ),
            (
                TAG_DIRNAMES,
                TYPE_STRING_ARRAY,
                b"/usr/lib/\0/usr/share/doc/foo/\0".to_vec(),
                2,
            ),
            (
                TAG_BASENAMES,
                TYPE_STRING_ARRAY,
                b"libfoo.so.1\0README\0".to_vec(),
                2,
            ),
            (
                TAG_DIRINDEXES,
                TYPE_INT32,
                [0u32, 1].iter().flat_map(|v| v.to_be_bytes()).collect(),
                2,
            ),
            (
                TAG_CHANGELOGTIME,
                TYPE_INT32,
                1_700_000_000u32.to_be_bytes().to_vec(),
                1,
            ),
        ]);
        let p = parse_header(&h).unwrap();
        assert_eq!(p.name, "libfoo");
        assert_eq!(p.source, "foo");
        assert_eq!(p.evr, "1.2-3.fc40");
        assert_eq!(
            p.files,
            vec!["/usr/lib/libfoo.so.1", "/usr/share/doc/foo/README"]
        );
        assert_eq!(p.changelog_times, vec![1_700_000_000]);
    }

    #[test]
    fn hostile_headers_are_errors_not_panics() {
        assert!(parse_header(&[]).is_err());
        assert!(parse_header(&[0xff; 8]).is_err());
        let mut h = header(&[(TAG_NAME, TYPE_STRING, b"x\0".to_vec(), 1)]);
        h.truncate(h.len() - 1);
        assert!(parse_header(&h).is_err());
        let h = header(&[
            (TAG_BASENAMES, TYPE_STRING_ARRAY, b"a\0".to_vec(), 1000),
            (TAG_NAME, TYPE_STRING, b"x\0".to_vec(), 1),
        ]);
        assert!(parse_header(&h).is_err());
        assert_eq!(
            source_name("openssl-3.0.7-27.el9.src.rpm").as_deref(),
            Some("openssl")
        );
        assert_eq!(source_name("garbage"), None);
    }

    #[test]
    fn damaged_databases_name_what_failed_and_keep_the_cause() {
        let e = read_database(b"not an sqlite database at all", None).unwrap_err();
        assert!(matches!(e, RpmError::Sqlite { .. }), "{e:?}");
        assert!(std::error::Error::source(&e).is_some());
        // A real sqlite database whose package header is garbage: named by its number.
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("rpmdb.sqlite");
        let conn = rusqlite::Connection::open(&path).unwrap();
        conn.execute_batch("CREATE TABLE Packages (hnum INTEGER PRIMARY KEY, blob BLOB)")
            .unwrap();
        conn.execute("INSERT INTO Packages VALUES (7, x'00ff')", [])
            .unwrap();
        drop(conn);
        let e = read_database(&std::fs::read(&path).unwrap(), None).unwrap_err();
        assert!(matches!(e, RpmError::Header { hnum: 7, .. }), "{e:?}");
        assert!(e.to_string().starts_with("rpm header 7: "), "{e}");
    }
}
