#!/usr/bin/env bash
# POSIX conformance of a real ourclone-fs mount of the local provider:
#   1. pjdfstest (the Rust rewrite) on the mount, compared with pjdfstest-expected-failures.txt:
#      any unexpected failure, any unexpected pass, and any listed name the suite does not
#      have make the run fail;
#   2. fsx with several fixed seeds (FSX_OPS operations each, default 20000), then an unmount
#      that drains the uploads, and a check that every file fsx left reached the "cloud" folder
#      byte for byte.
# Exits 0 only when everything matched. Needs root (pjdfstest switches users) and the tools
# from scripts/conformance/install-tools.sh.
#
# Usage: scripts/conformance/run.sh            the checks above
#        scripts/conformance/run.sh --baseline pjdfstest on a plain directory under /tmp
#                                              (the number to compare with), nothing checked
# Environment: OURCLONE_FS_BIN (default target/debug/ourclone-fs), FSX_SEEDS (default
# "1 2 3"), FSX_OPS (default 20000), CONFORMANCE_KEEP=1 keeps the work folder for a look;
# OURCLONE_FICHIER_ENDPOINT (an emulator already running, with key "conformance-key"; the
# test harness starts one) else OURCLONE_FICHIER_EMULATOR (a binary to start).
set -euo pipefail
cd "$(dirname "$0")/../.."
REPO="$PWD"
HERE="$REPO/scripts/conformance"
TOOLS="$REPO/target/tools/bin"
BIN="${OURCLONE_FS_BIN:-$REPO/target/debug/ourclone-fs}"
FSX_SEEDS="${FSX_SEEDS:-1 2 3}"
FSX_OPS="${FSX_OPS:-20000}"
EXPECTED="$HERE/pjdfstest-expected-failures.txt"
# Which remote the mount shows: "local" (a folder) or "1fichier" (the emulator on loopback).
REMOTE_KIND="${CONFORMANCE_REMOTE:-local}"
EMULATOR="${OURCLONE_FICHIER_EMULATOR:-$REPO/target/debug/fichier-emulator}"
EMU_PID=

die() { echo "conformance: $*" >&2; exit 2; }

for t in pjdfstest fsx; do
  [ -x "$TOOLS/$t" ] || die "$TOOLS/$t is missing: run scripts/conformance/install-tools.sh first"
done
[ "$(id -u)" = 0 ] || die "must run as root (pjdfstest switches users; FUSE mounts)"

# Two users with their own groups for the tests that switch users; both exist on Debian.
group_of() { id -gn "$1" 2>/dev/null; }
command -v id >/dev/null || die "id(1) is missing"
USER1=nobody
USER2=daemon
for u in $USER1 $USER2; do id "$u" >/dev/null 2>&1 || die "user $u is missing"; done

WORK="$(mktemp -d /tmp/ourclone-conformance.XXXXXX)"
chmod 755 "$WORK" # the tests that switch users must reach the mount point
MNT="$WORK/mnt"
export OURCLONE_FS_CONFIG="$WORK/config.toml" OURCLONE_FS_CACHE_DIR="$WORK/cache"
unset XDG_RUNTIME_DIR
mounted() { grep -qF " $MNT " /proc/self/mountinfo 2>/dev/null; }
cleanup() {
  if mounted; then
    "$BIN" unmount --lazy "$MNT" >/dev/null 2>&1 || true
    mounted && { fusermount3 -uz "$MNT" 2>/dev/null || umount -l "$MNT" 2>/dev/null || true; }
  fi
  [ -n "$EMU_PID" ] && kill "$EMU_PID" 2>/dev/null
  if [ "${CONFORMANCE_KEEP:-0}" = 1 ]; then echo "conformance: kept $WORK"; else rm -rf "$WORK"; fi
}
trap cleanup EXIT

# Names from the expected-failures list: `listed strict` those that must fail, `listed flaky`
# those whose reason starts with "flaky" (timing-dependent: may pass or fail, never judged).
listed() {
  local want=$1
  while read -r name rest; do
    case "$name" in '' | '#'*) continue ;; esac
    local kind=strict
    case "$rest" in '# flaky'*) kind=flaky ;; esac
    if [ "$kind" = "$want" ]; then echo "$name"; fi
  done <"$EXPECTED" | sort
}

