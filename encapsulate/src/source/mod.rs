//! Opening a repository, resolving the commit, and walking its tree into an [`Inventory`].
//!
//! Metadata goes through libostree, so every repo mode (archive, bare, bare-user,
//! bare-user-only) reads the same way and yields the same objects; content objects are read
//! by `crate::objread`, straight from the files where the mode allows.

use crate::objread::{Direct, FileObject, Libostree, ReadError};
use crate::rootfs::{MetadataObjects, Special, TreeFiles, TreeOptions};
use crate::EncapError;
use layering::Checksum;
use ostree::gio;
use ostree::glib;
use ostree_format::ObjKind;
use ostree_format::{self as format, is_checksum};
use std::collections::{BTreeMap, HashMap, HashSet};
use std::path::{Path, PathBuf};

mod inventory;
pub use inventory::*;
use inventory::{Walked, UNREAD};

/// An opened repository and a resolved commit.
pub struct Source {
    pub(crate) repo: ostree::Repo,
    pub(crate) repo_path: PathBuf,
    pub(crate) commit: String,
    pub(crate) commit_variant: glib::Variant,
    pub(crate) detached: Option<glib::Variant>,
    /// Direct reads of object files (bare-user, bare-user-only repos).
    pub(crate) direct: Option<Direct>,
    /// Content read from a plain tree, for a commit made of it ([`crate::rootfs`]).
    pub(crate) tree: Option<TreeFiles>,
    /// The tree's device nodes and FIFOs, which the commit cannot hold (plain images only).
    pub(crate) specials: Vec<Special>,
    /// A tree's dirtree and dirmeta objects, kept in memory rather than in the repository.
    pub(crate) memory: Option<std::sync::Arc<MetadataObjects>>,
}

impl std::fmt::Debug for Source {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Source")
            .field("repo", &self.repo_path)
            .field("commit", &self.commit)
            .finish()
    }
}

/// Open the repository at `repo_path` and resolve `rev` (a branch, `remote:ref`, or a full
/// checksum) to a complete commit.
///
/// # Errors
/// [`EncapError::RepoNotFound`], [`EncapError::NotARepo`], [`EncapError::MalformedChecksum`],
/// [`EncapError::UnknownRef`], [`EncapError::UnknownCommit`], [`EncapError::PartialCommit`].
pub fn open(repo_path: &Path, rev: &str) -> Result<Source, EncapError> {
    let shown = repo_path.display().to_string();
    if !repo_path.exists() {
        return Err(EncapError::RepoNotFound { repo: shown });
    }
    let repo = ostree::Repo::new_for_path(repo_path);
    repo.open(gio::Cancellable::NONE)
        .map_err(|e| EncapError::NotARepo {
            repo: shown.clone(),
            source: e,
        })?;
    let commit = resolve(&repo, &shown, rev)?;
    let (commit_variant, state) = match repo.load_commit(&commit) {
        Ok(v) => v,
        Err(e) if e.matches(gio::IOErrorEnum::NotFound) => {
            return Err(EncapError::UnknownCommit {
                repo: shown,
                commit,
            })
        }
        Err(e) => {
            return Err(EncapError::Repo {
                repo: shown,
                what: format!("loading commit {commit}"),
                source: e,
            })
        }
    };
    if state.contains(ostree::RepoCommitState::PARTIAL) {
        return Err(EncapError::PartialCommit {
            repo: shown,
            commit,
        });
    }
    let detached = repo
        .read_commit_detached_metadata(&commit, gio::Cancellable::NONE)
        .map_err(|e| EncapError::Repo {
            repo: shown.clone(),
            what: format!("reading detached metadata of {commit}"),
            source: e,
        })?;
    let direct = Direct::for_repo(&repo, repo_path);
    Ok(Source {
        repo,
        repo_path: repo_path.to_owned(),
        commit,
        commit_variant,
        detached,
        direct,
        tree: None,
        specials: Vec::new(),
        memory: None,
    })
}

