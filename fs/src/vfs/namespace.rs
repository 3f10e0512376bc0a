//! Namespace changes: mkdir, symlink, unlink, rmdir, rename. An object not yet on the remote
//! changes only in the MetaStore (a journal edit: rsync's temp-file-then-rename costs one
//! upload under the final name); an object already there is changed on the remote first, then
//! in the MetaStore, durably. Must not move file data.

use ourclone_cache::{CacheError, Ino, Kind, Nanos, Node, RemoteState, LINK_SUFFIX};

use super::{Attr, Vfs};
use crate::error::{Result, VfsError};

/// Longest name of one object on the remote, in bytes (the providers' own NAME_MAX).
const REMOTE_NAME_MAX: usize = 255;

/// A symlink lives on the remote as NAME + LINK_SUFFIX, so its name must leave room for the
/// suffix: refused now (ENAMETOOLONG), rather than an upload that fails for ever.
fn check_symlink_name(name: &str) -> Result<()> {
    if name.len() + LINK_SUFFIX.len() > REMOTE_NAME_MAX {
        return Err(VfsError::Errno(
            libc::ENAMETOOLONG,
            "symlink name leaves no room for its remote suffix",
        ));
    }
    Ok(())
}

/// Flags of rename(2) that we honour.
#[derive(Clone, Copy, Debug, Default)]
pub struct RenameFlags {
    pub no_replace: bool,
    pub exchange: bool,
}

impl Vfs {
    pub async fn mkdir(
        &self,
        parent: Ino,
        name: &str,
        mode: u32,
        uid: u32,
        gid: u32,
    ) -> Result<Attr> {
        self.ensure_listed(parent).await?;
        let node = Node::new_local(parent, name, Kind::Dir, mode, uid, gid);
        let (ino, node) = self.meta().create_local(node, true)?;
        Ok(self.attr_of(ino, &node))
    }

    /// A FIFO, socket or device node: kept on this machine only (see `Kind`).
    #[allow(clippy::too_many_arguments)]
    pub async fn mknod(
        &self,
        parent: Ino,
        name: &str,
        kind: Kind,
        mode: u32,
        rdev: u32,
        uid: u32,
        gid: u32,
    ) -> Result<Attr> {
        if !kind.is_local_only() {
            return Err(VfsError::invalid("mknod makes special files only"));
        }
        self.ensure_listed(parent).await?;
        let mut node = Node::new_local(parent, name, kind, mode, uid, gid);
        node.rdev = rdev;
        let (ino, node) = self.meta().create_local(node, false)?;
        Ok(self.attr_of(ino, &node))
    }

    /// A hard link: only local-only nodes (FIFOs, sockets, devices) may have several names;
    /// files and folders answer EPERM, since the remote holds one object per name.
    pub async fn link(&self, ino: Ino, new_parent: Ino, new_name: &str) -> Result<Attr> {
        self.ensure_listed(new_parent).await?;
        let node = self.meta().link(ino, new_parent, new_name)?;
        self.dir_changed(new_parent)?;
        Ok(self.attr_of(ino, &node))
    }

    pub async fn symlink(
        &self,
        parent: Ino,
        name: &str,
        target: &str,
        uid: u32,
        gid: u32,
    ) -> Result<Attr> {
        check_symlink_name(name)?;
        self.ensure_listed(parent).await?;
        let mut node = Node::new_local(parent, name, Kind::Symlink, 0o777, uid, gid);
        node.size = target.len() as u64;
        node.target = Some(target.to_string());
        let (ino, node) = self.meta().create_local(node, true)?;
        self.uploader.changed();
        Ok(self.attr_of(ino, &node))
    }

    pub async fn unlink(&self, parent: Ino, name: &str) -> Result<()> {
        self.remove(parent, name, false).await
    }

    pub async fn rmdir(&self, parent: Ino, name: &str) -> Result<()> {
        self.remove(parent, name, true).await
    }

