//! The command line, in the order a run goes through it: [`args`] (what can be typed, and
//! the help), [`request`] (arguments → library request), [`run`] (call the library, render
//! the result), [`progress`] (what is drawn on stderr meanwhile).

pub(crate) mod args;
pub(crate) mod progress;
pub(crate) mod request;
pub(crate) mod run;

/// `--jobs N`: 0 means one per CPU.
pub(crate) fn jobs(n: usize) -> usize {
    ostree_encap::threads(n)
}
