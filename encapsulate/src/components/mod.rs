//! Finding components: which content object belongs to which named group of content that
//! changes together.
//!
//! Sources, highest precedence first (a higher source overrides a lower one per object):
//! 1. `user.component` xattrs on files, or on directories (inherited below them);
//! 2. a content-meta JSON in the format the ostree-ext CLI accepts;
//! 3. the package database in the commit: rpm (sqlite: `usr/lib/sysimage/rpm`,
//!    `usr/share/rpm`, `var/lib/rpm`) and dpkg (`var/lib/dpkg`, `usr/lib/sysimage/dpkg`,
//!    `usr/share/dpkg/database`), read without the rpm or dpkg binaries. Binary packages are
//!    grouped by their *source* package, because an update rebuilds every binary of a source
//!    together;
//! 4. the rest: kernel and initramfs as one component; package-manager state and caches
//!    ([`STATE_PATHS`]) as one component, [`layering::chunk::STATE`]; compiled Python
//!    (`__pycache__/X.cpython-311.pyc`) with the package that ships `X.py`; files in a
//!    directory that one package lists with that package; unowned files of 1 MiB or more each
//!    on their own; small unowned content together.
//!
//! The result is plain data for [`layering::chunk`].

use crate::source::{Inventory, Source, StructureEntry};
use crate::EncapError;
use layering::Checksum;
use ostree_format::ObjKind;
use serde::Deserialize;
use std::collections::{BTreeMap, BTreeSet, HashMap, HashSet};
use std::io::Read;

mod packages;
pub use packages::*;

/// The xattr naming an explicit component.
pub const COMPONENT_XATTR: &[u8] = b"user.component";
/// Unowned files at least this big become their own component: a large unowned file (a
/// firmware blob, a generated database) should not drag small files into its updates.
pub const LARGE_UNOWNED: u64 = 1024 * 1024;
/// Component of the kernel and initramfs when no package owns them.
pub const BOOT_COMPONENT: &str = "ostree-boot";
/// Package-manager state and caches (tar paths; a trailing `/` takes everything below):
/// rewritten by any package operation, so they change in every update and belong to no
/// package. Unclaimed content here is [`layering::chunk::STATE`], never a package's (dpkg
/// lists `/var/cache/man` as man-db's, but the cache changes whenever any man page does) nor
/// the catch-all's (which would then change in every update too).
pub const STATE_PATHS: [&str; 12] = [
    "var/lib/dpkg/",
    "usr/lib/sysimage/dpkg/",
    "usr/share/dpkg/database/",
    "var/lib/rpm/",
    "usr/lib/sysimage/rpm/",
    "usr/share/rpm/",
    "var/lib/apt/",
    "var/lib/ucf/",
    "var/cache/",
    "var/log/",
    "etc/ld.so.cache",
    "usr/share/info/dir",
];

/// Whether tar path `path` is package-manager state or a cache ([`STATE_PATHS`]).
pub fn is_state_path(path: &str) -> bool {
    STATE_PATHS.iter().any(|p| {
        if p.ends_with('/') {
            path.starts_with(p)
        } else {
            path == *p
        }
    })
}

/// The directory whose unlisted files under `/var` form one data component: `var/<a>/<b>`
/// for deeper paths (`var/lib/postgresql` for a database cluster), `var/<a>` for files right
/// below it; `None` outside `var/` and for files directly in it. What maintainer scripts and
/// use leave there (a database cluster, a service's state) changes on its own schedule, not
/// with the package owning the directory, so it never joins that package's layer.
pub fn var_data_dir(path: &str) -> Option<&str> {
    let rest = path.strip_prefix("var/")?;
    let mut cuts = rest.match_indices('/').map(|(i, _)| i);
    let first = cuts.next()?;
    let end = cuts.next().unwrap_or(first);
    Some(&path[..4 + end])
}