# pjdfstest's configuration: the expected failures come from the checked-in list, so the
# suite itself reports "failed as expected" and "PASSED UNEXPECTEDLY".
# naptime 0.05 s: longer than the kernel's timestamp tick (ext4 needs it for the baseline).
pjd_config() { # out.toml with-expected(0|1)
  {
    echo '[features]'
    echo 'posix_fallocate = {}'
    echo '[settings]'
    echo 'naptime = 0.05'
    echo 'allow_remount = false'
    echo 'expected_failures = ['
    if [ "$2" = 1 ]; then
      listed strict | sed 's/.*/  "&",/'
    fi
    echo ']'
    echo '[dummy_auth]'
    echo "entries = [[\"$USER1\", \"$(group_of $USER1)\"], [\"$USER2\", \"$(group_of $USER2)\"]]"
  } >"$1"
}

run_pjdfstest() { # dir config log
  # The suite exits non-zero on any failure; the log is what we judge.
  (cd "$1" && RUST_BACKTRACE=0 NO_COLOR=1 timeout 900 "$TOOLS/pjdfstest" -c "$2" -p "$1") >"$3" 2>&1 || true
  grep -q '^Summary' "$3" || { tail -30 "$3" >&2; die "pjdfstest did not finish (log above)"; }
}

if [ "${1:-}" = --baseline ]; then
  mkdir -p "$WORK/plain"
  pjd_config "$WORK/pjd.toml" 0
  run_pjdfstest "$WORK/plain" "$WORK/pjd.toml" "$WORK/baseline.log"
  echo "baseline on $(df --output=fstype "$WORK/plain" | tail -1) ($WORK/plain):"
  grep '^Summary' "$WORK/baseline.log"
  grep -E ' FAILED$' "$WORK/baseline.log" || true
  exit 0
fi

[ -x "$BIN" ] || die "$BIN is missing: cargo build --bins (or set OURCLONE_FS_BIN)"
[ -f "$EXPECTED" ] || die "$EXPECTED is missing"
mkdir -p "$WORK/cloud" "$MNT"
case "$REMOTE_KIND" in
  local) "$BIN" remote add demo --type local --path "$WORK/cloud" >/dev/null ;;
  1fichier)
    ENDPOINT="${OURCLONE_FICHIER_ENDPOINT:-}"
    if [ -z "$ENDPOINT" ]; then
      [ -x "$EMULATOR" ] || die "$EMULATOR is missing: cargo build --bins"
      mkdir -p "$WORK/emulator"
      "$EMULATOR" --listen 127.0.0.1:0 --api-key conformance-key --state "$WORK/emulator" >"$WORK/emulator.out" 2>&1 &
      EMU_PID=$!
      for _ in $(seq 1 100); do grep -q 'listening on' "$WORK/emulator.out" && break; sleep 0.1; done
      ENDPOINT="$(sed -n 's/.*listening on //p' "$WORK/emulator.out" | head -1)"
      [ -n "$ENDPOINT" ] || die "the emulator did not start"
    fi
    echo conformance-key | "$BIN" remote add demo --type 1fichier --endpoint "$ENDPOINT/v1" \
      --api-key-stdin --flood-backoff 1s --list-interval 0s >/dev/null
    ;;
  *) die "CONFORMANCE_REMOTE must be local or 1fichier" ;;
esac
# Uploads start right after each close, so they overlap the tests (the harder case).
"$BIN" mount demo: "$MNT" --write-back 0s --allow-other >/dev/null
mounted || die "mount failed"

FAIL=0
START=$SECONDS

# ---- pjdfstest ------------------------------------------------------------------------------
mkdir "$MNT/pjdfstest"
pjd_config "$WORK/pjd.toml" 1
LOG="$WORK/pjdfstest.log"
run_pjdfstest "$MNT/pjdfstest" "$WORK/pjd.toml" "$LOG"
status_of() { awk -v st="$1" '/^[a-z_]+::/ { n = $1; $1 = ""; sub(/^ +/, ""); if ($0 == st) print n }' "$LOG" | sort; }
status_of ok >"$WORK/passed"
listed strict >"$WORK/listed"
listed flaky >"$WORK/flaky"
status_of FAILED | comm -23 - "$WORK/flaky" >"$WORK/failed"
status_of 'failed as expected' >"$WORK/xfailed"
status_of 'PASSED UNEXPECTEDLY' >"$WORK/xpassed"
status_of skipped >"$WORK/skipped"
awk '/^[a-z_]+::/ { print $1 }' "$LOG" | sort -u >"$WORK/all"
sort -m "$WORK/listed" "$WORK/flaky" | comm -23 - "$WORK/all" >"$WORK/unknown"
comm -12 "$WORK/listed" "$WORK/skipped" >"$WORK/listed_skipped"

