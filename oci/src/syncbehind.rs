//! Writing a big blob so that its final fsync is short.
//!
//! The kernel keeps a freshly written blob in the page cache until it is told to write it
//! out, so the fsync that makes a blob durable used to write all of it at the very end, on
//! the critical path (0.57 s for a 370 MB layer here, with both cores idle). [`SyncBehind`]
//! has a helper thread `fdatasync` the file every [`keys::SYNC_BEHIND`] bytes while
//! compression goes on, so the final fsync only has the tail left. The writer never waits for
//! the helper; an error the helper hits is returned by [`SyncBehind::finish`].

use crate::keys;
use std::io::{self, Write};
use std::sync::mpsc::{self, SyncSender, TrySendError};
use std::thread::JoinHandle;

/// A temp file being written, synced behind the writer.
pub(crate) struct SyncBehind<'a> {
    tmp: cap_tempfile::TempFile<'a>,
    unsynced: u64,
    helper: Option<(SyncSender<()>, JoinHandle<io::Result<()>>)>,
}

impl<'a> SyncBehind<'a> {
    pub(crate) fn new(tmp: cap_tempfile::TempFile<'a>) -> Self {
        SyncBehind {
            tmp,
            unsynced: 0,
            helper: None,
        }
    }

    /// Ask the helper (started on first use) to sync what has been written so far.
    fn sync_behind(&mut self) -> io::Result<()> {
        if self.helper.is_none() {
            let file = self.tmp.as_file().try_clone()?;
            // One request can wait while a sync runs; more would only repeat it.
            let (tx, rx) = mpsc::sync_channel::<()>(1);
            let handle = std::thread::Builder::new()
                .name("sync-behind".into())
                .spawn(move || {
                    for () in rx {
                        file.sync_data()?;
                    }
                    Ok(())
                })?;
            self.helper = Some((tx, handle));
        }
        if let Some((tx, _)) = &self.helper {
            match tx.try_send(()) {
                // Full: a request is already queued and will cover these bytes too.
                Ok(()) | Err(TrySendError::Full(())) => {}
                // The helper stopped on an error; finish() reports it.
                Err(TrySendError::Disconnected(())) => {}
            }
        }
        Ok(())
    }

    /// Stop the helper and hand back the file, or the first error the helper hit.
    pub(crate) fn finish(self) -> io::Result<cap_tempfile::TempFile<'a>> {
        if let Some((tx, handle)) = self.helper {
            drop(tx);
            handle
                .join()
                .map_err(|_| io::Error::other("sync-behind thread panicked"))??;
        }
        Ok(self.tmp)
    }
}

impl Write for SyncBehind<'_> {
    fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
        let n = self.tmp.write(buf)?;
        self.unsynced += n as u64;
        if self.unsynced >= keys::SYNC_BEHIND {
            self.unsynced = 0;
            self.sync_behind()?;
        }
        Ok(n)
    }
    fn flush(&mut self) -> io::Result<()> {
        self.tmp.flush()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::io::Read;

    #[test]
    fn bytes_arrive_whole_across_many_background_syncs() {
        let td = cap_tempfile::tempdir(cap_std::ambient_authority()).unwrap();
        let tmp = cap_tempfile::TempFile::new(&td).unwrap();
        let mut w = SyncBehind::new(tmp);
        let chunk: Vec<u8> = (0..=255u8).cycle().take(1 << 20).collect();
        let rounds = (3 * keys::SYNC_BEHIND as usize) / chunk.len() + 1;
        for _ in 0..rounds {
            w.write_all(&chunk).unwrap();
        }
        assert!(w.helper.is_some(), "the helper started");
        let tmp = w.finish().unwrap();
        tmp.replace("blob").unwrap();
        let mut back = Vec::new();
        td.open("blob").unwrap().read_to_end(&mut back).unwrap();
        assert_eq!(back.len(), rounds * chunk.len());
        assert!(back.chunks(chunk.len()).all(|c| c == chunk.as_slice()));
    }

    #[test]
    fn small_blobs_start_no_thread() {
        let td = cap_tempfile::tempdir(cap_std::ambient_authority()).unwrap();
        let mut w = SyncBehind::new(cap_tempfile::TempFile::new(&td).unwrap());
        w.write_all(b"small").unwrap();
        assert!(w.helper.is_none());
        w.finish().unwrap();
    }
}