    async fn remove(&self, parent: Ino, name: &str, dir: bool) -> Result<()> {
        self.ensure_listed(parent).await?;
        let (ino, node) = self
            .meta()
            .lookup(parent, name)?
            .ok_or(CacheError::NotFound)?;
        match (dir, node.is_dir()) {
            (true, false) => return Err(CacheError::NotADirectory.into()),
            (false, true) => return Err(CacheError::IsADirectory.into()),
            (true, true) => {
                // Children we have never listed would otherwise be deleted unseen.
                self.ensure_listed(ino).await?;
                if !self.meta().children(ino)?.is_empty() {
                    return Err(CacheError::NotEmpty.into());
                }
            }
            _ => {}
        }
        let _g = self.tree.locks.lock(ino).await;
        let node = self.meta().get(ino)?;
        if node.remote.is_some() {
            let obj = self.tree.object(ino, &node)?;
            let gone = if dir {
                self.remote().remove_dir(&obj).await
            } else {
                self.remote().remove_file(&obj).await
            };
            match gone {
                Ok(()) | Err(ourclone_remote::RemoteError::NotFound(_)) => {}
                Err(e) => return Err(e.into()),
            }
        }
        let open = self.is_open(ino);
        // The folder's times change in the same commit.
        self.meta().unlink(parent, name, |_| open)?;
        if !open {
            self.discard_data(ino);
        }
        if node.remote.is_some() {
            // The remote object is gone: the tree must say so durably.
            self.sync_meta().await?;
        }
        self.blocks.release_file(ino);
        if node.remote.is_some() {
            // Blocks only ever come from the remote; skipping the index scan for files that
            // never reached it keeps `rm -rf` of fresh trees cheap.
            self.blocks.invalidate_file(ino);
        }
        Ok(())
    }

    pub async fn rename(
        &self,
        parent: Ino,
        name: &str,
        new_parent: Ino,
        new_name: &str,
        flags: RenameFlags,
    ) -> Result<()> {
        let names = (parent, name, new_parent, new_name);
        self.rename_with(names, flags, None).await
    }

    /// [`Vfs::rename`], also giving the moved file `content` (size and mtime of what was
    /// written to it) and journalling it, in the same commit.
    pub(crate) async fn rename_with(
        &self,
        (parent, name, new_parent, new_name): (Ino, &str, Ino, &str),
        flags: RenameFlags,
        content: Option<(u64, Nanos)>,
    ) -> Result<()> {
        if flags.exchange {
            return Err(VfsError::Errno(
                libc::EINVAL,
                "RENAME_EXCHANGE is not supported",
            ));
        }
        self.ensure_listed(parent).await?;
        self.ensure_listed(new_parent).await?;
        let (ino, moving) = self
            .meta()
            .lookup(parent, name)?
            .ok_or(CacheError::NotFound)?;
        if moving.kind == Kind::Symlink {
            check_symlink_name(new_name)?;
        }
        let target = self.meta().lookup(new_parent, new_name)?;
        if target.is_some() && flags.no_replace {
            return Err(CacheError::AlreadyExists.into());
        }
        if matches!(&target, Some((t, _)) if *t == ino) {
            // Both names are the same object: rename(2) does nothing and succeeds.
            return Ok(());
        }
        if let Some((t, tnode)) = &target {
            if tnode.is_dir() {
                self.ensure_listed(*t).await?;
            }
        }
        let mut inos = vec![ino];
        inos.extend(target.as_ref().map(|(t, _)| *t));
        // Moving a folder moves the remote path of everything below it: no upload may be on
        // its way to an old one meanwhile.
        let _paths = match moving.is_dir() {
            true => Some(self.tree.paths_moving().await),
            false => None,
        };
        let _g = self.tree.locks.lock_many(&inos).await;
        let node = self.meta().get(ino)?;
        let target = self.meta().lookup(new_parent, new_name)?;
        // Everything that can refuse the rename is checked before the remote is touched.
        self.meta()
            .check_rename(parent, name, new_parent, new_name)?;
        let moved_remote = match (&node.remote, ino == ourclone_cache::ROOT_INO) {
            (_, true) => return Err(VfsError::Errno(libc::EBUSY, "cannot rename the root")),
            (Some(_), false) => Some(
                self.rename_on_remote(ino, &node, new_parent, new_name, target.as_ref())
                    .await?,
            ),
            (None, false) => None,
        };
        if node.kind.is_local_only() {
            // A special file never goes to the remote: what it replaces must leave it now.
            self.remove_replaced_remote(target.as_ref()).await?;
        }
        let (_, replaced) = self.meta().rename(
            parent,
            name,
            new_parent,
            new_name,
            |n, old| {
                match &moved_remote {
                    Some(state) => n.remote = Some(state.clone()),
                    None if n.kind.is_local_only() => n.remote = None,
                    // Not on the remote yet: take over the replaced object, so the upload replaces it.
                    None => n.remote = old.and_then(|o| o.remote.clone()),
                }
                if let Some((size, mtime)) = content {
                    (n.size, n.mtime, n.local_full) = (size, mtime, true);
                    n.ctime = n.ctime.max(mtime);
                }
            },
            content.is_some(),
        )?;
        if let Some((old, _)) = replaced {
            if !self.is_open(old) {
                self.discard_data(old);
            }
        }
        if moved_remote.is_some() {
            self.sync_meta().await?;
        }
        Ok(())
    }