/// The Python source a compiled file was made from, in the same tree: `d/__pycache__/X.TAG.pyc`
/// (PEP 3147: `X.cpython-311.pyc`, `X.cpython-311.opt-1.pyc`) and the older `d/X.pyc` come from
/// `d/X.py`. The byte code changes exactly when its source does, which its package ships.
pub fn pyc_source(path: &str) -> Option<String> {
    let (dir, name) = path.rsplit_once('/')?;
    let stem = name.strip_suffix(".pyc")?;
    // Module names have no dot: what follows the first one is the interpreter's tag.
    let module = stem.split('.').next().filter(|m| !m.is_empty())?;
    match dir.strip_suffix("__pycache__") {
        Some(parent) if parent.is_empty() || parent.ends_with('/') => {
            Some(format!("{parent}{module}.py"))
        }
        Some(_) => None,
        None if !stem.contains('.') => Some(format!("{dir}/{module}.py")),
        None => None,
    }
}

/// Largest dpkg `.list` file read: the biggest packages (firmware, TeX) list ~10 MiB.
const MAX_DPKG_LIST: u64 = 64 << 20;

/// Which sources to use.
#[derive(Debug, Clone, Default)]
pub struct ComponentOptions {
    /// Use `user.component` xattrs.
    pub xattrs: bool,
    /// Use package databases.
    pub packages: bool,
    /// An explicit content-meta mapping.
    pub contentmeta: Option<ContentMeta>,
}

/// ostree-ext's content-meta JSON (`{"version":1,"layers":{id:name},"mapping":{checksum:id}}`).
#[derive(Debug, Clone, Default, Deserialize, PartialEq, Eq)]
pub struct ContentMeta {
    /// Format version (1).
    #[serde(default)]
    pub version: u32,
    /// Layer/component id → name.
    #[serde(default)]
    pub layers: BTreeMap<String, String>,
    /// Content checksum → layer id.
    #[serde(default)]
    pub mapping: BTreeMap<String, String>,
}

impl ContentMeta {
    /// Parse content-meta JSON; `what` names the file in errors.
    ///
    /// # Errors
    /// Invalid JSON or an unsupported version.
    pub fn parse(json: &[u8], what: &str) -> Result<ContentMeta, ContentMetaError> {
        let cm: ContentMeta =
            serde_json::from_slice(json).map_err(|source| ContentMetaError::Json {
                what: what.into(),
                source,
            })?;
        if cm.version > 1 {
            return Err(ContentMetaError::Version {
                what: what.into(),
                version: cm.version,
            });
        }
        Ok(cm)
    }
}

/// Why a content-meta file was refused.
#[derive(Debug, thiserror::Error)]
pub enum ContentMetaError {
    /// Not content-meta JSON.
    #[error("{what}: invalid content-meta JSON")]
    Json {
        /// The file, as the caller names it.
        what: String,
        /// The parser's error.
        #[source]
        source: serde_json::Error,
    },
    /// A version this tool does not read.
    #[error("{what}: content-meta version {version} is not supported (1 is)")]
    Version {
        /// The file, as the caller names it.
        what: String,
        /// The version it says.
        version: u32,
    },
}

/// What discovery found. Per object data is by the object's index in
/// [`Inventory::objects`] (vectors, not maps keyed by checksum: a million objects).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Discovery {
    /// The payload size of every content object, in inventory order.
    pub sizes: Vec<u64>,
    /// Each object's component, an index into `names` (`None`: small unowned content).
    pub owner: Vec<Option<u32>>,
    /// Component names.
    pub names: Vec<String>,
    /// Installed packages read from a package database.
    pub packages: usize,
    /// Those packages, for a bill of materials (empty when package databases were not read).
    pub installed: Vec<InstalledPackage>,
    /// Objects claimed per source, for the summary: (source, objects).
    pub claimed: Vec<(String, usize)>,
    /// Components expected to change more often than the rest (see [`is_volatile_version`]).
    pub volatile: std::collections::BTreeSet<String>,
}

impl Discovery {
    /// The component of object `i`, if any source claimed it.
    pub fn owner_of(&self, i: usize) -> Option<&str> {
        layering::chunk::owner_name(&self.owner, &self.names, i)
    }
}

