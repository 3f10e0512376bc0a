//! `InodeLocks`: one async lock per inode, held while the remote side of a change to that
//! inode is in flight (an upload, a remote rename or removal), so the Uploader and namespace
//! operations never race on one object. Also counts open writers per inode, so nothing is
//! uploaded while an application still has it open for writing. Owns no data.

use std::collections::HashMap;
use std::sync::{Arc, Mutex, Weak};

use tokio::sync::{Mutex as AsyncMutex, OwnedMutexGuard};

use crate::state::node::Ino;
use ourclone_remote::sync::lock;

#[derive(Default)]
pub struct InodeLocks {
    locks: Mutex<HashMap<Ino, Weak<AsyncMutex<()>>>>,
    writers: Mutex<HashMap<Ino, u32>>,
}

pub type InodeGuard = OwnedMutexGuard<()>;

impl InodeLocks {
    /// Waits for and takes the lock of `ino`.
    pub async fn lock(&self, ino: Ino) -> InodeGuard {
        let m = {
            let mut map = lock(&self.locks);
            if map.len() > 4096 {
                map.retain(|_, w| w.strong_count() > 0);
            }
            match map.get(&ino).and_then(Weak::upgrade) {
                Some(m) => m,
                None => {
                    let m = Arc::new(AsyncMutex::new(()));
                    map.insert(ino, Arc::downgrade(&m));
                    m
                }
            }
        };
        m.lock_owned().await
    }

    /// Takes the locks of several inodes in a fixed order (no deadlock between callers).
    pub async fn lock_many(&self, inos: &[Ino]) -> Vec<InodeGuard> {
        let mut sorted = inos.to_vec();
        sorted.sort_unstable();
        sorted.dedup();
        let mut guards = Vec::with_capacity(sorted.len());
        for ino in sorted {
            guards.push(self.lock(ino).await);
        }
        guards
    }

    pub fn writer_opened(&self, ino: Ino) {
        *lock(&self.writers).entry(ino).or_default() += 1;
    }

    pub fn writer_closed(&self, ino: Ino) {
        let mut w = lock(&self.writers);
        if let Some(n) = w.get_mut(&ino) {
            *n -= 1;
            if *n == 0 {
                w.remove(&ino);
            }
        }
    }

    pub fn has_writers(&self, ino: Ino) -> bool {
        lock(&self.writers).contains_key(&ino)
    }
}