    /// Copies file `src` to a new name `name` in folder `parent` on the remote itself (no byte
    /// passes through here), when the provider can and the remote holds exactly what `src`
    /// holds. `None` when that is not the case: the caller copies the bytes instead.
    pub async fn copy_on_remote(&self, src: Ino, parent: Ino, name: &str) -> Result<Option<Attr>> {
        if !self.remote().features().server_copy
            || self.is_open(src)
            || self.meta().record(src)?.is_some()
        {
            return Ok(None);
        }
        let node = self.meta().get(src)?;
        if node.kind != Kind::File || node.remote.is_none() {
            return Ok(None);
        }
        self.ensure_listed(parent).await?;
        if self.meta().lookup(parent, name)?.is_some() {
            return Err(CacheError::AlreadyExists.into());
        }
        let _paths = self.tree.paths_stable().await;
        self.tree.ensure_dir(parent).await?;
        let from = self.tree.object(src, &node)?;
        let dest = self.tree.dest(parent, name, Kind::File)?;
        let mut entry = self.remote().copy(&from, &dest).await?;
        if let Some(r) = &node.remote {
            // Same content as the source (a provider may not have said).
            entry.size = r.size;
            entry.hash = entry.hash.or(r.hash.clone());
        }
        let ino = self.meta().add_remote_object(parent, name, &entry, &node)?;
        self.dir_changed(parent)?;
        self.sync_meta().await?;
        let node = self.meta().get(ino)?;
        Ok(Some(self.attr_of(ino, &node)))
    }

    /// A name was added to or taken from folder `dir`: its mtime and ctime become now, as
    /// POSIX asks of every successful create, mkdir, symlink, unlink, rmdir and rename. Local
    /// metadata only (folder times are not uploaded), durable with the next MetaStore sync.
    pub(crate) fn dir_changed(&self, dir: Ino) -> Result<()> {
        let now = ourclone_cache::now_nanos();
        self.meta().update(dir, |n| {
            n.mtime = now;
            n.ctime = now;
        })?;
        Ok(())
    }

    /// Removes from the remote the object a rename is about to replace, if it has one.
    async fn remove_replaced_remote(&self, target: Option<&(Ino, Node)>) -> Result<()> {
        let Some((t, tnode)) = target.filter(|(_, n)| n.remote.is_some()) else {
            return Ok(());
        };
        let obj = self.tree.object(*t, tnode)?;
        let gone = match tnode.is_dir() {
            true => self.remote().remove_dir(&obj).await,
            false => self.remote().remove_file(&obj).await,
        };
        match gone {
            Ok(()) | Err(ourclone_remote::RemoteError::NotFound(_)) => Ok(()),
            Err(e) => Err(e.into()),
        }
    }

    /// Moves an object that is on the remote; returns its new remote state.
    async fn rename_on_remote(
        &self,
        ino: Ino,
        node: &Node,
        new_parent: Ino,
        new_name: &str,
        target: Option<&(Ino, Node)>,
    ) -> Result<ourclone_cache::RemoteState> {
        self.tree.ensure_dir(new_parent).await?;
        let from = self.tree.object(ino, node)?;
        let to = self.tree.dest(new_parent, new_name, node.kind)?;
        let replace = match target {
            Some((t, tnode)) if tnode.remote.is_some() => Some(self.tree.object(*t, tnode)?),
            _ => None,
        };
        // Durable before the remote changes: a crash between the move and the commit that
        // follows it is then settled from what the remote holds (see `settle_moves`).
        self.meta().note_moving(ino, new_parent, new_name)?;
        self.sync_meta().await?;
        match self.remote().rename(&from, &to, replace.as_ref()).await {
            Ok(entry) => Ok(RemoteState::of(&entry)),
            Err(e) => {
                if let Err(f) = self.meta().forget_moving(ino) {
                    tracing::debug!(ino, "dropping the note of a refused move failed: {f}");
                }
                Err(e.into())
            }
        }
    }
}
