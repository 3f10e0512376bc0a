//! `BlockCache`: clean file content on local disk, in fixed-size blocks, each self-verifying,
//! with one size cap for everything clean we hold.
//!
//! Blocks are 1 MiB: the kernel's largest FUSE read, so one block answers one request; small
//! enough that a 4 KiB random read does not drag in much; and the prefetcher reads many blocks
//! per remote request, so the block size does not bound request size.
//!
//! Each block file starts with a header naming the inode, the version of the remote object it
//! came from (a tag of its id, size, mtime and hash), its offset and length, and an XXH3-128 checksum
//! of the data. A block whose header or hash does not match is deleted and reported as a miss, so a
//! stale or corrupted block is refetched, never served.
//!
//! The moka index is the hot lookup table and the LRU: it weighs entries in KiB and evicts the
//! least recently used when over the cap. Clean whole files held in the DataStore (content that
//! was written here and has been uploaded) are entries too; evicting one asks its owner to drop
//! it (see [`BlockCache::take_evicted_files`]). Dirty data is never in the index; its size is
//! represented by one "ballast" entry so clean data shrinks to make room for it. Must not fetch
//! from the remote; the filesystem layer does.

use std::fs::{self, File};
use std::io::{self, Read, Write};
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};

use bytes::Bytes;
use moka::notification::RemovalCause;
use moka::policy::EvictionPolicy;
use moka::sync::Cache;

use crate::state::node::{Ino, RemoteState};
use ourclone_remote::sync::lock;

/// Size of one cached block.
pub const BLOCK_SIZE: u64 = 1 << 20;

/// Blocks of the first format (a BLAKE3 hash) read as misses and are fetched again.
const MAGIC: &[u8; 8] = b"OCBLK02\0";
const HEADER_LEN: usize = 8 + 8 + 8 + 8 + 4 + 4 + 32;
/// What [`BlockCache`] holds in memory for readers to come, in KiB.
const FRESH_KIB: u64 = 64 * 1024;

#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
enum Key {
    Block {
        ino: Ino,
        index: u64,
    },
    /// A clean whole file in the DataStore.
    Whole(Ino),
    /// Stands for all dirty data.
    Ballast,
}

/// Cache effectiveness, for `status`.
#[derive(Clone, Copy, Debug, Default, serde::Serialize, serde::Deserialize)]
pub struct CacheStats {
    pub hits: u64,
    pub misses: u64,
    /// Blocks found stale or corrupt and dropped.
    pub rejected: u64,
    pub clean_bytes: u64,
    pub dirty_bytes: u64,
    pub cap_bytes: u64,
}

pub struct BlockCache {
    dir: PathBuf,
    index: Cache<Key, u32>,
    /// Blocks just stored, held in memory for the reader the prefetcher fetched them for and
    /// handed over once: a sequential read then never reads a block file back nor hashes it a
    /// second time. Keyed by (inode, index, tag); bounded, losing a block only costs a disk read.
    fresh: Cache<(Ino, u64, u64), Bytes>,
    cap: u64,
    hits: AtomicU64,
    misses: AtomicU64,
    rejected: AtomicU64,
    dirty: AtomicU64,
    evicted_files: Arc<Mutex<Vec<Ino>>>,
}

/// A tag naming one version of a remote object; blocks of another version are stale. Built
/// from the provider's id and content hash where it has them (a new version gets a new id or
/// hash), with the size; from size and mtime only where it has neither.
pub fn version_tag(remote: Option<&RemoteState>) -> u64 {
    let Some(r) = remote else { return 0 };
    let mut h = blake3::Hasher::new();
    h.update(r.id.as_deref().unwrap_or("").as_bytes());
    h.update(&[0]);
    // The bare value, as tags were made before hashes named their algorithm.
    h.update(r.hash.as_ref().map_or("", |h| h.value.as_str()).as_bytes());
    h.update(&r.size.to_le_bytes());
    if r.id.is_none() && r.hash.is_none() {
        // Server dates may be rewritten by a relisting without any change of content.
        h.update(&r.mtime.unwrap_or(0).to_le_bytes());
    }
    let out = h.finalize();
    u64::from_le_bytes(out.as_bytes()[..8].try_into().unwrap_or([0; 8]))
}

