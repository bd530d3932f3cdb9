//! An OCI image layout directory, written through a `cap_std::fs::Dir`.
//!
//! # Atomicity
//! Blobs are written to anonymous temp files in `blobs/sha256`, fsynced, and linked into place
//! under their digest once it is known. `index.json` is the commit point: it is replaced
//! atomically (temp file, fsync, rename, fsync dir) and last, so an interrupted run leaves the
//! previous index — and so the previous image — intact and readable.
//!
//! Here: the layout itself (made, opened, locked, cleaned after a failed run) and its index
//! (tags, resolving an image); `read` reads blobs, checked; `write` writes them.

mod read;
mod write;

pub use read::{BlobAt, BlobReader, VerifyingReader};
pub use write::{BlobSink, LayerEncoder, LayerWriter, WrittenLayer};

use crate::json;
use crate::keys::{self, layout, media};
use crate::types::{Descriptor, Digest, ImageConfig, Index, Manifest};
use cap_std::fs::{Dir, File};
use sha2::{Digest as _, Sha256};
use std::io::{self, BufWriter, Read, Write};

/// Errors of the layout. Callers branch on `NotALayout` and `NoSuchImage`.
#[derive(Debug, thiserror::Error)]
pub enum OciError {
    /// An output directory that holds something else.
    #[error("{path} exists and is neither empty nor an OCI image layout ({reason}); refusing to write into it")]
    Foreign {
        /// Directory as named by the caller.
        path: String,
        /// What was found.
        reason: String,
    },
    /// The directory is not a layout (or a damaged one).
    #[error("{path} is not an OCI image layout: {reason}")]
    NotALayout {
        /// Directory as named by the caller.
        path: String,
        /// What was found.
        reason: String,
    },
    /// No image with that tag, or an untagged lookup in a multi-image layout.
    #[error("{0}")]
    NoSuchImage(String),
    /// A blob cannot be read as its descriptor says.
    #[error("blob {digest}: {what}")]
    BadBlob {
        /// The digest.
        digest: Digest,
        /// What was being done.
        what: String,
        /// The I/O error (a digest or size mismatch is one too, `InvalidData`).
        #[source]
        source: io::Error,
    },
    /// A JSON document cannot be parsed.
    #[error("{what}: invalid JSON")]
    BadJson {
        /// Which document.
        what: String,
        /// The parser's error.
        #[source]
        source: serde_json::Error,
    },
    /// An I/O error.
    #[error("{what}")]
    Io {
        /// What was being done.
        what: String,
        /// The error.
        #[source]
        source: io::Error,
    },
}

pub(crate) fn io_err(what: impl Into<String>) -> impl FnOnce(io::Error) -> OciError {
    let what = what.into();
    move |source| OciError::Io { what, source }
}

/// Write `data` to `name` in `dir` atomically.
///
/// # Errors
/// I/O errors naming the file.
pub fn atomic_write(dir: &Dir, name: &str, data: &[u8]) -> Result<(), OciError> {
    use cap_std_ext::dirext::CapStdExtDirExt;
    // Temp file, fsync, rename, fsync of the directory (cap-std-ext's atomic replace).
    dir.atomic_write(name, data)
        .map_err(io_err(format!("writing {name} (atomically)")))
}

/// Path of a blob's cache file of `kind` in its layout.
fn sidecar_name(kind: keys::Sidecar, hex: &str) -> String {
    format!("{}/{hex}", kind.dir())
}

fn sync_dir(dir: &Dir) -> io::Result<()> {
    // Dir handles are O_PATH; fsync needs a real descriptor of the directory.
    dir.open(".")?.sync_all()
}

