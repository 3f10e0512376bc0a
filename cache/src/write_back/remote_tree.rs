//! `RemoteTree`: where the tree's nodes live on the remote. Turns inodes into remote paths and
//! id hints, creates folders on demand and merges listings. Shared by the filesystem (for
//! namespace changes of objects already on the remote) and the Uploader. Must not touch file
//! data.

use std::sync::{Arc, OnceLock};

use tokio::sync::{RwLock, RwLockReadGuard, RwLockWriteGuard};

use ourclone_remote::{Dest, ObjectRef, Remote, RemoteError, RemotePath};

use crate::error::{CacheError, Result};
use crate::state::locks::InodeLocks;
use crate::state::meta::{Defaults, MetaStore};
use crate::state::node::{Ino, Kind, Node, RemoteState, LINK_SUFFIX, ROOT_INO};

/// Who to tell that a name in the tree changed behind the kernel's back (a conflict rename by
/// the Uploader), so cached lookups of it are dropped. Set once by the FUSE side.
#[derive(Default)]
pub struct EntryNotices(OnceLock<Box<NoticeFn>>);

type NoticeFn = dyn Fn(Ino, &str) + Send + Sync;

impl EntryNotices {
    pub fn set(&self, f: impl Fn(Ino, &str) + Send + Sync + 'static) {
        let _ = self.0.set(Box::new(f));
    }

    pub fn changed(&self, parent: Ino, name: &str) {
        if let Some(f) = self.0.get() {
            f(parent, name);
        }
    }
}

pub struct RemoteTree {
    pub meta: Arc<MetaStore>,
    pub remote: Arc<dyn Remote>,
    /// The folder of the remote that the mount shows as its root.
    pub root: RemotePath,
    pub locks: InodeLocks,
    pub defaults: Defaults,
    pub notices: EntryNotices,
    /// Held shared by whoever turns nodes into remote paths and then acts on the remote with
    /// them (uploads, folder creation, server-side copies); held alone by the rename of a
    /// folder, which changes the path of everything below it. Without it an upload could land
    /// under a folder's old name, in whatever folder takes that name next. Taken before any
    /// inode lock, never while holding one.
    pub paths: RwLock<()>,
}

/// The name an object of `kind` called `name` has on the remote.
pub fn remote_name(name: &str, kind: Kind) -> String {
    match kind {
        Kind::Symlink => format!("{name}{LINK_SUFFIX}"),
        _ => name.to_string(),
    }
}

/// `dir/name`, refusing a name that is not one path component.
fn child(dir: &RemotePath, name: &str) -> Result<RemotePath> {
    dir.child(name)
        .ok_or(CacheError::Invalid("not a valid name"))
}

impl RemoteTree {
    /// Remote paths computed while this is held stay true (see [`RemoteTree::paths`]).
    pub async fn paths_stable(&self) -> RwLockReadGuard<'_, ()> {
        self.paths.read().await
    }

    /// Waits until no one relies on the current remote paths, for a folder's rename.
    pub async fn paths_moving(&self) -> RwLockWriteGuard<'_, ()> {
        self.paths.write().await
    }

    /// The remote path of the folder `ino` (or of a child named by `child`).
    pub fn dir_path(&self, ino: Ino) -> Result<RemotePath> {
        let mut p = self.root.clone();
        for name in self.meta.path_of(ino)? {
            p = child(&p, &name)?;
        }
        Ok(p)
    }

    /// The remote path of `node`.
    pub fn path_of(&self, node: &Node) -> Result<RemotePath> {
        child(
            &self.dir_path(node.parent)?,
            &remote_name(&node.name, node.kind),
        )
    }

    /// `node`'s object on the remote (it must be there).
    pub fn object(&self, ino: Ino, node: &Node) -> Result<ObjectRef> {
        let path = if ino == ROOT_INO {
            self.root.clone()
        } else {
            self.path_of(node)?
        };
        Ok(ObjectRef::new(
            path,
            node.remote.as_ref().and_then(|r| r.id.clone()),
        ))
    }

    /// Where a child `name` of kind `kind` of folder `parent` goes on the remote.
    pub fn dest(&self, parent: Ino, name: &str, kind: Kind) -> Result<Dest> {
        let pnode = self.meta.get(parent)?;
        Ok(Dest {
            path: child(&self.dir_path(parent)?, &remote_name(name, kind))?,
            parent_id: pnode.remote.and_then(|r| r.id),
        })
    }

    /// Makes sure folder `ino` and all its ancestors exist on the remote.
    pub async fn ensure_dir(&self, ino: Ino) -> Result<()> {
        let mut missing = Vec::new();
        let mut cur = ino;
        loop {
            let node = self.meta.get(cur)?;
            if node.remote.is_some() {
                break;
            }
            missing.push(cur);
            cur = node.parent;
        }
        for dir in missing.into_iter().rev() {
            let _g = self.locks.lock(dir).await;
            let node = self.meta.get(dir)?;
            if node.remote.is_some() {
                continue;
            }
            let dest = self.dest(node.parent, &node.name, Kind::Dir)?;
            let entry = match self.remote.mkdir(&dest).await {
                Ok(e) => e,
                Err(RemoteError::AlreadyExists(_)) => self.remote.stat(&dest.path).await?,
                Err(e) => return Err(e.into()),
            };
            self.meta
                .settle(dir, node.version, RemoteState::of(&entry))?;
        }
        Ok(())
    }

    /// Lists folder `dir` on the remote and merges the answer into the tree.
    pub async fn refresh(&self, dir: Ino) -> Result<()> {
        let node = self.meta.get(dir)?;
        if !node.is_dir() {
            return Err(CacheError::NotADirectory);
        }
        if node.remote.is_none() {
            // Made here and not uploaded yet: nothing on the remote to list.
            self.meta
                .update(dir, |n| n.listed_at = Some(crate::state::node::now_nanos()))?;
            return Ok(());
        }
        let entries = self.remote.list(&self.object(dir, &node)?).await?;
        // Files open for writing have no journal record before their first close: the merge
        // must not touch them either.
        let stale = self
            .meta
            .merge_listing(dir, &entries, self.defaults, |ino| {
                self.locks.has_writers(ino)
            })?;
        // The kernel may hold these names (and their attributes) for a while yet.
        for name in stale {
            self.notices.changed(dir, &name);
        }
        Ok(())
    }
}
