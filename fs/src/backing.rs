//! Kernel backing ids for FUSE passthrough: one per inode, shared by all of its handles (the
//! kernel requires it), released when the inode's last passthrough handle closes. Owns only
//! that bookkeeping; which files may be passed through is the Vfs's decision.

use std::collections::HashMap;
use std::sync::{Arc, Mutex, Weak};

use fuser::BackingId;

#[derive(Default)]
pub struct Backings {
    by_ino: Mutex<HashMap<u64, Weak<BackingId>>>,
    by_fh: Mutex<HashMap<u64, Arc<BackingId>>>,
}

impl Backings {
    /// The backing id of `ino`, made with `open` if the inode has none; held for handle `fh`.
    pub fn hold(
        &self,
        ino: u64,
        fh: u64,
        open: impl FnOnce() -> std::io::Result<BackingId>,
    ) -> std::io::Result<Arc<BackingId>> {
        let mut by_ino = self.by_ino.lock().unwrap_or_else(|e| e.into_inner());
        let id = match by_ino.get(&ino).and_then(Weak::upgrade) {
            Some(id) => id,
            None => {
                let id = Arc::new(open()?);
                by_ino.insert(ino, Arc::downgrade(&id));
                id
            }
        };
        self.by_fh
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .insert(fh, id.clone());
        Ok(id)
    }

    /// Lets go of handle `fh`'s hold; the id closes with its last holder.
    pub fn release(&self, fh: u64) {
        self.by_fh
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .remove(&fh);
        let mut by_ino = self.by_ino.lock().unwrap_or_else(|e| e.into_inner());
        by_ino.retain(|_, w| w.strong_count() > 0);
    }
}
