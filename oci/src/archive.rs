//! `oci-archive`: a tar of an OCI image layout, as coreos-assembler stores images and as
//! `skopeo copy oci-archive:FILE` reads them. Deterministic: entries sorted, mtime 0, uid/gid 0,
//! fixed modes, so the same layout gives the same archive bytes.

use crate::keys::layout;
use crate::ocidir::{io_err, OciError};
use cap_std::fs::Dir;
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
    }
    b.into_inner().map_err(io_err("finishing archive"))
}

/// Unpack an oci-archive stream into the empty directory `dest`. Only the layout's own names
/// are accepted (no links, no paths outside `blobs/sha256`), so a hostile archive cannot write
/// elsewhere.
///
/// # Errors
/// Unexpected entries, I/O errors.
pub fn unpack_archive(r: impl Read, dest: &Dir) -> Result<(), OciError> {
    let mut ar = tar::Archive::new(r);
    dest.create_dir_all(layout::BLOBS_SHA256)
        .map_err(io_err("creating blobs/sha256"))?;
    for e in ar.entries().map_err(io_err("reading archive"))? {
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
                if path.is_empty() || path == layout::BLOBS || path == layout::BLOBS_SHA256 => {}
            tar::EntryType::Regular => {
                let ok = path == layout::OCI_LAYOUT
                    || path == layout::INDEX_JSON
                    || path
                        .strip_prefix("blobs/sha256/")
                        .is_some_and(|h| h.len() == 64 && h.bytes().all(|b| b.is_ascii_hexdigit()));
                if !ok {
                    return Err(OciError::NotALayout {
                        path: "archive".into(),
                        reason: format!("unexpected entry {path:?}"),
                    });
                }
                let mut f = dest
                    .create(&path)
                    .map_err(io_err(format!("creating {path}")))?;
                io::copy(&mut e, &mut f).map_err(io_err(format!("unpacking {path}")))?;
            }
            other => {
                return Err(OciError::NotALayout {
                    path: "archive".into(),
                    reason: format!("unexpected {other:?} entry {path:?}"),
                })
            }
        }
    }
    Ok(())
}
