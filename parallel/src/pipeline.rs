//! A bounded, ordered pipeline: worker threads turn numbered batches into results, the
//! calling thread consumes them in number order. One layer's tar stream is made this way on
//! trees of many small files, where opening, reading, hashing and tarring each object (not
//! compressing) is what limits a single stream: the workers make pieces of the stream, the
//! caller writes them out in order, so the bytes are those of one thread.

use std::collections::BTreeMap;
use std::sync::{Condvar, Mutex, MutexGuard};

struct State<T, E> {
    /// Next batch a worker may take.
    next: usize,
    /// Batches the consumer has taken (all below this number).
    consumed: usize,
    ready: BTreeMap<usize, Result<T, E>>,
    /// Set when the consumer stops early (an error) or a worker panicked.
    stop: bool,
}

struct Shared<T, E> {
    state: Mutex<State<T, E>>,
    changed: Condvar,
}

impl<T, E> Shared<T, E> {
    fn lock(&self) -> MutexGuard<'_, State<T, E>> {
        // A worker that panics sets `stop` from its guard, never while holding the lock.
        self.state
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
    }

    fn stop(&self) {
        self.lock().stop = true;
        self.changed.notify_all();
    }
}

/// Stops the pipeline when dropped: by the consumer when it returns (errors included), by a
/// worker when it unwinds (so the consumer does not wait for a batch that will never come).
struct StopOnDrop<'a, T, E>(&'a Shared<T, E>, bool);

impl<T, E> Drop for StopOnDrop<'_, T, E> {
    fn drop(&mut self) {
        if self.1 || std::thread::panicking() {
            self.0.stop();
        }
    }
}

/// Run `work(state, i)` for `i` in `0..batches`, one worker thread per state, at most
/// `window` batches ahead of the consumer, and hand each result to `consume` on this thread
/// in order. The first error (in batch order) is returned and no new batch starts after it;
/// a panicking worker becomes `panicked()`.
pub fn run<S: Send, T: Send, E: Send>(
    states: Vec<S>,
    batches: usize,
    window: usize,
    work: impl Fn(&mut S, usize) -> Result<T, E> + Sync,
    mut consume: impl FnMut(usize, T) -> Result<(), E>,
    panicked: impl Fn() -> E,
) -> Result<(), E> {
    let window = window.max(1);
    let shared = Shared {
        state: Mutex::new(State {
            next: 0,
            consumed: 0,
            ready: BTreeMap::new(),
            stop: false,
        }),
        changed: Condvar::new(),
    };
    std::thread::scope(|s| {
        for mut state in states {
            let (shared, work) = (&shared, &work);
            s.spawn(move || {
                let _stop = StopOnDrop(shared, false);
                loop {
                    let i = {
                        let mut g = shared.lock();
                        while !g.stop && g.next < batches && g.next >= g.consumed + window {
                            g = shared
                                .changed
                                .wait(g)
                                .unwrap_or_else(std::sync::PoisonError::into_inner);
                        }
                        if g.stop || g.next >= batches {
                            return;
                        }
                        g.next += 1;
                        g.next - 1
                    };
                    let r = work(&mut state, i);
                    let mut g = shared.lock();
                    g.ready.insert(i, r);
                    drop(g);
                    shared.changed.notify_all();
                }
            });
        }
        let _stop = StopOnDrop(&shared, true);
        for i in 0..batches {
            let r = {
                let mut g = shared.lock();
                loop {
                    if let Some(r) = g.ready.remove(&i) {
                        g.consumed = i + 1;
                        break r;
                    }
                    if g.stop {
                        return Err(panicked());
                    }
                    g = shared
                        .changed
                        .wait(g)
                        .unwrap_or_else(std::sync::PoisonError::into_inner);
                }
            };
            shared.changed.notify_all();
            consume(i, r?)?;
        }
        Ok(())
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::sync::atomic::{AtomicUsize, Ordering};

    #[test]
    fn results_arrive_in_order_whatever_finishes_first() {
        let mut seen = Vec::new();
        let r: Result<(), String> = run(
            vec![(), (), ()],
            50,
            4,
            |_, i| {
                // Later batches finish first.
                std::thread::sleep(std::time::Duration::from_micros(((50 - i) * 30) as u64));
                Ok(i * 10)
            },
            |i, v| {
                seen.push((i, v));
                Ok(())
            },
            || "panic".into(),
        );
        r.expect("ok");
        assert_eq!(seen, (0..50).map(|i| (i, i * 10)).collect::<Vec<_>>());
    }

    #[test]
    fn never_more_than_the_window_ahead() {
        let started = AtomicUsize::new(0);
        let r: Result<(), String> = run(
            vec![(), ()],
            40,
            3,
            |_, _| {
                started.fetch_add(1, Ordering::SeqCst);
                Ok(())
            },
            |i, ()| {
                // Batch i is consumed: at most i + 1 + window batches can have started.
                std::thread::sleep(std::time::Duration::from_millis(1));
                assert!(started.load(Ordering::SeqCst) <= i + 1 + 3);
                Ok(())
            },
            || "panic".into(),
        );
        r.expect("ok");
    }

    #[test]
    fn the_first_error_in_order_is_returned_and_work_stops() {
        let started = AtomicUsize::new(0);
        let r: Result<(), String> = run(
            vec![(), ()],
            1000,
            2,
            |_, i| {
                started.fetch_add(1, Ordering::SeqCst);
                if i == 7 || i == 9 {
                    Err(format!("batch {i}"))
                } else {
                    Ok(())
                }
            },
            |_, ()| Ok(()),
            || "panic".into(),
        );
        assert_eq!(r, Err("batch 7".into()));
        assert!(started.load(Ordering::SeqCst) < 20);
        // A consumer error stops it too.
        let r: Result<(), String> = run(
            vec![()],
            1000,
            2,
            |_, _| Ok(()),
            |i, ()| if i == 3 { Err("full".into()) } else { Ok(()) },
            || "panic".into(),
        );
        assert_eq!(r, Err("full".into()));
    }

    #[test]
    fn a_panicking_worker_is_an_error_not_a_hang() {
        let r = std::panic::catch_unwind(|| {
            run(
                vec![(), ()],
                100,
                2,
                |_, i| {
                    assert!(i != 5, "worker fails on batch 5");
                    Ok::<(), String>(())
                },
                |_, ()| Ok(()),
                || "a worker panicked".to_string(),
            )
        });
        // The scope re-raises the worker's panic once the consumer has returned.
        assert!(r.is_err());
    }
}