/// An opened OCI image layout.
#[derive(Debug)]
pub struct OciDir {
    dir: Dir,
    /// Shared with block reuse sources (`blocks`), which open blobs lazily.
    blobs: std::sync::Arc<Dir>,
    /// Blob names (hex) this handle linked in, so a failed run can remove what it wrote and
    /// nothing else.
    created: std::sync::Mutex<Vec<String>>,
    /// The directory as the caller named it, for messages.
    shown: String,
    /// The cache directories this handle created (removed again, if empty, after a failed
    /// run).
    created_sidecar_dirs: std::sync::Mutex<Vec<keys::Sidecar>>,
    /// Whether this handle made the directory a layout (`ensure` wrote `oci-layout`): after
    /// a failed run an empty skeleton is removed again, leaving the directory as it was.
    created_layout: std::sync::atomic::AtomicBool,
    /// Blobs read in place from the oci-archive this layout was opened from (its
    /// `blobs/sha256` is empty).
    archive: Option<std::sync::Arc<crate::archive::ArchiveBlobs>>,
}

/// A manifest found in a layout, with its config.
#[derive(Debug, Clone)]
pub struct ResolvedImage {
    /// Descriptor of the manifest (from index.json).
    pub descriptor: Descriptor,
    /// The manifest.
    pub manifest: Manifest,
    /// The config.
    pub config: ImageConfig,
}

impl OciDir {
    /// Use `dir` as a layout: initialise it when empty, open it when it is a layout, refuse
    /// anything else. `shown` names the directory in errors.
    ///
    /// # Errors
    /// [`OciError::NotALayout`], or I/O errors.
    pub fn ensure(dir: Dir, shown: &str) -> Result<Self, OciError> {
        // Making a directory a layout is serialised by an exclusive lock on it (the lock
        // `run_lock` shares and `remove_created` takes): writing `oci-layout` gives it a
        // random name for an instant, which a concurrent run looking meanwhile would take
        // for someone else's file. The lock is dropped before `run_lock` takes its own.
        let creating_lock = if dir.exists(layout::OCI_LAYOUT) {
            None
        } else {
            let d = dir
                .open(".")
                .map_err(io_err(format!("opening {shown} to lock it")))?;
            rustix::fs::flock(&d, rustix::fs::FlockOperation::LockExclusive)
                .map_err(|e| io_err(format!("locking {shown}"))(e.into()))?;
            Some(d)
        };
        let creating = creating_lock.is_some() && !dir.exists(layout::OCI_LAYOUT);
        if creating {
            let entries = dir.entries().map_err(io_err(format!("listing {shown}")))?;
            // An empty `blobs/sha256` skeleton is what a run leaves for an instant when a
            // concurrent failed run removes its `oci-layout`: empty, so not someone's data.
            let skeleton = |name: &str| {
                name == layout::BLOBS
                    && dir.read_dir(layout::BLOBS).is_ok_and(|mut d| {
                        d.all(|e| {
                            e.is_ok_and(|e| {
                                e.file_name() == "sha256"
                                    && dir
                                        .read_dir(layout::BLOBS_SHA256)
                                        .is_ok_and(|mut s| s.next().is_none())
                            })
                        })
                    })
            };
            if let Some(e) = entries.into_iter().find(|e| {
                e.as_ref()
                    .map_or(true, |e| !skeleton(&e.file_name().to_string_lossy()))
            }) {
                let name = e
                    .map(|e| e.file_name().to_string_lossy().into_owned())
                    .unwrap_or_else(|_| "?".into());
                return Err(OciError::Foreign {
                    path: shown.into(),
                    reason: format!("it has no oci-layout file but contains {name:?}"),
                });
            }
            // oci-layout first: a concurrent run that finds the directory no longer empty
            // then sees a layout, never a directory holding only `blobs/`. Two runs may both
            // write it; the content is the same and the rename atomic.
            atomic_write(
                &dir,
                layout::OCI_LAYOUT,
                layout::OCI_LAYOUT_CONTENT.as_bytes(),
            )?;
        }
        dir.create_dir_all(layout::BLOBS_SHA256)
            .map_err(io_err(format!("creating {shown}/{}", layout::BLOBS_SHA256)))?;
        drop(creating_lock);
        let oci = Self::open(dir, shown)?;
        oci.created_layout
            .store(creating, std::sync::atomic::Ordering::Relaxed);
        Ok(oci)
    }

