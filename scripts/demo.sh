#!/usr/bin/env bash
# Quick start: installs what ourclone-fs needs on Debian, builds it, and mounts two demo
# remotes under ~/ourclone-demo: a local folder acting as the cloud, and a 1Fichier account
# served by the bundled 1Fichier emulator (no machine here reaches the real service).
# Run it again at any time: it unmounts the previous demo first.
set -euo pipefail
cd "$(dirname "$0")/.."
repo=$PWD
demo="${OURCLONE_DEMO_DIR:-$HOME/ourclone-demo}"

need_apt=()
for pkg in fuse3 rsync; do
  dpkg -s "$pkg" >/dev/null 2>&1 || need_apt+=("$pkg")
done
if [ ${#need_apt[@]} -gt 0 ]; then
  echo "==> installing ${need_apt[*]}"
  sudo_cmd=""; [ "$(id -u)" -ne 0 ] && sudo_cmd="sudo"
  $sudo_cmd apt-get update -qq
  DEBIAN_FRONTEND=noninteractive $sudo_cmd apt-get install -y -qq "${need_apt[@]}" >/dev/null
fi
command -v cargo >/dev/null || { echo "cargo is missing: install Rust (https://rustup.rs) first" >&2; exit 1; }

echo "==> building (release)"
cargo build --release --bins -q
bin="$repo/target/release"
export PATH="$bin:$PATH"
export OURCLONE_FS_CONFIG="$demo/config.toml" OURCLONE_FS_CACHE_DIR="$demo/cache"

# Tear down a previous demo.
for mp in "$demo/local" "$demo/1fichier"; do
  ourclone-fs unmount --lazy "$mp" >/dev/null 2>&1 || true
done
[ -f "$demo/emulator.pid" ] && kill "$(cat "$demo/emulator.pid")" 2>/dev/null || true
rm -rf "$demo"
mkdir -p "$demo/cloud" "$demo/local" "$demo/1fichier" "$demo/emulator-state"

echo "==> a local folder as the cloud"
mkdir -p "$demo/cloud/photos" "$demo/cloud/notes"
echo "Hello from the cloud folder." > "$demo/cloud/notes/hello.txt"
head -c 5000000 /dev/urandom > "$demo/cloud/photos/big.bin"
ourclone-fs remote add demo --type local --path "$demo/cloud"
ourclone-fs mount demo: "$demo/local"

echo "==> a 1Fichier account (emulated on 127.0.0.1:8741, 2 API calls/s like the real one)"
"$bin/fichier-emulator" --listen 127.0.0.1:8741 --api-key demo-key --state "$demo/emulator-state" \
  --rate-limit 2/s --list-interval 30s > "$demo/emulator.log" 2>&1 &
echo $! > "$demo/emulator.pid"
for _ in $(seq 1 50); do grep -q listening "$demo/emulator.log" && break; sleep 0.1; done
echo demo-key | ourclone-fs remote add onefichier --type 1fichier --endpoint http://127.0.0.1:8741/v1 --api-key-stdin
ourclone-fs mount onefichier: "$demo/1fichier" --write-back 2s

echo "==> showing it working"
cp -a /usr/share/doc/rsync "$demo/1fichier/"
ls -l "$demo/local" "$demo/local/notes"
cat "$demo/local/notes/hello.txt"
echo "copied /usr/share/doc/rsync into the 1Fichier mount; waiting for the upload..."
for _ in $(seq 1 60); do
  ourclone-fs status "$demo/1fichier" --json | grep -q '"pending_files": 0' && break
  sleep 0.5
done
ourclone-fs status "$demo/1fichier"
echo "emulator API calls so far: $(curl -s http://127.0.0.1:8741/_emulator/stats | python3 -c 'import json,sys; print(json.load(sys.stdin)["total_api_calls"])' 2>/dev/null || echo '?')"
echo "du on the mount (runs inside its daemon, from the cache: no API calls):"
ourclone-fs du "$demo/1fichier"

cat <<MSG

Demo mounted:
  $demo/local      <- local folder $demo/cloud
  $demo/1fichier   <- 1Fichier account (emulator)
Try next:
  export OURCLONE_FS_CONFIG=$demo/config.toml OURCLONE_FS_CACHE_DIR=$demo/cache PATH=$bin:\$PATH
  rsync -a /usr/share/doc/ $demo/1fichier/doc/      # then: ourclone-fs status $demo/1fichier
  getfattr -n user.ourclone.state $demo/1fichier/rsync/copyright   # pending | synced (apt install attr)
  ourclone-fs unmount $demo/1fichier                # uploads what is pending, then unmounts
MSG