/// Make the commit of the plain tree at `root` ([`crate::rootfs::commit_tree`]): the commit
/// object in a new bare-user repository at `scratch`, its dirtrees and dirmetas in memory;
/// open it so that those and the content are read from there and from the tree.
///
/// # Errors
/// [`EncapError::Tree`] naming what the tree holds that the format cannot, or what cannot
/// be read; [`EncapError::Repo`] if the scratch repository cannot be made.
pub fn open_tree(root: &Path, scratch: &Path, opts: &TreeOptions) -> Result<Source, EncapError> {
    let repo = ostree::Repo::new_for_path(scratch);
    repo.create(ostree::RepoMode::BareUser, gio::Cancellable::NONE)
        .map_err(|e| EncapError::Repo {
            repo: scratch.display().to_string(),
            what: "creating the scratch repository".into(),
            source: e,
        })?;
    // Scratch data need not survive a crash; libostree would otherwise syncfs() at commit.
    repo.set_disable_fsync(true);
    let made = crate::rootfs::commit_tree(root, &repo, opts)?;
    let mut source = open(scratch, &made.commit)?;
    // Content objects are not in the scratch repository: never look for them there.
    source.direct = None;
    source.tree = Some(TreeFiles {
        root: root.to_owned(),
        etc: made.etc,
    });
    source.specials = made.specials;
    source.memory = Some(made.objects);
    Ok(source)
}

fn resolve(repo: &ostree::Repo, shown: &str, rev: &str) -> Result<String, EncapError> {
    if rev.is_empty() {
        return Err(EncapError::UnknownRef {
            repo: shown.into(),
            rev: rev.into(),
            known: known_refs(repo),
        });
    }
    let all_hex = rev.bytes().all(|b| b.is_ascii_hexdigit());
    if all_hex && rev.len() >= 32 && !is_checksum(rev) {
        return Err(EncapError::MalformedChecksum { rev: rev.into() });
    }
    if is_checksum(rev) {
        return Ok(rev.to_string());
    }
    if all_hex {
        // libostree's resolve_rev takes a hex prefix as an abbreviated commit before looking
        // for a branch of that name; we take only an exact branch.
        let exact = repo
            .list_refs(None, gio::Cancellable::NONE)
            .ok()
            .and_then(|m| m.into_iter().find(|(k, _)| k.as_str() == rev))
            .map(|(_, c)| c.to_string());
        return exact.ok_or_else(|| EncapError::AbbreviatedChecksum {
            repo: shown.into(),
            rev: rev.into(),
        });
    }
    match repo.resolve_rev(rev, true) {
        Ok(Some(c)) => Ok(c.to_string()),
        Ok(None) => Err(EncapError::UnknownRef {
            repo: shown.into(),
            rev: rev.into(),
            known: known_refs(repo),
        }),
        Err(e) => Err(EncapError::UnknownRef {
            repo: shown.into(),
            rev: format!("{rev} ({})", e.message()),
            known: known_refs(repo),
        }),
    }
}

/// A short, sorted list of refs for error hints.
fn known_refs(repo: &ostree::Repo) -> Vec<String> {
    let mut refs: Vec<String> = repo
        .list_refs(None, gio::Cancellable::NONE)
        .map(|m| m.into_keys().map(|k| k.to_string()).collect())
        .unwrap_or_default();
    refs.sort();
    refs.truncate(10);
    refs
}

impl Source {
    /// Open the same repository and commit again: one `Source` per thread, since a libostree
    /// repo handle may move between threads but not be shared by them.
    ///
    /// # Errors
    /// If the repository can no longer be opened.
    pub fn reopen(&self) -> Result<Source, EncapError> {
        let repo = ostree::Repo::new_for_path(&self.repo_path);
        repo.open(gio::Cancellable::NONE)
            .map_err(|e| EncapError::NotARepo {
                repo: self.repo_path.display().to_string(),
                source: e,
            })?;
        Ok(Source {
            repo,
            repo_path: self.repo_path.clone(),
            commit: self.commit.clone(),
            commit_variant: self.commit_variant.clone(),
            detached: self.detached.clone(),
            direct: self.direct.clone(),
            tree: self.tree.clone(),
            specials: self.specials.clone(),
            memory: self.memory.clone(),
        })
    }

