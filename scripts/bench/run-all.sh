#!/usr/bin/env bash
# Run every benchmark (mount.sh, and fichier.sh when present) and write one combined markdown report
# to target/bench/all-<stamp>.md and target/bench/all-latest.md (also printed on stdout).
# Environment: everything mount.sh and fichier.sh accept (BENCH_SIZE_MB, BENCH_SMALL_FILES, ...).
set -uo pipefail
HERE=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
# shellcheck source=lib.sh
. "$HERE/lib.sh"
mkdir -p "$BENCH_OUT"
STAMP=$(date +%Y%m%d-%H%M%S)
OUT=$BENCH_OUT/all-$STAMP.md
status=0

{
    echo "## Benchmarks ($STAMP)"
    echo
    echo "### Machine and versions"
    echo
    machine_info
    echo
} >"$OUT"

run_part() { # title script
    local title=$1 script=$2 tmp rc
    tmp=$(mktemp)
    log "running $script"
    bash "$script" >"$tmp"
    rc=$?
    {
        echo "## $title"
        echo
        if [[ $rc == 0 ]]; then cat "$tmp"; else echo "**$script failed (exit $rc)**"; echo; cat "$tmp"; fi
        echo
    } >>"$OUT"
    rm -f "$tmp"
    [[ $rc == 0 ]] || status=1
}

run_part "Mount: ext4 vs ourclone-fs vs rclone (scripts/bench/mount.sh)" "$HERE/mount.sh"
if [[ -f $HERE/fichier.sh ]]; then
    run_part "1Fichier provider (scripts/bench/fichier.sh)" "$HERE/fichier.sh"
else
    log "scripts/bench/fichier.sh not present; skipped"
fi

cp "$OUT" "$BENCH_OUT/all-latest.md"
cat "$OUT"
log "saved $OUT"
exit $status