n() { wc -l <"$1" | tr -d ' '; }
echo "pjdfstest on ourclone-fs ($REMOTE_KIND provider): $(n "$WORK/passed") passed, $(n "$WORK/xfailed") expected failures, $(n "$WORK/flaky") flaky (not judged), $(n "$WORK/skipped") skipped, $(n "$WORK/failed") unexpected failures, $(n "$WORK/xpassed") unexpected passes"
if [ -s "$WORK/failed" ]; then
  FAIL=1
  echo "UNEXPECTED FAILURES (fix them, or list them with a reason in $EXPECTED):"
  # Each failure with the suite's message.
  while read -r t; do grep -A3 -E "^$t +FAILED\$" "$LOG" | sed -n '1,2p' | sed 's/^/  /'; done <"$WORK/failed"
fi
if [ -s "$WORK/xpassed" ]; then
  FAIL=1
  echo "UNEXPECTED PASSES (take them out of $EXPECTED):"
  sed 's/^/  /' "$WORK/xpassed"
fi
if [ -s "$WORK/unknown" ]; then
  FAIL=1
  echo "LISTED BUT NOT IN THE SUITE (stale names in $EXPECTED):"
  sed 's/^/  /' "$WORK/unknown"
fi
if [ -s "$WORK/listed_skipped" ]; then
  echo "note: listed as expected failures but skipped here:"
  sed 's/^/  /' "$WORK/listed_skipped"
fi
rm -rf "$MNT/pjdfstest"

# ---- fsx ------------------------------------------------------------------------------------
FSX_OK=0
FSX_RUNS=0
for seed in $FSX_SEEDS; do
  FSX_RUNS=$((FSX_RUNS + 1))
  t0=$SECONDS
  if "$TOOLS/fsx" -f "$HERE/fsx.toml" -N "$FSX_OPS" -S "$seed" -P "$WORK" "$MNT/fsx.$seed" \
    >"$WORK/fsx.$seed.log" 2>&1; then
    FSX_OK=$((FSX_OK + 1))
    echo "fsx seed $seed: $FSX_OPS operations OK ($((SECONDS - t0)) s)"
  else
    FAIL=1
    echo "fsx seed $seed: FAILED ($((SECONDS - t0)) s); last lines of its log:"
    tail -40 "$WORK/fsx.$seed.log" | sed 's/^/  /'
  fi
done
# What the mount shows must be what reaches the cloud once the journal is drained.
(cd "$MNT" && sha256sum fsx.* 2>/dev/null | sort -k2) >"$WORK/mount.sums" || true
"$BIN" unmount "$MNT" >/dev/null || { FAIL=1; echo "unmount (drain) failed"; }
cloud_sums() {
  if [ "$REMOTE_KIND" = local ]; then
    (cd "$WORK/cloud" && sha256sum fsx.* 2>/dev/null | sort -k2)
  else
    # A second machine (fresh cache) reads the files back from the emulator.
    OURCLONE_FS_CACHE_DIR="$WORK/cache2" "$BIN" mount demo: "$MNT" >/dev/null || return
    (cd "$MNT" && sha256sum fsx.* 2>/dev/null | sort -k2)
    OURCLONE_FS_CACHE_DIR="$WORK/cache2" "$BIN" unmount "$MNT" >/dev/null
  fi
}
cloud_sums >"$WORK/cloud.sums" || true
if [ -s "$WORK/mount.sums" ] && cmp -s "$WORK/mount.sums" "$WORK/cloud.sums"; then
  echo "fsx files after unmount: $(n "$WORK/mount.sums") of $(n "$WORK/mount.sums") identical on the remote"
else
  FAIL=1
  echo "fsx files differ between the mount and the cloud folder after unmount:"
  diff "$WORK/mount.sums" "$WORK/cloud.sums" | sed 's/^/  /' || true
fi

echo "fsx: $FSX_OK of $FSX_RUNS seeds passed ($FSX_OPS operations each)"
echo "conformance: $((SECONDS - START)) s; $([ $FAIL = 0 ] && echo OK || echo FAILED)"
exit $FAIL
