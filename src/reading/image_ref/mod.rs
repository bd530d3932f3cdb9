//! One parser for every image argument: `--previous`, `diff OLD NEW`, the `--oci-dir`,
//! `--oci-archive` and `--tag` flags of `verify`, `import` and `push`, and push destinations.
//!
//! A source argument is tried in this order, so that a path that exists always means itself,
//! even when its name has a `:` in it:
//! 1. an explicit skopeo transport: `oci:DIR[:TAG]`, `oci-archive:FILE[:TAG]`, `docker://REF`
//!    (and skopeo's other transports, which only `push` can use);
//! 2. an existing directory: an OCI layout;
//! 3. an existing file: an oci-archive, or, where a manifest is accepted (`--previous`), a
//!    manifest JSON file, told apart by its first byte (an archive is a tar, never `{`);
//! 4. `DIR:TAG` where `DIR` is an existing directory.
//!
//! A destination must name its transport: it need not exist yet, so it cannot be probed.
//! Parsing looks at the file system only through [`Probe`], so the grammar is tested (and
//! fuzzed) without one.

use crate::workdir::WorkDir;
use anyhow::{Context, Result};
use cap_std::fs::Dir;
use oci::ocidir::ResolvedImage;
use oci::OciDir;
use std::fmt;
use std::path::{Path, PathBuf};

/// An image named on the command line or by a front end.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ImageRef {
    /// An OCI layout directory; without a tag, its only image.
    Dir {
        /// The layout directory.
        path: PathBuf,
        /// `org.opencontainers.image.ref.name` of the image.
        tag: Option<String>,
    },
    /// An oci-archive file (a tar of a layout); without a tag, its only image.
    Archive {
        /// The archive file.
        path: PathBuf,
        /// `org.opencontainers.image.ref.name` of the image.
        tag: Option<String>,
    },
    /// A manifest JSON file: the layout of an image, without its blobs (`--previous` only).
    Manifest(PathBuf),
    /// An image that only skopeo reaches: `docker://`, `containers-storage:`, ... kept as
    /// written, transport included.
    Remote(String),
}

/// What a path is, as far as parsing needs to know.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum PathKind {
    /// Nothing there (or nothing we may look at).
    Missing,
    /// A directory.
    Dir,
    /// A file; `json` when its first byte is `{`.
    File {
        /// The file starts like a JSON object.
        json: bool,
    },
}

/// Looks at the file system for the parser.
pub trait Probe {
    /// What `path` is.
    fn kind(&self, path: &Path) -> PathKind;
}

/// The real file system. A file is opened to read its first byte, nothing more.
pub struct FileSystem;

impl Probe for FileSystem {
    fn kind(&self, path: &Path) -> PathKind {
        use std::io::Read as _;
        match std::fs::metadata(path) {
            Ok(m) if m.is_dir() => PathKind::Dir,
            Ok(_) => {
                let mut first = [0u8; 1];
                let json = std::fs::File::open(path)
                    .and_then(|mut f| f.read(&mut first))
                    .is_ok_and(|n| n == 1 && first[0] == b'{');
                PathKind::File { json }
            }
            Err(_) => PathKind::Missing,
        }
    }
}

/// Which forms an argument may take.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct Accept {
    /// A manifest JSON file (its layout is all that is used).
    pub manifest: bool,
    /// An image only skopeo can reach.
    pub remote: bool,
}

/// Why an image argument was refused. The argument is named as the user wrote it.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ImageRefError {
    /// The argument is empty.
    #[error("{what}: an image is required (DIR, DIR:TAG or an oci-archive file)")]
    Empty {
        /// The option or argument.
        what: String,
    },
    /// Nothing at that path, and no `DIR:TAG` reading either.
    #[error("{what} {arg}: {expected}")]
    NotFound {
        /// The option or argument.
        what: String,
        /// As written.
        arg: String,
        /// The forms this argument may take.
        expected: &'static str,
    },
    /// `DIR:` or `oci:DIR:` with an empty tag, or a tag given twice.
    #[error("{what} {arg}: {reason}")]
    BadTag {
        /// The option or argument.
        what: String,
        /// As written.
        arg: String,
        /// What is wrong with it.
        reason: &'static str,
    },
    /// A form this argument does not take here.
    #[error("{what} {arg}: {reason}")]
    NotAccepted {
        /// The option or argument.
        what: String,
        /// As written.
        arg: String,
        /// Why, and what to use instead.
        reason: &'static str,
    },
    /// Neither or both of `--oci-dir` and `--oci-archive` (clap refuses this first on the
    /// command line; other front ends get the same rule here).
    #[error("give exactly one of --oci-dir and --oci-archive")]
    NoLocation,
    /// A destination without a transport prefix.
    #[error(
        "{what} {arg:?} names no transport; use e.g. docker://registry.example.com/os/image:tag \
         or oci:DIR:TAG"
    )]
    NoTransport {
        /// The option or argument.
        what: String,
        /// As written.
        arg: String,
    },
}

