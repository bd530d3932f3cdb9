//! Pause points for fault-injection tests, in debug builds only (release builds compile
//! [`point`] to nothing).
//!
//! A test that kills a run with SIGKILL must know the kill lands mid-way. Timing a run and
//! killing later runs at fractions of that time does not: a machine busier during one run
//! than another moves the kills past the end. Instead the run announces where it is:
//!
//! - [`LOG_ENV`] names a file; every point passed is appended to it as a line (a census run
//!   learns how many points a job passes).
//! - [`PAUSE_AT_ENV`] = `K`: the K-th point passed (counted from 1, over all threads) stops
//!   its thread for good after creating the file named by [`READY_ENV`]. The run cannot end
//!   while that thread is stopped (every point is on a path the run waits for), so a kill
//!   after the file appears lands mid-way by construction.

/// File to which every point passed is appended, one name a line.
pub const LOG_ENV: &str = "OSTREE_ENCAP_TEST_POINTS";
/// The number of the point (from 1) at which the run stops.
pub const PAUSE_AT_ENV: &str = "OSTREE_ENCAP_TEST_PAUSE_AT";
/// File created when the run has stopped at its pause point.
pub const READY_ENV: &str = "OSTREE_ENCAP_TEST_PAUSED";

/// A point of the run a test may stop it at: a layer is about to be written, a blob was
/// linked into place, the index is about to be replaced, an archive entry was written, the
/// archive is about to be renamed into place, an image's tree was made (`--from`, `verify`).
#[inline]
pub fn point(name: &str) {
    #[cfg(debug_assertions)]
    imp::point(name);
    #[cfg(not(debug_assertions))]
    let _ = name;
}

#[cfg(debug_assertions)]
mod imp {
    use std::io::Write;
    use std::sync::atomic::{AtomicU64, Ordering};
    use std::sync::Mutex;

    static PASSED: AtomicU64 = AtomicU64::new(0);
    static LOG: Mutex<()> = Mutex::new(());

    pub fn point(name: &str) {
        let log = std::env::var_os(super::LOG_ENV);
        let at = std::env::var(super::PAUSE_AT_ENV).ok();
        if log.is_none() && at.is_none() {
            return;
        }
        let n = PASSED.fetch_add(1, Ordering::SeqCst) + 1;
        if let Some(log) = log {
            let _guard = LOG.lock();
            if let Ok(mut f) = std::fs::OpenOptions::new()
                .append(true)
                .create(true)
                .open(log)
            {
                let _ = writeln!(f, "{name}");
            }
        }
        if at.and_then(|a| a.parse::<u64>().ok()) == Some(n) {
            if let Some(ready) = std::env::var_os(super::READY_ENV) {
                let _ = std::fs::write(ready, format!("{n} {name}\n"));
            }
            loop {
                std::thread::park();
            }
        }
    }
}
