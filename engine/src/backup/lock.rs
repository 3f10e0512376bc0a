//! Repository locks, so `prune` never deletes what a running backup may still reference: a
//! backup holds a shared lock, prune an exclusive one. A lock is a plain JSON file
//! `locks/ID` with its kind, host, pid and time; one older than [`LEASE`] is stale (its holder
//! died) and ignored. Owns that rule; must not decide what to delete.

use std::io;
use std::time::Duration;

use serde::{Deserialize, Serialize};

use super::repo::{hostname, now, object_id, Repo, RepoError, Result};
use super::store::Kind;

/// A lock older than this belongs to a process that died.
pub const LEASE: Duration = Duration::from_secs(3600);

#[derive(Clone, Debug, Serialize, Deserialize)]
pub struct LockFile {
    pub exclusive: bool,
    pub host: String,
    pub pid: u32,
    pub time: u64,
}

/// A lock held on a repository; [`Lock::release`] removes it.
pub struct Lock {
    name: String,
}

impl Lock {
    /// Takes a shared (backup) or exclusive (prune) lock, refusing when a live lock forbids it.
    pub async fn take(repo: &Repo, exclusive: bool) -> Result<Self> {
        let mine = LockFile {
            exclusive,
            host: hostname(),
            pid: std::process::id(),
            time: now(),
        };
        let bytes = serde_json::to_vec(&mine).map_err(io::Error::other)?;
        let name = object_id(&bytes);
        for other in live(repo).await? {
            if exclusive || other.exclusive {
                return Err(RepoError::Locked(format!(
                    "{} by {} (pid {}) since {} s ago",
                    if other.exclusive { "pruned" } else { "in use" },
                    other.host,
                    other.pid,
                    now().saturating_sub(other.time)
                )));
            }
        }
        repo.store.put(Kind::Lock, &name, bytes).await?;
        Ok(Self { name })
    }

    pub async fn release(self, repo: &Repo) -> Result<()> {
        repo.store.remove(Kind::Lock, &self.name).await?;
        Ok(())
    }
}

/// The locks held now (stale ones left out).
async fn live(repo: &Repo) -> Result<Vec<LockFile>> {
    let mut out = Vec::new();
    for name in repo.store.list(Kind::Lock).await? {
        let Ok(bytes) = repo.store.get(Kind::Lock, &name).await else {
            continue;
        };
        if let Ok(l) = serde_json::from_slice::<LockFile>(&bytes) {
            if now().saturating_sub(l.time) < LEASE.as_secs() {
                out.push(l);
            }
        }
    }
    Ok(out)
}
