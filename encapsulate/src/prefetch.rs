//! Read-ahead of object files. A layer reads its content objects one after another on one
//! thread, and every object whose pages are not in the page cache stops that thread — and the
//! compressors waiting for its output — for a disk read (corpus B, zstd single layer: 5.4 s
//! warm, 10.2 s after dropping caches). A helper thread walks the same order a bounded
//! distance ahead and asks the kernel to start reading each file (`posix_fadvise(WILLNEED)`),
//! so the reads come back from the cache or are already under way.
//!
//! On a warm cache that advice only costs: an open and a close per file on a third thread
//! beside the layer's two. So the helper first asks whether a file's first page is cached
//! (a one-byte `preadv2` with `RWF_NOWAIT`, which fails rather than wait for the disk) and
//! advises only files that are not; after [`format::PREFETCH_WARM_STREAK`] cached files in a
//! row it looks at one file in [`format::PREFETCH_WARM_SAMPLE`], and the first one not cached
//! puts it back to looking at every file.
//!
//! Advice only: a file it cannot open is skipped, it never follows symlinks (bare repos
//! store symlink objects as symlinks), and nothing it does changes any output.

use crate::export::Placed;
use ostree_format as format;
use std::num::NonZeroU64;
use std::path::Path;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};

/// Shared between a layer's reader and its read-ahead helper. The reader only stores to it
/// (no syscalls per object: a channel handing the helper one token per object cost a futex
/// wake and two context switches per file, 0.3 s of system time on corpus B).
#[derive(Debug, Default)]
pub(crate) struct Position {
    /// The index the reader is at.
    pub(crate) reached: AtomicUsize,
    /// Set when the reader is done (or failed): the helper stops.
    pub(crate) stop: AtomicBool,
    /// One past the furthest index advised so far.
    pub(crate) advised: AtomicUsize,
    /// Files the helper opened (how much the sampling saved; tests).
    pub(crate) looked: AtomicUsize,
}

impl Position {
    /// A guard that sets `stop` when dropped.
    pub(crate) fn stop_on_drop(&self) -> StopOnDrop<'_> {
        StopOnDrop(self)
    }
}

/// See [`Position::stop_on_drop`].
pub(crate) struct StopOnDrop<'a>(&'a Position);

impl Drop for StopOnDrop<'_> {
    fn drop(&mut self) {
        self.0.stop.store(true, Ordering::Relaxed);
    }
}

/// Advise the kernel to read the object files of `order` (checksums, under `objects` with
/// `suffix`), at most [`format::PREFETCH_AHEAD`] files ahead of the reader, waiting
/// [`format::PREFETCH_POLL`] at a time when that far ahead. Returns when the list ends or
/// `at.stop` is set.
pub(crate) fn run(objects: &Path, suffix: &str, order: &[Placed<'_>], at: &Position) {
    let mut i = 0;
    // Files in a row found cached.
    let mut cached = 0;
    while !at.stop.load(Ordering::Relaxed) {
        let reached = at.reached.load(Ordering::Relaxed);
        // Never work behind the reader: what it has reached it reads anyway.
        i = i.max(reached + 1);
        let Some(obj) = order.get(i) else {
            return;
        };
        if i > reached + format::PREFETCH_AHEAD {
            std::thread::sleep(format::PREFETCH_POLL);
            continue;
        }
        let warm = cached >= format::PREFETCH_WARM_STREAK;
        if !warm || i % format::PREFETCH_WARM_SAMPLE == 0 {
            let path = objects.join(format::loose_object_relpath(&obj.sum.hex(), suffix));
            match advise(&path) {
                Some(Cache::Hit) => cached += 1,
                Some(Cache::Miss) => cached = 0,
                None => {}
            }
            at.looked.fetch_add(1, Ordering::Relaxed);
        }
        i += 1;
        at.advised.store(i, Ordering::Relaxed);
    }
}

/// Whether a file's first page was in the page cache.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Cache {
    Hit,
    Miss,
}

