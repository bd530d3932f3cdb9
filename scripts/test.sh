#!/usr/bin/env bash
# The test suite: formatting, lints, and every test (unit, integration, interop with the real
# ostree-ext importer, skopeo and umoci). Needs scripts/setup.sh to have run once.
#
# The three outside crates (the ostree-ext importer, the sigstore-rs verifier and the oci-delta
# consumers composefs-oci and oci-delta, each its own
# workspace and Cargo.lock) are built in the background while the workspace is linted and its
# tests are built: on 2 cores that fills the gaps of either build. Their build directory is
# kept outside the clone (ENCAP_OUTSIDE_TARGET, default ~/.cache/ostree-encap/outside), so a
# second run on the same machine, a new clone included, does not build their dependencies
# again. Phase times are printed at the end, also when a phase fails.
set -euo pipefail
cd "$(dirname "$0")/.."
start=$(date +%s)
phases=()
log=target/test-phases
mkdir -p "$log"

report() {
  echo "== phase times (scripts/test.sh)"
  for p in "${phases[@]}"; do echo "  $p"; done
  if [ -s "$log/binaries" ]; then
    echo "  test binaries, each:"
    sed 's/^/    /' "$log/binaries"
  fi
  printf '  %-44s %5d s\n' "total" $(($(date +%s) - start))
}
trap report EXIT

# phase NAME CMD...: run CMD, note how long it took (and whether it failed).
phase() {
  local name=$1 t rc=0
  shift
  t=$(date +%s)
  "$@" || rc=$?
  phases+=("$(printf '%-44s %5d s%s' "$name" $(($(date +%s) - t)) "$([ $rc = 0 ] || echo " (failed: $rc)")")")
  return $rc
}

# A fresh clone builds everything once: incremental compilation only costs there.
if [ "${CI:-}" = true ]; then export CARGO_INCREMENTAL=0; fi

outside=${ENCAP_OUTSIDE_TARGET:-${XDG_CACHE_HOME:-$HOME/.cache}/ostree-encap/outside}
build_outside() {
  local t
  t=$(date +%s)
  echo "== building the ostree-ext 0.15.3 importer (tests/importer, its own Cargo.lock)"
  CARGO_TARGET_DIR="$outside/importer" cargo build --release --quiet \
    --manifest-path tests/importer/Cargo.toml
  echo "importer $(($(date +%s) - t))" >"$log/outside"
  t=$(date +%s)
  echo "== building the cosign signature verifier (tests/cosign-verifier: sigstore-rs, its own Cargo.lock)"
  CARGO_TARGET_DIR="$outside/cosign-verifier" cargo build --release --quiet \
    --manifest-path tests/cosign-verifier/Cargo.toml
  echo "verifier $(($(date +%s) - t))" >>"$log/outside"
  t=$(date +%s)
  echo "== building the oci-delta consumers (tests/delta-consumers: composefs-oci 0.9.4, oci-delta 0.1.1, its own Cargo.lock)"
  CARGO_TARGET_DIR="$outside/delta-consumers" cargo build --release --quiet \
    --manifest-path tests/delta-consumers/Cargo.toml
  echo "consumers $(($(date +%s) - t))" >>"$log/outside"
}
rm -f "$log/outside" "$log/binaries"
build_outside >"$log/outside.log" 2>&1 &
outside_pid=$!
export ENCAP_IMPORTER="$outside/importer/release/encap-importer"
export ENCAP_COSIGN_VERIFIER="$outside/cosign-verifier/release/cosign-verifier"
export ENCAP_DELTA_CONSUMERS="$outside/delta-consumers/release/delta-consumers"

phase "lint (fmt, clippy)" scripts/lint.sh
echo "== building the workspace's tests"
phase "workspace test build" cargo test --workspace --no-fail-fast --no-run --quiet
echo "== waiting for the outside crates"
wait_outside() {
  local rc=0
  wait "$outside_pid" || rc=$?
  cat "$log/outside.log"
  return $rc
}
phase "outside crates, waited for after that" wait_outside
while read -r what secs; do
  phases+=("$(printf '%-44s %5d s' "  (in the background: $what)" "$secs")")
done <"$log/outside"

echo "== cargo test"
# Each binary's time from cargo's own lines: "Running NAME (...)" then "... finished in Xs".
phase "cargo test (every binary)" bash -c 'set -o pipefail
  cargo test --workspace --no-fail-fast 2>&1 | tee "$0/cargo-test.log"' "$log"
awk '/^ *Running /{name=$2; if (name == "unittests" && match($0, /deps\/[A-Za-z0-9_]+-/))
       name="unittests " substr($0, RSTART + 5, RLENGTH - 6)}
     /^ *Doc-tests /{name="doc-tests " $2}
     /^test result:/{for(i=1;i<=NF;i++) if($i=="in") t=$(i+1); printf "%-40s %s\n", name, t}' \
  "$log/cargo-test.log" | awk '$NF+0 >= 1' >"$log/binaries"