/// Find the components of every content object, from the sources `opts` allows, in order
/// of precedence (a later source overrides an earlier one): package databases (rpm, dpkg),
/// then content-meta, then `user.component` xattrs; then the rules for what none claimed
/// (boot files, directories one package owns, large files).
///
/// # Errors
/// Unreadable objects, named by checksum and path.
pub fn discover(
    src: &Source,
    inv: &Inventory,
    opts: &ComponentOptions,
) -> Result<Discovery, EncapError> {
    let mut d = Discovering {
        src,
        inv,
        paths: inv.path_index(),
        // Directories the package database lists, with the source packages listing them:
        // generated files in a directory only one package owns (`__pycache__`, caches)
        // change with that package.
        dirs: inv
            .structure
            .iter()
            .filter_map(|e| match e {
                StructureEntry::Directory { path, .. } => Some(path.as_str()),
                _ => None,
            })
            .collect(),
        dir_owner: HashMap::new(),
        owners: Owners {
            of: vec![None; inv.objects().len()],
            names: Vec::new(),
            ids: HashMap::new(),
        },
        claimed: Vec::new(),
        packages: 0,
        installed: Vec::new(),
        volatile: BTreeSet::new(),
    };
    // Every object is stat'ed on other threads while this one reads the package databases
    // and content-meta, which need no sizes: on trees of many small files the two took
    // ~0.7 and ~0.3 s one after the other.
    let direct = src.direct_stats();
    let (read, stats) = std::thread::scope(|s| {
        let stats = s.spawn(move || direct.run(inv));
        let read = d.packages_and_contentmeta(opts);
        (read, stats.join())
    });
    read?;
    // A panicked stat thread leaves every object to libostree, as a panicked worker does.
    let stats = stats.unwrap_or_else(|_| src.direct_stats().none(inv));
    let (sizes, by_xattr) = object_stats(src.finish_stats(inv, stats)?, opts.xattrs);
    if opts.xattrs {
        d.xattrs(&by_xattr);
    }
    d.rest(&sizes);
    let Discovering {
        owners,
        packages,
        installed,
        claimed,
        volatile,
        ..
    } = d;
    Ok(Discovery {
        sizes,
        owner: owners.of,
        names: owners.names,
        packages,
        installed,
        claimed,
        volatile,
    })
}

/// Every content object's size, and (with `xattrs`) the `user.component` xattr of those
/// that have one, by object index: one query per object gives both.
fn object_stats(
    stats: crate::source::ContentStats,
    xattrs: bool,
) -> (Vec<u64>, HashMap<usize, String>) {
    let mut by_xattr: HashMap<usize, String> = HashMap::new();
    if xattrs {
        for (i, x) in &stats.xattrs {
            let list = ostree_format::checksum::xattr_entries_of(x);
            if let Some(v) = component_value(&list) {
                by_xattr.insert(*i, v);
            }
        }
    }
    (stats.sizes, by_xattr)
}

/// Component names and which object has which: names are stored once, objects hold an
/// index (4 bytes, where a name per object was a `String` each).
struct Owners {
    of: Vec<Option<u32>>,
    names: Vec<String>,
    ids: HashMap<String, u32>,
}

impl Owners {
    fn id(&mut self, name: &str) -> u32 {
        if let Some(&id) = self.ids.get(name) {
            return id;
        }
        let id = self.names.len() as u32;
        self.names.push(name.to_string());
        self.ids.insert(name.to_string(), id);
        id
    }

    fn get(&self, i: usize) -> Option<&str> {
        layering::chunk::owner_name(&self.of, &self.names, i)
    }

    /// Object `i` belongs to `name`, whatever it belonged to before.
    fn set(&mut self, i: usize, name: &str) {
        let id = self.id(name);
        if let Some(o) = self.of.get_mut(i) {
            *o = Some(id);
        }
    }

    /// Give object `i` to package `source`; when packages share content, the smallest source
    /// name wins, so the result does not depend on reading order.
    fn claim(&mut self, i: usize, source: &str) {
        if self.get(i).is_none_or(|cur| source < cur) {
            self.set(i, source);
        }
    }
}

/// Read a regular file of the commit by tar path (`None`: absent or not a regular file);
/// one larger than `limit` is [`EncapError::TooLarge`], naming it as `what`.
pub(super) fn read_path(
    src: &Source,
    inv: &Inventory,
    paths: &crate::source::PathIndex<'_>,
    path: &str,
    limit: u64,
    what: &'static str,
) -> Result<Option<Vec<u8>>, EncapError> {
    let Some(i) = paths.get(path) else {
        return Ok(None);
    };
    let checksum = &inv.objects()[i];
    let obj = src.load_content(checksum, path)?;
    let crate::objread::Body::Regular {
        size, mut reader, ..
    } = obj.body
    else {
        return Ok(None);
    };
    if size > limit {
        return Err(EncapError::TooLarge {
            path: path.to_string(),
            size,
            limit,
            what,
        });
    }
    let mut data = Vec::new();
    reader
        .read_to_end(&mut data)
        .map_err(|e| EncapError::Corrupt {
            kind: ObjKind::File,
            checksum: checksum.to_string(),
            path: path.to_string(),
            reason: e.to_string(),
        })?;
    Ok(Some(data))
}

