//! composefs sealing digests of an image: the fs-verity digest of the composefs EROFS of the
//! image's merged filesystem (and of its bootable variant), and of its config, as bootc and
//! composefs-oci compute them, published under the keys of composefs-rs's sealing draft.
//!
//! Everything that decides a digest is the composefs-rs crates' (0.9.4): the tree rules for a
//! tar entry (`composefs_oci::image::process_entry`: whiteouts, most-derived directory
//! metadata, hard links), the OCI transform (`/` takes `/usr`'s metadata, `/run` emptied,
//! xattrs filtered), the boot transform (`composefs_boot`: `/boot` and `/sysroot` emptied,
//! SELinux relabelling from the image's own policy), the EROFS writer (format V1) and
//! fs-verity. This crate only turns tar streams into the entries those functions take, the
//! way composefs-oci's own reader does ([`entries`]), without a repository: regular files
//! of more than 64 bytes are known by their fs-verity digest, computed as the bytes pass.
//!
//! ([`Merger`]: layers in, [`Digests`] out; [`keys`]: the annotation keys; [`stored`]: a read
//! layer as bytes, for a build's cache.)

pub mod entries;
pub mod keys;
pub mod stored;
pub mod verity;

use anyhow::{Context, Result};
use composefs::erofs::format::FormatVersion;
use composefs::fsverity::{FsVerityHashValue, Sha512HashValue};
use composefs::generic_tree::OciTransformOptions;
use composefs::tree::{FileSystem, Stat};
use composefs_boot::BootOps;
use serde::Serialize;
use std::io::Read;
use std::path::Path;

/// The digests published for an image (lowercase hex, fs-verity SHA-512, 4 KiB blocks).
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Digests {
    /// The composefs EROFS (format V1) of the merged filesystem.
    pub merged: String,
    /// The same after the boot transform; `None` when the image cannot boot (no `/boot` or
    /// `/sysroot`): see `not_bootable`.
    pub bootable: Option<String>,
    /// Why there is no bootable digest.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub not_bootable: Option<String>,
}

/// The fs-verity digest of `bytes` (a config as stored), in hex.
pub fn config_digest(bytes: &[u8]) -> String {
    composefs::fsverity::compute_verity::<Sha512HashValue>(bytes).to_hex()
}

/// An image's layers merged into a composefs tree, in `rootfs.diff_ids` order.
pub struct Merger {
    fs: FileSystem<Sha512HashValue>,
    /// The content of the SELinux policy files the layers held, one file per fs-verity
    /// digest (`objects/HEX`), and the merged tree's policy as the boot transform reads it
    /// (`root/etc/selinux/…`, made at the end).
    policy: tempfile::TempDir,
}

impl Merger {
    /// An empty tree; `work` holds the policy files the boot transform reads.
    ///
    /// # Errors
    /// The work directory cannot be made.
    pub fn new(work: &Path) -> Result<Self> {
        let policy = tempfile::Builder::new()
            .prefix("composefs-policy-")
            .tempdir_in(work)
            .with_context(|| format!("creating a directory in {}", work.display()))?;
        for d in ["objects", "root"] {
            let p = policy.path().join(d);
            std::fs::create_dir(&p).with_context(|| format!("creating {}", p.display()))?;
        }
        Ok(Merger {
            fs: FileSystem::new(Stat::uninitialized()),
            policy,
        })
    }

    /// Apply one layer (its uncompressed tar).
    ///
    /// # Errors
    /// What composefs-rs refuses (an entry whose parent does not exist, a hard link to
    /// nothing, a sparse file), unreadable input.
    pub fn add_layer(&mut self, tar: impl Read) -> Result<()> {
        self.apply(entries::read_layer(std::io::BufReader::with_capacity(
            1 << 20,
            tar,
        ))?)
    }

    /// Apply a layer read by [`entries::read_layer`] or an [`entries::LayerReader`] (on
    /// any thread); layers must come in order.
    ///
    /// # Errors
    /// As [`Merger::add_layer`].
    pub fn apply(&mut self, layer: entries::Layer) -> Result<()> {
        for (digest, data) in layer.policy {
            let p = self.policy.path().join("objects").join(digest.to_hex());
            std::fs::write(&p, data).with_context(|| format!("writing {}", p.display()))?;
        }
        for entry in layer.entries {
            composefs_oci::image::process_entry(&mut self.fs, entry)?;
        }
        Ok(())
    }

