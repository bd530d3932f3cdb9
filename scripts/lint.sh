#!/usr/bin/env bash
# Formatting and lints, as both test tiers run them (scripts/check.sh, scripts/test.sh).
set -euo pipefail
cd "$(dirname "$0")/.."
echo "== cargo fmt --check"
cargo fmt --all -- --check
echo "== cargo clippy"
cargo clippy --workspace --all-targets --quiet -- -D warnings