fn kib(bytes: u64) -> u32 {
    bytes.div_ceil(1024).min(u32::MAX as u64) as u32
}

impl BlockCache {
    /// Opens the cache in `dir` with a cap of `cap` bytes, indexing the blocks already there.
    pub fn open(dir: &Path, cap: u64) -> io::Result<Self> {
        fs::create_dir_all(dir)?;
        let evicted_files = Arc::new(Mutex::new(Vec::new()));
        let dir_for_listener = dir.to_path_buf();
        let evicted = evicted_files.clone();
        let index = Cache::builder()
            .max_capacity(cap.div_ceil(1024).max(1))
            .eviction_policy(EvictionPolicy::lru())
            .weigher(|_k: &Key, w: &u32| *w)
            .eviction_listener(move |k: Arc<Key>, _w, cause| {
                if cause == RemovalCause::Replaced {
                    return;
                }
                match *k {
                    Key::Block { ino, index } => {
                        let _ = fs::remove_file(block_path(&dir_for_listener, ino, index));
                    }
                    Key::Whole(ino) if cause == RemovalCause::Size => {
                        lock(&evicted).push(ino);
                    }
                    _ => {}
                }
            })
            .build();
        let fresh = Cache::builder()
            .max_capacity(FRESH_KIB)
            .weigher(|_k: &(Ino, u64, u64), b: &Bytes| kib(b.len() as u64))
            .support_invalidation_closures()
            .build();
        let cache = Self {
            dir: dir.to_path_buf(),
            index,
            fresh,
            cap,
            hits: AtomicU64::new(0),
            misses: AtomicU64::new(0),
            rejected: AtomicU64::new(0),
            dirty: AtomicU64::new(0),
            evicted_files,
        };
        cache.index_existing()?;
        Ok(cache)
    }

    fn index_existing(&self) -> io::Result<()> {
        for shard in fs::read_dir(&self.dir)?.flatten() {
            let Ok(rd) = fs::read_dir(shard.path()) else {
                continue;
            };
            for f in rd.flatten() {
                let name = f.file_name();
                let Some((ino, index)) = name.to_str().and_then(parse_block_name) else {
                    let _ = fs::remove_file(f.path());
                    continue;
                };
                let len = f.metadata().map(|m| m.len()).unwrap_or(0);
                self.index.insert(Key::Block { ino, index }, kib(len));
            }
        }
        self.index.run_pending_tasks();
        Ok(())
    }

    /// Block `index` of `ino` at remote version `tag`, if cached and intact.
    pub fn get(&self, ino: Ino, index: u64, tag: u64) -> Option<Bytes> {
        let key = Key::Block { ino, index };
        if let Some(data) = self.fresh.remove(&(ino, index, tag)) {
            if self.index.get(&key).is_some() {
                self.hits.fetch_add(1, Ordering::Relaxed);
                return Some(data);
            }
        }
        if self.index.get(&key).is_none() {
            self.misses.fetch_add(1, Ordering::Relaxed);
            return None;
        }
        match read_block(&block_path(&self.dir, ino, index), ino, index, tag) {
            Ok(data) => {
                self.hits.fetch_add(1, Ordering::Relaxed);
                Some(data)
            }
            Err(reason) => {
                tracing::debug!(ino, index, "dropping cached block: {reason}");
                self.rejected.fetch_add(1, Ordering::Relaxed);
                self.misses.fetch_add(1, Ordering::Relaxed);
                self.index.invalidate(&key);
                let _ = fs::remove_file(block_path(&self.dir, ino, index));
                None
            }
        }
    }

    /// Stores block `index` of `ino` (version `tag`), and holds it in memory for its first
    /// reader (see `fresh`).
    pub fn put_fresh(&self, ino: Ino, index: u64, tag: u64, data: Bytes) -> io::Result<()> {
        self.put(ino, index, tag, &data)?;
        self.fresh.insert((ino, index, tag), data);
        Ok(())
    }

