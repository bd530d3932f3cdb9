//! Read-ahead of object files. A layer reads its content objects one after another on one
//! thread, and every object whose pages are not in the page cache stops that thread — and the
//! compressors waiting for its output — for a disk read (corpus B, zstd single layer: 5.4 s
//! warm, 10.2 s after dropping caches). A helper thread walks the same order a bounded
//! distance ahead and asks the kernel to start reading each file (`posix_fadvise(WILLNEED)`),
//! so the reads come back from the cache or are already under way.
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
        advise(&objects.join(format::loose_object_relpath(&obj.sum.hex(), suffix)));
        i += 1;
        at.advised.store(i, Ordering::Relaxed);
    }
}

fn advise(path: &Path) {
    use rustix::fs::{fadvise, open, Advice, Mode, OFlags};
    let flags = OFlags::RDONLY | OFlags::NOFOLLOW | OFlags::CLOEXEC;
    if let Ok(fd) = open(path, flags, Mode::empty()) {
        // Errors only mean no read-ahead.
        let _ = fadvise(
            &fd,
            0,
            NonZeroU64::new(format::PREFETCH_FILE_BYTES),
            Advice::WillNeed,
        );
    }
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
        let wait_for = |what: &dyn Fn() -> bool| {
            for _ in 0..400 {
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
}
