//! Image arguments (`--previous`, `diff OLD NEW`, `--oci-dir DIR[:TAG]`, push destinations)
//! through the one parser, over a made-up file system that the input's first byte decides.
//! Properties: no panic; what a source names exists (or names its transport); a tag is never
//! empty; skopeo's spelling of a reference parses back to the same reference.
#![no_main]
use libfuzzer_sys::fuzz_target;
use ostree_encap::image_ref::{Accept, ImageRef, PathKind, Probe};
use std::path::Path;

/// Each path is missing, a directory, an archive or a JSON file, by a hash of its name.
struct Fake(u8);
impl Probe for Fake {
    fn kind(&self, path: &Path) -> PathKind {
        let h = path
            .as_os_str()
            .as_encoded_bytes()
            .iter()
            .fold(u32::from(self.0), |h, b| h.wrapping_mul(31).wrapping_add(u32::from(*b)));
        match h % 4 {
            0 => PathKind::Missing,
            1 => PathKind::Dir,
            2 => PathKind::File { json: false },
            _ => PathKind::File { json: true },
        }
    }
}

/// Spelled with skopeo's syntax, does it read back the same? Not for a path with a `:`
/// and no tag, which has no unambiguous spelling (documented on `Display`).
fn round_trips(r: &ImageRef) {
    let ambiguous = match r {
        ImageRef::Dir { path, tag: None } | ImageRef::Archive { path, tag: None } => {
            path.to_string_lossy().contains(':')
        }
        ImageRef::Manifest(_) => true,
        _ => false,
    };
    if !ambiguous {
        assert_eq!(ImageRef::parse_destination("D", &r.to_string()).as_ref(), Ok(r));
    }
}

fuzz_target!(|data: &[u8]| {
    let Some((&sel, rest)) = data.split_first() else {
        return;
    };
    let Ok(arg) = std::str::from_utf8(rest) else {
        return;
    };
    let fs = Fake(sel);
    for (manifest, remote) in [(false, false), (true, false), (true, true)] {
        let accept = Accept { manifest, remote };
        let Ok(r) = ImageRef::parse_source("X", arg, accept, &fs) else {
            continue;
        };
        assert!(r.tag().is_none_or(|t| !t.is_empty()));
        let explicit = ["oci:", "oci-archive:"].iter().any(|t| arg.starts_with(t));
        match &r {
            ImageRef::Dir { path, .. } if !explicit => assert_eq!(fs.kind(path), PathKind::Dir),
            ImageRef::Archive { path, .. } if !explicit => {
                assert!(matches!(fs.kind(path), PathKind::File { .. }))
            }
            ImageRef::Manifest(path) => {
                assert!(manifest);
                assert_eq!(fs.kind(path), PathKind::File { json: true });
            }
            ImageRef::Remote(_) => assert!(remote),
            _ => {}
        }
        round_trips(&r);
    }
    if let Ok(r) = ImageRef::parse_destination("D", arg) {
        round_trips(&r);
    }
    if let Ok(r) = ImageRef::from_flags(Some(arg), None, None, &fs) {
        assert!(matches!(&r, ImageRef::Dir { path, .. } if fs.kind(path) == PathKind::Dir));
    }
});