    /// Stores block `index` of `ino` (version `tag`).
    pub fn put(&self, ino: Ino, index: u64, tag: u64, data: &[u8]) -> io::Result<()> {
        let path = block_path(&self.dir, ino, index);
        if let Some(dir) = path.parent() {
            fs::create_dir_all(dir)?;
        }
        let tmp = path.with_extension("tmp");
        let mut f = File::create(&tmp)?;
        f.write_all(&header(ino, index, tag, data))?;
        f.write_all(data)?;
        drop(f);
        fs::rename(&tmp, &path)?;
        self.index.insert(
            Key::Block { ino, index },
            kib(data.len() as u64 + HEADER_LEN as u64),
        );
        Ok(())
    }

    /// Forgets every cached block of `ino` (its content changed or it was deleted).
    pub fn invalidate_file(&self, ino: Ino) {
        let blocks: Vec<Key> = self
            .index
            .iter()
            .map(|(k, _)| *k)
            .filter(|k| matches!(k, Key::Block { ino: i, .. } if *i == ino))
            .collect();
        for k in blocks {
            self.index.invalidate(&k);
        }
        // `get` serves no fresh block the index lost; this frees their memory now.
        let _ = self.fresh.invalidate_entries_if(move |k, _| k.0 == ino);
    }

    /// Records that the clean whole file of `ino` (`size` bytes) is held in the DataStore.
    pub fn hold_file(&self, ino: Ino, size: u64) {
        self.index.insert(Key::Whole(ino), kib(size));
    }

    /// Stops counting the whole file of `ino` (it became dirty or was dropped).
    pub fn release_file(&self, ino: Ino) {
        self.index.invalidate(&Key::Whole(ino));
    }

    /// Whole files the LRU chose to evict; their owner drops them when no one has them open.
    pub fn take_evicted_files(&self) -> Vec<Ino> {
        std::mem::take(&mut *lock(&self.evicted_files))
    }

    /// Sets how much dirty data exists; clean data is evicted to keep the total under the cap.
    pub fn set_dirty_bytes(&self, bytes: u64) {
        self.dirty.store(bytes, Ordering::Relaxed);
        self.index.insert(Key::Ballast, kib(bytes.min(self.cap)));
        self.index.run_pending_tasks();
    }

    /// Adds freshly written bytes to the dirty estimate (until the next exact count).
    pub fn add_dirty_bytes(&self, bytes: u64) -> u64 {
        self.dirty.fetch_add(bytes, Ordering::Relaxed) + bytes
    }

    pub fn dirty_bytes(&self) -> u64 {
        self.dirty.load(Ordering::Relaxed)
    }

    pub fn cap(&self) -> u64 {
        self.cap
    }

    pub fn stats(&self) -> CacheStats {
        self.index.run_pending_tasks();
        let ballast = self.index.get(&Key::Ballast).unwrap_or(0) as u64 * 1024;
        CacheStats {
            hits: self.hits.load(Ordering::Relaxed),
            misses: self.misses.load(Ordering::Relaxed),
            rejected: self.rejected.load(Ordering::Relaxed),
            clean_bytes: (self.index.weighted_size() * 1024).saturating_sub(ballast),
            dirty_bytes: self.dirty_bytes(),
            cap_bytes: self.cap,
        }
    }

    /// Path of a block file; exposed for tests that damage blocks on purpose.
    #[doc(hidden)]
    pub fn block_file(&self, ino: Ino, index: u64) -> PathBuf {
        block_path(&self.dir, ino, index)
    }
}

fn block_path(dir: &Path, ino: Ino, index: u64) -> PathBuf {
    dir.join(format!("{:02x}", ino & 0xff))
        .join(format!("{ino:x}-{index:x}"))
}

fn parse_block_name(name: &str) -> Option<(Ino, u64)> {
    let (a, b) = name.split_once('-')?;
    Some((
        u64::from_str_radix(a, 16).ok()?,
        u64::from_str_radix(b, 16).ok()?,
    ))
}

fn header(ino: Ino, index: u64, tag: u64, data: &[u8]) -> [u8; HEADER_LEN] {
    let mut h = [0u8; HEADER_LEN];
    h[..8].copy_from_slice(MAGIC);
    h[8..16].copy_from_slice(&ino.to_le_bytes());
    h[16..24].copy_from_slice(&tag.to_le_bytes());
    h[24..32].copy_from_slice(&(index * BLOCK_SIZE).to_le_bytes());
    h[32..36].copy_from_slice(&(data.len() as u32).to_le_bytes());
    h[40..72].copy_from_slice(&checksum(data));
    h
}

