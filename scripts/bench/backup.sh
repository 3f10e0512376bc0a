#!/usr/bin/env bash
# Backup benchmark: `ourclone-fs backup/restore` against restic (Debian) and BorgBackup (PyPI
# `borgbackup`, into a venv here) on the same tree, in one run: first backup, unchanged
# re-backup, 1 % changed, restore, repository size, peak RSS.
#
# Prints a markdown table and saves it as target/bench/backup-latest.md.
# Environment: BENCH_FILES=10000 BENCH_TREE_MB=512 BENCH_OUT=target/bench
set -euo pipefail
HERE=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
# shellcheck source=lib.sh
. "$HERE/lib.sh"

FILES=${BENCH_FILES:-10000}
TREE_MB=${BENCH_TREE_MB:-512}
WORK=$BENCH_OUT/backup
mkdir -p "$BENCH_OUT"
command -v restic >/dev/null || (apt-get install -y -qq restic >/dev/null) || log "no restic"
if [[ ! -x $BENCH_OUT/venv/bin/borg ]]; then
    # borgbackup builds against these.
    apt-get install -y -qq pkg-config liblz4-dev libzstd-dev libxxhash-dev libacl1-dev libssl-dev >/dev/null ||
        log "cannot install borg's build dependencies"
    python3 -m venv "$BENCH_OUT/venv" && "$BENCH_OUT/venv/bin/pip" install -q borgbackup >&2 ||
        log "cannot install borgbackup from PyPI"
fi
BORG=$BENCH_OUT/venv/bin/borg
log "cargo build --release --bins"
(cd "$BENCH_ROOT" && cargo build -q --release --bins) >&2 || die "build failed"
BIN=$BENCH_ROOT/target/release/ourclone-fs