/// Discovery under way: what is known of the tree, and what has been claimed so far.
struct Discovering<'a> {
    src: &'a Source,
    inv: &'a Inventory,
    /// Tar path → content object.
    paths: crate::source::PathIndex<'a>,
    dirs: HashSet<&'a str>,
    /// Directory → source packages whose file lists name it.
    dir_owner: HashMap<String, BTreeSet<String>>,
    owners: Owners,
    claimed: Vec<(String, usize)>,
    packages: usize,
    installed: Vec<InstalledPackage>,
    volatile: BTreeSet<String>,
}

impl Discovering<'_> {
    /// Read a regular file of the commit by tar path, as [`read_path`] does.
    fn read_path(
        &self,
        path: &str,
        limit: u64,
        what: &'static str,
    ) -> Result<Option<Vec<u8>>, EncapError> {
        read_path(self.src, self.inv, &self.paths, path, limit, what)
    }

    /// Record a path from a package's file list: a directory notes the package as one of
    /// its owners, a content path claims its object. Returns whether it claimed content.
    fn claim_listed(&mut self, listed: &str, source: &str) -> bool {
        for cand in dpkg_path_candidates(listed) {
            if self.dirs.contains(cand.as_str()) {
                self.dir_owner
                    .entry(cand)
                    .or_default()
                    .insert(source.to_string());
                return false;
            }
            if let Some(i) = self.paths.get(&cand) {
                self.owners.claim(i, source);
                return true;
            }
        }
        false
    }

    /// What the package databases (if `opts` allows) and content-meta say.
    fn packages_and_contentmeta(&mut self, opts: &ComponentOptions) -> Result<(), EncapError> {
        if opts.packages {
            self.rpm()?;
            self.dpkg()?;
        }
        if let Some(cm) = &opts.contentmeta {
            self.contentmeta(cm);
        }
        Ok(())
    }

    /// The first rpm database found: its packages' file lists claim their objects.
    fn rpm(&mut self) -> Result<(), EncapError> {
        let commit_time = self.src.info()?.timestamp;
        let mut n = 0;
        if let Some((_, pkgs)) = rpm_database(self.src, self.inv, &self.paths)? {
            for p in &pkgs {
                let newest = p.changelog_times.iter().copied().max().map(u64::from);
                if newest.is_some_and(|t| t <= commit_time && commit_time - t <= RPM_RECENT_SECS) {
                    self.volatile.insert(p.source.clone());
                }
                for f in &p.files {
                    if self.claim_listed(f, &p.source) {
                        n += 1;
                    }
                }
            }
            self.packages += pkgs.len();
            self.installed
                .extend(pkgs.iter().map(InstalledPackage::from_rpm));
        }
        self.claimed.push(("rpm".to_string(), n));
        Ok(())
    }

    /// The first dpkg database found: its file lists, and its own per-package files.
    fn dpkg(&mut self) -> Result<(), EncapError> {
        let mut n = 0;
        if let Some((db, pkgs)) = dpkg_status(self.src, self.inv, &self.paths)? {
            self.volatile.extend(
                pkgs.iter()
                    .filter(|p| is_volatile_version(&p.version))
                    .map(|p| p.source.clone()),
            );
            let by_name: HashMap<&str, &DpkgPackage> =
                pkgs.iter().map(|p| (p.name.as_str(), p)).collect();
            self.dpkg_info_files(&by_name);
            let prefix = format!("{db}/info/");
            let lists: Vec<&str> = self
                .paths
                .with_prefix(&prefix)
                .map(|(p, _)| p)
                .filter(|p| p.ends_with(".list"))
                .collect();
            for list in lists {
                let stem = &list[prefix.len()..list.len() - ".list".len()];
                let name = stem.split(':').next().unwrap_or(stem);
                let Some(pkg) = by_name.get(name) else {
                    continue;
                };
                let Some(text) = self.read_path(list, MAX_DPKG_LIST, "a dpkg file list")? else {
                    continue;
                };
                for line in String::from_utf8_lossy(&text).lines() {
                    if self.claim_listed(line, &pkg.source) {
                        n += 1;
                    }
                }
            }
            self.packages += pkgs.len();
            self.installed
                .extend(pkgs.iter().map(InstalledPackage::from_dpkg));
        }
        self.claimed.push(("dpkg".to_string(), n));
        Ok(())
    }

    /// dpkg's own per-package files (file lists, md5sums, maintainer scripts) change exactly
    /// when their package does: they belong to it, not to the volatile unowned rest. A copy
    /// of the database (usr/lib/sysimage/dpkg) shares objects.
    fn dpkg_info_files(&mut self, by_name: &HashMap<&str, &DpkgPackage>) {
        for other in DPKG_DATABASES {
            let other_prefix = format!("{other}/info/");
            for (p, i) in self.paths.with_prefix(&other_prefix) {
                let file = &p[other_prefix.len()..];
                // `libpython3.11-stdlib.md5sums`, `libc6:amd64.list`: strip the last
                // extension, then the architecture.
                let stem = file.rsplit_once('.').map_or(file, |(s, _)| s);
                let name = stem.split(':').next().unwrap_or(stem);
                if let Some(pkg) = by_name.get(name) {
                    self.owners.claim(i, &pkg.source);
                }
            }
        }
    }

    /// content-meta: overrides the package databases.
    fn contentmeta(&mut self, cm: &ContentMeta) {
        let mut n = 0;
        for (c, id) in &cm.mapping {
            let Some(i) = Checksum::from_hex(c).and_then(|c| self.inv.position(&c)) else {
                continue;
            };
            let name = cm.layers.get(id).unwrap_or(id);
            self.owners.set(i, name);
            n += 1;
        }
        self.claimed.push(("contentmeta".to_string(), n));
    }

    /// `user.component` xattrs, on files or inherited from directories: override the rest.
    fn xattrs(&mut self, by_xattr: &HashMap<usize, String>) {
        let mut dir_component: BTreeMap<&str, String> = BTreeMap::new();
        for e in &self.inv.structure {
            if let StructureEntry::Directory { path, dirmeta } = e {
                if let Some(v) = self
                    .inv
                    .dirmetas
                    .get(dirmeta)
                    .and_then(|m| component_value(&m.xattrs))
                {
                    dir_component.insert(path.as_str(), v);
                }
            }
        }
        let mut n = 0;
        for i in 0..self.inv.objects().len() {
            let found = by_xattr.get(&i).cloned().or_else(|| {
                if dir_component.is_empty() {
                    return None;
                }
                self.inv
                    .paths(i)
                    .find_map(|p| nearest_dir_component(&dir_component, p))
            });
            if let Some(name) = found {
                self.owners.set(i, &name);
                n += 1;
            }
        }
        self.claimed.push(("xattr".to_string(), n));
    }

    /// What no source claimed: boot files, state and caches, data under `/var` (by
    /// directory: its own component when at least [`LARGE_UNOWNED`], else state), compiled
    /// Python (with its source's package), files in a directory one package owns, large files
    /// (each its own component); the rest stays unowned.
    fn rest(&mut self, sizes: &[u64]) {
        let (mut n_boot, mut n_state, mut n_pyc, mut n_large, mut n_dir) = (0, 0, 0, 0, 0);
        let inv = self.inv;
        // Unlisted data under /var by directory: (objects, bytes).
        let mut data: BTreeMap<&str, (Vec<usize>, u64)> = BTreeMap::new();
        // Compiled Python waits until every source has its final component.
        let mut compiled = Vec::new();
        for pass in 0..2 {
            let todo: Box<dyn Iterator<Item = usize>> = if pass == 0 {
                Box::new(0..sizes.len())
            } else {
                Box::new(std::mem::take(&mut compiled).into_iter())
            };
            for i in todo {
                if self.owners.get(i).is_some() {
                    continue;
                }
                let Some(first) = inv.first_path(i) else {
                    continue;
                };
                if inv.paths(i).any(is_boot_file) {
                    self.owners.set(i, BOOT_COMPONENT);
                    n_boot += 1;
                    continue;
                }
                if inv.paths(i).any(is_state_path) {
                    self.owners.set(i, layering::chunk::STATE);
                    n_state += 1;
                    continue;
                }
                if let Some(dir) =
                    var_data_dir(first).filter(|_| inv.paths(i).all(|p| var_data_dir(p).is_some()))
                {
                    let (objects, bytes) = data.entry(dir).or_default();
                    objects.push(i);
                    *bytes += sizes[i];
                    continue;
                }
                if pass == 0 && inv.paths(i).any(|p| pyc_source(p).is_some()) {
                    compiled.push(i);
                    continue;
                }
                if let Some(pkg) = self.pyc_owner(i) {
                    self.owners.set(i, &pkg);
                    n_pyc += 1;
                } else if let Some(pkg) = sole_dir_owner(&self.dir_owner, first) {
                    self.owners.set(i, &pkg);
                    n_dir += 1;
                } else if sizes[i] >= LARGE_UNOWNED {
                    self.owners.set(i, &format!("file:/{first}"));
                    n_large += 1;
                }
            }
        }
        let mut n_data = 0;
        for (dir, (objects, bytes)) in data {
            let name = if bytes >= LARGE_UNOWNED {
                n_data += objects.len();
                format!("data:/{dir}")
            } else {
                n_state += objects.len();
                layering::chunk::STATE.to_string()
            };
            for i in objects {
                self.owners.set(i, &name);
            }
        }
        self.claimed.push(("boot".to_string(), n_boot));
        self.claimed.push(("state".to_string(), n_state));
        self.claimed.push(("var-data".to_string(), n_data));
        self.claimed.push(("python-bytecode".to_string(), n_pyc));
        self.claimed.push(("package-directory".to_string(), n_dir));
        self.claimed.push(("large-unowned".to_string(), n_large));
    }

    /// The component of the Python source object `i` was compiled from, if one claims it
    /// (first path that names a source, in path order).
    fn pyc_owner(&self, i: usize) -> Option<String> {
        self.inv.paths(i).find_map(|p| {
            let src = pyc_source(p)?;
            let j = self.paths.get(&src)?;
            self.owners.get(j).map(str::to_string)
        })
    }
}