/// A block's checksum, in the header's 32-byte field: XXH3-128 (about 30 GB/s here against
/// BLAKE3's 6, so no longer a visible share of a cold read), zero padded. It catches torn and
/// damaged blocks; it is not meant to resist forgery — whoever can write the cache folder can
/// write anything the mount serves.
fn checksum(data: &[u8]) -> [u8; 32] {
    let mut out = [0u8; 32];
    out[..16].copy_from_slice(&xxhash_rust::xxh3::xxh3_128(data).to_le_bytes());
    out
}

fn read_block(path: &Path, ino: Ino, index: u64, tag: u64) -> Result<Bytes, String> {
    let mut f = File::open(path).map_err(|e| e.to_string())?;
    let mut buf = Vec::with_capacity(BLOCK_SIZE as usize + HEADER_LEN);
    f.read_to_end(&mut buf).map_err(|e| e.to_string())?;
    if buf.len() < HEADER_LEN || &buf[..8] != MAGIC {
        return Err("bad header".into());
    }
    let field = |r: std::ops::Range<usize>| u64::from_le_bytes(buf[r].try_into().unwrap_or([0; 8]));
    if field(8..16) != ino || field(24..32) != index * BLOCK_SIZE {
        return Err("block belongs elsewhere".into());
    }
    if field(16..24) != tag {
        return Err("stale: the remote object changed".into());
    }
    let len = u32::from_le_bytes(buf[32..36].try_into().unwrap_or([0; 4])) as usize;
    let data = &buf[HEADER_LEN..];
    if data.len() != len || checksum(data) != buf[40..72] {
        return Err("checksum mismatch".into());
    }
    let mut bytes = Bytes::from(buf);
    Ok(bytes.split_off(HEADER_LEN))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn round_trip_and_rejects_stale_or_corrupt_blocks() {
        let dir = tempfile::tempdir().unwrap();
        let c = BlockCache::open(dir.path(), 64 << 20).unwrap();
        let data = vec![5u8; 1000];
        c.put(7, 2, 99, &data).unwrap();
        assert_eq!(&c.get(7, 2, 99).unwrap()[..], &data[..]);
        assert!(c.get(7, 2, 100).is_none(), "other version must miss");
        c.put(7, 2, 99, &data).unwrap();
        let path = c.block_file(7, 2);
        let mut raw = fs::read(&path).unwrap();
        let last = raw.len() - 1;
        raw[last] ^= 1;
        fs::write(&path, raw).unwrap();
        assert!(c.get(7, 2, 99).is_none(), "corrupt block must miss");
        assert!(!path.exists(), "corrupt block is dropped");
        assert_eq!(c.stats().rejected, 2);
    }

    #[test]
    fn lru_keeps_usage_under_the_cap_and_makes_room_for_dirty_data() {
        let dir = tempfile::tempdir().unwrap();
        let c = BlockCache::open(dir.path(), 8 << 20).unwrap();
        let block = vec![1u8; BLOCK_SIZE as usize];
        for i in 0..20 {
            c.put(1, i, 0, &block).unwrap();
        }
        c.index.run_pending_tasks();
        let on_disk = |d: &Path| -> u64 {
            fs::read_dir(d)
                .unwrap()
                .flatten()
                .flat_map(|s| fs::read_dir(s.path()).unwrap().flatten())
                .map(|f| f.metadata().unwrap().len())
                .sum()
        };
        assert!(
            on_disk(dir.path()) <= 8 << 20,
            "blocks over the cap: {}",
            on_disk(dir.path())
        );
        c.set_dirty_bytes(6 << 20);
        assert!(
            on_disk(dir.path()) <= 3 << 20,
            "clean data did not shrink for dirty data"
        );
        let reopened = BlockCache::open(dir.path(), 8 << 20).unwrap();
        assert!(
            reopened.stats().clean_bytes > 0,
            "existing blocks are indexed at open"
        );
    }
}
