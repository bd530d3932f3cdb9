//! The metadata objects of a stream: the commit (first), its detached metadata (second),
//! dirtrees and dirmetas, and the `.file-xattrs-link` entries that give the next content
//! object its xattrs. Each is checked against its name and held (bounded) for the final
//! tree check.

use super::*;

impl StreamVerifier {
    pub(super) fn commit_object<R: Read>(
        &mut self,
        st: &LayerState,
        entry: &mut tar::Entry<'_, R>,
        o: Obj<'_>,
    ) -> Result<(), VerifyError> {
        if self.commit.is_some() {
            return Err(o.err("second commit object"));
        }
        if st.objects_seen != 1 {
            return Err(o.err("the commit object must be the first object of the commit layer"));
        }
        let data = read_meta(entry, o.ty, format::MAX_METADATA_SIZE).map_err(|r| o.err(&r))?;
        self.hold(data.len()).map_err(|r| o.err(&r))?;
        check_hash(&data, &o.checksum).map_err(|r| o.err(&r))?;
        self.commit = Some((o.checksum, data));
        Ok(())
    }

    pub(super) fn commitmeta_object<R: Read>(
        &mut self,
        st: &LayerState,
        entry: &mut tar::Entry<'_, R>,
        o: Obj<'_>,
    ) -> Result<(), VerifyError> {
        let Some((commit, _)) = &self.commit else {
            return Err(o.err("detached metadata before the commit object"));
        };
        if st.objects_seen != 2 {
            return Err(o.err("detached metadata must come right after the commit object"));
        }
        if *commit != o.checksum {
            return Err(o.err(&format!(
                "detached metadata is named for {}, the commit is {commit}",
                o.checksum
            )));
        }
        let data = read_meta(entry, o.ty, format::MAX_METADATA_SIZE).map_err(|r| o.err(&r))?;
        self.hold(data.len()).map_err(|r| o.err(&r))?;
        let v = variant_of(&data, "a{sv}");
        if !v.is_normal_form() {
            return Err(o.err("detached metadata is not a valid a{sv}"));
        }
        self.commitmeta = Some(data);
        Ok(())
    }

    pub(super) fn tree_object<R: Read>(
        &mut self,
        entry: &mut tar::Entry<'_, R>,
        o: Obj<'_>,
        kind: ObjKind,
    ) -> Result<(), VerifyError> {
        if self.commit.is_none() {
            return Err(o.err("metadata object before the commit object"));
        }
        let data = read_meta(entry, o.ty, format::MAX_METADATA_SIZE).map_err(|r| o.err(&r))?;
        self.hold(data.len()).map_err(|r| o.err(&r))?;
        check_hash(&data, &o.checksum).map_err(|r| o.err(&r))?;
        if let Some(repo) = &self.sink {
            let (ot, ty) = if kind == ObjKind::DirTree {
                (ostree::ObjectType::DirTree, "(a(say)a(sayay))")
            } else {
                (ostree::ObjectType::DirMeta, "(uuua(ayay))")
            };
            repo.write_metadata(
                ot,
                Some(&o.checksum),
                &variant_of(&data, ty),
                gio::Cancellable::NONE,
            )
            .map_err(|x| o.err(&format!("writing into the repo: {}", x.message())))?;
        }
        let map = if kind == ObjKind::DirTree {
            &mut self.dirtrees
        } else {
            &mut self.dirmetas
        };
        if map.insert(o.checksum.clone(), data).is_some() {
            return Err(o.err("object appears twice"));
        }
        Ok(())
    }

    /// A `.file-xattrs-link`: the xattrs of the content object that must come next.
    pub(super) fn xattrs_link<R: Read>(
        st: &mut LayerState,
        entry: &mut tar::Entry<'_, R>,
        o: Obj<'_>,
    ) -> Result<(), VerifyError> {
        let blob = match o.ty {
            tar::EntryType::Regular => {
                read_meta(entry, o.ty, format::MAX_XATTRS_SIZE).map_err(|r| o.err(&r))?
            }
            tar::EntryType::Link => {
                let target = entry
                    .link_name_bytes()
                    .map(|t| String::from_utf8_lossy(&t).into_owned())
                    .unwrap_or_default();
                match parse_object_path(&target) {
                    Some((x, ObjKind::FileXattrs)) => {
                        st.xattr_blobs.get(&x).cloned().ok_or_else(|| {
                            o.err(&format!("links to xattrs {x} not written before it"))
                        })?
                    }
                    _ => {
                        return Err(o.err(&format!("links to {target}, not a .file-xattrs object")))
                    }
                }
            }
            other => return Err(o.err(&format!("unexpected {other:?} entry"))),
        };
        let v = variant_of(&blob, "a(ayay)");
        if !v.is_normal_form() {
            return Err(o.err("xattrs blob is not a valid a(ayay)"));
        }
        st.pending_xattrs = Some((o.checksum, blob));
        Ok(())
    }
}