/// skopeo transports that name a local OCI layout or archive; read by us, not only by skopeo.
const OCI: &str = "oci:";
const OCI_ARCHIVE: &str = "oci-archive:";
/// The other transports skopeo knows (`skopeo copy --help`), for push destinations and
/// sources only skopeo can read.
const REMOTE_TRANSPORTS: [&str; 5] = [
    "docker://",
    "dir:",
    "docker-archive:",
    "containers-storage:",
    "docker-daemon:",
];

fn split_tag(rest: &str) -> (&str, Option<&str>) {
    match rest.rsplit_once(':') {
        Some((path, tag)) => (path, Some(tag)),
        None => (rest, None),
    }
}

impl ImageRef {
    /// Parse an image to read. `what` names the option in errors (`--previous`, `OLD`).
    ///
    /// # Errors
    /// [`ImageRefError`], naming `what` and the argument.
    pub fn parse_source(
        what: &str,
        arg: &str,
        accept: Accept,
        probe: &dyn Probe,
    ) -> Result<ImageRef, ImageRefError> {
        let expected = if accept.manifest {
            "no such OCI directory, oci-archive or manifest file"
        } else {
            "no such OCI directory or oci-archive"
        };
        if arg.is_empty() {
            return Err(ImageRefError::Empty { what: what.into() });
        }
        if let Some(r) = Self::parse_transport(what, arg)? {
            if matches!(r, ImageRef::Remote(_)) && !accept.remote {
                return Err(ImageRefError::NotAccepted {
                    what: what.into(),
                    arg: arg.into(),
                    reason: "images in a registry or container storage are not read here; \
                             copy it to a local layout first (skopeo copy SRC oci:DIR:TAG)",
                });
            }
            return Ok(r);
        }
        let path = Path::new(arg);
        match probe.kind(path) {
            PathKind::Dir => {
                return Ok(ImageRef::Dir {
                    path: path.into(),
                    tag: None,
                })
            }
            PathKind::File { json: true } if accept.manifest => {
                return Ok(ImageRef::Manifest(path.into()))
            }
            PathKind::File { .. } => {
                return Ok(ImageRef::Archive {
                    path: path.into(),
                    tag: None,
                })
            }
            PathKind::Missing => {}
        }
        if let (dir, Some(tag)) = split_tag(arg) {
            if !dir.is_empty() && probe.kind(Path::new(dir)) == PathKind::Dir {
                return Ok(ImageRef::Dir {
                    path: dir.into(),
                    tag: Some(check_tag(what, arg, tag)?),
                });
            }
        }
        Err(ImageRefError::NotFound {
            what: what.into(),
            arg: arg.into(),
            expected,
        })
    }

    /// Parse a push destination: it must name its transport (it need not exist yet).
    ///
    /// # Errors
    /// [`ImageRefError::NoTransport`], or a bad tag.
    pub fn parse_destination(what: &str, arg: &str) -> Result<ImageRef, ImageRefError> {
        Self::parse_transport(what, arg)?.ok_or_else(|| ImageRefError::NoTransport {
            what: what.into(),
            arg: arg.into(),
        })
    }

