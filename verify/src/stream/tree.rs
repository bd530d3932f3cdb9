//! The end of a stream's check: the commit's tree is complete (every dirtree, dirmeta and
//! content object it names is in the stream, every path with the owner and mode the tree
//! gives it) and nothing is beside it (every stream path and object is part of the tree).

use super::*;

/// Walk the commit's tree from its root dirtree and dirmeta against what the stream held;
/// returns the number of paths checked.
pub(super) fn check(
    v: &StreamVerifier,
    root_tree: &str,
    root_meta: &str,
) -> Result<usize, VerifyError> {
    let mut walk = TreeCheck {
        v,
        matched_paths: HashSet::new(),
        matched_dirs: HashSet::new(),
        used_content: HashSet::new(),
        used_trees: HashSet::new(),
        used_metas: HashSet::new(),
        paths: 0,
    };
    walk.dir("", root_tree, root_meta, true)?;
    v.nothing_beside_the_tree(&walk)?;
    Ok(walk.paths)
}

impl StreamVerifier {
    /// Every entry outside the embedded repo is a path of the commit (once), and every
    /// content and dirtree object is part of its tree.
    fn nothing_beside_the_tree(&self, walk: &TreeCheck<'_>) -> Result<(), VerifyError> {
        let mut extra: Vec<&String> = self
            .paths
            .keys()
            .filter(|p| !walk.matched_paths.contains(*p))
            .chain(
                self.dirs
                    .iter()
                    .filter(|(d, o)| !walk.matched_dirs.contains(*d) && !format_dir(d, o))
                    .map(|(d, _)| d),
            )
            .collect();
        extra.sort();
        if let Some(first) = extra.first() {
            return Err(VerifyError::Tree(format!(
                "{first} is in the image but not in the commit's tree{}",
                match extra.len() {
                    1 => String::new(),
                    n => format!(" ({} more such entries)", n - 1),
                }
            )));
        }
        if let Some(extra) = self
            .content
            .keys()
            .find(|c| !walk.used_content.contains(*c))
        {
            return Err(VerifyError::Tree(format!(
                "content object {extra} is not part of the commit's tree"
            )));
        }
        if let Some(extra) = self.dirtrees.keys().find(|c| !walk.used_trees.contains(*c)) {
            return Err(VerifyError::Tree(format!(
                "dirtree object {extra} is not part of the commit's tree"
            )));
        }
        Ok(())
    }
}

struct TreeCheck<'a> {
    v: &'a StreamVerifier,
    /// Stream paths and directories the tree accounted for; anything else is an extra.
    matched_paths: HashSet<String>,
    matched_dirs: HashSet<String>,
    used_content: HashSet<String>,
    used_trees: HashSet<String>,
    used_metas: HashSet<String>,
    paths: usize,
}

impl TreeCheck<'_> {
    /// Check directory `path` (dirtree `tree`, dirmeta `meta`) and everything under it
    /// against the stream. One function on purpose (~95 lines): every file of a dirtree goes
    /// through the same sequence of lookups (content object, then its tree path as hardlink
    /// or empty file, then the owner and mode that path must show), and the sequence reads
    /// best as one piece.
    fn dir(
        &mut self,
        path: &str,
        tree: &str,
        meta: &str,
        visible: bool,
    ) -> Result<(), VerifyError> {
        let shown = if path.is_empty() { "/" } else { path };
        let meta_bytes =
            self.v.dirmetas.get(meta).ok_or_else(|| {
                VerifyError::Tree(format!("dirmeta {meta} of {shown} is missing"))
            })?;
        self.used_metas.insert(meta.to_string());
        let mv = variant_of(meta_bytes, "(uuua(ayay))");
        let (uid, gid, mode, _xattrs): ostree::DirmetaVariantType = mv
            .try_get()
            .map_err(|_| VerifyError::Tree(format!("dirmeta {meta} of {shown} is malformed")))?;
        if visible {
            let mapped = format::map_tree_path(path);
            let found = self.v.dirs.get(mapped.as_ref()).ok_or_else(|| {
                VerifyError::Tree(format!("directory {shown} has no directory entry"))
            })?;
            let want = Owned {
                uid: u32::from_be(uid),
                gid: u32::from_be(gid),
                mode: u32::from_be(mode) & 0o7777,
            };
            if *found != want {
                return Err(VerifyError::Tree(format!(
                    "directory {shown}: entry has {found:?}, dirmeta {meta} says {want:?}"
                )));
            }
            self.matched_dirs.insert(mapped.into_owned());
            self.paths += 1;
        }
        let tree_bytes =
            self.v.dirtrees.get(tree).ok_or_else(|| {
                VerifyError::Tree(format!("dirtree {tree} of {shown} is missing"))
            })?;
        self.used_trees.insert(tree.to_string());
        let tv = variant_of(tree_bytes, "(a(say)a(sayay))");
        let (files, dirs) = ostree_format::checksum::dirtree_entries(&tv)
            .ok_or_else(|| VerifyError::Tree(format!("dirtree {tree} of {shown} is malformed")))?;
        for (name, csum) in files {
            let child = format::join(path, &name);
            let c = hex::encode(&csum);
            let (obj, empty) = self.v.content.get(&c).ok_or_else(|| {
                VerifyError::Tree(format!("content object {c} of {child} is missing"))
            })?;
            self.used_content.insert(c.clone());
            if !visible {
                continue;
            }
            let mapped = format::map_tree_path(&child);
            if !self.matched_paths.insert(mapped.to_string()) {
                return Err(VerifyError::Tree(format!(
                    "{child} is where another tree path is written"
                )));
            }
            match self.v.paths.get(mapped.as_ref()) {
                Some(PathEntry::Link(l)) if *l == c => {}
                Some(PathEntry::Link(l)) => {
                    return Err(VerifyError::Tree(format!(
                        "{child} links to object {l}, the tree says {c}"
                    )))
                }
                Some(PathEntry::EmptyFile(o)) => {
                    let want = Owned {
                        mode: obj.mode & 0o7777,
                        ..obj.clone()
                    };
                    if !*empty || *o != want {
                        return Err(VerifyError::Tree(format!(
                            "{child} is written as an empty file, which does not match object {c}"
                        )));
                    }
                }
                None => {
                    return Err(VerifyError::Tree(format!(
                        "{child} (object {c}) has no entry in any layer"
                    )))
                }
            }
            self.paths += 1;
        }
        for (name, tree_csum, meta_csum) in dirs {
            let child = format::join(path, &name);
            let child_visible = visible && !(path.is_empty() && name == format::SYSROOT_DIR);
            self.dir(
                &child,
                &hex::encode(&tree_csum),
                &hex::encode(&meta_csum),
                child_visible,
            )?;
        }
        Ok(())
    }
}

/// Directories the format adds when the commit lacks them (`var`, `var/tmp`; format.md),
/// with exactly the metadata the writer gives them.
fn format_dir(path: &str, o: &Owned) -> bool {
    let mode = match path {
        "var" => format::DEFAULT_DIR_MODE,
        "var/tmp" => format::VAR_TMP_MODE,
        _ => return false,
    };
    *o == Owned {
        uid: 0,
        gid: 0,
        mode,
    }
}