    /// The digests of the merged image and of its bootable variant.
    ///
    /// # Errors
    /// A tree composefs-rs cannot make an image of (no `/usr`).
    pub fn finish(mut self) -> Result<Digests> {
        self.fs
            .transform_for_oci(&OciTransformOptions::default())
            .context("the OCI transform (the image needs /usr)")?;
        // The two EROFS images are made at once, the bootable one from a copy of the tree:
        // they are the only work left once the last layer is written.
        let root = self.policy.path().join("root");
        let (merged, boot) = std::thread::scope(|s| {
            let fs = &self.fs;
            let merged = s.spawn(move || fs.compute_image_id(FormatVersion::V1).to_hex());
            let boot = self.policy_root(&root).and_then(|()| {
                let dir = std::fs::File::open(&root)
                    .with_context(|| format!("opening {}", root.display()))?;
                let mut fs = self.fs.clone();
                fs.transform_for_boot_from_dir(&dir)?;
                Ok(fs.compute_image_id(FormatVersion::V1).to_hex())
            });
            (merged.join(), boot)
        });
        let merged =
            merged.map_err(|_| anyhow::anyhow!("making the merged EROFS image panicked"))?;
        let (bootable, not_bootable) = match boot {
            Ok(b) => (Some(b), None),
            Err(e) => (None, Some(format!("{e:#}"))),
        };
        Ok(Digests {
            merged,
            bootable,
            not_bootable,
        })
    }

    /// Write under `root` the merged tree's SELinux policy files that composefs-boot reads
    /// (`etc/selinux/config`, `etc/selinux/TYPE/contexts/files/file_contexts*`), as they are
    /// in the tree after every layer: whiteouts, opaque directories, replacements and hard
    /// links are the tree's own. composefs-oci's relabelling reads the same files from the
    /// tree; where it would fail (such a name that is not a regular file), so does this.
    ///
    /// # Errors
    /// The tree's policy is not readable as composefs-boot reads it, a file's content was not
    /// kept (a hard link into `/etc/selinux` to a file read before it that was not a policy
    /// file or the ostree object just before), I/O errors.
    fn policy_root(&self, root: &Path) -> Result<()> {
        use entries::{POLICY_CONFIG, POLICY_CONTEXTS, POLICY_DIR, POLICY_FILES};
        let Some(selinux) = self
            .fs
            .root
            .get_directory_opt(std::ffi::OsStr::new(POLICY_DIR))?
        else {
            return Ok(());
        };
        let contexts = POLICY_CONTEXTS.join("/");
        let mut wanted = vec![(selinux, POLICY_CONFIG.to_string())];
        for (name, inode) in selinux.entries() {
            if let composefs::generic_tree::Inode::Directory(d) = inode {
                if let Some(files) = d.get_directory_opt(std::ffi::OsStr::new(&contexts))? {
                    let name = name.to_string_lossy();
                    for f in POLICY_FILES {
                        wanted.push((files, format!("{name}/{contexts}/{f}")));
                    }
                }
            }
        }
        for (dir, rel) in wanted {
            let name = Path::new(&rel).file_name().context("a policy file name")?;
            let Some(file) = dir.get_file_opt(name, &self.fs.leaves)? else {
                continue;
            };
            let dest = root.join(POLICY_DIR).join(&rel);
            if let Some(parent) = dest.parent() {
                std::fs::create_dir_all(parent)
                    .with_context(|| format!("creating {}", parent.display()))?;
            }
            use composefs::tree::RegularFile;
            match file {
                RegularFile::Inline(data) => std::fs::write(&dest, data)
                    .with_context(|| format!("writing {}", dest.display()))?,
                RegularFile::External(id, _) | RegularFile::ExternalNoVerity(id, _) => {
                    let kept = self.policy.path().join("objects").join(id.to_hex());
                    anyhow::ensure!(
                        kept.exists(),
                        "/{POLICY_DIR}/{rel}: its content was not kept (a hard link to a file read before it that is neither a policy file nor the ostree object just before it)"
                    );
                    std::fs::copy(&kept, &dest)
                        .with_context(|| format!("writing {}", dest.display()))?;
                }
                RegularFile::Sparse(_) => {}
            }
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests;
