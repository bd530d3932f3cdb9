//! The package databases of a commit, read without the rpm or dpkg binaries: rpm's sqlite
//! database and dpkg's `status` with their limits, the packages they list (for components
//! and the SBOM), `os-release`, and which versions say a package was just updated.

use super::read_path;
use crate::source::{Inventory, Source};
use crate::EncapError;
use std::collections::HashMap;

/// Where rpm databases live (sqlite backend).
pub const RPM_DATABASES: [&str; 3] = ["usr/lib/sysimage/rpm", "usr/share/rpm", "var/lib/rpm"];
/// An rpm whose newest changelog entry is at most this old at commit time is volatile: it was
/// just updated, and updates come in runs (a security fix is often followed by another).
pub const RPM_RECENT_SECS: u64 = 180 * 24 * 3600;

/// Largest `os-release` read: the real ones are a few hundred bytes.
const MAX_OS_RELEASE: u64 = 64 << 10;
/// Largest rpm database (with its WAL) read: a full Fedora workstation's is ~100 MiB.
const MAX_RPMDB: u64 = 1 << 30;
/// Largest dpkg `status` read: a large Debian desktop's is ~5 MiB.
const MAX_DPKG_STATUS: u64 = 64 << 20;

/// Where dpkg databases live in a commit (tar paths: `usr/etc` is `etc`).
pub const DPKG_DATABASES: [&str; 3] = [
    "var/lib/dpkg",
    "usr/lib/sysimage/dpkg",
    "usr/share/dpkg/database",
];

/// Whether a Debian version says the package already had a stable or security update
/// (`+deb12u3`, `~deb12u1`). Such packages get updates again far more often than the rest
/// (in the corpus pair, most of the upgraded sources carried the suffix before); dpkg keeps
/// no change history, so this is the history we have.
pub fn is_volatile_version(version: &str) -> bool {
    let b = version.as_bytes();
    let mut i = 0;
    while let Some(pos) = version[i..].find("deb") {
        let at = i + pos;
        let before_ok = at > 0 && matches!(b[at - 1], b'+' | b'~');
        let rest = &version[at + 3..];
        let digits = rest.bytes().take_while(u8::is_ascii_digit).count();
        if before_ok
            && digits > 0
            && rest[digits..].starts_with('u')
            && rest[digits + 1..]
                .bytes()
                .next()
                .is_some_and(|c| c.is_ascii_digit())
        {
            return true;
        }
        i = at + 3;
    }
    false
}

/// The package manager a package was installed by.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub enum PackageKind {
    /// dpkg (Debian, Ubuntu).
    Deb,
    /// rpm (Fedora, CentOS, RHEL).
    Rpm,
}

/// An installed package as its database describes it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct InstalledPackage {
    /// Which database.
    pub kind: PackageKind,
    /// Binary package name.
    pub name: String,
    /// Version (dpkg: the Version field, epoch included; rpm: `version-release`).
    pub version: String,
    /// rpm's epoch, when the package has one.
    pub epoch: Option<u32>,
    /// Source package: the component its files are in.
    pub source: String,
    /// Architecture.
    pub arch: String,
    /// Declared license, where the database has one (rpm; dpkg keeps none).
    pub license: Option<String>,
}

/// The installed packages of a tree: from the first rpm database found, then the first dpkg
/// database (a tree normally has one of them).
///
/// # Errors
/// Unreadable objects, a damaged rpm database.
pub fn installed_packages(
    src: &Source,
    inv: &Inventory,
) -> Result<Vec<InstalledPackage>, EncapError> {
    let paths = inv.path_index();
    let mut out = Vec::new();
    if let Some((_, pkgs)) = rpm_database(src, inv, &paths)? {
        out.extend(pkgs.iter().map(InstalledPackage::from_rpm));
    }
    if let Some((_, pkgs)) = dpkg_status(src, inv, &paths)? {
        out.extend(pkgs.iter().map(InstalledPackage::from_dpkg));
    }
    Ok(out)
}

impl InstalledPackage {
    pub(super) fn from_rpm(p: &crate::rpmdb::RpmPackage) -> InstalledPackage {
        InstalledPackage {
            kind: PackageKind::Rpm,
            name: p.name.clone(),
            version: p.evr.clone(),
            epoch: p.epoch,
            source: p.source.clone(),
            arch: p.arch.clone(),
            license: p.license.clone(),
        }
    }

    pub(super) fn from_dpkg(p: &DpkgPackage) -> InstalledPackage {
        InstalledPackage {
            kind: PackageKind::Deb,
            name: p.name.clone(),
            version: p.version.clone(),
            epoch: None,
            source: p.source.clone(),
            arch: p.arch.clone(),
            license: None,
        }
    }
}

