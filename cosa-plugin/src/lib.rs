//! coreos-assembler integration: `cosa buildextend-container`.
//!
//! coreos-assembler runs `cosa VERB` as `/usr/lib/coreos-assembler/cmd-VERB` inside its
//! working directory (`builds/builds.json`, `builds/<id>/<arch>/meta.json`, `tmp/repo`). This
//! crate finds the build, encapsulates its commit from `tmp/repo` into
//! `<name>-<buildid>-container.<arch>.ociarchive` next to its meta.json, and records it as
//! `images.container` — under a lock, atomically, and validated against cosa's schema.
//!
//! Field names follow cosa's meta.json schema (`name`, `buildid`, `ostree-commit`,
//! `coreos-assembler.basearch`, `images.<kind>.{path,sha256,size,skip-compression}`).

use anyhow::{bail, Context, Result};
use serde_json::{Map, Value};
use std::io::{Read, Write};
use std::path::{Path, PathBuf};

/// Key of our artifact under `images`.
pub const IMAGE_KEY: &str = "container";
/// Label cosa sets with the OS name.
pub const LABEL_OSNAME: &str = "com.coreos.osname";
/// Where coreos-assembler installs its meta.json schema.
pub const COSA_SCHEMA: &str = "/usr/lib/coreos-assembler/v1.json";
/// Keys every meta.json has, checked when no schema file is available.
pub const REQUIRED_META_KEYS: [&str; 3] = ["buildid", "name", "ostree-commit"];

/// cosa's name for an architecture (`x86_64`, `aarch64`, `s390x`, `ppc64le`).
pub fn basearch(rust_arch: &str) -> String {
    match rust_arch {
        "powerpc64" => "ppc64le".into(),
        other => other.into(),
    }
}

/// One entry of builds.json.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct BuildEntry {
    /// Build id.
    pub id: String,
    /// Architectures built.
    pub arches: Vec<String>,
}

/// A cosa working directory.
#[derive(Debug, Clone)]
pub struct Workdir {
    /// Its root.
    pub root: PathBuf,
    /// builds.json entries, newest first.
    pub builds: Vec<BuildEntry>,
}

impl Workdir {
    /// Open `root` as a cosa working directory.
    ///
    /// # Errors
    /// Missing or malformed `builds/builds.json`.
    pub fn open(root: &Path) -> Result<Workdir> {
        let bj = root.join("builds/builds.json");
        if !bj.is_file() {
            bail!(
                "{} is not a coreos-assembler working directory (no builds/builds.json); run this in a cosa workdir or pass --workdir",
                root.display()
            );
        }
        let v: Value = serde_json::from_slice(
            &std::fs::read(&bj).with_context(|| format!("reading {}", bj.display()))?,
        )
        .with_context(|| format!("{}: invalid JSON", bj.display()))?;
        let builds = v
            .get("builds")
            .and_then(Value::as_array)
            .with_context(|| format!("{}: no \"builds\" array", bj.display()))?
            .iter()
            .map(|b| {
                // Old builds.json files list ids as plain strings.
                if let Some(id) = b.as_str() {
                    return Ok(BuildEntry {
                        id: id.into(),
                        arches: Vec::new(),
                    });
                }
                let id = b
                    .get("id")
                    .and_then(Value::as_str)
                    .with_context(|| format!("{}: a build without \"id\"", bj.display()))?;
                let arches = b
                    .get("arches")
                    .and_then(Value::as_array)
                    .map(|a| {
                        a.iter()
                            .filter_map(Value::as_str)
                            .map(str::to_string)
                            .collect()
                    })
                    .unwrap_or_default();
                Ok(BuildEntry {
                    id: id.into(),
                    arches,
                })
            })
            .collect::<Result<Vec<_>>>()?;
        Ok(Workdir {
            root: root.to_path_buf(),
            builds,
        })
    }

