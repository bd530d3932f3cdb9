//! Importing while verifying (`StreamVerifier::importing_into`): each object is written into
//! the repository as its checksum is confirmed (regular files streamed by libostree, or
//! spooled for archive repositories), the commit and its detached metadata last.

use super::*;

impl StreamVerifier {
    /// Where a regular file's bytes go when importing and the repo lacks the object.
    pub(super) fn content_writer(
        &self,
        checksum: &str,
        owner: &Owned,
        size: u64,
        xattrs: &[u8],
    ) -> Result<Option<ContentSink>, String> {
        let Some(repo) = &self.sink else {
            return Ok(None);
        };
        if repo
            .has_object(ostree::ObjectType::File, checksum, gio::Cancellable::NONE)
            .unwrap_or(false)
        {
            return Ok(None);
        }
        let w = |x: ostree::glib::Error| format!("writing into the repo: {}", x.message());
        let xv = variant_of(xattrs, "a(ayay)");
        if repo.mode() == ostree::RepoMode::Archive {
            // libostree cannot stream a regular file into an archive repo; spool it to disk
            // (never to memory) and hand it over as a content stream. The spool lives in the
            // repo's own tmp/, on the filesystem the object is going to anyway: a huge forged
            // object costs the space a real one would, never a tmpfs $TMPDIR (RAM).
            let tmp = repo
                .path()
                .path()
                .map(|p| p.join("tmp"))
                .filter(|p| p.is_dir())
                .unwrap_or_else(std::env::temp_dir);
            let file = tempfile::NamedTempFile::new_in(&tmp)
                .map_err(|x| format!("temp file in {}: {x}", tmp.display()))?;
            return Ok(Some(ContentSink::Spool {
                repo: repo.clone(),
                file,
                checksum: checksum.to_string(),
                uid: owner.uid,
                gid: owner.gid,
                mode: S_IFREG | owner.mode,
                size,
                xattrs: xv,
            }));
        }
        repo.write_regfile(
            Some(checksum),
            owner.uid,
            owner.gid,
            S_IFREG | owner.mode,
            size,
            Some(&xv),
        )
        .map(|cw| Some(ContentSink::Writer(cw)))
        .map_err(w)
    }

    /// Importing: the commit and its detached metadata go in last, once everything verified.
    pub(super) fn write_commit(
        repo: &ostree::Repo,
        commit: &str,
        cv: &ostree::glib::Variant,
        commitmeta: Option<&[u8]>,
    ) -> Result<(), VerifyError> {
        let failed = |x: ostree::glib::Error| {
            VerifyError::Tree(format!(
                "writing commit {commit} into the repo: {}",
                x.message()
            ))
        };
        repo.write_metadata(
            ostree::ObjectType::Commit,
            Some(commit),
            cv,
            gio::Cancellable::NONE,
        )
        .map_err(failed)?;
        if let Some(meta) = commitmeta {
            repo.write_commit_detached_metadata(
                commit,
                Some(&variant_of(meta, "a{sv}")),
                gio::Cancellable::NONE,
            )
            .map_err(failed)?;
        }
        Ok(())
    }
}

/// A regular file on its way into the repo being imported into.
pub(super) enum ContentSink {
    /// Streamed by libostree (bare modes).
    Writer(ostree::ContentWriter),
    /// Spooled to a temp file, then written as a content stream (archive mode).
    Spool {
        repo: ostree::Repo,
        file: tempfile::NamedTempFile,
        checksum: String,
        uid: u32,
        gid: u32,
        mode: u32,
        size: u64,
        xattrs: ostree::glib::Variant,
    },
}

impl ContentSink {
    pub(super) fn write(&mut self, data: &[u8]) -> Result<(), String> {
        match self {
            ContentSink::Writer(w) => w
                .write_all(data, gio::Cancellable::NONE)
                .map(|_| ())
                .map_err(|x| format!("writing into the repo: {}", x.message())),
            ContentSink::Spool { file, .. } => {
                std::io::Write::write_all(file, data).map_err(|x| format!("spooling: {x}"))
            }
        }
    }

    pub(super) fn finish(self) -> Result<(), String> {
        let w = |x: ostree::glib::Error| format!("writing into the repo: {}", x.message());
        match self {
            ContentSink::Writer(cw) => cw.finish(gio::Cancellable::NONE).map(|_| ()).map_err(w),
            ContentSink::Spool {
                repo,
                file,
                checksum,
                uid,
                gid,
                mode,
                size,
                xattrs,
            } => {
                let info = gio::FileInfo::new();
                info.set_file_type(gio::FileType::Regular);
                info.set_size(size as i64);
                info.set_attribute_uint32("unix::uid", uid);
                info.set_attribute_uint32("unix::gid", gid);
                info.set_attribute_uint32("unix::mode", mode);
                let input = gio::File::for_path(file.path())
                    .read(gio::Cancellable::NONE)
                    .map_err(w)?;
                let (stream, len) = ostree::raw_file_to_content_stream(
                    &input,
                    &info,
                    Some(&xattrs),
                    gio::Cancellable::NONE,
                )
                .map_err(w)?;
                repo.write_content(Some(&checksum), &stream, len, gio::Cancellable::NONE)
                    .map_err(w)?;
                Ok(())
            }
        }
    }
}