rm -rf "$WORK" && mkdir -p "$WORK"
export OURCLONE_FS_CONFIG=$WORK/config.toml OURCLONE_FS_CACHE_DIR=$WORK/cache
export OURCLONE_PASSWORD=bench RESTIC_PASSWORD=bench BORG_PASSPHRASE=bench
python3 - "$WORK/src" "$FILES" "$TREE_MB" <<'PY'
import os, random, sys
root, n, mb = sys.argv[1], int(sys.argv[2]), int(sys.argv[3])
random.seed(11)
words = [bytes(random.choice(b"abcdefghij klmnop\n") for _ in range(64)) for _ in range(512)]
big = max(1, n // 100)
big_size = (mb << 20) * 7 // 10 // big
small = max(1, ((mb << 20) - big * big_size) // max(1, n - big))
for i in range(n):
    d = os.path.join(root, f"d{i % 50}", f"e{i % 9}")
    os.makedirs(d, exist_ok=True)
    size = big_size if i < big else random.randint(1, 2 * small)
    with open(os.path.join(d, f"f{i}"), "wb") as f:
        if i % 2:  # half compressible text, half random
            f.write(b"".join(random.choice(words) for _ in range(size // 64 + 1))[:size])
        else:
            f.write(os.urandom(size))
PY
change_one_percent() {
    find "$WORK/src" -type f | sort | awk 'NR % 100 == 0' | while read -r f; do echo changed >>"$f"; done
}
# run NAME CMD...: seconds and peak RSS (KiB) into T[NAME] and M[NAME].
declare -A T M
run() {
    local name=$1
    shift
    drop_caches
    /usr/bin/time -f "%e %M" -o "$WORK/time" "$@" >/dev/null 2>"$WORK/err" || { cat "$WORK/err" >&2; die "failed: $*"; }
    read -r T[$name] M[$name] <"$WORK/time"
}
log "ourclone-fs"
"$BIN" repo init --repo "$WORK/ours" >/dev/null
run ours_first "$BIN" backup "$WORK/src" --repo "$WORK/ours"
run ours_same "$BIN" backup "$WORK/src" --repo "$WORK/ours"
log "restic"
restic init -q -r "$WORK/restic"
run restic_first restic -q -r "$WORK/restic" backup "$WORK/src"
run restic_same restic -q -r "$WORK/restic" backup "$WORK/src"
HAVE_BORG=0
if [[ -x $BORG ]]; then
    HAVE_BORG=1
    log "borg"
    "$BORG" init -e repokey "$WORK/borg" >/dev/null
    run borg_first "$BORG" create "$WORK/borg::a" "$WORK/src"
    run borg_same "$BORG" create "$WORK/borg::b" "$WORK/src"
fi
change_one_percent
run ours_change "$BIN" backup "$WORK/src" --repo "$WORK/ours"
run restic_change restic -q -r "$WORK/restic" backup "$WORK/src"
[[ $HAVE_BORG == 1 ]] && run borg_change "$BORG" create "$WORK/borg::c" "$WORK/src"
run ours_restore "$BIN" restore latest --repo "$WORK/ours" --target "$WORK/r-ours"
run restic_restore restic -q -r "$WORK/restic" restore latest --target "$WORK/r-restic"
if [[ $HAVE_BORG == 1 ]]; then
    mkdir -p "$WORK/r-borg" && run borg_restore bash -c "cd '$WORK/r-borg' && '$BORG' extract '$WORK/borg::c'"
fi
# The same tree into a repository on a mount of the 1Fichier emulator at 2 calls/s: API calls
# per GiB backed up, for an unchanged re-backup, and per GiB restored with an empty cache.
log "1Fichier emulator at 2 calls/s"
EMU=$BENCH_ROOT/target/release/fichier-emulator
PORT=18742
"$EMU" --state "$WORK/emu" --listen 127.0.0.1:$PORT --api-key bench-key-0123456789 \
    --rate-limit 2/s --flood-lock 30s >"$WORK/emu.log" 2>&1 &
EMU_PID=$!
MNT=$WORK/mnt
mkdir -p "$MNT"
trap 'fusermount3 -u "$MNT" 2>/dev/null || true; kill $EMU_PID 2>/dev/null || true' EXIT
sleep 1
echo bench-key-0123456789 | "$BIN" remote add f --type 1fichier \
    --endpoint http://127.0.0.1:$PORT/v1 --api-key-stdin >/dev/null
calls() { curl -s "http://127.0.0.1:$PORT/_emulator/stats" | jq .total_api_calls; }
"$BIN" mount f: "$MNT" >/dev/null
"$BIN" repo init --repo "$MNT/repo" >/dev/null
c0=$(calls)
F_FIRST=$(time_of "$BIN" backup "$WORK/src" --repo "$MNT/repo")
"$BIN" unmount "$MNT" >/dev/null
F_FIRST_CALLS=$(($(calls) - c0))
F_GIB=$(calc "$(du -sb "$WORK/src" | cut -f1) / 1073741824" 3)
"$BIN" mount f: "$MNT" >/dev/null
c0=$(calls)
"$BIN" backup "$WORK/src" --repo "$MNT/repo" >/dev/null
"$BIN" unmount "$MNT" >/dev/null
F_SAME_CALLS=$(($(calls) - c0))
rm -rf "$OURCLONE_FS_CACHE_DIR/mounts"
"$BIN" mount f: "$MNT" >/dev/null
c0=$(calls)
F_RESTORE=$(time_of "$BIN" restore latest --repo "$MNT/repo" --target "$WORK/r-fichier")
F_RESTORE_CALLS=$(($(calls) - c0))
"$BIN" unmount "$MNT" >/dev/null

size() { [[ -d $1 ]] && du -sm "$1" | cut -f1 || echo n/a; }
mib() { [[ -n ${1:-} ]] && echo $(($1 / 1024)) || echo n/a; }
ratio() { calc "${T[ours_$1]} / ${T[restic_$1]}"; }
{
    echo "## Backup (scripts/bench/backup.sh)"
    echo
    machine_info
    echo "- restic: $(restic version | head -1)"
    echo "- borg: $([[ $HAVE_BORG == 1 ]] && "$BORG" --version || echo 'not installed')"
    echo
    echo "$FILES files, ~$TREE_MB MiB (half random, half text), caches dropped before each step (seconds; peak RSS MiB):"
    echo
    echo "| step | ours | restic | borg | ours / restic |"
    echo "|---|---:|---:|---:|---:|"
    for s in first same change restore; do
        echo "| $s | ${T[ours_$s]} ($(mib "${M[ours_$s]}")) | ${T[restic_$s]} ($(mib "${M[restic_$s]}")) | ${T[borg_$s]:-n/a} ($(mib "${M[borg_$s]:-}")) | $(ratio $s) |"
    done
    echo "| repository MiB | $(size "$WORK/ours") | $(size "$WORK/restic") | $(size "$WORK/borg") | |"
    echo
    echo "Repository on a mount of the 1Fichier emulator at 2 calls/s ($F_GIB GiB): first backup"
    echo "${F_FIRST} s and $F_FIRST_CALLS API calls ($(calc "$F_FIRST_CALLS / $F_GIB" 0) per GiB, uploads drained);"
    echo "unchanged re-backup $F_SAME_CALLS calls; restore with an empty cache ${F_RESTORE} s and"
    echo "$F_RESTORE_CALLS calls ($(calc "$F_RESTORE_CALLS / $F_GIB" 0) per GiB)."
} | tee "$BENCH_OUT/backup-latest.md"
