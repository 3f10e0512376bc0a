//! Kernel backing ids for FUSE passthrough: one per inode, shared by all of its handles (the
//! kernel requires it), released when the inode's last passthrough handle closes. Owns only
//! that bookkeeping; which files may be passed through is the Vfs's decision.

use std::collections::HashMap;
use std::sync::{Arc, Mutex, Weak};

use fuser::BackingId;
use ourclone_remote::sync::lock;

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
        let mut by_ino = lock(&self.by_ino);
        let id = match by_ino.get(&ino).and_then(Weak::upgrade) {
            Some(id) => id,
            None => {
                let id = Arc::new(open()?);
                by_ino.insert(ino, Arc::downgrade(&id));
                id
            }
        };
        lock(&self.by_fh).insert(fh, id.clone());
        Ok(id)
    }

    /// Lets go of handle `fh`'s hold; the id closes with its last holder.
    pub fn release(&self, fh: u64) {
        lock(&self.by_fh).remove(&fh);
        let mut by_ino = lock(&self.by_ino);
        by_ino.retain(|_, w| w.strong_count() > 0);
    }
}