    /// The build `id` (or the newest for `latest`) for `arch`.
    ///
    /// # Errors
    /// Unknown build, or a build without that architecture.
    pub fn find(&self, id: &str, arch: &str) -> Result<&BuildEntry> {
        let b = if id == "latest" {
            self.builds
                .first()
                .context("builds/builds.json lists no builds")?
        } else {
            self.builds
                .iter()
                .find(|b| b.id == id)
                .with_context(|| format!("build {id} not found in builds/builds.json"))?
        };
        if !b.arches.is_empty() && !b.arches.iter().any(|a| a == arch) {
            bail!(
                "build {} has no {arch} build (arches: {})",
                b.id,
                b.arches.join(", ")
            );
        }
        Ok(b)
    }

    /// The build directory of `id`/`arch`.
    pub fn build_dir(&self, id: &str, arch: &str) -> PathBuf {
        self.root.join("builds").join(id).join(arch)
    }

    /// The parent build: the next older entry that has `arch`.
    pub fn parent(&self, id: &str, arch: &str) -> Option<&BuildEntry> {
        let pos = self.builds.iter().position(|b| b.id == id)?;
        self.builds[pos + 1..]
            .iter()
            .find(|b| b.arches.is_empty() || b.arches.iter().any(|a| a == arch))
    }
}

/// Read a meta.json.
///
/// # Errors
/// Unreadable or not a JSON object.
pub fn read_meta(path: &Path) -> Result<Map<String, Value>> {
    let v: Value = serde_json::from_slice(
        &std::fs::read(path).with_context(|| format!("reading {}", path.display()))?,
    )
    .with_context(|| format!("{}: invalid JSON", path.display()))?;
    match v {
        Value::Object(m) => Ok(m),
        _ => bail!("{}: not a JSON object", path.display()),
    }
}

/// A meta.json validator: cosa's JSON schema when one is available, else the required keys.
pub enum MetaCheck {
    /// Full schema validation.
    Schema(Box<jsonschema::Validator>, PathBuf),
    /// Only the keys every meta.json has.
    RequiredKeys,
}

impl MetaCheck {
    /// Load `schema` (or cosa's installed one); without either, check required keys only.
    ///
    /// # Errors
    /// A schema file that is not a valid JSON schema.
    pub fn load(schema: Option<&Path>) -> Result<MetaCheck> {
        let path = match schema {
            Some(p) => p.to_path_buf(),
            None if Path::new(COSA_SCHEMA).is_file() => PathBuf::from(COSA_SCHEMA),
            None => return Ok(MetaCheck::RequiredKeys),
        };
        let v: Value = serde_json::from_slice(
            &std::fs::read(&path).with_context(|| format!("reading schema {}", path.display()))?,
        )
        .with_context(|| format!("schema {}: invalid JSON", path.display()))?;
        let validator = jsonschema::validator_for(&v)
            .map_err(|e| anyhow::anyhow!("schema {}: {e}", path.display()))?;
        Ok(MetaCheck::Schema(Box::new(validator), path))
    }

    /// Check a meta.json; `what` names it in errors.
    ///
    /// # Errors
    /// Every violation, with its JSON path.
    pub fn check(&self, meta: &Map<String, Value>, what: &str) -> Result<()> {
        match self {
            MetaCheck::Schema(v, path) => {
                let value = Value::Object(meta.clone());
                let errors: Vec<String> = v
                    .iter_errors(&value)
                    .map(|e| format!("{} at {}", e, e.instance_path))
                    .take(5)
                    .collect();
                if !errors.is_empty() {
                    bail!(
                        "{what} does not validate against {}: {}",
                        path.display(),
                        errors.join("; ")
                    );
                }
            }
            MetaCheck::RequiredKeys => {
                for k in REQUIRED_META_KEYS {
                    if !meta.get(k).is_some_and(Value::is_string) {
                        bail!("{what} has no string {k:?}");
                    }
                }
            }
        }
        Ok(())
    }
}