    /// For each of one object's `paths`, the index of the first path that is the same file
    /// (inode): a commit's identical files are one object, checked out as one inode, so all
    /// share the first; a plain tree (`--rootfs`) says itself which are hard links. A path
    /// that cannot be examined is its own (reading it then fails by name).
    pub(crate) fn link_leaders(&self, paths: &[&str]) -> Vec<usize> {
        let Some(t) = &self.tree else {
            return vec![0; paths.len()];
        };
        // A map, not a scan of the earlier paths: an empty file can have thousands of paths.
        let mut first: HashMap<(u64, u64), usize> = HashMap::new();
        paths
            .iter()
            .enumerate()
            .map(|(k, p)| match t.inode(p) {
                Some(id) => *first.entry(id).or_insert(k),
                None => k,
            })
            .collect()
    }

    /// The resolved commit checksum.
    pub fn commit(&self) -> &str {
        &self.commit
    }

    /// The repository path as given.
    pub fn repo_path(&self) -> &Path {
        &self.repo_path
    }

    /// The commit's metadata and identity as plain data.
    ///
    /// # Errors
    /// If the commit object does not have the commit type.
    pub fn info(&self) -> Result<CommitInfo, EncapError> {
        let v = &self.commit_variant;
        let bad = |what: &str| EncapError::Corrupt {
            kind: ObjKind::Commit,
            checksum: self.commit.clone(),
            path: "(commit)".into(),
            reason: what.to_string(),
        };
        if v.type_().as_str() != "(a{sv}aya(say)sstayay)" {
            return Err(bad("commit object has the wrong GVariant type"));
        }
        let meta = v.child_value(0);
        let parent_bytes: Vec<u8> = v.child_value(1).get().ok_or_else(|| bad("parent"))?;
        let subject: String = v.child_value(3).get().ok_or_else(|| bad("subject"))?;
        let ts: u64 = v.child_value(5).get().ok_or_else(|| bad("timestamp"))?;
        let mut metadata = BTreeMap::new();
        for i in 0..meta.n_children() {
            let entry = meta.child_value(i);
            let key: String = entry
                .child_value(0)
                .get()
                .ok_or_else(|| bad("metadata key"))?;
            let value = entry
                .child_value(1)
                .as_variant()
                .ok_or_else(|| bad("metadata"))?;
            let mv = if let Some(s) = value.str() {
                MetaValue::String(s.to_string())
            } else if let Some(b) = value.get::<bool>() {
                MetaValue::Bool(b)
            } else {
                MetaValue::Other {
                    type_string: value.type_().as_str().to_string(),
                    text: value.print(false).to_string(),
                }
            };
            metadata.insert(key, mv);
        }
        Ok(CommitInfo {
            checksum: self.commit.clone(),
            timestamp: u64::from_be(ts),
            subject,
            parent: (parent_bytes.len() == 32).then(|| hex::encode(&parent_bytes)),
            metadata,
            has_detached_metadata: self.detached.is_some(),
        })
    }

