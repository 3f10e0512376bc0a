//! Renames on the remote made whole across a crash. Before the remote moves an object, the
//! MetaStore notes where it is going; the commit that moves the node in the tree drops the
//! note. A note found later means the process died in between, and the remote may hold the
//! object under either name: the Uploader looks and settles the tree (see `write_back/moves.rs`).
//! Owns the note's table; must not call the remote.

use redb::ReadableTable;
use serde::{Deserialize, Serialize};

use super::meta::MetaStore;
use super::node::Ino;
use super::tables::MOVES;
use crate::error::Result;

/// Where a node's remote object is being moved.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Moving {
    pub to_parent: Ino,
    pub to_name: String,
}

impl MetaStore {
    /// Notes that `ino`'s remote object is about to move to `to_name` in folder `to_parent`.
    /// The caller makes it durable (with [`MetaStore::sync`]) before the remote changes.
    pub fn note_moving(&self, ino: Ino, to_parent: Ino, to_name: &str) -> Result<()> {
        let moving = Moving {
            to_parent,
            to_name: to_name.to_string(),
        };
        let tx = self.write()?;
        tx.open_table(MOVES)?
            .insert(ino, postcard::to_allocvec(&moving)?.as_slice())?;
        tx.commit()?;
        Ok(())
    }

    /// Drops the note of `ino`'s move: the remote refused it, or it was settled.
    pub fn forget_moving(&self, ino: Ino) -> Result<()> {
        let tx = self.write()?;
        tx.open_table(MOVES)?.remove(ino)?;
        tx.commit()?;
        Ok(())
    }

    /// The move noted for `ino`, if any.
    pub fn moving(&self, ino: Ino) -> Result<Option<Moving>> {
        let tx = self.begin_read()?;
        let t = tx.open_table(MOVES)?;
        let raw = t.get(ino)?.map(|v| v.value().to_vec());
        Ok(match raw {
            Some(raw) => Some(postcard::from_bytes(&raw)?),
            None => None,
        })
    }

    /// Every node with a move noted.
    pub fn movings(&self) -> Result<Vec<Ino>> {
        let tx = self.begin_read()?;
        let t = tx.open_table(MOVES)?;
        let mut out = Vec::new();
        for item in t.iter()? {
            out.push(item?.0.value());
        }
        Ok(out)
    }
}