    /// Hold the layout's index lock while `f` runs: an exclusive `flock` on the `blobs`
    /// directory. Every writer of index.json here takes it, so two runs adding tags to one
    /// layout both keep theirs (the read-modify-write of the index is serialised). Other
    /// tools do not know this lock; the index is still replaced atomically for them.
    ///
    /// # Errors
    /// I/O errors taking the lock, or `f`'s.
    pub fn with_index_lock<T>(
        &self,
        f: impl FnOnce() -> Result<T, OciError>,
    ) -> Result<T, OciError> {
        let d = self.dir.open(layout::BLOBS).map_err(io_err(format!(
            "opening {} to lock the index",
            layout::BLOBS
        )))?;
        rustix::fs::flock(&d, rustix::fs::FlockOperation::LockExclusive)
            .map_err(|e| io_err("locking the layout's index")(e.into()))?;
        let r = f();
        // Closing `d` releases the lock, also when `f` failed.
        drop(d);
        r
    }

    /// Open an existing layout.
    ///
    /// # Errors
    /// [`OciError::NotALayout`] if `oci-layout` is missing or unreadable.
    pub fn open(dir: Dir, shown: &str) -> Result<Self, OciError> {
        let marker = dir
            .read(layout::OCI_LAYOUT)
            .map_err(|e| OciError::NotALayout {
                path: shown.into(),
                reason: format!("cannot read {}: {e}", layout::OCI_LAYOUT),
            })?;
        let v: serde_json::Value =
            serde_json::from_slice(&marker).map_err(|e| OciError::NotALayout {
                path: shown.into(),
                reason: format!("{} is not JSON: {e}", layout::OCI_LAYOUT),
            })?;
        if v.get("imageLayoutVersion")
            .and_then(|v| v.as_str())
            .is_none()
        {
            return Err(OciError::NotALayout {
                path: shown.into(),
                reason: format!("{} has no imageLayoutVersion", layout::OCI_LAYOUT),
            });
        }
        // Reading never writes: a layout without blobs/sha256 is refused, not repaired.
        let blobs = dir
            .open_dir(layout::BLOBS_SHA256)
            .map_err(|e| OciError::NotALayout {
                path: shown.into(),
                reason: format!("cannot open {}: {e}", layout::BLOBS_SHA256),
            })?;
        Ok(OciDir {
            dir,
            blobs: std::sync::Arc::new(blobs),
            created: std::sync::Mutex::new(Vec::new()),
            shown: shown.to_string(),
            created_sidecar_dirs: std::sync::Mutex::new(Vec::new()),
            created_layout: std::sync::atomic::AtomicBool::new(false),
            archive: None,
        })
    }

    /// Open the layout that [`crate::archive::open_in_place`] wrote into `dir`, its blobs read
    /// from the archive where they lie. For reading: blobs written through this handle go
    /// into `dir`, not the archive.
    ///
    /// # Errors
    /// As [`OciDir::open`].
    pub fn open_archive(
        dir: Dir,
        shown: &str,
        blobs: crate::archive::ArchiveBlobs,
    ) -> Result<Self, OciError> {
        let mut oci = Self::open(dir, shown)?;
        oci.archive = Some(std::sync::Arc::new(blobs));
        Ok(oci)
    }

    /// The directory as the caller named it when opening (for messages).
    pub fn shown(&self) -> &str {
        &self.shown
    }

    /// The layout's directory.
    pub fn dir(&self) -> &Dir {
        &self.dir
    }

    /// The blobs directory, shared, for readers that outlive a borrow (block reuse).
    pub fn blobs(&self) -> std::sync::Arc<Dir> {
        std::sync::Arc::clone(&self.blobs)
    }

    fn note_created(&self, hex: &str) {
        if let Ok(mut c) = self.created.lock() {
            c.push(hex.to_string());
        }
    }