/// sha256 and size of a file, streamed.
///
/// # Errors
/// I/O errors naming the file.
pub fn sha256_file(path: &Path) -> Result<(String, u64)> {
    use sha2::Digest;
    let mut f = std::fs::File::open(path).with_context(|| format!("opening {}", path.display()))?;
    let mut h = sha2::Sha256::new();
    let mut buf = vec![0u8; 1 << 20];
    let mut n = 0u64;
    loop {
        let k = f
            .read(&mut buf)
            .with_context(|| format!("reading {}", path.display()))?;
        if k == 0 {
            break;
        }
        h.update(&buf[..k]);
        n += k as u64;
    }
    Ok((hex::encode(h.finalize()), n))
}

/// Set `images.container` in the meta.json at `path` (see [`update_meta`]).
///
/// # Errors
/// Lock, I/O or validation errors naming the file.
pub fn record_artifact(path: &Path, artifact: Value, check: &MetaCheck) -> Result<()> {
    update_meta(path, check, |meta| {
        let images = meta
            .entry("images")
            .or_insert_with(|| Value::Object(Map::new()))
            .as_object_mut()
            .context("\"images\" is not an object")?;
        images.insert(IMAGE_KEY.into(), artifact);
        Ok(())
    })
}

/// Change the meta.json at `path` under an exclusive lock on `meta.json.lock`, so concurrent
/// cosa commands cannot lose each other's keys: the file is re-read under the lock, `f`
/// changes only what it owns, the result is validated, and it replaces the file atomically
/// (temp file, fsync, rename, fsync dir). Unrelated keys keep their values and order.
///
/// # Errors
/// Lock, I/O or validation errors naming the file.
pub fn update_meta(
    path: &Path,
    check: &MetaCheck,
    f: impl FnOnce(&mut Map<String, Value>) -> Result<()>,
) -> Result<()> {
    let dir = path.parent().context("meta.json has no parent directory")?;
    let lock_path = dir.join("meta.json.lock");
    let lock = std::fs::OpenOptions::new()
        .create(true)
        .truncate(false)
        .write(true)
        .open(&lock_path)
        .with_context(|| format!("opening {}", lock_path.display()))?;
    lock.lock()
        .with_context(|| format!("locking {}", lock_path.display()))?;
    let mut meta = read_meta(path)?;
    f(&mut meta).with_context(|| path.display().to_string())?;
    check.check(&meta, &format!("{} (after the update)", path.display()))?;
    let mut text = serde_json::to_vec_pretty(&Value::Object(meta))?;
    text.push(b'\n');
    let d = cap_std::fs::Dir::open_ambient_dir(dir, cap_std::ambient_authority())
        .with_context(|| format!("opening {}", dir.display()))?;
    let mut tmp = cap_tempfile::TempFile::new(&d)
        .with_context(|| format!("temp file in {}", dir.display()))?;
    tmp.write_all(&text)?;
    tmp.as_file().sync_all()?;
    tmp.replace("meta.json")
        .with_context(|| format!("replacing {}", path.display()))?;
    d.open(".").and_then(|f| f.sync_all()).ok();
    lock.unlock().ok();
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn builds_json_latest_arch_and_parent() {
        let td = tempfile::tempdir().unwrap();
        std::fs::create_dir_all(td.path().join("builds")).unwrap();
        std::fs::write(
            td.path().join("builds/builds.json"),
            r#"{"schema-version":"1.0.0","builds":[{"id":"b3","arches":["x86_64","aarch64"]},{"id":"b2","arches":["aarch64"]},{"id":"b1","arches":["x86_64"]}]}"#,
        )
        .unwrap();
        let w = Workdir::open(td.path()).unwrap();
        assert_eq!(w.find("latest", "x86_64").unwrap().id, "b3");
        assert!(w
            .find("b2", "x86_64")
            .unwrap_err()
            .to_string()
            .contains("has no x86_64"));
        assert!(w
            .find("b9", "x86_64")
            .unwrap_err()
            .to_string()
            .contains("b9 not found"));
        assert_eq!(w.parent("b3", "x86_64").unwrap().id, "b1");
        assert_eq!(w.parent("b3", "aarch64").unwrap().id, "b2");
        assert!(w.parent("b1", "x86_64").is_none());
        let err = Workdir::open(&td.path().join("nope"))
            .unwrap_err()
            .to_string();
        assert!(
            err.contains("not a coreos-assembler working directory"),
            "{err}"
        );
    }

    #[test]
    fn basearch_names() {
        assert_eq!(basearch("x86_64"), "x86_64");
        assert_eq!(basearch("powerpc64"), "ppc64le");
    }
}

