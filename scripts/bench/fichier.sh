#!/usr/bin/env bash
# Benchmark: copy a 1,000-file tree into a 1fichier mount served by the emulator at the real
# service's limits (2 API calls/s, one listing per folder per 30 s), drain it, and compare the
# API calls with what rclone's documented call sequence would need for the same copy.
#
# Usage: scripts/bench/fichier.sh [--small N] [--large N] [--large-mib N] [--folders N] [--keep]
# Needs root (or /dev/fuse access), fuse3, curl, python3. Prints a markdown table.
set -euo pipefail
cd "$(dirname "$0")/../.."

SMALL=997 LARGE=3 LARGE_MIB=50 FOLDERS=10 KEEP=0
while [ $# -gt 0 ]; do
  case "$1" in
    --small) SMALL=$2; shift 2 ;;
    --large) LARGE=$2; shift 2 ;;
    --large-mib) LARGE_MIB=$2; shift 2 ;;
    --folders) FOLDERS=$2; shift 2 ;;
    --keep) KEEP=1; shift ;;
    *) echo "unknown option $1" >&2; exit 2 ;;
  esac
done

echo "Building release binaries..." >&2
cargo build --release --bins >&2
BIN=$PWD/target/release
FS=$BIN/ourclone-fs
EMU=$BIN/fichier-emulator

WORK=$(mktemp -d /tmp/ourclone-bench-fichier.XXXXXX)
export OURCLONE_FS_CONFIG=$WORK/config.toml OURCLONE_FS_CACHE_DIR=$WORK/cache
unset OURCLONE_1FICHIER_API_KEY XDG_RUNTIME_DIR
MNT=$WORK/mnt SRC=$WORK/src
mkdir -p "$MNT"
EMU_PID=
cleanup() {
  if grep -q " $MNT " /proc/self/mountinfo 2>/dev/null; then
    "$FS" unmount --lazy "$MNT" >/dev/null 2>&1 || fusermount3 -uz "$MNT" 2>/dev/null || true
  fi
  [ -n "$EMU_PID" ] && kill "$EMU_PID" 2>/dev/null && wait "$EMU_PID" 2>/dev/null
  if [ "$KEEP" = 1 ]; then echo "kept $WORK" >&2; else rm -rf "$WORK"; fi
}
trap cleanup EXIT

echo "Creating the source tree ($SMALL small files in $FOLDERS folders, $LARGE x $LARGE_MIB MiB)..." >&2
python3 - "$SRC" "$SMALL" "$FOLDERS" <<'EOF'
import os, random, sys
root, small, folders = sys.argv[1], int(sys.argv[2]), int(sys.argv[3])
r = random.Random(1)
for i in range(small):
    d = os.path.join(root, "dir%02d" % (i % folders))
    if i % folders == 0 and i % 3 == 0:
        d = os.path.join(d, "sub")
    os.makedirs(d, exist_ok=True)
    with open(os.path.join(d, "file%05d.dat" % i), "wb") as f:
        f.write(r.randbytes(r.randint(200, 64 * 1024)))
EOF
mkdir -p "$SRC/large"
for i in $(seq 1 "$LARGE"); do
  head -c $((LARGE_MIB * 1048576)) /dev/urandom > "$SRC/large/large$i.bin"
done
FILES=$(find "$SRC" -type f | wc -l)
SMALLS=$((FILES - LARGE))
DIRS=$(find "$SRC" -mindepth 1 -type d | wc -l)
BYTES=$(du -sb --apparent-size "$SRC" | cut -f1)

KEY=bench-key-0123456789
"$EMU" --listen 127.0.0.1:0 --api-key "$KEY" --state "$WORK/state" \
  --rate-limit 2/s --list-interval 30s > "$WORK/emu.out" 2> "$WORK/emu.log" &
EMU_PID=$!
for _ in $(seq 1 50); do grep -q listening "$WORK/emu.out" 2>/dev/null && break; sleep 0.1; done
BASE=$(sed -n 's/^fichier-emulator listening on //p' "$WORK/emu.out")
[ -n "$BASE" ] || { echo "the emulator did not start" >&2; exit 1; }