    /// Take the run lock: a shared `flock` on the layout directory, held by every writing
    /// run until it ends (the returned handle). [`OciDir::remove_created`] deletes blobs
    /// only when it can take this lock exclusively, that is when no other run is writing:
    /// another run may have found one of our new blobs already there and be about to use it.
    ///
    /// # Errors
    /// I/O errors.
    pub fn run_lock(&self) -> Result<File, OciError> {
        let d = self
            .dir
            .open(".")
            .map_err(io_err("opening the layout to lock it"))?;
        rustix::fs::flock(&d, rustix::fs::FlockOperation::LockShared)
            .map_err(|e| io_err("locking the layout")(e.into()))?;
        // A failed run that created this directory may have removed it while we waited, and
        // another run may have made it again: our handle must still be its blobs directory.
        let same = |a: &rustix::fs::Stat, b: &rustix::fs::Stat| {
            a.st_ino == b.st_ino && a.st_dev == b.st_dev
        };
        let live = rustix::fs::statat(
            &self.dir,
            layout::BLOBS_SHA256,
            rustix::fs::AtFlags::SYMLINK_NOFOLLOW,
        );
        let ours = rustix::fs::fstat(&*self.blobs);
        let intact = matches!((&live, &ours), (Ok(l), Ok(o)) if same(l, o));
        if !self.dir.exists(layout::OCI_LAYOUT) || !intact {
            return Err(OciError::NotALayout {
                path: "the output directory".into(),
                reason: "a concurrent run removed it while this one started; run again".into(),
            });
        }
        Ok(d)
    }

    /// After a failed run: remove the blobs this handle created that no image in index.json
    /// uses, with their block indexes, and the empty layout skeleton if this handle made it, if no other run holds the run lock (`run_lock`, which
    /// the caller gives back here). Never touches a file this run did not create. Returns
    /// the exclusive lock when it was taken (the caller may then remove directories it
    /// created, before dropping it), or `None` when another run is writing here.
    pub fn remove_created(&self, run_lock: File) -> Option<File> {
        drop(run_lock);
        let d = self.dir.open(".").ok()?;
        rustix::fs::flock(&d, rustix::fs::FlockOperation::NonBlockingLockExclusive).ok()?;
        let created = self.created.lock().map(|c| c.clone()).unwrap_or_default();
        let used = self.referenced_blobs();
        for hex in created {
            if !used.contains(&hex) {
                let _ = self.blobs.remove_file(&hex);
                for kind in keys::Sidecar::ALL {
                    let _ = self.dir.remove_file(sidecar_name(kind, &hex));
                }
            }
        }
        let made = self
            .created_sidecar_dirs
            .lock()
            .map(|d| d.clone())
            .unwrap_or_default();
        for kind in made {
            // Only if empty: another image's caches may be there by now.
            let _ = self.dir.remove_dir(kind.dir());
        }
        // The skeleton, only if this handle made it and nothing is in it now (`remove_dir`
        // removes only empty directories) and no index names an image.
        if self
            .created_layout
            .load(std::sync::atomic::Ordering::Relaxed)
            && self.dir.remove_dir(layout::BLOBS_SHA256).is_ok()
            && self.dir.remove_dir(layout::BLOBS).is_ok()
            && !self.dir.exists(layout::INDEX_JSON)
        {
            let _ = self.dir.remove_file(layout::OCI_LAYOUT);
        }
        Some(d)
    }

    /// Every blob (hex) the images of index.json use: manifests, configs, layers. Unreadable
    /// documents contribute what could be read.
    fn referenced_blobs(&self) -> std::collections::HashSet<String> {
        let mut used = std::collections::HashSet::new();
        let Ok(index) = self.read_index() else {
            return used;
        };
        let add_manifest = |d: &Descriptor, used: &mut std::collections::HashSet<String>| {
            used.insert(d.digest.hex().to_string());
            if let Ok(m) = self.read_json_blob::<Manifest>(d, "manifest") {
                used.insert(m.config.digest.hex().to_string());
                used.extend(m.layers.iter().map(|l| l.digest.hex().to_string()));
            }
        };
        for d in &index.manifests {
            if d.media_type == media::INDEX {
                // A multi-arch image or the referrers of one: its manifests' blobs too.
                used.insert(d.digest.hex().to_string());
                if let Ok(inner) = self.read_json_blob::<Index>(d, "image index") {
                    for m in &inner.manifests {
                        add_manifest(m, &mut used);
                    }
                }
            } else {
                add_manifest(d, &mut used);
            }
        }
        used
    }