/// Ask the kernel to read `path` unless its first page is cached; `None` if it cannot be
/// opened (missing, a symlink).
fn advise(path: &Path) -> Option<Cache> {
    use rustix::fs::{fadvise, open, Advice, Mode, OFlags};
    use rustix::io::{preadv2, ReadWriteFlags};
    let flags = OFlags::RDONLY | OFlags::NOFOLLOW | OFlags::CLOEXEC;
    let fd = open(path, flags, Mode::empty()).ok()?;
    let mut byte = [0u8; 1];
    let probe = preadv2(
        &fd,
        &mut [std::io::IoSliceMut::new(&mut byte)],
        0,
        ReadWriteFlags::NOWAIT,
    );
    // An empty file reads 0 bytes: nothing to fetch either. Any error (EAGAIN: not cached;
    // EOPNOTSUPP: a filesystem without RWF_NOWAIT) means advise.
    if probe.is_ok() {
        return Some(Cache::Hit);
    }
    // Errors only mean no read-ahead.
    let _ = fadvise(
        &fd,
        0,
        NonZeroU64::new(format::PREFETCH_FILE_BYTES),
        Advice::WillNeed,
    );
    Some(Cache::Miss)
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::time::Duration;

    /// The helper stays a bounded number of files ahead, skips what it cannot open (missing
    /// files, symlinks), jumps to where the reader is, and stops when told to.
    #[test]
    fn stays_ahead_by_a_bounded_distance_and_stops_with_the_reader() {
        let dir = tempfile::tempdir().expect("tempdir");
        let n = 3 * format::PREFETCH_AHEAD;
        let all: Vec<String> = (0..n).map(|i| format!("{i:064x}")).collect();
        for (i, c) in all.iter().enumerate() {
            let p = dir.path().join(format::loose_object_relpath(c, "file"));
            std::fs::create_dir_all(p.parent().expect("parent")).expect("mkdir");
            match i % 3 {
                0 => std::fs::write(&p, vec![b'x'; 5000]).expect("write"),
                1 => std::os::unix::fs::symlink("../../nowhere", &p).expect("symlink"),
                _ => {} // missing
            }
        }
        let sums: Vec<layering::Checksum> = all.iter().map(|c| c.parse().expect("hex")).collect();
        let order: Vec<Placed<'_>> = sums.iter().map(|sum| Placed { sum, at: None }).collect();
        let at = Position::default();
        // Polls until true; the bound only ends a hung test (a loaded machine may take
        // seconds to schedule the helper).
        let wait_for = |what: &dyn Fn() -> bool| {
            for _ in 0..12_000 {
                if what() {
                    return true;
                }
                std::thread::sleep(Duration::from_millis(5));
            }
            false
        };
        std::thread::scope(|s| {
            let h = s.spawn(|| run(dir.path(), "file", &order, &at));
            // The reader at 0: the helper goes as far as it may, and no further.
            let limit = format::PREFETCH_AHEAD + 1;
            assert!(wait_for(&|| at.advised.load(Ordering::Relaxed) == limit));
            std::thread::sleep(Duration::from_millis(30));
            assert_eq!(at.advised.load(Ordering::Relaxed), limit);
            assert!(!h.is_finished());
            // The reader moves on: so does the helper, to the end of the list.
            at.reached.store(n - 5, Ordering::Relaxed);
            assert!(wait_for(&|| h.is_finished()));
            assert_eq!(at.advised.load(Ordering::Relaxed), n);
        });
        // A reader that is done stops the helper before it advises anything.
        let at = Position::default();
        at.stop.store(true, Ordering::Relaxed);
        run(dir.path(), "file", &order, &at);
        assert_eq!(at.advised.load(Ordering::Relaxed), 0);
    }

    /// Files in the page cache are not advised one by one: after a streak the helper only
    /// samples, and a file that is not cached puts it back to looking at every file.
    #[test]
    fn a_warm_cache_is_sampled_and_a_cold_file_ends_the_sampling() {
        use rustix::fs::{fadvise, Advice};
        use std::time::Duration;
        let dir = tempfile::tempdir().expect("tempdir");
        let n = 1200;
        let all: Vec<String> = (0..n).map(|i| format!("{i:064x}")).collect();
        let paths: Vec<std::path::PathBuf> = all
            .iter()
            .map(|c| dir.path().join(format::loose_object_relpath(c, "file")))
            .collect();
        for p in &paths {
            std::fs::create_dir_all(p.parent().expect("parent")).expect("mkdir");
            std::fs::write(p, b"cached content").expect("write");
        }
        let sums: Vec<layering::Checksum> = all.iter().map(|c| c.parse().expect("hex")).collect();
        let order: Vec<Placed<'_>> = sums.iter().map(|sum| Placed { sum, at: None }).collect();
        let looked = |order: &[Placed<'_>]| {
            let at = Position::default();
            // The reader is at the end already: the helper walks the list once.
            at.reached.store(0, Ordering::Relaxed);
            std::thread::scope(|s| {
                let h = s.spawn(|| run(dir.path(), "file", order, &at));
                for i in 0..n {
                    at.reached.store(i, Ordering::Relaxed);
                    while at.advised.load(Ordering::Relaxed) < (i + 1).min(n) && !h.is_finished() {
                        std::thread::yield_now();
                    }
                }
                at.stop.store(true, Ordering::Relaxed);
            });
            at.looked.load(Ordering::Relaxed)
        };
        let warm = looked(&order);
        let most = format::PREFETCH_WARM_STREAK + n / format::PREFETCH_WARM_SAMPLE + 2;
        assert!(
            warm <= most,
            "{warm} of {n} files looked at (at most {most})"
        );

        // The second half leaves the page cache (written back, then dropped): every one of
        // them is looked at again once the first is found cold. (Where the kernel keeps
        // them anyway, as tmpfs does, there is nothing to test.)
        let evict = || {
            for p in &paths[n / 2..] {
                let f = std::fs::File::open(p).expect("open");
                f.sync_all().expect("sync");
                let _ = fadvise(&f, 0, None, Advice::DontNeed);
            }
        };
        // The probe of the last file reads it back (a read that misses starts read-ahead):
        // evict again after it.
        let evicted = (0..5).any(|_| {
            evict();
            let cold = advise(&paths[n - 1]) == Some(Cache::Miss);
            evict();
            cold || {
                std::thread::sleep(Duration::from_millis(50));
                false
            }
        });
        if !evicted {
            eprintln!("the page cache keeps these files: the cold half is not tested");
            return;
        }
        let mixed = looked(&order);
        assert!(
            mixed >= n / 2 - format::PREFETCH_WARM_SAMPLE,
            "{mixed} looked at: the cold half is advised file by file"
        );
    }
}
