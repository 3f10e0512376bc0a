//! Closes journalled together. The last close of a file the kernel wrote straight into its
//! data file (passthrough: its writes bypass us, so the close is the first we hear of them)
//! leaves the file's size and mtime to one commit shared with the closes around it, instead
//! of a commit each: `tar x` and `git clone` close a file every few hundred microseconds.
//!
//! Until its batch commits, such a file stays open for everyone else: its attributes come from
//! the open file, the Uploader skips it, an unlink keeps its node as for any open file. A crash
//! in between loses nothing: the file has had its journal record since its create or write
//! open, and recovery gives it its data file's length. Must not upload.

use std::sync::Arc;
use std::time::Duration;

use ourclone_cache::Ino;

use super::file::{OpenFile, OpenMode};
use super::{lock, Vfs};

/// Closes waiting for their commit.
#[derive(Default)]
pub(crate) struct Closing {
    files: Vec<(Ino, Arc<OpenFile>)>,
    /// A settle is on its way.
    scheduled: bool,
}

/// Closes journalled in one commit at most; a full batch commits at once.
const BATCH: usize = 64;

/// How long a close waits for others to share its commit.
const GATHER: Duration = Duration::from_millis(10);

impl Vfs {
    /// Takes over the last write handle of `ino` when its close has writes to journal: true
    /// when the next batch will journal them and finish the release. The handle keeps
    /// counting until then, so the file stays open.
    pub(crate) fn defer_close(&self, ino: Ino, of: &Arc<OpenFile>) -> bool {
        // Other handles had their writes journalled by the FLUSH before their release.
        if self.cfg.sync_close || *lock(&of.direct) != Some(true) {
            return false;
        }
        let last = {
            let _open = lock(&self.open);
            *lock(&of.handles) == 1
        };
        self.sense_direct_writes(ino, of);
        if !last || !lock(&of.live).dirty {
            return false;
        }
        let (full, schedule) = {
            let mut closing = lock(&self.closing);
            closing.files.push((ino, Arc::clone(of)));
            let schedule = !std::mem::replace(&mut closing.scheduled, true);
            (closing.files.len() >= BATCH, schedule)
        };
        let me = self.me.upgrade();
        match (tokio::runtime::Handle::try_current(), me) {
            _ if full => self.settle_closes(),
            (Ok(rt), Some(me)) if schedule => {
                rt.spawn(async move {
                    tokio::time::sleep(GATHER).await;
                    me.settle_closes();
                });
            }
            (Err(_), _) | (_, None) => self.settle_closes(),
            _ => {}
        }
        true
    }

    /// Journals the closes waiting, in one commit, then finishes their releases. Called by
    /// the batch's timer, and before anything that must see every close journalled (a group
    /// commit, a drain).
    pub(crate) fn settle_closes(&self) {
        let files = {
            let mut closing = lock(&self.closing);
            closing.scheduled = false;
            std::mem::take(&mut closing.files)
        };
        if files.is_empty() {
            return;
        }
        let dirty: Vec<usize> = (0..files.len())
            .filter(|&i| files[i].1.take_dirty())
            .collect();
        let inos: Vec<Ino> = dirty.iter().map(|&i| files[i].0).collect();
        let _fence = self.close_fence.write().unwrap_or_else(|e| e.into_inner());
        let journalled = self
            .meta()
            .change_each(&inos, |ino, n| {
                if let Some((_, of)) = files.iter().find(|(i, _)| *i == ino) {
                    of.journal_into(n);
                }
            })
            .map(|_| ());
        if let Err(e) = &journalled {
            tracing::warn!(files = inos.len(), "closes could not be journalled: {e}");
            for &i in &dirty {
                lock(&files[i].1.live).dirty = true;
            }
        }
        for (ino, of) in &files {
            if let Err(e) = self.close_handle(*ino, of, OpenMode::Write, journalled.is_ok()) {
                tracing::warn!(ino, "finishing a close failed: {e}");
            }
        }
    }
}