    /// Read index.json (an empty index if there is none yet).
    ///
    /// # Errors
    /// Unreadable or invalid index.json.
    pub fn read_index(&self) -> Result<Index, OciError> {
        match self.dir.read(layout::INDEX_JSON) {
            Ok(bytes) => serde_json::from_slice(&bytes).map_err(|e| OciError::BadJson {
                what: layout::INDEX_JSON.into(),
                source: e,
            }),
            Err(e) if e.kind() == io::ErrorKind::NotFound => Ok(Index {
                schema_version: 2,
                media_type: Some(media::INDEX.into()),
                manifests: Vec::new(),
                extra: Default::default(),
            }),
            Err(e) => Err(io_err(layout::INDEX_JSON)(e)),
        }
    }

    /// Point `tag` (or the untagged slot) at `desc`, keeping every other entry; replaces
    /// index.json atomically.
    ///
    /// # Errors
    /// Invalid existing index, I/O errors.
    pub fn set_manifest(&self, desc: Descriptor, tag: Option<&str>) -> Result<(), OciError> {
        self.with_index_lock(|| self.set_manifest_locked(desc, tag))
    }

    /// Point `tag` at what `f` makes of its current entry (`None`: no such tag yet), under
    /// the index lock, so that two runs adding to what one tag holds (the referrers of an
    /// image) both keep theirs. Returns the new entry.
    ///
    /// # Errors
    /// `f`'s error (nothing changes), an invalid existing index, I/O errors.
    pub fn update_tag(
        &self,
        tag: &str,
        f: impl FnOnce(Option<&Descriptor>) -> Result<Descriptor, OciError>,
    ) -> Result<Descriptor, OciError> {
        self.with_index_lock(|| {
            let index = self.read_index()?;
            let current = index.manifests.iter().find(|d| ref_name(d) == Some(tag));
            let desc = f(current)?;
            self.set_manifest_locked(desc.clone(), Some(tag))?;
            Ok(desc)
        })
    }

    fn set_manifest_locked(&self, mut desc: Descriptor, tag: Option<&str>) -> Result<(), OciError> {
        let mut index = self.read_index()?;
        if let Some(tag) = tag {
            desc.annotations
                .get_or_insert_with(Default::default)
                .insert(keys::ANNOTATION_REF_NAME.into(), tag.into());
        }
        let same_slot = |d: &Descriptor| ref_name(d) == tag;
        match index.manifests.iter().position(same_slot) {
            Some(i) => {
                index.manifests[i] = desc;
                // An older tool may have left duplicates of the tag; one entry per tag.
                let mut seen = false;
                index.manifests.retain(|d| {
                    if ref_name(d) != tag {
                        return true;
                    }
                    let keep = !seen;
                    seen = true;
                    keep
                });
            }
            None => index.manifests.push(desc),
        }
        index.media_type = Some(media::INDEX.into());
        let bytes = json::to_canonical(&index).map_err(|e| OciError::BadJson {
            what: layout::INDEX_JSON.into(),
            source: e,
        })?;
        crate::faults::point("index");
        atomic_write(&self.dir, layout::INDEX_JSON, &bytes)
    }