    /// Walk the commit's tree (dirtree/dirmeta objects only) into an [`Inventory`].
    ///
    /// # Errors
    /// A missing or malformed dirtree/dirmeta object, named with its checksum and the path it
    /// was reached from.
    pub fn inventory(&self) -> Result<Inventory, EncapError> {
        let v = &self.commit_variant;
        let root_tree = hex::encode(v.child_value(6).data());
        let root_meta = hex::encode(v.child_value(7).data());
        let mut walker = Walker {
            src: self,
            inv: Inventory {
                root_dirmeta: root_meta.clone(),
                ..Default::default()
            },
            content: Walked::default(),
            seen_trees: HashSet::new(),
        };
        walker.load_dirmeta(&root_meta, "/")?;
        walker
            .inv
            .structure
            .push(StructureEntry::DirMeta(root_meta));
        walker.walk("", &root_tree, true)?;
        let mut inv = walker.inv;
        inv.finish_content(walker.content);
        inv.dir_positions = inv
            .structure
            .iter()
            .enumerate()
            .filter_map(|(i, e)| match e {
                StructureEntry::Directory { path, .. } => Some((path.clone(), i)),
                _ => None,
            })
            .collect();
        Ok(inv)
    }

    /// Where content object files are: the objects directory and the file suffix of this
    /// repo's mode (the direct reader's; bare repos, read through libostree, use `file`).
    /// `None` when content is read from a plain tree.
    pub(crate) fn content_files(&self) -> Option<(PathBuf, &'static str)> {
        if self.tree.is_some() {
            return None;
        }
        let suffix = self
            .direct
            .as_ref()
            .map_or(format::ObjKind::File.suffix(), Direct::suffix);
        Some((self.repo_path.join("objects"), suffix))
    }

    /// The payload size of each content object, in inventory order (needed by size-aware
    /// planners).
    ///
    /// # Errors
    /// A content object that cannot be queried, named with its checksum.
    pub fn content_sizes(&self, inv: &Inventory) -> Result<Vec<u64>, EncapError> {
        Ok(self.stat_contents(inv)?.sizes)
    }

    pub(crate) fn object_error(
        &self,
        kind: ObjKind,
        checksum: &str,
        path: &str,
        e: &glib::Error,
    ) -> EncapError {
        if e.matches(gio::IOErrorEnum::NotFound) {
            EncapError::MissingObject {
                repo: self.repo_path.display().to_string(),
                kind,
                checksum: checksum.into(),
                path: path.into(),
            }
        } else {
            EncapError::Corrupt {
                kind,
                checksum: checksum.into(),
                path: path.into(),
                reason: e.message().to_string(),
            }
        }
    }

    /// Open content object `checksum` (`path` names it in errors): from its file where the
    /// mode allows, else (or if that fails) through libostree.
    pub(crate) fn load_content(
        &self,
        checksum: &Checksum,
        path: &str,
    ) -> Result<FileObject, EncapError> {
        if let Some(t) = &self.tree {
            return t.load(path).map_err(|e| t.error(path, &e));
        }
        if let Some(obj) = self.direct.as_ref().and_then(|d| d.load(checksum).ok()) {
            return Ok(obj);
        }
        Libostree(&self.repo)
            .load(checksum)
            .map_err(|e| self.read_error(checksum, path, e))
    }

    /// Content object `checksum`, at index `at` of the inventory the stat pass read
    /// ([`Source::stat_contents`], [`Source::direct_stats`]), opened with what that pass
    /// learnt of it where it can be; else as [`Source::load_content`] does.
    pub(crate) fn load_content_at(
        &self,
        at: usize,
        checksum: &Checksum,
        path: &str,
    ) -> Result<FileObject, EncapError> {
        if self.tree.is_none() {
            if let Some(Ok(obj)) = self
                .direct
                .as_ref()
                .and_then(|d| d.load_known(at, checksum))
            {
                return Ok(obj);
            }
        }
        self.load_content(checksum, path)
    }

    /// Size of every content object of `inv`, in order, and the xattrs of those that have
    /// any (a path names an object in errors). 8 bytes per object: on a tree of a million
    /// files what planning holds per object decides the run's peak memory.
    pub(crate) fn stat_contents(&self, inv: &Inventory) -> Result<ContentStats, EncapError> {
        self.finish_stats(inv, self.direct_stats().run(inv))
    }

