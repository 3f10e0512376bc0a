//! `OpenFiles`: NFSv3 has no open or close, the Vfs does. A file read or written over NFS gets
//! a Vfs handle that stays open while it is used and is released once idle for [`IDLE`] (the
//! Uploader starts on a file only after its last writer closes). Owns those handles only.

use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use ourclone_cache::Ino;
use ourclone_vfs::{OpenMode, Result, Vfs};

/// How long an unused handle stays open.
pub(super) const IDLE: Duration = Duration::from_secs(1);

struct Open {
    fh: u64,
    mode: OpenMode,
    used: Instant,
}

/// The Vfs handles NFS calls use, by inode.
#[derive(Clone)]
pub(super) struct OpenFiles {
    vfs: Arc<Vfs>,
    open: Arc<Mutex<HashMap<Ino, Open>>>,
}

impl OpenFiles {
    pub(super) fn new(vfs: Arc<Vfs>) -> Self {
        Self {
            vfs,
            open: Arc::default(),
        }
    }

    fn map(&self) -> std::sync::MutexGuard<'_, HashMap<Ino, Open>> {
        self.open.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// A handle on `ino` good for `mode` (a writing handle also reads).
    pub(super) async fn get(&self, ino: Ino, mode: OpenMode) -> Result<u64> {
        let stale = {
            let mut map = self.map();
            match map.get_mut(&ino) {
                Some(o) if o.mode == mode || o.mode == OpenMode::Write => {
                    o.used = Instant::now();
                    return Ok(o.fh);
                }
                Some(_) => map.remove(&ino).map(|o| o.fh),
                None => None,
            }
        };
        if let Some(fh) = stale {
            self.vfs.release(fh).await?;
        }
        let fh = self.vfs.open(ino, mode, false).await?;
        Ok(self.adopt(ino, fh, mode).await)
    }

    /// Keeps `fh` (just opened on `ino`) for later calls; returns the handle to use.
    pub(super) async fn adopt(&self, ino: Ino, fh: u64, mode: OpenMode) -> u64 {
        let (using, spare) = {
            let mut map = self.map();
            match map.get_mut(&ino) {
                // Another call opened it first: use theirs, close ours.
                Some(o) if o.mode == OpenMode::Write || o.mode == mode => {
                    o.used = Instant::now();
                    (o.fh, Some(fh))
                }
                _ => {
                    let used = Instant::now();
                    let old = map.insert(ino, Open { fh, mode, used });
                    (fh, old.map(|o| o.fh))
                }
            }
        };
        if let Some(spare) = spare {
            let _ = self.vfs.release(spare).await;
        }
        using
    }

    /// Releases the handle on `ino`, if any (before it is removed or renamed over).
    pub(super) async fn close(&self, ino: Ino) -> Result<()> {
        let open = self.map().remove(&ino);
        match open {
            Some(o) => self.vfs.release(o.fh).await,
            None => Ok(()),
        }
    }

    /// Releases the handles unused for [`IDLE`]; with `all`, every handle.
    pub(super) async fn close_idle(&self, all: bool) {
        let idle: Vec<(Ino, u64)> = {
            let mut map = self.map();
            let old: Vec<Ino> = map
                .iter()
                .filter(|(_, o)| all || o.used.elapsed() >= IDLE)
                .map(|(ino, _)| *ino)
                .collect();
            old.into_iter()
                .filter_map(|ino| map.remove(&ino).map(|o| (ino, o.fh)))
                .collect()
        };
        for (ino, fh) in idle {
            if let Err(e) = self.vfs.release(fh).await {
                tracing::warn!(ino, "nfs: closing a file: {e}");
            }
        }
    }
}
