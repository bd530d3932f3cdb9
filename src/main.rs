//! The `ostree-encap` command line: parses arguments into plain requests, runs the library,
//! renders the result as text or `--json`. The parts live in [`cli`].

mod cli;

use clap::Parser;
use cli::args::{Cli, Command};
use std::process::ExitCode;

/// The verb under which `ostree` runs us as a CLI extension (`ostree encap ...` executes
/// `/usr/libexec/libostree/ext/ostree-encap encap ...`).
const OSTREE_EXT_VERB: &str = "encap";

fn main() -> ExitCode {
    let mut args: Vec<std::ffi::OsString> = std::env::args_os().collect();
    if args.get(1).is_some_and(|a| a == OSTREE_EXT_VERB) {
        args.remove(1);
    }
    let cli = Cli::parse_from(args);
    ostree_encap::exit::report(match cli.command {
        Some(Command::Verify(v)) => cli::run::run_verify(v),
        Some(Command::Diff(d)) => cli::run::run_diff(d),
        Some(Command::Push(p)) => cli::run::run_push(p),
        Some(Command::Import(i)) => cli::run::run_import(i),
        Some(Command::Index(x)) => cli::run::run_index(x),
        Some(Command::GenerateSigstoreKey(g)) => cli::run::run_generate_key(g),
        Some(Command::Serve(s)) => cli::run::run_serve(s),
        Some(Command::Delta(d)) => cli::run::run_delta(d),
        Some(Command::VerifyDelta(d)) => cli::run::run_verify_delta(d),
        Some(Command::ComposefsDigest(d)) => cli::run::run_composefs_digest(d),
        Some(Command::Mirror(m)) => cli::run::run_mirror(m),
        Some(Command::GenerateDocs {
            man_dir,
            completions_dir,
        }) => cli::run::generate_docs(&man_dir, &completions_dir),
        None => cli::run::run_encapsulate(cli.encap),
    })
}