/// The distribution a tree says it is (`usr/lib/os-release`, where Debian and Fedora keep
/// the file `/etc/os-release` links to): its `ID` and `VERSION_ID`.
///
/// # Errors
/// Unreadable objects.
pub fn os_release(
    src: &Source,
    inv: &Inventory,
) -> Result<Option<(String, Option<String>)>, EncapError> {
    let paths = inv.path_index();
    let Some(text) = read_path(
        src,
        inv,
        &paths,
        "usr/lib/os-release",
        MAX_OS_RELEASE,
        "an os-release file",
    )?
    else {
        return Ok(None);
    };
    Ok(parse_os_release(&String::from_utf8_lossy(&text)))
}

/// `ID` and `VERSION_ID` of an os-release file (quotes removed).
pub fn parse_os_release(text: &str) -> Option<(String, Option<String>)> {
    let field = |key: &str| {
        text.lines().find_map(|l| {
            let v = l.strip_prefix(key)?.strip_prefix('=')?;
            let v = v.trim().trim_matches('"').trim_matches('\'');
            (!v.is_empty()).then(|| v.to_string())
        })
    };
    Some((field("ID")?, field("VERSION_ID")))
}

/// The first rpm database found (sqlite, with its WAL): its path and packages.
pub(super) fn rpm_database(
    src: &Source,
    inv: &Inventory,
    paths: &crate::source::PathIndex<'_>,
) -> Result<Option<(String, Vec<crate::rpmdb::RpmPackage>)>, EncapError> {
    for db in RPM_DATABASES {
        let path = format!("{db}/rpmdb.sqlite");
        let Some(data) = read_path(src, inv, paths, &path, MAX_RPMDB, "an rpm database")? else {
            continue;
        };
        let wal = read_path(
            src,
            inv,
            paths,
            &format!("{path}-wal"),
            MAX_RPMDB,
            "an rpm database",
        )?;
        let pkgs = crate::rpmdb::read_database(&data, wal.as_deref()).map_err(|source| {
            EncapError::RpmDatabase {
                path: path.clone(),
                source,
            }
        })?;
        return Ok(Some((path, pkgs)));
    }
    Ok(None)
}

/// The first dpkg status file found: its database directory and installed packages.
pub(super) fn dpkg_status(
    src: &Source,
    inv: &Inventory,
    paths: &crate::source::PathIndex<'_>,
) -> Result<Option<(&'static str, Vec<DpkgPackage>)>, EncapError> {
    for db in DPKG_DATABASES {
        let Some(status) = read_path(
            src,
            inv,
            paths,
            &format!("{db}/status"),
            MAX_DPKG_STATUS,
            "a dpkg status file",
        )?
        else {
            continue;
        };
        return Ok(Some((
            db,
            parse_dpkg_status(&String::from_utf8_lossy(&status)),
        )));
    }
    Ok(None)
}

/// One installed dpkg package.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DpkgPackage {
    /// Binary package name.
    pub name: String,
    /// Source package name (the binary name when there is no Source field).
    pub source: String,
    /// Version.
    pub version: String,
    /// Architecture.
    pub arch: String,
}

/// Parse a dpkg `status` file: installed packages only.
pub fn parse_dpkg_status(text: &str) -> Vec<DpkgPackage> {
    let mut out = Vec::new();
    for para in text.split("\n\n") {
        let mut fields: HashMap<&str, &str> = HashMap::new();
        for line in para.lines() {
            if line.starts_with(' ') || line.starts_with('\t') {
                continue;
            }
            if let Some((k, v)) = line.split_once(':') {
                fields.insert(k.trim(), v.trim());
            }
        }
        let (Some(name), Some(status)) = (fields.get("Package"), fields.get("Status")) else {
            continue;
        };
        // A stanza without a name names no package (it would be a nameless SBOM entry).
        if name.is_empty() {
            continue;
        }
        if !status.ends_with(" installed") {
            continue;
        }
        let source = fields
            .get("Source")
            .map(|s| s.split_whitespace().next().unwrap_or(name))
            .unwrap_or(name);
        out.push(DpkgPackage {
            name: name.to_string(),
            source: source.to_string(),
            version: fields.get("Version").unwrap_or(&"").to_string(),
            arch: fields.get("Architecture").unwrap_or(&"").to_string(),
        });
    }
    out.sort_by(|a, b| a.name.cmp(&b.name));
    out
}

/// Map a path from a dpkg file list to the tar path it has in an ostree commit: `/etc` lives
/// in `usr/etc` (tar path `etc`), and merged-/usr systems have `/bin`, `/lib*`, `/sbin` in
/// `usr/`.
pub fn dpkg_path_candidates(listed: &str) -> Vec<String> {
    let p = listed.trim_start_matches('/');
    let mut v = vec![p.to_string()];
    for top in ["bin/", "sbin/", "lib/", "lib32/", "lib64/", "libx32/"] {
        if p.starts_with(top) {
            v.push(format!("usr/{p}"));
        }
    }
    if let Some(rest) = p.strip_prefix("boot/") {
        // ostree moves /boot content (kernel, initramfs) to usr/lib/modules/<kver>/.
        v.push(format!("usr/lib/ostree-boot/{rest}"));
    }
    v
}