    /// Find the image for `tag`; without a tag the layout must hold exactly one image.
    ///
    /// # Errors
    /// [`OciError::NoSuchImage`] listing the tags there are, or saying the tag names an image
    /// index; blob errors.
    pub fn resolve(&self, tag: Option<&str>) -> Result<ResolvedImage, OciError> {
        let desc = self.find(tag)?;
        if is_referrers_entry(&desc) {
            return Err(OciError::NoSuchImage(format!(
                "tag {:?} is the referrers list of an image (the artifacts that refer to it: \
                 static deltas, signatures), not an image; read the image it names",
                ref_name(&desc).unwrap_or_default()
            )));
        }
        if desc.media_type == media::INDEX {
            return Err(OciError::NoSuchImage(format!(
                "{} is an image index (a multi-arch image), not one image; read one of its \
                 images (skopeo copy --override-arch ARCH oci:DIR:TAG oci:OTHER:TAG)",
                tag.map_or("the layout's only entry".to_string(), |t| format!(
                    "tag {t:?}"
                ))
            )));
        }
        let manifest: Manifest = self.read_json_blob(&desc, "manifest")?;
        let config: ImageConfig = self.read_json_blob(&manifest.config, "config")?;
        Ok(ResolvedImage {
            descriptor: desc,
            manifest,
            config,
        })
    }

    /// The index.json entry for `tag` (an image manifest or an image index); without a tag
    /// the layout must hold exactly one.
    ///
    /// # Errors
    /// [`OciError::NoSuchImage`] listing the tags there are; an unreadable index.json.
    pub fn find(&self, tag: Option<&str>) -> Result<Descriptor, OciError> {
        let index = self.read_index()?;
        let tags: Vec<String> = index
            .manifests
            .iter()
            .map(|d| ref_name(d).unwrap_or("<untagged>").to_string())
            .collect();
        // Referrers (static deltas stored beside an image) are not images: "the only image"
        // is the only other entry.
        let images: Vec<&Descriptor> = index
            .manifests
            .iter()
            .filter(|d| !is_referrers_entry(d))
            .collect();
        let desc = match tag {
            Some(t) => index
                .manifests
                .iter()
                .find(|d| ref_name(d) == Some(t))
                .ok_or_else(|| {
                    OciError::NoSuchImage(format!("no image tagged {t:?} (tags: {})", list(&tags)))
                })?,
            None => match images.as_slice() {
                [one] => one,
                [] => return Err(OciError::NoSuchImage("the layout holds no image".into())),
                _ => {
                    return Err(OciError::NoSuchImage(format!(
                        "the layout holds {} images; name one with --tag (tags: {})",
                        images.len(),
                        list(&tags)
                    )))
                }
            },
        }
        .clone();
        Ok(desc)
    }
}

/// Whether `d` is a referrers-tag entry (`sha256-<64 hex>` on an image index): the
/// artifacts that refer to an image, not an image.
pub fn is_referrers_entry(d: &Descriptor) -> bool {
    d.media_type == media::INDEX
        && ref_name(d)
            .and_then(|t| t.strip_prefix(keys::delta::REFERRERS_TAG_PREFIX))
            .is_some_and(|h| {
                h.len() == 64 && h.bytes().all(|b| matches!(b, b'0'..=b'9' | b'a'..=b'f'))
            })
}

fn ref_name(d: &Descriptor) -> Option<&str> {
    d.annotations
        .as_ref()
        .and_then(|a| a.get(keys::ANNOTATION_REF_NAME))
        .map(String::as_str)
}