/// The meta.json key a push is recorded under unless `--metajsonname` says otherwise. cosa's
/// schema only allows its primary-image keys there (`base-oscontainer`, `oscontainer`,
/// `extensions-container`, `kubevirt`: the top level has `additionalProperties: false`); the
/// OS image of a build is the base OS container, which is also what cosa's own
/// `push-container-manifest` records.
pub const DEFAULT_PUSH_KEY: &str = "base-oscontainer";

/// What cosa records for a pushed image: `image` (the repository, without transport or
/// tag), `digest` (this architecture's manifest), `tags`, and for a manifest list its
/// `manifest-list-digest`.
pub fn pushed_record(
    dests: &[String],
    digest: &str,
    manifest_list_digest: Option<&str>,
) -> Result<Value> {
    let mut image = None;
    let mut tags = Vec::new();
    for d in dests {
        let ostree_encap::image_ref::DockerRef {
            repository: repo,
            tag,
            ..
        } = ostree_encap::image_ref::DockerRef::parse(d)
            .map_err(|e| e.context("a cosa push goes to a registry"))?;
        if image.get_or_insert_with(|| repo.clone()) != &repo {
            bail!("{d}: every destination must be in the same repository ({repo})");
        }
        tags.extend(tag);
    }
    let mut m = Map::new();
    m.insert("image".into(), image.unwrap_or_default().into());
    m.insert("digest".into(), digest.into());
    if let Some(l) = manifest_list_digest {
        m.insert("manifest-list-digest".into(), l.into());
    }
    m.insert("tags".into(), tags.into());
    Ok(Value::Object(m))
}

/// Record `record` under `key` in the meta.json at `path` (locked, validated, atomic).
///
/// # Errors
/// As [`update_meta`].
pub fn record_push(path: &Path, key: &str, record: Value, check: &MetaCheck) -> Result<()> {
    update_meta(path, check, |meta| {
        meta.insert(key.to_string(), record);
        Ok(())
    })
}

#[cfg(test)]
mod push_tests {
    use super::*;

    #[test]
    fn a_push_is_recorded_as_cosa_records_it() {
        let r = pushed_record(
            &[
                "docker://quay.io/fedora/fedora-coreos:42.1".into(),
                "docker://quay.io/fedora/fedora-coreos:stable".into(),
            ],
            "sha256:aa",
            Some("sha256:bb"),
        )
        .unwrap();
        assert_eq!(
            r.to_string(),
            r#"{"image":"quay.io/fedora/fedora-coreos","digest":"sha256:aa","manifest-list-digest":"sha256:bb","tags":["42.1","stable"]}"#
        );
        let r = pushed_record(&["docker://127.0.0.1:5000/os".into()], "sha256:aa", None).unwrap();
        assert_eq!(r["image"], "127.0.0.1:5000/os");
        assert_eq!(r["tags"], serde_json::json!([]));
        let e = pushed_record(
            &["docker://r/a:1".into(), "docker://r/b:1".into()],
            "sha256:aa",
            None,
        )
        .unwrap_err();
        assert!(e.to_string().contains("same repository"), "{e}");
        assert!(pushed_record(&["oci:/x:y".into()], "sha256:aa", None).is_err());
    }
}
