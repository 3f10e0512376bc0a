#!/usr/bin/env bash
# Runs every test: formatting, lints, unit tests and end-to-end tests with real FUSE mounts.
# Needs root (or /dev/fuse access); installs the packages and tools the tests use first.
set -euo pipefail
cd "$(dirname "$0")/.."
scripts/install-test-deps.sh
cargo fmt --all -- --check
cargo clippy --workspace --all-targets -- -D warnings
# The 1Fichier tests start the emulator binary, so build every binary first.
cargo build --workspace --bins
cargo test --workspace -- --test-threads="${TEST_THREADS:-2}"
