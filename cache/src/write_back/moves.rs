//! Settling a rename that a crash cut in two: the remote may have moved the object while the
//! tree still has it under its old name (see `state/moves.rs` for the note that says so).
//! Left alone, the object's new place looks taken by someone else's file, and whatever the
//! tree has there is diverted to a conflict copy. Owns that decision; must not touch file data.

use ourclone_remote::RemoteError;

use crate::error::{CacheError, Result};
use crate::state::node::{Ino, Kind, Node, RemoteState};
use crate::write_back::remote_tree::RemoteTree;

/// What the remote says of a noted move.
enum Outcome {
    /// The object is under its new name: the tree follows.
    Moved(ourclone_remote::Entry),
    /// It is not (still under the old one, or gone): the note goes.
    NotMoved,
}

impl RemoteTree {
    /// Looks at every move noted and not finished, and settles the tree with what the remote
    /// holds. Returns the nodes a finished move replaced, whose local data the caller drops.
    /// An error (the remote unreachable) leaves the notes for the next call.
    pub async fn settle_moves(&self) -> Result<Vec<Ino>> {
        let inos = self.meta.movings()?;
        if inos.is_empty() {
            return Ok(Vec::new());
        }
        // A folder's move changes every path below it.
        let _paths = self.paths_moving().await;
        let mut replaced = Vec::new();
        for ino in inos {
            replaced.extend(self.settle_move(ino).await?);
        }
        Ok(replaced)
    }

    async fn settle_move(&self, ino: Ino) -> Result<Option<Ino>> {
        let _g = self.locks.lock(ino).await;
        // A rename running now holds the lock from before its note to after its commit.
        let Some(to) = self.meta.moving(ino)? else {
            return Ok(None);
        };
        let node = match self.meta.get(ino) {
            Ok(n) if n.remote.is_some() && !n.orphan => n,
            Ok(_) | Err(CacheError::NotFound) => {
                self.meta.forget_moving(ino)?;
                return Ok(None);
            }
            Err(e) => return Err(e),
        };
        let looked = async {
            // Say the folder it was going to is gone from the tree: the note goes, below.
            let dest = self.dest(to.to_parent, &to.to_name, node.kind)?;
            self.outcome(ino, &node, &dest.path).await
        };
        let outcome = match looked.await {
            Ok(o) => o,
            // Offline: uploads would fail too; the next pass looks again.
            Err(CacheError::Remote(e)) if e.is_retryable() => return Err(e.into()),
            Err(e) => {
                tracing::warn!(ino, "a rename cut by a crash cannot be checked: {e}");
                Outcome::NotMoved
            }
        };
        let Outcome::Moved(entry) = outcome else {
            self.meta.forget_moving(ino)?;
            return Ok(None);
        };
        tracing::info!(ino, name = %to.to_name, "finishing a rename the remote had done before a crash");
        let renamed = self.meta.rename(
            node.parent,
            &node.name,
            to.to_parent,
            &to.to_name,
            |n, _| n.remote = Some(RemoteState::of(&entry)),
            false,
        );
        let gone = match renamed {
            Ok((_, gone)) => gone,
            // Say a folder now full where it was going: the next listing shows the remote.
            Err(e) => {
                tracing::warn!(ino, "a rename cut by a crash cannot be finished: {e}");
                self.meta.forget_moving(ino)?;
                return Ok(None);
            }
        };
        self.notices.changed(node.parent, &node.name);
        self.notices.changed(to.to_parent, &to.to_name);
        Ok(gone.map(|(old, _)| old))
    }

    /// Whether the object of `node` is now at `to`: gone from its old place, and something of
    /// its kind (and, for a file, its size) there.
    async fn outcome(
        &self,
        ino: Ino,
        node: &Node,
        to: &ourclone_remote::RemotePath,
    ) -> Result<Outcome> {
        let from = self.object(ino, node)?;
        match self.remote.stat(&from.path).await {
            Ok(_) => return Ok(Outcome::NotMoved),
            Err(RemoteError::NotFound(_)) => {}
            Err(e) => return Err(e.into()),
        }
        let there = match self.remote.stat(to).await {
            Ok(e) => e,
            Err(RemoteError::NotFound(_)) => return Ok(Outcome::NotMoved),
            Err(e) => return Err(e.into()),
        };
        let known = node.remote.as_ref().map(|r| r.size);
        let same = match node.kind {
            Kind::Dir => there.kind == ourclone_remote::EntryKind::Dir,
            _ => there.kind != ourclone_remote::EntryKind::Dir && Some(there.size) == known,
        };
        Ok(match same {
            true => Outcome::Moved(there),
            false => Outcome::NotMoved,
        })
    }
}
