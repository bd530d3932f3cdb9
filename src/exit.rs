//! Exit statuses, one mapping for both binaries (`ostree-encap` and the coreos-assembler
//! plugin), as docs/cli.md documents them:
//!
//! | status | meaning |
//! |---|---|
//! | 0 | success |
//! | 1 | any error; the message names the repo, ref, object, path, option or key at fault |
//! | 2 | usage error (unknown option, missing value), reported by clap before any work |
//! | 141 | standard output was closed by its reader (`... | head -1`), as a SIGPIPE death |
//!
//! There is no finer split on purpose: what a CI script could branch on (a missing ref, a
//! damaged image) is named in the message, not in a number.

use std::process::ExitCode;

/// An error was reported.
pub const FAILURE: u8 = 1;

/// Standard output was closed by its reader: not an error to report, the process just ends.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
#[error("standard output was closed")]
pub struct StdoutClosed;

impl StdoutClosed {
    /// The exit status for a closed output: 128 + SIGPIPE, what shells show for other tools.
    pub const EXIT_STATUS: u8 = 141;

    /// Whether `e` is (or wraps) a closed standard output.
    pub fn is(e: &anyhow::Error) -> bool {
        e.downcast_ref::<StdoutClosed>().is_some()
    }
}

/// Report the outcome of a run on stderr and turn it into the exit status.
pub fn report(result: anyhow::Result<()>) -> ExitCode {
    match result {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) if StdoutClosed::is(&e) => ExitCode::from(StdoutClosed::EXIT_STATUS),
        Err(e) => {
            eprintln!("error: {e:#}");
            ExitCode::from(FAILURE)
        }
    }
}