    /// The image of the `--oci-dir DIR[:TAG]` / `--oci-archive FILE` / `--tag TAG` flags.
    /// `DIR` must exist; `DIR:TAG` is read as a tag only when `DIR` is a directory.
    ///
    /// # Errors
    /// Neither or both locations, a missing path, two tags.
    pub fn from_flags(
        oci_dir: Option<&str>,
        oci_archive: Option<&Path>,
        tag: Option<&str>,
        probe: &dyn Probe,
    ) -> Result<ImageRef, ImageRefError> {
        let with_tag = |what: &str, arg: &str, found: Option<String>| match (found, tag) {
            (Some(_), Some(_)) => Err(ImageRefError::BadTag {
                what: what.into(),
                arg: arg.into(),
                reason: "names a tag, and so does --tag: give one of them",
            }),
            (Some(t), None) => Ok(Some(t)),
            (None, t) => t.map(|t| check_tag("--tag", t, t)).transpose(),
        };
        match (oci_dir, oci_archive) {
            (Some(d), None) => {
                let what = "--oci-dir";
                let (path, found) = if probe.kind(Path::new(d)) == PathKind::Dir {
                    (d, None)
                } else {
                    match split_tag(d) {
                        (dir, Some(t)) if probe.kind(Path::new(dir)) == PathKind::Dir => {
                            (dir, Some(check_tag(what, d, t)?))
                        }
                        _ => {
                            return Err(ImageRefError::NotFound {
                                what: what.into(),
                                arg: d.into(),
                                expected: "no such directory",
                            })
                        }
                    }
                };
                Ok(ImageRef::Dir {
                    path: path.into(),
                    tag: with_tag(what, d, found)?,
                })
            }
            (None, Some(f)) => {
                if !matches!(probe.kind(f), PathKind::File { .. }) {
                    return Err(ImageRefError::NotFound {
                        what: "--oci-archive".into(),
                        arg: f.display().to_string(),
                        expected: "no such file",
                    });
                }
                Ok(ImageRef::Archive {
                    path: f.into(),
                    tag: with_tag("--oci-archive", &f.display().to_string(), None)?,
                })
            }
            _ => Err(ImageRefError::NoLocation),
        }
    }

    /// `oci:`, `oci-archive:` and the remote transports; `None` for a bare path.
    fn parse_transport(what: &str, arg: &str) -> Result<Option<ImageRef>, ImageRefError> {
        let local = |rest: &str| -> Result<(PathBuf, Option<String>), ImageRefError> {
            let (path, tag) = split_tag(rest);
            if path.is_empty() {
                return Err(ImageRefError::NotFound {
                    what: what.into(),
                    arg: arg.into(),
                    expected: "the transport names no path",
                });
            }
            Ok((
                path.into(),
                tag.map(|t| check_tag(what, arg, t)).transpose()?,
            ))
        };
        if let Some(rest) = arg.strip_prefix(OCI_ARCHIVE) {
            let (path, tag) = local(rest)?;
            return Ok(Some(ImageRef::Archive { path, tag }));
        }
        if let Some(rest) = arg.strip_prefix(OCI) {
            let (path, tag) = local(rest)?;
            return Ok(Some(ImageRef::Dir { path, tag }));
        }
        if let Some(t) = REMOTE_TRANSPORTS.iter().find(|t| arg.starts_with(**t)) {
            if arg.len() == t.len() {
                return Err(ImageRefError::NotFound {
                    what: what.into(),
                    arg: arg.into(),
                    expected: "the transport names no image",
                });
            }
            return Ok(Some(ImageRef::Remote(arg.into())));
        }
        Ok(None)
    }

    /// The tag, if the reference names one.
    pub fn tag(&self) -> Option<&str> {
        match self {
            ImageRef::Dir { tag, .. } | ImageRef::Archive { tag, .. } => tag.as_deref(),
            ImageRef::Manifest(_) | ImageRef::Remote(_) => None,
        }
    }

    /// The same layout or archive with `tag` instead (`None`: the layout itself, as a key
    /// for opening it once); other references as they are.
    pub fn with_tag(&self, tag: Option<String>) -> ImageRef {
        match self {
            ImageRef::Dir { path, .. } => ImageRef::Dir {
                path: path.clone(),
                tag,
            },
            ImageRef::Archive { path, .. } => ImageRef::Archive {
                path: path.clone(),
                tag,
            },
            other => other.clone(),
        }
    }