    /// The part of [`Source::stat_contents`] that may run on other threads while this one
    /// does something else (component discovery reads the package database meanwhile).
    pub(crate) fn direct_stats(&self) -> DirectStats<'_> {
        DirectStats {
            tree: self.tree.as_ref(),
            direct: self.direct.as_ref(),
        }
    }

    /// Complete what [`DirectStats::run`] left `UNREAD`: through libostree, here, since a
    /// libostree repo handle must not be shared between threads; an object a tree could not
    /// read is an error that names it.
    pub(crate) fn finish_stats(
        &self,
        inv: &Inventory,
        mut all: ContentStats,
    ) -> Result<ContentStats, EncapError> {
        let objects = inv.objects();
        let tree = self.tree.as_ref();
        let libostree = Libostree(&self.repo);
        for (i, size) in all.sizes.iter_mut().enumerate() {
            if *size != UNREAD {
                continue;
            }
            let c = &objects[i];
            if let Some(t) = tree {
                let path = inv.first_path(i).unwrap_or("(no path)");
                return Err(match t.stat(path) {
                    Err(e) => t.error(path, &e),
                    Ok(_) => t.error(path, &std::io::Error::other("it changed while read")),
                });
            }
            let st = libostree
                .stat(c)
                .map_err(|e| self.read_error(c, inv.first_path(i).unwrap_or("(sysroot)"), e))?;
            *size = st.size;
            if !st.xattrs.is_empty() {
                all.xattrs.push((i, st.xattrs));
            }
        }
        all.xattrs.sort_unstable_by_key(|(i, _)| *i);
        Ok(all)
    }

    fn read_error(&self, checksum: &Checksum, path: &str, e: ReadError) -> EncapError {
        match e {
            ReadError::Repo(e) => self.object_error(ObjKind::File, &checksum.hex(), path, &e),
            ReadError::Corrupt(reason) => EncapError::Corrupt {
                kind: ObjKind::File,
                checksum: checksum.to_string(),
                path: path.into(),
                reason,
            },
        }
    }

    /// Load a metadata object and check that its bytes hash to its name.
    pub(crate) fn load_metadata(
        &self,
        kind: ObjKind,
        checksum: &str,
        path: &str,
    ) -> Result<glib::Variant, EncapError> {
        let objtype = match kind {
            ObjKind::DirTree => ostree::ObjectType::DirTree,
            ObjKind::DirMeta => ostree::ObjectType::DirMeta,
            ObjKind::Commit => ostree::ObjectType::Commit,
            ObjKind::File => ostree::ObjectType::File,
            ObjKind::CommitMeta => ostree::ObjectType::CommitMeta,
            // Kinds of the tar format only; no repository holds them.
            ObjKind::FileXattrs | ObjKind::FileXattrsLink => {
                return Err(EncapError::Corrupt {
                    kind,
                    checksum: checksum.to_string(),
                    path: path.to_string(),
                    reason: "not a repository object kind".into(),
                })
            }
        };
        let in_memory = self
            .memory
            .as_ref()
            .zip(Checksum::from_hex(checksum))
            .and_then(|(m, c)| m.get(&c).map(<[u8]>::to_vec));
        let v = match (in_memory, kind) {
            (Some(bytes), ObjKind::DirTree) => {
                ostree_format::checksum::variant_of(&bytes, "(a(say)a(sayay))")
            }
            (Some(bytes), ObjKind::DirMeta) => {
                ostree_format::checksum::variant_of(&bytes, "(uuua(ayay))")
            }
            _ => self
                .repo
                .load_variant(objtype, checksum)
                .map_err(|e| self.object_error(kind, checksum, path, &e))?,
        };
        let actual = ostree_format::checksum::sha256_hex(v.data());
        if actual != checksum {
            return Err(EncapError::ChecksumMismatch {
                kind,
                checksum: checksum.into(),
                actual,
                path: path.into(),
            });
        }
        Ok(v)
    }
}

