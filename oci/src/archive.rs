//! `oci-archive`: a tar of an OCI image layout, as coreos-assembler stores images and as
//! `skopeo copy oci-archive:FILE` reads them. Deterministic: entries sorted, mtime 0, uid/gid 0,
//! fixed modes, so the same layout gives the same archive bytes.

use crate::keys::layout;
use crate::ocidir::{io_err, OciError};
use cap_std::fs::Dir;
use std::collections::HashMap;
use std::io::{self, Read, Write};

fn header(kind: tar::EntryType, mode: u32, size: u64) -> tar::Header {
    let mut h = tar::Header::new_gnu();
    h.set_entry_type(kind);
    h.set_mode(mode);
    h.set_uid(0);
    h.set_gid(0);
    h.set_mtime(0);
    h.set_size(size);
    h
}

/// Write the layout in `layout_dir` as a tar stream to `out`; returns `out`.
///
/// # Errors
/// I/O errors naming the file.
pub fn write_archive<W: Write>(layout_dir: &Dir, out: W) -> Result<W, OciError> {
    let mut b = tar::Builder::new(out);
    b.mode(tar::HeaderMode::Deterministic);
    for name in [layout::OCI_LAYOUT, layout::INDEX_JSON] {
        let data = layout_dir
            .read(name)
            .map_err(io_err(format!("reading {name}")))?;
        let mut h = header(tar::EntryType::Regular, 0o644, data.len() as u64);
        b.append_data(&mut h, name, data.as_slice())
            .map_err(io_err(format!("archiving {name}")))?;
    }
    for d in [layout::BLOBS, layout::BLOBS_SHA256] {
        let mut h = header(tar::EntryType::Directory, 0o755, 0);
        b.append_data(&mut h, format!("{d}/"), io::empty())
            .map_err(io_err(format!("archiving {d}")))?;
    }
    let blobs = layout_dir
        .open_dir(layout::BLOBS_SHA256)
        .map_err(io_err("opening blobs/sha256"))?;
    let mut names: Vec<String> = blobs
        .entries()
        .map_err(io_err("listing blobs"))?
        .filter_map(|e| e.ok())
        .map(|e| e.file_name().to_string_lossy().into_owned())
        .filter(|n| n.len() == 64)
        .collect();
    names.sort();
    for n in names {
        let f = blobs
            .open(&n)
            .map_err(io_err(format!("opening blob {n}")))?;
        let size = f
            .metadata()
            .map_err(io_err(format!("stat blob {n}")))?
            .len();
        let mut h = header(tar::EntryType::Regular, 0o644, size);
        b.append_data(&mut h, format!("{}/{n}", layout::BLOBS_SHA256), f)
            .map_err(io_err(format!("archiving blob {n}")))?;
        crate::faults::point("archive-entry");
    }
    b.into_inner().map_err(io_err("finishing archive"))
}

/// The index.json of an oci-archive stream, read without unpacking anything: the entries
/// before it are skipped (ours write it second; other tools anywhere).
///
/// # Errors
/// No index.json in the stream, invalid JSON, I/O errors.
pub fn read_index(r: impl Read) -> Result<crate::types::Index, OciError> {
    let mut ar = tar::Archive::new(r);
    let entries = ar.entries().map_err(io_err("reading the archive"))?;
    for e in entries {
        let mut e = e.map_err(io_err("reading the archive"))?;
        let path = e.path().map_err(io_err("reading an entry's path"))?;
        let name = path.to_string_lossy();
        if name.trim_start_matches("./") != layout::INDEX_JSON {
            continue;
        }
        let mut data = Vec::new();
        (&mut e)
            .take(crate::keys::MAX_CONFIG_FILE)
            .read_to_end(&mut data)
            .map_err(io_err(format!("reading {}", layout::INDEX_JSON)))?;
        return serde_json::from_slice(&data).map_err(|source| OciError::BadJson {
            what: layout::INDEX_JSON.into(),
            source,
        });
    }
    Err(OciError::NotALayout {
        path: "the archive".into(),
        reason: format!("no {}", layout::INDEX_JSON),
    })
}

/// The blobs of an oci-archive, read where they lie in it: each one's data offset and size.
#[derive(Debug)]
pub struct ArchiveBlobs {
    file: std::fs::File,
    at: HashMap<String, (u64, u64)>,
}