    /// Open the layout this reference is in (of an archive, its index is copied into a work
    /// directory, removed when the returned guard drops; its blobs are read in place).
    ///
    /// # Errors
    /// A manifest file or remote image (no layout to open); unreadable layouts.
    pub fn open_layout(&self) -> Result<(OciDir, Option<WorkDir>)> {
        match self {
            ImageRef::Dir { path, .. } => {
                let dir = Dir::open_ambient_dir(path, cap_std::ambient_authority())
                    .with_context(|| format!("opening OCI directory {}", path.display()))?;
                Ok((OciDir::open(dir, &path.display().to_string())?, None))
            }
            ImageRef::Archive { path, .. } => {
                let f = std::fs::File::open(path)
                    .with_context(|| format!("opening oci-archive {}", path.display()))?;
                let tmp = WorkDir::create(&std::env::temp_dir())
                    .context("creating a temp dir for the archive's index")?;
                let dir = Dir::open_ambient_dir(tmp.layout_path()?, cap_std::ambient_authority())?;
                let blobs = oci::archive::open_in_place(f, &dir)
                    .with_context(|| format!("reading {}", path.display()))?;
                let oci = OciDir::open_archive(dir, &path.display().to_string(), blobs)?;
                Ok((oci, Some(tmp)))
            }
            ImageRef::Manifest(_) | ImageRef::Remote(_) => {
                anyhow::bail!("{self}: not an OCI layout or oci-archive")
            }
        }
    }

    /// Open the layout and resolve the image in it.
    ///
    /// # Errors
    /// As [`ImageRef::open_layout`], and a tag that is not there (or several images and none).
    pub fn open(&self) -> Result<OpenedImage> {
        let (oci, work) = self.open_layout()?;
        let image = oci.resolve(self.tag()).with_context(|| self.to_string())?;
        Ok(OpenedImage {
            oci,
            image,
            _work: work,
        })
    }
}

/// An image opened for reading, with the layout it is in.
pub struct OpenedImage {
    /// The layout.
    pub oci: OciDir,
    /// The image: its descriptor, manifest and config.
    pub image: ResolvedImage,
    /// Keeps an archive's work directory (its index) until the image is dropped.
    _work: Option<WorkDir>,
}

/// skopeo's spelling, which is also how the image is named in messages. (A directory whose
/// name has a `:` and no tag has no unambiguous spelling: skopeo reads `oci:a:b` as `a`, tag
/// `b`. Our parser reads an existing `a:b` as itself.)
impl fmt::Display for ImageRef {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let (transport, path, tag) = match self {
            ImageRef::Dir { path, tag } => (OCI, path, tag),
            ImageRef::Archive { path, tag } => (OCI_ARCHIVE, path, tag),
            ImageRef::Manifest(path) => return write!(f, "{}", path.display()),
            ImageRef::Remote(r) => return f.write_str(r),
        };
        write!(f, "{transport}{}", path.display())?;
        if let Some(t) = tag {
            write!(f, ":{t}")?;
        }
        Ok(())
    }
}

/// A tag read from a reference: not empty; the full grammar is checked where a tag is
/// written (`EncapsulateRequest::validate`), a tag to read is only looked up.
fn check_tag(what: &str, arg: &str, tag: &str) -> Result<String, ImageRefError> {
    if tag.is_empty() {
        return Err(ImageRefError::BadTag {
            what: what.into(),
            arg: arg.into(),
            reason: "the tag after ':' is empty",
        });
    }
    Ok(tag.into())
}

#[cfg(test)]
mod tests;

/// A `docker://REGISTRY/REPO[:TAG|@DIGEST]` reference split the way pushes, signatures and
/// indexes need it: the one place that reads a registry reference's parts.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DockerRef {
    /// `REGISTRY/REPO[:TAG|@DIGEST]`, without the transport: the identity a signature binds.
    pub reference: String,
    /// `REGISTRY/REPO`.
    pub repository: String,
    /// The tag, if the reference names one.
    pub tag: Option<String>,
}

impl DockerRef {
    /// Split `docker://REGISTRY/REPO[:TAG|@DIGEST]` (a registry's port is not a tag: only a
    /// `:` after the last `/` is).
    ///
    /// # Errors
    /// Another transport.
    pub fn parse(arg: &str) -> anyhow::Result<DockerRef> {
        let Some(reference) = arg.strip_prefix("docker://") else {
            anyhow::bail!("{arg}: must be docker://REGISTRY/REPO[:TAG] (an image in a registry)");
        };
        let no_digest = reference.split('@').next().unwrap_or(reference);
        let last_slash = no_digest.rfind('/').map_or(0, |i| i + 1);
        let (repository, tag) = match no_digest[last_slash..].rfind(':') {
            Some(i) => (
                &no_digest[..last_slash + i],
                Some(no_digest[last_slash + i + 1..].to_string()),
            ),
            None => (no_digest, None),
        };
        Ok(DockerRef {
            reference: reference.to_string(),
            repository: repository.to_string(),
            tag,
        })
    }
}