fn list(tags: &[String]) -> String {
    if tags.is_empty() {
        "none".into()
    } else {
        tags.join(", ")
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn tmpdir() -> cap_tempfile::TempDir {
        cap_tempfile::tempdir(cap_std::ambient_authority()).unwrap()
    }

    /// Another run making the directory a layout: `atomic_write` gives `oci-layout` a random
    /// name for an instant (cap-tempfile links its O_TMPFILE there, then renames it). A run
    /// that looked then saw a stranger's file and refused the directory (CI, under load).
    #[test]
    fn ensure_waits_for_a_concurrent_run_making_the_layout() {
        let td = tmpdir();
        let d = td.open(".").unwrap();
        rustix::fs::flock(&d, rustix::fs::FlockOperation::LockExclusive).unwrap();
        td.write("9f2c1e-in-flight", layout::OCI_LAYOUT_CONTENT)
            .unwrap();
        let dir = td.try_clone().unwrap();
        let other = std::thread::spawn(move || OciDir::ensure(dir, "out").map(|_| ()));
        std::thread::sleep(std::time::Duration::from_millis(200));
        td.rename("9f2c1e-in-flight", &td, layout::OCI_LAYOUT)
            .unwrap();
        drop(d);
        other
            .join()
            .unwrap()
            .expect("sees the layout the other run made");
    }

    /// A run opened the layout; before it took the run lock, a failed run that had made the
    /// layout removed the empty skeleton, and a third run made a new one. The first run's
    /// handles name removed directories: its run lock must say so (and the caller start
    /// over), not let it write into a deleted `blobs/sha256` (CI: "creating layer temp file:
    /// Operation not permitted").
    #[test]
    fn a_run_whose_layout_was_removed_and_remade_does_not_write_into_the_old_one() {
        let td = tmpdir();
        let maker = OciDir::ensure(td.try_clone().unwrap(), "out").unwrap();
        let late = OciDir::ensure(td.try_clone().unwrap(), "out").unwrap();
        let lock = maker.run_lock().unwrap();
        assert!(maker.remove_created(lock).is_some());
        assert!(!td.exists(layout::BLOBS), "the empty skeleton is removed");
        let _third = OciDir::ensure(td.try_clone().unwrap(), "out").unwrap();
        let err = late.run_lock().unwrap_err().to_string();
        assert!(err.contains("run again"), "{err}");
        // A fresh handle works.
        OciDir::ensure(td.try_clone().unwrap(), "out")
            .unwrap()
            .run_lock()
            .unwrap();
    }

    /// A referrers tag (static deltas beside an image) is no image: the layout still has
    /// "its only image", and a failed run's cleanup keeps the blobs of what the referrers
    /// index lists.
    #[test]
    fn referrers_tags_are_not_images_and_keep_their_blobs() {
        let td = tmpdir();
        let oci = OciDir::ensure(td.try_clone().unwrap(), "out").unwrap();
        let config = oci.write_blob(media::CONFIG, b"{}").unwrap();
        let manifest = |layer: &Descriptor| {
            json::canonical(&serde_json::json!({
                "schemaVersion": 2, "mediaType": media::MANIFEST,
                "config": config, "layers": [layer],
            }))
        };
        let image_layer = oci.write_blob(media::LAYER_TAR, b"image").unwrap();
        let image = oci
            .write_blob(media::MANIFEST, &manifest(&image_layer))
            .unwrap();
        oci.set_manifest(image.clone(), Some("1")).unwrap();
        let lock = oci.run_lock().unwrap();
        // A second run adds an artifact and lists it under the image's referrers tag.
        let run = OciDir::open(td.try_clone().unwrap(), "out").unwrap();
        let part = run.write_blob(keys::delta::PART, b"part").unwrap();
        let artifact = run.write_blob(media::MANIFEST, &manifest(&part)).unwrap();
        let tag = format!("sha256-{}", image.digest.hex());
        let listed = run
            .update_tag(&tag, |current| {
                assert!(current.is_none());
                let index = json::canonical(&serde_json::json!({
                    "schemaVersion": 2, "mediaType": media::INDEX, "manifests": [artifact],
                }));
                let d = run.write_blob(media::INDEX, &index)?;
                Ok(Descriptor::new(media::INDEX, d.digest, d.size))
            })
            .unwrap();
        assert_eq!(oci.find(None).unwrap().digest, image.digest);
        assert_eq!(oci.find(Some(&tag)).unwrap().digest, listed.digest);
        // The second run failed afterwards: what the index lists stays.
        let stray = run.write_blob(keys::delta::PART, b"stray").unwrap();
        let run_lock = run.run_lock().unwrap();
        drop(lock);
        assert!(run.remove_created(run_lock).is_some());
        for kept in [&part, &artifact, &listed] {
            assert!(oci.blob_is_intact(kept), "{}", kept.digest);
        }
        assert!(!oci.blob_is_intact(&stray));
    }

    #[test]
    fn ensure_refuses_foreign_dirs_and_reopens_layouts() {
        let td = tmpdir();
        td.write("stray", "x").unwrap();
        let err = OciDir::ensure(td.try_clone().unwrap(), "out").unwrap_err();
        assert!(err.to_string().contains("\"stray\""), "{err}");
        let td = tmpdir();
        let oci = OciDir::ensure(td.try_clone().unwrap(), "out").unwrap();
        assert!(oci.read_index().unwrap().manifests.is_empty());
        OciDir::ensure(td.try_clone().unwrap(), "out").unwrap();
    }

    /// The layout with no codec: what goes in is the blob.
    struct Plain<W>(W);
    impl<W: Write> Write for Plain<W> {
        fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
            self.0.write(buf)
        }
        fn flush(&mut self) -> io::Result<()> {
            self.0.flush()
        }
    }
    impl<W: Write> LayerEncoder<W> for Plain<W> {
        type Report = ();
        fn finish_encoding(self) -> io::Result<(W, ())> {
            Ok((self.0, ()))
        }
    }

    #[test]
    fn layers_are_deterministic_and_verified_on_read() {
        let td = tmpdir();
        let oci = OciDir::ensure(td.try_clone().unwrap(), "out").unwrap();
        let mut layers = Vec::new();
        for _ in 0..2 {
            let mut w = oci
                .layer_writer(media::LAYER_TAR, |s| Ok(Plain(s)))
                .unwrap();
            w.write_all(&b"hello world ".repeat(1000)).unwrap();
            layers.push(w.finish().unwrap().0);
        }
        assert_eq!(layers[0], layers[1]);
        let l = &layers[0];
        assert_eq!(l.uncompressed_size, 12000);
        assert_eq!(l.diff_id, Digest::of(&b"hello world ".repeat(1000)));
        let mut out = Vec::new();
        oci.open_blob(&l.descriptor)
            .unwrap()
            .read_to_end(&mut out)
            .unwrap();
        assert_eq!(out, b"hello world ".repeat(1000));
        // Corrupt the blob: reading must fail.
        let hex = l.descriptor.digest.hex().to_string();
        let mut bytes = td.read(format!("blobs/sha256/{hex}")).unwrap();
        let last = bytes.len() - 1;
        bytes[last] ^= 1;
        td.write(format!("blobs/sha256/{hex}"), &bytes).unwrap();
        let mut sink = Vec::new();
        assert!(oci
            .open_blob(&l.descriptor)
            .unwrap()
            .read_to_end(&mut sink)
            .is_err());
    }

    #[test]
    fn tags_replace_and_coexist() {
        let td = tmpdir();
        let oci = OciDir::ensure(td.try_clone().unwrap(), "out").unwrap();
        let d = |n: &str| {
            let digest = Digest::parse(&format!("sha256:{}", n.repeat(64))).unwrap();
            Descriptor::new(media::MANIFEST, digest, 1)
        };
        oci.set_manifest(d("a"), Some("one")).unwrap();
        oci.set_manifest(d("b"), Some("two")).unwrap();
        oci.set_manifest(d("c"), Some("one")).unwrap();
        let idx = oci.read_index().unwrap();
        assert_eq!(idx.manifests.len(), 2);
        assert_eq!(
            idx.manifests[0].digest.as_str(),
            format!("sha256:{}", "c".repeat(64))
        );
        assert_eq!(ref_name(&idx.manifests[1]), Some("two"));
        let err = oci.resolve(None).unwrap_err().to_string();
        assert!(err.contains("one, two"), "{err}");
        let err = oci.resolve(Some("three")).unwrap_err().to_string();
        assert!(err.contains("\"three\""), "{err}");
    }
}
