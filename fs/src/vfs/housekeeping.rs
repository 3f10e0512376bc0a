//! Keeping local disk use under the cache cap: counting dirty data (so clean data makes room
//! for it), dropping clean whole files the LRU evicted once no one has them open, and slowing
//! writers while dirty data alone exceeds the cap. Never drops data that is not on the remote.

use std::sync::Arc;
use std::time::Duration;

use ourclone_cache::{CacheError, Ino};

use super::{lock, Vfs};
use crate::error::{Result, VfsError};

impl Vfs {
    /// At mount: counts the clean whole files left in the DataStore against the cap, and removes
    /// data files whose node is gone.
    pub(crate) fn hold_clean_files(&self) -> Result<()> {
        let pending: std::collections::HashSet<Ino> = self
            .meta()
            .journal()?
            .pending
            .into_iter()
            .map(|(i, _)| i)
            .collect();
        for ino in self.data.list()? {
            match self.meta().get(ino) {
                Ok(n) if n.local_full && !n.orphan && !pending.contains(&ino) => {
                    self.blocks.hold_file(ino, n.size)
                }
                Ok(_) => {}
                Err(CacheError::NotFound) => self.data.remove(ino)?,
                Err(e) => return Err(e.into()),
            }
        }
        self.blocks.set_dirty_bytes(self.count_dirty()?);
        Ok(())
    }

    /// Bytes not yet on the remote: pending files plus what open files wrote since their last
    /// flush.
    pub(crate) fn count_dirty(&self) -> Result<u64> {
        let (_, mut total) = self.meta().pending_files()?;
        for of in lock(&self.open).values() {
            let live = lock(&of.live);
            if live.dirty {
                total += live.size;
            }
        }
        Ok(total)
    }

    pub(crate) async fn housekeeping(self: Arc<Self>) {
        loop {
            tokio::time::sleep(Duration::from_secs(1)).await;
            if let Err(e) = self.tidy().await {
                tracing::warn!("cache housekeeping failed: {e}");
            }
        }
    }

    /// The background group commit: what was journalled (closes, renames, deletes) survives
    /// power loss at least every `commit_interval`, as ext4 does every 5 s.
    pub(crate) async fn commit_regularly(self: Arc<Self>) {
        loop {
            tokio::time::sleep(self.cfg.commit_interval).await;
            let unsettled = !lock(&self.unjournaled).is_empty();
            if self.meta().unsynced() || self.has_doomed() || unsettled {
                if let Err(e) = self.sync_meta().await {
                    tracing::warn!("background commit failed: {e}");
                }
            }
        }
    }

    async fn tidy(&self) -> Result<()> {
        self.blocks.set_dirty_bytes(self.count_dirty()?);
        for ino in self.blocks.take_evicted_files() {
            self.demote(ino).await?;
        }
        if self.has_doomed() {
            self.sync_meta().await?;
        }
        Ok(())
    }

    /// Drops the clean whole-file copy of `ino`; its content stays readable from the remote.
    /// Under the inode's lock, so no open-for-write can fetch it back in meanwhile.
    async fn demote(&self, ino: Ino) -> Result<()> {
        let _g = self.tree.locks.lock(ino).await;
        if self.is_open(ino) {
            return Ok(());
        }
        if self.meta().record(ino)?.is_some() {
            return Ok(());
        }
        match self.meta().update(ino, |n| n.local_full = false) {
            Ok(_) | Err(CacheError::NotFound) => {}
            Err(e) => return Err(e.into()),
        }
        // Durable first: after a crash the node must not claim a local copy we deleted.
        self.meta().sync()?;
        self.data.remove(ino)?;
        Ok(())
    }

    /// Slows a writer while dirty data alone exceeds the cache cap and uploads can make room.
    /// When uploads make no progress for `room_wait` (offline, a refused key), writes fail
    /// with ENOSPC instead of hanging for ever, at once until uploads move again; `status`
    /// says why.
    pub(crate) async fn wait_for_room(&self) -> Result<()> {
        let cap = self.blocks.cap();
        let mut warned = false;
        let mut progress = (std::time::Instant::now(), self.blocks.dirty_bytes());
        while self.blocks.dirty_bytes() > cap {
            let dirty = self.blocks.dirty_bytes();
            if self.write_refusal().is_some() {
                return Err(NO_ROOM);
            }
            if dirty < progress.1 {
                progress = (std::time::Instant::now(), dirty);
            } else if progress.0.elapsed() > self.cfg.room_wait {
                self.refuse_writes(dirty, cap);
                return Err(NO_ROOM);
            }
            let uploadable = self
                .meta()
                .journal()?
                .pending
                .iter()
                .any(|(i, _)| !self.tree.locks.has_writers(*i));
            if !uploadable {
                // Only files still open for writing are dirty: waiting cannot help.
                break;
            }
            if !warned {
                tracing::info!(
                    cap,
                    "dirty data over the cache cap: slowing writers until uploads catch up"
                );
                warned = true;
            }
            self.uploader.wake();
            tokio::time::sleep(Duration::from_millis(100)).await;
            self.blocks.set_dirty_bytes(self.count_dirty()?);
        }
        Ok(())
    }

    fn refuse_writes(&self, dirty: u64, cap: u64) {
        let last_error = self.uploader.stats().last_error;
        let why = format!(
            "writes refused (ENOSPC): {dirty} bytes not yet uploaded exceed the cache cap of {cap} bytes, and uploads made no progress for {} s{}",
            self.cfg.room_wait.as_secs(),
            last_error.map(|e| format!(" (last upload error: {e})")).unwrap_or_default()
        );
        tracing::warn!("{why}");
        // What is really dirty (the bytes of refused writes were counted ahead), so progress
        // means uploads finished, not a recount.
        let actual = self.count_dirty().unwrap_or(dirty);
        *lock(&self.refusal) = Some((why, actual));
    }

    /// Why writes are refused for want of room, while they still are: until uploads bring the
    /// dirty data below what it was at the refusal.
    pub fn write_refusal(&self) -> Option<String> {
        let mut refusal = lock(&self.refusal);
        if refusal
            .as_ref()
            .is_some_and(|(_, at)| self.blocks.dirty_bytes() < *at)
        {
            *refusal = None;
        }
        refusal.as_ref().map(|(why, _)| why.clone())
    }
}

const NO_ROOM: VfsError = VfsError::Errno(libc::ENOSPC, "no room for more unsaved data");
