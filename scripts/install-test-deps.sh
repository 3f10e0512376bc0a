#!/usr/bin/env bash
# Installs what the test suite needs, idempotently: Debian packages (fuse3, rsync, git, the
# libacl headers pjdfstest links against, e2fsprogs for the small-disk tests, mount and
# systemd for the fstab and unit tests) when missing, and
# the conformance tools (pjdfstest, fsx) into target/tools. Called by scripts/test.sh, so the
# README's test command works on a fresh machine by itself.
set -euo pipefail
cd "$(dirname "$0")/.."

need=()
for pkg in fuse3 rsync git curl python3 util-linux mount systemd libacl1-dev e2fsprogs attr; do
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
