#!/usr/bin/env bash
# Runs every test: formatting, lints, unit tests and end-to-end tests with real FUSE mounts.
# Needs root (or /dev/fuse access); installs the packages and tools the tests use first.
set -euo pipefail
cd "$(dirname "$0")/.."
scripts/install-test-deps.sh
cargo fmt --all -- --check
cargo clippy --workspace --all-targets -- -D warnings
# The Windows .exe (run under Wine by cli/tests/windows.rs) and the macOS check.
if [[ -f target/tools/cross-ready ]]; then
  scripts/cross/build.sh
  export OURCLONE_REQUIRE_WINE=1
else
  echo "test.sh: WARNING: no Windows/macOS targets; cross builds and the Wine test skipped" >&2
fi
# No separate `cargo build --bins`: every test starts the 1Fichier emulator in-process and gets
# the ourclone-fs binary from cargo test itself (CARGO_BIN_EXE); a plain build resolves features
# without the dev-dependencies and so compiled the whole stack a third time.
cargo test --workspace -- --test-threads="${TEST_THREADS:-2}"
