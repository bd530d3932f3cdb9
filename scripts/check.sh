#!/usr/bin/env bash
# The fast tier (`make check`): formatting, lints, unit tests, and the integration tests that
# need only the ostree CLI (errors, tamper, chunking, robustness, hostile). A few minutes on 2 cores.
# The full suite (interop with the ostree-ext importer, skopeo, umoci, the registry, install)
# is scripts/test.sh, which CI runs.
set -euo pipefail
cd "$(dirname "$0")/.."
scripts/lint.sh
echo "== unit tests and ostree-CLI-only integration tests"
cargo test --workspace --lib --bins
cargo test --test errors --test tamper --test chunking --test robustness --test hostile --test module_graph --test crate_graph
