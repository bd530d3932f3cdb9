#!/usr/bin/env bash
# The test suite: formatting, lints, and every test (unit, integration, interop with the real
# ostree-ext importer, skopeo and umoci). Needs scripts/setup.sh to have run once.
set -euo pipefail
cd "$(dirname "$0")/.."
scripts/lint.sh
echo "== building the ostree-ext 0.15.3 importer (tests/importer, its own Cargo.lock)"
cargo build --release --quiet --manifest-path tests/importer/Cargo.toml
export ENCAP_IMPORTER="$PWD/tests/importer/target/release/encap-importer"
echo "== building the cosign signature verifier (tests/cosign-verifier: sigstore-rs, its own Cargo.lock)"
cargo build --release --quiet --manifest-path tests/cosign-verifier/Cargo.toml
export ENCAP_COSIGN_VERIFIER="$PWD/tests/cosign-verifier/target/release/cosign-verifier"
echo "== cargo test"
cargo test --workspace --no-fail-fast