fn component_value(xattrs: &[(Vec<u8>, Vec<u8>)]) -> Option<String> {
    xattrs
        .iter()
        .find(|(k, _)| ostree_format::trim_nul(k) == COMPONENT_XATTR)
        .map(|(_, v)| {
            String::from_utf8_lossy(ostree_format::trim_nul(v))
                .trim()
                .to_string()
        })
        .filter(|v| !v.is_empty())
}

/// The one source package owning the nearest listed ancestor directory of `path`, if exactly
/// one does (shared directories like `usr/lib` say nothing).
fn sole_dir_owner(dir_owner: &HashMap<String, BTreeSet<String>>, path: &str) -> Option<String> {
    let mut cur = path;
    while let Some((parent, _)) = cur.rsplit_once('/') {
        if let Some(owners) = dir_owner.get(parent) {
            return (owners.len() == 1)
                .then(|| owners.iter().next().cloned())
                .flatten();
        }
        cur = parent;
    }
    None
}

fn nearest_dir_component(dirs: &BTreeMap<&str, String>, path: &str) -> Option<String> {
    let mut cur = path;
    while let Some((parent, _)) = cur.rsplit_once('/') {
        if let Some(v) = dirs.get(parent) {
            return Some(v.clone());
        }
        cur = parent;
    }
    None
}

/// Kernel and initramfs in the places ostree looks for them.
pub fn is_boot_file(path: &str) -> bool {
    let name = path.rsplit('/').next().unwrap_or(path);
    let in_modules = path.starts_with("usr/lib/modules/") && path.matches('/').count() == 4;
    let in_boot = path.starts_with("usr/lib/ostree-boot/") || path.starts_with("boot/");
    // depmod's output (modules.dep, modules.alias, ...) is regenerated with the initramfs.
    (in_modules && (name == "vmlinuz" || name == "initramfs.img" || name.starts_with("modules.")))
        || (in_boot
            && (name.starts_with("vmlinuz")
                || name.starts_with("initramfs")
                || name.starts_with("initrd")))
}

#[cfg(test)]
mod tests;
