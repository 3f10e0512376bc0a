#!/usr/bin/env bash
# Installs the POSIX conformance tools into target/tools/bin (git-ignored, so CI builds them once
# per run and a developer once per work tree):
#   pjdfstest  the Rust rewrite of the pjd POSIX file system test suite (crate `pjdfstest`)
#   fsx        the File System eXerciser, Rust port (crate `fsx`, repository fsx-rs)
# Skips a tool whose binary is already there. Needs only crates.io.
set -euo pipefail
cd "$(dirname "$0")/../.."
ROOT="$PWD/target/tools"
PJDFSTEST_VERSION=0.2.2
FSX_VERSION=0.3.2

install() { # crate version binary
  if [ -x "$ROOT/bin/$3" ]; then
    echo "install-tools: $3 already in $ROOT/bin"
    return
  fi
  local start=$SECONDS
  echo "install-tools: building $1 $2 ..."
  cargo install --quiet --locked --root "$ROOT" --version "$2" "$1"
  echo "install-tools: $1 built in $((SECONDS - start)) s"
}

install pjdfstest "$PJDFSTEST_VERSION" pjdfstest
install fsx "$FSX_VERSION" fsx
