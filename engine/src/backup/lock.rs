//! Repository locks, so `prune` never deletes what a running backup may still reference: a
//! backup holds a shared lock, prune an exclusive one. A lock is a plain JSON file
//! `locks/ID` with its kind, host, pid and time, renewed every [`RENEW`] while held; one not
//! renewed for [`LEASE`], or whose process on this host is gone, is stale and ignored. Owns
//! that rule and `unlock`; must not decide what to delete.

use std::io;
use std::sync::Arc;
use std::time::Duration;

use serde::{Deserialize, Serialize};

use super::repo::{hostname, now, object_id, Repo, RepoError, Result};
use super::store::Kind;

/// A lock older than this belongs to a process that died.
pub const LEASE: Duration = Duration::from_secs(3600);

/// How often a held lock is renewed: well within the lease, so a backup of many hours keeps
/// its lock.
pub const RENEW: Duration = Duration::from_secs(600);

#[derive(Clone, Debug, Serialize, Deserialize)]
pub struct LockFile {
    pub exclusive: bool,
    pub host: String,
    pub pid: u32,
    pub time: u64,
}

/// A lock held on a repository, renewed in the background; [`Lock::release`] removes it.
pub struct Lock {
    /// The current lock file's name (each renewal writes a new one).
    name: Arc<tokio::sync::Mutex<String>>,
    renew: tokio::task::JoinHandle<()>,
}

fn lock_file(exclusive: bool) -> Result<(String, Vec<u8>)> {
    let mine = LockFile {
        exclusive,
        host: hostname(),
        pid: std::process::id(),
        time: now(),
    };
    let bytes = serde_json::to_vec(&mine).map_err(io::Error::other)?;
    Ok((object_id(&bytes), bytes))
}

impl Lock {
    /// Takes a shared (backup) or exclusive (prune) lock, refusing when a live lock forbids it.
    pub async fn take(repo: &Repo, exclusive: bool) -> Result<Self> {
        let (name, bytes) = lock_file(exclusive)?;
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
        let name = Arc::new(tokio::sync::Mutex::new(name));
        let renew = tokio::spawn(renew(repo.store.clone(), name.clone(), exclusive));
        Ok(Self { name, renew })
    }

    pub async fn release(self, repo: &Repo) -> Result<()> {
        self.renew.abort();
        let name = self.name.lock().await.clone();
        repo.store.remove(Kind::Lock, &name).await?;
        Ok(())
    }
}

/// Writes a fresh lock file every [`RENEW`] and removes the previous one.
async fn renew(
    store: Arc<dyn super::RepoStore>,
    name: Arc<tokio::sync::Mutex<String>>,
    exclusive: bool,
) {
    loop {
        tokio::time::sleep(RENEW).await;
        let Ok((new, bytes)) = lock_file(exclusive) else {
            continue;
        };
        let mut current = name.lock().await;
        match store.put(Kind::Lock, &new, bytes).await {
            Ok(()) => {
                let _ = store.remove(Kind::Lock, &current).await;
                *current = new;
            }
            Err(e) => tracing::warn!("cannot renew the repository lock: {e}"),
        }
    }
}

/// Removes stale locks (every lock with `all`), returning how many.
pub async fn unlock(repo: &Repo, all: bool) -> Result<usize> {
    let mut removed = 0;
    for (name, lock) in locks(repo).await? {
        if all || lock.as_ref().is_none_or(|l| !l.alive()) {
            repo.store.remove(Kind::Lock, &name).await?;
            removed += 1;
        }
    }
    Ok(removed)
}

impl LockFile {
    /// Renewed within the lease, and (on this host) its process still runs.
    fn alive(&self) -> bool {
        let fresh = now().saturating_sub(self.time) < LEASE.as_secs();
        let gone = self.host == hostname() && !ourclone_remote::os::process_runs(self.pid);
        fresh && !gone
    }
}

/// Every lock file, parsed where it parses.
async fn locks(repo: &Repo) -> Result<Vec<(String, Option<LockFile>)>> {
    let mut out = Vec::new();
    for name in repo.store.list(Kind::Lock).await? {
        let Ok(bytes) = repo.store.get(Kind::Lock, &name).await else {
            continue;
        };
        out.push((name, serde_json::from_slice::<LockFile>(&bytes).ok()));
    }
    Ok(out)
}

/// The locks held now (stale ones left out).
async fn live(repo: &Repo) -> Result<Vec<LockFile>> {
    Ok(locks(repo)
        .await?
        .into_iter()
        .filter_map(|(_, l)| l.filter(LockFile::alive))
        .collect())
}
