#!/usr/bin/env bash
# The Windows and macOS builds (issue 15), run by scripts/test.sh after the toolchains are in:
#  - `ourclone-fs.exe` for x86_64-pc-windows-gnu, linked by Debian's mingw-w64, warnings denied;
#    cli/tests/windows.rs runs it under Wine;
#  - `cargo check` of the whole binary for aarch64-apple-darwin. Three build scripts compile C
#    that needs Apple's SDK headers (TargetConditionals.h, stdlib.h), which no Debian package
#    carries and Apple licenses only for its own machines: ring (TLS crypto, via rustls),
#    zstd-sys (backup compression), and fuser's probe for macFUSE's libfuse. The check stands in
#    for their outputs (ring and zstd by `links` overrides, blake3 takes its pure-Rust path,
#    fuser finds a fuse.pc that names no library): every line of Rust is type-checked for
#    macOS, nothing is linked, and those C parts are left to a build on a Mac.
set -euo pipefail
cd "$(dirname "$0")/../.."

RUSTFLAGS="-D warnings" cargo build --target x86_64-pc-windows-gnu -p ourclone-cli --bin ourclone-fs

pc=target/tools/macos-pkgconfig
mkdir -p "$pc"
cat > "$pc/fuse.pc" <<'PC'
Name: fuse
Description: stands in for macFUSE's libfuse in a type check (nothing is linked)
Version: 2.9.9
Libs:
Cflags:
PC
ring_links=$(sed -n 's/^links = "\(ring_core[^"]*\)"/\1/p' "$(cargo metadata --format-version 1 \
  | python3 -c 'import json,sys; print([p["manifest_path"] for p in json.load(sys.stdin)["packages"] if p["name"]=="ring"][0])')")
CARGO_FEATURE_PURE=1 PKG_CONFIG_PATH="$PWD/$pc" PKG_CONFIG_ALLOW_CROSS=1 RUSTFLAGS="-D warnings" \
  cargo check --target aarch64-apple-darwin -p ourclone-cli \
  --config "target.aarch64-apple-darwin.${ring_links}.rustc-link-lib=[]" \
  --config 'target.aarch64-apple-darwin.zstd.rustc-link-lib=[]'
echo "cross: ourclone-fs.exe built; the macOS check passed"
