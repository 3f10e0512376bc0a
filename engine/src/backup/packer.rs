//! Stores new blobs: compresses and seals them on worker threads (one per core), fills one
//! pack per blob kind on a packing thread that writes each full pack and, every few packs, the
//! index file naming them — so a killed backup's rerun finds what already reached the store.
//! Owns the write order packs → index and the threads; must not walk files or write snapshots.

use std::io;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::mpsc::{sync_channel, Receiver, SyncSender};
use std::sync::{Arc, Mutex};
use std::thread::{Scope, ScopedJoinHandle};

use tokio::runtime::Handle;

use super::crypto::MasterKey;
use super::model::{BlobKind, IndexFile};
use super::pack::{BlobSealer, PackWriter};
use super::repo::{Repo, RepoError, Result};
use super::store::Kind;

/// Packs named per index file written during a backup (one more call per ~64 MiB).
const INDEX_EVERY: usize = 4;

/// What the packer stored.
#[derive(Clone, Copy, Debug, Default)]
pub struct Packed {
    /// Sealed bytes of the new blobs.
    pub bytes_added: u64,
    pub blobs_added: u64,
    pub packs_added: u64,
}

struct Plain {
    id: String,
    kind: BlobKind,
    bytes: Vec<u8>,
}

struct Sealed {
    id: String,
    kind: BlobKind,
    bytes: Vec<u8>,
    raw_length: u64,
}

/// The packer stopped taking blobs (a write to the store failed); [`Packer::finish`] says why.
#[derive(Debug)]
pub struct Stopped;

/// Threads that turn blobs into packs in the store, for the length of one `thread::scope`.
pub struct Packer<'s> {
    tx: Option<SyncSender<Plain>>,
    added: Arc<AtomicU64>,
    done: ScopedJoinHandle<'s, Result<Packed>>,
}

impl<'s> Packer<'s> {
    pub fn start(scope: &'s Scope<'s, '_>, repo: &'s Repo, rt: Handle) -> Self {
        let workers = std::thread::available_parallelism().map_or(2, |n| n.get().min(8));
        // A few chunks in flight per worker: enough to keep them busy, little memory.
        let (tx, rx) = sync_channel::<Plain>(workers);
        let rx = Arc::new(Mutex::new(rx));
        let (sealed_tx, sealed_rx) = sync_channel(workers);
        for _ in 0..workers {
            let (rx, out) = (rx.clone(), sealed_tx.clone());
            scope.spawn(move || seal_loop(&repo.key, &rx, &out));
        }
        let added = Arc::new(AtomicU64::new(0));
        let counter = added.clone();
        let done = scope.spawn(move || pack_loop(repo, rt, sealed_rx, &counter));
        Self {
            tx: Some(tx),
            added,
            done,
        }
    }

    /// Hands over a new blob (its id already computed and known to be new).
    pub fn add(
        &self,
        id: String,
        kind: BlobKind,
        bytes: Vec<u8>,
    ) -> std::result::Result<(), Stopped> {
        let tx = self.tx.as_ref().ok_or(Stopped)?;
        tx.send(Plain { id, kind, bytes }).map_err(|_| Stopped)
    }

    /// Sealed bytes stored so far (for progress).
    pub fn bytes_added(&self) -> u64 {
        self.added.load(Ordering::Relaxed)
    }

    /// Waits until every blob handed over is in a pack in the store and named by an index
    /// file.
    pub fn finish(mut self) -> Result<Packed> {
        drop(self.tx.take());
        self.done.join().unwrap_or_else(|_| {
            Err(RepoError::Io(io::Error::other(
                "the packing thread panicked",
            )))
        })
    }
}

fn seal_loop(key: &MasterKey, rx: &Mutex<Receiver<Plain>>, out: &SyncSender<io::Result<Sealed>>) {
    let mut sealer = match BlobSealer::new() {
        Ok(s) => s,
        Err(e) => {
            let _ = out.send(Err(e));
            return;
        }
    };
    // The lock is held only while waiting for the next blob, never while sealing.
    while let Ok(Ok(p)) = rx.lock().map(|r| r.recv()) {
        let sealed = sealer.seal(key, &p.bytes).map(|bytes| Sealed {
            id: p.id,
            kind: p.kind,
            bytes,
            raw_length: p.bytes.len() as u64,
        });
        if out.send(sealed).is_err() {
            return;
        }
    }
}

fn pack_loop(
    repo: &Repo,
    rt: Handle,
    rx: Receiver<io::Result<Sealed>>,
    added: &AtomicU64,
) -> Result<Packed> {
    let mut packs = Packs {
        repo,
        rt,
        data: PackWriter::default(),
        trees: PackWriter::default(),
        index: IndexFile::default(),
        packed: Packed::default(),
    };
    for sealed in rx {
        let s = sealed?;
        added.fetch_add(s.bytes.len() as u64, Ordering::Relaxed);
        packs.add(s)?;
    }
    packs.flush(BlobKind::Data)?;
    packs.flush(BlobKind::Tree)?;
    packs.write_index()?;
    Ok(packs.packed)
}

/// The packs being filled and the index file being gathered.
struct Packs<'a> {
    repo: &'a Repo,
    rt: Handle,
    data: PackWriter,
    trees: PackWriter,
    index: IndexFile,
    packed: Packed,
}

impl Packs<'_> {
    fn add(&mut self, s: Sealed) -> Result<()> {
        self.packed.bytes_added += s.bytes.len() as u64;
        self.packed.blobs_added += 1;
        let w = match s.kind {
            BlobKind::Data => &mut self.data,
            BlobKind::Tree => &mut self.trees,
        };
        w.add(s.id, s.kind, s.bytes, s.raw_length);
        if w.len() >= self.repo.config.pack_size as usize {
            self.flush(s.kind)?;
        }
        Ok(())
    }

    fn flush(&mut self, kind: BlobKind) -> Result<()> {
        let w = match kind {
            BlobKind::Data => std::mem::take(&mut self.data),
            BlobKind::Tree => std::mem::take(&mut self.trees),
        };
        if w.is_empty() {
            return Ok(());
        }
        let (id, parts, entry) = w.finish(&self.repo.key)?;
        self.rt
            .block_on(self.repo.store.put_parts(Kind::Pack, &id, parts))?;
        self.packed.packs_added += 1;
        self.index.packs.push(entry);
        if self.index.packs.len() >= INDEX_EVERY {
            self.write_index()?;
        }
        Ok(())
    }

    /// Names the packs written so far in an index file.
    fn write_index(&mut self) -> Result<()> {
        if !self.index.packs.is_empty() {
            self.rt
                .block_on(self.repo.write_json(Kind::Index, &self.index))?;
            self.index = IndexFile::default();
        }
        Ok(())
    }
}