echo "$KEY" | "$FS" remote add bench --type 1fichier --endpoint "$BASE/v1" --api-key-stdin >&2
curl -sf -X POST "$BASE/_emulator/reset-stats" > /dev/null

now() { date +%s.%N; }
T0=$(now)
"$FS" mount bench: "$MNT" >&2
T1=$(now)
cp -a "$SRC" "$MNT/tree"
T2=$(now)
"$FS" unmount "$MNT" >&2
T3=$(now)
STATS=$(curl -sf "$BASE/_emulator/stats")

# The copy is complete on the emulator.
python3 - "$STATS" "$FILES" <<'EOF'
import json, sys
s = json.loads(sys.argv[1]); want = int(sys.argv[2])
if s["files_uploaded"] != want:
    sys.exit(f"only {s['files_uploaded']} of {want} files reached the emulator")
EOF

python3 - "$STATS" "$FILES" "$SMALLS" "$DIRS" "$BYTES" "$T0" "$T1" "$T2" "$T3" <<'EOF'
import json, sys
s = json.loads(sys.argv[1])
files, smalls, dirs, nbytes = map(int, sys.argv[2:6])
t0, t1, t2, t3 = map(float, sys.argv[6:10])
c = s["calls"]
api = s["total_api_calls"]                      # /v1 calls (rate-limited), get_upload_server included
node = c["upload"] + c["end"]                   # upload node requests (upload.cgi, end.pl)
ours_all = api + node
wall = t3 - t0
# rclone's documented sequence for the same copy into an empty destination (API notes §5, §10):
#   per file: file/ls of the target folder (does the name exist?), get_upload_server,
#             upload.cgi, end.pl                                                     = 4
#   per folder: folder/ls lookup from its parent + folder/mkdir                      = 2
#   the destination root: List = file/ls + folder/ls                                 = 2
rclone_all = 4 * files + 2 * dirs + 2
rclone_api = 2 * files + 2 * dirs + 2           # the /v1 part (the node is not rate-limited)
rate = 2.0
rows = [
    ("Files (small + large)", f"{files} ({smalls} + {files - smalls})", ""),
    ("Folders", f"{dirs}", ""),
    ("Bytes", f"{nbytes:,} ({nbytes / 2**20:.1f} MiB)", ""),
    ("Mount", f"{t1 - t0:.2f} s", ""),
    ("`cp -a` into the mount", f"{t2 - t1:.2f} s", ""),
    ("Drain (`ourclone-fs unmount`)", f"{t3 - t2:.2f} s", ""),
    ("Wall time, mount to drained", f"{wall:.2f} s", ""),
    ("Throughput", f"{nbytes / wall / 2**20:.1f} MiB/s", ""),
    ("API calls (/v1, rate-limited)", f"{api}", f"{rclone_api}"),
    ("All requests (incl. upload.cgi + end.pl)", f"{ours_all}", f"{rclone_all}"),
    ("API calls per file (/v1)", f"{api / files:.3f}", f"{rclone_api / files:.3f}"),
    ("All requests per file", f"{ours_all / files:.3f}", f"{rclone_all / files:.3f}"),
    ("Time the rate limit alone imposes (/v1 calls / 2 per s)", f"{api / rate:.1f} s", f"{rclone_api / rate:.1f} s"),
    ("Throttled answers (403 #374)", f"{s['throttled']}", ""),
    ("Listing-interval violations", f"{s['list_violations']}", ""),
]
print()
print(f"### 1fichier bench: {files} files into an emulator at 2 calls/s, 30 s list interval")
print()
print("| Measure | ourclone-fs | rclone (documented sequence) |")
print("|---|---:|---:|")
for name, ours, theirs in rows:
    print(f"| {name} | {ours} | {theirs} |")
print()
print(f"Fewer calls than rclone: **{rclone_api / max(api, 1):.0f}x** (/v1 API calls), "
      f"**{rclone_all / max(ours_all, 1):.0f}x** (all requests). "
      f"Per-endpoint calls: {json.dumps(c)}")
EOF