impl ArchiveBlobs {
    /// Where blob `hex`'s bytes lie in the archive: (offset, size).
    pub fn get(&self, hex: &str) -> Option<(u64, u64)> {
        self.at.get(hex).copied()
    }

    /// The archive.
    pub fn file(&self) -> &std::fs::File {
        &self.file
    }
}

/// Open an oci-archive without copying its blobs: `oci-layout` and `index.json` are written
/// into the empty directory `dest` (with an empty `blobs/sha256`), and where each blob lies
/// in the archive is noted, to be read there ([`crate::OciDir::open_archive`]). Only the
/// layout's own names are accepted (no links, no paths outside `blobs/sha256`), so a hostile
/// archive cannot write elsewhere; a name given twice counts as its last entry, as unpacking
/// would leave it.
///
/// # Errors
/// Unexpected entries, I/O errors.
pub fn open_in_place(file: std::fs::File, dest: &Dir) -> Result<ArchiveBlobs, OciError> {
    dest.create_dir_all(layout::BLOBS_SHA256)
        .map_err(io_err("creating blobs/sha256"))?;
    let mut at = HashMap::new();
    {
        let mut ar = tar::Archive::new(&file);
        for e in ar.entries_with_seek().map_err(io_err("reading archive"))? {
            let mut e = e.map_err(io_err("reading archive"))?;
            let path = e
                .path()
                .map_err(io_err("archive entry path"))?
                .to_string_lossy()
                .into_owned();
            let path = path
                .trim_start_matches("./")
                .trim_end_matches('/')
                .to_string();
            match e.header().entry_type() {
                tar::EntryType::Directory
                    if path.is_empty() || path == layout::BLOBS || path == layout::BLOBS_SHA256 => {
                }
                tar::EntryType::Regular
                    if path == layout::OCI_LAYOUT || path == layout::INDEX_JSON =>
                {
                    let mut data = Vec::new();
                    (&mut e)
                        .take(crate::keys::MAX_CONFIG_FILE)
                        .read_to_end(&mut data)
                        .map_err(io_err(format!("reading {path}")))?;
                    dest.write(&path, &data)
                        .map_err(io_err(format!("writing {path}")))?;
                }
                tar::EntryType::Regular
                    if path.strip_prefix("blobs/sha256/").is_some_and(|h| {
                        h.len() == 64 && h.bytes().all(|b| b.is_ascii_hexdigit())
                    }) =>
                {
                    let hex = path["blobs/sha256/".len()..].to_string();
                    at.insert(hex, (e.raw_file_position(), e.size()));
                }
                other => {
                    return Err(OciError::NotALayout {
                        path: "archive".into(),
                        reason: format!("unexpected {other:?} entry {path:?}"),
                    })
                }
            }
        }
    }
    Ok(ArchiveBlobs { file, at })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_index_is_read_from_an_archive_without_unpacking_it() {
        let td = cap_tempfile::tempdir(cap_std::ambient_authority()).unwrap();
        let oci = crate::OciDir::ensure(td.try_clone().unwrap(), "out").unwrap();
        let blob = oci
            .write_blob(crate::keys::media::MANIFEST, b"{\"schemaVersion\":2}")
            .unwrap();
        oci.set_manifest(blob.clone(), Some("sha256-abc")).unwrap();
        let tar = write_archive(&td, Vec::new()).unwrap();
        let index = read_index(tar.as_slice()).unwrap();
        assert_eq!(index.manifests.len(), 1);
        assert_eq!(index.manifests[0].digest, blob.digest);
        // Another tool's archive may put it after the blobs; none at all is an error.
        let mut b = tar::Builder::new(Vec::new());
        let mut h = header(tar::EntryType::Regular, 0o644, 2);
        b.append_data(&mut h, "blobs/sha256/x", &b"{}"[..]).unwrap();
        let data = br#"{"schemaVersion":2,"manifests":[]}"#;
        let mut h = header(tar::EntryType::Regular, 0o644, data.len() as u64);
        b.append_data(&mut h, "./index.json", &data[..]).unwrap();
        let later = b.into_inner().unwrap();
        assert!(read_index(later.as_slice()).unwrap().manifests.is_empty());
        let none = tar::Builder::new(Vec::new()).into_inner().unwrap();
        assert!(read_index(none.as_slice()).is_err());
    }

    /// A layout with two blobs, archived into a file in `td`.
    fn archived(td: &Dir) -> (std::path::PathBuf, Vec<crate::types::Descriptor>) {
        td.create_dir("layout").unwrap();
        let oci = crate::OciDir::ensure(td.open_dir("layout").unwrap(), "layout").unwrap();
        let big: Vec<u8> = (0..300_000u32).map(|i| (i % 251) as u8).collect();
        let blobs = vec![
            oci.write_blob(crate::keys::media::LAYER_TAR, &big).unwrap(),
            oci.write_blob(crate::keys::media::MANIFEST, b"{\"schemaVersion\":2}")
                .unwrap(),
        ];
        oci.set_manifest(blobs[1].clone(), Some("t")).unwrap();
        let tar = write_archive(&td.open_dir("layout").unwrap(), Vec::new()).unwrap();
        td.write("a.ociarchive", &tar).unwrap();
        let path = std::path::Path::new("/proc/self/fd")
            .join(std::os::fd::AsRawFd::as_raw_fd(td).to_string())
            .join("a.ociarchive");
        (path, blobs)
    }

    #[test]
    fn archives_are_read_in_place() {
        let td = cap_tempfile::tempdir(cap_std::ambient_authority()).unwrap();
        let (path, blobs) = archived(&td);
        td.create_dir("index").unwrap();
        let dest = td.open_dir("index").unwrap();
        let file = std::fs::File::open(&path).unwrap();
        let oci = crate::OciDir::open_archive(
            dest.try_clone().unwrap(),
            "a",
            open_in_place(file, &dest).unwrap(),
        )
        .unwrap();
        // Only the index and the marker were written; no blob was copied.
        assert_eq!(
            dest.open_dir("blobs/sha256")
                .unwrap()
                .entries()
                .unwrap()
                .count(),
            0
        );
        assert!(dest.exists("index.json") && dest.exists("oci-layout"));
        let layout = td.open_dir("layout").unwrap();
        for d in &blobs {
            let mut data = Vec::new();
            oci.open_blob(d).unwrap().read_to_end(&mut data).unwrap();
            assert_eq!(
                data,
                layout
                    .read(format!("blobs/sha256/{}", d.digest.hex()))
                    .unwrap()
            );
            let at = oci.blob_at(d).unwrap();
            assert_eq!(at.len, d.size);
            let mut tail = vec![0u8; 10];
            assert_eq!(
                at.read_at(&mut tail, d.size - 4).unwrap(),
                4,
                "never past the blob"
            );
        }
        assert_eq!(oci.find(Some("t")).unwrap().digest, blobs[1].digest);
        // A byte changed in the archive: the blob's reader fails at its end.
        let mut bytes = td.read("a.ociarchive").unwrap();
        let at = oci.blob_at(&blobs[0]).unwrap().base as usize + 1000;
        bytes[at] ^= 1;
        td.write("a.ociarchive", &bytes).unwrap();
        let mut data = Vec::new();
        assert!(oci
            .open_blob(&blobs[0])
            .unwrap()
            .read_to_end(&mut data)
            .is_err());
    }

    #[test]
    fn hostile_archives_are_refused() {
        for (kind, name) in [
            (tar::EntryType::Regular, "../escape"),
            (tar::EntryType::Regular, "blobs/sha256/short"),
            (tar::EntryType::Symlink, "index.json"),
            (tar::EntryType::Regular, "etc/passwd"),
        ] {
            let mut b = tar::Builder::new(Vec::new());
            let mut h = header(kind, 0o644, 2);
            // Set by hand: the builder itself refuses `..`.
            h.as_old_mut().name[..name.len()].copy_from_slice(name.as_bytes());
            h.set_cksum();
            b.append(&h, &b"{}"[..]).unwrap();
            let tar = b.into_inner().unwrap();
            let td = cap_tempfile::tempdir(cap_std::ambient_authority()).unwrap();
            td.write("a", &tar).unwrap();
            let file = td.open("a").unwrap().into_std();
            let e = open_in_place(file, &td).expect_err(name);
            assert!(e.to_string().contains(name.trim_start_matches("./")), "{e}");
            assert!(!td.exists("escape") && !td.exists("etc"));
        }
    }
}