struct Walker<'a> {
    src: &'a Source,
    inv: Inventory,
    content: Walked,
    seen_trees: HashSet<String>,
}

impl Walker<'_> {
    fn load_dirmeta(&mut self, checksum: &str, path: &str) -> Result<bool, EncapError> {
        if self.inv.dirmetas.contains_key(checksum) {
            return Ok(false);
        }
        let v = self.src.load_metadata(ObjKind::DirMeta, checksum, path)?;
        let parsed = ostree::DirMetaParsed::from_variant(&v).map_err(|e| EncapError::Corrupt {
            kind: ObjKind::DirMeta,
            checksum: checksum.into(),
            path: path.into(),
            reason: e.to_string(),
        })?;
        self.inv.dirmetas.insert(
            checksum.to_string(),
            DirMeta {
                uid: parsed.uid,
                gid: parsed.gid,
                mode: parsed.mode,
                xattrs: parsed.xattrs,
            },
        );
        Ok(true)
    }

    /// `path` is the tree path of this directory ("" for the root); `visible` is false below a
    /// top-level `sysroot`, whose entries must not collide with the embedded repo.
    fn walk(&mut self, path: &str, tree: &str, visible: bool) -> Result<(), EncapError> {
        let shown = if path.is_empty() { "/" } else { path };
        let v = self.src.load_metadata(ObjKind::DirTree, tree, shown)?;
        if self.seen_trees.insert(tree.to_string()) {
            self.inv
                .structure
                .push(StructureEntry::DirTree(tree.into()));
        }
        let bad = |reason: String| EncapError::Corrupt {
            kind: ObjKind::DirTree,
            checksum: tree.into(),
            path: shown.into(),
            reason,
        };
        let (files, dirs) = ostree_format::checksum::dirtree_entries(&v)
            .ok_or_else(|| bad(format!("not a dirtree (type {})", v.type_())))?;
        for (name, csum) in files {
            check_name(&name).map_err(&bad)?;
            let Some(c) = Checksum::from_bytes(&csum) else {
                return Err(bad(format!("file {name:?} has a malformed checksum")));
            };
            let child = visible.then(|| format::join(path, &name));
            let mapped = child.as_deref().map(format::map_tree_path);
            self.content.add(c, mapped.as_deref()).map_err(&bad)?;
        }
        for (name, tree_csum, meta_csum) in dirs {
            check_name(&name).map_err(&bad)?;
            if tree_csum.len() != 32 || meta_csum.len() != 32 {
                return Err(bad(format!("directory {name:?} has a malformed checksum")));
            }
            let child = format::join(path, &name);
            let meta = hex::encode(&meta_csum);
            if self.load_dirmeta(&meta, &child)? {
                self.inv
                    .structure
                    .push(StructureEntry::DirMeta(meta.clone()));
            }
            let is_sysroot = visible && path.is_empty() && name == format::SYSROOT_DIR;
            let child_visible = visible && !is_sysroot;
            if is_sysroot {
                self.inv.structure.push(StructureEntry::Sysroot {
                    dirmeta: meta.clone(),
                });
            }
            if child_visible {
                if let Some(i) = crate::export::MADE_WHEN_MISSING
                    .iter()
                    .position(|(p, _)| *p == child)
                {
                    self.inv.has_always_there[i] = true;
                }
                self.inv.structure.push(StructureEntry::Directory {
                    path: format::map_tree_path(&child).into_owned(),
                    dirmeta: meta,
                });
            }
            self.walk(&child, &hex::encode(&tree_csum), child_visible)?;
        }
        Ok(())
    }
}

/// Names come from the repo; a hostile one must not escape the tree in the tar stream.
fn check_name(name: &str) -> Result<(), String> {
    if name.is_empty() || name == "." || name == ".." || name.contains('/') || name.contains('\0') {
        return Err(format!("invalid file name {name:?}"));
    }
    Ok(())
}
